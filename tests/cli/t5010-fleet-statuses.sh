#!/usr/bin/env bash
# fleet report/check: every action (ok, renew, rebuild, stranded) and
# status (ok, due, overdue, stranded) reached by a fixture fleet, devices
# on an unknown build reported as unknown, --warn-days/--critical-days,
# and a renewal that clears `renew` but not `rebuild` (the baked
# certificate is what expiry-checking devices hold).  Time moves with
# SIGNET_NOW; fw's certificate expires 2027-01-01.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/fleet-fixtures.inc"
fleet_fixtures
cat >"$S/fleets.yaml" <<YAML
fleets:
  - name: gen1
    builds:
      - { version: 0.9.0, artefact: $T/lost.h, devices: 500 }
  - name: gen2
    rollout_days: 21
    builds:
      - { version: 1.4.2, artefact: $T/fw.bin, devices: 120000 }
      - { version: 1.5.0, devices: 7 }
  - name: secure
    rollout_days: 21
    margin_days: 30
    checks_expiry: true
    builds:
      - { version: 2.0.0, artefact: fw.h-copy, devices: 3000 }
YAML
cp "$T/fw.h" "$S/fw.h-copy"   # relative artefact paths are relative to the inventory

# 2026-06-01: nothing due; secure's rebuild deadline is 2027-01-01 - 51 days.
export SIGNET_NOW=2026-06-01T00:00:00Z
sig 1 fleet check
has "$T/out" "^gen1 0\.9\.0 spki:${LOST_SPKI:0:12}: stranded: no key these 500 devices trust is in custody"
has "$T/out" "^gen2 1\.5\.0 -: unknown: build '1\.5\.0' has no artefact and no record"
hasnt "$T/out" "^secure"
sig 0 fleet check secure
has "$T/out" "all 1 fleets ok"
sig 0 --json fleet report
eq "$(jq -r '.rows[] | select(.fleet=="secure") | "\(.action) \(.status) \(.deadline) \(.deadline_for)"' "$T/out")" \
  "ok ok 2026-11-11T00:00:00Z rebuild" "secure on 2026-06-01"
eq "$(jq -r '.rows[] | select(.fleet=="gen2" and .build=="1.4.2") | "\(.action) \(.status) \(.deadline) \(.custody_label) \(.spki_sha256)"' "$T/out")" \
  "ok ok 2026-12-02T00:00:00Z fw $FW_SPKI" "gen2 on 2026-06-01: key read from the binary image (renew deadline: the day renew starts to act)"
eq "$(jq -r '.rows[] | select(.fleet=="gen1") | "\(.action) \(.status) \(.custody) \(.spki_sha256) \(.baked_certificate.subject)"' "$T/out")" \
  "stranded stranded not held $LOST_SPKI CN=lost-signer" "gen1"
# gen2's 1.4.2 rows are ok, but 7 of its devices run 1.5.0, which nobody recorded: never ok.
eq "$(jq -r '[.fleets[] | "\(.name)=\(.status)"] | join(" ")' "$T/out")" "gen1=stranded gen2=unknown secure=ok" "fleet statuses"
eq "$(jq -r '.fleets[] | select(.name=="gen2") | .unknown_build_devices' "$T/out")" 7 "gen2's unknown devices counted"
eq "$(jq -r '.rows[0].status' "$T/out")" stranded "stranded is said first"
eq "$(jq -r '.summary.devices' "$T/out")" 123507 "every device counted, unknown build included"

