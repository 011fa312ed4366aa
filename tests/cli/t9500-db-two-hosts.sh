#!/usr/bin/env bash
# A store in PostgreSQL, two hosts, one token: the test starts its own
# PostgreSQL cluster on a unix socket and a p11-kit server in front of one
# SoftHSM2 token; two store directories stand for two hosts (init --db,
# init --db --join).  Four signers on each host at once; a reissue on host
# A, and host B's next `sign --ota-update` carries the new certificate;
# one audit chain, byte for byte the same on both hosts and in the
# database, verified from either (every head signature and the token's
# anchor); one record per signature, each naming its host.  t9540 runs
# every other state-changing command there, t9550 backup and restore.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../dbstore.sh"
two_hosts

sa 0 init --module "$CLIENT" --token shared --pin-file "$T/pin" --db "$DB" --host alpha
has "$T/out" "kept in database postgresql:signet@$PGD as host 'alpha'"
has "$A/signet.yaml" "backend: postgresql"
# A second init of the same database is refused, and so is a join under a taken name.
sig 3 --store "$T/other" init --module "$CLIENT" --token shared --pin-file "$T/pin" --db "$DB" --host gamma
one_line_error; has "$T/err" "holds a signet store already"
[ ! -e "$T/other" ] || fail "a refused init left its directory"
sig 3 --store "$T/other" init --module "$CLIENT" --token shared --pin-file "$T/pin" --db "$DB" --join --host alpha
has "$T/err" "host 'alpha' is in database"
sb 0 --json init --module "$CLIENT" --token shared --pin-file "$T/pin" --db "$DB" --join --host beta
eq "$(jq -r '"\(.database) \(.host) \(.joined)"' "$T/out")" "postgresql:signet@$PGD beta true" "init --json on a joining host"
eq "$(db_sql "SELECT string_agg(name, ',' ORDER BY name) FROM signet_hosts")" "alpha,beta" "hosts registered"
eq "$(tail -1 "$B/audit.log" | jq -r '"\(.op) \(.host)"')" "host.join beta" "the joining host's first record"
cmp -s "$A/audit.pub" "$B/audit.pub" || fail "the hosts do not share the audit key's public key"

sa 0 key generate fw
sa 0 cert issue fw --subject "CN=fw A"
# Host B sees the key and certificate host A made.
sb 0 key list
has "$T/out" "fw"
sb 0 cert show fw
has "$T/out" "CN ?= ?fw A"
cmp -s "$A/certs/fw/current.pem" "$B/certs/fw/current.pem" || fail "host B's copy of the certificate differs"
sa 0 key pubkey fw --out "$T/fw.pub"

# Four signers on each host at once.
for h in A B; do for i in 1 2 3 4; do head -c 30000 /dev/urandom >"$T/$h$i.bin"; done; done
before=$(db_sql "SELECT count(*) FROM signet_audit")
pids=""
for i in 1 2 3 4; do
  "$SIGNET" --store "$A" sign "$T/A$i.bin" --key fw >"$T/A$i.out" 2>&1 & pids="$pids $!"
  "$SIGNET" --store "$B" sign "$T/B$i.bin" --key fw >"$T/B$i.out" 2>&1 & pids="$pids $!"
done
for p in $pids; do wait "$p" || fail "a concurrent sign failed: $(cat "$T"/[AB]?.out)"; done
for h in A B; do for i in 1 2 3 4; do
  base64 -d "$T/$h$i.bin.sig" >"$T/s.der"
  run 0 openssl dgst -sha256 -verify "$T/fw.pub" -signature "$T/s.der" "$T/$h$i.bin"
done; done
eq "$(( $(db_sql "SELECT count(*) FROM signet_audit") - before ))" 8 "one record per signature"
# Each host caches the shared audit key's CKA_ID (audit.keyid), written by its first command that signs
# a head: per host, never in the database.
[ -s "$A/audit.keyid" ] && [ -s "$B/audit.keyid" ] || fail "a host has no cache of the audit key's CKA_ID"
cmp -s "$A/audit.keyid" "$B/audit.keyid" || fail "the hosts cache different audit key CKA_IDs"
eq "$(db_sql "SELECT count(*) FROM signet_files WHERE path = 'audit.keyid'")" 0 "audit.keyid rows in the database"
eq "$(db_sql "SELECT count(*) FROM signet_audit WHERE seq > $before AND host = 'alpha' AND convert_from(record, 'UTF8')::json->>'op' = 'sign' AND convert_from(record, 'UTF8')::json->>'host' = 'alpha'")" 4 "host A's records name it"
eq "$(db_sql "SELECT count(*) FROM signet_audit WHERE seq > $before AND convert_from(record, 'UTF8')::json->>'host' = 'beta'")" 4 "host B's records name it"

