#!/usr/bin/env bash
# rotate: the whole story.  A legacy key brought in with `key import` is
# rotated to a key generated on the token: the lineage statement is checked
# by openssl alone (and a tampered one refused); the stepping stone (firmware
# baking NEW's certificate, signed with OLD) is accepted by the mbedTLS
# device stand-in that bakes OLD, an image signed with NEW is rejected by
# it; sign --fleet refuses NEW for the fleet that trusts only OLD (exit 1,
# a `refused` record, nothing else written); finish refuses while devices
# trust only OLD, then retires OLD: key show and audit custody say so, and
# it signs nothing without --fleet.
. "$(dirname "$0")/../lib.sh"
MBED="$BUILD/fakes/mbedverify"
[ -x "$MBED" ] || fail "$MBED not built (make check builds it)"
new_store
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/legacy.key" 2>/dev/null || fail "openssl genpkey"
sig 0 key import legacy --private-key "$T/legacy.key"
rm -f "$T/legacy.key"
sig 0 cert issue legacy
sig 0 header legacy --out "$T/old.h"
OLD_SPKI=$(yaml_get "$S/keys/legacy.yaml" spki_sha256)

# The fleet: 4200 devices on firmware 1.0, which bakes the legacy certificate.
cp "$T/old.h" "$S/fw-1.0.h"
cat >"$S/fleets.yaml" <<'YAML'
fleets:
  - name: sensors
    rollout_days: 21
    builds:
      - { version: "1.0", artefact: fw-1.0.h, devices: 4200 }
YAML

sig 0 key generate fw2
sig 0 cert issue fw2
NEW_SPKI=$(yaml_get "$S/keys/fw2.yaml" spki_sha256)
sig 0 header fw2 --out "$T/new.h"

# --- start: the record and the lineage statement, one audit record -------
records=$(wc -l <"$S/audit.log")
sig 0 rotate start legacy fw2 --reason "legacy key lived in a file before import"
has "$T/out" "^rotation started: 'legacy' -> 'fw2'"
eq "$(( $(wc -l <"$S/audit.log") - records ))" 1 "one audit record for rotate start"
eq "$(last_record op) $(last_record result) $(last_record label) $(last_record details.new)" "rotate.start ok legacy fw2" "start record"
R="$S/rotations/legacy"
eq "$(yaml_get "$R.yaml" old_spki_sha256)" "$OLD_SPKI" "record: old SPKI"
eq "$(yaml_get "$R.yaml" new_spki_sha256)" "$NEW_SPKI" "record: new SPKI"
eq "$(stat -c %a "$R.lineage.json")" 600 "statement mode"
eq "$(jq -r '"\(.type) \(.old.spki_sha256) \(.new.spki_sha256) \(.reason)"' "$R.lineage.json")" \
  "signet-lineage-v1 $OLD_SPKI $NEW_SPKI legacy key lived in a file before import" "statement fields"
eq "$(sha256sum <"$R.lineage.json" | cut -d' ' -f1)" "$(last_record details.lineage_sha256)" "audit names the statement"
# Canonical: what jq writes with sorted keys, compact, no newline, is the very bytes signed.
eq "$(jq -cjS . "$R.lineage.json" | sha256sum)" "$(sha256sum <"$R.lineage.json")" "canonical form"

# --- the lineage statement checked by openssl alone ---------------------
openssl x509 -in "$S/certs/legacy/current.pem" -pubkey -noout >"$T/old.pub"
openssl dgst -sha256 -verify "$T/old.pub" -signature "$R.lineage.sig" "$R.lineage.json" >"$T/ossl" 2>&1 \
  || { cat "$T/ossl"; fail "openssl rejects the lineage statement"; }
has "$T/ossl" "^Verified OK$"
# Signed by OLD, not NEW.
openssl x509 -in "$S/certs/fw2/current.pem" -pubkey -noout >"$T/new.pub"
! openssl dgst -sha256 -verify "$T/new.pub" -signature "$R.lineage.sig" "$R.lineage.json" >/dev/null 2>&1 \
  || fail "the statement verifies with the new key"
# Tampered: one key swapped for another in a copy.
sed "s/$NEW_SPKI/$(printf '%064d' 0)/" "$R.lineage.json" >"$T/tampered.json"
! cmp -s "$T/tampered.json" "$R.lineage.json" || fail "tampering changed nothing"
! openssl dgst -sha256 -verify "$T/old.pub" -signature "$R.lineage.sig" "$T/tampered.json" >"$T/ossl" 2>&1 \
  || fail "openssl accepts a tampered lineage statement"
