# Sourced by the database-store tests (t95xx) after lib.sh: a PostgreSQL
# cluster of the test's own on a unix socket in $PGD (as the postgres user
# when run as root, like t5030), database "signet" ($DB is its conninfo),
# and one SoftHSM2 token "shared" behind a p11-kit server on a unix socket,
# reached by every "host" through p11-kit-client.so ($CLIENT, PIN in $T/pin).
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
[ -x "$PGBIN/initdb" ] || fail "PostgreSQL server not installed (make deps installs postgresql)"
CLIENT=$(ls /usr/lib/*/pkcs11/p11-kit-client.so 2>/dev/null | head -1)
[ -n "$CLIENT" ] || fail "p11-kit-client.so missing (Debian package p11-kit-modules)"
command -v p11-kit >/dev/null || fail "p11-kit missing (Debian package p11-kit)"
PGD=$(mktemp -d /tmp/signet-pg.XXXXXX)
DB="host=$PGD dbname=signet user=postgres"
SERVER_PID=
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
db_sql() { command psql -X -q -A -t -v ON_ERROR_STOP=1 -h "$PGD" -U postgres -d signet -c "$1"; }
# The chain as the database holds it, one record a line: what audit.log holds.
db_records() { command psql -X -q -A -t -h "$PGD" -U postgres -d signet -c "COPY (SELECT convert_from(record, 'UTF8') FROM signet_audit ORDER BY seq) TO STDOUT WITH (FORMAT csv, QUOTE E'\x01', DELIMITER E'\x02')"; }
db_pg_start() {
  as_pg "$PGBIN/pg_ctl" -D "$PGD/data" -l "$PGD/log" -w -o "-k $PGD -c listen_addresses= -c fsync=off" start >/dev/null \
    || { cat "$PGD/log"; fail "pg_ctl start"; }
}
db_start() {
  [ "$(id -u)" = 0 ] && chown postgres "$PGD"
  as_pg "$PGBIN/initdb" -D "$PGD/data" -A trust -U postgres >"$PGD/initdb.log" 2>&1 || { cat "$PGD/initdb.log"; fail "initdb"; }
  db_pg_start
  command psql -X -q -h "$PGD" -U postgres -d postgres -c "CREATE DATABASE signet" || fail "createdb"
}
db_stop() { as_pg "$PGBIN/pg_ctl" -D "$PGD/data" -m immediate stop >/dev/null 2>&1; }
db_restart() { db_pg_start; }
token_start() {
  mkdir -p "$T/hsm/tokens"
  printf 'directories.tokendir = %s/hsm/tokens\nobjectstore.backend = file\n' "$T" >"$T/hsm/conf"
  echo 24680 >"$T/pin"; chmod 600 "$T/pin"
  SOFTHSM2_CONF="$T/hsm/conf" softhsm2-util --init-token --free --label shared --so-pin 13579 --pin 24680 >/dev/null
  SOCK="$T/p11kit.sock"
  rm -f "$SOCK"
  SOFTHSM2_CONF="$T/hsm/conf" setsid p11-kit server -f --provider "$SOFTHSM_MODULE" -n "$SOCK" "pkcs11:token=shared" \
    >"$T/server.out" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.05; done
  [ -S "$SOCK" ] || { cat "$T/server.out"; fail "p11-kit server did not start"; }
  unset SOFTHSM2_CONF
  export P11_KIT_SERVER_ADDRESS="unix:path=$SOCK"
}
token_stop() { [ -n "$SERVER_PID" ] && kill -TERM -- "-$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; SERVER_PID=; }
trap 'token_stop; db_stop; rm -rf "$T" "$PGD"' EXIT
