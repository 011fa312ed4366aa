# Sourced (after lib.sh) by the fault campaigns: a command interrupted
# (SIGKILL injected by strace at every call of a syscall, in turn, and
# SIGTERM at random moments) or failed (an errno injected) must leave the
# store whole for the next command.  A campaign keeps the store as it was
# before the command in $T/pristine and the command's outputs in $T/od.
command -v strace >/dev/null || fail "strace is needed (make deps installs it)"

# campaign_fresh: the store and the outputs as they were before the command.
campaign_fresh() { rm -rf "$S" "$T/od"/*; cp -a "$T/pristine" "$S"; }

# campaign_store_whole WHAT [NEXT...]: the next state-changing command (NEXT,
# by default a sign with key fw of $T/img.bin) succeeds, `audit verify` and
# `audit custody` pass, no temporary file or intent is left, and every key
# of $keys_before (if set) is still on the token.  NEXT's stderr: $T/next.err.
campaign_store_whole() {
  local what=$1 k left; shift
  [ $# -gt 0 ] || set -- "$SIGNET" sign "$T/img.bin" --key fw --out "$T/od/next.sig"
  "$@" >"$T/next.out" 2>"$T/next.err" || { cat "$T/next.err"; fail "$what: the next command failed"; }
  "$SIGNET" audit verify >"$T/v.out" 2>"$T/v.err" || { cat "$T/v.out" "$T/v.err"; fail "$what: audit verify"; }
  "$SIGNET" audit custody >"$T/c.out" 2>"$T/c.err" || { cat "$T/c.out" "$T/c.err"; fail "$what: audit custody"; }
  left=$(find "$S" "$T/od" -name '*.tmp*' ! -path '*/hsm/tokens/*' | head -3)
  [ -z "$left" ] || fail "$what: temporary files left: $left"
  [ -z "$(ls "$S/intents" 2>/dev/null)" ] || fail "$what: an intent left after recovery: $(ls "$S/intents")"
  for k in ${keys_before:-}; do
    grep -q "^  ${k%.yaml} " "$T/c.out" || { cat "$T/c.out"; fail "$what: key ${k%.yaml} lost"; }
  done
}

# campaign_kills NAME "CMD" CHECK [SYSCALLS]: from a fresh store each time,
# SIGKILL at every call of each syscall CMD makes, in turn, then CHECK
# "NAME killed at SC #I".  Adds to $kills, and to $recovered when the next
# command (campaign_store_whole) said it recovered something.
campaign_kills() {
  local name=$1 cmd=$2 check=$3 syscalls=${4:-write rename link unlink ftruncate fsync} sc n i
  for sc in $syscalls; do
    campaign_fresh
    n=$(strace -f -o "$T/count" -e trace="$sc" $cmd >/dev/null 2>&1; grep -c " $sc(" "$T/count")
    for i in $(seq 1 "$n"); do
      campaign_fresh
      strace -f -o /dev/null -e trace="$sc" -e inject="$sc:signal=SIGKILL:when=$i" $cmd >/dev/null 2>"$T/kill.err"
      kills=$((kills + 1))
      "$check" "$name killed at $sc #$i"
      grep -q "recovered" "$T/next.err" 2>/dev/null && recovered=$((recovered + 1))
    done
  done
  return 0
}

# campaign_terms NAME "CMD" CHECK N: SIGTERM at N random moments (held while
# the token or a store write is busy, honoured after), then CHECK.  Adds to $terms.
campaign_terms() {
  local name=$1 cmd=$2 check=$3 n=$4 i pid
  for i in $(seq 1 "$n"); do
    campaign_fresh
    ( trap - EXIT; exec $cmd >/dev/null 2>&1 ) &   # the test's EXIT trap must not run in the child
    pid=$!
    sleep "0.0$((RANDOM % 9))$((RANDOM % 10))"
    kill -TERM "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    terms=$((terms + 1))
    "$check" "$name terminated (try $i)"
  done
}