has "$T/ossl" "Verification failure"
sig 0 rotate verify legacy
has "$T/out" "^lineage statement valid: 'legacy' .* vouches for 'fw2'"
sig 0 --json rotate verify legacy --cert "$S/certs/legacy/current.pem"
eq "$(jq -r '"\(.valid) \(.new_spki_sha256)"' "$T/out")" "true $NEW_SPKI" "verify json"
sig 1 rotate verify legacy --cert "$S/certs/fw2/current.pem"
one_line_error
cp "$R.lineage.json" "$T/good.json"
cp "$T/tampered.json" "$R.lineage.json"
sig 1 rotate verify legacy
one_line_error
has "$T/err" "lineage statement '$R.lineage.json' is not valid: the signature does not verify"
cp "$T/good.json" "$R.lineage.json"
sig 0 rotate verify legacy

# --- the stepping stone: bakes NEW's certificate, signed with OLD --------
# (an image holds the constant as compiled: the PEM text and its NUL)
{ head -c 4000 /dev/urandom; cat "$S/certs/fw2/current.pem"; printf '\0'; head -c 4000 /dev/urandom; } >"$T/stone-2.0.bin"
sig 0 sign "$T/stone-2.0.bin" --key legacy --fleet sensors --out "$T/stone.sig"
# The device stand-in (mbedTLS, as ota_pal) that bakes OLD accepts it ...
"$MBED" "$S/certs/legacy/current.pem" "$T/stone-2.0.bin" "$T/stone.sig" >"$T/mbed" 2>&1 \
  || { cat "$T/mbed"; fail "a device baking OLD rejects the stepping stone"; }
sig 0 verify "$T/stone-2.0.bin" --sig "$T/stone.sig" --header "$T/old.h"

# ... and rejects an image signed with NEW while it still bakes OLD.
before=$(snapshot_records); records=$(wc -l <"$S/audit.log")
sig 1 sign "$T/stone-2.0.bin" --key fw2 --fleet sensors --out "$T/new.sig"
one_line_error
has "$T/err" "^signet: key 'fw2' is not trusted by 4200 devices of fleet 'sensors' \(build 1\.0: 4200 devices\)"
[ ! -e "$T/new.sig" ] || fail "a refused sign wrote a signature"
eq "$(snapshot_records)" "$before" "store changed by a refused sign"
eq "$(( $(wc -l <"$S/audit.log") - records ))" 1 "one refused record"
eq "$(last_record op) $(last_record result) $(last_record label)" "sign refused fw2" "refused sign record"
sig 0 sign "$T/stone-2.0.bin" --key fw2 --out "$T/new.sig"     # without --fleet nothing stops it ...
run 1 "$MBED" "$S/certs/legacy/current.pem" "$T/stone-2.0.bin" "$T/new.sig"   # ... and the device rejects it (0xe3)
sig 1 verify "$T/stone-2.0.bin" --sig "$T/new.sig" --header "$T/old.h"
run 0 "$MBED" "$S/certs/fw2/current.pem" "$T/stone-2.0.bin" "$T/new.sig"

# --- status and a refused finish while devices trust only OLD ------------
cp "$T/stone-2.0.bin" "$S/fw-2.0.bin"
# The build is recorded three years from today, so its rollout is still ahead on any date.
rec_day=$(date -u -d '+3 years' +%Y-%m-%d)
done_day=$(date -u -d "$rec_day + 21 days" +%Y-%m-%d)
SIGNET_NOW=${rec_day}T00:00:00Z sig 0 fleet build add sensors 2.0 "$S/fw-2.0.bin" --devices 0
sig 0 --json rotate status
eq "$(jq -r '.rotations[0].fleets[0] | "\(.fleet) \(.only_old) \(.trusting_new) \(.stepping_stone) \(.expected_completion)"' "$T/out")" \
  "sensors 4200 0 2.0 ${done_day}T00:00:00Z" "status while nobody moved"
