#!/usr/bin/env bash
# key adopt: a key pair made outside signet by `pkcs11-tool --keypairgen`
# is taken into custody (origin adopted) by --uri and by --id; its custody
# is read back and judged; signing with it verifies with openssl; an
# extractable key is refused (exit 1, a refused audit record, no key
# record) unless --accept-extractable, which the audit record and
# `key show` then say loudly; the token is never changed.  `key generate`
# refuses a label that already exists as CKA_LABEL on the token.
. "$(dirname "$0")/../lib.sh"
new_store
peer_env
pin=$(user_pin)
p11tool --login --pin "$pin" --keypairgen --key-type EC:prime256v1 --id a201 --label vendor-fw >/dev/null 2>&1 || fail "keypairgen"
p11tool --login --pin "$pin" --keypairgen --key-type rsa:2048 --id a202 --label vendor-rsa >/dev/null 2>&1 || fail "keypairgen rsa"
p11tool --login --pin "$pin" --keypairgen --key-type rsa:2048 --id a204 --label other-rsa >/dev/null 2>&1 || fail "keypairgen rsa"
p11tool --login --pin "$pin" --keypairgen --key-type EC:prime256v1 --id a203 --label leaky --extractable >/dev/null 2>&1 || fail "keypairgen leaky"
before_objects=$(token_objects | sort | sha256sum)

sig 0 key adopt fw --uri "pkcs11:object=vendor-fw;type=private"
has "$T/out" "^adopted ecdsa-p256 key 'fw' \(id a201\)"
has "$S/keys/fw.yaml" '^origin: "?adopted"?$'
has "$S/keys/fw.yaml" '^id: "?a201"?$'
has "$S/keys/fw.yaml" "extractable: false"
has "$S/keys/fw.yaml" "never_extractable: true"
# The recorded SPKI is the one pkcs11-tool reads from the token.
p11tool --read-object --type pubkey --id a201 -o "$T/fw.der" >/dev/null 2>&1 || fail "read pubkey"
eq "$(openssl pkey -pubin -inform DER -in "$T/fw.der" -outform DER | sha256sum | cut -c1-64)" "$(yaml_get "$S/keys/fw.yaml" spki_sha256)" "adopted SPKI"
tail -1 "$S/audit.log" >"$T/rec"
eq "$(jq -r '.op + " " + .result + " " + .details.origin + " " + .details.token_label' "$T/rec")" "key.adopt ok adopted vendor-fw" "audit record"
# Its URI names it by id (its private label cannot be read without a login,
# and an adopted pair's halves may be labelled apart), and GnuTLS p11tool
# finds exactly that private key by it.
sig 0 key show fw
uri=$(sed -n 's/^uri: *//p' "$T/out")
case "$uri" in *"id=%A2%01;"*"type=private") ;; *) fail "adopted key URI: $uri" ;; esac
case "$uri" in *object=*) fail "adopted key URI names a label: $uri" ;; esac
GNUTLS_PIN="$pin" /usr/bin/p11tool --provider "$SOFTHSM_MODULE" --login --list-all "$uri" >"$T/gnutls" 2>&1 || { cat "$T/gnutls"; fail "p11tool"; }
eq "$(grep -c '^Object' "$T/gnutls")" 1 "objects p11tool finds by the adopted key's URI"
has "$T/gnutls" "Label: vendor-fw$"
has "$T/gnutls" "Type: Private key"

# Signing with it on the token verifies with openssl.
head -c 70000 /dev/urandom >"$T/img"
sig 0 sign "$T/img" --key fw --out "$T/img.sig"
base64 -d "$T/img.sig" >"$T/img.der"
openssl pkey -pubin -inform DER -in "$T/fw.der" -out "$T/fw.pem"
run 0 openssl dgst -sha256 -verify "$T/fw.pem" -signature "$T/img.der" "$T/img"
has "$T/out" "Verified OK"
sig 0 cert issue fw
run 0 openssl x509 -in "$S/certs/fw/current.pem" -noout -pubkey
openssl pkey -pubin -in "$T/out" -outform DER | sha256sum | grep -q "$(yaml_get "$S/keys/fw.yaml" spki_sha256)" || fail "certificate for another key"

# By --id, an RSA key under a policy that allows it.
sig 0 key adopt legacy-rsa --id A202 --policy codesign-generic
has "$T/out" "rsa-2048"
sig 0 sign "$T/img" --key legacy-rsa --out "$T/r.sig"
p11tool --read-object --type pubkey --id a202 -o "$T/r.der" >/dev/null 2>&1
openssl pkey -pubin -inform DER -in "$T/r.der" -out "$T/r.pem"
base64 -d "$T/r.sig" >"$T/r.bin"
run 0 openssl dgst -sha256 -verify "$T/r.pem" -signature "$T/r.bin" "$T/img"
# The policy's algorithm list applies.
sig 3 key adopt other-rsa --id a204 --policy aws-freertos-esp32
has "$T/err" "does not allow rsa-2048"

