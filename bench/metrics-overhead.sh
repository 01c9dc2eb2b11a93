#!/usr/bin/env bash
# Metrics on vs off in one sitting: one Release build, one worker process draining N no-op jobs,
# in pairs (on then off, then off then on, …), on a fresh database per run, on SQLite and
# PostgreSQL; prints every run and the medians. "off" is --metrics off (Metrics:Prometheus:Enabled=false and no
# OTLP endpoint: no MeterProvider listens). Machines here are shared: compare medians of one sitting.
#   bash bench/metrics-overhead.sh [runs=5] [N=20000] [concurrency=1000]   (PROVIDERS="sqlite postgres")
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}; N=${2:-20000}; C=${3:-1000}
PROVIDERS=${PROVIDERS:-sqlite postgres}
source bench/lib/postgres.sh
WORK=$(mktemp -d /tmp/jobservice-metrics.XXXXXX)
trap 'stop_postgres; rm -rf "$WORK"' EXIT
dotnet build -c Release bench/JobService.Bench -v q -nologo >/dev/null
dll=bench/JobService.Bench/bin/Release/net10.0/JobService.Bench.dll
case " $PROVIDERS " in *" postgres "*) start_postgres ;; esac
OUT="$WORK/runs.jsonl"
for provider in $PROVIDERS; do
  for run in $(seq "$RUNS"); do
    # Alternate which goes first, so neither always follows the other (PostgreSQL's checkpoints, caches).
    order="on off"; [ $((run % 2)) -eq 0 ] && order="off on"
    for metrics in $order; do
      if [ "$provider" = postgres ]; then
        dotnet "$dll" drop-create --provider postgres --connection "$BENCH_PG" >/dev/null
        c="${BENCH_PG%;Database=*};Database=jobservice_bench"
      else
        rm -f "$WORK"/bench.db*; c="Data Source=$WORK/bench.db"
      fi
      dotnet "$dll" enqueue --provider "$provider" --connection "$c" --n "$N" --metrics off >/dev/null 2>&1
      dotnet "$dll" work --provider "$provider" --connection "$c" --n "$N" --concurrency "$C" --metrics "$metrics" 2>/dev/null | tail -1 |
        python3 -c "import json,sys; r=json.load(sys.stdin); r.update(metrics='$metrics', run=$run); print(json.dumps(r))" >>"$OUT"
      tail -1 "$OUT"
    done
  done
done
python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
for provider in ("sqlite", "postgres"):
    med = {}
    for metrics in ("on", "off"):
        rs = [r for r in rows if r["provider"] == provider and r["metrics"] == metrics]
        if not rs: continue
        whole = statistics.median(r["n"] / r["seconds_until_stopped"] for r in rs)
        handler = statistics.median(r["jobs_per_second"] for r in rs)
        cpu = statistics.median(r["drain_cpu_seconds"] for r in rs)
        med[metrics] = (whole, handler, cpu)
        print(f"{provider} metrics {metrics}: median jobs/s {whole:,.0f} (host start to stop), {handler:,.0f} (first to Nth handler start), "
              f"drain CPU {cpu:.2f} s; "
              f"ran_twice {sum(r['ran_twice'] for r in rs)}, completed {min(r['completed_in_database'] for r in rs)}..{max(r['completed_in_database'] for r in rs)}")
    if len(med) == 2:
        print(f"{provider} on/off = {med['on'][0] / med['off'][0]:.3f} (jobs/s, whole), {med['on'][1] / med['off'][1]:.3f} (jobs/s, handler), "
              f"{med['on'][2] / med['off'][2]:.3f} (drain CPU seconds)")
PY