# 2026-10-20: 22 days to secure's deadline: due (warn 30); with --warn-days 20 ok; --critical-days 25 overdue.
export SIGNET_NOW=2026-10-20T00:00:00Z
sig 1 fleet check secure
has "$T/out" "^secure 2\.0\.0 fw: due: these devices reject images once their baked certificate expires on 2027-01-01; a build baking a renewed certificate for 'fw' must reach the fleet by 2026-11-11 \(21 days rollout \+ 30 days margin\)"
# renew would not act before 2026-12-02, so the rebuild is not told to run it: cert reissue makes the certificate.
has "$T/out" "\(\\$ signet cert reissue fw && signet header fw --out ota_demo_config_signer\.h\)$"
hasnt "$T/out" "signet renew"
sig 0 renew --check
sig 0 fleet check secure --warn-days 20 --critical-days 10
sig 1 fleet check secure --critical-days 25
has "$T/out" "^secure 2\.0\.0 fw: overdue: "
sig 2 fleet check --critical-days 40
one_line_error

# 2026-12-05: the signer certificate (27 days left) is inside its renewal
# window: gen2 renew/due; secure's rebuild deadline has passed: overdue.
export SIGNET_NOW=2026-12-05T00:00:00Z
sig 1 --json fleet check
eq "$(jq -r '[.findings[] | "\(.fleet)/\(.build):\(.action):\(.status)"] | join(" ")' "$T/out")" \
  "gen1/0.9.0:stranded:stranded secure/2.0.0:rebuild:overdue gen2/1.4.2:renew:due gen2/1.5.0:unknown:unknown" "findings on 2026-12-05"
sig 1 fleet check gen2
has "$T/out" "^gen2 1\.4\.2 fw: due: the signer certificate [0-9A-F]+ of 'fw' expires on 2027-01-01 and is due for renewal since 2026-12-02 \(policy aws-freertos-esp32's 30-day renewal window\); AWS Signer refuses an expired one; devices are not affected \(\\$ signet renew\)$"
sig 1 renew --check
has "$T/out" "^fw: certificate [0-9A-F]+ expires on 2027-01-01T00:00:00Z \(27 days\), due for renewal since 2026-12-02"
sig 0 fleet report
has "$T/out" "^fleet secure: overdue \(devices check certificate expiry\)$"
has "$T/out" "^overdue +secure +2\.0\.0 +3000 +0 +fw +held +2027-01-01 2027-01-01 2026-11-11 rebuild$"
# Two weeks before expiry the renewal is overdue too.
SIGNET_NOW=2026-12-20T00:00:00Z sig 1 --json fleet check gen2
eq "$(jq -r '.findings[0].status' "$T/out")" overdue "renew at 12 days"

# signet renew issues a new certificate for the same key: renew is cleared,
# rebuild is not (the devices still hold the old certificate).
sig 0 renew
sig 0 --json fleet report gen2 secure
eq "$(jq -r '.rows[] | select(.build=="1.4.2") | "\(.action) \(.status) \(.deadline)"' "$T/out")" "ok ok 2027-11-05T00:00:00Z" "gen2 after renew"
# The renewed certificate exists: the rebuild needs only the header.
eq "$(jq -r '.rows[] | select(.fleet=="secure") | .command' "$T/out")" "signet header fw --out ota_demo_config_signer.h" "secure's command after renew"
eq "$(jq -r '.rows[] | select(.fleet=="secure") | "\(.action) \(.status)"' "$T/out")" "rebuild overdue" "secure after renew"
has "$T/out" "the certificate has expired|must reach the fleet by 2026-11-11"

# A fleet name not in the inventory is an error; nothing judged silently.
sig 3 fleet report nosuch
one_line_error
has "$T/err" "no fleet named 'nosuch'"
# A malformed inventory names file, line and field.
printf 'fleets:\n  - name: x\n    rollout_days: soon\n' >"$T/bad.yaml"
sig 3 fleet report --inventory "$T/bad.yaml"
one_line_error
has "$T/err" "bad\.yaml:3: field 'rollout_days'"
printf 'fleets:\n  - name: x\n    colour: blue\n' >"$T/bad.yaml"
sig 3 fleet report --inventory "$T/bad.yaml"
has "$T/err" "bad\.yaml:[23]: unknown field 'colour'"
sig 3 fleet report --inventory "$T/missing.yaml"
one_line_error
