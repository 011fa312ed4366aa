# Chapter 2: certificates for the SAME key.  Issue the code-signing
# certificate for key `fw` under the ESP32 policy; lint a web-server
# certificate to see the EKU error AWS Signer would give; bring in the key
# and expired certificate an old build script left behind and reissue it
# for the same public key; renew what is about to expire, twice.
# Sourced by tests/demo.sh ($SIGNET, $S, $W, $TOP set; chapter 1 made `fw`).
step "6. Issue a code-signing certificate for fw (policy aws-freertos-esp32), signed on the token"
show "$SIGNET" policy show aws-freertos-esp32
show "$SIGNET" cert issue fw
printf '$ openssl x509 -in %s -noout -ext keyUsage,extendedKeyUsage,basicConstraints\n' "$S/certs/fw/current.pem"
openssl x509 -in "$S/certs/fw/current.pem" -noout -ext keyUsage,extendedKeyUsage,basicConstraints
show openssl verify -CAfile "$S/certs/fw/current.pem" "$S/certs/fw/current.pem"

step "7. Lint a web-server certificate: AWS Signer would refuse it (exit 1)"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/web.key" -subj "/CN=www.example.com" \
  -days 365 -addext "extendedKeyUsage=serverAuth" -addext "keyUsage=critical,digitalSignature,keyEncipherment" \
  -out "$W/web.pem" 2>/dev/null
show "$SIGNET" cert lint "$W/web.pem" || true
show "$SIGNET" cert lint "$S/certs/fw/current.pem"

step "8. The old build script's key and its EXPIRED certificate (baked into devices in the field)"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/legacy.key" 2>/dev/null
"$TOP/tests/vectors/cert/mkcert.sh" "$W/legacy.pem" "$W/legacy.key" 20230101000000Z 20240101000000Z sha256 \
  "/CN=ota-signer/O=Acme Devices" "keyUsage = critical,digitalSignature"
show "$SIGNET" cert lint "$W/legacy.pem" || true
printf '$ signet cert reissue %s    # before the key is in custody: refused, store unchanged\n' "$W/legacy.pem"
"$SIGNET" cert reissue "$W/legacy.pem" || true
show "$SIGNET" key import legacy --private-key "$W/legacy.key"
rm -f "$W/legacy.key"
show "$SIGNET" cert reissue "$W/legacy.pem"
printf 'SPKI SHA-256, old and new certificate (must be equal):\n'
for c in "$W/legacy.pem" "$S/certs/legacy/current.pem"; do
  openssl x509 -in "$c" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1
done

step "9. Renew: a certificate inside its renewal window is reissued once; running again does nothing"
show "$SIGNET" cert reissue legacy --days 20
show "$SIGNET" cert list
show "$SIGNET" renew --check || true
show "$SIGNET" renew
show "$SIGNET" renew
show "$SIGNET" renew --check
