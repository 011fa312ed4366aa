#!/usr/bin/env bash
# The sign gate of the two-person rule (issue 22): a key whose policy asks
# for 2 approvals signs only what 2 distinct principals of allowed_signers
# signed with `ssh-keygen -Y sign` (every key type signet takes; the peer
# ssh-keygen -Y verify agrees on the same files).  Each refusal: exit 1,
# one line, a `refused` record and nothing signed.
. "$(dirname "$0")/../lib.sh"
export SIGNET_NOW=2026-12-01T10:00:00Z

new_store
mkdir -p "$S/policies"
keys="ed:ed25519 p256:ecdsa-256 p384:ecdsa-384 rsa:rsa-3072 dave:ed25519 eve:ed25519"
for kv in $keys; do
  n=${kv%%:*} t=${kv#*:}
  case $t in ecdsa-*) a="-t ecdsa -b ${t#ecdsa-}";; rsa-*) a="-t rsa -b ${t#rsa-}";; *) a="-t $t";; esac
  ssh-keygen -q $a -N '' -C "$n@example.com" -f "$T/$n" >/dev/null
  [ $n = eve ] || echo "$n@example.com $(cut -d' ' -f1-2 "$T/$n.pub")" >>"$S/approvers"
done
{ sed "s/^name: .*/name: release/" "$TOP/policies/codesign-generic.yaml"
  echo "approvals: { required: 2, allowed_signers: approvers, max_age: 24h }"; } >"$S/policies/release.yaml"
sig 0 key generate fw --alg ecdsa-p256 --policy release
sig 0 key generate other --alg ecdsa-p256 --policy release
sig 0 key pubkey fw --out "$T/fw.pub"
head -c 5000 /dev/urandom >"$T/a.bin"
head -c 777 /dev/urandom >"$T/b.bin"
sig 0 approve request "$T/a.bin" "$T/b.bin" --key fw --out "$T/req.json"
mkdir -p "$T/ok"
cp "$T/req.json" "$T/ok/req.json"
apv() { # NAME [HASHALG] -> $T/req.json.NAME.sig, checked by the peer
  ssh-keygen -Y sign -f "$T/$1" -n "${3:-signet-release}" ${2:+-O hashalg=$2} "$T/req.json" 2>/dev/null ||
    fail "ssh-keygen -Y sign $1"
  mv "$T/req.json.sig" "$T/req.json.$1${3:+-$3}.sig"
}
apv ed; apv p256; apv p384 sha256; apv rsa sha512; apv dave; apv eve
for n in ed p256 p384 rsa dave; do
  ssh-keygen -Y verify -f "$S/approvers" -I "$n@example.com" -n signet-release -s "$T/req.json.$n.sig" \
    <"$T/req.json" >/dev/null 2>&1 || fail "peer refuses $n"
  sig 0 approve show "$T/req.json" "$T/req.json.$n.sig"
  has "$T/out" "^  approved by $n@example.com "
done
# rsa-sha2-256 too.
ssh-keygen -Y sign -f "$T/rsa" -n signet-release -O hashalg=sha256 "$T/req.json" 2>/dev/null
mv "$T/req.json.sig" "$T/req.json.rsa256.sig"
sig 0 approve show "$T/req.json" "$T/req.json.rsa256.sig"
has "$T/out" "^  approved by rsa@example.com "

