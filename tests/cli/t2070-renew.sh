#!/usr/bin/env bash
# renew: every current certificate due for renewal (inside its policy's window) is
# reissued with the same key, exactly once; a second run does nothing;
# --check says 1 while something is due and 0 after; --dry-run changes
# nothing.  Time is moved with SIGNET_NOW.
. "$(dirname "$0")/../lib.sh"
new_store
sig 0 key generate a
sig 0 key generate b
sig 0 key generate c --policy codesign-generic
sig 0 key generate nocert
export SIGNET_NOW=2026-01-01T00:00:00Z
sig 0 cert issue a
sig 0 cert issue b --days 200
sig 0 cert issue c
spki_a=$(yaml_get "$S/keys/a.yaml" spki_sha256)

sig 0 renew --check
has "$T/out" "nothing to renew: 3 certificates checked"
sig 0 renew
has "$T/out" "nothing to renew"

# 2026-12-10: a (365 days, window 30) is due; b expired in July; c (730 days,
# window 60) is not.
export SIGNET_NOW=2026-12-10T00:00:00Z
sig 1 renew --check
has "$T/out" "^a: certificate [0-9A-F]+ expires on 2027-01-01T00:00:00Z \(22 days\), due for renewal since 2026-12-02 \(policy aws-freertos-esp32's 30-day renewal window\)$"
has "$T/out" "^b: certificate [0-9A-F]+ expired on 2026-07-20T00:00:00Z"
hasnt "$T/out" "^c:"
sig 1 --json renew --check
eq "$(jq -r '[.due[].label] | join(",")' "$T/out")" a,b "due keys"
before=$(snapshot)
sig 0 renew --dry-run
has "$T/out" "would reissue it"
eq "$(snapshot)" "$before" "store changed by --dry-run"

records=$(wc -l <"$S/audit.log")
sig 0 renew
has "$T/out" "^a: reissued, same key: serial [0-9A-F]{32}, valid until 2027-12-10T00:00:00Z$"
has "$T/out" "^b: reissued, same key"
has "$T/out" "renewed 2 of 2 due certificates"
eq "$(ls "$S/certs/a" | wc -l)" 3 "a: old + new + current.pem"
eq "$(ls "$S/certs/b" | wc -l)" 3 "b: old + new + current.pem"
eq "$(ls "$S/certs/c" | wc -l)" 2 "c untouched"
[ ! -e "$S/certs/nocert" ] || fail "a certificate appeared for a key without one"
eq "$(( $(wc -l <"$S/audit.log") - records ))" 2 "one audit record per renewal"
eq "$(tail -2 "$S/audit.log" | jq -r .op | sort -u)" renew "audit op"
eq "$(openssl x509 -in "$S/certs/a/current.pem" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1)" \
  "$spki_a" "renewed certificate keeps the key"
run 0 openssl verify -attime "$(date -d 2026-12-10 +%s)" -CAfile "$S/certs/a/current.pem" "$S/certs/a/current.pem"

# Idempotent.
after=$(snapshot)
sig 0 renew
has "$T/out" "nothing to renew: 3 certificates checked, none due for renewal; the first to fall due is 'c', on 2027-11-02"
eq "$(snapshot)" "$after" "second renew changed the store"
sig 0 renew --check
sig 0 --json renew
eq "$(jq '.renewed | length' "$T/out")" 0 "renewed on the second run"
sig 0 audit verify

# --policy overrides the window for every key.
# 2027-10-20: a and b expire in 51 days: outside esp32's 30-day window,
# inside codesign-generic's 60-day one.
SIGNET_NOW=2027-10-20T00:00:00Z sig 0 renew --check
SIGNET_NOW=2027-10-20T00:00:00Z sig 1 renew --check --policy codesign-generic
has "$T/out" "^a: "
sig 3 renew --policy nosuch
sig 2 renew extra
sig 2 renew --bogus
sig 0 renew --help
has "$T/out" "usage: signet renew"
