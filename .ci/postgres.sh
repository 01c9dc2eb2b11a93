#!/usr/bin/env bash
# Starts a throw-away PostgreSQL on loopback for the tests, installing it from Debian's
# packages when the machine has none. Source it: it exports JOBSERVICE_TEST_POSTGRES and
# defines stop_postgres. Used by .ci/run; handy by hand too:
#   source .ci/postgres.sh && dotnet test; stop_postgres
set -euo pipefail

if ! ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1; then
  echo "Installing PostgreSQL from Debian's packages..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
fi
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

# A free port, so that a server already running here (a developer's) is left alone.
PG_PORT=55432
while (exec 3<>"/dev/tcp/127.0.0.1/$PG_PORT") 2>/dev/null; do PG_PORT=$((PG_PORT + 1)); done

PG_DIR=$(mktemp -d /tmp/jobservice-pg.XXXXXX)
chown postgres "$PG_DIR"
(cd / && su postgres -c "$PG_BIN/initdb -D $PG_DIR/data --auth=trust -U postgres") >/dev/null
(cd / && su postgres -c "$PG_BIN/pg_ctl -D $PG_DIR/data -l $PG_DIR/log -o '-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR -c max_connections=300 -c fsync=on' -w start") >/dev/null
echo "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT (data in $PG_DIR)"

export JOBSERVICE_TEST_POSTGRES="Host=127.0.0.1;Port=$PG_PORT;Username=postgres;Database=postgres"

stop_postgres() {
  (cd / && su postgres -c "$PG_BIN/pg_ctl -D $PG_DIR/data -m fast stop") >/dev/null 2>&1 || true
  rm -rf "$PG_DIR"
}
