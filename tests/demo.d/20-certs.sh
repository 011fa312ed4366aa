# Chapter 2: certificates for the SAME key.  Issue the code-signing
# certificate for key `fw` under the ESP32 policy; lint a web-server
# certificate to see the EKU error AWS Signer would give; bring in the key
# and expired certificate an old build script left behind and reissue it
# for the same public key; renew what is due (once: a second run does
# nothing), and see when a 20-day certificate falls due.
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

step "9. Renew: one rule says when a certificate is due; renew, cert list/show/lint and fleet all follow it"
# legacy's certificate as if issued 340 days ago: under 25 days of its year are left,
# inside the policy's 30-day renewal window.
issued=$(date -u -d '-340 days' +%Y-%m-%dT00:00:00Z)
printf '$ SIGNET_NOW=%s %s cert reissue legacy    # as if issued 340 days ago\n' "$issued" "$SIGNET"
SIGNET_NOW="$issued" "$SIGNET" cert reissue legacy >/dev/null
show "$SIGNET" cert list legacy
show "$SIGNET" cert lint legacy
show "$SIGNET" renew --check || true
show "$SIGNET" renew
show "$SIGNET" renew
show "$SIGNET" renew --check
# A certificate shorter than the window would be inside it from birth and be
# renewed on every run: it is due when a third of its life is left instead,
# and no command says otherwise before then.
show "$SIGNET" cert reissue legacy --days 20
show "$SIGNET" cert show legacy
show "$SIGNET" renew --check
later=$(date -u -d '+14 days' +%Y-%m-%dT%H:%M:%SZ)
printf '# two weeks on (SIGNET_NOW=%s): 6 of its 20 days left\n' "$later"
show env SIGNET_NOW="$later" "$SIGNET" renew --check || true
show env SIGNET_NOW="$later" "$SIGNET" cert lint legacy
