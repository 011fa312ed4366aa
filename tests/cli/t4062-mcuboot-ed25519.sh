#!/usr/bin/env bash
# Ed25519 for MCUboot (issue 21): key generate --alg ed25519 makes the pair
# on the token (pkcs11-tool sees it sensitive and never extractable; the
# secret cannot be read), header --format mcuboot writes the SPKI keys.c
# holds, and sign --format mcuboot puts an Ed25519 signature over the
# SHA-256 image hash in TLV 0x24, raw and Intel HEX, with and without --pad.
# openssl, an independent peer, verifies it over the hash TLV; signet's
# verify accepts it; one byte changed is refused by both.  OTA signing and
# certificates refuse an Ed25519 key in one line, the store unchanged.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/mcuboot.sh"
command -v python3 >/dev/null || fail "python3 is needed"
new_store --policy codesign-generic
peer_env
sig 0 key generate ed --alg ed25519
has "$T/out" "generated ed25519 key 'ed'"
rec="$S/keys/ed.yaml"
eq "$(yaml_get "$rec" algorithm)" ed25519 "algorithm recorded"
for a in sensitive always_sensitive never_extractable local private token; do
  has "$rec" "^  $a: true$"
done
has "$rec" "^  extractable: false$"
p11tool --login --pin "$(user_pin)" --list-objects --type privkey --label ed >"$T/p11" 2>&1
has "$T/p11" "EC_EDWARDS|EDDSA|Ed25519|edwards"
has "$T/p11" "Access: +sensitive, always sensitive, never extractable, local"
run 0 "$BUILD/fakes/p11peek" "$SOFTHSM_MODULE" signet "$S/hsm/user.pin" ed
has "$T/out" "CKR_ATTRIBUTE_SENSITIVE"
sig 0 key pubkey ed --out "$T/ed.pem"
openssl pkey -pubin -in "$T/ed.pem" -noout -text >"$T/text" 2>&1
has "$T/text" "^ED25519 Public-Key"
eq "$(openssl pkey -pubin -in "$T/ed.pem" -outform DER | sha256sum | cut -c1-64)" "$(yaml_get "$rec" spki_sha256)" "spki_sha256"
# The token's CKA_EC_POINT (an OCTET STRING of 32 bytes) is the key openssl reads.
p11tool --list-objects --type pubkey >"$T/p11" 2>&1
id=$(yaml_get "$rec" id)
point=$(awk -v id="$id" '/^Public Key Object/{pt=""} /EC_POINT:/{pt=$2} /ID:/{if ($2 == id) print pt}' "$T/p11")
[ -n "$point" ] || { cat "$T/p11"; fail "pkcs11-tool shows no EC_POINT"; }
eq "${point:4}" "$(openssl pkey -pubin -in "$T/ed.pem" -outform DER | tail -c 32 | xxd -p -c 64)" "EC_POINT is the key"
sig 0 key show ed
has "$T/out" "^algorithm: +ed25519"
has "$T/out" "^certificates: none \(an Ed25519 key signs MCUboot images"

# keys.c as MCUboot holds an Ed25519 key: the 44-byte SubjectPublicKeyInfo.
sig 0 header "$T/ed.pem" --format mcuboot --out "$T/keys.c"
has "$T/keys.c" "ed25519_pub_key\[\]"
python3 - "$T/keys.c" "$T/keys.der" <<'EOF' || fail "keys.c array"
import re, sys
src = open(sys.argv[1]).read()
arr = re.search(r'\{([^}]*)\}', src).group(1)
open(sys.argv[2], 'wb').write(bytes(int(x, 16) for x in re.findall(r'0x([0-9a-fA-F]{2})', arr)))
EOF
cmp -s "$T/keys.der" <(openssl pkey -pubin -in "$T/ed.pem" -outform DER) || fail "keys.c is not the SPKI"
eq "$(stat -c %s "$T/keys.der")" 44 "SPKI length"

