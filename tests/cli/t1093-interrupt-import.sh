#!/usr/bin/env bash
# The interruption campaign of t1090 for `key import`: SIGKILL injected
# (strace) at every write, rename, link, unlink, ftruncate and fsync it
# makes, in turn.  After each interruption the next state-changing command
# succeeds, `audit verify` and `audit custody` pass, no temporary file or
# intent is left, every key recorded before is still on the token, and the
# key record is visible only with its key.import record.  Prints the
# counts it ran.  (No certificate here: a test that issues one is run on
# two more dates by tests/run.sh, and this one judges no validity.)
. "$(dirname "$0")/../lib.sh"
command -v strace >/dev/null || fail "strace is needed (make deps installs it)"
new_store
sig 0 key generate fw
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/legacy.pem" 2>/dev/null || fail "openssl genpkey"
head -c 20000 /dev/urandom >"$T/img.bin"
mkdir "$T/od"
cp -a "$S" "$T/pristine"
keys_before=$(ls "$S/keys" | sort | tr '\n' ' ')

commands=(
  "import|keys/legacy.yaml|key.import|$SIGNET key import legacy --private-key $T/legacy.pem"
)
syscalls="write rename link unlink ftruncate fsync"

check_after() {
  local what=$1 file=$2 op=$3 records
  "$SIGNET" sign "$T/img.bin" --key fw --out "$T/od/next.sig" >"$T/next.out" 2>"$T/next.err" ||
    { cat "$T/next.err"; fail "$what: the next command failed"; }
  "$SIGNET" audit verify >"$T/v.out" 2>"$T/v.err" || { cat "$T/v.err"; fail "$what: audit verify"; }
  "$SIGNET" audit custody >"$T/c.out" 2>"$T/c.err" || { cat "$T/c.out" "$T/c.err"; fail "$what: audit custody"; }
  left=$(find "$S" "$T/od" -name '*.tmp*' ! -path '*/hsm/tokens/*' | head -3)
  [ -z "$left" ] || fail "$what: temporary files left: $left"
  [ -z "$(ls "$S/intents" 2>/dev/null)" ] || fail "$what: an intent left after recovery: $(ls "$S/intents")"
  for k in $keys_before; do
    grep -q "^  ${k%.yaml} " "$T/c.out" || { cat "$T/c.out"; fail "$what: key ${k%.yaml} lost"; }
  done
  records=$(grep -c "\"op\":\"$op\",\"label\":\"[a-z]*\",\"spki_sha256\":\"[0-9a-f]*\",\"result\":\"ok\"" "$S/audit.log")
  records_before=$(grep -c "\"op\":\"$op\",\"label\":\"[a-z]*\",\"spki_sha256\":\"[0-9a-f]*\",\"result\":\"ok\"" "$T/pristine/audit.log")
  if [ -e "$S/$file" ]; then
    eq "$records" "$((records_before + 1))" "$what: $file visible with $((records - records_before)) new $op records"
  else
    eq "$records" "$records_before" "$what: a $op record without $file"
  fi
}

kills=0 recovered=0
for entry in "${commands[@]}"; do
  IFS='|' read -r name file op cmd <<<"$entry"
  for sc in $syscalls; do
    rm -rf "$S" "$T/od"/*; cp -a "$T/pristine" "$S"
    n=$(strace -o "$T/count" -e trace="$sc" $cmd >/dev/null 2>&1; grep -c "^$sc(" "$T/count")
    for i in $(seq 1 "$n"); do
      rm -rf "$S" "$T/od"/*; cp -a "$T/pristine" "$S"
      strace -o /dev/null -e trace="$sc" -e inject="$sc:signal=SIGKILL:when=$i" $cmd >/dev/null 2>"$T/kill.err"
      kills=$((kills + 1))
      check_after "$name killed at $sc #$i" "$file" "$op"
      grep -q "recovered" "$T/next.err" && recovered=$((recovered + 1))
    done
  done
done
[ "$kills" -gt 10 ] || fail "only $kills injection points: strace saw too little"
note "SIGKILL at $kills injected syscalls; $recovered next commands reported a recovery"
echo "campaign: $kills kills, $recovered recoveries"
