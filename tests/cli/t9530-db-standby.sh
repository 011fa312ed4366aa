#!/usr/bin/env bash
# A primary and a synchronous streaming standby (pg_basebackup), the store's
# conninfo naming both with target_session_attrs=read-write.  The primary
# is killed mid-batch and the standby promoted: the batch either commits on
# the new primary or fails in one line; the next commands go on through
# the multi-host conninfo; no committed record is missing (every signature
# file has its record, the host's copy is not ahead of the database) and
# the chain verifies.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../dbstore.sh"
db_start
token_start
PGD2=$(mktemp -d /tmp/signet-pg2.XXXXXX)
[ "$(id -u)" = 0 ] && chown postgres "$PGD2"
trap 'token_stop; db_stop; as_pg "$PGBIN/pg_ctl" -D "$PGD2/data" -m immediate stop >/dev/null 2>&1; rm -rf "$T" "$PGD" "$PGD2"' EXIT
cat >>"$PGD/data/postgresql.conf" <<EOF
wal_level = replica
max_wal_senders = 4
synchronous_commit = on
EOF
db_stop; db_restart
as_pg "$PGBIN/pg_basebackup" -h "$PGD" -U postgres -D "$PGD2/data" -R -d "host=$PGD user=postgres application_name=standby1" \
  >"$PGD2/basebackup.log" 2>&1 || { cat "$PGD2/basebackup.log"; fail "pg_basebackup"; }
as_pg "$PGBIN/pg_ctl" -D "$PGD2/data" -l "$PGD2/log" -w -o "-k $PGD2 -c listen_addresses= -c fsync=off" start >/dev/null \
  || { cat "$PGD2/log"; fail "standby start"; }
# Synchronous from now on, on the primary only (a promoted standby has no standby of its own to wait for).
db_sql "ALTER SYSTEM SET synchronous_standby_names = 'standby1'" >/dev/null
db_sql "SELECT pg_reload_conf()" >/dev/null
for _ in $(seq 100); do
  [ "$(db_sql "SELECT count(*) FROM pg_stat_replication WHERE application_name = 'standby1' AND sync_state = 'sync'")" = 1 ] && break
  sleep 0.1
done
eq "$(db_sql "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby1'")" sync "the standby is synchronous"

DB2="host=$PGD,$PGD2 dbname=signet user=postgres target_session_attrs=read-write"
sig 0 init --module "$CLIENT" --token shared --pin-file "$T/pin" --db "$DB2" --host alpha
sig 0 key generate fw
sig 0 cert issue fw
sig 0 key pubkey fw --out "$T/fw.pub"
mkdir "$T/batch"
for i in $(seq -w 1 200); do head -c 4000 /dev/urandom >"$T/batch/b$i.bin"; done
for i in 1 2 3; do head -c 4000 /dev/urandom >"$T/s$i.bin"; sig 0 sign "$T/s$i.bin" --key fw; done

"$SIGNET" sign "$T"/batch/*.bin --key fw >"$T/batch.out" 2>"$T/batch.err" &
spid=$!
for _ in $(seq 3000); do compgen -G "$T/batch/b003.bin.sig*" >/dev/null && break; sleep 0.01; done
db_stop
as_pg "$PGBIN/pg_ctl" -D "$PGD2/data" -w promote >/dev/null || fail "promote"
wait "$spid"; rc=$?
cp "$T/batch.err" "$T/err"
if [ "$rc" != 0 ]; then
  [ "$rc" = 3 ] || { cat "$T/err"; fail "expected exit 0 or 3 from the batch, got $rc"; }
  [ "$(grep -vc '^hint:' "$T/err")" -eq 1 ] || { cat "$T/err"; fail "more than one line"; }
  note "the batch failed in one line: $(head -1 "$T/err")"
else
  note "the batch committed on the promoted standby"
fi
ls "$T/batch" | grep -v '\.bin$\|\.bin\.sig$' && fail "temporary files left behind"

# The next commands go on, on the promoted standby.
head -c 4000 /dev/urandom >"$T/after.bin"
sig 0 sign "$T/after.bin" --key fw
psql2() { command psql -X -q -A -t -v ON_ERROR_STOP=1 -h "$PGD2" -U postgres -d signet -c "$1"; }
records=$(psql2 "COPY (SELECT convert_from(record, 'UTF8') FROM signet_audit ORDER BY seq) TO STDOUT WITH (FORMAT csv, QUOTE E'\x01', DELIMITER E'\x02')")
printf '%s\n' "$records" >"$T/db.log"
cmp -s "$S/audit.log" "$T/db.log" || fail "the host's copy is not the promoted standby's chain"
for f in "$T"/s?.bin.sig "$T"/batch/*.sig "$T/after.bin.sig"; do
  [ -e "$f" ] || continue
  [ -n "$(jq -c --arg f "$f" 'select((.intent.files // []) | index($f)) | .seq' "$T/db.log")" ] || fail "$f has no record on the promoted standby"
  base64 -d "$f" >"$T/b.der"
  openssl dgst -sha256 -verify "$T/fw.pub" -signature "$T/b.der" "${f%.sig}" >/dev/null || fail "$f does not verify"
done
sig 0 audit verify
has "$T/out" "postgresql:signet@$PGD,$PGD2"
