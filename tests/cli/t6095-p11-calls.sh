#!/usr/bin/env bash
# A network HSM pays one round trip per PKCS#11 call (issue 20): what one
# sign asks the token, counted by OpenSC's pkcs11-spy between signet and
# SoftHSM2, against pkcs11-tool's --sign on the same token: one slot's
# token info (the embedded token is the only one of its directory), one
# session ended by C_Finalize, the key found by one search and not read
# when its certificate is known, the audit key found by one search of its
# label and the CKA_ID cached in audit.keyid (nothing read), this chain's
# anchor by one when the head is kept (under the store lock), one head
# signed and kept in place (one C_SetAttributeValue: nothing made or
# destroyed); a search ends on a short answer; 2 calls per further
# image of a batch.  Without the cache a sign reads the audit key's
# CKA_ID (22 calls) and writes the cache; a cache naming no key on the
# token costs its search, and is rewritten; audit verify writes none.  What the fewer calls rest on is checked too:
# another key stored under the record's id is refused before anything is
# written, an audit.pub that is not the token's audit key is said, and no
# head is signed with that key (also when the cache names the token's key); two signers at once keep every record and
# their heads in the one anchor, and make or destroy nothing; on a write-protected
# token (the test shim) sign still works in a read-only session, its head
# signed, the anchor on the token left where it was; a second token
# labelled like the store's is still refused.
. "$(dirname "$0")/../lib.sh"
SPY=$(ls /usr/lib/*/pkcs11-spy.so 2>/dev/null | head -1)
[ -n "$SPY" ] || fail "pkcs11-spy.so missing (Debian package opensc)"
new_store
sig 0 key generate fw
sig 0 cert issue fw
sig 0 key generate bare
id=$(yaml_get "$S/keys/fw.yaml" id)
sed -i "s|^  module: .*|  module: \"$SPY\"|" "$S/signet.yaml"
export PKCS11SPY="$SOFTHSM_MODULE" PKCS11SPY_OUTPUT="$T/spy"
calls() { grep -c '^[0-9]*: C_' "$T/spy"; }
named() { grep -c "^[0-9]*: $1\$" "$T/spy" || true; }
for i in 1 2 3 4 5; do head -c 3000 /dev/urandom >"$T/i$i.bin"; done

rm -f "$T/spy"
sig 0 sign "$T/i1.bin" --key fw
one=$(calls)
openssl dgst -sha256 -binary "$T/i1.bin" >"$T/i1.dgst"
rm -f "$T/spy"
run 0 p11tool --module "$SPY" --login --pin "$(user_pin)" --sign -m ECDSA --id "$id" -i "$T/i1.dgst" -o "$T/p.sig"
peer=$(calls)
note "one sign: signet $one PKCS#11 calls, pkcs11-tool --sign --id $peer"
[ "$one" -le 21 ] || fail "one sign made $one PKCS#11 calls (at most 21: init, login, 3 searches, 2 signatures, the head kept)"
rm -f "$T/spy"
sig 0 sign "$T/i1.bin" --key fw
eq "$(named C_OpenSession)" 1 "sessions opened by one sign"
eq "$(named C_GetTokenInfo)" 1 "token infos read (the embedded token is the only one in its directory: SoftHSM2's empty slot is not asked)"
eq "$(named C_FindObjectsInit)" 3 "searches of one sign (the key, the audit key, this chain's anchor)"
eq "$(named C_FindObjects)" 3 "C_FindObjects of one sign (one each: a short answer ends a search)"
eq "$(named C_GetAttributeValue)" 0 "attribute reads of a sign whose certificate gives the public key (the audit key's CKA_ID is cached)"
eq "$(named C_SetAttributeValue)" 1 "heads kept in place (the anchor's label rewritten)"
eq "$(named C_CreateObject)" 0 "objects made"
eq "$(named C_DestroyObject)" 0 "objects removed"
eq "$(named C_CloseSession)" 0 "sessions closed one by one (C_Finalize ends them)"
eq "$(named C_Finalize)" 1 "C_Finalize"

rm -f "$T"/i*.bin.sig "$T/spy"
sig 0 sign "$T"/i[1-5].bin --key fw
eq "$(( $(calls) - one ))" 8 "calls of four further images (C_SignInit, C_Sign each)"
unset PKCS11SPY_OUTPUT
for i in 1 2 3 4 5; do
  base64 -d "$T/i$i.bin.sig" >"$T/i$i.der"
  run 0 openssl dgst -sha256 -verify <(openssl x509 -in "$S/certs/fw/current.pem" -pubkey -noout) -signature "$T/i$i.der" "$T/i$i.bin"
done

# A key without a certificate: its public key is read, once per object found.
export PKCS11SPY_OUTPUT="$T/spy"
rm -f "$T/spy"
sig 0 sign "$T/i2.bin" --key bare --out "$T/bare.sig"
eq "$(named C_GetAttributeValue)" 2 "attribute reads of a sign that reads the public key (class and key of each half, one call each)"
unset PKCS11SPY_OUTPUT
sig 0 audit verify
has "$T/out" "the token's anchor \(record [0-9]+\) is in the log"

# The cache of the audit key's CKA_ID: gone, a sign reads the id (one call more) and writes it back;
# naming a key the token does not hold, the cached search finds nothing and the slow way follows.
audit_id=$(p11tool --list-objects --type pubkey 2>/dev/null | grep -A1 "label: *signet-audit$" | sed -n "s/^ *ID: *//p")
[ -n "$audit_id" ] || fail "no audit key on the token"
spki=$(openssl pkey -pubin -in "$S/audit.pub" -outform DER | sha256sum | cut -d' ' -f1)
eq "$(cat "$S/audit.keyid")" "$audit_id $spki" "the cache after init (the audit key's CKA_ID, audit.pub's SPKI SHA-256)"
export PKCS11SPY_OUTPUT="$T/spy"
for cache in gone other garbage; do
  case $cache in
    gone) rm "$S/audit.keyid"; want=22 ;;
    other) echo "00112233445566778899aabbccddeeff $spki" >"$S/audit.keyid"; want=25 ;;
    garbage) printf 'zz\n\0\1' >"$S/audit.keyid"; want=22 ;;
  esac
  rm -f "$T/spy"
  sig 0 sign "$T/i1.bin" --key fw --out "$T/c-$cache.sig"
  hasnt "$T/err" "."
  eq "$(calls)" "$want" "calls of a sign with the cache $cache"
  eq "$(cat "$S/audit.keyid")" "$audit_id $spki" "the cache after a sign with the cache $cache"
  eq "$(sed -n 's/^signed \([0-9]*\) .*/\1/p' "$S/audit.head")" "$(wc -l <"$S/audit.log")" "head signed with the cache $cache"
