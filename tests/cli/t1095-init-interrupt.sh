#!/usr/bin/env bash
# init killed at each of its writes (strace injection).  Before the store is
# renamed into place there is no store; after, the store is whole: the next
# command succeeds, the audit head is signed by the token's audit key (an
# audit key half made by the killed init is destroyed, never adopted), and
# audit verify and audit custody pass.  What an init killed before its rename
# left beside the store (a token and PINs, no keys) is removed by the next init.
. "$(dirname "$0")/../lib.sh"
command -v strace >/dev/null || fail "strace is needed (make deps installs it)"
n=$(strace -f -o "$T/tr" -e trace=write "$SIGNET" --store "$T/count" init >/dev/null 2>&1; grep -c 'write(' "$T/tr")
[ "$n" -gt 20 ] || fail "init makes only $n writes (test is not testing)"
whole=0 swept=0
for i in $(seq 1 "$n"); do
  s="$T/s$i"
  bash -c 'strace -f -o /dev/null -e trace=write -e inject=write:signal=SIGKILL:when='"$i"' "$@"; true' _ "$SIGNET" --store "$s" init >/dev/null 2>&1
  if [ ! -e "$s/signet.yaml" ]; then
    # No store: what the killed init built (a token and its PINs, no keys) is beside it, and the
    # next init at that path removes it, saying so.  Checked at every second such kill.
    left=$(ls -d "$T"/.s"$i".init* 2>/dev/null | head -1)
    if [ -n "$left" ] && [ $((i % 2)) -eq 0 ]; then
      "$SIGNET" --store "$s" init >/dev/null 2>"$T/err" || { cat "$T/err"; fail "init killed at write $i: the next init failed"; }
      has "$T/err" "recovered: removed '$left', left by an init that was interrupted"
      [ -z "$(ls -d "$T"/.s"$i".init* 2>/dev/null)" ] || fail "init killed at write $i: its temporary store is still there"
      [ ! -e "$s/.init.lock" ] || fail "init's lock file left in the store"
      swept=$((swept + 1))
    fi
    rm -rf "$s" "$T"/.s"$i".init*
    continue
  fi
  whole=$((whole + 1))
  "$SIGNET" --store "$s" key generate k >/dev/null 2>"$T/err" || { cat "$T/err"; fail "init killed at write $i: the next command failed"; }
  "$SIGNET" --store "$s" audit verify >"$T/out" 2>"$T/err" || { cat "$T/err"; fail "init killed at write $i: audit verify"; }
  has "$T/out" "head signed by the audit key"
  "$SIGNET" --store "$s" audit custody >"$T/out" 2>&1 || { cat "$T/out"; fail "init killed at write $i: audit custody"; }
  [ -z "$(ls "$s/intents" 2>/dev/null)" ] || fail "init killed at write $i: an intent left"
  rm -rf "$s"
done
[ "$whole" -gt 10 ] || fail "only $whole of $n kills came after the store was in place"
[ "$swept" -ge 3 ] || fail "only $swept temporary stores of killed inits were swept (test is not testing)"
note "init killed at each of $n writes; $whole left a store, every one whole; $swept leftovers swept by the next init"
