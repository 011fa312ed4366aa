#!/usr/bin/env bash
# `signet store put` on a file store with EIO injected (strace) at each
# fsync it makes, in turn, putting two files in one command (a policy and
# a note).  Each run succeeds or fails with one error line (exit 3 or 4)
# that says whether the put was recorded; then the files are as their
# author wrote them, there are store.put records for both or for neither
# (neither when the put failed before its commit), each naming the file's
# sha256 and size; the next command
# succeeds, `audit verify` and `audit custody` pass, and nothing staged or
# temporary is left.  The same with ENOSPC at each write.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/campaign.sh"
campaign_store
mkdir "$S/policies"
sed "s/^name: .*/name: p/" "$TOP/policies/codesign-generic.yaml" >"$S/policies/p.yaml"
printf 'fw 1.4 goes to the field fleet first\n' >"$S/notes.txt"
cp "$S/policies/p.yaml" "$T/p.yaml"; cp "$S/notes.txt" "$T/notes.txt"
cp -a "$S" "$T/pristine"
keys_before=$(ls "$S/keys" | sort | tr '\n' ' ')
puts() { jq -r 'select(.op == "store.put" and .result == "ok") | "\(.details.path) \(.details.sha256) \(.details.size)"' "$S/audit.log"; }
want=$(for f in policies/p.yaml notes.txt; do echo "$f $(sha256sum "$S/$f" | cut -c1-64) $(stat -c %s "$S/$f")"; done)

recorded=0 none=0
put_check() {
  local what=$1 got
  cmp -s "$S/policies/p.yaml" "$T/p.yaml" && cmp -s "$S/notes.txt" "$T/notes.txt" || fail "$what: a file put is not as its author wrote it"
  got=$(puts)
  case $what in *"(exit 0)") eq "$got" "$want" "$what: the records of a put that succeeded" ;; esac
  [ -z "$got" ] || eq "$got" "$want" "$what: records for both files or for neither"
  # the error line says which (a failed write of the closing message to standard output aside)
  case $what:$got in
    *"(exit 0)":*) ;;
    *:) has "$T/err" "^signet: nothing put \(no store.put record\): " ;;
    *) grep -q "cannot write to standard output" "$T/err" ||
         has "$T/err" "^signet: recorded, but putting the files in place did not finish \(the next command completes it\): " ;;
  esac
  campaign_store_whole "$what"
  # the next command kept what was committed, and committed nothing of the put that was not
  eq "$(puts)" "$got" "$what: store.put records after the next command"
  if [ -n "$got" ]; then recorded=$((recorded + 1)); else none=$((none + 1)); fi
}
runs=0 failed=0
campaign_errors put "fsync:EIO write:ENOSPC" "$SIGNET store put policies/p.yaml notes.txt" put_check
[ "$failed" -gt 0 ] && [ "$none" -gt 0 ] || fail "no put failed before its commit: the campaign missed what it is for"
note "$runs injected errors: $failed puts failed cleanly, $((runs - failed)) succeeded; $recorded left both records, $none neither"
echo "store put io errors: $runs injected, $failed failed cleanly, $recorded recorded, $none not"
