#!/usr/bin/env bash
# Two stores on one token keep two chains.  Each store has an audit key of
# its own (found by the CKA_ID of the key audit.pub names; every host
# appending to one store's chain shares it), and its signed head is kept in
# an anchor object named by that key's CKA_ID.  Each caches that CKA_ID
# (audit.keyid); a cache swapped or altered still leaves every head signed
# by the store's own key.  Two stores init'ed on
# one external token, appending alternately: both verify clean after each
# append, each against its own anchor.  A store from before chains had
# names (one unnamed anchor) keeps verifying, and its next state-changing
# command gives the anchor its name, recorded.  A named anchor of old (its
# head in its value) is read, and the next head moves it into one kept in
# place: one object file, rewritten by every later head.
. "$(dirname "$0")/../lib.sh"
mkdir -p "$T/ext/tokens"
printf 'directories.tokendir = %s/ext/tokens\nobjectstore.backend = file\n' "$T" >"$T/ext/conf"
export SOFTHSM2_CONF="$T/ext/conf"
echo 1234 >"$T/pin"
chmod 600 "$T/pin"
softhsm2-util --init-token --free --label prod --so-pin 5678 --pin 1234 >/dev/null
printf 'firmware\n' >"$T/img.bin"
# data_labels: the data objects' labels up to the first space (an anchor kept in place: its chain; docs/audit.md).
data_labels() { pkcs11-tool --module "$SOFTHSM_MODULE" --token-label prod --list-objects --type data 2>/dev/null |
  sed -n "s/^ *label: *'\([^ ']*\).*'$/\1/p" | sort; }
# full_label CHAIN: the whole label of the anchor of CHAIN kept in place ("CHAIN signed SEQ HASH SIG").
full_label() { pkcs11-tool --module "$SOFTHSM_MODULE" --token-label prod --list-objects --type data 2>/dev/null |
  sed -n "s/^ *label: *'\($1 signed .*\)'$/\1/p"; }
# anchor_of STORE: the label of STORE's anchor: signet-audit-head-<CKA_ID of the audit key audit.pub names>.
anchor_of() {
  local id
  for id in $(pkcs11-tool --module "$SOFTHSM_MODULE" --token-label prod --list-objects --type pubkey 2>/dev/null |
              sed -n 's/^ *ID: *//p'); do
    pkcs11-tool --module "$SOFTHSM_MODULE" --token-label prod --read-object --type pubkey --id "$id" 2>/dev/null |
      openssl pkey -pubin -inform DER 2>/dev/null | cmp -s - "$1/audit.pub" && { echo "signet-audit-head-$id"; return; }
  done
  echo "no-audit-key-for-$1"
}

for s in a b; do
  sig 0 --store "$T/$s" init --module "$SOFTHSM_MODULE" --token prod --pin-file "$T/pin"
  sig 0 --store "$T/$s" key generate "k$s"
done
[ "$(anchor_of "$T/a")" != "$(anchor_of "$T/b")" ] || fail "two stores share a chain id"
cmp -s "$T/a/audit.pub" "$T/b/audit.pub" && fail "two stores share an audit key"
for round in 1 2 3; do
  for s in a b; do
    sig 0 --store "$T/$s" sign "$T/img.bin" --key "k$s"
    for v in a b; do
      sig 0 --store "$T/$v" audit verify
      has "$T/out" "the token's anchor \(record $(wc -l <"$T/$v/audit.log")\) is in the log"
      hasnt "$T/err" "."
    done
  done
done
eq "$(data_labels | tr '\n' ' ')" "$(printf '%s\n' "$(anchor_of "$T/a")" "$(anchor_of "$T/b")" | sort | tr '\n' ' ')" \
  "one anchor per chain on the token"
