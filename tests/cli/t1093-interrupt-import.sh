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
. "$TOP/tests/campaign.sh"
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
check_after() {
  local what=$1 records records_before pat
  campaign_store_whole "$what"
  pat="\"op\":\"$op\",\"label\":\"[a-z]*\",\"spki_sha256\":\"[0-9a-f]*\",\"result\":\"ok\""
  records=$(grep -c "$pat" "$S/audit.log")
  records_before=$(grep -c "$pat" "$T/pristine/audit.log")
  if [ -e "$S/$file" ]; then
    eq "$records" "$((records_before + 1))" "$what: $file visible with $((records - records_before)) new $op records"
  else
    eq "$records" "$records_before" "$what: a $op record without $file"
  fi
}

kills=0 recovered=0
for entry in "${commands[@]}"; do
  IFS='|' read -r name file op cmd <<<"$entry"
  campaign_kills "$name" "$cmd" check_after
done
[ "$kills" -gt 10 ] || fail "only $kills injection points: strace saw too little"
note "SIGKILL at $kills injected syscalls; $recovered next commands reported a recovery"
echo "campaign: $kills kills, $recovered recoveries"
