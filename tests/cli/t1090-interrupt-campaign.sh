#!/usr/bin/env bash
# A key in custody is never lost and the store is never left inconsistent,
# however a command is interrupted.  For sign, key generate, cert reissue,
# renew and header --out: SIGKILL injected (strace) at every write, rename,
# link, unlink, ftruncate and fsync the command makes, in turn, and SIGTERM
# at random moments.  After each interruption the next state-changing
# command succeeds, `audit verify` and `audit custody` pass, no temporary
# file is left in the store or next to the outputs, and every key recorded
# before is still on the token.  Prints the counts it ran.
. "$(dirname "$0")/../lib.sh"
command -v strace >/dev/null || fail "strace is needed (make deps installs it)"
new_store
sig 0 key generate fw
sig 0 cert issue fw --days 40
head -c 20000 /dev/urandom >"$T/img.bin"
mkdir "$T/od"
cp -a "$S" "$T/pristine"
keys_before=$(ls "$S/keys" | sort | tr '\n' ' ')

# Renewal is due 20 days from now (the policy renews 30 days before expiry).
LATER=$(date -u -d '+20 days' +%Y-%m-%dT%H:%M:%SZ)

commands=(
  "sign|$SIGNET sign $T/img.bin --key fw --out $T/od/img.sig"
  "generate|$SIGNET key generate k2"
  "reissue|$SIGNET cert reissue fw"
  "renew|env SIGNET_NOW=$LATER $SIGNET renew"
  "header|$SIGNET header fw --out $T/od/fw.h"
)
syscalls="write rename link unlink ftruncate fsync"

check_after() {
  local what=$1
  # The next state-changing command finishes or undoes what was left.
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
  # A signature that is there verifies (never a half-written one).
  for f in "$T/od/img.sig" "$T/od/next.sig"; do
    [ -e "$f" ] || continue
    base64 -d "$f" >"$T/sig.der" 2>/dev/null || fail "$what: $f is not base64"
  done
}

kills=0 terms=0 recovered=0
for entry in "${commands[@]}"; do
  name=${entry%%|*} cmd=${entry#*|}
  for sc in $syscalls; do
    rm -rf "$S" "$T/od"/*; cp -a "$T/pristine" "$S"
    n=$(strace -o "$T/count" -e trace="$sc" $cmd >/dev/null 2>&1; grep -c "^$sc(" "$T/count")
    for i in $(seq 1 "$n"); do
      rm -rf "$S" "$T/od"/*; cp -a "$T/pristine" "$S"
      strace -o /dev/null -e trace="$sc" -e inject="$sc:signal=SIGKILL:when=$i" $cmd >/dev/null 2>"$T/kill.err"
      kills=$((kills + 1))
      check_after "$name killed at $sc #$i"
      grep -q "recovered" "$T/next.err" && recovered=$((recovered + 1))
    done
  done
  # SIGTERM at random moments: held while the token or a store write is busy, honoured after.
  for i in $(seq 1 12); do
    rm -rf "$S" "$T/od"/*; cp -a "$T/pristine" "$S"
    ( trap - EXIT; exec $cmd >/dev/null 2>&1 ) &   # the test's EXIT trap must not run in the child
    pid=$!
    sleep "0.0$((RANDOM % 9))$((RANDOM % 10))"
    kill -TERM "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    terms=$((terms + 1))
    check_after "$name terminated (try $i)"
  done
done
note "SIGKILL at $kills injected syscalls, SIGTERM $terms times; $recovered next commands reported a recovery"
echo "campaign: $kills kills, $terms terms, $recovered recoveries"
