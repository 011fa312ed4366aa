#!/usr/bin/env bash
# cert lint: one certificate per finding (made here with the openssl CLI)
# gives that finding with its level and a sentence; a good certificate
# gives none, as PEM and as DER.  Exit 1 on any error-level finding.
. "$(dirname "$0")/../lib.sh"
MKCERT="$TOP/tests/vectors/cert/mkcert.sh"
P="--policy aws-freertos-esp32"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/ec.key" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/rsa.key" 2>/dev/null
GOOD=("keyUsage = critical,digitalSignature" "extendedKeyUsage = codeSigning" "basicConstraints = CA:FALSE"
      "authorityKeyIdentifier = keyid:always")
mk() { "$MKCERT" "$T/$1.pem" "$T/${KEY:-ec}.key" "${FROM:-now-1d}" "${TO:-now+300d}" "${MD:-sha256}" "/CN=ota-signer" "${@:2}"; }

# A good certificate: no findings at all, PEM and DER.
mk good "${GOOD[@]}"
sig 0 cert lint "$T/good.pem" $P
eq "$(wc -l <"$T/out")" 1 "findings for a good certificate"
has "$T/out" "good.pem: 0 errors, 0 warnings \(policy aws-freertos-esp32\)"
openssl x509 -in "$T/good.pem" -outform DER -out "$T/good.der"
sig 0 cert lint "$T/good.der" $P
eq "$(wc -l <"$T/out")" 1 "findings for a good DER certificate"
sig 0 --json cert lint "$T/good.der" $P
eq "$(jq -c '[.ok, .errors, .warnings, (.findings | length)]' "$T/out")" '[true,0,0,0]' "json of a good certificate"
# '-' reads standard input, PEM or DER; a file named '-' in the directory does not change that.
run 0 "$SIGNET" cert lint - $P <"$T/good.pem"
has "$T/out" "^-: 0 errors, 0 warnings \(policy aws-freertos-esp32\)"
(cd "$T" && echo decoy >./- && "$SIGNET" cert lint - $P <"$T/good.der" >"$T/out" 2>"$T/err") || fail "cert lint - with DER on stdin"
has "$T/out" "^-: 0 errors, 0 warnings"
rm -f "$T/-"

# expect RC LEVEL CODE REGEX FILE: lint FILE gives exactly that finding (and exit RC).
expect() {
  sig "$1" cert lint "$T/$5.pem" $P
  has "$T/out" "^$T/$5.pem: $2 $3: .*$4"
  sig "$1" --json cert lint "$T/$5.pem" $P
  jq -e --arg l "$2" --arg c "$3" 'any(.findings[]; .level == $l and .code == $c)' "$T/out" >/dev/null ||
    fail "json lacks $2 $3 for $5"
}

mk web "keyUsage = critical,digitalSignature,keyEncipherment" "extendedKeyUsage = serverAuth" "basicConstraints = CA:FALSE"
expect 1 error eku-not-codesigning "extended key usage is serverAuth; AWS Signer needs CodeSigning or ANY .*Valid EKU values are CodeSigning or ANY" web
expect 1 error eku-forbidden "extended key usage includes serverAuth, which policy aws-freertos-esp32 forbids" web

mk noeku "keyUsage = critical,digitalSignature" "basicConstraints = CA:FALSE"
expect 1 error eku-missing "the certificate has no extended key usage.*Valid EKU values are CodeSigning or ANY" noeku

mk both "keyUsage = critical,digitalSignature" "extendedKeyUsage = codeSigning,serverAuth"
expect 1 error eku-forbidden "extended key usage includes serverAuth" both
hasnt "$T/out" "eku-not-codesigning"

mk any "keyUsage = critical,digitalSignature" "extendedKeyUsage = anyExtendedKeyUsage"
expect 0 warning eku-any "AWS Signer accepts it" any

mk noku "keyUsage = critical,keyEncipherment" "extendedKeyUsage = codeSigning"
expect 1 error ku-no-digital-signature "key usage does not include digitalSignature" noku

mk kumissing "extendedKeyUsage = codeSigning"
expect 0 warning ku-missing "no key usage extension" kumissing

KEY=rsa mk rsa "${GOOD[@]}"
expect 1 error key-type "the key is rsa-2048, but policy aws-freertos-esp32 needs ecdsa-p256" rsa

MD=sha1 mk sha1 "${GOOD[@]}"
expect 1 error weak-signature-hash "signed with SHA1, which is broken for signatures" sha1
# ... unless the platform's policy asks for it (TI CC3220: RSA-2048, SHA-1).
KEY=rsa MD=sha1 mk ti "${GOOD[@]}"
sig 0 cert lint "$T/ti.pem" --policy aws-freertos-ti-cc3220
has "$T/out" "info sha1-by-policy"

FROM=now-400d TO=now-5d mk expired "${GOOD[@]}"
expect 1 error expired "the certificate expired on .* \(5 days ago\); AWS Signer and IoT refuse it" expired

FROM=now+5d TO=now+100d mk future "${GOOD[@]}"
expect 1 error not-yet-valid "not valid before" future

# Due by the rule renew uses: a year-long certificate 10 days before its end.  It is
# a file, not a key's current certificate, so renew would not act: cert reissue is named.
FROM=now-355d TO=now+10d mk soon "${GOOD[@]}"
expect 0 warning expires-soon "in [0-9]+ days, and has been due for renewal since [0-9-]+ \\(policy aws-freertos-esp32's 30-day renewal window\\): reissue it with 'signet cert reissue'" soon
hasnt "$T/out" "run 'signet renew'"
# An 11-day certificate with 10 days left is not due (a third of its life is its window): no finding.
FROM=now-1d TO=now+10d mk short "${GOOD[@]}"
sig 0 cert lint "$T/short.pem" $P
hasnt "$T/out" "expires-soon"

FROM=now-1d TO=now+1000d mk long "${GOOD[@]}"
expect 1 error validity-too-long "valid for 1001 days .*allows at most 365" long

mk ca "keyUsage = critical,digitalSignature,keyCertSign" "extendedKeyUsage = codeSigning" "basicConstraints = critical,CA:TRUE"
expect 1 error ca-on-leaf "basicConstraints says CA:TRUE" ca

# Malformed input, PEM and DER: a finding, not a crash.
printf -- '-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n' >"$T/bad.pem"
expect 1 error malformed "not a readable X.509 certificate" bad
head -c 200 "$T/good.der" >"$T/trunc.pem"
expect 1 error malformed "neither PEM nor DER" trunc
: >"$T/empty.pem"
expect 1 error malformed "not a readable" empty

# Without --policy and without a store: signet's built-in rules still apply.
sig 1 cert lint "$T/web.pem"
has "$T/out" "error eku-not-codesigning"
has "$T/out" "policy none: built-in code-signing rules"
# With a store, its default policy.
new_store
sig 1 cert lint "$T/long.pem"
has "$T/out" "validity-too-long"

# Standard input that is not a certificate: the same malformed finding as for a file.
run 1 "$SIGNET" cert lint - $P </dev/null
has "$T/out" "error malformed"
sig 3 cert lint "$T/nothere.pem"
one_line_error
has "$T/err" "cannot read '$T/nothere.pem'"
sig 3 cert lint "$T/good.pem" --policy nosuch
sig 2 cert lint
sig 2 cert lint a b
