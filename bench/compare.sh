#!/usr/bin/env bash
# Before/after in one sitting: builds two commits of the service (git worktrees, Release) and
# drains N no-op jobs with one worker process of each, alternating A, B, B, A, A, B…, on a fresh
# database per run (filled by that build's bulk enqueue, also measured), on SQLite and PostgreSQL;
# prints every run, the medians and each pair's ratio, and on PostgreSQL the server's CPU a job
# (its backends' time, read from the kernel: the server's work, which the wall clock mixes with
# the worker's and with waiting).
#   [PROVIDERS=postgres] bash bench/compare.sh <rev-a> <rev-b> [runs=5] [N=20000] [concurrency=1000]
# jobs/s is N over the worker process's whole life (host start to graceful stop, every
# completion committed), the peer harness's definition; handler_jobs_per_second is first
# handler start to the Nth. Machines here are shared: compare medians of one sitting only.
set -euo pipefail
cd "$(dirname "$0")/.."
A=${1:?usage: compare.sh <rev-a> <rev-b> [runs] [N] [concurrency]}; B=${2:?}
RUNS=${3:-5}; N=${4:-20000}; C=${5:-1000}
source bench/lib/postgres.sh
WORK=$(mktemp -d /tmp/jobservice-compare.XXXXXX)
ROOT=$PWD
# From the repository's folder: a run that fails inside a worktree would otherwise keep the other one.
trap 'cd "$ROOT"; stop_postgres; git worktree remove --force "$WORK/a" 2>/dev/null; git worktree remove --force "$WORK/b" 2>/dev/null; rm -rf "$WORK"' EXIT
for side in a b; do
  rev=$([ $side = a ] && echo "$A" || echo "$B")
  git worktree add --detach -q "$WORK/$side" "$rev"
  dotnet build -c Release "$WORK/$side/bench/JobService.Bench" -v q -nologo >/dev/null
done
start_postgres
OUT="$WORK/runs.jsonl"
for provider in ${PROVIDERS:-sqlite postgres}; do
  for run in $(seq "$RUNS"); do
    # Every other run B goes first: back-to-back runs are not alike (the second of each pair stopped
    # sooner in docs/benchmarks.md's forty-fourth session), so neither build keeps one place.
    order="a b"; [ $((run % 2)) = 0 ] && order="b a"
    for side in $order; do
      dll="$WORK/$side/bench/JobService.Bench/bin/Release/net10.0/JobService.Bench.dll"
      # Each side runs in its own tree: the service reads appsettings.json from there, and an older
      # build refuses a key a newer appsettings.json has.
      pushd "$WORK/$side" >/dev/null
      if [ $provider = postgres ]; then
        dotnet "$dll" drop-create --provider postgres --connection "$BENCH_PG" >/dev/null
        c="${BENCH_PG%;Database=*};Database=jobservice_bench"
      else
        rm -f "$WORK"/bench.db*; c="Data Source=$WORK/bench.db"
      fi
      # The bulk enqueue (POST /jobs/batch, 1,000 jobs a request) that fills the queue is measured too.
      enqueue=$(dotnet "$dll" enqueue --provider $provider --connection "$c" --n "$N" 2>/dev/null | tail -1 | python3 -c "import json,sys; print(json.load(sys.stdin)['jobs_per_second'])")
      load=$(cut -d' ' -f1 /proc/loadavg)
      if [ $provider = postgres ]; then pg_cpu0=$(postgres_children_cpu); fi
      dotnet "$dll" work --provider $provider --connection "$c" --n "$N" --concurrency "$C" 2>/dev/null | tail -1 >"$WORK/run.json"
      pg_cpu=None # Python's null: the line below is Python
      if [ $provider = postgres ]; then
        # The worker's backends are counted once they have exited (the server has reaped them).
        for _ in $(seq 100); do
          [ "$(psql_bench -Atc "SELECT count(*) FROM pg_stat_activity WHERE datname = 'jobservice_bench'")" = 0 ] && break
        done
        pg_cpu=$(echo "$(postgres_children_cpu) $pg_cpu0" | awk '{print $1 - $2}')
      fi
      python3 -c "import json,sys; r=json.load(open('$WORK/run.json')); r.update(enqueue_jobs_per_second=$enqueue, side='$side', rev='$(git rev-parse --short "$([ $side = a ] && echo "$A" || echo "$B")")', run=$run, load=$load, postgres_cpu_seconds=$pg_cpu); print(json.dumps(r))" >>"$OUT"
      tail -1 "$OUT"
      popd >/dev/null
    done
  done
done
python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]

def whole(r): return r["n"] / r["seconds_until_stopped"]

def compared(provider, label, measure, fmt=",.0f", less_is_better=False):
    """Each build's median and each round's B/A: a round's pair ran back to back, so its ratio meets less of the machine's drift than the medians do."""
    mine = [r for r in rows if r["provider"] == provider]
    med = {side: statistics.median(measure(r) for r in mine if r["side"] == side) for side in "ab"}
    rounds = {}
    for r in mine: rounds.setdefault(r["run"], {})[r["side"]] = r
    ratios = [measure(p["b"]) / measure(p["a"]) for p in rounds.values() if len(p) == 2]
    better = sum(x < 1 if less_is_better else x > 1 for x in ratios)
    print(f"{provider} {label}: a {med['a']:{fmt}}, b {med['b']:{fmt}}, b/a {med['b'] / med['a']:.3f} (medians); pairs "
          + " ".join(f"{x:.3f}" for x in ratios)
          + f", median {statistics.median(ratios):.3f}, b {'less' if less_is_better else 'ahead'} in {better} of {len(ratios)}")

for provider in ("sqlite", "postgres"):
    sides = 0
    for side in ("a", "b"):
        rs = [r for r in rows if r["provider"] == provider and r["side"] == side]
        if not rs: continue
        sides += 1
        print(f"{provider} {side} {rs[0]['rev']}: median jobs/s {statistics.median(map(whole, rs)):,.0f} (host start to stop), "
              f"{statistics.median(r['jobs_per_second'] for r in rs):,.0f} (first to Nth handler start); "
              f"ran_twice {sum(r['ran_twice'] for r in rs)}, completed {min(r['completed_in_database'] for r in rs)}..{max(r['completed_in_database'] for r in rs)}")
    if sides != 2: continue
    compared(provider, "jobs/s, host start to stop", whole)
    compared(provider, "bulk enqueue jobs/s", lambda r: r["enqueue_jobs_per_second"])
    if provider == "postgres":
        compared(provider, "PostgreSQL CPU µs a job (its backends, start to stop)", lambda r: 1e6 * r["postgres_cpu_seconds"] / r["n"], ".1f", less_is_better=True)
PY
