# Sourced (after lib.sh) by the fault campaigns: a command interrupted
# (SIGKILL injected by strace at every call of a syscall, in turn, and
# SIGTERM at random moments) or failed (an errno injected) must leave the
# store whole for the next command.  A campaign keeps the store as it was
# before the command in $T/pristine and the command's outputs in $T/od.
command -v strace >/dev/null || fail "strace is needed (make deps installs it)"

# campaign_store: a new store ($S) with key fw and its certificate, an image
# $T/img.bin and the outputs' directory $T/od.
campaign_store() {
  new_store
  sig 0 key generate fw
  sig 0 cert issue fw
  head -c 5000 /dev/urandom >"$T/img.bin"
  mkdir -p "$T/od"
}

# campaign_fresh: the store and the outputs as they were before the command
# ($T/od, and the files matching $CAMPAIGN_OUTS, globs, removed).
campaign_fresh() { rm -rf "$S" "$T/od"/* ${CAMPAIGN_OUTS:-}; cp -a "$T/pristine" "$S"; }

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

# campaign_errors NAME "FAULTS" "CMD" CHECK: from a fresh store each time,
# each fault SC:ERRNO of FAULTS (space-separated) injected by strace at
# every call of SC that CMD makes, in turn; CMD must succeed or fail with
# one error line (exit 3 or 4), then CHECK "NAME with ERRNO at SC #I (exit
# RC)" (CMD's output in $T/out and $T/err, its trace, with file names, in
# $T/trace).  Adds to $runs, and to $failed when CMD failed.
campaign_errors() {
  local name=$1 faults=$2 cmd=$3 check=$4 fault sc err n i rc
  for fault in $faults; do
    sc=${fault%%:*} err=${fault#*:}
    campaign_fresh
    n=$(strace -f -o "$T/count" -e trace="$sc" $cmd >/dev/null 2>&1; grep -c " $sc(" "$T/count")
    [ "$n" -gt 0 ] || fail "$name makes no $sc call: the campaign would test nothing"
    for i in $(seq 1 "$n"); do
      campaign_fresh
      strace -f -o "$T/trace" -y -e trace="$sc" -e inject="$sc:error=$err:when=$i" $cmd >"$T/out" 2>"$T/err"
      rc=$?
      runs=$((runs + 1))
      case $rc in
        0) ;;
        3|4) failed=$((failed + 1))
             [ "$(grep -c '^signet: ' "$T/err")" -eq 1 ] ||
               { cat "$T/err"; fail "$name with $err at $sc #$i: expected one error line"; } ;;
        *) cat "$T/err"; fail "$name with $err at $sc #$i: exit $rc" ;;
      esac
      "$check" "$name with $err at $sc #$i (exit $rc)"
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

# campaign_power_cuts NAME "CMD" CHECK: a power cut at every sync CMD makes,
# in turn: SIGKILL at fsync (or syncfs) #I, then every change not durable
# by then is taken back (tests/crashstate.py over the store and $T/od), and
# once more after the whole command; each twice: with the unlinks not
# synced taken back too, and with them kept (the removal of an intent
# reached the disk, a rename before it did not); then CHECK "NAME: power
# cut at SC #I (...)".
# A sync that an ordering relies on and that is missing or too late shows
# as a state the next command cannot make whole.  Adds to $cuts.
CRASH_CALLS=openat,write,pwrite64,ftruncate,fsync,fdatasync,syncfs,rename,renameat,renameat2,link,linkat,unlink,unlinkat
campaign_power_cuts() {
  local name=$1 cmd=$2 check=$3 sc n i inj
  for sc in fsync syncfs end; do
    n=1
    if [ "$sc" != end ]; then
      campaign_fresh
      n=$(strace -f -o "$T/count" -e trace="$sc" $cmd >/dev/null 2>&1; grep -cE "^[0-9]+ +$sc\(" "$T/count")
    fi
    for i in $(seq 1 "$n"); do
      campaign_fresh
      rm -rf "$T/cut"; mkdir -p "$T/cut/pre" "$T/cut/post"
      cp -a "$S" "$T/cut/pre/store"; cp -a "$T/od" "$T/cut/pre/od"
      inj="-e inject=$sc:signal=SIGKILL:when=$i"
      [ "$sc" = end ] && inj=""
      # shellcheck disable=SC2086
      ( trap - EXIT; strace -f -y -s 65536 -x -o "$T/cut/tr" -e trace="$CRASH_CALLS" $inj $cmd >/dev/null 2>"$T/cut/err" ) 2>/dev/null
      cp -a "$S" "$T/cut/post/store"; cp -a "$T/od" "$T/cut/post/od"
      for mode in dropped kept; do
        rm -rf "$T/cut/crash"
        CRASH_ROOT="$T" CRASH_UNLINKS=$mode python3 "$TOP/tests/crashstate.py" "$T/cut/pre" "$T/cut/post" "$T/cut/tr" \
          "$T/cut/crash" >"$T/cut/dropped" || fail "$name: cannot build the crash state at $sc #$i"
        rm -rf "$S" "$T/od"; cp -a "$T/cut/crash/store" "$S"; cp -a "$T/cut/crash/od" "$T/od"
        cuts=$((cuts + 1))
        "$check" "$name: power cut at $sc #$i (unsynced unlinks $mode)"
      done
    done
  done
  return 0
}

# campaign_records_match WHAT: every file an audit record names is in
# place (no record without its effect) and every file in $T/od is named by
# a record (no effect without its record).
campaign_records_match() {
  local what=$1 f
  jq -r 'select(.intent != null) | .intent.files[]' "$S/audit.log" | sort -u >"$T/named"
  while read -r f; do
    [ -e "$f" ] || { cat "$T/cut/dropped" 2>/dev/null; fail "$what: a record names '$f', which is not in place"; }
  done <"$T/named"
  for f in "$T/od"/*; do
    [ -e "$f" ] || continue
    grep -qxF "$f" "$T/named" || fail "$what: '$f' is in place but no audit record names it"
  done
}
