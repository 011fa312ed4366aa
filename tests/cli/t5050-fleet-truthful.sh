#!/usr/bin/env bash
# fleet reports that never say something untrue (issue 17 items 3-5):
# - a real-shaped `aws iot search-index` export (shadow as a JSON string,
#   thingGroupNames lists) whose last page has a nextToken is refused (exit
#   3, one line naming the file), and nothing is written; every page,
#   exported with the loop docs/fleet.md shows (run against a stand-in for
#   the AWS CLI that serves the pages by token), is counted in full, as jq
#   counts it; a page after the last one is refused (two exports);
# - fleet_field thingGroupNames: a device in two groups counts in both;
# - a fleet whose devices all run builds nobody recorded is `unknown` in
#   table, JSON, CSV, HTML and Prometheus (promtool), never ok, with the
#   count visible, and `fleet check` calls it a finding (exit 1);
# - --out files follow the umask (0644 under 022, 0600 under 077) while
#   store files stay 0600, and node_exporter running as `prometheus` reads
#   the textfile (node_textfile_scrape_error 0);
# - ICS: events carry the action and deadline, not today's status; a
#   passed deadline is said passed; HTML never shows a passed deadline as
#   the next one (checked in the DOM Chromium renders).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/fleet-fixtures.inc"
fleet_fixtures
export SIGNET_NOW=2026-06-01T00:00:00Z   # fw's signer certificate is fine until its window opens 2026-12-02

# 250 things in pages of 100, 100 and 50, as the AWS CLI prints them
# (4-space indent; shadow is a JSON string; thingGroupNames a list).
# Every 5th device is in gen2 and lab; every 7th (not 5th) in lab only;
# every 11th (neither) in no group we list; devices 1 and 2 in no group.
mkdir -p "$T/pages" "$T/bin"
/usr/bin/python3 - "$T/pages" <<'PY'
import json, sys
d = sys.argv[1]
def groups(i):
    if i in (1, 2): return []
    if i % 5 == 0: return ["gen2", "lab"]
    if i % 7 == 0: return ["lab"]
    if i % 11 == 0: return ["eu-west-warehouse"]
    return ["gen2"]
things = []
for i in range(1, 251):
    fw = "1.5.0" if i % 7 == 0 and i % 5 else "1.4.2"
    shadow = {"reported": {"fw": fw, "uptime": i}, "metadata": {"reported": {"fw": {"timestamp": 1780000000}}},
              "hasDelta": False, "version": i}
    things.append({"thingName": "sensor-%04d" % i, "thingId": "id-%d" % i, "thingTypeName": "sensor",
                   "thingGroupNames": groups(i), "attributes": {"model": "s2"},
                   "shadow": json.dumps(shadow, separators=(",", ":")),
                   "connectivity": {"connected": True, "timestamp": 1780000000000 + i}})
pages = [things[0:100], things[100:200], things[200:250]]
names = ["first", "AQABAgMEBQYH+page2==", "AQABAgMEBQYH+page3=="]
for n, (name, page) in enumerate(zip(names, pages)):
    doc = {"things": page}
    if n + 1 < len(pages):
        doc["nextToken"] = names[n + 1]
    open("%s/%s.json" % (d, name.replace("/", "_")), "w").write(json.dumps(doc, indent=4) + "\n")
