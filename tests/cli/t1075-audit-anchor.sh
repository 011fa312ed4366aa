#!/usr/bin/env bash
# The audit head is anchored outside the files: signed by the store's audit
# key on the token (checked by openssl alone, with audit.pub) and kept on
# the token.  Rewriting log and head consistently without the token is
# detected, so is deleting them; `audit head` gives a copy that `audit
# verify --head` checks; an append cut short before the head moved is told
# apart from tampering and completed by the next command.
. "$(dirname "$0")/../lib.sh"
new_store
for k in a b c; do sig 0 key generate "$k"; done
sig 0 audit verify
has "$T/out" "head signed by the audit key .* through record 5"
has "$T/out" "the token's anchor \(record 5\) is in the log"

# The signed head, checked by openssl with nothing but audit.pub.
sig 0 audit head
cp "$T/out" "$T/head.copy"
read -r _ seq hash b64 <"$T/head.copy"
eq "$seq" 5 "signed head seq"
eq "$hash" "$(sed -n 5p "$S/audit.log" | tr -d '\n' | sha256sum | cut -c1-64)" "signed head hash"
printf '%s' "$b64" | base64 -d >"$T/head.sig"
printf 'signet audit head v1\nseq %s\nhash %s\n' "$seq" "$hash" >"$T/head.msg"
run 0 openssl dgst -sha256 -verify "$S/audit.pub" -signature "$T/head.sig" "$T/head.msg"
printf 'signet audit head v1\nseq %s\nhash %s\n' 4 "$hash" >"$T/bad.msg"
run 1 openssl dgst -sha256 -verify "$S/audit.pub" -signature "$T/head.sig" "$T/bad.msg"
sig 0 --json audit head
eq "$(jq -r .seq "$T/out")" 5 "--json audit head"
sig 0 audit verify --head "$T/head.copy"
has "$T/out" "the head copy .* \(record 5\) is in the log"
cp -a "$S" "$T/pristine"
reset() { rm -rf "$S"; cp -a "$T/pristine" "$S"; }

# rewrite_chain: what an attacker without the token can do: edit records,
# recompute every prev hash and the head.  Keeps or drops the signed line.
rewrite_chain() {
  local prev=0000000000000000000000000000000000000000000000000000000000000000 line out="$T/rewritten"
  : >"$out"
  while IFS= read -r line; do
    line=$(jq -c --arg p "$prev" '.prev = $p' <<<"$line")
    printf '%s\n' "$line" >>"$out"
    prev=$(printf '%s' "$line" | sha256sum | cut -c1-64)
  done <"$S/audit.log"
  mv "$out" "$S/audit.log"
  if [ "$1" = keep-signature ]; then
    { echo "$prev"; sed -n 2p "$S/audit.head"; } >"$T/h"
  else
    echo "$prev" >"$T/h"
  fi
  mv "$T/h" "$S/audit.head"
}

# A record rewritten, chain and head recomputed, the old signature kept: the signature names another record.
reset
sed -i '4s/"label":"b"/"label":"x"/' "$S/audit.log"
rewrite_chain keep-signature
sig 1 audit verify
one_line_error
has "$T/err" "is not the record the signed audit head names: the log was rewritten"
# ... with the signature line dropped: an unsigned head in a store that has an audit key.
reset
sed -i '4s/"label":"b"/"label":"x"/' "$S/audit.log"
rewrite_chain drop-signature
sig 1 audit verify
has "$T/err" "is not the record the signed head kept on the token names"
# ... and without the token, audit.pub alone tells.
mv "$S/hsm/tokens" "$T/tokens-away"
sig 1 audit verify
has "$T/err" "audit.head carries no signature although the store has an audit key"
mv "$T/tokens-away" "$S/hsm/tokens"
# ... and audit.pub deleted too: the token still holds the audit key and its anchor.
rm "$S/audit.pub"
sig 1 audit verify
has "$T/err" "holds an audit key but '.*audit.pub' is missing"
# Records cut off the end, the chain still consistent, head rewritten with the signed line of an older head:
# the token's anchor names a record the log no longer has.
reset
sig 0 key generate d
head -n 5 "$S/audit.log" >"$T/l" && mv "$T/l" "$S/audit.log"
cp "$T/pristine/audit.head" "$S/audit.head"
sig 1 audit verify
has "$T/err" "the signed head kept on the token names record 6, but the log has only 5"
# The copy given to a ticket catches a cut too, without the token.
reset
head -n 3 "$S/audit.log" >"$T/l" && mv "$T/l" "$S/audit.log"
rewrite_chain drop-signature
sig 1 audit verify --head "$T/head.copy"

