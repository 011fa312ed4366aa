#!/usr/bin/env bash
# The interruption campaign of t1090 for `fleet build add`: SIGKILL injected
# (strace) at every write, rename, link, unlink, ftruncate and fsync it
# makes, in turn, and SIGTERM at random moments.  After each interruption
# the next state-changing command succeeds, `audit verify` and `audit
# custody` pass, no temporary file or intent is left, and the build record
# is visible exactly when its audit record is there (never before it), whole.
# Prints the counts it ran.
. "$(dirname "$0")/../lib.sh"
command -v strace >/dev/null || fail "strace is needed (make deps installs it)"
new_store
sig 0 key generate fw
sig 0 cert issue fw --days 40
sig 0 header fw --out "$T/fw.h"
head -c 20000 /dev/urandom >"$T/img.bin"
mkdir "$T/od"
cp -a "$S" "$T/pristine"
rec="$S/fleets/gen1/1.0.yaml"
want_sha=$(sha256sum "$T/fw.h" | cut -d' ' -f1)
cmd="$SIGNET fleet build add gen1 1.0 $T/fw.h"
syscalls="write rename link unlink ftruncate fsync"

check_after() {
  local what=$1 records
  "$SIGNET" sign "$T/img.bin" --key fw --out "$T/od/next.sig" >"$T/next.out" 2>"$T/next.err" ||
    { cat "$T/next.err"; fail "$what: the next command failed"; }
  "$SIGNET" audit verify >"$T/v.out" 2>"$T/v.err" || { cat "$T/v.err"; fail "$what: audit verify"; }
  "$SIGNET" audit custody >"$T/c.out" 2>"$T/c.err" || { cat "$T/c.out" "$T/c.err"; fail "$what: audit custody"; }
  left=$(find "$S" "$T/od" -name '*.tmp*' ! -path '*/hsm/tokens/*' | head -3)
  [ -z "$left" ] || fail "$what: temporary files left: $left"
  [ -z "$(ls "$S/intents" 2>/dev/null)" ] || fail "$what: an intent left after recovery: $(ls "$S/intents")"
  records=$(grep -c '"op":"fleet.build.add"' "$S/audit.log")
  if [ -e "$rec" ]; then
    eq "$records" 1 "$what: build record visible with $records audit records"
    eq "$(yaml_get "$rec" artefact_sha256)" "$want_sha" "$what: build record whole"
  else
    eq "$records" 0 "$what: audit record without its build record"
  fi
  # The build can be recorded (again, or now): once recorded it is refused, else it succeeds.
  if [ -e "$rec" ]; then
    $cmd >/dev/null 2>"$T/again.err" && fail "$what: a recorded build was recorded twice"
    grep -q "already exists" "$T/again.err" || { cat "$T/again.err"; fail "$what: refusal of the second add"; }
  else
    $cmd >/dev/null 2>"$T/again.err" || { cat "$T/again.err"; fail "$what: the add after the interruption failed"; }
    [ -e "$rec" ] || fail "$what: the add after the interruption left no record"
  fi
}

kills=0 terms=0 recovered=0
for sc in $syscalls; do
  rm -rf "$S" "$T/od"/*; cp -a "$T/pristine" "$S"
  n=$(strace -o "$T/count" -e trace="$sc" $cmd >/dev/null 2>&1; grep -c "^$sc(" "$T/count")
  for i in $(seq 1 "$n"); do
    rm -rf "$S" "$T/od"/*; cp -a "$T/pristine" "$S"
    strace -o /dev/null -e trace="$sc" -e inject="$sc:signal=SIGKILL:when=$i" $cmd >/dev/null 2>"$T/kill.err"
    kills=$((kills + 1))
    check_after "fleet build add killed at $sc #$i"
    grep -q "recovered" "$T/next.err" && recovered=$((recovered + 1))
  done
done
for i in $(seq 1 12); do
  rm -rf "$S" "$T/od"/*; cp -a "$T/pristine" "$S"
  ( trap - EXIT; exec $cmd >/dev/null 2>&1 ) &   # the test's EXIT trap must not run in the child
  pid=$!
  sleep "0.0$((RANDOM % 9))$((RANDOM % 10))"
  kill -TERM "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  terms=$((terms + 1))
  check_after "fleet build add terminated (try $i)"
done
[ "$kills" -gt 5 ] || fail "only $kills injection points: strace saw too little"
note "SIGKILL at $kills injected syscalls, SIGTERM $terms times; $recovered next commands reported a recovery"
echo "campaign: $kills kills, $terms terms, $recovered recoveries"