eq "$(jq -r '.rotations[0] | "\(.state) \(.devices_left)"' "$T/out")" "in progress 4200" "status state"
sig 0 rotate status
has "$T/out" "^  sensors +4200 +0 +0 +0  expected $done_day \(build 2\.0 \+ 21 rollout days\)$"
before=$(snapshot_records); records=$(wc -l <"$S/audit.log")
sig 1 rotate finish legacy
one_line_error
has "$T/err" "^signet: rotation of 'legacy' cannot finish: 4200 devices still trust only 'legacy': sensors \(build 1\.0: 4200 devices\)$"
eq "$(snapshot_records)" "$before" "store changed by a refused finish"
eq "$(last_record op) $(last_record result)" "rotate.finish refused" "refused finish record"
eq "$(( $(wc -l <"$S/audit.log") - records ))" 1 "one refused record"

# --- the fleet moves: half, then all, onto the stepping stone ------------
sed -i 's/devices: 4200 }/devices: 1200 }\n      - { version: "2.0", artefact: fw-2.0.bin, devices: 3000 }/' "$S/fleets.yaml"
sig 0 --json rotate status legacy
eq "$(jq -r '.rotations[0].fleets[0] | "\(.only_old) \(.trusting_new)"' "$T/out")" "1200 3000" "status half way"
sig 1 rotate finish legacy
has "$T/err" "1200 devices still trust only 'legacy'"
sed -i 's/devices: 1200 }/devices: 0 }/; s/devices: 3000 }/devices: 4200 }/' "$S/fleets.yaml"
sig 0 rotate status
has "$T/out" "^  sensors +0 +4200 +0 +0  moved$"
has "$T/out" "ready to finish"
sig 0 sign "$T/stone-2.0.bin" --key fw2 --fleet sensors --out "$T/new2.sig"
run 0 "$MBED" "$S/certs/fw2/current.pem" "$T/stone-2.0.bin" "$T/new2.sig"
# OLD still signs for the fleet? No: its devices now bake only NEW.
sig 1 sign "$T/stone-2.0.bin" --key legacy --fleet sensors --out "$T/x.sig"
has "$T/err" "key 'legacy' is not trusted by 4200 devices of fleet 'sensors' \(build 2\.0: 4200 devices\)"

# --- finish: OLD retired, still on the token ----------------------------
records=$(wc -l <"$S/audit.log")
sig 0 rotate finish legacy
has "$T/out" "^rotation 'legacy' -> 'fw2' finished: key 'legacy' retired on "
eq "$(( $(wc -l <"$S/audit.log") - records ))" 1 "one audit record for finish"
eq "$(last_record op) $(last_record result) $(last_record details.new)" "rotate.finish ok fw2" "finish record"
has "$S/keys/legacy.yaml" '^retired: "[0-9]{4}-[0-9]{2}-[0-9]{2}T'
has "$S/keys/legacy.yaml" '^retired_by: "rotations/legacy.yaml"$'
has "$R.yaml" '^finished: "'
sig 0 key show legacy
has "$T/out" "^retired: +[0-9-]+T.* \(rotations/legacy\.yaml\)"
sig 0 --json key show legacy
eq "$(jq -r '.retired.by' "$T/out")" "rotations/legacy.yaml" "key show json"
sig 0 audit custody
has "$T/out" "^  legacy .* ok  retired [0-9]{4}-"
token_objects >"$T/objs"
has "$T/objs" "label: +legacy"
sig 3 rotate finish legacy
sig 0 --json rotate status
eq "$(jq -r '.rotations[0].state' "$T/out")" "finished" "state finished"

# A retired key signs nothing without --fleet ...
before=$(snapshot_records)
sig 1 sign "$T/stone-2.0.bin" --key legacy --out "$T/x.sig"
one_line_error
has "$T/err" "^signet: key 'legacy' was retired on .*: it signs nothing without --fleet$"
[ ! -e "$T/x.sig" ] || fail "a retired key signed"
eq "$(snapshot_records)" "$before" "store changed by a refused sign"
eq "$(last_record op) $(last_record result) $(last_record label)" "sign refused legacy" "refused record"
# ... but signs the stepping stone for devices back from a shelf that still trust it.
cat >>"$S/fleets.yaml" <<'YAML'
  - name: shelf
    builds:
      - { version: "1.0", artefact: fw-1.0.h, devices: 25 }
YAML
sig 0 sign "$T/stone-2.0.bin" --key legacy --fleet shelf --out "$T/shelf.sig"
has "$T/err" "warning: key 'legacy' is retired"
run 0 "$MBED" "$S/certs/legacy/current.pem" "$T/stone-2.0.bin" "$T/shelf.sig"
sig 0 audit verify