# Refused: extractable.  Exit 1, no record, a refused audit record.
records=$(wc -l <"$S/audit.log")
sig 1 key adopt lk --id a203
one_line_error
has "$T/err" "refusing to adopt 'lk' \(id a203\).*CKA_EXTRACTABLE is true.*the private key can leave the token"
[ ! -e "$S/keys/lk.yaml" ] || fail "record written for a refused key"
eq "$(( $(wc -l <"$S/audit.log") - records ))" 1 "one refused record"
eq "$(tail -1 "$S/audit.log" | jq -r '.op + " " + .result')" "key.adopt refused" "refused audit record"
# Accepted knowingly: recorded loudly.
sig 0 key adopt lk --id a203 --accept-extractable
has "$T/err" "warning: adopting 'lk' although CKA_EXTRACTABLE is true"
eq "$(tail -1 "$S/audit.log" | jq -r '.details.accepted_extractable')" true "audit says accepted_extractable"
tail -1 "$S/audit.log" | jq -r .details.warning | grep -q "ADOPTED WITH --accept-extractable" || fail "no loud warning in the audit record"
sig 0 key show lk
has "$T/out" "^WARNING: +adopted with --accept-extractable: the private key is extractable"
sig 0 --json key show lk
eq "$(jq -r .accepted_extractable "$T/out")" true "key show --json"
sig 0 key show fw
hasnt "$T/out" "WARNING"
# audit custody flags the extractable one, not the clean adopted ones.
sig 1 audit custody --json
eq "$(jq -r '[.keys[] | select(.problem != null and .record != null) | .record] | join(",")' "$T/out")" lk "custody problems"

# Refusals that change nothing: already in custody, nothing matches, a bad id.
snap=$(snapshot)
sig 3 key adopt fw-again --id a201
has "$T/err" "already in custody as 'fw'"
sig 3 key adopt nothing --uri "pkcs11:object=nosuch"
has "$T/err" "no private key on token 'signet' matches"
sig 2 key adopt x --id zz
sig 2 key adopt x
sig 2 key adopt x --id a201 --uri "pkcs11:id=%a2%01"
sig 3 key adopt fw --id a201
has "$T/err" "key 'fw' already exists in custody"
eq "$(snapshot)" "$snap" "store changed by refusals"
eq "$(token_objects | sort | sha256sum)" "$before_objects" "adopt changed the token"

# No public key object (some modules keep only the private one): RSA's
# public half is read from the private key's attributes; an EC key whose
# module keeps no point there is refused with a hint.
p11tool --login --pin "$pin" --keypairgen --key-type rsa:2048 --id b301 --label nopub-rsa >/dev/null 2>&1
p11tool --login --pin "$pin" --read-object --type pubkey --id b301 -o "$T/nopub.der" >/dev/null 2>&1
p11tool --login --pin "$pin" --delete-object --type pubkey --id b301 >/dev/null 2>&1
p11tool --login --pin "$pin" --keypairgen --key-type EC:prime256v1 --id b302 --label nopub-ec >/dev/null 2>&1
p11tool --login --pin "$pin" --delete-object --type pubkey --id b302 >/dev/null 2>&1
p11tool --list-objects --type pubkey 2>/dev/null | grep -q "b301\|b302" && fail "public objects not deleted"
sig 0 key adopt nopub-rsa --id b301 --policy codesign-generic
eq "$(yaml_get "$S/keys/nopub-rsa.yaml" spki_sha256)" "$(openssl pkey -pubin -inform DER -in "$T/nopub.der" -outform DER | sha256sum | cut -c1-64)" "SPKI from the private key's attributes"
sig 0 sign "$T/img" --key nopub-rsa --out "$T/np.sig"
openssl pkey -pubin -inform DER -in "$T/nopub.der" -out "$T/np.pem"
base64 -d "$T/np.sig" >"$T/np.bin"
run 0 openssl dgst -sha256 -verify "$T/np.pem" -signature "$T/np.bin" "$T/img"
sig 4 key adopt nopub-ec --id b302
has "$T/err" "token keeps no public key object for id b302"
[ ! -e "$S/keys/nopub-ec.yaml" ] || fail "record for an EC key without public key"

# generate refuses a label that the token already uses.
sig 3 key generate vendor-rsa
one_line_error
has "$T/err" "token 'signet' already holds 2 objects labelled 'vendor-rsa'"
[ ! -e "$S/keys/vendor-rsa.yaml" ] || fail "record for a refused generate"
sig 0 audit verify
