#!/usr/bin/env bash
# sign: the signatures made on the token verify with `openssl dgst -verify`
# for ECDSA P-256, P-384 and RSA keys (RSA: PKCS#1 v1.5; SHA-1 under the
# TI CC3220 policy); several images in one call each get their .sig and
# audit record; --ota-json writes the customCodeSigning object; a failed
# audit append leaves no signature behind.
. "$(dirname "$0")/../lib.sh"
new_store
sig 0 key generate p256 --alg ecdsa-p256
sig 0 key generate p384 --alg ecdsa-p384 --policy codesign-generic
sig 0 key generate r2048 --alg rsa-2048 --policy codesign-generic
head -c 1000000 /dev/urandom >"$T/a.bin"
head -c 12345 /dev/urandom >"$T/b.bin"
: >"$T/empty.bin"

for k in p256 p384 r2048; do
  sig 0 key pubkey "$k" --out "$T/$k.pub"
  sig 0 sign "$T/a.bin" --key "$k" --out "$T/a.$k.sig"
  base64 -d "$T/a.$k.sig" >"$T/a.$k.der" || fail "$k: signature is not base64"
  run 0 openssl dgst -sha256 -verify "$T/$k.pub" -signature "$T/a.$k.der" "$T/a.bin"
  has "$T/out" "Verified OK"
  run 1 openssl dgst -sha256 -verify "$T/$k.pub" -signature "$T/a.$k.der" "$T/b.bin"
done
# ECDSA signatures are DER SEQUENCEs (what mbedtls_pk_verify takes).
[ "$(head -c1 "$T/a.p256.der" | xxd -p)" = 30 ] || fail "ECDSA signature is not DER"
# RSA: PKCS#1 v1.5 over a SHA-256 DigestInfo.
openssl pkeyutl -verifyrecover -pubin -inkey "$T/r2048.pub" -in "$T/a.r2048.der" -pkeyopt rsa_padding_mode:pkcs1 \
  | xxd -p | tr -d '\n' | grep -q "^3031300d060960864801650304020105000420$(sha256sum "$T/a.bin" | cut -c1-64)$" \
  || fail "RSA signature is not PKCS#1 v1.5 SHA-256"

# Several images, one call, each its own signature and audit record.
before=$(grep -c '"op":"sign"' "$S/audit.log")
sig 0 sign "$T/a.bin" "$T/b.bin" "$T/empty.bin" --key p256
for i in a b empty; do
  [ -s "$T/$i.bin.sig" ] || fail "no $i.bin.sig"
  base64 -d "$T/$i.bin.sig" >"$T/$i.der"
  run 0 openssl dgst -sha256 -verify "$T/p256.pub" -signature "$T/$i.der" "$T/$i.bin"
done
after=$(grep -c '"op":"sign"' "$S/audit.log")
[ $((after - before)) -eq 3 ] || fail "expected 3 sign audit records"
grep '"op":"sign"' "$S/audit.log" | tail -1 | grep -q "\"image_sha256\":\"$(sha256sum "$T/empty.bin" | cut -c1-64)\"" \
  || fail "audit record lacks the image SHA-256"
sig 0 audit verify

# --ota-json: the customCodeSigning object for aws iot create-ota-update.
sig 3 sign "$T/a.bin" --key p256 --ota-json "$T/nocert.json"
one_line_error
[ ! -e "$T/nocert.json" ] || fail "ota json written without a certificate"
sig 0 cert issue p256
sig 0 sign "$T/a.bin" --key p256 --out "$T/a.sig" --ota-json "$T/ota.json" --cert-name /spiffs/signer.crt
j="$T/ota.json"
[ "$(jq -r .customCodeSigning.signature.inlineDocument "$j")" = "$(cat "$T/a.sig")" ] || fail "ota json signature"
[ "$(jq -r .customCodeSigning.hashAlgorithm "$j")" = SHA256 ] || fail "hashAlgorithm"
[ "$(jq -r .customCodeSigning.signatureAlgorithm "$j")" = ECDSA ] || fail "signatureAlgorithm"
[ "$(jq -r .customCodeSigning.certificateChain.certificateName "$j")" = /spiffs/signer.crt ] || fail "certificateName"
jq -j .customCodeSigning.certificateChain.inlineDocument "$j" | diff - "$S/certs/p256/current.pem" >/dev/null \
  || fail "certificateChain is not the current certificate"
grep '"op":"sign"' "$S/audit.log" | tail -1 | grep -q "\"certificate_serial\":\"$(openssl x509 -in "$S/certs/p256/current.pem" -noout -serial | cut -d= -f2)\"" \
  || fail "audit record lacks the certificate serial"

# TI CC3220 policy: RSA-2048 with SHA-1 (sig-sha1-rsa).
sig 0 key generate ti --alg rsa-2048 --policy aws-freertos-ti-cc3220
sig 0 key pubkey ti --out "$T/ti.pub"
sig 0 sign "$T/b.bin" --key ti --out "$T/b.ti.sig"
base64 -d "$T/b.ti.sig" >"$T/b.ti.der"
run 0 openssl dgst -sha1 -verify "$T/ti.pub" -signature "$T/b.ti.der" "$T/b.bin"
# The audit record names the image by SHA-256 even when the signature is SHA-1.
grep '"op":"sign"' "$S/audit.log" | tail -1 | grep -q "\"image_sha256\":\"$(sha256sum "$T/b.bin" | cut -c1-64)\"" \
  || fail "SHA-1 signing recorded a wrong image_sha256"
sig 0 sign "$T/b.bin" --key ti --hash sha256 --out "$T/b.ti256.sig"
base64 -d "$T/b.ti256.sig" >"$T/b.ti256.der"
run 0 openssl dgst -sha256 -verify "$T/ti.pub" -signature "$T/b.ti256.der" "$T/b.bin"

# Stdout output, and errors.
sig 0 sign "$T/b.bin" --key p256 --out -
base64 -d "$T/out" >"$T/b.stdout.der"
run 0 openssl dgst -sha256 -verify "$T/p256.pub" -signature "$T/b.stdout.der" "$T/b.bin"
sig 2 sign "$T/a.bin"
one_line_error
sig 2 sign --key p256
sig 2 sign "$T/a.bin" "$T/b.bin" --key p256 --out "$T/x.sig"
sig 2 sign "$T/a.bin" --key p256 --hash md5
sig 3 sign "$T/missing.bin" --key p256
one_line_error
sig 1 sign "$T/a.bin" --key nosuchkey
one_line_error

# Fail closed: when the audit record cannot be written, no signature is
# left.  A directory where audit.head must be renamed stops even root.
mv "$S/audit.head" "$T/head.saved" && mkdir "$S/audit.head"
rm -f "$T/b.bin.sig"
run 3 "$SIGNET" sign "$T/b.bin" --key p256
[ ! -e "$T/b.bin.sig" ] || fail "signature left behind after the audit append failed"
rmdir "$S/audit.head" && mv "$T/head.saved" "$S/audit.head"
sig 0 audit verify
