#!/usr/bin/env bash
# cert issue: self-signed and CA-signed code-signing certificates signed on
# the token.  The openssl CLI is the independent judge: it must show the
# policy's extensions and accept both chains.
. "$(dirname "$0")/../lib.sh"
new_store
sig 0 key generate fw
spki=$(yaml_get "$S/keys/fw.yaml" spki_sha256)

sig 0 cert issue fw
has "$T/out" "^issued certificate for 'fw'"
serial=$(sed -n 's/^  serial: *//p' "$T/out")
path=$(sed -n 's/^  path: *//p' "$T/out")
[[ "$serial" =~ ^[0-9A-F]{32}$ ]] || fail "serial '$serial' is not 16 bytes of hex"
eq "$path" "$S/certs/fw/$serial.pem" "certificate path"
cmp -s "$path" "$S/certs/fw/current.pem" || fail "current.pem is not the new certificate"

openssl x509 -in "$path" -noout -text >"$T/text"
has "$T/text" "Signature Algorithm: ecdsa-with-SHA256"
has "$T/text" "Subject: CN = ota-signer"
has "$T/text" "X509v3 Key Usage: critical"
grep -A1 "X509v3 Key Usage" "$T/text" | grep -q "^ *Digital Signature$" || fail "KU is not digitalSignature only"
grep -A1 "X509v3 Extended Key Usage" "$T/text" | grep -q "^ *Code Signing$" || fail "EKU is not codeSigning"
grep -A1 "X509v3 Basic Constraints" "$T/text" | grep -q "CA:FALSE" || fail "not CA:FALSE"
has "$T/text" "X509v3 Subject Key Identifier"
has "$T/text" "X509v3 Authority Key Identifier"
# Positive, 16 bytes: the first byte is below 0x80.
openssl x509 -in "$path" -noout -serial | grep -Eq '^serial=[0-7][0-9A-F]{31}$' || fail "serial not positive 16 bytes"
# The certificate holds the token's key.
eq "$(openssl x509 -in "$path" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1)" "$spki" "SPKI"
run 0 openssl verify -CAfile "$path" "$path"
# Validity: the policy's 365 days.
nb=$(date -d "$(openssl x509 -in "$path" -noout -startdate | cut -d= -f2)" +%s)
na=$(date -d "$(openssl x509 -in "$path" -noout -enddate | cut -d= -f2)" +%s)
eq "$(( (na - nb) / 86400 ))" 365 "validity days"
# Audited.
tail -1 "$S/audit.log" | jq -e --arg s "$serial" '.op == "cert.issue" and .label == "fw" and .details.serial == $s' >/dev/null ||
  fail "no audit record for the issue"

# Subject, days, JSON; a second issue never overwrites the first.
sig 0 --json cert issue fw --subject "CN=fw signer, O=Acme\, Inc, C=DE" --days 90
serial2=$(jq -r .serial "$T/out")
[ "$serial2" != "$serial" ] || fail "same serial twice"
eq "$(jq -r .days_left "$T/out")" 90 "days_left"
[ -f "$S/certs/fw/$serial.pem" ] || fail "first certificate lost"
openssl x509 -in "$S/certs/fw/current.pem" -noout -subject -nameopt RFC2253 >"$T/subj"
has "$T/subj" 'subject=C=DE,O=Acme\\, Inc,CN=fw signer'
eq "$(openssl x509 -in "$S/certs/fw/current.pem" -noout -serial | cut -d= -f2)" "$serial2" "current is the newest"

# A CA in the same token, and a leaf it signs: openssl verifies the chain.
sig 0 key generate root --policy codesign-generic
sig 0 cert issue root --as-ca --subject "CN=Acme Firmware CA"
openssl x509 -in "$S/certs/root/current.pem" -noout -text >"$T/ca"
grep -A1 "X509v3 Basic Constraints: critical" "$T/ca" | grep -q "CA:TRUE" || fail "CA cert lacks CA:TRUE"
grep -A1 "X509v3 Key Usage" "$T/ca" | grep -q "Certificate Sign" || fail "CA cert lacks keyCertSign"
sig 0 key generate leaf
sig 0 cert issue leaf --ca root
has "$T/out" "issuer: +CN=Acme Firmware CA"
run 0 openssl verify -CAfile "$S/certs/root/current.pem" "$S/certs/leaf/current.pem"
has "$T/out" "OK$"
# Untrusted by anything else: a self-signed-only trust store rejects it.
run 2 openssl verify -CAfile "$S/certs/fw/current.pem" "$S/certs/leaf/current.pem"
# The AKI of the leaf is the SKI of the CA.
ski=$(openssl x509 -in "$S/certs/root/current.pem" -noout -ext subjectKeyIdentifier | tail -1 | tr -d ' ')
aki=$(openssl x509 -in "$S/certs/leaf/current.pem" -noout -ext authorityKeyIdentifier | tail -1 | tr -d ' ' | sed 's/^keyid://')
eq "$aki" "$ski" "AKI == CA SKI"

# RSA under the TI policy: SHA-1 as that platform requires.
sig 0 key generate ti --alg rsa-2048 --policy aws-freertos-ti-cc3220
sig 0 cert issue ti
openssl x509 -in "$S/certs/ti/current.pem" -noout -text | grep -q "sha1WithRSAEncryption" || fail "TI cert not SHA-1"

# Refusals leave the store unchanged.
before=$(snapshot)
sig 1 cert issue ti --policy aws-freertos-esp32
has "$T/err" "fails lint"
has "$T/err" "key-type: the key is rsa-2048, but policy aws-freertos-esp32 needs ecdsa-p256"
sig 1 cert issue nokey
one_line_error
has "$T/err" "no key 'nokey' in custody"
sig 2 cert issue fw --subject "nonsense"
has "$T/err" "not FIELD=value"
sig 2 cert issue fw --subject "XX=1"
sig 2 cert issue fw --days 0
sig 2 cert issue fw --days lots
sig 2 cert issue
sig 2 cert issue fw extra
sig 2 cert issue fw --bogus
sig 3 cert issue fw --ca leaf
has "$T/err" "key 'leaf' has no CA certificate"
sig 3 cert issue fw --policy nosuch
has "$T/err" "no policy 'nosuch'"
sig 2 cert issue 'bad/label'
eq "$(snapshot)" "$before" "store changed by refused issues"
sig 0 cert --help
has "$T/out" "usage: signet cert issue LABEL"
sig 0 help cert
# Options a subcommand would ignore are usage errors, not silently dropped.
sig 2 cert reissue fw --subject CN=x
has "$T/err" "reissue does not take --subject"
sig 2 cert list --days 3
sig 2 cert lint "$S/certs/fw/current.pem" --as-ca
sig 2 cert import fw x --ca root
