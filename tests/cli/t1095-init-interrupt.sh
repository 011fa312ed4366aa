#!/usr/bin/env bash
# init killed at each of its writes (strace injection).  Before the store is
# renamed into place there is no store; after, the store is whole: the next
# command succeeds, the audit head is signed by the token's audit key (an
# audit key half made by the killed init is destroyed, never adopted), and
# audit verify and audit custody pass.
. "$(dirname "$0")/../lib.sh"
command -v strace >/dev/null || fail "strace is needed (make deps installs it)"
n=$(strace -f -o "$T/tr" -e trace=write "$SIGNET" --store "$T/count" init >/dev/null 2>&1; grep -c 'write(' "$T/tr")
[ "$n" -gt 20 ] || fail "init makes only $n writes (test is not testing)"
whole=0
for i in $(seq 1 "$n"); do
  s="$T/s$i"
  bash -c 'strace -f -o /dev/null -e trace=write -e inject=write:signal=SIGKILL:when='"$i"' "$@"; true' _ "$SIGNET" --store "$s" init >/dev/null 2>&1
  [ -e "$s/signet.yaml" ] || continue
  whole=$((whole + 1))
  "$SIGNET" --store "$s" key generate k >/dev/null 2>"$T/err" || { cat "$T/err"; fail "init killed at write $i: the next command failed"; }
  "$SIGNET" --store "$s" audit verify >"$T/out" 2>"$T/err" || { cat "$T/err"; fail "init killed at write $i: audit verify"; }
  has "$T/out" "head signed by the audit key"
  "$SIGNET" --store "$s" audit custody >"$T/out" 2>&1 || { cat "$T/out"; fail "init killed at write $i: audit custody"; }
  [ -z "$(ls "$s/intents" 2>/dev/null)" ] || fail "init killed at write $i: an intent left"
  rm -rf "$s"
done
[ "$whole" -gt 10 ] || fail "only $whole of $n kills came after the store was in place"
note "init killed at each of $n writes; $whole left a store, every one whole"
