#!/usr/bin/env bash
# fleet report formats checked by independent readers: promtool accepts the
# Prometheus textfile; headless Chromium renders the HTML (screenshot) and
# its DOM holds every fleet, with no script and no URL; python3-icalendar
# parses the ICS, one event with a reminder per deadline; Python's csv
# module reads the CSV; --out writes atomically and the same report twice
# is byte-identical.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/fleet-fixtures.inc"
fleet_fixtures
export SIGNET_NOW=2026-12-05T00:00:00Z
cat >"$S/fleets.yaml" <<YAML
fleets:
  - name: gen1
    builds: [ { version: 0.9.0, artefact: $T/lost.h, devices: 500 } ]
  - name: gen2
    builds: [ { version: 1.4.2, artefact: $T/fw.bin, devices: 120000 } ]
  - name: secure
    rollout_days: 21
    checks_expiry: true
    builds: [ { version: "2.0.0", artefact: $T/fw.h, devices: 3000 } ]
  - name: 'odd"name'
    builds: [ { version: 1.0, artefact: $T/fw.h, devices: 1 } ]
YAML
# A fleet name must also be a file name: the quote is refused with its line.
sig 3 fleet report
has "$T/err" "fleets\.yaml:10: field 'name'"
sed -i 's/odd"name/odd-name/' "$S/fleets.yaml"

# Prometheus, accepted by promtool; device ids never in labels.
sig 0 fleet report --format prometheus --out "$T/fleet.prom"
run 0 promtool check metrics <"$T/fleet.prom"
has "$T/fleet.prom" '^signet_fleet_devices\{fleet="gen2",build="1\.4\.2",key="fw"\} 120000$'
has "$T/fleet.prom" "^signet_fleet_action_deadline_timestamp_seconds\{fleet=\"secure\",build=\"2\.0\.0\",key=\"fw\",action=\"rebuild\"\} $(date -d 2026-11-11 +%s)$"
has "$T/fleet.prom" "^signet_fleet_action_deadline_timestamp_seconds\{fleet=\"gen2\",build=\"1\.4\.2\",key=\"fw\",action=\"renew\"\} $(date -d 2026-12-02 +%s)$"
has "$T/fleet.prom" '^signet_fleet_status\{fleet="gen1",status="stranded"\} 1$'
has "$T/fleet.prom" '^signet_fleet_status\{fleet="secure",status="overdue"\} 1$'
has "$T/fleet.prom" '^signet_fleet_status\{fleet="gen2",status="due"\} 1$'
has "$T/fleet.prom" '^signet_fleet_status\{fleet="gen2",status="ok"\} 0$'
has "$T/fleet.prom" "^signet_key_in_custody\{key=\"fw\",spki_sha256=\"$FW_SPKI\"\} 1$"
has "$T/fleet.prom" "^signet_key_in_custody\{key=\"spki:${LOST_SPKI:0:12}\",spki_sha256=\"$LOST_SPKI\"\} 0$"
has "$T/fleet.prom" "^signet_cert_not_after_timestamp_seconds\{key=\"fw\",serial=\"[0-9A-F]+\",subject_cn=\"ota-signer\"\} $(date -d 2027-01-01 +%s)$"
has "$T/fleet.prom" "^signet_inventory_last_update_timestamp_seconds\{source=\"$S/fleets.yaml\"\} $(stat -c %Y "$S/fleets.yaml")$"
eq "$(grep -c '^signet_cert_not_after_timestamp_seconds' "$T/fleet.prom")" 2 "one series per certificate (fw's, lost's)"

# HTML: self-contained, rendered by Chromium, every fleet in the DOM.
sig 0 fleet report --format html --out "$T/fleet.html"
hasnt "$T/fleet.html" '<script|https?:|src=|@import|url\('
has "$T/fleet.html" '<svg viewBox'
has "$T/fleet.html" '@media print'
chrome() { timeout 60 chromium --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run \
  --user-data-dir="$T/chrome" --hide-scrollbars "$@" 2>>"$T/chrome.log"; }
chrome --dump-dom "file://$T/fleet.html" >"$T/dom.html" || { cat "$T/chrome.log"; fail "chromium could not render the report"; }
for f in gen1 gen2 secure odd-name; do has "$T/dom.html" ">$f<"; done
has "$T/dom.html" '<tr class="stranded">'
chrome --window-size=1280,1400 --screenshot="$T/fleet.png" "file://$T/fleet.html" || fail "no screenshot"
[ "$(head -c 8 "$T/fleet.png" | xxd -p)" = 89504e470d0a1a0a ] || fail "screenshot is not a PNG"
[ "$(stat -c %s "$T/fleet.png")" -gt 20000 ] || fail "screenshot is (nearly) empty"
if [ -n "${FLEET_SCREENSHOT:-}" ]; then cp "$T/fleet.png" "$FLEET_SCREENSHOT"; fi
# Printed: Chromium's print path (the @media print rules) gives a PDF.
chrome --no-pdf-header-footer --print-to-pdf="$T/fleet.pdf" "file://$T/fleet.html" || fail "no PDF"
[ "$(head -c 5 "$T/fleet.pdf")" = "%PDF-" ] || fail "print-to-pdf did not give a PDF"

# ICS: one event per deadline, each with a reminder, parsed by python3-icalendar.
sig 0 fleet report --format ics --out "$T/fleet.ics"
[ "$(grep -c $'\r$' "$T/fleet.ics")" -eq "$(wc -l <"$T/fleet.ics")" ] || fail "ICS lines must end in CRLF"
awk '{ if (length($0) > 76) exit 1 }' "$T/fleet.ics" || fail "ICS line longer than 75 octets"
run 0 /usr/bin/python3 - "$T/fleet.ics" <<'PY'
import sys, icalendar
cal = icalendar.Calendar.from_ical(open(sys.argv[1], 'rb').read())
evs = [c for c in cal.walk('VEVENT')]
assert len(evs) == 3, len(evs)          # gen2 renew, secure rebuild, odd-name renew; gen1 is stranded
for e in evs:
    assert len(e.subcomponents) == 1 and e.subcomponents[0].name == 'VALARM', e
    print(e.decoded('dtstart').isoformat(), str(e['summary']))
PY
# Events carry the action and its deadline, not today's status; a passed one sits on the report's day, said passed.
has "$T/out" '^2026-12-05 signet: rebuild secure 2\.0\.0 \(key fw\): deadline passed on 2026-11-11$'
# A renew row's date is the day renew starts to act: the certificate (2027-01-01) minus the 30-day window.
has "$T/out" '^2026-12-05 signet: renew gen2 1\.4\.2 \(key fw\): renewal window opened 2026-12-02$'
hasnt "$T/fleet.ics" '^SUMMARY:.*: (ok|due|overdue|stranded|unknown)\r?$'

# CSV: one row per fleet x build x key, read back by Python's csv module.
sig 0 fleet report --format csv --out "$T/fleet.csv"
run 0 /usr/bin/python3 -c 'import csv,sys; r=list(csv.DictReader(open(sys.argv[1], newline=""))); print(len(r)); print(" ".join(sorted(x["fleet"]+":"+x["action"] for x in r)))' "$T/fleet.csv"
eq "$(sed -n 1p "$T/out")" 4 "CSV rows"
eq "$(sed -n 2p "$T/out")" "gen1:stranded gen2:renew odd-name:renew secure:rebuild" "CSV actions"

# Deterministic output: the same report twice is the same file.
sig 0 fleet report --format html --out "$T/again.html"
cmp -s "$T/fleet.html" "$T/again.html" || fail "two runs gave different HTML"
sig 2 fleet report --format pdf
one_line_error
