#!/usr/bin/env bash
# PKCS#11 URIs (RFC 7512, parsed by p11-kit): init --token by URI with
# serial, an ambiguous token URI listing both matches, keys named by URI in
# --key, key show and key pubkey (object, id with percent-encoding, type),
# an ambiguous key URI listing the matches, malformed and foreign URIs.
. "$(dirname "$0")/../lib.sh"

# Two tokens with the same label, told apart only by serial.
mkdir -p "$T/ext/tokens"
printf 'directories.tokendir = %s/ext/tokens\nobjectstore.backend = file\n' "$T" >"$T/ext/conf"
export SOFTHSM2_CONF="$T/ext/conf"
echo 1234 >"$T/pin"; chmod 600 "$T/pin"
softhsm2-util --init-token --free --label prod --so-pin 5678 --pin 1234 >/dev/null
softhsm2-util --init-token --free --label prod --so-pin 5678 --pin 1234 >/dev/null
serials=$(pkcs11-tool --module "$SOFTHSM_MODULE" -L 2>/dev/null | sed -n 's/.*serial num *: *\([0-9a-f]*\).*/\1/p')
s1=$(echo "$serials" | sed -n 1p); s2=$(echo "$serials" | sed -n 2p)
[ -n "$s1" ] && [ -n "$s2" ] && [ "$s1" != "$s2" ] || fail "two serials expected: $serials"

sig 4 init --module "$SOFTHSM_MODULE" --token prod --pin-file "$T/pin"
one_line_error
has "$T/err" "more than one token is labelled 'prod'.*serial $s1.*serial $s2|more than one token is labelled 'prod'.*serial $s2.*serial $s1"
sig 4 init --module "$SOFTHSM_MODULE" --token "pkcs11:token=prod" --pin-file "$T/pin"
one_line_error
has "$T/err" "URI 'pkcs11:token=prod' matches 2 tokens"
[ ! -e "$S" ] || fail "store created despite the error"
sig 2 init --module "$SOFTHSM_MODULE" --token "pkcs11:token=prod;serial=%zz" --pin-file "$T/pin"
has "$T/err" "is not a PKCS#11 URI"
sig 4 init --module "$SOFTHSM_MODULE" --token "pkcs11:token=prod;serial=0000" --pin-file "$T/pin"
has "$T/err" "no token matches"

sig 0 init --module "$SOFTHSM_MODULE" --token "pkcs11:token=prod;serial=$s2;manufacturer=SoftHSM%20project" --pin-file "$T/pin"
has "$S/signet.yaml" "serial=$s2"
sig 0 key generate fw
# The key went to the token with serial s2, not s1.
pkcs11-tool --module "$SOFTHSM_MODULE" --slot "$(pkcs11-tool --module "$SOFTHSM_MODULE" -L | awk -v s="$s2" '/^Slot/{slot=$3; gsub(/[():]/, "", slot)} $0 ~ "serial num *: *"s {print slot; exit}')" \
  --login --pin 1234 --list-objects >"$T/p11" 2>&1
has "$T/p11" "label: *fw"
pkcs11-tool --module "$SOFTHSM_MODULE" --slot "$(pkcs11-tool --module "$SOFTHSM_MODULE" -L | awk -v s="$s1" '/^Slot/{slot=$3; gsub(/[():]/, "", slot)} $0 ~ "serial num *: *"s {print slot; exit}')" \
  --login --pin 1234 --list-objects >"$T/p11" 2>&1
hasnt "$T/p11" "label: *fw"

# Keys by URI.
id=$(yaml_get "$S/keys/fw.yaml" id)
pct=$(echo "$id" | sed 's/../%&/g')
head -c 4096 /dev/urandom >"$T/img"
sig 0 key pubkey fw --out "$T/fw.pub"
for uri in "pkcs11:object=fw;type=private" "pkcs11:id=$pct" "pkcs11:token=prod;serial=$s2;id=$pct;type=public" "pkcs11:object=f%77"; do
  sig 0 sign "$T/img" --key "$uri" --out "$T/img.sig"
  has "$T/out" "with key 'fw'"
  base64 -d "$T/img.sig" >"$T/img.der"
  run 0 openssl dgst -sha256 -verify "$T/fw.pub" -signature "$T/img.der" "$T/img"
done
# A PIN that can be read only once (--pin-fd) still works with a URI: the
# key is found through its public half, without a second login.
run 0 "$SIGNET" sign "$T/img" --key "pkcs11:object=fw;type=private" --out "$T/fd.sig" --pin-fd 3 3<"$T/pin"
base64 -d "$T/fd.sig" >"$T/fd.der"
run 0 openssl dgst -sha256 -verify "$T/fw.pub" -signature "$T/fd.der" "$T/img"
sig 0 key show "pkcs11:object=fw"
has "$T/out" "^label: +fw$"
sig 0 key pubkey "pkcs11:id=$pct" --out "$T/fw2.pub"
cmp "$T/fw.pub" "$T/fw2.pub" || fail "pubkey by URI differs"

# Ambiguous: two private keys match; both are listed.
sig 0 key generate fw2
sig 3 sign "$T/img" --key "pkcs11:type=private" --out "$T/x.sig"
one_line_error
has "$T/err" "is ambiguous: 2 objects on token 'prod' match: "
has "$T/err" "'fw' \(id $id\)"
has "$T/err" "'fw2' \(id [0-9a-f]{32}\)"
[ ! -e "$T/x.sig" ] || fail "signature written for an ambiguous key"
# A URI naming another token, an object not in custody, a malformed URI.
sig 3 sign "$T/img" --key "pkcs11:token=prod;serial=$s1;object=fw" --out "$T/x.sig"
has "$T/err" "names another token than the store's"
sig 3 sign "$T/img" --key "pkcs11:object=nosuch" --out "$T/x.sig"
has "$T/err" "no private key on token 'prod' matches 'pkcs11:object=nosuch'"
sig 2 sign "$T/img" --key "pkcs11:object=fw;bogus=1" --out "$T/x.sig"
has "$T/err" "attributes signet does not know"
# A wrong PIN with the key named by URI is on record exactly as with its
# label: one `refused` login record, nothing else, and the next command works.
echo 00000000 >"$T/wrong"; chmod 600 "$T/wrong"
for key in fw "pkcs11:object=fw;type=private"; do
  records=$(wc -l <"$S/audit.log")
  before=$(snapshot_records)
  sig 4 sign "$T/img" --key "$key" --out "$T/x.sig" --pin-file "$T/wrong"
  one_line_error
  has "$T/err" "wrong PIN"
  eq "$(wc -l <"$S/audit.log")" "$((records + 1))" "records after a wrong PIN with --key $key"
  eq "$(last_record op)" login "op of the wrong-PIN record (--key $key)"
  eq "$(last_record result)" refused "result of the wrong-PIN record (--key $key)"
  eq "$(snapshot_records)" "$before" "store changed by a wrong PIN with --key $key"
  [ ! -e "$T/x.sig" ] || fail "signature written with a wrong PIN"
  sig 0 sign "$T/img" --key "$key" --out "$T/ok.sig"
  has "$T/out" "with key 'fw'"
done
sig 0 audit verify
