# Chapter 3: the device side.  Export the certificate of key `fw` as the
# header ESP32 firmware bakes in, sign a demo image on the token, verify it
# exactly as the device would (mbedTLS when available), show what happens
# with an image signed by another key, and decode the 0xe3 the device
# reports then.  Sourced by tests/demo.sh ($SIGNET, $S, $W set).
if [ ! -f "$S/certs/fw/current.pem" ]; then
  step "(a certificate for fw: the certificate chapter has not run)"
  show "$SIGNET" cert issue fw
fi
step "10. Export the certificate as ota_demo_config.h bakes it in"
show "$SIGNET" header fw --format ota-pal --out "$W/ota_demo_config_signer.h"
sed -n '1,24p' "$W/ota_demo_config_signer.h"
step "11. Sign a firmware image on the token (ECDSA P-256 over SHA-256 of the whole file)"
head -c 262144 /dev/urandom >"$W/firmware.bin"
show "$SIGNET" sign "$W/firmware.bin" --key fw --ota-json "$W/ota-codesigning.json" --cert-name /spiffs/signer.crt
cat "$W/ota-codesigning.json"
step "12. Verify it like the device: public key from the baked header only"
show "$SIGNET" verify "$W/firmware.bin" --sig "$W/firmware.bin.sig" --header "$W/ota_demo_config_signer.h"
if command -v cc >/dev/null && [ -f /usr/include/mbedtls/x509_crt.h ]; then
  printf '$ cc -Wall -Werror ... bakedverify.c (the header compiled into an mbedTLS program, as ota_pal.c uses it)\n'
  cc -Wall -Werror -I"$W" -DBAKED_HEADER='"ota_demo_config_signer.h"' -DFMT_OTA_PAL \
    "$TOP/tests/vectors/device/bakedverify.c" -o "$W/bakedverify" -lmbedx509 -lmbedcrypto
  show "$W/bakedverify" "$W/firmware.bin" "$W/firmware.bin.sig"
fi
step "13. Which key can sign for these devices?"
show "$SIGNET" key match "$W/ota_demo_config_signer.h"
step "14. A build script that made a fresh key: the devices reject its image"
show "$SIGNET" key generate stray --alg ecdsa-p256
show "$SIGNET" sign "$W/firmware.bin" --key stray --out "$W/stray.sig"
show "$SIGNET" verify "$W/firmware.bin" --sig "$W/stray.sig" --header "$W/ota_demo_config_signer.h" || true
step "15. ... and report \"reason\":\"0x000000e3: 0x00000000\": what that means"
show "$SIGNET" explain '{"status":"FAILED","statusDetails":{"reason":"0x000000e3: 0x00000000"}}'
step "16. A header that lost its \\n (each PEM line a literal without \\n): OpenSSL reads it, the device cannot"
{ echo "#define otapalconfigCODE_SIGNING_CERTIFICATE \\"; sed 's/.*/    "&" \\/' "$S/certs/fw/current.pem"; echo '    ""'; } >"$W/no_newlines.h"
show "$SIGNET" extract "$W/no_newlines.h" || true
show "$SIGNET" verify "$W/firmware.bin" --sig "$W/firmware.bin.sig" --header "$W/no_newlines.h" || true
