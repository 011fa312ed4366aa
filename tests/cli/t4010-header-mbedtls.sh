#!/usr/bin/env bash
# header: each of the four formats compiles with `cc -Wall -Werror` into a
# small device-like program (tests/vectors/device/bakedverify.c) that
# parses the baked constant with mbedTLS, sizeof() including the NUL as
# ESP32's ota_pal does, and verifies a `signet sign` signature with
# mbedtls_pk_verify; one flipped image byte makes it fail.  Also: include
# guard, comment facts, --name, byte-for-byte determinism, atomic --out,
# one audit record per export.
. "$(dirname "$0")/../lib.sh"
new_store
sig 0 key generate fw
sig 0 cert issue fw
VEC="$TOP/tests/vectors/device"
cert="$S/certs/fw/current.pem"
spki=$(openssl x509 -in "$cert" -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1)
serial=$(openssl x509 -in "$cert" -noout -serial | cut -d= -f2)

head -c 300000 /dev/urandom >"$T/fw.bin"
sig 0 sign "$T/fw.bin" --key fw
cp "$T/fw.bin" "$T/bad.bin"
printf '\x5a' | dd of="$T/bad.bin" bs=1 seek=4242 conv=notrunc 2>/dev/null
cmp -s "$T/fw.bin" "$T/bad.bin" && printf '\xa5' | dd of="$T/bad.bin" bs=1 seek=4242 conv=notrunc 2>/dev/null
cmp -s "$T/fw.bin" "$T/bad.bin" && fail "could not flip a byte"

audit_before=$(wc -l <"$S/audit.log")
for f in ota-pal codesigner der pubkey; do
  F=$(echo "$f" | tr 'a-z-' 'A-Z_')
  sig 0 header fw --format "$f" --out "$T/h-$f.h"
  h="$T/h-$f.h"
  has "$h" "^#ifndef SIGNET_[A-Z_]+_H$"
  has "$h" "^#endif /\\* SIGNET_[A-Z_]+_H \\*/$"
  has "$h" "SPKI SHA-256: $spki"
  if [ "$f" != pubkey ]; then
    has "$h" "serial: +$serial"
    has "$h" "subject: +CN=ota-signer"
    has "$h" "not after: +[0-9]{4}-"
  fi
  cc -Wall -Werror -I"$T" -DBAKED_HEADER="\"h-$f.h\"" -DFMT_$F "$VEC/bakedverify.c" -o "$T/bv-$f" \
    -lmbedx509 -lmbedcrypto || fail "$f header does not compile"
  run 0 "$T/bv-$f" "$T/fw.bin" "$T/fw.bin.sig"
  has "$T/out" "^valid$"
  run 1 "$T/bv-$f" "$T/bad.bin" "$T/fw.bin.sig"
  has "$T/out" "^invalid$"
  # Determinism: stdout equals --out, run after run.
  sig 0 header fw --format "$f"
  cmp -s "$T/out" "$h" || fail "$f: header differs between runs"
done
has "$T/h-ota-pal.h" '^#define otapalconfigCODE_SIGNING_CERTIFICATE \\$'
has "$T/h-ota-pal.h" '^    "-----BEGIN CERTIFICATE-----\\n" \\$'
has "$T/h-ota-pal.h" '^    "-----END CERTIFICATE-----\\n"$'
has "$T/h-codesigner.h" '^static const char signingcredentialSIGNING_CERTIFICATE_PEM\[\] =$'
has "$T/h-codesigner.h" '"-----END CERTIFICATE-----\\n";$'
has "$T/h-der.h" '^static const unsigned char signetCODE_SIGNING_CERTIFICATE_DER\[[0-9]+\] = \{$'
has "$T/h-der.h" "^#define signetCODE_SIGNING_CERTIFICATE_DER_LEN $(openssl x509 -in "$cert" -outform DER | wc -c)$"
has "$T/h-pubkey.h" "^#define signetCODE_SIGNING_PUBLIC_KEY_DER_LEN 91$"
# The PEM in the ota-pal header is exactly the certificate file.
sed -n 's/^    "\(.*\)\\n".*/\1/p' "$T/h-ota-pal.h" | diff - <(openssl x509 -in "$cert") || fail "ota-pal PEM differs"

# Each export (4 + 4 to stdout) has its audit record; the chain holds.
audit_after=$(wc -l <"$S/audit.log")
[ $((audit_after - audit_before)) -eq 8 ] || fail "expected 8 header audit records, got $((audit_after - audit_before))"
tail -1 "$S/audit.log" | grep -q '"op":"header"' || fail "no header audit record"
sig 0 audit verify

# --name, from a certificate file, and its identifier in a compiled program.
sig 0 header "$cert" --format der --name fleetA_signer --out "$T/named.h"
has "$T/named.h" "^static const unsigned char fleetA_signer\\["
has "$T/named.h" "^#ifndef SIGNET_FLEETA_SIGNER_H$"
cc -Wall -Werror -I"$T" -DBAKED_HEADER='"named.h"' -DFMT_DER -DNAME=fleetA_signer "$VEC/bakedverify.c" \
  -o "$T/bv-named" -lmbedx509 -lmbedcrypto || fail "named header does not compile"
run 0 "$T/bv-named" "$T/fw.bin" "$T/fw.bin.sig"

# Independent device-like verifier on the certificate file itself.
cc -Wall -Werror "$TOP/tests/fakes/mbedverify.c" -o "$T/mbedverify" -lmbedtls -lmbedx509 -lmbedcrypto
run 0 "$T/mbedverify" "$cert" "$T/fw.bin" "$T/fw.bin.sig"
run 1 "$T/mbedverify" "$cert" "$T/bad.bin" "$T/fw.bin.sig"

# Usage and data errors.
sig 2 header fw --format pem
one_line_error
sig 2 header fw --name 9bad
one_line_error
sig 2 header
sig 1 header nosuchkey
one_line_error
sig 0 key generate nocert
sig 3 header nocert
one_line_error
has "$T/err" "cert issue nocert"
