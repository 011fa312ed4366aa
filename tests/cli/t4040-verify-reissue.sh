#!/usr/bin/env bash
# verify and key match: a header baked with certificate A rejects images
# signed with key B and accepts images signed with key A after A's
# certificate was reissued (same key, new serial); the same through a
# firmware image holding the baked certificate; expiry ignored unless
# --check-expiry; key match names the key in custody (exit 1 when none).
. "$(dirname "$0")/../lib.sh"
new_store
sig 0 key generate a
sig 0 key generate b
sig 0 cert issue a --days 30
sig 0 cert issue b
sig 0 header a --out "$T/a.h"
serial1=$(openssl x509 -in "$S/certs/a/current.pem" -noout -serial | cut -d= -f2)
cp "$S/certs/a/current.pem" "$T/a-old.pem"
head -c 200000 /dev/urandom >"$T/app.bin"

# Signed with B: the devices baked with A reject it, and say so.
sig 0 sign "$T/app.bin" --key b --out "$T/app.b.sig"
sig 1 verify "$T/app.bin" --sig "$T/app.b.sig" --header "$T/a.h"
has "$T/out" "^invalid: "
has "$T/out" "0x000000e3"

# A's certificate reissued (same key, new serial): the old header still accepts A's signatures.
if "$SIGNET" cert reissue --help >/dev/null 2>&1; then
  sig 0 cert reissue a
else
  sig 0 cert issue a
fi
serial2=$(openssl x509 -in "$S/certs/a/current.pem" -noout -serial | cut -d= -f2)
[ "$serial1" != "$serial2" ] || fail "reissue kept the serial"
sig 0 sign "$T/app.bin" --key a --out "$T/app.a.sig"
sig 0 verify "$T/app.bin" --sig "$T/app.a.sig" --header "$T/a.h"
has "$T/out" "^valid: "
has "$T/out" "serial $serial1"
has "$T/out" "key 'a' in custody"
sig 0 verify "$T/app.bin" --sig "$T/app.a.sig" --cert "$T/a-old.pem"
sig 0 verify "$T/app.bin" --sig "$T/app.a.sig" --cert "$S/certs/a/current.pem"
sig 1 verify "$T/app.bin" --sig "$T/app.b.sig" --cert "$T/a-old.pem"

# One flipped byte: invalid.
cp "$T/app.bin" "$T/bad.bin"
printf '%b' "\\x$(printf '%02x' $(( ( $(od -An -tu1 -j100 -N1 "$T/app.bin") + 1 ) % 256 )))" \
  | dd of="$T/bad.bin" bs=1 seek=100 conv=notrunc 2>/dev/null
sig 1 verify "$T/bad.bin" --sig "$T/app.a.sig" --header "$T/a.h"

# A firmware image of the fleet: the baked certificate (PEM in .rodata) among a TLS root and noise.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/root.key" -out "$T/root.pem" \
  -subj /CN=tls-root -days 30 2>/dev/null
{ head -c 4097 /dev/urandom; openssl x509 -in "$T/root.pem" -outform DER; head -c 77 /dev/urandom
  cat "$T/a-old.pem"; printf '\0'; head -c 999 /dev/urandom; } >"$T/fleet.bin"
sig 0 verify "$T/app.bin" --sig "$T/app.a.sig" --firmware "$T/fleet.bin"
has "$T/out" "^valid: .*offset 0x"
sig 1 verify "$T/app.bin" --sig "$T/app.b.sig" --firmware "$T/fleet.bin"

# Expiry: ignored like the device does, unless asked.
SIGNET_NOW=2099-01-01 run 0 "$SIGNET" verify "$T/app.bin" --sig "$T/app.a.sig" --header "$T/a.h"
has "$T/out" "expired"
SIGNET_NOW=2099-01-01 run 1 "$SIGNET" verify "$T/app.bin" --sig "$T/app.a.sig" --header "$T/a.h" --check-expiry
has "$T/out" "expired"

# JSON verdict.
sig 0 --json verify "$T/app.bin" --sig "$T/app.a.sig" --header "$T/a.h"
[ "$(jq -r .valid "$T/out")" = true ] || fail "json valid"
sig 1 --json verify "$T/app.bin" --sig "$T/app.b.sig" --header "$T/a.h"
[ "$(jq -r .valid "$T/out")" = false ] || fail "json invalid"

# verify needs no store.
SIGNET_STORE="$T/none" run 0 "$SIGNET" verify "$T/app.bin" --sig "$T/app.a.sig" --header "$T/a.h"
hasnt "$T/out" "in custody"

# key match: header, firmware, certificate files; none held -> exit 1.
sig 0 key match "$T/a.h" "$T/fleet.bin" "$S/certs/b/current.pem"
has "$T/out" "a.h:[0-9]+: certificate CN=ota-signer .*held by key 'a'"
has "$T/out" "fleet.bin:offset 0x[0-9a-f]+: certificate CN=tls-root .*no key in custody"
has "$T/out" "fleet.bin:offset 0x[0-9a-f]+: certificate CN=ota-signer .*held by key 'a'"
has "$T/out" "current.pem:1: .*held by key 'b'"
sig 1 key match "$T/root.pem"
has "$T/out" "no key in custody"
sig 1 key match "$T/app.bin"
sig 0 --json key match "$T/fleet.bin"
[ "$(jq -r '.files[0].matched' "$T/out")" = true ] || fail "json matched"

# Usage and data errors.
sig 2 verify "$T/app.bin" --sig "$T/app.a.sig"
one_line_error
sig 2 verify "$T/app.bin" --sig "$T/app.a.sig" --header "$T/a.h" --cert "$T/a-old.pem"
sig 2 verify --sig "$T/app.a.sig" --header "$T/a.h"
sig 3 verify "$T/app.bin" --sig "$T/app.a.sig" --header "$T/app.bin"
one_line_error
echo "not a signature!" >"$T/junk.sig"
sig 3 verify "$T/app.bin" --sig "$T/junk.sig" --header "$T/a.h"
one_line_error
