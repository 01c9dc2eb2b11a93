#!/usr/bin/env bash
# Called by .ci/run after the tests with the folder the runtime writes crash dumps to: a test
# process that dies of a crash (a signal, or an exception nothing caught) leaves "Test host process
# crashed" and no stack. For each dump it prints the exception the process died of and the
# crashing thread's stack (the pinned dotnet-dump, .config/dotnet-tools.json), then deletes it.
set -uo pipefail
for dump in "$1"/*.dmp; do
  [ -e "$dump" ] || continue
  echo "CI: a process crashed during the tests; its dump ($(basename "$dump")):"
  dotnet dotnet-dump analyze "$dump" -c "pe -nested" -c "clrstack" -c "clrthreads" -c exit 2>&1 | head -n 400
  rm -f "$dump"
done
