#!/usr/bin/env bash
# fleet devices from PostgreSQL: the test starts its own cluster on a unix
# socket in a temporary directory (as the postgres user when run as root),
# the user's query groups in the database and returns
# (build, devices[, last_seen]).  A failed connection and a failing query
# are exit 3 with the server's message, never the password, and nothing
# is written.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/fleet-fixtures.inc"
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
[ -x "$PGBIN/initdb" ] || fail "PostgreSQL server not installed (make deps installs postgresql)"
PGD=$(mktemp -d /tmp/signet-pg.XXXXXX)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$PGD"
trap 'as_pg "$PGBIN/pg_ctl" -D "$PGD/data" -m immediate stop >/dev/null 2>&1; rm -rf "$T" "$PGD"' EXIT
as_pg "$PGBIN/initdb" -D "$PGD/data" -A trust -U postgres >"$PGD/initdb.log" 2>&1 || { cat "$PGD/initdb.log"; fail "initdb"; }
# One role must prove a password, so that a wrong one can be refused.
sed -i '1i local all fleetpw scram-sha-256' "$PGD/data/pg_hba.conf"
as_pg "$PGBIN/pg_ctl" -D "$PGD/data" -l "$PGD/log" -w -o "-k $PGD -c listen_addresses= -c fsync=off" start >/dev/null \
  || { cat "$PGD/log"; fail "pg_ctl start"; }
psql() { command psql -X -q -v ON_ERROR_STOP=1 -h "$PGD" -U postgres "$@"; }
psql -d postgres -c "CREATE DATABASE fleetdb" || fail "createdb"
psql -d fleetdb <<'SQL' || fail "fixture data"
CREATE ROLE fleetpw LOGIN PASSWORD 'right-horse-battery';
CREATE TABLE devices (id text PRIMARY KEY, fleet text, fw text, last_seen timestamptz);
INSERT INTO devices SELECT 'a' || g, 'gen2', '1.4.2', '2026-05-30 12:00:00+00' FROM generate_series(1, 2000) g;
INSERT INTO devices SELECT 'b' || g, 'gen2', '1.4.2', '2025-11-01 00:00:00+00' FROM generate_series(1, 300) g;
INSERT INTO devices SELECT 'c' || g, 'gen2', '9.9.9', '2026-05-31 00:00:00+00' FROM generate_series(1, 50) g;
INSERT INTO devices SELECT 'd' || g, 'gen1', '0.9.0', NULL FROM generate_series(1, 70) g;
GRANT SELECT ON devices TO fleetpw;
SQL

fleet_fixtures
export SIGNET_NOW=2026-06-01T00:00:00Z
inventory() {  # inventory CONNINFO QUERY
  cat >"$S/fleets.yaml" <<YAML
fleets:
  - name: gen2
    builds:
      - { version: 1.4.2, artefact: $T/fw.h }
    devices:
      source: "$1"
      format: postgresql
      query: "$2"
  - name: gen1
    builds:
      - { version: 0.9.0, artefact: $T/lost.h }
    devices:
      source: "postgresql://postgres@/fleetdb?host=$PGD"
      format: postgresql
      query: "SELECT fw, count(*) FROM devices WHERE fleet = 'gen1' GROUP BY fw"
YAML
}
Q="SELECT fw, count(*), date_trunc('day', last_seen) FROM devices WHERE fleet = 'gen2' GROUP BY fw, 3"
inventory "host=$PGD dbname=fleetdb user=postgres" "$Q"
sig 0 --json fleet report
eq "$(jq -r '[.rows[] | "\(.fleet)/\(.build)=\(.devices)+\(.stale_devices)"] | sort | join(" ")' "$T/out")" \
  "gen1/0.9.0=70+0 gen2/1.4.2=2000+300 gen2/unknown=50+0" "counts grouped in the database, stale apart"
eq "$(jq -r '.fleets[] | select(.name=="gen2") | .source' "$T/out")" "postgresql:fleetdb@$PGD" "source name"
sig 0 fleet report --format prometheus --out "$T/fleet.prom"
has "$T/fleet.prom" "^signet_inventory_last_update_timestamp_seconds\{source=\"postgresql:fleetdb@$PGD\"\} $(date -d 2026-06-01 +%s)$"
run 0 promtool check metrics <"$T/fleet.prom"

# The password authenticates; a wrong one is refused by the server, and never printed.
inventory "host=$PGD dbname=fleetdb user=fleetpw password=right-horse-battery" "$Q"
sig 0 fleet report gen2
inventory "host=$PGD dbname=fleetdb user=fleetpw password=Tr0ub4dor-and-3" "$Q"
rm -f "$T/r.prom"
sig 3 fleet report --format prometheus --out "$T/r.prom"
one_line_error
has "$T/err" "^signet: fleet 'gen2': cannot connect to postgresql:fleetdb@$PGD: .*password authentication failed for user \"fleetpw\""
hasnt "$T/err" "Tr0ub4dor"
[ ! -e "$T/r.prom" ] || fail "report written after a connection error"
# No server there at all.
inventory "host=$T/nowhere dbname=fleetdb user=postgres password=Tr0ub4dor-and-3" "$Q"
sig 3 fleet check
one_line_error
hasnt "$T/err" "Tr0ub4dor"
has "$T/err" "cannot connect to postgresql:fleetdb@$T/nowhere: "

# A failing query: the server's message and where the query is.
inventory "host=$PGD dbname=fleetdb user=postgres" "SELECT fw, count(*) FROM no_such_table GROUP BY fw"
sig 3 fleet report --format html --out "$T/r.html"
one_line_error
has "$T/err" "^signet: $S/fleets\.yaml:8: fleet 'gen2': the query failed on postgresql:fleetdb@$PGD: ERROR: +relation \"no_such_table\" does not exist"
[ ! -e "$T/r.html" ] || fail "report written after a failing query"
inventory "host=$PGD dbname=fleetdb user=postgres" "SELECT fw FROM devices"
sig 3 fleet report
has "$T/err" "returns 1 columns, not \(build, devices\[, last_seen\]\)"
inventory "host=$PGD dbname=fleetdb user=postgres" "SELECT fw, 'many' FROM devices LIMIT 1"
sig 3 fleet report
has "$T/err" "row 1 of the query: devices 'many' is not a count"

# The one libpq loader (pqload.c, shared with database-backed stores): a libpq.so.5 lacking
# libpq's functions is named, and so is the fleet that needed it.
mkdir "$T/fakepq"
echo 'int sgt_not_libpq(void); int sgt_not_libpq(void) { return 0; }' >"$T/fakepq/x.c"
cc -shared -fPIC -o "$T/fakepq/libpq.so.5" "$T/fakepq/x.c" || fail "cc of a fake libpq"
inventory "host=$PGD dbname=fleetdb user=postgres" "$Q"
LD_LIBRARY_PATH="$T/fakepq" sig 3 fleet report
one_line_error
has "$T/err" "^signet: $S/fleets\.yaml:[0-9]+: fleet 'gen2': the libpq found lacks PQconninfoParse$"