{ head -c 32 /dev/zero; head -c 5000 /dev/urandom; } >"$T/fw.bin"
to_hex "$T/fw.bin" "$T/fw.hex"
# hexraw HEX OUT: the bytes of an Intel HEX file from its lowest address.
hexraw() { python3 -c '
import sys
mem = {}; upper = 0
for line in open(sys.argv[1]):
    b = bytes.fromhex(line.strip()[1:])
    n, a, t = b[0], b[1] << 8 | b[2], b[3]
    if t == 4: upper = b[4] << 8 | b[5]
    elif t == 0:
        for i in range(n): mem[(upper << 16) + a + i] = b[4 + i]
lo, hi = min(mem), max(mem)
open(sys.argv[2], "wb").write(bytes(mem.get(x, 0xff) for x in range(lo, hi + 1)))' "$1" "$2"; }
# peer IMAGE: openssl verifies the Ed25519 signature TLV over the SHA-256 of header, body and protected TLVs.
peer() {
  local img=$1
  head -c "$(hashed_len "$img")" "$img" >"$T/hashed"
  openssl dgst -sha256 -binary "$T/hashed" >"$T/digest"
  tlv "$img" 0x10 "$T/hashtlv" || fail "$img: no SHA-256 hash TLV"
  cmp -s "$T/digest" "$T/hashtlv" || return 1
  tlv "$img" 0x24 "$T/sig" || fail "$img: no Ed25519 signature TLV (0x24)"
  eq "$(stat -c %s "$T/sig")" 64 "Ed25519 signature length"
  tlv "$img" 0x01 "$T/kh" || fail "$img: no key hash TLV"
  cmp -s "$T/kh" <(sha256sum "$T/keys.der" | cut -c1-64 | xxd -r -p) || fail "$img: key hash is not SHA-256 of keys.c's SPKI"
  openssl pkeyutl -verify -pubin -inkey "$T/ed.pem" -rawin -in "$T/digest" -sigfile "$T/sig" >"$T/peer" 2>&1
}

records() { grep -c '"op":"sign"' "$S/audit.log"; }
n=0
for form in bin hex; do
  for pad in "" "--pad --slot-size 0x10000 --align 8"; do
    out="$T/ed.${pad:+pad.}signed.$form"
    before=$(records)
    sig 0 sign "$T/fw.$form" --key ed --format mcuboot --version 2.0.1+7 $pad --out "$out"
    has "$T/out" "signed .*fw.$form as (a raw|an Intel HEX) MCUboot image \\(version 2.0.1\\+7, ed25519 over SHA-256, key hash TLV\\) with key 'ed'"
    eq "$(records)" "$((before + 1))" "$form: one audit record per image"
    eq "$(last_record details.signature_algorithm)" Ed25519 "$form: the record says Ed25519"
    sig 0 verify "$out" --format mcuboot --key ed
    has "$T/out" "^valid: MCUboot's image check accepts .*version 2.0.1\\+7, SHA-256 hash, ed25519 signature by key 'ed' in custody \\(checked with OpenSSL .*no Ed25519; MCUboot uses its own Ed25519 code\\)"
    sig 0 verify "$out" --format mcuboot --header "$T/keys.c"
    raw=$out
    if [ "$form" = hex ]; then hexraw "$out" "$T/fromhex.bin"; raw="$T/fromhex.bin"; fi
    peer "$raw" || { cat "$T/peer"; fail "openssl refuses $out"; }
    has "$T/peer" "Signature Verified Successfully"
    n=$((n + 1))
  done
done
eq "$n" 4 "images signed"
eq "$(stat -c %s "$T/ed.pad.signed.bin")" 65536 "padded to the slot"
sig 0 key match "$T/ed.signed.bin"
has "$T/out" "signed by key 'ed' in custody"

# One byte changed: refused by signet and by openssl.
img="$T/ed.signed.bin"
hl=$(hashed_len "$img")
size=$(stat -c %s "$img")
for off in 21 1000 $((size - 5)); do
  flip "$img" "$off" "$T/t.bin"
  sig 1 verify "$T/t.bin" --format mcuboot --key ed
  has "$T/out" "^invalid: MCUboot refuses"
  [ "$(wc -l <"$T/out")" -eq 1 ] || fail "byte $off: not one line"
  ! peer "$T/t.bin" || fail "openssl accepts the image with byte $off changed"
done
flip "$img" $((size - 5)) "$T/t.bin"
sig 1 verify "$T/t.bin" --format mcuboot --key ed
has "$T/out" "the ed25519 signature does not verify"
# The signature is over the hash: the hash TLV re-made for a changed body does not save it.
python3 - "$img" "$T/t.bin" "$hl" <<'EOF'
import hashlib, sys
b = bytearray(open(sys.argv[1], 'rb').read()); hl = int(sys.argv[3])
b[1000] ^= 1
i = b.find(bytes([0x10, 0, 32, 0]), hl)
b[i + 4:i + 36] = hashlib.sha256(b[:hl]).digest()
open(sys.argv[2], 'wb').write(b)
EOF
sig 1 verify "$T/t.bin" --format mcuboot --key ed
has "$T/out" "signature does not verify"
! peer "$T/t.bin" || fail "openssl accepts a signature over another hash"

# Where Ed25519 does not belong: one line, exit 3, the store unchanged.
sig 0 key generate ec1
snap=$(snapshot)
sig 3 rotate start ec1 ed; one_line_error
has "$T/err" "key 'ed' \(ed25519\) cannot take part in a rotation: rotate moves OTA fleets"
sig 3 rotate start ed ec1; one_line_error
has "$T/err" "key 'ed' \(ed25519\) cannot take part in a rotation"
sig 3 sign "$T/fw.bin" --key ed --out "$T/x.sig"; one_line_error
has "$T/err" "key 'ed' \(ed25519\) cannot sign OTA images: FreeRTOS devices verify ECDSA or RSA"
sig 3 cert issue ed; one_line_error
has "$T/err" "Ed25519 keys sign MCUboot images only"
sig 3 cert csr ed --out "$T/x.csr"; one_line_error
sig 3 cert reissue ed; one_line_error
sig 3 header ed --format mcuboot; one_line_error
has "$T/err" "key 'ed' \(ed25519\) has no certificate: give its public key file"
hasnt "$T/err" "cert issue"
openssl genpkey -algorithm ED25519 -out "$T/imp.pem" 2>/dev/null
sig 3 key import imp --private-key "$T/imp.pem"; one_line_error
has "$T/err" "Ed25519 keys are generated on the token"
eq "$(snapshot)" "$snap" "a refusal changed the store"
[ ! -e "$T/x.sig" ] && [ ! -e "$T/x.csr" ] || fail "a refusal left an output"
# A policy that does not list ed25519 refuses it before the token is touched.
sig 3 key generate ed2 --alg ed25519 --policy aws-freertos-esp32; one_line_error
has "$T/err" "does not allow ed25519"
sig 0 audit verify
sig 0 audit custody
