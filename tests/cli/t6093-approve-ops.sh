#!/usr/bin/env bash
# The two-person rule beyond sign (issue 22 item 4): rotate start, rotate
# finish, cert reissue and key adopt on a key whose policy asks for 2
# approvals need a request for that very operation, key and parameters
# (`approve request --op ...`), signed by 2 principals with `ssh-keygen -Y
# sign` (the peer `ssh-keygen -Y verify` agrees).  Each refusal: exit 1, one
# line, a `refused` record for the operation, the store as it was, the token
# not touched (the PIN file does not exist).  A request for one operation or
# key opens no other, nor does a sign request with another fleet gate.
# renew takes no approvals: it reports such a key and leaves it, and no
# hint says "signet renew" for it.  approve show --json has stable keys.
. "$(dirname "$0")/../lib.sh"
export SIGNET_NOW=2026-12-01T10:00:00Z

new_store
peer_env
mkdir -p "$S/policies"
for n in ed p256 eve; do
  case $n in p256) a="-t ecdsa -b 256";; *) a="-t ed25519";; esac
  ssh-keygen -q $a -N '' -C "$n@example.com" -f "$T/$n" >/dev/null
  [ $n = eve ] || echo "$n@example.com $(cut -d' ' -f1-2 "$T/$n.pub")" >>"$S/approvers"
done
{ sed "s/^name: .*/name: release/" "$TOP/policies/codesign-generic.yaml"
  echo "approvals: { required: 2, allowed_signers: approvers, max_age: 24h }"; } >"$S/policies/release.yaml"
for k in fw fw2 other; do sig 0 key generate $k --alg ecdsa-p256 --policy release; done
sig 0 cert issue fw2

apv() { # REQ NAME...: REQ.NAME.sig by each, checked by the peer
  local req=$1 n; shift
  for n in "$@"; do
    ssh-keygen -Y sign -f "$T/$n" -n signet-release "$req" 2>/dev/null || fail "ssh-keygen -Y sign $n"
    mv "$req.sig" "$req.$n.sig"
    [ $n = eve ] || ssh-keygen -Y verify -f "$S/approvers" -I "$n@example.com" -n signet-release -s "$req.$n.sig" \
      <"$req" >/dev/null 2>&1 || fail "peer refuses $n on $req"
  done
}
refused() { # OP WANT-REGEX ARGS...: exit 1, one line, one refused record for OP, the store and token as they were
  local op=$1 want=$2 before records tok; shift 2
  before=$(snapshot_records); records=$(wc -l <"$S/audit.log"); tok=$(token_objects | sha256sum)
  sig 1 "$@" --pin-file "$T/no-such-pin"
  one_line_error
  has "$T/err" "$want"
  eq "$(snapshot_records)" "$before" "store changed by a refusal"
  eq "$(( $(wc -l <"$S/audit.log") - records ))" 1 "one refused record"
  eq "$(last_record op) $(last_record result)" "$op refused" "refused record"
  eq "$(token_objects | sha256sum)" "$tok" "token changed by a refusal"
}
approved() { # REQ: the last record names REQ's hash and both approvers
  eq "$(last_record result) $(last_record details.approval.request_sha256)" "ok $(sha256sum <"$1" | cut -d' ' -f1)" "request hash in the record"
  eq "$(last_record 'details.approval.approvers | map(.principal) | sort | join(",")')" "ed@example.com,p256@example.com" "approvers in the record"
}

# --- rotate start -----------------------------------------------------------
head -c 1000 /dev/urandom >"$T/a.bin"
sig 0 approve request "$T/a.bin" --key fw --out "$T/sign.json"
apv "$T/sign.json" ed p256
sig 0 approve request --op rotate.start --key fw --new fw2 --out "$T/rs.json"
has "$T/out" "^wrote $T/rs.json: rotate.start of key fw, expires 2026-12-02T10:00:00Z"
eq "$(jq -r '"\(.operation) \(.key.label) \(.params.new) \(.params.new_spki_sha256)"' "$T/rs.json")" \
  "rotate.start fw fw2 $(yaml_get "$S/keys/fw2.yaml" spki_sha256)" "rotate.start request"
