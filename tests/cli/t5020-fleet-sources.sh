#!/usr/bin/env bash
# fleet device sources, streamed: CSV (RFC 4180: quoted header, quotes,
# embedded commas and line breaks, CRLF, columns by name, one source for
# several fleets), a multi-page `aws iot search-index` export whose
# firmware version sits in the shadow JSON string, and JSON Lines.  Stale
# devices are counted apart, unknown builds reported, never dropped.  A
# malformed CSV row or a bad JSON line is exit 3 naming file:line, and
# nothing is written.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/fleet-fixtures.inc"
fleet_fixtures
export SIGNET_NOW=2026-06-01T00:00:00Z   # stale: not seen since 2026-03-03 (90 days)

# CSV with CRLF line ends.
printf '%s\r\n' \
  'device_id,"fleet",firmware_version,last_seen,notes' \
  'd1,gen2,1.4.2,2026-05-30T10:00:00Z,plain' \
  'd2,gen2,1.4.2,2026-05-30,"note, with a comma"' \
  '"d3",gen2,"1.4.2",2026-01-01T00:00:00Z,"says ""hi"""' \
  'd4,gen2,9.9.9,2026-05-01T00:00:00+02:00,"two' \
  'lines"' \
  'd5,other,1.4.2,2026-05-30,x' \
  'd6,gen2,1.4.2,,never seen' \
  'd7,gen2,"1.4.2",2026-05-31 08:00:00,"a ""quoted"", comma"' \
  'd9,gen7,1.4.2,2026-05-31,nobody listed gen7' >"$T/devices.csv"
[ "$(grep -c $'\r$' "$T/devices.csv")" -eq 10 ] || fail "fixture is not CRLF"

# aws iot search-index: two pages (one pretty, one compact), shadow as a JSON string,
# connectivity.timestamp in milliseconds; braces and "things" inside strings.
now_ms=$(( $(date -d 2026-05-31 +%s) * 1000 ))
old_ms=$(( $(date -d 2025-12-01 +%s) * 1000 ))
cat >"$T/things.json" <<JSON
{
  "thingGroupName": "x",
  "things": [
    {
      "thingName": "t1 {\"things\":[",
      "shadow": "{\"reported\":{\"fw\":\"1.4.2\"},\"metadata\":{\"reported\":{\"fw\":{\"timestamp\":1}}},\"version\":3}",
      "connectivity": { "connected": true, "timestamp": $now_ms }
    },
    {
      "thingName": "t2",
      "shadow": "{\"reported\":{\"fw\":\"1.4.2\"}}",
      "connectivity": { "connected": false, "timestamp": $old_ms }
    }
  ],
  "nextToken": "AQFq]}"
}
{"things":[{"thingName":"t3","shadow":"{\"reported\":{\"fw\":\"2.1.0\"}}","connectivity":{"connected":true,"timestamp":$now_ms}},{"thingName":"t4","connectivity":{"connected":true,"timestamp":$now_ms}}]}
JSON
jq -s 'map(.things | length) | add' "$T/things.json" | grep -qx 4 || fail "fixture is not valid JSON to jq"

printf '%s\n' '{"id":"a","attributes":{"fw":"1.4.2"},"seen":"2026-05-31T12:00:00Z"}' \
  '' '{"id":"b","attributes":{"fw":"1.4.2"},"seen":1780000000}' >"$T/devices.jsonl"

cat >"$S/fleets.yaml" <<YAML
fleets:
  - name: gen2
    builds:
      - { version: 1.4.2, artefact: $T/fw.h, devices: 99999 }
    devices:
      source: $T/devices.csv
      format: csv
      build_field: firmware_version
      fleet_field: fleet
      last_seen_field: last_seen
  - name: other
    builds:
      - { version: 1.4.2, artefact: $T/fw.h }
    devices: { source: $T/devices.csv, format: csv, build_field: firmware_version, fleet_field: fleet }
  - name: aws
    builds:
      - { version: 1.4.2, artefact: $T/fw.bin }
    devices:
      source: $T/things.json
      format: aws-iot-search-index
      build_field: shadow.reported.fw
      last_seen_field: connectivity.timestamp
  - name: lines
    builds:
      - { version: 1.4.2, artefact: $T/fw.h }
    devices: { source: $T/devices.jsonl, format: jsonl, build_field: attributes.fw, last_seen_field: seen, stale_days: 1 }
YAML
sig 0 --json fleet report
# d5's fleet "other" is in the inventory; a fleet nobody listed is counted and said, not dropped.
has "$T/err" "^signet: warning: 1 devices in $T/devices\.csv name a fleet that is not in the inventory \(field 'fleet'\): they are not judged$"
rows() { jq -r --arg f "$1" '[.rows[] | select(.fleet==$f) | "\(.build)=\(.devices)+\(.stale_devices)"] | sort | join(" ")' "$T/out"; }
eq "$(rows gen2)" "1.4.2=3+2 unknown=1+0" "csv: counts replace the inventory's, stale apart, unknown build kept"
eq "$(rows other)" "1.4.2=1+0" "csv: fleet_field picks the fleet's rows"
eq "$(rows aws)" "1.4.2=1+1 unknown=2+0" "search-index: two pages, firmware from the shadow string"
eq "$(rows lines)" "1.4.2=1+1" "jsonl"
has "$T/out" "2 devices run builds signet has no record of: '2.1.0' \(1\), '\(none\)' \(1\)"
eq "$(jq -r '.fleets[] | select(.name=="gen2") | .unknown_build_devices' "$T/out")" 1 "unknown counted"
has "$T/out" "1 device runs builds signet has no record of: .9\.9\.9. \(1\)"

# Errors: exit 3, one line naming file:line, nothing written.
bad() {  # bad FILE LINE-REGEX
  rm -f "$T/report.prom"
  sig 3 fleet report --format prometheus --out "$T/report.prom"
  one_line_error
  has "$T/err" "$1"
  [ ! -e "$T/report.prom" ] || fail "a report was written despite the error"
  ! ls -a "$T" | grep -q 'report\.prom.' || fail "temp file left behind"
}
sed -i '/gen7/d' "$T/devices.csv"   # the error cases below want only their one error line
cp "$T/devices.csv" "$T/good.csv"
printf '%s\r\n' 'd8,gen2,1.4.2,2026-05-30,"unfinished "quote' >>"$T/devices.csv"
bad "devices\.csv:10: malformed CSV"
cp "$T/good.csv" "$T/devices.csv"
printf '%s\r\n' 'd8,gen2,1.4.2' >>"$T/devices.csv"
bad "devices\.csv:10: malformed row: 3 fields where the header has 5"
cp "$T/good.csv" "$T/devices.csv"
printf '%s\r\n' 'd8,gen2,1.4.2,last tuesday,x' >>"$T/devices.csv"
bad "devices\.csv:10: column 'last_seen': 'last tuesday' is not an ISO 8601 time"
cp "$T/good.csv" "$T/devices.csv"
printf '%s\n' '{"id":"c","attributes":{"fw":"1.4.2"},"seen":"2026-05-30T00:00:00Z"' >>"$T/devices.jsonl"
bad "devices\.jsonl:4: bad JSON"
sed -i '$d' "$T/devices.jsonl"
head -c -60 "$T/things.json" >"$T/t.json" && mv "$T/t.json" "$T/things.json"
bad "things\.json:[0-9]+: "
sig 0 fleet report gen2 --format prometheus --out "$T/report.prom"
[ -s "$T/report.prom" ] || fail "no report after fixing the sources"
