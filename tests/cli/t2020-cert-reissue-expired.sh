#!/usr/bin/env bash
# The situation signet exists for: an old build script made a key file and
# a self-signed certificate with the openssl CLI; the certificate, baked
# into shipped firmware, has expired.  The key is imported into custody and
# the certificate reissued: the new one is valid now, has the same public
# key and subject and a new serial, and a signature made by the token key
# verifies with BOTH certificates' public keys (so devices in the field,
# which only hold the old certificate, accept what is signed from now on).
. "$(dirname "$0")/../lib.sh"
MKCERT="$TOP/tests/vectors/cert/mkcert.sh"
new_store
peer_env

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/legacy.pem" 2>/dev/null
# Valid 2023-01-01 .. 2024-01-01, digitalSignature, no EKU at all (what
# "openssl req -x509" scripts typically made); it expired long ago.
"$MKCERT" "$T/old.pem" "$T/legacy.pem" 20230101000000Z 20240101000000Z sha256 "/CN=ota-signer/O=Acme Devices" \
  "keyUsage = critical,digitalSignature"
run 1 openssl x509 -in "$T/old.pem" -noout -checkend 0
old_serial=$(openssl x509 -in "$T/old.pem" -noout -serial | cut -d= -f2)
old_spki=$(openssl x509 -in "$T/old.pem" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1)

# lint says what is wrong with it, in words.
sig 1 cert lint "$T/old.pem"
has "$T/out" "error expired: the certificate expired on 2024-01-01"
has "$T/out" "error eku-missing: .*Valid EKU values are CodeSigning or ANY"

sig 0 key import fw --private-key "$T/legacy.pem"
rm -f "$T/legacy.pem"
eq "$(yaml_get "$S/keys/fw.yaml" spki_sha256)" "$old_spki" "imported key is the old certificate's"
# The label has no certificate yet: reissue by label says how to proceed.
sig 3 cert reissue fw
has "$T/err" "key 'fw' has no certificate to reissue"

sig 0 cert reissue "$T/old.pem"
has "$T/out" "^reissued certificate for 'fw'"
has "$T/out" "previous: +$old_serial \(same public key\)"
has "$T/out" "note: +added the codeSigning extended key usage"
new=$(sed -n 's/^  path: *//p' "$T/out")
new_serial=$(sed -n 's/^  serial: *//p' "$T/out")
[ -f "$new" ] || fail "no new certificate at '$new'"
cmp -s "$new" "$S/certs/fw/current.pem" || fail "current.pem is not the reissued certificate"

# Independent checks with the openssl CLI.
run 0 openssl x509 -in "$new" -noout -checkend 86400
new_spki=$(openssl x509 -in "$new" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1)
eq "$new_spki" "$old_spki" "SPKI of the reissued certificate"
eq "$(openssl x509 -in "$new" -noout -subject)" "$(openssl x509 -in "$T/old.pem" -noout -subject)" "subject"
[ "$(openssl x509 -in "$new" -noout -serial | cut -d= -f2)" != "$old_serial" ] || fail "serial not new"
eq "$(openssl x509 -in "$new" -noout -serial | cut -d= -f2)" "$new_serial" "printed serial"
openssl x509 -in "$new" -noout -text >"$T/text"
grep -A1 "Extended Key Usage" "$T/text" | grep -q "Code Signing" || fail "codeSigning EKU not added"
grep -A1 "X509v3 Key Usage: critical" "$T/text" | grep -q "Digital Signature" || fail "KU not carried over"
run 0 openssl verify -CAfile "$new" "$new"
sig 0 cert lint "$new"
has "$T/out" "0 errors, 0 warnings"

# A signature made by the key in the token verifies with both public keys.
printf 'firmware image v2.0, signed after the reissue\n' >"$T/image.bin"
# (SoftHSM2 has no ECDSA-SHA256 mechanism: hash here, sign the digest on the token.
# pkcs11-tool --sign picks its key by --id only; the token also holds the audit key.)
openssl dgst -sha256 -binary "$T/image.bin" >"$T/image.sha256"
p11tool --login --pin "$(user_pin)" --sign -m ECDSA --id "$(yaml_get "$S/keys/fw.yaml" id)" --input-file "$T/image.sha256" \
  --output-file "$T/image.sig" --signature-format openssl >"$T/p11" 2>&1 || { cat "$T/p11"; fail "pkcs11-tool --sign"; }
openssl x509 -in "$T/old.pem" -noout -pubkey >"$T/old.pub"
openssl x509 -in "$new" -noout -pubkey >"$T/new.pub"
run 0 openssl dgst -sha256 -verify "$T/old.pub" -signature "$T/image.sig" "$T/image.bin"
has "$T/out" "Verified OK"
run 0 openssl dgst -sha256 -verify "$T/new.pub" -signature "$T/image.sig" "$T/image.bin"
has "$T/out" "Verified OK"
printf 'tampered\n' >>"$T/image.bin"
run 1 openssl dgst -sha256 -verify "$T/old.pub" -signature "$T/image.sig" "$T/image.bin"

# Audited as a reissue of that key.
tail -1 "$S/audit.log" | jq -e --arg s "$new_serial" --arg k "$old_spki" \
  '.op == "cert.reissue" and .label == "fw" and .spki_sha256 == $k and .details.serial == $s' >/dev/null ||
  fail "no audit record for the reissue"
sig 0 audit verify

# The label now has a current certificate, so reissue by label works too,
# and a web-server-style old certificate loses serverAuth on reissue.
sig 0 --json cert reissue fw --days 30
eq "$(jq -r .previous_serial "$T/out")" "$new_serial" "reissue by label starts from current.pem"
eq "$(jq -r .days_left "$T/out")" 30 "--days"
eq "$(ls "$S/certs/fw" | wc -l)" 3 "two certificates + current.pem"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/web.key" 2>/dev/null
"$MKCERT" "$T/web.pem" "$T/web.key" now-400d now-35d sha256 "/CN=build-server" \
  "keyUsage = critical,digitalSignature,keyEncipherment" "extendedKeyUsage = serverAuth,clientAuth"
sig 0 key import web --private-key "$T/web.key"
sig 0 --json cert reissue "$T/web.pem"
jq -r '.notes[]' "$T/out" >"$T/notes"
has "$T/notes" "removed the serverAuth extended key usage"
has "$T/notes" "removed the clientAuth extended key usage"
has "$T/notes" "added the codeSigning extended key usage"
openssl x509 -in "$S/certs/web/current.pem" -noout -ext extendedKeyUsage | tail -1 | grep -q "^ *Code Signing$" ||
  fail "EKU of the reissued web certificate is not exactly codeSigning"