jq -e 'has("images") | not' "$T/rs.json" >/dev/null || fail "a rotate request names images"
apv "$T/rs.json" ed p256 eve
sig 0 approve request --op rotate.start --key fw --new other --out "$T/rs-other.json"
apv "$T/rs-other.json" ed p256
sig 0 approve request --op rotate.start --key other --new fw2 --out "$T/rs-otherkey.json"
apv "$T/rs-otherkey.json" ed p256
refused rotate.start "^signet: key 'fw' needs 2 approvals for rotate.start \(policy release\): none given" rotate start fw fw2
refused rotate.start "1 valid \(ed@example.com\), 1 more needed$" rotate start fw fw2 --approval "$T/rs.json.ed.sig" --approval "$T/rs.json.eve.sig"
refused rotate.start "sign.json approves sign, not rotate.start" rotate start fw fw2 --approval "$T/sign.json.ed.sig" --approval "$T/sign.json.p256.sig"
refused rotate.start "rs-other.json approves rotate.start with .*\"new\":\"other\".*, not .*\"new\":\"fw2\"" rotate start fw fw2 --approval "$T/rs-other.json.ed.sig" --approval "$T/rs-other.json.p256.sig"
refused rotate.start "rs-otherkey.json is a request for another key \('other'" rotate start fw fw2 --approval "$T/rs-otherkey.json.ed.sig" --approval "$T/rs-otherkey.json.p256.sig"
SIGNET_NOW=2026-12-02T10:00:01Z refused rotate.start "rs.json expired at 2026-12-02T10:00:00Z" rotate start fw fw2 --approval "$T/rs.json.ed.sig" --approval "$T/rs.json.p256.sig"
# The operation's approvals open no signature either.
refused sign "rs.json approves rotate.start, not sign" sign "$T/a.bin" --key fw --approval "$T/rs.json.ed.sig" --approval "$T/rs.json.p256.sig"
sig 0 approve show "$T/rs.json" "$T/rs.json.ed.sig" "$T/rs.json.eve.sig"
has "$T/out" "^request $T/rs.json: rotate.start with key fw \(SPKI SHA-256 [0-9a-f]{64}\), expires 2026-12-02T10:00:00Z$"
has "$T/out" '^  new "fw2"$'
has "$T/out" "^  $T/rs.json.eve.sig: not counted: key SHA256:.* is not in $S/approvers$"
has "$T/out" "^1 more approval needed \(1 of 2: ed@example.com\)$"
mkdir "$T/rs"; cp "$T/rs.json" "$T/rs.json.ed.sig" "$T/rs.json.p256.sig" "$T/rs/"
sig 0 rotate start fw fw2 --approvals "$T/rs"
has "$T/out" "^rotation started: 'fw' -> 'fw2'"
eq "$(last_record op) $(last_record details.approval.operation)" "rotate.start rotate.start" "start record"
approved "$T/rs.json"

# --- approve show --json -------------------------------------------------------
sig 0 --json approve show "$T/rs.json" "$T/rs.json.ed.sig" "$T/rs.json.eve.sig" "$T/rs.json.p256.sig"
jq -e --arg h "$(sha256sum <"$T/rs.json" | cut -d' ' -f1)" '
  .request_sha256 == $h and .operation == "rotate.start" and .key.label == "fw" and (.key.spki_sha256 | length) == 64
  and .params.new == "fw2" and .images == null and .expires == "2026-12-02T10:00:00Z" and .expired == false
  and .policy == "release" and .required == 2 and .approved == 2 and .needed == 0 and .complete == true
  and (.approvers | map(.principal)) == ["ed@example.com", "p256@example.com"]
  and (.approvers[0].fingerprint | startswith("SHA256:")) and (.approvers[0].signature | endswith(".ed.sig"))
  and (.not_counted | length) == 1 and (.not_counted[0].why | test("is not in"))' "$T/out" >/dev/null ||
  { cat "$T/out"; fail "approve show --json"; }
SIGNET_NOW=2026-12-03T00:00:00Z sig 0 --json approve show "$T/sign.json" "$T/sign.json.ed.sig"
jq -e '.operation == "sign" and (.images | length) == 1 and .fleet == null and .params == null and .expired == true
  and .approved == 1 and .needed == 1 and .complete == false' "$T/out" >/dev/null || { cat "$T/out"; fail "show --json of a sign request"; }

