#!/usr/bin/env bash
# backup and restore of a database-backed store (PostgreSQL on a unix
# socket, one SoftHSM2 token behind a p11-kit server, two hosts).  backup
# on host A takes the store from the database (every record byte for byte,
# every head, the store files and a shared fleets.yaml, the hosts), says the keys stay in the HSM,
# and its record commits in the database.  restore --store DIR makes a file
# store of it; restore --db CONNINFO puts it into an empty database, where a
# host that joins verifies the whole chain (every head signature) and signs
# with both keys (openssl checks the signatures).  Refused: a database that
# holds a store, a host name the store had (nothing written either time).
# Then SIGKILL (strace) at a sample of the calls of a backup and of a
# restore --db (tests/dbstore.sh; t9555 kills at every call):
# an archive only with its record; a database empty (the next restore
# succeeds) or wholly restored (and the host's directory in place, or put
# there by the same restore run again).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../dbstore.sh"
two_hosts
# A table as rows, for comparing two databases (seq <= $2 where the table has one).
rows() {
  case $1 in
    audit) echo "SELECT seq, encode(sha256(record), 'hex'), host, committed FROM signet_audit WHERE seq <= $2 ORDER BY seq" ;;
    heads) echo "SELECT seq, encode(head, 'hex'), host FROM signet_heads WHERE seq <= $2 ORDER BY seq" ;;
    files) echo "SELECT path, encode(sha256(content), 'hex'), seq, host FROM signet_files ORDER BY path" ;;
    hosts) echo "SELECT name, joined, module, token FROM signet_hosts WHERE name <> 'gamma' ORDER BY name" ;;
  esac
}

sa 0 init --module "$CLIENT" --token shared --pin-file "$T/pin" --db "$DB" --host alpha
sb 0 init --module "$CLIENT" --token shared --pin-file "$T/pin" --db "$DB" --join --host beta
sa 0 key generate fw
sa 0 cert issue fw
sb 0 key generate boot
sb 0 cert issue boot
sa 0 key pubkey fw --out "$T/fw.pub"
sb 0 key pubkey boot --out "$T/boot.pub"
head -c 20000 /dev/urandom >"$T/img"
sa 0 sign "$T/img" --key fw --out "$T/a.sig"
sb 0 sign "$T/img" --key boot --out "$T/b.sig"
sb 0 cert reissue fw
# A file people write, shared through the database (store put): it goes with the store.
echo "fleets: []" >"$A/fleets.yaml"
sa 0 store put fleets.yaml
printf 'correct horse battery staple\n' >"$T/pass"

# ---- backup on host A ----
db_records >"$T/before.log"
n=$(wc -l <"$T/before.log")
sa 0 backup "$T/db.sbk" --passphrase-file "$T/pass" --scrypt-n 15
has "$T/err" "^signet: warning: the keys are not in this backup: they stay on token 'shared' of module '$CLIENT'; back them up with the HSM's own tools"
has "$T/out" "the store as database postgresql:signet@$PGD holds it: $n records, every head and store file"
has "$T/out" "records, certificates and audit log only: the keys stay in the HSM"
# Its record is committed in the database, names host A and the archive's hash.
eq "$(db_sql "SELECT convert_from(record, 'UTF8')::json->>'op', host FROM signet_audit ORDER BY seq DESC LIMIT 1")" "backup|alpha" "the backup's record in the database"
eq "$(db_sql "SELECT convert_from(record, 'UTF8')::json->'details'->>'archive_sha256' FROM signet_audit ORDER BY seq DESC LIMIT 1")" \
  "$(sha256sum "$T/db.sbk" | cut -c1-64)" "the recorded archive hash"
has "$A/audit.log" '"op":"backup".*"keys_included":false'
sb 0 audit verify

