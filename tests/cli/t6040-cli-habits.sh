#!/usr/bin/env bash
# Everyday CLI habits: global options before or after the command (and
# after its operands); key list|show|pubkey --pin-file no longer crash
# (they segfaulted on a NULL PIN-options pointer); -q silences all but
# results and errors; -v reports the long steps; renew leaves a CA
# certificate that lives shorter than the renewal window alone once
# renewed (a 20-day CA was reissued on every run).
. "$(dirname "$0")/../lib.sh"
new_store
sig 0 key generate fw
PIN="$S/hsm/user.pin"

# The crash: each of these segfaulted (exit 139) before.
sig 0 key list --pin-file "$PIN"
has "$T/out" "^fw "
sig 0 key show fw --pin-file "$PIN"
has "$T/out" "^label: +fw$"
sig 0 key pubkey fw --pin-file "$PIN"
has "$T/out" "BEGIN PUBLIC KEY"
sig 0 key show fw --pin-fd 0 </dev/null

# Global options anywhere.
sig 0 --json key list
cp "$T/out" "$T/before.json"
sig 0 key list --json
cmp "$T/before.json" "$T/out" || fail "--json after the command differs"
jq -e '.keys[0].label == "fw"' "$T/out" >/dev/null || fail "not JSON"
mv "$S" "$T/elsewhere"
sig 0 key show fw --store "$T/elsewhere" --json
eq "$(jq -r .label "$T/out")" fw "--store after operands"
sig 0 key show --store="$T/elsewhere" fw
mv "$T/elsewhere" "$S"
sig 2 key list --store
# After "--" an option is an operand again.
sig 2 key show -- --json

# -q: results only.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/legacy.pem" 2>/dev/null
chmod 600 "$T/legacy.pem"
sig 0 key import legacy --private-key "$T/legacy.pem"
has "$T/err" "warning: '.*legacy.pem' still holds the private key"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/legacy2.pem" 2>/dev/null
sig 0 key import legacy2 --private-key "$T/legacy2.pem" -q
[ ! -s "$T/err" ] || { cat "$T/err"; fail "-q left stderr output"; }
hasnt "$T/out" "^imported"
has "$T/out" "^label: +legacy2$"
head -c 1000 /dev/urandom >"$T/img"
sig 0 sign "$T/img" --key fw -q
[ ! -s "$T/err" ] || fail "-q sign wrote to stderr"
# Errors still speak under -q.
sig 1 key show nosuch -q
one_line_error

# -v: the long steps, on stderr; stdout unchanged.
sig 0 sign "$T/img" --key fw -v --out "$T/v.sig"
has "$T/err" "loading PKCS#11 module"
has "$T/err" "logging in to token 'signet'"
has "$T/out" "^signed "

# renew: a 20-day CA under a 30-day window.
export SIGNET_NOW=2027-03-01T00:00:00Z
sig 0 key generate ca
sig 0 cert issue ca --as-ca --days 20 --subject "CN=short-ca"
sig 0 renew
has "$T/out" "nothing to renew"
eq "$(ls "$S/certs/ca" | wc -l)" 2 "fresh 20-day CA reissued"
# Two thirds of its life gone: due once, then not again.
export SIGNET_NOW=2027-03-15T00:00:00Z
sig 1 renew --check
has "$T/out" "^ca: "
sig 0 renew
has "$T/out" "^ca: reissued, same key"
n=$(ls "$S/certs/ca" | wc -l)
eq "$n" 3 "one reissue"
sig 0 renew
has "$T/out" "nothing to renew"
sig 0 renew --check
eq "$(ls "$S/certs/ca" | wc -l)" "$n" "renew reissued the short-lived CA again"
openssl x509 -in "$S/certs/ca/current.pem" -noout -enddate | grep -q "Apr  4 00:00:00 2027" || fail "renewed CA keeps its 20-day lifetime"
sig 0 audit verify
