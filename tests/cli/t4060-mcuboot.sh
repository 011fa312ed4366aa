#!/usr/bin/env bash
# sign --format mcuboot: for every key type MCUboot verifies (ECDSA P-256,
# P-384, RSA-2048/3072 PSS), raw and Intel HEX, with and without --pad,
# the image signet makes on the token is accepted by an independent
# verifier written from the format on mbedTLS (build/fakes/mcubootverify)
# and by openssl (signature over the image hash), and by `signet verify
# --format mcuboot`; one audit record per image.  One byte changed in the
# header, body, protected TLVs or signature, a wrong key, a truncated TLV
# area and a header-size lie are refused by both verifiers alike.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/mcuboot.sh"
MV="$BUILD/fakes/mcubootverify"
[ -x "$MV" ] || fail "$MV is not built (make check builds it)"
command -v python3 >/dev/null || fail "python3 is needed"
new_store
sig 0 key generate p256 --alg ecdsa-p256
sig 0 key generate p384 --alg ecdsa-p384 --policy codesign-generic
sig 0 key generate r2048 --alg rsa-2048 --policy codesign-generic
sig 0 key generate r3072 --alg rsa-3072 --policy codesign-generic
{ head -c 32 /dev/zero; head -c 6000 /dev/urandom; } >"$T/fw.bin"
# The same build as Intel HEX at a flash slot's address.
to_hex "$T/fw.bin" "$T/fw.hex"


records() { grep -c '"op":"sign"' "$S/audit.log"; }
n=0
for k in p256 p384 r2048 r3072; do
  sig 0 key pubkey "$k" --out "$T/$k.pem"
  for form in bin hex; do
    for pad in "" "--pad --slot-size 0x10000 --align 8"; do
      out="$T/$k.${pad:+pad.}signed.$form"
      before=$(records)
      sig 0 sign "$T/fw.$form" --key "$k" --format mcuboot --version 1.2.3+45 --security-counter auto $pad --out "$out"
      has "$T/out" "signed .*fw.$form as (a raw|an Intel HEX) MCUboot image \\(version 1.2.3\\+45"
      eq "$(records)" "$((before + 1))" "$k $form: one audit record per image"
      eq "$(last_record details.output_sha256)" "$(sha256sum "$out" | cut -c1-64)" "$k $form: the record names the image"
      run 0 "$MV" "$out" "$T/$k.pem"
      has "$T/out" '^OK$'
      sig 0 verify "$out" --format mcuboot --key "$k"
      has "$T/out" "^valid: MCUboot's image check accepts .*version 1.2.3\+45"
      has "$T/out" "not checked: .*security counter \\(16908291\\)"
      n=$((n + 1))
    done
  done
  # openssl, a second peer: the signature TLV over the hash of header, body and protected TLVs.
  img="$T/$k.signed.bin"
  head -c "$(hashed_len "$img")" "$img" >"$T/hashed"
  case $k in
    p384) md=sha384 sigt=0x22 ;;
    p256) md=sha256 sigt=0x22 ;;
    r2048) md=sha256 sigt=0x20 ;;
    r3072) md=sha256 sigt=0x23 ;;
  esac
  tlv "$img" "$sigt" "$T/sig" || fail "$k: no signature TLV $sigt"
  openssl dgst -"$md" -binary "$T/hashed" >"$T/digest"
  tlv "$img" "$([ $md = sha384 ] && echo 0x11 || echo 0x10)" "$T/hashtlv" || fail "$k: no hash TLV"
  cmp -s "$T/digest" "$T/hashtlv" || fail "$k: hash TLV is not the $md of header, body and protected TLVs"
  case $k in
    r*) run 0 openssl pkeyutl -verify -pubin -inkey "$T/$k.pem" -in "$T/digest" -sigfile "$T/sig" \
          -pkeyopt digest:sha256 -pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:32 -pkeyopt rsa_mgf1_md:sha256 ;;
    *) run 0 openssl pkeyutl -verify -pubin -inkey "$T/$k.pem" -in "$T/digest" -sigfile "$T/sig" ;;
  esac
  has "$T/out" "Signature Verified Successfully"
done
eq "$n" 16 "images signed"

