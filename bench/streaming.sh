#!/usr/bin/env bash
# The workload the service is for: N LLM jobs streaming at once. The service's Release build (all
# roles, N slots) runs N offline text_generation jobs (Llm:Offline: TOKENS words at 60 a second,
# progress and partial text as a real model's stream gives them) on SQLite and PostgreSQL, a fresh
# database each; prints the wall time from the batch's submit to the last job finished (one job
# alone takes TOKENS/60 s), the service's CPU, and on PostgreSQL the statements' total time
# (pg_stat_statements), the WAL written and the jobs table's updates (HOT: heap-only). WATCH=1 also
# watches every job as a frontend does (one GET /jobs/{id}/events stream each, opened at submit;
# bench/lib/watch.py) and prints what the streams carried and when the last one ended; DASHBOARD=1
# keeps one GET /events stream open throughout, as the dashboard's Jobs page does, and counts its events.
#   bash bench/streaming.sh [N=300] [TOKENS=900]   (PROVIDERS="sqlite postgres", WATCH=0|1, DASHBOARD=0|1, TOP=n: PostgreSQL's n costliest statements)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-300}; TOKENS=${2:-900}; PORT=55495
PROVIDERS=${PROVIDERS:-sqlite postgres}; WATCH=${WATCH:-0}; DASHBOARD=${DASHBOARD:-0}
source bench/lib/postgres.sh
WORK=$(mktemp -d /tmp/jobservice-streaming.XXXXXX)
SERVICE=
trap '[ -n "$SERVICE" ] && kill "$SERVICE" 2>/dev/null; stop_postgres; rm -rf "$WORK"' EXIT
dotnet build -c Release src/JobService -v q -nologo >/dev/null
dll=src/JobService/bin/Release/net10.0/JobService.dll
for provider in $PROVIDERS; do
  if [ "$provider" = postgres ]; then
    start_postgres
    # pg_stat_statements needs its library loaded at server start.
    echo "shared_preload_libraries = 'pg_stat_statements'" >>"$PG_DIR/data/postgresql.conf"
    (cd / && runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -w restart >/dev/null)
    psql -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -c "CREATE DATABASE streaming"
    connection="${BENCH_PG%;Database=*};Database=streaming"
    sql() { psql -qtA -h 127.0.0.1 -p "$PG_PORT" -U postgres -d streaming -c "$1"; }
    Database__Provider=postgres ConnectionStrings__Jobs="$connection" Serilog__MinimumLevel=Warning dotnet "$dll" migrate >/dev/null
    sql "CREATE EXTENSION pg_stat_statements" >/dev/null
  else connection="Data Source=$WORK/streaming.db"; fi
  Database__Provider=$provider ConnectionStrings__Jobs="$connection" Serilog__MinimumLevel=Warning Worker__Concurrency=$N \
    Llm__Offline__TextTokens=$TOKENS RateLimits__SubmitPerMinute=10000000 RateLimits__SubmitBurst=1000000 RateLimits__ReadsPerMinute=10000000 RateLimits__StreamsPerKey=$((N + 10)) \
    dotnet "$dll" --urls "http://127.0.0.1:$PORT" >"$WORK/service-$provider.log" 2>&1 &
  SERVICE=$!
  until curl -sf "http://127.0.0.1:$PORT/health/ready" >/dev/null; do sleep 0.2; done
  if [ "$provider" = postgres ]; then lsn=$(sql "SELECT pg_current_wal_lsn()"); sql "SELECT pg_stat_statements_reset()" >/dev/null; fi
  if [ "$DASHBOARD" = 1 ]; then curl -sN "http://127.0.0.1:$PORT/events" >"$WORK/dashboard.sse" & DASHBOARD_PID=$!; fi
  cpu=$(ps -o cputimes= -p "$SERVICE")
  start=$(date +%s.%N)
  python3 -c "import json; print(json.dumps({'jobs': [{'type': 'text_generation', 'payload': {'prompt': 'Tell story %d' % i}} for i in range($N)]}))" |
    curl -sf -H 'Content-Type: application/json' --data-binary @- "http://127.0.0.1:$PORT/jobs/batch" >"$WORK/batch.json"
  if [ "$WATCH" = 1 ]; then
    python3 -c "import json,sys; [print(j['id']) for j in json.load(sys.stdin)['items']]" <"$WORK/batch.json" |
      python3 bench/lib/watch.py "$PORT" >"$WORK/watch.json" &
    WATCHER=$!
  fi
  # Done when nothing is pending or running (GET /jobs/stats, as the dashboard reads it).
  until curl -sf "http://127.0.0.1:$PORT/jobs/stats" | python3 -c "import json,sys; s=json.load(sys.stdin)['by_status']; sys.exit(s['pending'] + s['running'] > 0)"; do sleep 0.2; done
  seconds=$(python3 -c "print(round($(date +%s.%N) - $start, 1))")
  completed=$(curl -sf "http://127.0.0.1:$PORT/jobs/stats" | python3 -c "import json,sys; print(json.load(sys.stdin)['by_status']['completed'])")
  [ "$WATCH" = 1 ] && wait "$WATCHER"
  cpu=$(( $(ps -o cputimes= -p "$SERVICE") - cpu ))
  kill "$SERVICE"; wait "$SERVICE" 2>/dev/null || true; SERVICE=
  line="$provider: $completed of $N jobs of $TOKENS words completed in $seconds s (one alone: $((TOKENS / 60)) s), service CPU $cpu s"
  if [ "$provider" = postgres ]; then
    sql "SELECT pg_stat_force_next_flush()" >/dev/null
    line+=", statements $(sql "SELECT round(sum(total_exec_time)) FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'streaming')") ms"
    line+=", WAL $(sql "SELECT round(pg_wal_lsn_diff(pg_current_wal_lsn(), '$lsn') / 1e6, 1)") MB"
    line+=", jobs updated $(sql "SELECT n_tup_upd || ' times (' || round(100.0 * n_tup_hot_upd / greatest(n_tup_upd, 1)) || ' % HOT)' FROM pg_stat_user_tables WHERE relname = 'jobs'")"
  fi
  [ "$WATCH" = 1 ] && line+=", streams $(cat "$WORK/watch.json")"
  if [ "$DASHBOARD" = 1 ]; then
    wait "$DASHBOARD_PID" 2>/dev/null || true # it ended with the service
    line+=", dashboard stream $(grep -c '^event: ' "$WORK/dashboard.sse") events"
  fi
  echo "$line"
  if [ "$provider" = postgres ] && [ -n "${TOP:-}" ]; then # the most expensive statements
    sql "SELECT calls, rows, round(total_exec_time) AS ms, left(regexp_replace(query, '\s+', ' ', 'g'), 110) FROM pg_stat_statements
         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'streaming') ORDER BY total_exec_time DESC LIMIT $TOP"
  fi
done
