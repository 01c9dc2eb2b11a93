# Functions for the benchmark scripts: a throw-away PostgreSQL on a free loopback port, from
# the machine's server binaries (installed from Debian's packages when missing). Source it;
# it changes no shell options, so it is safe in an interactive shell too.
#   source bench/lib/postgres.sh; start_postgres; ...; stop_postgres
# start_postgres sets BENCH_PG (a base connection string for database postgres).

start_postgres() {
  if ! ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1; then
    echo "Installing PostgreSQL from Debian's packages..." >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null || return 1
  fi
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  PG_PORT=55480
  while (exec 3<>"/dev/tcp/127.0.0.1/$PG_PORT") 2>/dev/null; do PG_PORT=$((PG_PORT + 1)); done
  PG_DIR=$(mktemp -d /tmp/jobservice-bench-pg.XXXXXX)
  chown postgres "$PG_DIR"
  (cd / && runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DIR/data" --auth=trust -U postgres >/dev/null) || return 1
  # Default durability (fsync, synchronous_commit on), as the peer harness runs it.
  (cd / && runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w start \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR -c max_connections=300" >/dev/null) || return 1
  BENCH_PG="Host=127.0.0.1;Port=$PG_PORT;Username=postgres;Database=postgres"
  echo "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT" >&2
}

stop_postgres() {
  [ -n "${PG_DIR:-}" ] || return 0
  (cd / && runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast stop >/dev/null 2>&1) || true
  rm -rf "$PG_DIR"
  PG_DIR=
}

# psql on the throw-away server's postgres database.
psql_bench() {
  "$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres "$@"
}

# CPU seconds the server's exited processes used (its backends once their clients closed):
# the postmaster's reaped children's user + system time (/proc/PID/stat fields 16 and 17).
postgres_children_cpu() {
  awk -v hz="$(getconf CLK_TCK)" '{print ($16 + $17) / hz}' "/proc/$(head -1 "$PG_DIR/data/postmaster.pid")/stat"
}