# The header, trailer and TLVs as the format lays them out.
img="$T/p256.pad.signed.bin"
eq "$(stat -c %s "$img")" 65536 "padded to the slot"
eq "$(head -c 4 "$img" | xxd -p)" 3db8f396 "image magic"
eq "$(tail -c 16 "$img" | xxd -p)" 77c295f360d2ef7f3552500f2cb67980 "boot magic at the slot's end"
tlv "$img" 0x50 "$T/seccnt" || fail "no security counter TLV"
eq "$(xxd -p "$T/seccnt")" 03000201 "security counter auto = 1.2.3 (major<<24 | minor<<16 | revision)"
tlv "$img" 0x01 "$T/kh" || fail "no key hash TLV"
sig 0 header "$T/p256.pem" --format mcuboot --out "$T/keys.c"
python3 - "$T/keys.c" "$T/kh" <<'EOF' || fail "the key hash TLV is not the SHA-256 of the keys.c array"
import hashlib, re, sys
src = open(sys.argv[1]).read()
arr = re.search(r'\{([^}]*)\}', src).group(1)
key = bytes(int(x, 16) for x in re.findall(r'0x([0-9a-fA-F]{2})', arr))
sys.exit(0 if hashlib.sha256(key).digest() == open(sys.argv[2], 'rb').read() else 1)
EOF
sig 0 verify "$img" --format mcuboot --header "$T/keys.c"
has "$T/out" "^valid: .*keys.c"
sig 0 verify "$img" --format mcuboot --cert "$T/p256.pem"
sig 1 verify "$img" --format mcuboot --cert "$T/p384.pem"
has "$T/out" "no SHA-384 hash TLV"   # a P-384 bootloader hashes with SHA-384
sig 0 header "$T/r3072.pem" --format mcuboot --out "$T/rsa_keys.c"   # PKCS#1 RSAPublicKey, as keys.c holds it
sig 0 verify "$T/r3072.pad.signed.hex" --format mcuboot --header "$T/rsa_keys.c"
sig 0 sign "$T/fw.bin" --key p256 --format mcuboot --confirm --slot-size 0x10000 --align 8 --out "$T/confirmed.bin"
eq "$(tail -c 24 "$T/confirmed.bin" | head -c 1 | xxd -p)" 01 "--confirm sets image_ok (16-byte magic, 8-byte flag before it)"
sig 2 sign - --key r2048 --format mcuboot </dev/null; one_line_error
run 0 "$SIGNET" sign - --key r2048 --format mcuboot --public-key-format full --out "$T/full.bin" <"$T/fw.bin"
tlv "$T/full.bin" 0x02 "$T/fullkey" || fail "no public key TLV"
run 0 "$MV" "$T/full.bin" "$T/r2048.pem"
sig 0 verify "$T/full.bin" --format mcuboot --key r2048
head -c 100 /dev/urandom >"$T/nozero.bin"
sig 0 sign "$T/nozero.bin" --key p256 --format mcuboot --pad-header --header-size 0x200 --load-addr 0x20000000 --out "$T/ph.bin"
run 0 "$MV" "$T/ph.bin" "$T/p256.pem"
eq "$(stat -c %s "$T/ph.bin")" "$((512 + 100 + 4 + 36 + 36 + 4 + $(tlv "$T/ph.bin" 0x22 "$T/s" && stat -c %s "$T/s")))" "pad-header layout"

# extract and key match name the key in custody that signed an image.
sig 0 key match "$T/p384.signed.bin" "$T/r2048.pad.signed.hex"
has "$T/out" "p384.signed.bin: MCUboot image version 1.2.3\+45: signed by key 'p384' in custody"
has "$T/out" "r2048.pad.signed.hex: MCUboot image \(Intel HEX\) version 1.2.3\+45: signed by key 'r2048' in custody"
sig 0 extract "$T/full.bin"
has "$T/out" "signed by key 'r2048' in custody \(rsa-2048, signature verified\)"
sig 1 key match "$T/fw.bin"
hasnt "$T/out" "MCUboot"