refused() { # WANT-REGEX ARGS...: exit 1, one line, a refused record, nothing signed
  local want=$1; shift
  local before records
  before=$(snapshot_records); records=$(wc -l <"$S/audit.log")
  sig 1 sign "$T/a.bin" "$T/b.bin" --key fw "$@"
  one_line_error
  has "$T/err" "$want"
  eq "$(snapshot_records)" "$before" "store changed by a refusal"
  eq "$(( $(wc -l <"$S/audit.log") - records ))" 1 "one refused record"
  eq "$(last_record op) $(last_record result)" "sign refused" "refused record"
  [ ! -e "$T/a.bin.sig" ] || fail "signed despite refusal"
}
refused "^signet: key 'fw' signs only with 2 approvals \\(policy release\\): none given"
refused "needs 2 approvals of $T/req.json: 1 valid \\(ed@example.com\\), 1 more needed$" --approval "$T/req.json.ed.sig"
cp "$T/req.json.ed.sig" "$T/req.json.ed2.sig"
refused "1 valid \\(ed@example.com\\), 1 more needed$" --approval "$T/req.json.ed.sig" --approval "$T/req.json.ed2.sig"
refused "1 valid \\(ed@example.com\\), 1 more needed$" --approval "$T/req.json.ed.sig" --approval "$T/req.json.eve.sig"
apv p256 "" git
refused "1 valid \\(ed@example.com\\), 1 more needed$" --approval "$T/req.json.ed.sig" --approval "$T/req.json.p256-git.sig"
head -c 300 "$T/req.json.p256.sig" >"$T/req.json.trunc.sig"
refused "1 valid \\(ed@example.com\\), 1 more needed$" --approval "$T/req.json.ed.sig" --approval "$T/req.json.trunc.sig"
sed '2s/^\(.\)/X/' "$T/req.json.p256.sig" >"$T/req.json.alt.sig"
refused "1 valid \\(ed@example.com\\), 1 more needed$" --approval "$T/req.json.ed.sig" --approval "$T/req.json.alt.sig"
# A signature over another request.
sig 0 approve request "$T/a.bin" "$T/b.bin" --key fw --note other --out "$T/req2.json"
ssh-keygen -Y sign -f "$T/p256" -n signet-release "$T/req2.json" 2>/dev/null
cp "$T/req2.json.sig" "$T/req.json.req2.sig"
refused "1 valid \\(ed@example.com\\), 1 more needed$" --approval "$T/req.json.ed.sig" --approval "$T/req.json.req2.sig"
# A request for another key.
sig 0 approve request "$T/a.bin" "$T/b.bin" --key other --out "$T/oreq.json"
refused "oreq.json is a request for another key" --approval "$T/oreq.json.sig"
# An image swapped after approval (same name, new bytes).
cp "$T/b.bin" "$T/b.keep"; head -c 777 /dev/urandom >"$T/b.bin"
refused "b.bin: not approved: $T/req.json does not approve these bytes" --approval "$T/req.json.ed.sig" --approval "$T/req.json.p256.sig"
cp "$T/b.keep" "$T/b.bin"
# Expired.
SIGNET_NOW=2026-12-02T10:00:01Z refused "req.json expired at 2026-12-02T10:00:00Z" --approval "$T/req.json.ed.sig" --approval "$T/req.json.p256.sig"

# Two principals: signed; openssl verifies; the records name both approvers.
cp "$T/req.json.ed.sig" "$T/req.json.rsa.sig" "$T/ok/"
sig 0 sign "$T/a.bin" "$T/b.bin" --key fw --approvals "$T/ok"
for f in a b; do
  base64 -d "$T/$f.bin.sig" >"$T/$f.der"
  run 0 openssl dgst -sha256 -verify "$T/fw.pub" -signature "$T/$f.der" "$T/$f.bin"
  has "$T/out" "Verified OK"
done
rh=$(sha256sum "$T/ok/req.json" | cut -d' ' -f1)
eq "$(tail -2 "$S/audit.log" | jq -r '.details.approval.request_sha256' | sort -u)" "$rh" "request hash in records"
eq "$(last_record 'details.approval.approvers | map(.principal) | sort | join(",")')" "ed@example.com,rsa@example.com" "approvers"
fp=$(ssh-keygen -l -E sha256 -f "$T/rsa.pub" | cut -d' ' -f2)
tail -1 "$S/audit.log" | jq -e --arg fp "$fp" '.details.approval.approvers | map(.fingerprint) | index($fp)' >/dev/null ||
  fail "rsa fingerprint not in the record"
sig 0 audit verify

# A key record without a policy of its own falls under the store's: when that
# is the one asking for approvals, the gate holds (it never opens by default).
sed -i 's/^policy: .*/policy: release/' "$S/signet.yaml"
sed -i '/^policy:/d' "$S/keys/other.yaml"
grep -q '^policy:' "$S/keys/other.yaml" && fail "the key record still names a policy"
sig 1 sign "$T/a.bin" --key other --out "$T/other.sig"; one_line_error
has "$T/err" "key 'other' signs only with 2 approvals \(policy release\): none given"
[ ! -e "$T/other.sig" ] || fail "signed without approvals under the store's policy"
# A policy that cannot be read stops the signature: it may be the one asking for approvals.
mv "$S/policies/release.yaml" "$T/release.yaml"
sig 3 sign "$T/a.bin" --key other --out "$T/other.sig"
[ ! -e "$T/other.sig" ] || fail "signed while the policy could not be read"
mv "$T/release.yaml" "$S/policies/release.yaml"
# Approvals given for a key whose policy asks for none: said, not silently passed over.
sig 0 key generate plain --alg ecdsa-p256 --policy codesign-generic
sig 0 sign "$T/a.bin" --key plain --out "$T/plain.sig" --approvals "$T/ok"
has "$T/err" "^signet: warning: key 'plain' needs no approvals \(policy codesign-generic asks for none\): the approvals given were not checked$"
