#!/usr/bin/env bash
# The I/O-error campaign of t1097 over what it leaves out: a batch sign
# (its staged files synced with syncfs), backup, and the faults EDQUOT on
# write, EIO on syncfs and EACCES on openat of sign.  strace injects the
# error at each such call in turn; each command either succeeds or fails
# with one error line (exit 3 or 4); afterwards the next state-changing
# command succeeds, `audit verify` and `audit custody` pass, nothing
# temporary or staged is left, and no key is lost.  A backup archive is
# there only with its record.  Prints the counts it ran.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/campaign.sh"
new_store
sig 0 key generate fw
sig 0 cert issue fw
head -c 5000 /dev/urandom >"$T/img.bin"
mkdir "$T/od" "$T/batch"
for i in $(seq 1 10); do head -c 3000 /dev/urandom >"$T/batch/i$i.bin"; done
printf 'correct horse battery staple\n' >"$T/pass"
cp -a "$S" "$T/pristine"
keys_before=$(ls "$S/keys" | sort | tr '\n' ' ')
backups() { grep -c '"op":"backup",[^}]*"result":"ok"' "$S/audit.log"; }

# NAME|FAULTS|CMD: FAULTS are syscall:errno pairs, comma-separated.
cases=(
  "batch|write:EDQUOT,write:ENOSPC,fsync:EIO,syncfs:EIO,rename:EIO|$SIGNET sign $T/batch/i1.bin $T/batch/i2.bin $T/batch/i3.bin $T/batch/i4.bin $T/batch/i5.bin $T/batch/i6.bin $T/batch/i7.bin $T/batch/i8.bin $T/batch/i9.bin $T/batch/i10.bin --key fw"
  "sign|write:EDQUOT,openat:EACCES|$SIGNET sign $T/img.bin --key fw --out $T/od/img.sig"
  "backup|write:EDQUOT,write:ENOSPC,fsync:EIO,rename:EIO,openat:EACCES|$SIGNET backup $T/od/b.sbk --passphrase-file $T/pass"
)
runs=0 failed=0 syncfs=0
for c in "${cases[@]}"; do
  name=${c%%|*} rest=${c#*|}
  faults=${rest%%|*} cmd=${rest#*|}
  for fault in ${faults//,/ }; do
    sc=${fault%%:*} err=${fault#*:}
    campaign_fresh
    n=$(strace -f -o "$T/count" -e trace="$sc" $cmd >/dev/null 2>&1; grep -c " $sc(" "$T/count")
    [ "$n" -gt 0 ] || fail "$name makes no $sc call: the campaign would test nothing"
    for i in $(seq 1 "$n"); do
      campaign_fresh
      rm -f "$T/batch"/*.sig
      strace -f -o "$T/trace" -e trace="$sc" -e inject="$sc:error=$err:when=$i" $cmd >"$T/out" 2>"$T/err"
      rc=$?
      runs=$((runs + 1))
      case $rc in
        0) ;;
        3|4) failed=$((failed + 1))
             [ "$(grep -c '^signet: ' "$T/err")" -eq 1 ] ||
               { cat "$T/err"; fail "$name with $err at $sc #$i: expected one error line"; } ;;
        *) cat "$T/err"; fail "$name with $err at $sc #$i: exit $rc" ;;
      esac
      [ "$sc" = syncfs ] && syncfs=$((syncfs + 1))
      # Right after the error: a signature or an archive only with its record.
      for f in "$T"/batch/*.sig "$T/od/img.sig"; do
        [ -e "$f" ] || continue
        grep -q "\"op\":\"sign\".*$(basename "$f")" "$S/audit.log" || fail "$name with $err at $sc #$i: $f without its record"
      done
      if [ -e "$T/od/b.sbk" ]; then
        eq "$(backups)" "$(( $(S=$T/pristine; backups) + 1 ))" "$name with $err at $sc #$i: an archive and its record"
      fi
      campaign_store_whole "$name with $err at $sc #$i (exit $rc)"
      left=$(find "$T/batch" -name '*.tmp*' | head -3)
      [ -z "$left" ] || fail "$name with $err at $sc #$i: staged files left: $left"
    done
  done
done
[ "$syncfs" -gt 0 ] || fail "no syncfs was failed: the batch case missed what it is for"
note "$runs injected errors: $failed commands failed cleanly, $((runs - failed)) succeeded; $syncfs syncfs failures"
echo "io errors (batch, sign, backup): $runs injected, $failed failed cleanly, $syncfs syncfs"
