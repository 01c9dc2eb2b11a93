#!/usr/bin/env bash
# Before/after for the API's requests, side by side: builds two commits of the service (git
# worktrees, Release), runs both at once (Service:Role=api, Serilog at Warning, rate limits out of
# the way) on one PostgreSQL (or each on its own SQLite file), and loads them in turn with wrk in
# short slices, A then B, then B then A, round after round (whichever goes second in a round meets
# a machine the first has just warmed: alternated, neither always has it); prints the requests and
# the service's CPU of each slice, then the totals.
#   [PROVIDER=sqlite] [KINDS="get post"] bash bench/http-compare.sh <rev-a> <rev-b> [rounds=8] [slice seconds=5] [connections=32]
# Why side by side: this machine's speed drifts by tens of percent within minutes, so runs one
# after the other (bench/http.sh) need many repetitions to show a 5 % change; here both builds
# meet the same drift slice by slice. A build against itself gives 1.00 (docs/benchmarks.md,
# forty-third session). Each build is warmed up under the same load first (the JIT's tiers).
set -euo pipefail
cd "$(dirname "$0")/.."
A=${1:?usage: http-compare.sh <rev-a> <rev-b> [rounds] [slice] [connections]}; B=${2:?}
ROUNDS=${3:-8}; SLICE=${4:-5}; C=${5:-32}; WARM=20; PROVIDER=${PROVIDER:-postgres}
THREADS=$(( C < 2 ? C : 2 ))
command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 1; }
source bench/lib/postgres.sh
source bench/lib/api.sh
WORK=$(mktemp -d /tmp/jobservice-http-compare.XXXXXX)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null; stop_postgres; git worktree remove --force "$WORK/a" 2>/dev/null; git worktree remove --force "$WORK/b" 2>/dev/null; rm -rf "$WORK"' EXIT
for side in a b; do
  git worktree add --detach -q "$WORK/$side" "$([ $side = a ] && echo "$A" || echo "$B")"
  dotnet build -c Release "$WORK/$side/src/JobService" -v q -nologo >/dev/null
done
start_postgres
psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE DATABASE http_jobs"
declare -A PORT=([a]=55491 [b]=55492) PID=()
for side in a b; do
  connection="${BENCH_PG%;Database=*};Database=http_jobs"
  [ "$PROVIDER" = sqlite ] && connection="Data Source=$WORK/$side.db"
  start_api "$WORK/$side" ${PORT[$side]} $PROVIDER "$connection" "$WORK/$side.log"; PID[$side]=$API_PID; PIDS+=($API_PID)
  seed_jobs ${PORT[$side]} "$WORK/ids-$side.txt"
done
write_wrk_scripts "$WORK"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # user + system, in clock ticks
load() { # side kind seconds -> requests completed
  IDS_FILE="$WORK/ids-$1.txt" wrk -t"$THREADS" -c"$C" -d"$3s" -s "$WORK/$2.lua" "http://127.0.0.1:${PORT[$1]}/jobs" |
    sed -n 's/^ *\([0-9]*\) requests in.*/\1/p'
}
for kind in ${KINDS:-get post}; do
  for side in a b; do load $side "$kind" $WARM >/dev/null; done
  for round in $(seq "$ROUNDS"); do
    order="a b"; [ $((round % 2)) = 0 ] && order="b a"
    for side in $order; do
      before=$(cpu_ticks "${PID[$side]}"); requests=$(load $side "$kind" "$SLICE"); after=$(cpu_ticks "${PID[$side]}")
      echo "$kind $side $round $requests $((after - before)) $(cut -d' ' -f1 /proc/loadavg)" | tee -a "$WORK/slices"
    done
  done
done
python3 - "$WORK/slices" "$(getconf CLK_TCK)" "$A" "$B" <<'PY'
import collections, sys
rows = [l.split() for l in open(sys.argv[1])]
tick_us = 1e6 / int(sys.argv[2])
for kind in dict.fromkeys(r[0] for r in rows):
    by = collections.defaultdict(dict)
    for k, side, rnd, n, ticks, _ in rows:
        if k == kind: by[rnd][side] = (int(n), int(ticks))
    tot = {s: [sum(v[s][i] for v in by.values()) for i in (0, 1)] for s in "ab"}
    us = {s: tot[s][1] * tick_us / tot[s][0] for s in "ab"}
    more = sum(v["b"][0] > v["a"][0] for v in by.values())
    less = sum(v["b"][1] / v["b"][0] < v["a"][1] / v["a"][0] for v in by.values())
    print(f"{kind}: requests {sys.argv[3]} {tot['a'][0]:,} {sys.argv[4]} {tot['b'][0]:,} (b/a {tot['b'][0] / tot['a'][0]:.3f}, b more in {more} of {len(by)}); "
          f"CPU a request {us['a']:.1f} / {us['b']:.1f} us (b/a {us['b'] / us['a']:.3f}, b less in {less} of {len(by)})")
PY