# Each head is signed through its last record, by the store's own audit key (audit.pub's, per openssl).
for s in a b; do
  sig 0 --store "$T/$s" --json audit verify
  n=$(wc -l <"$T/$s/audit.log")
  eq "$(jq -r '[.signed_through, .token_anchor] | join(" ")' "$T/out")" "$n $n" "signed head and anchor of $s"
  eq "$(jq -r .audit_key_spki_sha256 "$T/out")" \
    "$(openssl pkey -pubin -in "$T/$s/audit.pub" -outform DER | sha256sum | cut -d' ' -f1)" "audit key of $s"
done

# Removing one store's anchor is seen by that store only.
pkcs11-tool --module "$SOFTHSM_MODULE" --token-label prod --login --pin 1234 --delete-object --type data \
  --label "$(full_label "$(anchor_of "$T/a")")" >/dev/null 2>&1 || fail "could not delete a's anchor"
sig 0 --store "$T/b" audit verify
has "$T/out" "the token's anchor"

# Each store caches its audit key's CKA_ID (audit.keyid, with audit.pub's SPKI SHA-256): never trusted.
# Swapped between the two stores, each cache was made for the other audit.pub and is not used; an altered
# one under this store's audit.pub naming the other store's audit key finds that key, whose head audit.pub
# does not check: the sign goes the slow way.  Every head is signed by the store's own audit key, every
# anchor stays its chain's, and each store's own cache comes back.
SPY=$(ls /usr/lib/*/pkcs11-spy.so 2>/dev/null | head -1)
[ -n "$SPY" ] || fail "pkcs11-spy.so missing (Debian package opensc)"
for s in a b; do cp "$T/$s/audit.keyid" "$T/$s.keyid"; done
[ "$(cut -d' ' -f1 "$T/a.keyid")" != "$(cut -d' ' -f1 "$T/b.keyid")" ] || fail "two stores cache one CKA_ID"
eq "signet-audit-head-$(cut -d' ' -f1 "$T/a.keyid")" "$(anchor_of "$T/a")" "a's cached CKA_ID names its chain"
for round in swapped altered; do
  if [ "$round" = swapped ]; then
    cp "$T/b.keyid" "$T/a/audit.keyid"
    cp "$T/a.keyid" "$T/b/audit.keyid"
  else
    for s in a b; do
      o=$([ "$s" = a ] && echo b || echo a)
      echo "$(cut -d' ' -f1 "$T/$o.keyid") $(cut -d' ' -f2 "$T/$s.keyid")" >"$T/$s/audit.keyid"
    done
  fi
  for s in a b; do
    sed -i "s|^  module: .*|  module: \"$SPY\"|" "$T/$s/signet.yaml"
    rm -f "$T/spy"
    PKCS11SPY="$SOFTHSM_MODULE" PKCS11SPY_OUTPUT="$T/spy" sig 0 --store "$T/$s" sign "$T/img.bin" --key "k$s"
    sed -i "s|^  module: .*|  module: \"$SOFTHSM_MODULE\"|" "$T/$s/signet.yaml"
    hasnt "$T/err" "."
    # swapped: the cache is not used (the slow way, the CKA_ID read); altered: the head signed twice
    eq "$(grep -c '^[0-9]*: C_SignInit$' "$T/spy")" "$([ "$round" = altered ] && echo 3 || echo 2)" "signatures of $s's sign ($round)"
    eq "$(cat "$T/$s/audit.keyid")" "$(cat "$T/$s.keyid")" "$s's cache after a sign with it $round"
    for v in a b; do
      sig 0 --store "$T/$v" --json audit verify
      n=$(wc -l <"$T/$v/audit.log")
      eq "$(jq -r '[.signed_through, .token_anchor] | join(" ")' "$T/out")" "$n $n" "signed head and anchor of $v ($round)"
      eq "$(jq -r .audit_key_spki_sha256 "$T/out")" "$(cut -d' ' -f2 "$T/$v.keyid")" "audit key of $v ($round)"
    done
  done
  eq "$(data_labels | tr '\n' ' ')" "$(printf '%s\n' "$(anchor_of "$T/a")" "$(anchor_of "$T/b")" | sort | tr '\n' ' ')" \
    "one anchor per chain on the token ($round)"
done

# A store from before chains had names: one unnamed anchor, made here as an older signet kept it.
rm -rf "$T/a" "$T/b"
softhsm2-util --delete-token --token prod >/dev/null 2>&1
softhsm2-util --init-token --free --label prod --so-pin 5678 --pin 1234 >/dev/null
sig 0 --store "$T/c" init --module "$SOFTHSM_MODULE" --token prod --pin-file "$T/pin"
name=$(anchor_of "$T/c")
full=$(full_label "$name")
[ -n "$full" ] || fail "no anchor of c's chain kept in place"
# an anchor of old holds its head in its value: "signed SEQ HASH SIG"
v="${full#"$name "}"
pkcs11-tool --module "$SOFTHSM_MODULE" --token-label prod --login --pin 1234 --delete-object --type data --label "$full" >/dev/null 2>&1
printf '%s\n' "$v" >"$T/old.anchor"
pkcs11-tool --module "$SOFTHSM_MODULE" --token-label prod --login --pin 1234 --write-object "$T/old.anchor" --type data \
  --label signet-audit-head --application-label signet >/dev/null 2>&1 || fail "could not write an unnamed anchor"
eq "$(data_labels)" signet-audit-head "the old store's anchor"
sig 0 --store "$T/c" audit verify
has "$T/out" "the token's anchor \(record [0-9]+\) is in the log"
sig 0 --store "$T/c" key generate kc
grep -q "\"op\":\"audit.anchor\".*\"anchor\":\"$name\"" "$T/c/audit.log" || fail "the migration is not on record"
eq "$(data_labels)" "$name" "the anchor after the migration"
sig 0 --store "$T/c" audit verify
has "$T/out" "the token's anchor \(record $(wc -l <"$T/c/audit.log")\) is in the log"

# A named anchor of old (the chain's name as its label, the head in its value, made anew at every head):
# read by verify, and the next head moves it into an anchor kept in place, which the heads after it rewrite.
full=$(full_label "$name")
v="${full#"$name "}"
pkcs11-tool --module "$SOFTHSM_MODULE" --token-label prod --login --pin 1234 --delete-object --type data --label "$full" >/dev/null 2>&1
printf '%s\n' "$v" >"$T/old.anchor"
pkcs11-tool --module "$SOFTHSM_MODULE" --token-label prod --login --pin 1234 --write-object "$T/old.anchor" --type data \
  --label "$name" --application-label signet >/dev/null 2>&1 || fail "could not write a named anchor of old"
eq "$(full_label "$name")" "" "no anchor kept in place before the next head"
sig 0 --store "$T/c" audit verify
has "$T/out" "the token's anchor \(record $(wc -l <"$T/c/audit.log")\) is in the log"
sig 0 --store "$T/c" sign "$T/img.bin" --key kc
eq "$(data_labels)" "$name" "one anchor after the move"
[ -n "$(full_label "$name")" ] || fail "the head is not kept in place after the move"
obj=$(ls "$T/ext/tokens"/*/*.object | xargs grep -l "$name" 2>/dev/null)
[ "$(echo "$obj" | wc -l)" -eq 1 ] || fail "not one object file holds the chain's anchor: $obj"
for i in 1 2; do sig 0 --store "$T/c" sign "$T/img.bin" --key kc; done
eq "$(ls "$T/ext/tokens"/*/*.object | xargs grep -l "$name" 2>/dev/null)" "$obj" "the anchor's object file after two more heads"
n=$(wc -l <"$T/c/audit.log")
eq "$(full_label "$name" | cut -d' ' -f3)" "$n" "the record the anchor names"
sig 0 --store "$T/c" audit verify
has "$T/out" "the token's anchor \(record $n\) is in the log"
exit 0