# Tampering, refused by both verifiers alike.
refused() {
  local what=$1 img=$2 key=$3
  run 1 "$MV" "$img" "$T/$key.pem"
  has "$T/out" '^refused: '
  sig 1 verify "$img" --format mcuboot --key "$key"
  has "$T/out" "^invalid: MCUboot refuses"
  [ "$(wc -l <"$T/out")" -eq 1 ] || fail "$what: not one line"
}
for k in p256 p384 r2048 r3072; do
  img="$T/$k.signed.bin"
  hl=$(hashed_len "$img")
  size=$(stat -c %s "$img")
  flip "$img" 21 "$T/t.bin"; refused "$k header" "$T/t.bin" "$k"
  has "$T/out" "does not match its hash TLV"
  flip "$img" 1000 "$T/t.bin"; refused "$k body" "$T/t.bin" "$k"
  flip "$img" $((hl - 1)) "$T/t.bin"; refused "$k protected TLV" "$T/t.bin" "$k"
  flip "$img" $((size - 5)) "$T/t.bin"; refused "$k signature" "$T/t.bin" "$k"
  head -c $((size - 3)) "$img" >"$T/t.bin"; refused "$k truncated TLVs" "$T/t.bin" "$k"
  has "$T/out" "past the end"
  python3 -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); b[8]=64; open(sys.argv[2],"wb").write(b)' "$img" "$T/t.bin"
  refused "$k header-size lie" "$T/t.bin" "$k"
done
other=(p384 p256 r3072 r2048)
i=0
for k in p256 p384 r2048 r3072; do
  refused "$k wrong key" "$T/$k.signed.bin" "${other[$i]}"
  flip "$T/$k.signed.bin" $(($(stat -c %s "$T/$k.signed.bin") - 5)) "$T/t.bin"
  sig 1 key match "$T/t.bin"    # the key TLV names the key, the signature does not verify: not signed by it
  has "$T/out" "names key '$k' in custody, but the bootloader refuses it"
  i=$((i + 1))
done
flip "$T/p256.signed.hex" 200 "$T/t.hex"   # a data character in the first record
run 2 "$MV" "$T/t.hex" "$T/p256.pem"       # its checksum no longer adds up
sig 3 verify "$T/t.hex" --format mcuboot --key p256
one_line_error

# Refused before the token signs: one line, the documented code, the store unchanged.
snap=$(snapshot)
sig 2 sign "$T/fw.bin" --key p256 --format mcuboot --header-size 16 --out "$T/x.bin"; one_line_error
sig 2 sign "$T/fw.bin" --key p256 --format imgtool --out "$T/x.bin"; one_line_error
has "$T/err" "unknown --format 'imgtool': use mcuboot"
sig 2 verify "$T/fw.bin" --format=zephyr --key p256; one_line_error
sig 2 sign "$T/fw.bin" --key p256 --format mcuboot --version 256.0.0 --out "$T/x.bin"; one_line_error
sig 2 sign "$T/fw.bin" --key p256 --format mcuboot --version 1.2 --align 3 --out "$T/x.bin"; one_line_error
sig 2 sign "$T/fw.bin" --key p256 --format mcuboot --pad --out "$T/x.bin"; one_line_error
sig 2 sign "$T/fw.bin" --key p256 --format mcuboot --out "$T/x.hex"; one_line_error
sig 3 sign "$T/fw.bin" --key p256 --format mcuboot --slot-size 0x1000 --out "$T/x.bin"; one_line_error
has "$T/err" "do not fit the 4096-byte slot"
sig 3 sign "$T/nozero.bin" --key p256 --format mcuboot --out "$T/x.bin"; one_line_error
has "$T/err" "pad-header"
sig 3 sign "$T/p256.signed.bin" --key p256 --format mcuboot --out "$T/x.bin"; one_line_error
has "$T/err" "already an MCUboot image"
sig 0 key generate r4096 --alg rsa-4096 --policy codesign-generic
snap=$(snapshot)
sig 3 sign "$T/fw.bin" --key r4096 --format mcuboot --out "$T/x.bin"; one_line_error
has "$T/err" "RSA-2048 and RSA-3072 only"
eq "$(snapshot)" "$snap" "a refused sign changed the store"
[ ! -e "$T/x.bin" ] && [ ! -e "$T/x.hex" ] || fail "a refused sign left an output"
# Fail closed: when the audit record cannot be written, no signed image is left.
mv "$S/audit.head" "$T/head.saved" && mkdir "$S/audit.head"
sig 3 sign "$T/fw.bin" --key p256 --format mcuboot --out "$T/noaudit.bin"; one_line_error
has "$T/err" "image not signed \\(no audit record\\)"
[ ! -e "$T/noaudit.bin" ] || fail "a signed image left behind after the audit append failed"
rmdir "$S/audit.head" && mv "$T/head.saved" "$S/audit.head"
sig 0 audit verify
