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
campaign_store
mkdir "$T/batch"
for i in $(seq 1 10); do head -c 3000 /dev/urandom >"$T/batch/i$i.bin"; done
printf 'correct horse battery staple\n' >"$T/pass"
cp -a "$S" "$T/pristine"
keys_before=$(ls "$S/keys" | sort | tr '\n' ' ')
backups() { grep -c '"op":"backup",[^}]*"result":"ok"' "$S/audit.log"; }

CAMPAIGN_OUTS="$T/batch/*.sig"
# After each error: a signature or an archive only with its record, the store whole, nothing staged left.
io_check() {
  local f left
  case $1 in *" at syncfs #"*) syncfs=$((syncfs + 1)) ;; esac
  for f in "$T"/batch/*.sig "$T/od/img.sig"; do
    [ -e "$f" ] || continue
    grep -q "\"op\":\"sign\".*$(basename "$f")" "$S/audit.log" || fail "$1: $f without its record"
  done
  if [ -e "$T/od/b.sbk" ]; then
    eq "$(backups)" "$(( $(S=$T/pristine; backups) + 1 ))" "$1: an archive and its record"
  fi
  campaign_store_whole "$1"
  left=$(find "$T/batch" -name '*.tmp*' | head -3)
  [ -z "$left" ] || fail "$1: staged files left: $left"
}
runs=0 failed=0 syncfs=0
campaign_errors batch "write:EDQUOT write:ENOSPC fsync:EIO syncfs:EIO rename:EIO" "$SIGNET sign $(echo "$T"/batch/i{1..10}.bin) --key fw" io_check
campaign_errors sign "write:EDQUOT openat:EACCES" "$SIGNET sign $T/img.bin --key fw --out $T/od/img.sig" io_check
campaign_errors backup "write:EDQUOT write:ENOSPC fsync:EIO rename:EIO openat:EACCES" \
  "$SIGNET backup $T/od/b.sbk --passphrase-file $T/pass" io_check
[ "$syncfs" -gt 0 ] || fail "no syncfs was failed: the batch case missed what it is for"
note "$runs injected errors: $failed commands failed cleanly, $((runs - failed)) succeeded; $syncfs syncfs failures"
echo "io errors (batch, sign, backup): $runs injected, $failed failed cleanly, $syncfs syncfs"