# Both files deleted: detected, and no command starts a new chain over them.
reset
rm "$S/audit.log" "$S/audit.head"
sig 1 audit verify
has "$T/err" "the signed head kept on the token names record 5, but the log has only 0"
sig 3 key generate e
has "$T/err" "refusing to start a new chain"
[ ! -e "$S/keys/e.yaml" ] || fail "a key was generated with the audit log gone"
rm "$S/audit.pub"
sig 1 audit verify
has "$T/err" "holds an audit key"

# An append cut short after the record was written, before the head moved: not tampering.
reset
n=$(strace -o "$T/tr" -e trace=rename "$SIGNET" key generate f >/dev/null 2>&1; grep -n 'audit.head' "$T/tr" | head -1 | cut -d: -f1)
reset
run 137 strace -o /dev/null -e trace=rename -e inject=rename:signal=SIGKILL:when="$n" "$SIGNET" key generate f
sig 0 audit verify
has "$T/out" "the last append was interrupted before audit.head moved"
sig 0 key generate g
has "$T/err" "recovered: the last audit append was interrupted before"
grep -q '"op":"recovered".*"repair":"audit head moved to the last complete record"' "$S/audit.log" || fail "no record of the completed head"
sig 0 audit verify
hasnt "$T/out" "interrupted"
sig 0 audit custody

# A store from before anchoring (no audit key on the token, no audit.pub, an unsigned head):
# intact as it is, and its next state-changing command makes the audit key, recorded.
reset
for t in privkey pubkey; do p11tool --login --pin "$(user_pin)" --delete-object --type "$t" --label signet-audit >/dev/null 2>&1 ||
  fail "could not delete the audit key ($t)"; done
# (the anchor's label is its chain, signet-audit-head-<CKA_ID of the store's audit key>, then the signed head kept
# in place: "signed SEQ HASH SIG", docs/audit.md)
anchor=$(p11tool --list-objects --type data 2>/dev/null | sed -n "s/^ *label: *'\(signet-audit-head-[0-9a-f]* signed [0-9]* [0-9a-f]\{64\} [A-Za-z0-9+\/=]*\)'$/\1/p")
[ -n "$anchor" ] || fail "no anchor named by the audit key on the token"
p11tool --login --pin "$(user_pin)" --delete-object --type data --label "$anchor" >/dev/null 2>&1 || fail "could not delete the anchor"
forget_deleted
rm "$S/audit.pub"
head -1 "$S/audit.head" >"$T/h" && mv "$T/h" "$S/audit.head"
sig 0 audit verify
has "$T/out" "no audit key yet"
sig 0 key generate late
grep -q '"op":"audit.key"' <(tail -2 "$S/audit.log") || fail "no audit.key record for the new audit key"
[ -s "$S/audit.pub" ] || fail "no audit.pub written"
# In a transaction of its own, before the command's: its record names the staged audit.pub
# and comes before key.generate's, and no intent is left.
grep '"op":"audit.key"' "$S/audit.log" | tail -1 | jq -e '.intent.files == ["audit.pub"] or (.intent.files | length == 1 and (.[0] | endswith("/audit.pub")))' >/dev/null ||
  fail "the audit.key record does not name audit.pub as its staged file"
[ "$(tail -2 "$S/audit.log" | jq -r .op | tr '\n' ' ')" = "audit.key key.generate " ] || fail "audit.key is not recorded right before key.generate"
[ -z "$(ls -A "$S/intents" 2>/dev/null)" ] || fail "an intent was left behind"
sig 0 audit verify
has "$T/out" "head signed by the audit key"
sig 0 audit custody