done
rm -f "$T/spy"
sig 0 sign "$T/i1.bin" --key fw --out "$T/c-warm.sig"
eq "$(calls)" "$one" "calls of a sign with the cache rewritten"
unset PKCS11SPY_OUTPUT
# audit verify reads the token its own way, and writes no cache.
rm "$S/audit.keyid"
sig 0 audit verify
has "$T/out" "the token's anchor \(record [0-9]+\) is in the log"
[ ! -e "$S/audit.keyid" ] || fail "audit verify wrote the cache"
sig 0 sign "$T/i1.bin" --key fw --out "$T/c-back.sig"
[ -e "$S/audit.keyid" ] || fail "a sign did not write the cache back"

# audit.pub that is not the token's audit key: said once, and the head is not signed with the token's key.
cp "$S/audit.pub" "$T/audit.pub"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 2>/dev/null | openssl pkey -pubout -out "$S/audit.pub"
signed_before=$(sed -n 's/^signed \([0-9]*\) .*/\1/p' "$S/audit.head")
sig 0 sign "$T/i3.bin" --key fw --out "$T/other.sig"
has "$T/err" "^signet: warning: '$S/audit.pub' is not the audit key of token 'signet'; audit heads are not signed$"
eq "$(grep -c 'warning' "$T/err")" 1 "warnings"
eq "$(sed -n 's/^signed \([0-9]*\) .*/\1/p' "$S/audit.head")" "$signed_before" "signed head after a sign with a foreign audit.pub"
# The same with a cache made for the foreign audit.pub naming the token's audit key: the key it finds signs
# a head audit.pub does not check, the slow way finds no audit key that is audit.pub: said once, not signed.
foreign=$(openssl pkey -pubin -in "$S/audit.pub" -outform DER | sha256sum | cut -d' ' -f1)
echo "$audit_id $foreign" >"$S/audit.keyid"
sig 0 sign "$T/i3.bin" --key fw --out "$T/other2.sig"
has "$T/err" "^signet: warning: '$S/audit.pub' is not the audit key of token 'signet'; audit heads are not signed$"
eq "$(grep -c 'warning' "$T/err")" 1 "warnings (a cache naming the token's audit key)"
eq "$(sed -n 's/^signed \([0-9]*\) .*/\1/p' "$S/audit.head")" "$signed_before" "signed head after a sign with a foreign audit.pub, cached"
eq "$(cat "$S/audit.keyid")" "$audit_id $foreign" "the cache is not rewritten when no head checks"
cp "$T/audit.pub" "$S/audit.pub"
sig 0 sign "$T/i3.bin" --key fw --out "$T/again.sig"
hasnt "$T/err" "warning"
[ "$(sed -n 's/^signed \([0-9]*\) .*/\1/p' "$S/audit.head")" -gt "$signed_before" ] || fail "the head is not signed again"
sig 0 audit verify

