#!/usr/bin/env bash
# tpm2-pkcs11 1.9 on a software TPM (swtpm), started here: a module that
# refuses explicit CKA_DECRYPT/UNWRAP/DERIVE and ENCRYPT/WRAP false in the
# key template still generates (ECDSA P-256 and RSA), custody is what is
# read back, and issue, sign (verified by openssl and as a device would),
# audit custody and audit verify work.  Importing a legacy key is refused
# by the module with one clear line.
. "$(dirname "$0")/../lib.sh"
TPM2_MODULE=$(ls /usr/lib/*/pkcs11/libtpm2_pkcs11.so 2>/dev/null | head -1)
[ -n "$TPM2_MODULE" ] || fail "libtpm2_pkcs11.so missing (Debian package libtpm2-pkcs11-1)"
command -v swtpm >/dev/null || fail "swtpm missing (Debian package swtpm)"
mkdir -p "$T/tpm" "$T/tpmstore"
SWTPM_PID=
for try in 1 2 3 4 5; do
  port=$(( 20000 + (RANDOM % 20000) * 2 ))
  swtpm socket --tpm2 --server type=tcp,port=$port,bindaddr=127.0.0.1 --ctrl type=tcp,port=$(( port + 1 )),bindaddr=127.0.0.1 \
    --tpmstate dir="$T/tpm" --flags not-need-init,startup-clear >"$T/swtpm.log" 2>&1 &
  SWTPM_PID=$!
  sleep 0.3
  kill -0 "$SWTPM_PID" 2>/dev/null && break
  SWTPM_PID=
done
[ -n "$SWTPM_PID" ] || { cat "$T/swtpm.log"; fail "swtpm did not start"; }
trap 'kill "$SWTPM_PID" 2>/dev/null; wait "$SWTPM_PID" 2>/dev/null; rm -rf "$T"' EXIT
export TPM2_PKCS11_TCTI="swtpm:host=127.0.0.1,port=$port" TPM2_PKCS11_STORE="$T/tpmstore" TPM2_PKCS11_LOG_LEVEL=0
unset SOFTHSM2_CONF
pkcs11-tool --module "$TPM2_MODULE" --init-token --label tpm --so-pin 13579 >/dev/null 2>&1 || fail "init token"
pkcs11-tool --module "$TPM2_MODULE" --token-label tpm --login --login-type so --so-pin 13579 --init-pin --pin 24680 >/dev/null 2>&1 || fail "init pin"
echo 24680 >"$T/pin"; chmod 600 "$T/pin"

sig 0 init --module "$TPM2_MODULE" --token tpm --pin-file "$T/pin"
# The store keeps the TPM's address for later runs.
sed -i '/^policy:/i\  env:\n    TPM2_PKCS11_TCTI: "'"$TPM2_PKCS11_TCTI"'"\n    TPM2_PKCS11_STORE: "'"$T/tpmstore"'"' "$S/signet.yaml"
unset TPM2_PKCS11_TCTI TPM2_PKCS11_STORE
sig 0 key generate fw
has "$T/out" "generated ecdsa-p256 key 'fw' on token 'tpm'"
for a in sensitive always_sensitive never_extractable local; do has "$S/keys/fw.yaml" "^  $a: true"; done
has "$S/keys/fw.yaml" "^  extractable: false"
sig 0 key generate fw-rsa --alg rsa-2048 --policy codesign-generic
sig 0 cert issue fw
head -c 50000 /dev/urandom >"$T/img"
sig 0 key pubkey fw --out "$T/fw.pub"
for k in fw fw-rsa; do
  sig 0 key pubkey "$k" --out "$T/$k.pub"
  sig 0 sign "$T/img" --key "$k" --out "$T/$k.sig"
  base64 -d "$T/$k.sig" >"$T/$k.der"
  run 0 openssl dgst -sha256 -verify "$T/$k.pub" -signature "$T/$k.der" "$T/img"
done
sig 0 verify "$T/img" --sig "$T/fw.sig" --cert "$S/certs/fw/current.pem"
sig 0 --json audit custody
eq "$(jq -r '[.keys[] | select(.origin != "audit") | .record] | sort | join(",")' "$T/out")" "fw,fw-rsa" "keys on the TPM token"
eq "$(jq -r .problems "$T/out")" 0 "custody problems"
sig 0 audit verify

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/legacy.pem" 2>/dev/null
sig 4 key import legacy --private-key "$T/legacy.pem"
has "$T/err" "^signet: cannot create the private key on token 'tpm'"
[ ! -e "$S/keys/legacy.yaml" ] || fail "record for a refused import"