# --- rotate finish ------------------------------------------------------------
sig 0 approve request --op rotate.finish --key fw --out "$T/rf.json"
eq "$(jq -r '"\(.params.new) \(.params.started)"' "$T/rf.json")" "fw2 2026-12-01T10:00:00Z" "rotate.finish request"
apv "$T/rf.json" ed p256
refused rotate.finish "^signet: key 'fw' needs 2 approvals for rotate.finish" rotate finish fw
refused rotate.finish "rs.json approves rotate.start, not rotate.finish" rotate finish fw --approvals "$T/rs"
sig 0 rotate finish fw --approval "$T/rf.json.ed.sig" --approval "$T/rf.json.p256.sig"
has "$T/out" "^rotation 'fw' -> 'fw2' finished"
eq "$(last_record op)" "rotate.finish" "finish record"
approved "$T/rf.json"

# --- cert reissue; renew leaves the key to it ---------------------------------
sig 0 approve request --op cert.reissue --key fw2 --days 30 --out "$T/cr.json"
eq "$(jq -c '.params' "$T/cr.json")" "$(jq -cn --arg s "$(openssl x509 -in "$S/certs/fw2/current.pem" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')" '{days: 30, policy: null, subject: $s}')" "cert.reissue request"
apv "$T/cr.json" ed p256
old_serial=$(openssl x509 -in "$S/certs/fw2/current.pem" -noout -serial)
refused cert.reissue "^signet: key 'fw2' needs 2 approvals for cert.reissue" cert reissue fw2 --days 30
refused cert.reissue "cr.json approves cert.reissue with .*\"days\":30.*, not .*\"days\":60" cert reissue fw2 --days 60 --approval "$T/cr.json.ed.sig" --approval "$T/cr.json.p256.sig"
refused cert.reissue "rf.json approves rotate.finish, not cert.reissue" cert reissue fw2 --days 30 --approval "$T/rf.json.ed.sig" --approval "$T/rf.json.p256.sig"
# Due for renewal: renew reports it and leaves it (exit 1), and no hint says "signet renew".
SIGNET_NOW=2028-10-05T00:00:00Z sig 1 renew
has "$T/out" "^fw2: certificate .* due for renewal since .*; its policy asks for approvals, so renew does not reissue it$"
has "$T/err" "^hint: have 'signet approve request --op cert.reissue --key fw2' approved, then 'signet cert reissue fw2 --approvals DIR'$"
eq "$(openssl x509 -in "$S/certs/fw2/current.pem" -noout -serial)" "$old_serial" "renew reissued a key that needs approvals"
SIGNET_NOW=2028-10-05T00:00:00Z sig 1 renew --json
jq -e '.due[0].label == "fw2" and .due[0].renewable == false and .due[0].needs_approvals == true and .renewed == []' "$T/out" >/dev/null ||
  { cat "$T/out"; fail "renew --json"; }
SIGNET_NOW=2028-10-05T00:00:00Z sig 0 cert show fw2
has "$T/out" "^  renewal:    due since .*the key's policy asks for approvals, so 'signet renew' does not reissue it"
hasnt "$T/out" "'signet renew' reissues it"
SIGNET_NOW=2028-10-05T00:00:00Z sig 0 cert list
hasnt "$T/out" "due for renewal: signet renew"
has "$T/out" "due for renewal: cert reissue with approvals"
SIGNET_NOW=2028-10-05T00:00:00Z sig 0 cert lint fw2
hasnt "$T/out" "run 'signet renew'"
has "$T/out" "so 'signet renew' does not reissue it"
sig 3 cert reissue fw2 --days 30 --approvals "$T/cr.json"; one_line_error
has "$T/err" "cr.json: cannot open the approvals directory$"
mkdir "$T/cr"; cp "$T/cr.json" "$T/cr.json.ed.sig" "$T/cr.json.p256.sig" "$T/cr/"
sig 0 cert reissue fw2 --days 30 --approvals "$T/cr"
eq "$(last_record op)" "cert.reissue" "reissue record"
approved "$T/cr.json"
[ "$(openssl x509 -in "$S/certs/fw2/current.pem" -noout -serial)" != "$old_serial" ] || fail "not reissued"
run 0 openssl verify -attime "$(date -d 2026-12-01T10:00:00Z +%s)" -CAfile "$S/certs/fw2/current.pem" "$S/certs/fw2/current.pem"

# --- key adopt ----------------------------------------------------------------
pin=$(user_pin)
p11tool --login --pin "$pin" --keypairgen --key-type EC:prime256v1 --id a301 --label vendor-fw >/dev/null 2>&1 || fail "keypairgen"
sig 0 approve request --op key.adopt --key vend --id a301 --policy release --out "$T/ka.json"
eq "$(jq -c '[.key, .params]' "$T/ka.json")" '[{"label":"vend"},{"id":"a301","policy":"release","uri":null}]' "key.adopt request"
apv "$T/ka.json" ed p256
sig 0 approve request --op key.adopt --key vend --id a399 --policy release --out "$T/ka2.json"
apv "$T/ka2.json" ed p256
refused key.adopt "^signet: key 'vend' needs 2 approvals for key.adopt" key adopt vend --id a301 --policy release
refused key.adopt "ka2.json approves key.adopt with .*a399.*, not .*a301" key adopt vend --id a301 --policy release --approval "$T/ka2.json.ed.sig" --approval "$T/ka2.json.p256.sig"
refused key.adopt "ka.json is a request for another key \('vend'\), not 'vend2'" key adopt vend2 --id a301 --policy release --approval "$T/ka.json.ed.sig" --approval "$T/ka.json.p256.sig"
[ ! -e "$S/keys/vend.yaml" ] || fail "adopted despite refusal"
sig 0 key adopt vend --id a301 --policy release --approval "$T/ka.json.ed.sig" --approval "$T/ka.json.p256.sig"
has "$T/out" "^adopted ecdsa-p256 key 'vend' \(id a301\)"
eq "$(last_record op)" "key.adopt" "adopt record"
approved "$T/ka.json"

# --- the fleet gate of a sign request -----------------------------------------
sig 0 cert issue other
sig 0 header other --out "$S/other.h"
cat >"$S/fleets.yaml" <<'YAML'
fleets:
  - { name: prod, rollout_days: 7, builds: [ { version: "1", artefact: other.h, devices: 10 } ] }
  - { name: lab, rollout_days: 7, builds: [ { version: "1", artefact: other.h, devices: 3 } ] }
YAML
sig 0 approve request "$T/a.bin" --key other --fleet prod --out "$T/prod.json"
apv "$T/prod.json" ed p256
sig 0 approve request "$T/a.bin" --key other --out "$T/nofleet.json"
apv "$T/nofleet.json" ed p256
P="--approval $T/prod.json.ed.sig --approval $T/prod.json.p256.sig"
N="--approval $T/nofleet.json.ed.sig --approval $T/nofleet.json.p256.sig"
refused sign "prod.json approves signing for fleet prod, not without --fleet$" sign "$T/a.bin" --key other --out "$T/o.sig" $P
refused sign "prod.json approves signing for fleet prod, not for fleet lab$" sign "$T/a.bin" --key other --out "$T/o.sig" --fleet lab $P
refused sign "nofleet.json approves signing without --fleet, not for fleet prod$" sign "$T/a.bin" --key other --out "$T/o.sig" --fleet prod $N
[ ! -e "$T/o.sig" ] || fail "signed despite a fleet mismatch"
sig 0 sign "$T/a.bin" --key other --out "$T/o.sig" --fleet prod $P
approved "$T/prod.json"
sig 0 key pubkey other --out "$T/other.pub"
base64 -d "$T/o.sig" >"$T/o.der"
run 0 openssl dgst -sha256 -verify "$T/other.pub" -signature "$T/o.der" "$T/a.bin"
has "$T/out" "Verified OK"
# The fleet report never advises 'signet renew' for a key renew leaves (its certificate due).
SIGNET_NOW=2028-10-05T00:00:00Z run 1 "$SIGNET" fleet check
hasnt "$T/out" "signet renew"
has "$T/out" "signet approve request --op cert.reissue --key other"
sig 0 audit verify