# Two signers of the store at once.  A logs in, then signs with the store unlocked (held at its first
# C_Sign by the shim); B signs and keeps its head meanwhile.  A looks for its chain's anchor only when it
# commits, under the lock: it finds the one B kept its head in and keeps its own there; nothing is made or
# destroyed.
anchors() { p11tool --list-objects --type data 2>/dev/null | grep -c "label: *'signet-audit-head-" || true; }
eq "$(anchors)" 1 "anchors before two signers"
keys_before=$(token_objects | grep -c 'Object')
sed -i "s|^  module: .*|  module: \"$BUILD/fakes/libp11shim.so\"|" "$S/signet.yaml"
export SHIM_MODULE="$SOFTHSM_MODULE"
SHIM_SIGN_WAIT="$T/go" "$SIGNET" sign "$T/i4.bin" --key fw --out "$T/a.sig" >"$T/a.out" 2>"$T/a.err" &
a=$!
for _ in $(seq 1000); do [ -e "$T/go.waiting" ] && break; sleep 0.02; done
[ -e "$T/go.waiting" ] || fail "signer A never reached its C_Sign"
sig 0 sign "$T/i2.bin" --key fw --out "$T/b.sig"
touch "$T/go"
wait "$a" || { cat "$T/a.err"; fail "signer A failed"; }
[ ! -s "$T/a.err" ] || { cat "$T/a.err"; fail "signer A said something on stderr"; }
eq "$(tail -1 "$S/audit.log" | jq -r .details.signature)" "$T/a.sig" "the last record (A's, committed after B's)"
eq "$(anchors)" 1 "anchors after two signers at once"
eq "$(token_objects | grep -c 'Object')" "$keys_before" "token objects after two signers at once"
sig 0 audit verify
has "$T/out" "the token's anchor \(record $(wc -l <"$S/audit.log")\) is in the log"
sig 0 sign "$T/i3.bin" --key fw --out "$T/c.sig"
eq "$(anchors)" 1 "anchors after the next sign"
sig 0 audit verify
has "$T/out" "the token's anchor \(record $(wc -l <"$S/audit.log")\) is in the log"

# A write-protected token: a read-only session signs; the head is signed, the anchor stays behind.
sed -i "s|^  module: .*|  module: \"$BUILD/fakes/libp11shim.so\"|" "$S/signet.yaml"
export SHIM_MODULE="$SOFTHSM_MODULE" SHIM_READONLY=1
sig 0 sign "$T/i5.bin" --key fw --out "$T/ro.sig"
base64 -d "$T/ro.sig" >"$T/ro.der"
run 0 openssl dgst -sha256 -verify <(openssl x509 -in "$S/certs/fw/current.pem" -pubkey -noout) -signature "$T/ro.der" "$T/i5.bin"
eq "$(sed -n 's/^signed \([0-9]*\) .*/\1/p' "$S/audit.head")" "$(wc -l <"$S/audit.log")" "head signed through the last record on a write-protected token"
unset SHIM_READONLY
sig 0 audit verify
has "$T/out" "the token's anchor \(record [0-9]+\) is in the log"

# Another key under fw's id: the token's signature does not verify with the certificate's key; nothing written.
unset PKCS11SPY
sed -i "s|^  module: .*|  module: \"$SOFTHSM_MODULE\"|" "$S/signet.yaml"
for t in privkey pubkey; do
  p11tool --login --pin "$(user_pin)" --delete-object --type "$t" --id "$id" >/dev/null 2>&1 || fail "could not delete fw's $t"
done
forget_deleted
p11tool --login --pin "$(user_pin)" --keypairgen --key-type EC:prime256v1 --id "$id" --label fw >/dev/null 2>&1 ||
  fail "could not plant another key under fw's id"
records=$(wc -l <"$S/audit.log")
sig 4 sign "$T/i4.bin" --key fw --out "$T/swapped.sig"
one_line_error
has "$T/err" "^signet: the token's signature for '$T/i4.bin' does not verify with the public key of the key's current certificate; nothing written$"
[ ! -e "$T/swapped.sig" ] || fail "a signature by another key was written"
hasnt "$S/audit.log" '"op":"sign".*swapped'
eq "$(grep -c '"op":"sign","label":"fw".*"result":"ok"' <(tail -n +"$((records + 1))" "$S/audit.log"))" 0 "sign records after the swap"

# A second token labelled like the store's, made in the embedded token's directory: the slot search
# stops at the first match only while that directory holds one token, so this one is seen and refused.
SOFTHSM2_CONF="$S/hsm/softhsm2.conf" softhsm2-util --init-token --free --label signet --so-pin 5678 --pin 1234 >/dev/null ||
  fail "could not make a second token"
sig 4 sign "$T/i1.bin" --key fw --out "$T/dup.sig"
one_line_error
has "$T/err" "^signet: more than one token is labelled 'signet'"
[ ! -e "$T/dup.sig" ] || fail "signed with two tokens labelled alike"
