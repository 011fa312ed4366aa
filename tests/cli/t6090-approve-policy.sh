#!/usr/bin/env bash
# approvals in a key's policy (issue 22): parsed strictly, printed by
# policy show, and policy check refuses a rule no team could satisfy
# (more approvals required than distinct principals in allowed_signers).
. "$(dirname "$0")/../lib.sh"

mkdir -p "$T/pol"
for who in alice bob; do
  ssh-keygen -q -t ed25519 -N '' -C "$who@example.com" -f "$T/$who" >/dev/null
done
{
  echo "# release approvers"
  echo "alice@example.com namespaces=\"signet-release\" $(cut -d' ' -f1-2 "$T/alice.pub")"
  echo "bob@example.com,robert@example.com $(cut -d' ' -f1-2 "$T/bob.pub")"
} >"$T/allowed_signers"

pol() { # NAME APPROVALS-BLOCK
  { sed "s/^name: .*/name: $1/" "$TOP/policies/codesign-generic.yaml"; printf '%s\n' "$2"; } >"$T/pol/$1.yaml"
}
pol two "approvals: { required: 2, allowed_signers: $T/allowed_signers, max_age: 48h }"
sig 0 policy check "$T/pol/two.yaml"
has "$T/out" ": ok, policy two$"
SIGNET_POLICY_DIR=$T/pol sig 0 policy show two
has "$T/out" "^  approvals: +2 distinct principals of $T/allowed_signers sign each request \\(namespace signet-release\\), which expires 48h00m after it is made$"
has "$T/out" "^ +needed to sign, rotate start/finish, cert reissue and key adopt; renew leaves these keys to 'cert reissue --approvals'$"
SIGNET_POLICY_DIR=$T/pol sig 0 --json policy show two
eq "$(jq -r '.approvals.required' "$T/out")" 2 "json required"
eq "$(jq -r '.approvals.namespace' "$T/out")" signet-release "json namespace default"
eq "$(jq -r '.approvals.max_age_seconds' "$T/out")" 172800 "json max_age"
SIGNET_POLICY_DIR=$T/pol sig 0 policy show codesign-generic
has "$T/out" "^  approvals: +none required$"

# Three distinct principals (alice, bob, robert) allow required: 3, not 4.
pol three "approvals: { required: 3, allowed_signers: $T/allowed_signers }"
sig 0 policy check "$T/pol/three.yaml"
pol four "approvals: { required: 4, allowed_signers: $T/allowed_signers }"
sig 3 policy check "$T/pol/four.yaml"
one_line_error
has "$T/err" "^signet: $T/pol/four.yaml: approvals: required is 4 but $T/allowed_signers names 3 distinct principals$"

# Malformed: file, line and field.
pol bad "approvals: { required: 2, allowed_signers: $T/allowed_signers, max_age: 3 weeks }"
sig 3 policy check "$T/pol/bad.yaml"
one_line_error
has "$T/err" "^signet: $T/pol/bad.yaml:[0-9]*: field 'max_age': '3 weeks' is not a duration"
pol nofile "approvals: { required: 2 }"
sig 3 policy check "$T/pol/nofile.yaml"
one_line_error
has "$T/err" "^signet: $T/pol/nofile.yaml:[0-9]*: missing field 'allowed_signers'"
pol typo "approvals: { required: 2, allowed_signer: x }"
sig 3 policy check "$T/pol/typo.yaml"
has "$T/err" "unknown field 'allowed_signer'"
pol zero "approvals: { required: 0, allowed_signers: $T/allowed_signers }"
sig 3 policy check "$T/pol/zero.yaml"
has "$T/err" "field 'required'"

# A cert-authority line in allowed_signers: one line naming file and line.
echo "ca@example.com cert-authority $(cut -d' ' -f1-2 "$T/bob.pub")" >>"$T/allowed_signers"
sig 3 policy check "$T/pol/two.yaml"
one_line_error
has "$T/err" "^signet: $T/allowed_signers:4: cert-authority lines are not supported"
