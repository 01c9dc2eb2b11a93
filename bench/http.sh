#!/usr/bin/env bash
# The two requests a frontend makes, against what PostgreSQL itself does with the same clients:
#   GET /jobs/{id} (a random one of 1,000 seeded jobs) and POST /jobs (one echo job), with wrk,
#   on the service's own Release build (Service:Role=api, Serilog at Warning, rate limits out of the
#   way), on SQLite and
#   PostgreSQL; then pgbench -S (select by primary key) and a one-row INSERT on the same cluster.
#   bash bench/http.sh [connections=32] [seconds=10] [warm-up seconds=30]
# Prints one line per run and the ratios HTTP / pgbench. Needs wrk (apt-get install wrk).
# The warm-up is long because the measure is the service's steady state: with two cores under
# load, tiered JIT takes about half a minute to bring the request path to full speed (runs of
# 8 s right after start: 1,100, 1,500, 2,400, 3,700, 3,200 GET/s).
set -euo pipefail
cd "$(dirname "$0")/.."
C=${1:-32}; T=${2:-10}; WARM=${3:-30}; PORT=55490
THREADS=$(( C < 2 ? C : 2 )) # wrk and pgbench refuse more threads than connections
command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 1; }
source bench/lib/postgres.sh
source bench/lib/api.sh
WORK=$(mktemp -d /tmp/jobservice-http.XXXXXX)
SERVICE=
trap '[ -n "$SERVICE" ] && kill "$SERVICE" 2>/dev/null; stop_postgres; rm -rf "$WORK"' EXIT
dotnet build -c Release src/JobService -v q -nologo >/dev/null
start_postgres
PGB=(-h 127.0.0.1 -p "$PG_PORT" -U postgres)

write_wrk_scripts "$WORK"
cat >"$WORK/wrk.py" <<'PY'
import re, sys
t = sys.stdin.read()
def ms(p):
    m = re.search(r"^\s+%d%%\s+([\d.]+)(us|ms|s)" % p, t, re.M)
    return float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
print("%.0f %.2f %.2f %s" % (rps, ms(50), ms(99), bad.group(1) if bad else 0))
PY
# wrk's requests/s, p50 and p99 in ms and the non-2xx count, as one line
measure() {
  IDS_FILE="$WORK/ids.txt" wrk -t"$THREADS" -c"$C" -d"${WARM}s" -s "$WORK/$1.lua" "http://127.0.0.1:$PORT/jobs" >/dev/null # warm-up
  IDS_FILE="$WORK/ids.txt" wrk -t"$THREADS" -c"$C" -d"${T}s" --latency -s "$WORK/$1.lua" "http://127.0.0.1:$PORT/jobs" | python3 "$WORK/wrk.py"
}

for provider in sqlite postgres; do
  if [ $provider = postgres ]; then
    psql "${PGB[@]}" -qc "CREATE DATABASE http_jobs"; connection="${BENCH_PG%;Database=*};Database=http_jobs"
  else connection="Data Source=$WORK/http.db"; fi
  start_api . $PORT $provider "$connection" "$WORK/service-$provider.log"; SERVICE=$API_PID
  seed_jobs $PORT "$WORK/ids.txt"
  for endpoint in get post; do
    read -r rps p50 p99 bad <<<"$(measure $endpoint)"
    echo "$provider $endpoint: $rps requests/s, p50 $p50 ms, p99 $p99 ms, non-2xx $bad, load $(cut -d' ' -f1 /proc/loadavg)"
    echo "$provider $endpoint $rps" >>"$WORK/results"
  done
  kill "$SERVICE"; wait "$SERVICE" 2>/dev/null || true; SERVICE=
done

psql "${PGB[@]}" -qc "CREATE DATABASE http_pgbench"
pgbench "${PGB[@]}" -i -s 1 -q http_pgbench >/dev/null 2>&1
psql "${PGB[@]}" -d http_pgbench -qc "CREATE TABLE ref_jobs (id uuid PRIMARY KEY, type text, status text, payload jsonb)"
echo "INSERT INTO ref_jobs VALUES (gen_random_uuid(), 'echo', 'pending', '{\"text\": \"hello\"}');" >"$WORK/insert_one.sql"
for script in select insert; do
  args=(-S); [ $script = insert ] && args=(-f "$WORK/insert_one.sql")
  tps=$(pgbench "${PGB[@]}" -n -M prepared -c "$C" -j "$THREADS" -T "$T" "${args[@]}" http_pgbench 2>/dev/null |
    sed -n 's/^tps = \([0-9.]*\) (without.*/\1/p')
  echo "pgbench $script: ${tps%.*} transactions/s"
  echo "pgbench $script ${tps%.*}" >>"$WORK/results"
done
python3 - "$WORK/results" <<'PY'
import sys
r = {(a, b): float(c) for a, b, c in (l.split() for l in open(sys.argv[1]))}
for provider in ("postgres", "sqlite"):
    print(f"{provider}: GET /jobs/{{id}} / pgbench -S = {r[provider, 'get'] / r['pgbench', 'select']:.2f}; "
          f"POST /jobs / one-row INSERT = {r[provider, 'post'] / r['pgbench', 'insert']:.2f}")
PY
