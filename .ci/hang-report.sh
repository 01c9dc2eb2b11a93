#!/usr/bin/env bash
# Started beside `dotnet test` by .ci/run: if the tests still run after $1 seconds, prints what
# each test process waits on (thread stacks, then the chains of awaiting async methods, which
# name the test), then kills the test processes, so that a hang ends CI with its evidence long
# before CI's own time limit. The tools are pinned in .config/dotnet-tools.json.
set -uo pipefail
# The sleep must not hold CI's output open once .ci/run stops this script.
sleep "$1" >/dev/null 2>&1 & sleeper=$!
trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
wait "$sleeper"
pids=$(pgrep -f '/JobService\.Tests( |$)|testhost\.dll' || true)
[ -z "$pids" ] && exit 0
echo "CI: the tests still run after $1 s; what each test process waits on:"
for pid in $pids; do
  echo "=== process $pid: $(tr '\0' ' ' </proc/$pid/cmdline 2>/dev/null | cut -c1-200)"
  dotnet dotnet-stack report -p "$pid" 2>&1 | head -n 800
  dump=$(mktemp -u /tmp/hang-XXXXXX.dmp)
  if dotnet dotnet-dump collect -p "$pid" --type Heap -o "$dump" >/dev/null 2>&1; then
    dotnet dotnet-dump analyze "$dump" -c "dumpasync --coalesce" -c exit 2>&1 | head -n 1500
  fi
  rm -f "$dump"
done
echo "CI: killing the test processes after $1 s"
kill -9 $pids 2>/dev/null
