#!/usr/bin/env bash
# cert list / cert show: subject, serial, validity, days left, SPKI hash,
# the key in custody that holds it, and the policy verdict.
. "$(dirname "$0")/../lib.sh"
MKCERT="$TOP/tests/vectors/cert/mkcert.sh"
new_store
sig 0 cert list
has "$T/out" "^no certificates$"
sig 0 key generate fw
sig 0 key generate other
spki=$(yaml_get "$S/keys/fw.yaml" spki_sha256)
SIGNET_NOW=2026-01-01T00:00:00Z sig 0 cert issue fw --days 100
first=$(sed -n 's/^  serial: *//p' "$T/out")
SIGNET_NOW=2026-01-01T00:00:00Z sig 0 cert reissue fw
second=$(sed -n 's/^  serial: *//p' "$T/out")
SIGNET_NOW=2026-01-01T00:00:00Z sig 0 cert issue other

SIGNET_NOW=2026-02-01T00:00:00Z sig 0 --json cert list
eq "$(jq '.certificates | length' "$T/out")" 3 "certificates listed"
jq -e --arg s "$first" --arg k "$spki" '.certificates[] | select(.serial == $s) |
  .label == "fw" and .current == false and .days_left == 69 and .spki_sha256 == $k and .verdict == "ok" and
  .policy == "aws-freertos-esp32" and .not_after == "2026-04-11T00:00:00Z" and .subject == "CN=ota-signer"' "$T/out" >/dev/null ||
  fail "first certificate entry"
jq -e --arg s "$second" '.certificates[] | select(.serial == $s) | .current == true and .days_left == 334' "$T/out" >/dev/null ||
  fail "current certificate entry"

SIGNET_NOW=2026-12-20T00:00:00Z sig 0 cert list fw
has "$T/out" "^LABEL +SERIAL +EXPIRES +DAYS LEFT +VERDICT +SUBJECT"
has "$T/out" "^fw +$first +2026-04-11 +-253 +fails +CN=ota-signer$"
# 12 days left of a year: due by the rule renew uses, and only the current one is renew's to act on.
has "$T/out" "^fw +$second +2027-01-01 +12 +warnings +CN=ota-signer  \(current, due for renewal: signet renew\)$"
hasnt "$T/out" "^other"
sig 1 cert list nokey
sig 2 cert list a b

SIGNET_NOW=2026-02-01T00:00:00Z sig 0 cert show fw
has "$T/out" "^  serial: +$second$"
has "$T/out" "^  key: +ecdsa-p256, SPKI SHA-256 $spki$"
has "$T/out" "^  custody: +key 'fw' holds its private key$"
has "$T/out" "^  policy: +aws-freertos-esp32: passes lint$"
SIGNET_NOW=2026-02-01T00:00:00Z sig 0 --json cert show "$S/certs/fw/$first.pem"
eq "$(jq -r .key_label "$T/out")" fw "key label of a file"
eq "$(jq -r .self_signed "$T/out")" true "self_signed"

# A certificate from outside whose key is not held: said plainly.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/x.key" 2>/dev/null
"$MKCERT" "$T/x.pem" "$T/x.key" now-400d now-1d sha256 "/CN=web" "extendedKeyUsage = serverAuth"
sig 0 cert show "$T/x.pem"
has "$T/out" "custody: +no key in custody holds its private key; devices that trust this certificate cannot be updated with a new key"
has "$T/out" "policy: +aws-freertos-esp32: fails lint"
has "$T/out" "lint: error expired"
sig 0 --json cert show "$T/x.pem"
eq "$(jq -r '.key_label, .verdict' "$T/out" | tr '\n' ' ')" "null fails " "json verdict of a foreign certificate"
sig 3 cert show "$T/none.pem"
one_line_error
