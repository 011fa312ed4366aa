#!/usr/bin/env bash
# Every state-changing command on a database-backed store (issue 20: "every
# command works the same on both"): two hosts on one PostgreSQL and one
# token behind a p11-kit server, as t9500.  On host A: key import, key
# adopt, cert csr and cert import, header, sign --format mcuboot, fleet
# build add, rotate start and rotate finish; on host B each one's effect is
# seen (key show, cert show, fleet build list, rotate status, a retired key
# refused), the store files each one wrote are byte for byte the same on
# both hosts and in the database, one record per operation names host A,
# and audit verify passes on both.  No command here removes a store file.
# backup works there too: its record commits in the database (t9550).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../dbstore.sh"
. "$TOP/tests/mcuboot.sh"
MKCERT="$TOP/tests/vectors/cert/mkcert.sh"
MV="$BUILD/fakes/mcubootverify"
[ -x "$MV" ] || fail "$MV is not built (make check builds it)"
two_hosts
# op_ok OP: the newest record is OP, ok, made by host A (in the record and in its row).
op_ok() {
  eq "$(db_sql "SELECT host || ' ' || (convert_from(record, 'UTF8')::json->>'op') || ' ' || (convert_from(record, 'UTF8')::json->>'result') || ' ' || (convert_from(record, 'UTF8')::json->>'host') FROM signet_audit ORDER BY seq DESC LIMIT 1")" \
    "alpha $1 ok alpha" "the record of $1"
}
# one_op OP BEFORE: exactly one record since BEFORE, and it is OP by host A.
one_op() { eq "$(( $(db_count) - $2 ))" 1 "one record for $1"; op_ok "$1"; }
# same REL...: host B's copy of each store file is host A's and the database's.
same() {
  local rel
  for rel in "$@"; do
    [ -f "$A/$rel" ] || fail "host A has no $rel"
    [ -f "$B/$rel" ] || fail "host B has no $rel"
    cmp -s "$A/$rel" "$B/$rel" || fail "$rel differs between the hosts"
    eq "$(db_sql "SELECT encode(sha256(content), 'hex') FROM signet_files WHERE path = '$rel'")" \
      "$(sha256sum "$A/$rel" | cut -c1-64)" "$rel in the database"
  done
}

sa 0 init --module "$CLIENT" --token shared --pin-file "$T/pin" --db "$DB" --host alpha
sb 0 init --module "$CLIENT" --token shared --pin-file "$T/pin" --db "$DB" --join --host beta
sa 0 key generate fw
sa 0 key generate k2
sa 0 cert issue fw --subject "CN=fw"

# key import
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/legacy.pem" 2>/dev/null || fail "openssl genpkey"
n=$(db_count)
sa 0 key import old --private-key "$T/legacy.pem"
one_op key.import "$n"
sb 0 key show old
has "$T/out" "imported"
eq "$(yaml_get "$B/keys/old.yaml" spki_sha256)" \
  "$(openssl pkey -in "$T/legacy.pem" -pubout -outform DER | sha256sum | cut -c1-64)" "host B's record of the imported key"
same keys/old.yaml

# key adopt: a key pair made on the shared token outside signet
pkcs11-tool --module "$CLIENT" --login --pin 24680 --keypairgen --key-type EC:prime256v1 --id a201 --label vendor-fw \
  >"$T/p11.out" 2>&1 || { cat "$T/p11.out"; fail "pkcs11-tool --keypairgen"; }
n=$(db_count)
sa 0 key adopt vfw --uri "pkcs11:object=vendor-fw;type=private"
one_op key.adopt "$n"
sb 0 key list
has "$T/out" "^vfw "
sb 0 key show vfw
has "$T/out" "adopted"
same keys/vfw.yaml
sb 0 key pubkey vfw --out "$T/vfw.pub"
pkcs11-tool --module "$CLIENT" --read-object --type pubkey --id a201 -o "$T/vfw.der" >/dev/null 2>&1 || fail "pkcs11-tool --read-object"
eq "$(openssl pkey -pubin -in "$T/vfw.pub" -outform DER | sha256sum | cut -c1-64)" \
  "$(openssl pkey -pubin -inform DER -in "$T/vfw.der" -outform DER | sha256sum | cut -c1-64)" "host B's public key of the adopted key"

# cert csr, then cert import of what an external CA made of it
n=$(db_count)
sa 0 cert csr k2 --out "$T/k2.csr"
one_op cert.csr "$n"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/ca.key" 2>/dev/null
"$MKCERT" "$T/ca.pem" "$T/ca.key" now-10d now+3650d sha256 "/CN=Acme CA" \
  "basicConstraints = critical,CA:TRUE" "keyUsage = critical,keyCertSign"
openssl x509 -req -in "$T/k2.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial -days 200 \
  -copy_extensions copy -out "$T/issued.pem" 2>/dev/null || fail "the external CA"
serial=$(openssl x509 -in "$T/issued.pem" -noout -serial | cut -d= -f2)
n=$(db_count)
sa 0 cert import k2 "$T/issued.pem"
one_op cert.import "$n"
sb 0 cert show k2
has "$T/out" "Acme CA"
eq "$(openssl x509 -in "$B/certs/k2/current.pem" -noout -serial | cut -d= -f2)" "$serial" "host B's certificate of k2"
same certs/k2/current.pem "certs/k2/$serial.pem"

# header: a user output, and its record
n=$(db_count)
sa 0 header fw --out "$T/fw.h"
one_op header "$n"
[ -s "$T/fw.h" ] || fail "header wrote nothing"
sb 0 audit log
has "$T/out" "header"

