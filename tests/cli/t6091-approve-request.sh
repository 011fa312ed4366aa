#!/usr/bin/env bash
# approve request/show (issue 22): the request is canonical JSON naming the
# store, the key's SPKI, each image's SHA-256 and size, and expires after
# the policy's max_age; approvals made by `ssh-keygen -Y sign` are counted
# per distinct principal of allowed_signers, and ssh-keygen -Y verify (the
# peer) agrees on the same files.
. "$(dirname "$0")/../lib.sh"
export SIGNET_NOW=2026-12-01T10:00:00Z

new_store
mkdir -p "$S/policies"
for who in alice bob carol; do
  ssh-keygen -q -t ed25519 -N '' -C "$who@example.com" -f "$T/$who" >/dev/null
done
{
  echo "alice@example.com $(cut -d' ' -f1-2 "$T/alice.pub")"
  echo "bob@example.com $(cut -d' ' -f1-2 "$T/bob.pub")"
} >"$S/approvers"
{ sed "s/^name: .*/name: release/" "$TOP/policies/codesign-generic.yaml"
  echo "approvals: { required: 2, allowed_signers: approvers, max_age: 24h }"; } >"$S/policies/release.yaml"
sig 0 key generate fw --policy release
sig 0 key generate plain
head -c 5000 /dev/urandom >"$T/a.bin"
head -c 777 /dev/urandom >"$T/b.bin"

sig 0 approve request "$T/a.bin" "$T/b.bin" --key fw --fleet prod --out "$T/req.json"
has "$T/out" "^wrote $T/req.json: 2 images for key fw, expires 2026-12-02T10:00:00Z"
eq "$(jq -r '.images[0].sha256' "$T/req.json")" "$(sha256sum "$T/a.bin" | cut -d' ' -f1)" "image hash"
eq "$(jq -r '.images[1].size' "$T/req.json")" 777 "image size"
eq "$(jq -r '.fleet' "$T/req.json")" prod "fleet"
eq "$(jq -r '.expires' "$T/req.json")" 2026-12-02T10:00:00Z "expires"
eq "$(jq -c -S . "$T/req.json")" "$(cat "$T/req.json")" "canonical: sorted keys, compact"
sig 0 --json key show fw
eq "$(jq -r '.key.spki_sha256' "$T/req.json")" "$(jq -r '.. | .spki_sha256? // empty' "$T/out" | head -1)" "spki"
# Reproducible bytes: the same request twice is the same file.
sig 0 approve request "$T/a.bin" "$T/b.bin" --key fw --fleet prod
cmp -s <(head -c -1 "$T/out") <(head -c -1 "$T/req.json") || fail "request bytes not reproducible"

# A key whose policy asks for no approvals.
sig 3 approve request "$T/a.bin" --key plain
one_line_error
has "$T/err" "^signet: key 'plain': its policy aws-freertos-esp32 asks for no approvals$"

for who in alice bob carol; do
  ssh-keygen -Y sign -f "$T/$who" -n signet-release "$T/req.json" 2>/dev/null
  mv "$T/req.json.sig" "$T/$who.sig"
  ssh-keygen -Y verify -f "$S/approvers" -I "$who@example.com" -n signet-release -s "$T/$who.sig" \
    <"$T/req.json" >/dev/null 2>&1 || [ $who = carol ] || fail "peer refuses $who"
done
sig 0 approve show "$T/req.json"
has "$T/out" "^2 more approvals needed \\(0 of 2\\)$"
sig 0 approve show "$T/req.json" "$T/alice.sig" "$T/alice.sig" "$T/carol.sig"
has "$T/out" "^  approved by alice@example.com \\(SHA256:"
has "$T/out" "alice.sig: not counted: alice@example.com has approved already$"
has "$T/out" "carol.sig: not counted: key SHA256:.* is not in $S/approvers$"
has "$T/out" "^1 more approval needed \\(1 of 2: alice@example.com\\)$"
sig 0 approve show "$T/req.json" "$T/alice.sig" "$T/bob.sig"
has "$T/out" "^approved: 2 of 2 required \\(alice@example.com, bob@example.com\\)$"
fp=$(ssh-keygen -l -E sha256 -f "$T/bob.pub" | cut -d' ' -f2)
grep -qxF "  approved by bob@example.com ($fp)" "$T/out" || fail "bob's fingerprint is not ssh-keygen's"
# Another namespace: not counted.
ssh-keygen -Y sign -f "$T/bob" -n git "$T/req.json" 2>/dev/null && mv "$T/req.json.sig" "$T/bob-git.sig"
sig 0 approve show "$T/req.json" "$T/bob-git.sig"
has "$T/out" "bob-git.sig: not counted: signed for another namespace"

# approve sign runs ssh-keygen -Y sign for the approver; the peer accepts its file.
cp "$T/req.json" "$T/r2.json"
sig 0 approve sign "$T/r2.json" --ssh-key "$T/bob"
has "$T/out" "^wrote $T/r2.json.sig: approval of $T/r2.json by key SHA256:"
ssh-keygen -Y verify -f "$S/approvers" -I bob@example.com -n signet-release -s "$T/r2.json.sig" <"$T/r2.json" \
  >/dev/null 2>&1 || fail "ssh-keygen -Y verify refuses approve sign's signature"
sig 0 approve show "$T/r2.json" "$T/r2.json.sig" "$T/alice.sig"
has "$T/out" "^approved: 2 of 2 required"
sig 3 approve sign "$T/r2.json" --ssh-key "$T/nonexistent"
one_line_error
has "$T/err" "^signet: $T/r2.json: ssh-keygen -Y sign -f $T/nonexistent failed"
sig 2 approve sign "$T/r2.json"
