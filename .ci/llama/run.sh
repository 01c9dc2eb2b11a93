#!/usr/bin/env bash
# Starts the llama-server built by build.sh on 127.0.0.1 with the tiny test model, in the
# background, and returns once GET /health answers 200 {"status":"ok"}.
#
#   .ci/llama/run.sh start [PORT] [-- EXTRA llama-server ARGS...]   (PORT: default first free from 18080)
#   .ci/llama/run.sh stop  [PORT]
#
# Prints, on success, lines a caller can eval:
#   LLAMA_BASE_URL=http://127.0.0.1:PORT/v1     (what the OpenAI SDK's endpoint wants)
#   LLAMA_SERVER_PID=1234
#   LLAMA_SERVER_LOG=<file>
# Set LLAMA_CACHE as for build.sh; build.sh is run first (a cache hit costs ~1 s).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${LLAMA_CACHE:-$HOME/.cache/jobservice-llama}
export LLAMA_CACHE=$CACHE
cmd=${1:-start}; shift || true
port=""
if [ $# -gt 0 ] && [ "$1" != "--" ]; then port=$1; shift; fi
[ "${1:-}" = "--" ] && shift
extra=("$@")

pidfile() { echo "$CACHE/run/server-$1.pid"; }

case "$cmd" in
stop)
  for f in "$CACHE"/run/server-${port:-*}.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null && echo "stopped llama-server $pid"
    rm -f "$f"
  done
  exit 0 ;;
start) ;;
*) echo "usage: $0 start [PORT] [-- ARGS...] | stop [PORT]" >&2; exit 2 ;;
esac

built=$("$HERE/build.sh" "$CACHE") || { echo "build.sh failed" >&2; exit 1; }
eval "$(tail -2 <<<"$built")"   # sets LLAMA_SERVER_BIN and LLAMA_MODEL

if [ -z "$port" ]; then
  port=18080   # first free port, so a server a developer already runs is left alone
  while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
fi
mkdir -p "$CACHE/run"
logfile="$CACHE/run/server-$port.log"

# Why each flag:
#   --alias               a stable model id in /v1/models and responses (default is the file path)
#   -c 2048 -np 2         small KV cache, 2 slots => 2 concurrent generations, 1024 tokens each
#                         (a prompt + max_tokens beyond 1024 fails; a 3rd request waits in queue)
#   --seed 42             default sampling seed: the same request gives the same text
#   -t 1 -tb 1            one compute thread: on 2 cores a 2nd (spinning) ggml thread fights the
#                         HTTP threads and the tests; measured 2 concurrent streams at ~120 tok/s
#                         each with -t 2 vs ~700 tok/s each with -t 1
#   --no-warmup           skip the empty warm-up run: faster start
#   --metrics             Prometheus counters at /metrics, handy when a test looks for leaks
"$LLAMA_SERVER_BIN" -m "$LLAMA_MODEL" --host 127.0.0.1 --port "$port" \
    --alias jobservice-tiny -c 2048 -np 2 --seed 42 -t 1 -tb 1 --no-warmup --metrics \
    "${extra[@]}" </dev/null >"$logfile" 2>&1 &
pid=$!
echo "$pid" >"$(pidfile "$port")"

# Loading takes about a second; /health answers 503 while the model loads.
for _ in $(seq 1 300); do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "llama-server exited during start-up; log $logfile:" >&2; tail -20 "$logfile" >&2
    rm -f "$(pidfile "$port")"; exit 1
  fi
  if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health")" = 200 ]; then
    echo "LLAMA_BASE_URL=http://127.0.0.1:$port/v1"
    echo "LLAMA_SERVER_PID=$pid"
    echo "LLAMA_SERVER_LOG=$logfile"
    exit 0
  fi
  sleep 0.2
done
echo "llama-server not healthy after 60 s; log $logfile" >&2
kill "$pid" 2>/dev/null || true
exit 1