# ---- refused: a database that holds a store, a host name the store had ----
dbstate=$(db_sql "SELECT count(*), max(seq) FROM signet_audit")
sig 3 restore "$T/db.sbk" --store "$T/r1" --db "$DB" --host gamma --passphrase-file "$T/pass"
one_line_error
has "$T/err" "^signet: database postgresql:signet@$PGD holds a signet store already; refusing to restore into it"
[ ! -e "$T/r1" ] && [ -z "$(ls -A "$T" | grep '^\.r1\.')" ] || fail "a refused restore left a directory"
eq "$(db_sql "SELECT count(*), max(seq) FROM signet_audit")" "$dbstate" "the refused restore changed the database"
db2_fresh
sig 3 restore "$T/db.sbk" --store "$T/r1" --db "$DB2" --host alpha --passphrase-file "$T/pass"
one_line_error
has "$T/err" "host 'alpha' is in the backup's store already"
[ ! -e "$T/r1" ] || fail "a refused restore left its directory"
eq "$(db2_sql "SELECT to_regclass('signet_audit') IS NULL")" t "a refused restore left tables in the database"
sig 2 restore "$T/db.sbk" --check --db "$DB2" --passphrase-file "$T/pass"
sig 2 restore "$T/db.sbk" --store "$T/r1" --host gamma --passphrase-file "$T/pass"

# ---- into a directory: a file store of the database's chain ----
sig 0 restore "$T/db.sbk" --store "$T/F" --passphrase-file "$T/pass"
has "$T/out" "as a file store \(the backup is of database postgresql:signet@"
hasnt "$T/F/signet.yaml" "postgresql"
[ ! -e "$T/F/signet-db" ] || fail "the database's tables came into the file store"
head -n "$n" "$T/F/audit.log" | cmp -s - "$T/before.log" || fail "the file store's records are not the database's, byte for byte"
eq "$(tail -1 "$T/F/audit.log" | jq -r '"\(.op) \(.details.from_database)"')" "restore postgresql:signet@$PGD" "the file store's restore record"
cmp -s "$T/F/certs/fw/current.pem" "$A/certs/fw/current.pem" || fail "the file store lacks the reissued certificate"
cmp -s "$T/F/fleets.yaml" "$A/fleets.yaml" || fail "the file store lacks the shared fleets.yaml"
[ ! -e "$T/F/shared.sha256" ] || fail "a host's own list of shared files came into the file store"
sig 0 --store "$T/F" audit verify
has "$T/out" "audit log intact: $((n + 1)) records"

# ---- into a fresh database ----
C="$T/hostC" D="$T/hostD"
sig 0 restore "$T/db.sbk" --store "$C" --db "$DB2" --host gamma --passphrase-file "$T/pass"
has "$T/out" "into database postgresql:restored@$PGD, with $C as the store directory of host 'gamma'"
has "$C/signet.yaml" "dbname=restored"
# Every record byte for byte, then the restore record, naming its host.
db2_records >"$T/db2.log"
head -n "$n" "$T/db2.log" | cmp -s - "$T/before.log" || fail "the restored database's records are not the source's, byte for byte"
eq "$(wc -l <"$T/db2.log")" "$((n + 1))" "records in the restored database"
eq "$(tail -1 "$T/db2.log" | jq -r '"\(.op) \(.host) \(.details.archive_sha256)"')" "restore gamma $(sha256sum "$T/db.sbk" | cut -c1-64)" "the restore record"
cmp -s "$C/audit.log" "$T/db2.log" || fail "host gamma's copy is not the restored database's chain"
# The rest of the database as it was: each record's host and commit time, every head, the files, the hosts.
for t in audit heads files hosts; do
  eq "$(db2_sql "$(rows $t "$n")")" "$(db_sql "$(rows $t "$n")")" "signet_$t restored"