PY
# Stand-in for `aws iot search-index`: serves the page a token names, as the service would.
cat >"$T/bin/aws" <<SH
#!/bin/sh
[ "\$1 \$2" = "iot search-index" ] || { echo "aws stand-in: unexpected \$*" >&2; exit 255; }
token=first
while [ \$# -gt 0 ]; do [ "\$1" = --next-token ] && token=\$2; shift; done
cat "$T/pages/\$token.json"
SH
chmod +x "$T/bin/aws"
count() { cat "$T/pages"/*.json | jq -s --arg g "$1" '[.[].things[] | select(.thingGroupNames | index($g))] | length'; }
GEN2=$(count gen2) LAB=$(count lab)
eq "$GEN2 $LAB" "205 78" "fixture: devices per group, as jq counts them"

cat >"$S/fleets.yaml" <<YAML
fleets:
  - name: gen2
    builds:
      - { version: 1.4.2, artefact: $T/fw.bin }
    devices:
      source: $T/things.json
      format: aws-iot-search-index
      build_field: shadow.reported.fw
      fleet_field: thingGroupNames
      last_seen_field: connectivity.timestamp
  - name: lab
    devices: { source: $T/things.json, format: aws-iot-search-index, build_field: shadow.reported.fw,
               fleet_field: thingGroupNames }
YAML

# One page, as `aws iot search-index` alone writes it: refused, nothing written.
cp "$T/pages/first.json" "$T/things.json"
before=$(snapshot)
sig 3 fleet report --format prometheus --out "$T/report.prom"
one_line_error
has "$T/err" "^signet: $T/things\.json: incomplete aws iot search-index export: its last page \(line 1\) has a nextToken, so devices are missing; .*--next-token"
[ ! -e "$T/report.prom" ] || fail "a report was written from an incomplete export"
sig 3 fleet check
one_line_error
eq "$(snapshot)" "$before" "store changed by a refused report"

# Every page, exported with the loop docs/fleet.md shows.
sed -n '/^set -e$/,/^rm page\.json$/p' "$TOP/docs/fleet.md" >"$T/export.sh"
[ "$(wc -l <"$T/export.sh")" -gt 5 ] || fail "the export loop is not in docs/fleet.md"
(cd "$T" && PATH="$T/bin:$PATH" sh "$T/export.sh") || fail "the documented export loop failed"
eq "$(grep -c '"nextToken"' "$T/things.json")" 2 "three pages, two with a token"
sig 0 --json fleet report
eq "$(jq -r '.fleets[] | select(.name=="gen2") | .devices' "$T/out")" "$GEN2" "gen2: every page counted"
eq "$(jq -r '.fleets[] | select(.name=="lab") | .unknown_build_devices' "$T/out")" "$LAB" "lab: every device, also those in gen2"
has "$T/err" "^signet: warning: 17 devices in $T/things\.json name a fleet that is not in the inventory \(field 'thingGroupNames'\): they are not judged$"
eq "$(jq -r '.summary.devices' "$T/out")" $((GEN2 + LAB)) "a device in two fleets counts in both"

# A fleet nobody can vouch for: lab's devices all run builds nobody recorded.
eq "$(jq -r '[.fleets[] | "\(.name)=\(.status)"] | join(" ")' "$T/out")" "gen2=ok lab=unknown" "fleet statuses"
eq "$(jq -r '.summary.fleets_by_status | "\(.ok) \(.unknown)"' "$T/out")" "1 1" "JSON summary by status"
sig 0 fleet report lab
has "$T/out" "^fleet lab: unknown \($LAB devices on builds nobody recorded\)$"
hasnt "$T/out" "^fleet lab: ok"
has "$T/out" " 0 ok, 0 due, 0 overdue, 0 stranded, 1 unknown"
sig 0 fleet report lab --format csv --out "$T/lab.csv"
run 0 /usr/bin/python3 -c 'import csv,sys; r=list(csv.DictReader(open(sys.argv[1], newline=""))); print(" ".join(sorted({x["status"]+"/"+x["fleet_status"] for x in r})), sum(int(x["devices"]) for x in r))' "$T/lab.csv"
eq "$(cat "$T/out")" "unknown/unknown $LAB" "CSV: rows and fleet unknown, devices counted"
sig 0 fleet report --format prometheus --out "$T/fleet.prom"
run 0 promtool check metrics <"$T/fleet.prom"
has "$T/fleet.prom" '^signet_fleet_status\{fleet="lab",status="unknown"\} 1$'
has "$T/fleet.prom" '^signet_fleet_status\{fleet="lab",status="ok"\} 0$'
has "$T/fleet.prom" '^signet_fleet_status\{fleet="gen2",status="ok"\} 1$'
has "$T/fleet.prom" '^signet_fleet_status\{fleet="gen2",status="unknown"\} 0$'
has "$T/fleet.prom" "^signet_fleet_devices\{fleet=\"lab\",build=\"unknown\",key=\"unknown\"\} $LAB$"
sig 0 fleet report lab --format html --out "$T/lab.html"
chrome() { timeout 60 chromium --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run \
  --user-data-dir="$T/chrome" --hide-scrollbars "$@" 2>>"$T/chrome.log"; }
chrome --dump-dom "file://$T/lab.html" >"$T/dom.html" || { cat "$T/chrome.log"; fail "chromium could not render the report"; }
has "$T/dom.html" '<b style="color:#555555">1</b><span>unknown</span>'
has "$T/dom.html" '<b style="color:#1b7f3b">0</b><span>ok</span>'
has "$T/dom.html" "<b>$LAB</b><span>devices \(0 stale; $LAB on builds nobody recorded\)</span>"
has "$T/dom.html" '<tr class="unknown"><td class="st" style="color:#555555">unknown</td><td data-l="fleet">lab<'
hasnt "$T/dom.html" '<tr class="ok"'
has "$T/dom.html" ">unknown: $LAB devices on builds nobody recorded</text>"
sig 1 fleet check lab
has "$T/out" "^lab unknown -: unknown: $LAB devices run builds signet has no record of: '1\.4\.2' \([0-9]+\), '1\.5\.0' \([0-9]+\)"
hasnt "$T/out" "ok"

# Outputs follow the umask; the store stays 0600/0700.
(umask 022 && "$SIGNET" fleet report --format prometheus --out "$T/u022.prom" 2>/dev/null) || fail "report under umask 022"
(umask 077 && "$SIGNET" fleet report --format prometheus --out "$T/u077.prom" 2>/dev/null) || fail "report under umask 077"
(umask 022 && "$SIGNET" header fw --out "$T/u022.h" >/dev/null 2>&1) || fail "header under umask 022"
(umask 022 && "$SIGNET" sign "$T/fw.bin" --key fw --out "$T/u022.sig" >/dev/null 2>&1) || fail "sign under umask 022"
eq "$(stat -c %a "$T/u022.prom") $(stat -c %a "$T/u077.prom") $(stat -c %a "$T/u022.h") $(stat -c %a "$T/u022.sig")" \
  "644 600 644 644" "output modes (report, report, header, signature)"
cp "$T/u077.prom" "$T/over.prom" && chmod 600 "$T/over.prom"
(umask 022 && "$SIGNET" fleet report --format prometheus --out "$T/over.prom" 2>/dev/null) || fail "report replacing a file"
eq "$(stat -c %a "$T/over.prom")" 644 "a replaced output gets the umask's mode"
(umask 022 && "$SIGNET" fleet build add gen2 1.9.0 "$T/fw.h" >/dev/null 2>&1) || fail "build add under umask 022"
# fleets.yaml is the test's own (written by people); everything signet wrote is checked.
bad=$(find "$S" \( -path "$S/hsm/tokens" -prune \) -o \( -type f ! -name fleets.yaml ! -perm 600 -print \) -o \( -type d ! -perm 700 -print \) | head -1)
[ -z "$bad" ] || fail "store file $bad has mode $(stat -c %a "$bad") after running under umask 022"

# node_exporter's textfile collector, as Debian runs it (user prometheus), reads the report.
if id prometheus >/dev/null 2>&1 && command -v prometheus-node-exporter >/dev/null; then
  mkdir -m 755 "$T/textfile" && chmod 711 "$T"
  (umask 022 && "$SIGNET" fleet report --format prometheus --out "$T/textfile/signet.prom" 2>/dev/null) || fail "report to textfile dir"
  port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  runuser -u prometheus -- prometheus-node-exporter --collector.disable-defaults --collector.textfile \
    --collector.textfile.directory="$T/textfile" --web.listen-address="127.0.0.1:$port" >"$T/ne.log" 2>&1 &
  ne=$!
  for _ in $(seq 50); do
    /usr/bin/python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' \
      "http://127.0.0.1:$port/metrics" >"$T/scrape" 2>/dev/null && break
    sleep 0.2
  done
  kill "$ne" 2>/dev/null; wait "$ne" 2>/dev/null
  has "$T/scrape" '^node_textfile_scrape_error 0$'
  has "$T/scrape" '^signet_fleet_status\{fleet="lab",status="unknown"\} 1$'
  chmod 700 "$T"
else
  note "no prometheus user or prometheus-node-exporter: textfile scrape not checked"
fi

# A page after the last one: two exports in one file, refused.
cat "$T/pages/first.json" >>"$T/things.json"
sig 3 fleet report
one_line_error
has "$T/err" "things\.json:[0-9]+: two aws iot search-index exports in one file: page 3 has no nextToken"
# A group list holding something other than strings: file:line.
(cd "$T" && PATH="$T/bin:$PATH" sh "$T/export.sh") || fail "export loop"
sed -i '0,/"gen2"$/s//7/' "$T/things.json"
sig 3 fleet report
one_line_error
has "$T/err" "things\.json:[0-9]+: field 'thingGroupNames' is a list holding something other than strings"

# Passed deadlines: on 2026-12-05 secure's rebuild deadline (2026-11-11) has passed.
export SIGNET_NOW=2026-12-05T00:00:00Z
cat >"$S/fleets.yaml" <<YAML
fleets:
  - name: secure
    rollout_days: 21
    checks_expiry: true
    builds: [ { version: "2.0.0", artefact: $T/fw.h, devices: 3000 } ]
YAML
sig 0 fleet report --format ics --out "$T/fleet.ics"
run 0 /usr/bin/python3 - "$T/fleet.ics" <<'PY'
import sys, icalendar
cal = icalendar.Calendar.from_ical(open(sys.argv[1], 'rb').read())
for e in cal.walk('VEVENT'):
    print(e.decoded('dtstart').isoformat(), str(e['summary']), '|', str(e['categories'].to_ical(), 'ascii'))
PY
has "$T/out" '^2026-12-05 signet: rebuild secure 2\.0\.0 \(key fw\): deadline passed on 2026-11-11 \| signet,rebuild$'
has "$T/out" '^2026-12-05 signet: renew gen2 1\.9\.0 \(key fw\): renewal window opened 2026-12-02 \| signet,renew$'
hasnt "$T/out" '\b(ok|due|overdue)\b'
sig 0 fleet report --format html --out "$T/fleet.html"
chrome --dump-dom "file://$T/fleet.html" >"$T/dom.html" || { cat "$T/chrome.log"; fail "chromium could not render the report"; }
has "$T/dom.html" '<b style="color:#c0392b">2026-11-11</b><span>deadline passed 24 days ago: secure rebuild</span>'
hasnt "$T/dom.html" 'next deadline'
has "$T/dom.html" 'data-l="deadline">2026-11-11 passed<'
chrome --window-size=1200,1600 --screenshot="$T/fleet.png" "file://$T/fleet.html" || fail "no screenshot"
if [ -n "${FLEET_SCREENSHOT:-}" ]; then cp "$T/fleet.png" "$FLEET_SCREENSHOT"; fi
sig 0 fleet report
has "$T/out" "; a deadline has passed: 2026-11-11 \(secure 2\.0\.0\)$"
