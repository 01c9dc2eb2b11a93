#!/usr/bin/env bash
# Runs every benchmark 3 times on SQLite and PostgreSQL and prints the medians.
# Needs a PostgreSQL: JOBSERVICE_BENCH_POSTGRES (a base connection string) or, if unset, a
# throw-away one (bench/lib/postgres.sh). Usage: bash bench/run-all.sh [N] [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20000}
RUNS=${2:-3}
dotnet build -c Release bench/JobService.Bench -v q -nologo >/dev/null
B=bench/JobService.Bench/bin/Release/net10.0/JobService.Bench.dll
if [ -z "${JOBSERVICE_BENCH_POSTGRES:-}" ]; then
  source bench/lib/postgres.sh
  start_postgres
  trap stop_postgres EXIT
  JOBSERVICE_BENCH_POSTGRES="$BENCH_PG"
fi
PG_ADMIN="$JOBSERVICE_BENCH_POSTGRES"
OUT=$(mktemp)
fresh() { # a new, empty database for each run
  if [ "$1" = postgres ]; then
    dotnet $B drop-create --provider postgres --connection "$PG_ADMIN" >/dev/null
    echo "${PG_ADMIN%;Database=*};Database=jobservice_bench"
  else
    rm -f /tmp/jobservice-bench.db*
    echo "Data Source=/tmp/jobservice-bench.db"
  fi
}
for provider in sqlite postgres; do
  for run in $(seq "$RUNS"); do
    c=$(fresh $provider)
    dotnet $B enqueue --provider $provider --connection "$c" --n "$N" 2>/dev/null | tail -1 >>"$OUT"
    dotnet $B work --provider $provider --connection "$c" --n "$N" --concurrency 1000 2>/dev/null | tail -1 >>"$OUT"
    c=$(fresh $provider)
    dotnet $B enqueue --provider $provider --connection "$c" --n "$N" 2>/dev/null | tail -1 >/dev/null
    dotnet $B work --provider $provider --connection "$c" --n "$N" --concurrency 200 2>/dev/null | tail -1 >>"$OUT"
    c=$(fresh $provider)
    dotnet $B latency --provider $provider --connection "$c" --n 200 --interval-ms 20 2>/dev/null | tail -1 >>"$OUT"
    dotnet $B progress --provider $provider --connection "$c" 2>/dev/null | tail -1 >>"$OUT"
  done
done
cat "$OUT"
python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
groups = {}
for r in rows:
    key = (r["provider"], r["command"], r.get("concurrency"))
    groups.setdefault(key, []).append(r)
fields = {"enqueue": ["jobs_per_second"], "work": ["jobs_per_second", "ran_twice", "completed_in_database"],
          "latency": ["p50_ms", "p95_ms", "p99_ms"], "progress": ["tokens_reported", "progress_rows_written", "reports_per_row"]}
for (provider, command, conc), rs in sorted(groups.items(), key=lambda kv: str(kv[0])):
    medians = {f: round(statistics.median(r[f] for r in rs), 2) for f in fields[command]}
    print(json.dumps({"provider": provider, "command": command, "concurrency": conc, "runs": len(rs), "median": medians}))
PY
