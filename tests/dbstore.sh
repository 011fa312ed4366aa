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
# A second database, "restored" ($DB2), for restores: db2_fresh drops and makes it again, empty.
DB2="host=$PGD dbname=restored user=postgres"
db2_sql() { command psql -X -q -A -t -v ON_ERROR_STOP=1 -h "$PGD" -U postgres -d restored -c "$1"; }
db2_records() { command psql -X -q -A -t -h "$PGD" -U postgres -d restored -c "COPY (SELECT convert_from(record, 'UTF8') FROM signet_audit ORDER BY seq) TO STDOUT WITH (FORMAT csv, QUOTE E'\x01', DELIMITER E'\x02')"; }
db2_fresh() {
  PGOPTIONS='-c client_min_messages=warning' command psql -X -q -h "$PGD" -U postgres -d postgres \
    -c "DROP DATABASE IF EXISTS restored" -c "CREATE DATABASE restored" >/dev/null || fail "createdb restored"
}

# db_host KEY...: PostgreSQL and the p11-kit server started, $S host alpha of
# database $DB, each KEY generated on the token with its certificate issued.
db_host() {
  local k
  db_start; token_start
  sig 0 init --module "$CLIENT" --token shared --pin-file "$T/pin" --db "$DB" --host alpha
  for k in "$@"; do sig 0 key generate "$k"; sig 0 cert issue "$k"; done
}

# two_hosts: PostgreSQL and the p11-kit server started; A and B are two
# hosts' store directories, sa/sb run signet (sig) on each, db_count counts
# the database's records.
two_hosts() { db_start; token_start; A="$T/hostA" B="$T/hostB"; }
sa() { sig "$1" --store "$A" "${@:2}"; }
sb() { sig "$1" --store "$B" "${@:2}"; }
db_count() { db_sql "SELECT count(*) FROM signet_audit"; }

# db_backup_kills MODE HOSTDIR: `backup` of the database store HOSTDIR is a
# host of, SIGKILLed (strace) at calls of rename, fsync and sendto (each
# message to PostgreSQL), in turn; MODE all: at every call of those and of
# write and unlink, else at a sample (every rename, every third fsync, the
# last four messages).  After each kill an archive is there only with its
# record in the database; after the next command (a sign with key fw of
# $T/img) the archive is there exactly when it is the one recorded last,
# and no staged file or intent is left.  Passphrase in $T/pass.
db_backup_kills() {
  local mode=$1 host=$2 K="$T/od/k.sbk" kills=0 whole=0 none=0 sc total points i what last left syscalls="rename fsync sendto"
  local bcmd=("$SIGNET" --store "$host" backup "$K" --passphrase-file "$T/pass" --scrypt-n 15)
  command -v strace >/dev/null || fail "strace is needed (make deps installs it)"
  mkdir -p "$T/od"
  [ "$mode" = all ] && syscalls="write rename unlink fsync sendto"
  for sc in $syscalls; do
    rm -f "$K"
    total=$(strace -f -o "$T/count" -e trace="$sc" "${bcmd[@]}" >/dev/null 2>&1; grep -c " $sc(" "$T/count")
    case $mode:$sc in
      all:*) points=$(seq 1 "$total") ;;
      *:sendto) points=$(seq $((total > 3 ? total - 3 : 1)) "$total") ;;
      *:fsync) points=$(seq 1 3 "$total") ;;
      *) points=$(seq 1 "$total") ;;
    esac
    for i in $points; do
      rm -f "$K"
      strace -f -o /dev/null -e trace="$sc" -e inject="$sc:signal=SIGKILL:when=$i" "${bcmd[@]}" >/dev/null 2>&1
      kills=$((kills + 1))
      what="backup killed at $sc #$i"
      [ ! -e "$K" ] || [ -n "$(db_sql "SELECT seq FROM signet_audit WHERE convert_from(record, 'UTF8')::json->'details'->>'archive_sha256' = '$(sha256sum "$K" | cut -c1-64)'")" ] \
        || fail "$what: an archive without its record"
      # the next command puts a committed archive in place or removes a staged one
      "$SIGNET" --store "$host" sign "$T/img" --key fw --out "$T/od/next.sig" >"$T/next.out" 2>"$T/next.err" \
        || { cat "$T/next.err"; fail "$what: the next command failed"; }
      last=$(db_sql "SELECT convert_from(record, 'UTF8')::json->'details'->>'archive_sha256' FROM signet_audit WHERE convert_from(record, 'UTF8')::json->>'op' = 'backup' ORDER BY seq DESC LIMIT 1")
      if [ -e "$K" ]; then
        eq "$(sha256sum "$K" | cut -c1-64)" "$last" "$what: the archive is not the one recorded last"
        whole=$((whole + 1))
      else
        none=$((none + 1))
      fi
      left=$(find "$host" "$T/od" -name '*.tmp*' | head -3)
      [ -z "$left" ] || fail "$what: temporary files left: $left"
      [ -z "$(ls "$host/intents" 2>/dev/null)" ] || fail "$what: an intent left"
    done
  done
  rm -f "$K" "$T/od/next.sig"
  note "backup: SIGKILL at $kills points: $whole left the archive with its record, $none no archive"
  [ "$whole" -gt 0 ] && [ "$none" -gt 0 ] || fail "backup kills: $whole whole, $none none: the kills missed a side"
}

