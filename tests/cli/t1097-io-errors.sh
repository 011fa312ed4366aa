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
campaign_store
cp -a "$S" "$T/pristine"
keys_before=$(ls "$S/keys" | sort | tr '\n' ' ')

# After each error: the store directory's own fsync, right after the head's rename, counted when it was the one failed.
io_check() {
  grep "EIO (" "$T/trace" | grep -q "fsync([0-9]*<$S>)" && dirsync=$((dirsync + 1))
  campaign_store_whole "$1"
}
runs=0 failed=0 dirsync=0
for c in "sign|$SIGNET sign $T/img.bin --key fw --out $T/od/img.sig" "generate|$SIGNET key generate k2" \
         "reissue|$SIGNET cert reissue fw"; do
  campaign_errors "${c%%|*}" "fsync:EIO rename:EIO write:ENOSPC" "${c#*|}" io_check
done

# EACCES at every openat of key generate: SoftHSM2 cannot finish the new pair's files (it wrote part of
# the private key, then could not read it back), so the token lists no pair while a file of it stays.
# The command says what was destroyed and what was not; the next command's recovery moves what is left
# to hsm/quarantine, and audit custody passes after it.
eacces=0 eacces_failed=0 eacces_left=0
campaign_fresh
n=$(strace -f -o "$T/count" -e trace=openat $SIGNET key generate k2 >/dev/null 2>&1; grep -c " openat(" "$T/count")
[ "$n" -gt 100 ] || fail "key generate makes only $n openat calls: the campaign would test little"
for i in $(seq 1 "$n"); do
  campaign_fresh
  strace -f -o /dev/null -e trace=openat -e inject="openat:error=EACCES:when=$i" $SIGNET key generate k2 >"$T/out" 2>"$T/err"
  rc=$?
  eacces=$((eacces + 1))
  case $rc in
    0) ;;
    3|4) eacces_failed=$((eacces_failed + 1))
         [ "$(grep -c '^signet: ' "$T/err")" -eq 1 ] || { cat "$T/err"; fail "generate with EACCES at openat #$i: expected one error line"; } ;;
    *) cat "$T/err"; fail "generate with EACCES at openat #$i: exit $rc" ;;
  esac
  quarantined=$(ls "$S"/hsm/quarantine/*/ 2>/dev/null | wc -l)
  kept=$(sed -n 's/.*but \([0-9]*\) of its object files\{0,1\} remains\{0,1\}.*/\1/p' "$T/err")
  if grep -q "the key pair was destroyed" "$T/err"; then
    [ -z "$(ls "$S/intents" 2>/dev/null)" ] || fail "generate with EACCES at openat #$i: 'destroyed' said, an intent left"
  fi
  campaign_store_whole "generate with EACCES at openat #$i (exit $rc)"
  if [ -n "$kept" ]; then
    eacces_left=$((eacces_left + 1))
    eq "$(( $(ls "$S"/hsm/quarantine/*/ 2>/dev/null | wc -l) - quarantined ))" "$kept" \
      "generate with EACCES at openat #$i: files quarantined by the next command"
  fi
done
note "key generate with EACCES at each of $eacces openat calls: $eacces_failed failed cleanly, $eacces_left left object files the next command quarantined"
echo "openat EACCES over key generate: $eacces injected, $eacces_failed failed cleanly, $eacces_left left files for the next command"
[ "$dirsync" -gt 0 ] || fail "no fsync of the store directory was failed: the campaign missed the case it is for"
note "$runs injected errors: $failed commands failed cleanly, $((runs - failed)) succeeded; $dirsync store-directory fsyncs failed"
echo "io errors: $runs injected, $failed failed cleanly, $dirsync store-directory syncs"
