#!/usr/bin/env bash
# An I/O error at any step leaves the store usable by the next command.
# For sign, key generate and cert reissue: EIO injected (strace) at every
# fsync the command makes, in turn, and at every rename; ENOSPC at every
# write.  Each command either succeeds or fails with one error line (exit
# 3 or 4); afterwards the next state-changing command succeeds, `audit
# verify` and `audit custody` pass, no temporary file or intent is left,
# and every key recorded before is still on the token.  The case that broke
# the store for good: the fsync of the store directory after audit.head's
# rename failed, the record was taken back out of audit.log while the
# renamed head still named it.  Prints the counts it ran.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/campaign.sh"
new_store
sig 0 key generate fw
sig 0 cert issue fw
head -c 5000 /dev/urandom >"$T/img.bin"
mkdir "$T/od"
cp -a "$S" "$T/pristine"
keys_before=$(ls "$S/keys" | sort | tr '\n' ' ')

commands=(
  "sign|$SIGNET sign $T/img.bin --key fw --out $T/od/img.sig"
  "generate|$SIGNET key generate k2"
  "reissue|$SIGNET cert reissue fw"
)
faults=("fsync:EIO" "rename:EIO" "write:ENOSPC")

runs=0 failed=0 dirsync=0
for entry in "${commands[@]}"; do
  name=${entry%%|*} cmd=${entry#*|}
  for fault in "${faults[@]}"; do
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
      # The injected fsync of the store directory itself, right after the head's rename.
      grep "$err (" "$T/trace" | grep -q "fsync([0-9]*<$S>)" && dirsync=$((dirsync + 1))
      campaign_store_whole "$name with $err at $sc #$i (exit $rc)"
    done
  done
done
[ "$dirsync" -gt 0 ] || fail "no fsync of the store directory was failed: the campaign missed the case it is for"
note "$runs injected errors: $failed commands failed cleanly, $((runs - failed)) succeeded; $dirsync store-directory fsyncs failed"
echo "io errors: $runs injected, $failed failed cleanly, $dirsync store-directory syncs"
