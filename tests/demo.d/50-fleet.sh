# Chapter 5: fleets.  Will every device stay updatable?  Three fleets: one
# healthy (its devices trust fw, in custody; population from an AWS IoT
# fleet-index export), one stranded (its build bakes a certificate whose
# key an old laptop took with it), one whose firmware checks certificate
# expiry (so a rebuild must reach it before the baked certificate
# expires).  Sourced by tests/demo.sh ($SIGNET, $S, $W, $TOP set).
if [ ! -f "$S/certs/fw/current.pem" ]; then
  show "$SIGNET" cert issue fw
fi
"$SIGNET" header fw --out "$W/fleet-fw.h" >/dev/null 2>&1
step "Fleet 1. Record what each build bakes in, read from the build's own artefact"
{ head -c 4096 /dev/urandom; openssl x509 -in "$S/certs/fw/current.pem" -outform DER; head -c 4096 /dev/urandom; } >"$W/sensors-1.4.2.bin"
show "$SIGNET" fleet build add sensors-gen2 1.4.2 "$W/sensors-1.4.2.bin"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/laptop.key" -subj "/CN=ota-signer-2019" \
  -days 900 -out "$W/laptop.pem" 2>/dev/null
rm -f "$W/laptop.key"   # the laptop is gone, and the key with it
(cd "$W" && "$SIGNET" header ./laptop.pem --out "$W/legacy_ota_demo_config.h" >/dev/null 2>&1)
show "$SIGNET" fleet build add legacy-gen1 0.9.7 "$W/legacy_ota_demo_config.h" --devices 4200 || true
show "$SIGNET" fleet build add meters 3.1.0 "$W/fleet-fw.h" --devices 18000

step "Fleet 2. The inventory: fleets, rollout and margin, who checks expiry, where the devices are counted"
now_ms=$(( $(date +%s) * 1000 ))
old_ms=$(( ($(date +%s) - 200 * 86400) * 1000 ))
shadow() { printf '"{\\"reported\\":{\\"fw\\":\\"%s\\"}}"' "$1"; }
{
  printf '{"things":['
  for i in 1 2 3 4 5 6; do printf '%s{"thingName":"sensor-%02d","shadow":%s,"connectivity":{"connected":true,"timestamp":%s}}' \
    "$([ "$i" = 1 ] || echo ,)" "$i" "$(shadow 1.4.2)" "$now_ms"; done
  printf '],"nextToken":"p2"}\n{"things":['
  printf '{"thingName":"sensor-07","shadow":%s,"connectivity":{"connected":false,"timestamp":%s}},' "$(shadow 1.4.2)" "$old_ms"
  printf '{"thingName":"sensor-08","shadow":%s,"connectivity":{"connected":true,"timestamp":%s}}]}\n' "$(shadow 1.3.0)" "$now_ms"
} >"$S/things.json"
cat >"$S/fleets.yaml" <<YAML
fleets:
  - name: sensors-gen2
    rollout_days: 21
    margin_days: 30
    devices:                        # every page of aws iot search-index (the loop in docs/fleet.md)
      source: things.json
      format: aws-iot-search-index
      build_field: shadow.reported.fw
      last_seen_field: connectivity.timestamp
  - name: legacy-gen1
  - name: meters
    rollout_days: 45
    checks_expiry: true             # this firmware refuses images once its baked certificate has expired
YAML
printf '$ cat %s\n' "$S/fleets.yaml"; cat "$S/fleets.yaml"

step "Fleet 3. The report: stranded first, in plain words, then what is due and by when"
show "$SIGNET" fleet report
show "$SIGNET" fleet check || true

step "Fleet 4. Ten months on: the meters' deadline (not_after - rollout - margin) has passed"
later=$(date -u -d '+300 days' +%Y-%m-%dT00:00:00Z)
printf '$ SIGNET_NOW=%s signet fleet check meters\n' "$later"
SIGNET_NOW=$later "$SIGNET" fleet check meters || true

step "Fleet 5. For dashboards and calendars: Prometheus textfile, one HTML page, ICS"
show "$SIGNET" fleet report --format prometheus --out "$W/signet_fleet.prom"
head -12 "$W/signet_fleet.prom"
show "$SIGNET" fleet report --format html --out "$W/fleet.html"
show "$SIGNET" fleet report --format ics --out "$W/fleet.ics"
if command -v chromium >/dev/null; then
  timeout 60 chromium --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run \
    --user-data-dir="$W/chrome" --hide-scrollbars --window-size=1280,1100 --screenshot="$W/fleet.png" \
    "file://$W/fleet.html" >/dev/null 2>&1 && printf 'rendered %s with headless Chromium: %s\n' "$W/fleet.html" "$W/fleet.png"
  if [ -n "${DEMO_FLEET_SCREENSHOT:-}" ] && [ -f "$W/fleet.png" ]; then cp "$W/fleet.png" "$DEMO_FLEET_SCREENSHOT"; fi
fi
