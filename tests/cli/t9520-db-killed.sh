#!/usr/bin/env bash
# PostgreSQL killed (pg_ctl -m immediate) while a batch signs on a
# database-backed store, then started again: the batch fails with one line
# (exit 3); every signature file left has its record in the database, no
# staged file is left behind, and the next batch works and verifies.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../dbstore.sh"
db_host fw
sig 0 key pubkey fw --out "$T/fw.pub"
mkdir "$T/batch"
for i in $(seq -w 1 300); do head -c 4000 /dev/urandom >"$T/batch/b$i.bin"; done
records=$(db_sql "SELECT count(*) FROM signet_audit")

"$SIGNET" sign "$T"/batch/*.bin --key fw >"$T/batch.out" 2>"$T/batch.err" &
spid=$!
for _ in $(seq 3000); do compgen -G "$T/batch/b003.bin.sig*" >/dev/null && break; sleep 0.01; done
db_stop
wait "$spid"; rc=$?
[ "$rc" -eq 3 ] || { cat "$T/batch.err"; fail "expected exit 3 when the database goes away, got $rc"; }
cp "$T/batch.err" "$T/err"
[ "$(grep -vc "^hint:" "$T/err")" -eq 1 ] || { cat "$T/err"; fail "more than one line"; }
one_line_error
has "$T/err" "database postgresql:signet@"
ls "$T/batch" | grep -v '\.bin$\|\.bin\.sig$' && fail "temporary files left behind"
db_restart
signed=$(ls "$T/batch" | grep -c '\.sig$')
eq "$(( $(db_sql "SELECT count(*) FROM signet_audit WHERE convert_from(record, 'UTF8')::json->>'op' = 'sign'") ))" "$signed" \
  "signature files left = sign records in the database"
for f in "$T"/batch/*.sig; do
  [ -e "$f" ] || continue
  base64 -d "$f" >"$T/b.der"
  openssl dgst -sha256 -verify "$T/fw.pub" -signature "$T/b.der" "${f%.sig}" >/dev/null || fail "$f does not verify"
done

# The next batch works.
rm -f "$T"/batch/*.sig
sig 0 sign "$T"/batch/*.bin --key fw
eq "$(ls "$T/batch" | grep -c '\.sig$')" 300 "the next batch signed every image"
eq "$(( $(db_sql "SELECT count(*) FROM signet_audit") - records ))" "$(( 300 + signed ))" "one record per image"
sig 0 audit verify
db_records >"$T/db.log"
cmp -s "$S/audit.log" "$T/db.log" || fail "this host's copy differs from the database's chain"
