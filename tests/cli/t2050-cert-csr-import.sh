#!/usr/bin/env bash
# cert csr: a PKCS#10 request signed on the token that `openssl req -verify`
# accepts, for the key's public key, asking for the code-signing profile.
# cert import: a certificate an external CA made from it is adopted; one
# for another key is refused, store unchanged.
. "$(dirname "$0")/../lib.sh"
MKCERT="$TOP/tests/vectors/cert/mkcert.sh"
new_store
sig 0 key generate fw
spki=$(yaml_get "$S/keys/fw.yaml" spki_sha256)

# The key signing a request is a use of the key: one cert.csr record, nothing else changes.
before=$(snapshot_records)
sig 0 cert csr fw
eq "$(snapshot_records)" "$before" "store changed by a CSR"
eq "$(last_record op)" cert.csr "the CSR's audit record"
eq "$(last_record label)" fw "the CSR record's key"
eq "$(last_record details.csr_sha256)" "$(sha256sum <"$T/out" | cut -d' ' -f1)" "the CSR record names the request"
cp "$T/out" "$T/fw.csr"
sig 0 audit verify
has "$T/fw.csr" "^-----BEGIN CERTIFICATE REQUEST-----$"
run 0 openssl req -in "$T/fw.csr" -verify -noout
has "$T/err" "verify OK"
eq "$(openssl req -in "$T/fw.csr" -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1)" "$spki" "CSR key"
openssl req -in "$T/fw.csr" -noout -text >"$T/text"
has "$T/text" "Subject: CN = ota-signer"
has "$T/text" "Code Signing"
has "$T/text" "Digital Signature"

sig 0 cert csr fw --subject "CN=fw,O=Acme" --out "$T/fw2.csr"
has "$T/out" "wrote request for 'fw' to $T/fw2.csr"
run 0 openssl req -in "$T/fw2.csr" -verify -noout -subject
has "$T/out" "subject=CN = fw, O = Acme"
sig 0 --json cert csr fw
jq -r .csr "$T/out" >"$T/j.csr"
run 0 openssl req -in "$T/j.csr" -verify -noout
sig 1 cert csr nokey
sig 2 cert csr fw --subject bogus

# An external CA signs the request; the certificate is imported.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/ca.key" 2>/dev/null
"$MKCERT" "$T/ca.pem" "$T/ca.key" now-10d now+3650d sha256 "/CN=Acme CA" \
  "basicConstraints = critical,CA:TRUE" "keyUsage = critical,keyCertSign"
openssl x509 -req -in "$T/fw.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial -days 200 \
  -copy_extensions copy -out "$T/issued.pem" 2>/dev/null
openssl x509 -in "$T/issued.pem" -outform DER -out "$T/issued.der"
sig 0 cert import fw "$T/issued.der"
has "$T/out" "^imported certificate for 'fw'"
serial=$(openssl x509 -in "$T/issued.pem" -noout -serial | cut -d= -f2)
[ -f "$S/certs/fw/$serial.pem" ] || fail "imported certificate not kept as <serial>.pem"
eq "$(openssl x509 -in "$S/certs/fw/current.pem" -outform DER | sha256sum)" "$(sha256sum <"$T/issued.der")" "current.pem is the import"
tail -1 "$S/audit.log" | jq -e '.op == "cert.import" and .label == "fw"' >/dev/null || fail "no audit record for the import"
# Importing the same certificate again does not overwrite it.
before=$(snapshot)
sig 3 cert import fw "$T/issued.pem"
has "$T/err" "already exists; not replacing it"
eq "$(snapshot)" "$before" "store changed by a repeated import"

# A certificate for another key: refused, exit 1, store unchanged.
"$MKCERT" "$T/other.pem" "$T/ca.key" now-1d now+100d sha256 "/CN=someone else" "extendedKeyUsage = codeSigning"
sig 1 cert import fw "$T/other.pem"
one_line_error
has "$T/err" "'$T/other.pem' is for another public key"
sig 0 key generate fw2
sig 0 cert issue fw2
before=$(snapshot)
sig 1 cert import fw "$S/certs/fw2/current.pem"
has "$T/err" "is a certificate for key 'fw2', not 'fw'"
sig 3 cert import fw "$T/fw.csr"
has "$T/err" "is not a certificate"
sig 1 cert import nokey "$T/issued.pem"
sig 2 cert import fw
eq "$(snapshot)" "$before" "store changed by refused imports"
