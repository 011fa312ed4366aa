#!/usr/bin/env bash
# rotate with fleets that are not simple: a build that bakes both keys
# (MCUboot can bake several) counts as trusting each; stale devices are
# counted apart (they do not hold a finish back, and finish warns); devices
# on builds signet has no record of hold back both sign --fleet and
# finish; an RSA key's lineage statement checks with openssl too; usage and
# data errors; every refusal leaves the store as it was but for its
# `refused` record, and the log verifies.
. "$(dirname "$0")/../lib.sh"
export SIGNET_NOW=2026-03-01T00:00:00Z
new_store
sig 0 key generate old
sig 0 cert issue old
sig 0 key generate new
sig 0 cert issue new
sig 0 header old --out "$S/old.h"
sig 0 header new --out "$S/new.h"
# Two keys baked in one build (as MCUboot can): two constants, each under its own name.
sig 0 header new --format codesigner --out "$S/new-cs.h"
cat "$S/old.h" "$S/new-cs.h" >"$S/both.h"

# --- usage and data errors ----------------------------------------------
sig 2 rotate
sig 2 rotate spin old
sig 2 rotate start old
sig 2 rotate start old old
sig 2 rotate start old new --bogus
sig 2 rotate start ../x new
sig 1 rotate start old missing
one_line_error
has "$T/err" "no key 'missing' in custody"
has "$T/err" "^hint: generate the new key first: 'signet key generate missing'"
eq "$(last_record op) $(last_record result) $(last_record label)" "rotate.start refused old" "refused start record"
sig 1 rotate verify old
one_line_error
has "$T/err" "no rotation of key 'old'"
sig 1 rotate finish old
sig 0 rotate status
has "$T/out" "^no rotations"
sig 0 rotate --help
has "$T/out" "openssl dgst -sha256 -verify old.pub -signature OLD.lineage.sig OLD.lineage.json"
sig 0 sign --help
has "$T/out" "--fleet FLEET"

sig 0 rotate start old new
before=$(snapshot)
sig 3 rotate start old new
one_line_error
has "$T/err" "key 'old' already has a rotation"
eq "$(snapshot)" "$before" "store changed by a second start"
sig 3 sign "$S/old.h" --key old --fleet nosuch --out "$T/x.sig"
one_line_error
has "$T/err" "no fleet 'nosuch'"
eq "$(snapshot)" "$before" "store changed by an unknown fleet"

# --- a build baking both keys trusts each --------------------------------
# Devices from a CSV export with last_seen: 'dusty' not seen for a year.
cat >"$S/devices.csv" <<'CSV'
thing,fleet,fw,last_seen
a1,gate,1.0,2026-02-27T10:00:00Z
a2,gate,1.0,2026-02-28T10:00:00Z
a3,gate,1.1,2026-02-28T11:00:00Z
dusty,gate,1.0,2025-02-01T00:00:00Z
CSV
cat >"$S/fleets.yaml" <<'YAML'
fleets:
  - name: gate
    rollout_days: 10
    builds:
      - { version: "1.0", artefact: old.h }
      - { version: "1.1", artefact: both.h }
    devices:
      source: devices.csv
      format: csv
      build_field: fw
      fleet_field: fleet
      last_seen_field: last_seen
YAML
sig 1 sign "$S/both.h" --key new --fleet gate --out "$T/x.sig"
has "$T/err" "key 'new' is not trusted by 2 devices of fleet 'gate' \(build 1\.0: 2 devices\)"
sig 0 sign "$S/both.h" --key old --fleet gate --out "$T/old.sig"
hasnt "$T/err" "stale"
sig 0 --json rotate status old
eq "$(jq -r '.rotations[0].fleets[0] | "\(.only_old) \(.only_old_stale) \(.trusting_new) \(.stepping_stone) \(.expected_completion)"' "$T/out")" \
  "2 1 1 1.1 2026-03-11T00:00:00Z" "both-key build counts as trusting new"
SIGNET_NOW=2026-04-01T00:00:00Z sig 0 rotate status
has "$T/out" "^  gate +2 +1 +1 +0  OVERDUE since 2026-03-11 \(build 1\.1 \+ 10 rollout days\)$"
# The two active devices on 1.0 move to 1.1; dusty stays on the shelf with 1.0.
sed -i 's/^a1,gate,1.0/a1,gate,1.1/; s/^a2,gate,1.0/a2,gate,1.1/' "$S/devices.csv"
sig 0 sign "$S/both.h" --key new --fleet gate --out "$T/new.sig"
has "$T/err" "warning: 1 stale devices of fleet 'gate'"
sig 0 sign "$S/both.h" --key old --fleet gate --out "$T/old.sig"

# --- devices on an unrecorded build hold everything back -----------------
echo "b9,gate,7.7,2026-02-28T12:00:00Z" >>"$S/devices.csv"
before=$(snapshot_records); records=$(wc -l <"$S/audit.log")
sig 1 sign "$S/both.h" --key new --fleet gate --out "$T/x.sig"
one_line_error
has "$T/err" "not trusted by 1 devices of fleet 'gate' \(unrecorded build 7\.7: 1 device\)"
sig 1 rotate finish old
one_line_error
has "$T/err" "cannot finish: 1 devices still trust only 'old': gate \(1 on unrecorded builds\)$"
eq "$(snapshot_records)" "$before" "store changed by refusals"
eq "$(( $(wc -l <"$S/audit.log") - records ))" 2 "two refused records"
eq "$(tail -2 "$S/audit.log" | jq -r '"\(.op) \(.result)"' | paste -sd,)" "sign refused,rotate.finish refused" "refused records"
[ ! -e "$T/x.sig" ] || fail "a refused sign wrote a signature"
sed -i '/^b9,/d' "$S/devices.csv"

# --- finish with a stale device on OLD: allowed, with a warning ----------
sig 0 rotate finish old
has "$T/err" "warning: 1 stale devices \(not seen lately\) still trust only 'old'"
eq "$(last_record details.stale_devices_on_old)" 1 "stale count recorded"
sig 1 sign "$S/both.h" --key old --out "$T/x.sig"
# A build baking both keys still trusts the retired one: it may sign for that fleet.
sig 0 sign "$S/both.h" --key old --fleet gate --out "$T/old2.sig"
sig 3 rotate start old new
sig 1 rotate start new old
has "$T/err" "key 'old' is retired"
eq "$(last_record op) $(last_record result)" "rotate.start refused" "refused start record"

# --- RSA: the lineage statement is PKCS#1 v1.5 over SHA-256 --------------
sig 0 key generate rsaold --alg rsa-2048 --policy codesign-generic
sig 0 cert issue rsaold --policy codesign-generic
sig 0 rotate start rsaold new
openssl x509 -in "$S/certs/rsaold/current.pem" -pubkey -noout >"$T/rsa.pub"
openssl dgst -sha256 -verify "$T/rsa.pub" -signature "$S/rotations/rsaold.lineage.sig" "$S/rotations/rsaold.lineage.json" \
  >"$T/ossl" 2>&1 || { cat "$T/ossl"; fail "openssl rejects the RSA lineage statement"; }
sig 0 rotate verify rsaold
# A signature swapped in from another rotation does not fit.
cp "$S/rotations/old.lineage.sig" "$S/rotations/rsaold.lineage.sig"
sig 1 rotate verify rsaold
sig 0 audit verify
