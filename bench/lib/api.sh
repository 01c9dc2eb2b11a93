# Functions for the HTTP benchmarks (http.sh, http-compare.sh): the service as they run it, the
# jobs they read, and wrk's two request scripts. Source it.

# start_api DIR PORT PROVIDER CONNECTION LOG: the Release build of the clone in DIR, API role,
# Serilog at Warning, and the per-address rate limits out of the way (on by default and sized for
# one frontend, they would answer most of the load 429). Sets API_PID; returns once it is ready.
# It runs in DIR: an older build refuses a key a newer appsettings.json has.
start_api() {
  (cd "$1" && Database__Provider=$3 ConnectionStrings__Jobs="$4" Service__Role=api Serilog__MinimumLevel=Warning \
    RateLimits__SubmitPerMinute=10000000 RateLimits__SubmitBurst=1000000 RateLimits__ReadsPerMinute=10000000 \
    exec dotnet src/JobService/bin/Release/net10.0/JobService.dll --urls "http://127.0.0.1:$2" >"$5" 2>&1) &
  API_PID=$!
  until curl -sf "http://127.0.0.1:$2/health/ready" >/dev/null; do sleep 0.2; done
}

# seed_jobs PORT FILE: 1,000 echo jobs through POST /jobs/batch; their ids, one a line, in FILE.
seed_jobs() {
  python3 -c "import json; print(json.dumps({'jobs': [{'type': 'echo', 'payload': {'text': str(i)}} for i in range(1000)]}))" |
    curl -sf -H 'Content-Type: application/json' --data-binary @- "http://127.0.0.1:$1/jobs/batch" |
    python3 -c "import json, sys; print('\n'.join(j['id'] for j in json.load(sys.stdin)['items']))" >"$2"
}

# write_wrk_scripts DIR: DIR/get.lua (GET /jobs/{id}, a random id of the file IDS_FILE names) and
# DIR/post.lua (POST /jobs, one echo job).
write_wrk_scripts() {
  cat >"$1/get.lua" <<'LUA'
local ids = {}
for line in io.lines(os.getenv("IDS_FILE")) do ids[#ids + 1] = line end
request = function() return wrk.format("GET", "/jobs/" .. ids[math.random(#ids)]) end
LUA
  cat >"$1/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"type": "echo", "payload": {"text": "hello"}}'
wrk.headers["Content-Type"] = "application/json"
LUA
}
