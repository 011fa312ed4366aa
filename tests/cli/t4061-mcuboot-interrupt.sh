#!/usr/bin/env bash
# sign --format mcuboot interrupted: SIGKILL injected (strace) at every
# write, rename, link, unlink and fsync the command makes, in turn.  After
# each (and after SIGTERM at random moments), the next command works, `audit verify` passes, no temporary file is
# left, and a signed image that exists has its audit record (the record
# names its SHA-256) and boots (the independent verifier accepts it):
# never a signed image without its record.
. "$(dirname "$0")/../lib.sh"
command -v strace >/dev/null || fail "strace is needed (make deps installs it)"
MV="$BUILD/fakes/mcubootverify"
[ -x "$MV" ] || fail "$MV is not built (make check builds it)"
new_store
sig 0 key generate boot
sig 0 key pubkey boot --out "$T/boot.pem"
{ head -c 32 /dev/zero; head -c 3000 /dev/urandom; } >"$T/fw.bin"
mkdir "$T/od"
cp -a "$S" "$T/pristine"
cmd="$SIGNET sign $T/fw.bin --key boot --format mcuboot --version 1.0.0 --pad --slot-size 0x4000 --out $T/od/fw.signed.bin"

check_after() {
  local what=$1 f=$T/od/fw.signed.bin
  "$SIGNET" sign "$T/fw.bin" --key boot --format mcuboot --out "$T/od/next.bin" >"$T/next.out" 2>"$T/next.err" ||
    { cat "$T/next.err"; fail "$what: the next command failed"; }
  "$SIGNET" audit verify >"$T/v.out" 2>"$T/v.err" || { cat "$T/v.err"; fail "$what: audit verify"; }
  left=$(find "$S" "$T/od" -name '*.tmp*' ! -path '*/hsm/tokens/*' | head -3)
  [ -z "$left" ] || fail "$what: temporary files left: $left"
  if [ -e "$f" ]; then
    grep -q "\"output_sha256\":\"$(sha256sum "$f" | cut -c1-64)\"" "$S/audit.log" ||
      fail "$what: a signed image without its audit record"
    "$MV" "$f" "$T/boot.pem" >/dev/null || fail "$what: the signed image left behind does not boot"
    signed=$((signed + 1))
  fi
}

kills=0 signed=0
for sc in write rename link unlink fsync; do
  rm -rf "$S" "$T/od"/*; cp -a "$T/pristine" "$S"
  n=$(strace -o "$T/count" -e trace="$sc" $cmd >/dev/null 2>&1; grep -c "$sc(" "$T/count")
  for i in $(seq 1 "$n"); do
    rm -rf "$S" "$T/od"/*; cp -a "$T/pristine" "$S"
    strace -o /dev/null -e trace="$sc" -e inject="$sc:signal=SIGKILL:when=$i" $cmd >/dev/null 2>"$T/kill.err"
    kills=$((kills + 1))
    check_after "killed at $sc #$i"
  done
done
[ "$kills" -ge 10 ] || fail "only $kills injection points"
# SIGTERM at random moments: held while the token or a store write is busy, honoured after.
terms=0
for i in $(seq 1 8); do
  rm -rf "$S" "$T/od"/*; cp -a "$T/pristine" "$S"
  ( trap - EXIT; exec $cmd >/dev/null 2>&1 ) &   # the test's EXIT trap must not run in the child
  pid=$!
  sleep "0.0$((RANDOM % 9))$((RANDOM % 10))"
  kill -TERM "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  terms=$((terms + 1))
  check_after "terminated (try $i)"
done
note "SIGKILL at $kills syscalls, SIGTERM $terms times; $signed times the signed image was already committed"
echo "campaign: $kills kills, $terms terms, $signed committed"