done
eq "$(db2_sql "SELECT string_agg(name, ',' ORDER BY name) FROM signet_hosts")" "alpha,beta,gamma" "hosts of the restored store"
eq "$(db2_sql "SELECT count(*) FROM signet_files WHERE path = 'fleets.yaml'")" 1 "the shared fleets.yaml in the restored database"
# A host joined to it checks the whole chain and every head the database kept.
sig 0 --store "$D" init --module "$CLIENT" --token shared --pin-file "$T/pin" --db "$DB2" --join --host delta
sig 0 --store "$D" audit verify
has "$T/out" "audit log intact: $((n + 2)) records"
has "$T/out" "database postgresql:restored@$PGD: every one of the [0-9]+ signed heads it kept has a good head signature"
sig 0 --store "$C" audit verify
cmp -s "$D/fleets.yaml" "$A/fleets.yaml" || fail "the joined host did not take the shared fleets.yaml"
# The keys are the HSM's: both sign from the restored store, and the old signatures verify with its certificates.
sig 0 --store "$D" sign "$T/img" --key fw --out "$T/d-fw.sig"
sig 0 --store "$C" sign "$T/img" --key boot --out "$T/c-boot.sig"
for s in a:fw b:boot d-fw:fw c-boot:boot; do
  base64 -d "$T/${s%%:*}.sig" >"$T/s.der"
  openssl x509 -in "$D/certs/${s#*:}/current.pem" -noout -pubkey >"$T/cert.pub"
  run 0 openssl dgst -sha256 -verify "$T/cert.pub" -signature "$T/s.der" "$T/img"
  run 0 openssl dgst -sha256 -verify "$T/${s#*:}.pub" -signature "$T/s.der" "$T/img"
done
sig 0 --store "$C" audit verify
sig 0 --store "$D" audit custody

# ---- a file store's archive (an embedded token, keys included) into a database ----
E="$T/emb"
sig 0 --store "$E" init
sig 0 --store "$E" key generate e
sig 0 --store "$E" sign "$T/img" --key e --out "$T/e.sig"
sig 0 --store "$E" backup "$T/emb.sbk" --passphrase-file "$T/pass" --scrypt-n 15
db2_fresh
sig 0 restore "$T/emb.sbk" --store "$T/E2" --db "$DB2" --host epsilon --passphrase-file "$T/pass"
has "$T/E2/hsm/softhsm2.conf" "directories.tokendir = $T/E2/hsm/tokens"
db2_records >"$T/db2.log"
ne=$(( $(wc -l <"$E/audit.log") - 1 ))   # all but the backup record, which is not in its own archive
cmp -s <(head -n "$ne" "$T/db2.log") <(head -n "$ne" "$E/audit.log") || fail "the file store's records are not in the database, byte for byte"
sig 0 --store "$T/E2" sign "$T/img" --key e --out "$T/e2.sig"
sig 0 --store "$T/E2" key pubkey e --out "$T/e.pub"
base64 -d "$T/e2.sig" >"$T/s.der"
run 0 openssl dgst -sha256 -verify "$T/e.pub" -signature "$T/s.der" "$T/img"
sig 0 --store "$T/E2" audit verify
has "$T/out" "every one of the [0-9]+ signed heads it kept has a good head signature"

# ---- SIGKILL during a backup and a restore --db (a sample; t9555 kills at every call) ----
db_backup_kills sample "$A"
sa 0 audit verify
# A backup of the store as it is now: the token's anchor names a record in it (a restored store that
# lacks records its token's anchor has seen fails audit verify, truly: they were made after the backup).
sa 0 backup "$T/now.sbk" --passphrase-file "$T/pass" --scrypt-n 15
n=$(( $(db_sql "SELECT count(*) FROM signet_audit") - 1 ))
# The drill restores it as a file store: the keys are the HSM's, the chain intact.
sig 0 restore "$T/now.sbk" --check --passphrase-file "$T/pass"
has "$T/out" "^  key boot +not-included +held by token 'shared'"
has "$T/out" "^  key fw +not-included"
has "$T/out" "^  audit log +intact +$((n + 1)) records"
db_restore_kills sample "$T/now.sbk" "$n"
exit 0
