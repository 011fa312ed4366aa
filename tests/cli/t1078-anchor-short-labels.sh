#!/usr/bin/env bash
# A token whose labels are short (the shim with SHIM_LABEL_MAX=64 refuses a
# longer CKA_LABEL at C_CreateObject and C_SetAttributeValue, as a token
# with a label limit does) cannot keep the head in its anchor's label: the
# head is kept in the earlier form (the chain's name as the label, the head
# in the value, an object made anew at every head and the old one removed).
# Signs work and say nothing, one anchor stays per chain, and audit verify
# reads it.  Back on a token that takes long labels, the next head moves the
# chain into an anchor kept in place again.
. "$(dirname "$0")/../lib.sh"
SHIM="$BUILD/fakes/libp11shim.so"
[ -f "$SHIM" ] || fail "$SHIM missing (make $SHIM)"
new_store
sig 0 key generate fw
sig 0 cert issue fw
printf 'firmware\n' >"$T/img.bin"
# anchors: the labels of this token's anchors (docs/audit.md)
anchors() { p11tool --list-objects --type data 2>/dev/null | sed -n "s/^ *label: *'\(signet-audit-head.*\)'$/\1/p"; }
eq "$(anchors | grep -c ' signed ')" 1 "anchors kept in place before the short labels"

sed -i "s|^  module: .*|  module: \"$SHIM\"|" "$S/signet.yaml"
export SHIM_MODULE="$SOFTHSM_MODULE" SHIM_LABEL_MAX=64
for i in 1 2; do
  sig 0 sign "$T/img.bin" --key fw
  hasnt "$T/err" "."
  eq "$(anchors | wc -l)" 1 "anchors on a token with short labels (sign $i)"
  anchors | grep -q ' signed ' && fail "a head kept in a label longer than the token takes (sign $i)"
  n=$(wc -l <"$S/audit.log")
  eq "$(p11tool --read-object --type data --label "$(anchors)" 2>/dev/null | cut -d' ' -f1-2)" "signed $n" \
    "the head in the anchor's value (sign $i)"
  sig 0 audit verify
  has "$T/out" "the token's anchor \(record $n\) is in the log"
done

unset SHIM_LABEL_MAX
sig 0 sign "$T/img.bin" --key fw
hasnt "$T/err" "."
eq "$(anchors | wc -l)" 1 "anchors back on long labels"
n=$(wc -l <"$S/audit.log")
eq "$(anchors | cut -d' ' -f2-3)" "signed $n" "the head kept in place again"
sig 0 audit verify
has "$T/out" "the token's anchor \(record $n\) is in the log"
sig 0 audit custody
exit 0
