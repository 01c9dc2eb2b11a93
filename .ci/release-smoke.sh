#!/usr/bin/env bash
# Called by .ci/run after the tests: the tests run a Debug build, but the Dockerfile, bench/ and
# the peer harness run the Release build, whose ReadyToRun images (the service's and every
# package's, with cross-module code: src/JobService/JobService.csproj) only that build makes.
# Builds it, starts it on a throw-away SQLite database, and runs one echo job to completion
# through the API. Fails if the build fails, the service does not get ready, or the job does not
# complete.
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build -c Release src/JobService -v q -nologo >/dev/null
work=$(mktemp -d)
port=55190
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
base="http://127.0.0.1:$port"
(cd "$work" && exec env ConnectionStrings__Jobs="Data Source=$work/jobs.db" \
  dotnet "$OLDPWD/src/JobService/bin/Release/net10.0/JobService.dll" --urls "$base" >"$work/service.log" 2>&1) &
service=$!
trap 'kill "$service" 2>/dev/null; wait "$service" 2>/dev/null; rm -rf "$work"' EXIT

fail() { echo "Release smoke: $1"; tail -n 40 "$work/service.log"; exit 1; }
ready=
for _ in $(seq 1 120); do
  if curl -sf "$base/health/ready" >/dev/null; then ready=1; break; fi
  kill -0 "$service" 2>/dev/null || fail "the service exited before it was ready"
  sleep 0.5
done
[ -n "$ready" ] || fail "not ready within 60 s"
# The job's own id and status come first in its JSON (JobResponse); no JSON tool is assumed here.
id=$(curl -sf -H 'Content-Type: application/json' -d '{"type": "echo", "payload": {"text": "smoke"}}' "$base/jobs" |
  sed -n 's/^{"id":"\([0-9a-f-]*\)".*/\1/p') || fail "POST /jobs failed"
[ -n "$id" ] || fail "POST /jobs answered no job id"
status=
for _ in $(seq 1 120); do
  status=$(curl -sf "$base/jobs/$id" | grep -o '"status":"[a-z_]*"' | head -n 1 | cut -d'"' -f4) || fail "GET /jobs/$id failed"
  [ "$status" = completed ] && break
  sleep 0.5
done
[ "$status" = completed ] || fail "the echo job is '$status' after 60 s"
echo "Release smoke: the Release build served an echo job to completion"
