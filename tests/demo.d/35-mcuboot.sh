# Chapter: the bootloader's signature.  A boot key on the token, the
# keys.c MCUboot compiles in, an image signed as MCUboot checks it at
# boot, verified as bootutil does, one byte changed and refused.
# Sourced by tests/demo.sh ($SIGNET, $S, $W set).
step "MCUboot 1. A boot key on the token (separate from the OTA key fw: see docs/device.md)"
show "$SIGNET" key generate boot --alg ecdsa-p256
show "$SIGNET" key pubkey boot --out "$W/boot.pem"
step "MCUboot 2. Its keys.c, the key form MCUboot's bootutil compiles in"
show "$SIGNET" header "$W/boot.pem" --format mcuboot --out "$W/keys.c"
sed -n '/^const/,$p' "$W/keys.c"
step "MCUboot 3. Sign the application as an MCUboot image on the token: header, TLVs, trailer for a 128 KiB slot"
{ head -c 512 /dev/zero; head -c 40000 /dev/urandom; } >"$W/zephyr.bin"
show "$SIGNET" sign "$W/zephyr.bin" --key boot --format mcuboot --version 1.4.0+7 --header-size 0x200 \
  --align 8 --slot-size 0x20000 --pad --security-counter auto --out "$W/zephyr.signed.bin"
step "MCUboot 4. Verify it as the bootloader does, with the key from keys.c only"
show "$SIGNET" verify "$W/zephyr.signed.bin" --format mcuboot --header "$W/keys.c"
show "$SIGNET" key match "$W/zephyr.signed.bin"
step "MCUboot 5. One byte of the application changed: the bootloader refuses to boot it"
cp "$W/zephyr.signed.bin" "$W/tampered.bin"
printf '\x5a' | dd of="$W/tampered.bin" bs=1 seek=4096 conv=notrunc status=none
show "$SIGNET" verify "$W/tampered.bin" --format mcuboot --header "$W/keys.c" || true