# A batch on host B: one record per image.
mkdir "$T/batch"; for i in 1 2 3 4 5 6; do head -c 5000 /dev/urandom >"$T/batch/b$i.bin"; done
before=$(db_sql "SELECT count(*) FROM signet_audit")
sb 0 sign "$T"/batch/*.bin --key fw
eq "$(( $(db_sql "SELECT count(*) FROM signet_audit") - before ))" 6 "one record per image of a batch"

# A reissue on host A; host B's next --ota-update carries the new certificate.
sa 0 cert reissue fw
newserial=$(openssl x509 -in "$A/certs/fw/current.pem" -noout -serial | cut -d= -f2)
head -c 40000 /dev/urandom >"$T/ota.bin"
sb 0 sign "$T/ota.bin" --key fw --ota-update "$T/ota.json" --ota-id ota-1 \
  --role-arn arn:aws:iam::123456789012:role/ota --targets arn:aws:iot:eu-west-1:123456789012:thinggroup/gen2 --s3 bucket=fw,key=ota.bin
cmp -s "$A/certs/fw/current.pem" "$B/certs/fw/current.pem" || fail "host B did not pick up the reissued certificate"
jq -r '.files[0].codeSigning.customCodeSigning.certificateChain.inlineDocument' "$T/ota.json" >"$T/ota-cert.pem"
eq "$(openssl x509 -in "$T/ota-cert.pem" -noout -serial | cut -d= -f2)" "$newserial" "host B's OTA input carries host A's new certificate"
base64 -d "$T/ota.bin.sig" >"$T/s.der"
run 0 openssl dgst -sha256 -verify "$T/fw.pub" -signature "$T/s.der" "$T/ota.bin"

# One chain: the same bytes on both hosts and in the database; verified from either.
sa 0 audit verify
sb 0 audit verify
has "$T/out" "head signature"
db_records >"$T/db.log"
cmp -s "$A/audit.log" "$T/db.log" || fail "host A's copy of the chain differs from the database's"
cmp -s "$B/audit.log" "$T/db.log" || fail "host B's copy of the chain differs from the database's"
cmp -s "$A/audit.head" "$B/audit.head" || fail "the hosts name different heads"
sb 0 audit custody

# The database unreachable: one line, exit 3, nothing written on the host.
db_stop
cp "$B/audit.log" "$T/before.log"
sb 3 sign "$T/ota.bin" --key fw --out "$T/down.sig"
one_line_error
has "$T/err" "cannot reach the store's database postgresql:signet@"
[ ! -e "$T/down.sig" ] || fail "a signature without a database to record it"
cmp -s "$B/audit.log" "$T/before.log" || fail "host B's copy changed without the database"
db_restart
sb 0 sign "$T/ota.bin" --key fw --out "$T/up.sig"
sa 0 audit verify

# renew on host B (nine days later) of a certificate host A issued for ten days; host A sees the new one.
sa 0 key generate r
sa 0 cert issue r --days 10
old=$(openssl x509 -in "$A/certs/r/current.pem" -noout -serial)
SIGNET_NOW=$(date -u -d "+9 days" +%Y-%m-%dT%H:%M:%SZ) sb 0 renew
has "$T/out" "^r: reissued, same key"
sa 0 cert show r
[ "$(openssl x509 -in "$A/certs/r/current.pem" -noout -serial)" != "$old" ] || fail "host A did not see host B's renewal"
cmp -s "$A/certs/r/current.pem" "$B/certs/r/current.pem" || fail "the hosts hold different certificates for r"
sb 0 audit verify
db_records >"$T/db.log"
cmp -s "$A/audit.log" "$T/db.log" || fail "host A's copy differs from the database after the renewal"