# db_restore_kills MODE ARCHIVE N: `restore ARCHIVE --db $DB2 --host gamma`
# (ARCHIVE holds N records) into a fresh database each time, SIGKILLed at
# calls of sendto, rename and fsync (MODE all: every call, and of write and
# unlink too; else a sample: the first, a middle and the last four
# messages, every rename, every third fsync).  After each kill the
# database holds no store and the store directory is absent (then the
# next restore succeeds, sweeping the staging directory), or it holds the
# N records and the restore record: with the directory in place (it
# verifies) or not (the same restore run again completes it, and verifies).
# Nothing is left next to the store directory.
db_restore_kills() {
  local mode=$1 archive=$2 n=$3 R="$T/od/r" kills=0 empty=0 restored=0 nodir=0 sc total points i what has_store left
  local syscalls="sendto rename fsync"
  local argv=("$SIGNET" restore "$archive" --store "$R" --db "$DB2" --host gamma --passphrase-file "$T/pass")
  command -v strace >/dev/null || fail "strace is needed (make deps installs it)"
  mkdir -p "$T/od"
  [ "$mode" = all ] && syscalls="sendto write rename unlink fsync"
  for sc in $syscalls; do
    db2_fresh; rm -rf "$R"
    total=$(strace -f -o "$T/count" -e trace="$sc" "${argv[@]}" >/dev/null 2>&1; grep -c " $sc(" "$T/count")
    case $mode:$sc in
      all:*) points=$(seq 1 "$total") ;;
      *:sendto) points="1 $((total / 2)) $(seq $((total > 4 ? total - 3 : 1)) "$total")" ;;
      *:fsync) points=$(seq 2 3 "$total") ;;
      *) points=$(seq 1 "$total") ;;
    esac
    for i in $points; do
      db2_fresh; rm -rf "$R"
      strace -f -o /dev/null -e trace="$sc" -e inject="$sc:signal=SIGKILL:when=$i" "${argv[@]}" >/dev/null 2>&1
      kills=$((kills + 1))
      what="restore killed at $sc #$i"
      has_store=f
      [ "$(db2_sql "SELECT to_regclass('signet_hosts') IS NOT NULL")" = t ] && has_store=$(db2_sql "SELECT EXISTS (SELECT 1 FROM signet_hosts)")
      if [ "$has_store" = t ]; then
        # committed: every record and the restore record; the host's directory, unless the kill came before its rename
        eq "$(db2_sql "SELECT count(*) FROM signet_audit")" "$((n + 1))" "$what: records in the database"
        eq "$(db2_sql "SELECT convert_from(record, 'UTF8')::json->>'op' FROM signet_audit ORDER BY seq DESC LIMIT 1")" restore "$what: the last record"
        restored=$((restored + 1))
        if [ -e "$R" ]; then
          "$SIGNET" --store "$R" audit verify >"$T/v.out" 2>&1 || { cat "$T/v.out"; fail "$what: audit verify of the restored store"; }
        else
          # the same restore again completes it: the host's directory from the database, the staging directory swept
          nodir=$((nodir + 1))
          "${argv[@]}" >"$T/next.out" 2>"$T/next.err" || { cat "$T/next.err"; fail "$what: the restore run again"; }
          has "$T/next.out" "completed: database postgresql:restored@$PGD had this restore already \(record $((n + 1)), by host 'gamma'\)"
          has "$T/next.err" "left by an interrupted restore"
          eq "$(db2_sql "SELECT count(*) FROM signet_audit")" "$((n + 1))" "$what: records after the restore run again"
          "$SIGNET" --store "$R" audit verify >"$T/v.out" 2>&1 || { cat "$T/v.out"; fail "$what: audit verify of the completed restore"; }
        fi
      else
        # not committed: no store in the database, no directory; the next restore succeeds and sweeps the staging directory
        [ ! -e "$R" ] || fail "$what: the store directory without its database"
        empty=$((empty + 1))
        "${argv[@]}" >"$T/next.out" 2>"$T/next.err" || { cat "$T/next.err"; fail "$what: the next restore failed"; }
        "$SIGNET" --store "$R" audit verify >"$T/v.out" 2>&1 || { cat "$T/v.out"; fail "$what: audit verify after the next restore"; }
      fi
      left=$(ls -A "$T/od" | grep -v '^r$' | head -3)
      [ -z "$left" ] || fail "$what: left next to the store: $left"
    done
  done
  note "restore --db: SIGKILL at $kills points: $empty left the database empty (the next restore succeeded), $restored restored it whole ($nodir before the host's directory was in place: the same restore run again completed it)"
  [ "$empty" -gt 0 ] && [ "$restored" -gt 0 ] || fail "restore kills: $empty empty, $restored restored: the kills missed a side"
}
trap 'token_stop; db_stop; rm -rf "$T" "$PGD"' EXIT
