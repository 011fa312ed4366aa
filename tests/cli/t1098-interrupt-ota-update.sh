#!/usr/bin/env bash
# The interruption campaign of t1090 for `sign --ota-update`: SIGKILL
# injected (strace) at every write, rename, link, unlink, ftruncate and
# fsync it makes, in turn.  After each interruption the next command
# succeeds, `audit verify` and `audit custody` pass, nothing temporary is
# left (no FILE.tmpXXXXXX beside the document), and the document and its
# .README are there both or neither: both exactly when the sign record that
# names them is on file, and then the document verifies.  Prints the counts.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/campaign.sh"
new_store
sig 0 key generate fw
sig 0 cert issue fw
sig 0 key pubkey fw --out "$T/fw.pub"
head -c 20000 /dev/urandom >"$T/img.bin"
mkdir "$T/od"
cp -a "$S" "$T/pristine"
keys_before=$(ls "$S/keys" | sort | tr '\n' ' ')
D=$T/od/ota.json
cmd="$SIGNET sign $T/img.bin --key fw --out $T/od/img.sig --ota-update $D --ota-id rel-1 --role-arn arn:aws:iam::123456789012:role/ota --targets arn:aws:iot:eu-west-1:123456789012:thing/bench --stream s1"

check_after() {
  local what=$1 named
  campaign_store_whole "$what"
  named=$(grep -c "\"op\":\"sign\".*$D" "$S/audit.log")
  if [ -e "$D" ]; then
    [ -e "$D.README" ] || fail "$what: $D without its .README"
    eq "$named" 1 "$what: records naming $D"
    jq -r '.files[0].codeSigning.customCodeSigning.signature.inlineDocument' "$D" | base64 -d >"$T/sig.der" ||
      fail "$what: $D has no signature"
    openssl dgst -sha256 -verify "$T/fw.pub" -signature "$T/sig.der" "$T/img.bin" >/dev/null ||
      fail "$what: the signature in $D does not verify"
  else
    [ ! -e "$D.README" ] || fail "$what: $D.README without $D"
    eq "$named" 0 "$what: records naming $D, which is not there"
  fi
}

kills=0 terms=0 recovered=0
campaign_kills ota-update "$cmd" check_after
campaign_terms ota-update "$cmd" check_after 6
note "SIGKILL at $kills injected syscalls, SIGTERM $terms times; $recovered next commands reported a recovery"
echo "campaign: $kills kills, $terms terms, $recovered recoveries"
