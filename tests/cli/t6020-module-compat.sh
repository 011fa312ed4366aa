#!/usr/bin/env bash
# A module that refuses optional template attributes (the shim answers
# CKR_GENERAL_ERROR to any CKA_DECRYPT/UNWRAP/DERIVE or ENCRYPT/WRAP, as
# tpm2-pkcs11 1.9 does) still generates: custody is judged by what is read
# back.  A session that dies mid-command (the shim closes it under signet
# and answers CKR_SESSION_HANDLE_INVALID) is reopened and logged in again;
# one that keeps dying fails after a bounded number of tries with one clear
# line, and nothing is written.
. "$(dirname "$0")/../lib.sh"
new_store
peer_env
sed -i "s|^  module: .*|  module: \"$BUILD/fakes/libp11shim.so\"|" "$S/signet.yaml"

# Without the fallback the shim's refusal is fatal: prove the shim refuses.
SHIM_REFUSE=usage run 0 "$SIGNET" -v key generate tpmish
has "$T/err" "refused the key template \(CKR_GENERAL_ERROR\); trying again without explicit CKA_DECRYPT/UNWRAP/DERIVE"
has "$T/out" "generated ecdsa-p256 key 'tpmish'"
has "$S/keys/tpmish.yaml" "never_extractable: true"
has "$S/keys/tpmish.yaml" "extractable: false"
SHIM_REFUSE=usage run 0 "$SIGNET" key generate tpmish-rsa --alg rsa-2048 --policy codesign-generic
# The pair really is on the token and signs.
head -c 5000 /dev/urandom >"$T/img"
sig 0 key pubkey tpmish --out "$T/t.pub"
sig 0 sign "$T/img" --key tpmish --out "$T/img.sig"
base64 -d "$T/img.sig" >"$T/img.der"
run 0 openssl dgst -sha256 -verify "$T/t.pub" -signature "$T/img.der" "$T/img"
# And custody of what was read back still decides: a refused template plus a lying token is refused.
SHIM_REFUSE=usage SHIM_LIE=extractable run 4 "$SIGNET" key generate tpmish-leaky
has "$T/err" "did not honour key custody for 'tpmish-leaky'"

# Dying sessions: twice, then fine.  Two images in one call; each verifies.
head -c 6000 /dev/urandom >"$T/img2"
records=$(wc -l <"$S/audit.log")
SHIM_DIE=2 run 0 "$SIGNET" -v sign "$T/img" "$T/img2" --key tpmish
has "$T/err" "the session is gone \(CKR_SESSION_HANDLE_INVALID\); reopening the session \(try 1 of 3\)"
has "$T/err" "try 2 of 3"
hasnt "$T/err" "try 3 of 3"
for f in img img2; do
  base64 -d "$T/$f.sig" >"$T/$f.der"
  run 0 openssl dgst -sha256 -verify "$T/t.pub" -signature "$T/$f.der" "$T/$f"
done
eq "$(( $(wc -l <"$S/audit.log") - records ))" 2 "audit records for two images"
# Always dying: bounded, one clear line, no signature, no record.
rm -f "$T/img.sig"
snap=$(snapshot)
start=$(date +%s)
SHIM_DIE=always run 4 "$SIGNET" sign "$T/img" --key tpmish
one_line_error
has "$T/err" "signing with key 'tpmish' failed on the token: token 'signet': the session is gone \(CKR_SESSION_HANDLE_INVALID\); gave up after 3 tries to reopen the session"
[ $(( $(date +%s) - start )) -lt 10 ] || fail "gave up too slowly"
[ ! -e "$T/img.sig" ] || fail "signature written"
eq "$(snapshot)" "$snap" "store changed"
sig 0 audit verify

# A token that returns a bad signature in the middle of a batch (the shim
# corrupts the 3rd C_Sign): the verifier, running beside the token, catches
# it; the two images before it keep their signatures and records, nothing
# after it is signed, and the error says which image.
for i in 1 2 3 4 5; do head -c 3000 /dev/urandom >"$T/bimg$i"; done
records=$(wc -l <"$S/audit.log")
SHIM_BADSIG=3 run 4 "$SIGNET" sign "$T"/bimg1 "$T"/bimg2 "$T"/bimg3 "$T"/bimg4 "$T"/bimg5 --key tpmish
one_line_error
has "$T/err" "the token's signature for '$T/bimg3' does not verify with the key's public key; nothing written"
for i in 1 2; do
  base64 -d "$T/bimg$i.sig" >"$T/b.der"
  run 0 openssl dgst -sha256 -verify "$T/t.pub" -signature "$T/b.der" "$T/bimg$i"
done
for i in 3 4 5; do [ ! -e "$T/bimg$i.sig" ] || fail "bimg$i.sig written"; done
eq "$(( $(wc -l <"$S/audit.log") - records ))" 2 "audit records for the two good images"
sig 0 audit verify
