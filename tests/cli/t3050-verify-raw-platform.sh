#!/usr/bin/env bash
# verify takes a raw binary signature (what `openssl dgst -sign` writes,
# how AWS's own OTA test vectors are stored) as well as base64, ECDSA and
# RSA; mbedTLS (the device's judgement) and OpenSSL (a second opinion)
# agree with `openssl dgst -verify`.  With --platform ti-cc3220 a valid
# signature is reported without claiming the device accepts: the root
# catalog check cannot be made here.
. "$(dirname "$0")/../lib.sh"
export SIGNET_STORE="$T/no-store"
cd "$T" || exit 1
head -c 70000 /dev/urandom >img.bin
cp img.bin bad.bin; printf 'x' >>bad.bin
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ec.key -out ec.pem -subj /CN=ec -days 30 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout rsa.key -out rsa.pem -subj /CN=rsa -days 30 2>/dev/null
for k in ec rsa; do
  openssl dgst -sha256 -sign $k.key -out $k.sig.bin img.bin
  base64 -w 64 $k.sig.bin >$k.sig.b64
  openssl dgst -sha256 -verify <(openssl x509 -in $k.pem -pubkey -noout) -signature $k.sig.bin img.bin >/dev/null || fail "openssl disagrees"
  for s in $k.sig.bin $k.sig.b64; do
    sig 0 verify img.bin --sig $s --cert $k.pem
    has "$T/out" "^valid: "
    has "$T/out" "device check: mbed TLS"
    sig 1 verify bad.bin --sig $s --cert $k.pem
    has "$T/out" "^invalid: "
  done
  sig 0 --json verify img.bin --sig $k.sig.bin --cert $k.pem
  jq -e '.valid and .judged_by == "mbedtls" and .disagreement == null' "$T/out" >/dev/null || fail "$k json"
done
# The RSA raw signature is 256 random-looking bytes, no DER; the ECDSA one is DER.
[ "$(stat -c %s rsa.sig.bin)" -eq 256 ] || fail "rsa signature size"
# The wrong key's raw signature: invalid.
sig 1 verify img.bin --sig rsa.sig.bin --cert ec.pem
# Printable text that is not base64 is not a signature.
echo "not a signature!" >junk.sig
sig 3 verify img.bin --sig junk.sig --cert ec.pem
one_line_error

# TI CC3220: SHA-1/RSA, the device also checks the chain against its root catalog.
openssl dgst -sha1 -sign rsa.key -out rsa1.sig img.bin
sig 0 verify img.bin --sig rsa1.sig --cert rsa.pem --hash sha1 --platform ti-cc3220
has "$T/out" "^valid: SHA1 signature"
has "$T/out" "not checked: a CC3220 also checks the signer certificate's chain against its on-chip root catalog"
hasnt "$T/out" "accepts this update"
sig 0 --json verify img.bin --sig rsa1.sig --cert rsa.pem --hash sha1 --platform ti-cc3220
jq -e '.valid and (.not_checked | test("root catalog"))' "$T/out" >/dev/null || fail "cc3220 json"
sig 2 verify img.bin --sig rsa1.sig --cert rsa.pem --platform nosuch
