#!/usr/bin/env bash
# rotate start and rotate finish killed (SIGKILL injected with strace) at
# every rename and link they make, every second write (staged files are written in
# place under their temporary names) and every third fsync: after the next state-changing
# command, either the whole step is there (record, lineage statement and
# signature, key retired) with its audit record, or none of it is; the
# audit log verifies and no temporary file or intent is left.
. "$(dirname "$0")/../lib.sh"
command -v strace >/dev/null || fail "strace is needed (make deps installs it)"
new_store
sig 0 key generate old
sig 0 key generate new
cp -a "$S" "$T/pristine"
syscalls="rename link fsync write"
step() { case $1 in fsync) echo 3 ;; write) echo 2 ;; *) echo 1 ;; esac; }

# all_or_nothing WHAT: the rotation of 'old' is complete with its record, or absent without one.
all_or_nothing() {
  local what=$1 n=0 f
  for f in old.yaml old.lineage.json old.lineage.sig; do [ -e "$S/rotations/$f" ] && n=$((n + 1)); done
  local recs; recs=$(grep -c '"op":"rotate.start","label":"old"[^}]*"result":"ok"' "$S/audit.log")
  if [ "$n" = 3 ]; then
    [ "$recs" = 1 ] || fail "$what: rotation files without their audit record"
    complete=$((complete + 1))
    "$SIGNET" rotate verify old >/dev/null 2>"$T/rv.err" || { cat "$T/rv.err"; fail "$what: statement does not verify"; }
  else
    [ "$n" = 0 ] || fail "$what: $n of 3 rotation files"
    [ "$recs" = 0 ] || fail "$what: audit record without the rotation files"
    absent=$((absent + 1))
  fi
}
check_after() {
  local what=$1
  "$SIGNET" key generate "k$RANDOM$RANDOM" >/dev/null 2>"$T/next.err" || { cat "$T/next.err"; fail "$what: next command failed"; }
  "$SIGNET" audit verify >/dev/null 2>"$T/v.err" || { cat "$T/v.err"; fail "$what: audit verify"; }
  left=$(find "$S" -name '*.tmp*' ! -path '*/hsm/*' | head -3)
  [ -z "$left" ] || fail "$what: temporary files left: $left"
  [ ! -e "$S/intent.json" ] || fail "$what: intent.json left"
}

kills=0 complete=0 absent=0 retired=0 kept=0
for sc in $syscalls; do
  rm -rf "$S"; cp -a "$T/pristine" "$S"
  n=$(strace -o "$T/count" -e trace="$sc" "$SIGNET" rotate start old new >/dev/null 2>&1; grep -c "^$sc(" "$T/count")
  for i in $(seq 1 "$(step "$sc")" "$n"); do
    rm -rf "$S"; cp -a "$T/pristine" "$S"
    (strace -o /dev/null -e trace="$sc" -e inject="$sc:signal=SIGKILL:when=$i" "$SIGNET" rotate start old new >/dev/null 2>&1; true) 2>/dev/null
    kills=$((kills + 1))
    check_after "start killed at $sc #$i"
    all_or_nothing "start killed at $sc #$i"
  done
done

# finish: the key record, the rotation record and the audit record move together.
rm -rf "$S"; cp -a "$T/pristine" "$S"
sig 0 rotate start old new
cp -a "$S" "$T/started"
for sc in $syscalls; do
  rm -rf "$S"; cp -a "$T/started" "$S"
  n=$(strace -o "$T/count" -e trace="$sc" "$SIGNET" rotate finish old >/dev/null 2>&1; grep -c "^$sc(" "$T/count")
  for i in $(seq 1 "$(step "$sc")" "$n"); do
    rm -rf "$S"; cp -a "$T/started" "$S"
    (strace -o /dev/null -e trace="$sc" -e inject="$sc:signal=SIGKILL:when=$i" "$SIGNET" rotate finish old >/dev/null 2>&1; true) 2>/dev/null
    kills=$((kills + 1))
    what="finish killed at $sc #$i"
    check_after "$what"
    recs=$(grep -c '"op":"rotate.finish","label":"old"[^}]*"result":"ok"' "$S/audit.log")
    if grep -q '^retired:' "$S/keys/old.yaml"; then
      [ "$recs" = 1 ] || fail "$what: key retired without its audit record"
      grep -q '^finished:' "$S/rotations/old.yaml" || fail "$what: key retired, rotation not finished"
      retired=$((retired + 1))
    else
      [ "$recs" = 0 ] || fail "$what: audit record without the retirement"
      ! grep -q '^finished:' "$S/rotations/old.yaml" || fail "$what: rotation finished, key not retired"
      kept=$((kept + 1))
    fi
  done
done
[ "$kills" -gt 20 ] || fail "only $kills injection points"
# Kills before and after the commit point were both hit.
[ "$complete" -gt 0 ] && [ "$absent" -gt 0 ] && [ "$retired" -gt 0 ] && [ "$kept" -gt 0 ] ||
  fail "start: $complete complete, $absent absent; finish: $retired retired, $kept kept"
note "SIGKILL at $kills injected syscalls of rotate start/finish: start $complete complete / $absent absent, finish $retired retired / $kept kept"
