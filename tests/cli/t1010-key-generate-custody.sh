#!/usr/bin/env bash
# key generate: the pair is made on the token with custody attributes an
# independent peer confirms, the secret cannot be read, and the recorded
# spki_sha256 is the SHA-256 of the DER SubjectPublicKeyInfo.
. "$(dirname "$0")/../lib.sh"
# codesign-generic allows every algorithm signet knows.
new_store --policy codesign-generic
peer_env

for alg in ecdsa-p256 ecdsa-p384 rsa-2048 rsa-3072; do
  label="k-$alg"
  sig 0 key generate "$label" --alg "$alg"
  has "$T/out" "generated $alg key '$label'"
  rec="$S/keys/$label.yaml"
  eq "$(yaml_get "$rec" algorithm)" "$alg" "algorithm recorded"
  eq "$(yaml_get "$rec" origin)" generated "origin recorded"
  for a in sensitive always_sensitive never_extractable local private token; do
    has "$rec" "^  $a: true$"
  done
  has "$rec" "^  extractable: false$"

  # pkcs11-tool's own view of the private key.
  p11tool --login --pin "$(user_pin)" --list-objects --type privkey --label "$label" >"$T/p11" 2>&1
  has "$T/p11" "Access: +sensitive, always sensitive, never extractable, local"
  hasnt "$T/p11" "Usage:.*(decrypt|unwrap|derive)"

  # Reading the secret value straight from the module is refused.
  run 0 "$BUILD/fakes/p11peek" "$SOFTHSM_MODULE" signet "$S/hsm/user.pin" "$label"
  has "$T/out" "CKR_ATTRIBUTE_SENSITIVE"

  # The public key, hashed by openssl, is the recorded SPKI hash.
  sig 0 key pubkey "$label"
  got=$(openssl pkey -pubin -in "$T/out" -outform DER | sha256sum | cut -d' ' -f1)
  eq "$got" "$(yaml_get "$rec" spki_sha256)" "spki_sha256 of $label"

  # ... and it is the public key pkcs11-tool reads from the token.  opensc
  # 0.23 cannot export P-384 public keys, so EC keys are compared by point.
  id=$(yaml_get "$rec" id)
  case $alg in
  ecdsa-*)
    p11tool --list-objects --type pubkey >"$T/p11" 2>&1
    point=$(awk -v id="$id" '/^Public Key Object/{pt=""} /EC_POINT:/{pt=$2} /ID:/{if ($2 == id) print pt}' "$T/p11")
    ours=$(openssl pkey -pubin -in "$T/out" -outform DER | od -An -tx1 -v | tr -d ' \n')
    [ -n "$point" ] || fail "pkcs11-tool shows no EC_POINT for $label"
    # pkcs11-tool prints the DER OCTET STRING (04 LL point); the SPKI ends with the point.
    [ "${ours%"${point:4}"}" != "$ours" ] || fail "EC point of $label differs from pkcs11-tool's"
    ;;
  rsa-*)
    rm -f "$T/pub.der"
    p11tool --read-object --type pubkey --id "$id" -o "$T/pub.der" >/dev/null 2>&1
    eq "$(openssl pkey -pubin -inform DER -in "$T/pub.der" -outform DER | sha256sum | cut -d' ' -f1)" "$got" "pkcs11-tool public key"
    ;;
  esac
done

sig 0 key pubkey k-ecdsa-p256 --out "$T/pub.pem"
openssl pkey -pubin -in "$T/pub.pem" -noout -text | grep -q "prime256v1\|P-256" || fail "pubkey --out is not a P-256 key"

# Listing and --json.
sig 0 key list
has "$T/out" "^k-ecdsa-p384 +ecdsa-p384 +generated"
sig 0 --json key show k-rsa-2048
has "$T/out" '"algorithm": "rsa-2048"'
has "$T/out" '"never_extractable": true'
sig 0 --json key list
[ "$(grep -c '"label"' "$T/out")" -eq 4 ] || fail "key list --json does not list 4 keys"

# Every generation is in the audit log, chained.
sig 0 audit verify
has "$T/out" "6 records"
sig 0 audit log
[ "$(grep -c 'key.generate' "$T/out")" -eq 4 ] || fail "audit log lacks key.generate records"

# No command exports a private key.
sig 2 key export k-ecdsa-p256
has "$T/err" "private keys never leave the token"
