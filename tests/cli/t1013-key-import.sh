#!/usr/bin/env bash
# key import: a legacy key file (what an old build script left) comes into
# custody as a non-extractable token object with the same public key; the
# record says it was imported, the user is told to destroy the file.
. "$(dirname "$0")/../lib.sh"
new_store
peer_env

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/legacy.pem" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -outform DER -out "$T/legacy-rsa.der" 2>/dev/null

sig 0 key import old --private-key "$T/legacy.pem"
has "$T/err" "warning: '$T/legacy.pem' still holds the private key: destroy it"
rec="$S/keys/old.yaml"
eq "$(yaml_get "$rec" origin)" imported "origin"
eq "$(yaml_get "$rec" spki_sha256)" "$(openssl pkey -in "$T/legacy.pem" -pubout -outform DER | sha256sum | cut -d' ' -f1)" "spki of imported key"
has "$rec" "^  sensitive: true$"
has "$rec" "^  extractable: false$"
# Honest: it was outside the HSM before.
has "$rec" "^  never_extractable: false$"
has "$rec" "^  local: false$"
p11tool --login --pin "$(user_pin)" --list-objects --type privkey --label old >"$T/p11" 2>&1
has "$T/p11" "Access: +sensitive"
run 0 "$BUILD/fakes/p11peek" "$SOFTHSM_MODULE" signet "$S/hsm/user.pin" old

sig 0 key import old-rsa --private-key "$T/legacy-rsa.der"
eq "$(yaml_get "$S/keys/old-rsa.yaml" algorithm)" rsa-2048 "algorithm of DER RSA import"

before=$(snapshot)
sig 3 key import again --private-key "$T/legacy.pem"
one_line_error
has "$T/err" "already in custody as 'old'"
echo "not a key" >"$T/junk.pem"
sig 3 key import junk --private-key "$T/junk.pem"
one_line_error
has "$T/err" "'$T/junk.pem' is not a private key"
openssl genpkey -algorithm ED25519 -out "$T/ed.pem" 2>/dev/null
sig 3 key import ed --private-key "$T/ed.pem"
has "$T/err" "does not keep"
sig 2 key import nofile
has "$T/err" "missing --private-key"
eq "$(snapshot)" "$before" "store changed by refused imports"

# custody audit: imported keys are fine as imported; nothing unexplained.
sig 0 audit custody
has "$T/out" "old +imported"
