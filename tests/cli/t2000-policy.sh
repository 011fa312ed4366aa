#!/usr/bin/env bash
# policy list/show/check: the shipped policies parse and say what they
# ask for; a malformed policy is an error naming file, line and field,
# never a silent default.
. "$(dirname "$0")/../lib.sh"

sig 0 policy list
has "$T/out" "^aws-freertos-esp32 "
has "$T/out" "^aws-freertos-ti-cc3220 "
has "$T/out" "^codesign-generic "
sig 0 --json policy list
[ "$(jq '.policies | length' "$T/out")" -ge 3 ] || fail "policy list --json"

sig 0 policy show aws-freertos-esp32
has "$T/out" "key algorithms: +ecdsa-p256$"
has "$T/out" "extended key usage: +codeSigning$"
has "$T/out" "365 days, renewed 30 days before expiry \\(a certificate that lives 30 days or less: when a third of its lifetime is left\\)$"
sig 0 --json policy show aws-freertos-ti-cc3220
eq "$(jq -r '.key.algorithms[0]' "$T/out")" rsa-2048 "cc3220 algorithm"
eq "$(jq -r '.certificate.signature_hash' "$T/out")" sha1 "cc3220 hash"
eq "$(jq -r '.signing.ota_signature_field' "$T/out")" sig-sha1-rsa "cc3220 OTA field"
eq "$(jq -r '.certificate.forbid_extended_key_usage | join(",")' "$T/out")" serverAuth,clientAuth "forbidden EKUs"

sig 0 policy check "$TOP"/policies/*.yaml
[ "$(grep -c ': ok, policy ' "$T/out")" -eq "$(ls "$TOP"/policies/*.yaml | wc -l)" ] || fail "not every shipped policy checks"

# An unknown field: file, line and field named, exit 3.
sed 's/^  validity_days: 365/  validity_days: 365\n  valdity_days: 30/' "$TOP/policies/aws-freertos-esp32.yaml" >"$T/typo.yaml"
line=$(grep -n 'valdity_days' "$T/typo.yaml" | cut -d: -f1)
sig 3 policy check "$T/typo.yaml"
one_line_error
has "$T/err" "^signet: $T/typo.yaml:$line: unknown field 'valdity_days'"

# A bad value in a list.
sed 's/extended_key_usage: \[codeSigning\]/extended_key_usage: [codesigning]/' "$TOP/policies/aws-freertos-esp32.yaml" >"$T/eku.yaml"
line=$(grep -n 'codesigning' "$T/eku.yaml" | cut -d: -f1)
sig 3 policy check "$T/eku.yaml"
has "$T/err" "$T/eku.yaml:$line: field 'extended_key_usage': unknown extended key usage 'codesigning'"

# Wrong type, missing field, contradiction.
sed 's/validity_days: 365/validity_days: a year/' "$TOP/policies/aws-freertos-esp32.yaml" >"$T/type.yaml"
sig 3 policy check "$T/type.yaml"
has "$T/err" "type.yaml:[0-9]+: field 'validity_days' must be a whole number"
grep -v 'signature_hash' "$TOP/policies/aws-freertos-esp32.yaml" >"$T/missing.yaml"
sig 3 policy check "$T/missing.yaml"
has "$T/err" "missing.yaml:[0-9]+: missing field 'signature_hash'"
sed 's/forbid_extended_key_usage: \[serverAuth, clientAuth\]/forbid_extended_key_usage: [codeSigning]/' "$TOP/policies/aws-freertos-esp32.yaml" >"$T/contra.yaml"
sig 3 policy check "$T/contra.yaml"
has "$T/err" "forbids 'codeSigning', which 'extended_key_usage' requires"
printf 'name: [oops\n' >"$T/syntax.yaml"
sig 3 policy check "$T/syntax.yaml"
has "$T/err" "syntax.yaml:[0-9]+"
sig 3 --json policy check "$T/typo.yaml" "$TOP/policies/codesign-generic.yaml"
eq "$(jq -r '.ok' "$T/out")" false "json check verdict"
eq "$(jq -r '.files[1].ok' "$T/out")" true "json check of the good file"

# A policy dir given by the environment wins; a missing policy names where it looked.
mkdir "$T/pol"
sed 's/^name: aws-freertos-esp32/name: mine/' "$TOP/policies/aws-freertos-esp32.yaml" >"$T/pol/mine.yaml"
SIGNET_POLICY_DIR="$T/pol" sig 0 policy show mine
has "$T/out" "^policy mine \($T/pol/mine.yaml\)"
sig 3 policy show nosuch
one_line_error
has "$T/err" "no policy 'nosuch' \(looked in "
sig 3 policy show ../etc/passwd
# A file that names itself differently is refused.
cp "$T/pol/mine.yaml" "$T/pol/other.yaml"
SIGNET_POLICY_DIR="$T/pol" sig 3 policy show other
has "$T/err" "names itself 'mine', not 'other'"

sig 2 policy
has "$T/err" "missing subcommand"
sig 2 policy frob
sig 2 policy show
sig 2 policy list --bogus
sig 0 policy --help
has "$T/out" "usage: signet policy list"