# sign --format mcuboot
{ head -c 32 /dev/zero; head -c 6000 /dev/urandom; } >"$T/mcu.bin"
sa 0 key pubkey fw --out "$T/fw.pub"
n=$(db_count)
sa 0 sign "$T/mcu.bin" --key fw --format mcuboot --version 1.2.3 --out "$T/mcu.signed.bin"
one_op sign "$n"
eq "$(db_sql "SELECT convert_from(record, 'UTF8')::json->'details'->>'output_sha256' FROM signet_audit ORDER BY seq DESC LIMIT 1")" \
  "$(sha256sum "$T/mcu.signed.bin" | cut -c1-64)" "the record names the MCUboot image"
run 0 "$MV" "$T/mcu.signed.bin" "$T/fw.pub"
has "$T/out" '^OK$'
sb 0 verify "$T/mcu.signed.bin" --format mcuboot --key fw

# fleet build add
n=$(db_count)
sa 0 fleet build add gen1 1.0 "$T/fw.h" --devices 0
one_op fleet.build.add "$n"
sb 0 fleet build list
has "$T/out" "^gen1 +1\.0 +0 +fw +held"
same fleets/gen1/1.0.yaml
# The same build recorded from both hosts at once: the head row's lock makes one wait, and it
# then finds the other's record in its copy: one is recorded, the other refused.
n=$(db_count)
"$SIGNET" --store "$A" fleet build add gen2 2.0 "$T/fw.h" >"$T/ra.out" 2>"$T/ra.err" & pa=$!
"$SIGNET" --store "$B" fleet build add gen2 2.0 "$T/fw.h" >"$T/rb.out" 2>"$T/rb.err" & pb=$!
wait "$pa"; ra=$?; wait "$pb"; rb=$?
eq "$(printf '%s\n' "$ra" "$rb" | sort | tr '\n' ' ')" "0 3 " "exit codes of the same build added on both hosts at once"
eq "$(( $(db_count) - n ))" 1 "one record for the build added twice at once"
[ "$ra" = 3 ] && cp "$T/ra.err" "$T/err" || cp "$T/rb.err" "$T/err"
one_line_error
has "$T/err" "fleets/gen2/2\.0\.yaml' already exists; not replacing it"
sb 0 fleet build list gen2
has "$T/out" "^gen2 +2\.0 "

# rotate start, then rotate finish: host B follows the rotation and refuses the retired key
n=$(db_count)
sa 0 rotate start fw k2
one_op rotate.start "$n"
sb 0 rotate status fw
has "$T/out" "k2"
sb 0 rotate verify fw
same rotations/fw.yaml rotations/fw.lineage.json rotations/fw.lineage.sig
n=$(db_count)
sa 0 rotate finish fw
one_op rotate.finish "$n"
head -c 1000 /dev/urandom >"$T/img.bin"
n=$(db_count)
sb 1 sign "$T/img.bin" --key fw --out "$T/img.sig"
has "$T/err" "retired"
[ ! -e "$T/img.sig" ] || fail "host B signed with a retired key"
eq "$(( $(db_count) - n ))" 1 "one record for the refused sign"
eq "$(db_sql "SELECT host || ' ' || (convert_from(record, 'UTF8')::json->>'result') FROM signet_audit ORDER BY seq DESC LIMIT 1")" \
  "beta refused" "host B's refusal is on record"
sb 0 sign "$T/img.bin" --key k2 --out "$T/img.sig"
same keys/fw.yaml rotations/fw.yaml
sb 0 key show fw
has "$T/out" "retired"

# backup: the store from the database, its record committed there (t9550 restores such archives)
echo "a long passphrase" >"$T/pass"; chmod 600 "$T/pass"
n=$(db_count)
sa 0 backup "$T/b.bak" --passphrase-file "$T/pass" --scrypt-n 15
eq "$(( $(db_count) - n ))" 1 "one record for the backup"
eq "$(db_sql "SELECT host || ' ' || (convert_from(record, 'UTF8')::json->>'op') FROM signet_audit ORDER BY seq DESC LIMIT 1")" \
  "alpha backup" "host A's backup is on record"
[ -s "$T/b.bak" ] || fail "no archive"

# One chain on both hosts and in the database, verified from either.
sa 0 audit verify
sb 0 audit verify
has "$T/out" "head signature"
db_records >"$T/db.log"
cmp -s "$A/audit.log" "$T/db.log" || fail "host A's copy of the chain differs from the database's"
cmp -s "$B/audit.log" "$T/db.log" || fail "host B's copy of the chain differs from the database's"
sb 0 audit custody

# The one libpq loader (pqload.c, shared with PostgreSQL fleet sources): a libpq.so.5 lacking
# libpq's functions is named in one line, and nothing happens.
mkdir "$T/fakepq"
echo 'int sgt_not_libpq(void); int sgt_not_libpq(void) { return 0; }' >"$T/fakepq/x.c"
cc -shared -fPIC -o "$T/fakepq/libpq.so.5" "$T/fakepq/x.c" || fail "cc of a fake libpq"
n=$(db_count)
LD_LIBRARY_PATH="$T/fakepq" sa 3 key generate nopq
one_line_error
has "$T/err" "^signet: the libpq found lacks PQconninfoParse$"
eq "$(db_count)" "$n" "nothing recorded without libpq"
[ ! -e "$A/keys/nopq.yaml" ] || fail "a key record without libpq"
