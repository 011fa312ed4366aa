# Sourced by tests/bench.sh ($SIGNET, $BUILD, $W set): a fleet report over
# a 1M-device CSV against a bare fgets+strtok scan of the same file, and
# signet's peak memory at 100k vs 1M devices (it must stay flat: memory
# grows with builds, never with devices).
echo "== fleet report: 1M-device CSV vs a bare fgets+strtok scan; peak memory 100k vs 1M devices"
FW=$W/fleet
mkdir -p "$FW"
export SIGNET_STORE="$FW/store"
"$SIGNET" init >/dev/null
"$SIGNET" key generate fw >/dev/null
"$SIGNET" cert issue fw >/dev/null
"$SIGNET" header fw --out "$FW/fw.h" >/dev/null 2>&1
gen() {  # gen N FILE: id,fleet,firmware_version,last_seen,region (five builds, one unknown)
  awk -v n="$1" 'BEGIN { print "device_id,fleet,firmware_version,last_seen,region";
    split("1.4.0 1.4.1 1.4.2 1.5.0 9.9.9", v, " ");
    for (i = 1; i <= n; i++) printf "dev-%08d,gen2,%s,2026-%02d-%02dT12:00:00Z,eu-west-%d\n", i, v[i % 5 + 1], i % 12 + 1, i % 28 + 1, i % 3 }' >"$2"
}
N1=${BENCH_FLEET_DEVICES:-1000000}
N0=$(( N1 / 10 ))
gen "$N0" "$FW/small.csv"
gen "$N1" "$FW/large.csv"
inv() {
  cat >"$FW/$1.yaml" <<YAML
fleets:
  - name: gen2
    builds:
      - { version: 1.4.0, artefact: $FW/fw.h }
      - { version: 1.4.1, artefact: $FW/fw.h }
      - { version: 1.4.2, artefact: $FW/fw.h }
      - { version: 1.5.0, artefact: $FW/fw.h }
    devices: { source: $FW/$1.csv, format: csv, build_field: firmware_version, fleet_field: fleet, last_seen_field: last_seen }
YAML
}
inv small; inv large
best() {  # best FIELD ARGS...: the best of three bench_fleet runs
  local f=$1 b="" v i
  shift
  for i in 1 2 3; do
    v=$("$BUILD/bench/bench_fleet" "$@" | awk -v f="$f" '$1 == f { print $2 }')
    if [ -z "$b" ] || awk -v a="$v" -v b="$b" 'BEGIN { exit !(a < b) }'; then b=$v; fi
  done
  echo "$b"
}
cat "$FW/large.csv" >/dev/null   # warm the page cache for both
bare=$(best scan_s scan "$FW/large.csv" 2)
sig=$(best run_s run "$SIGNET" fleet report --inventory "$FW/large.yaml" --format prometheus)
"$SIGNET" --json fleet report --inventory "$FW/large.yaml" | jq -r '[.rows[] | "\(.build)=\(.devices + .stale_devices)"] | join(" ")' >"$FW/counts"
"$BUILD/bench/bench_fleet" scan "$FW/large.csv" 2 | awk '$1 == "count" { printf "%s%s=%s", sep, $2, $3; sep=" " }' >"$FW/bare_counts"
rss0=$("$BUILD/bench/bench_fleet" run "$SIGNET" fleet report --inventory "$FW/small.yaml" | awk '$1 == "maxrss_kib" { print $2 }')
rss1=$("$BUILD/bench/bench_fleet" run "$SIGNET" fleet report --inventory "$FW/large.yaml" | awk '$1 == "maxrss_kib" { print $2 }')
echo "signet counts: $(cat "$FW/counts")"
echo "bare counts:   $(cat "$FW/bare_counts")"
awk -v s="$sig" -v b="$bare" -v n="$N1" -v sz="$(stat -c %s "$FW/large.csv")" \
  'BEGIN { printf "report over %d devices (%.0f MiB CSV): signet %.3fs (RFC 4180 via libcsv, store, custody, judgement) = %.2fx a bare fgets+strtok scan (%.3fs); target <= 1.5x\n", n, sz/1048576, s, s/b, b }'
awk -v a="$rss0" -v b="$rss1" -v n0="$N0" -v n1="$N1" \
  'BEGIN { printf "peak memory: %d KiB at %d devices, %d KiB at %d devices: %.2fx for 10x the devices (flat = 1.00x)\n", a, n0, b, n1, b/a }'
