#!/usr/bin/env bash
# A token without elliptic curves (the opencryptoki soft token; here the
# shim over SoftHSM2 with SHIM_NOEC=1 hides every EC mechanism and refuses
# them with CKR_MECHANISM_INVALID): init makes an RSA-2048 audit key, every
# later command exits 0 without an error line, heads are signed (PKCS#1
# v1.5, SHA-256: openssl checks them with audit.pub alone) and `audit
# verify` says so and still catches a rewritten log.  A token with neither
# EC nor RSA says so once, at init, and audit verify tells the truth.
. "$(dirname "$0")/../lib.sh"
SHIM="$BUILD/fakes/libp11shim.so"
[ -f "$SHIM" ] || fail "$SHIM missing (make $SHIM)"
mkdir -p "$T/ext/tokens"
printf 'directories.tokendir = %s/ext/tokens\nobjectstore.backend = file\n' "$T" >"$T/ext/conf"
export SOFTHSM2_CONF="$T/ext/conf"
echo 1234 >"$T/pin"; chmod 600 "$T/pin"
softhsm2-util --init-token --free --label noec --so-pin 5678 --pin 1234 >/dev/null
export SHIM_NOEC=1

# The shim really is a token without EC: pkcs11-tool sees no EC mechanism and cannot make an EC key.
# (A sanitizer build's shim needs the sanitizer runtimes loaded first in pkcs11-tool.)
peer() {
  if [ -n "${SANITIZE:-}" ]; then
    LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)" \
      ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0 pkcs11-tool "$@"
  else
    pkcs11-tool "$@"
  fi
}
peer --module "$SHIM" -M >"$T/mechs" 2>&1 || { cat "$T/mechs"; fail "pkcs11-tool -M through the shim"; }
has "$T/mechs" "RSA-PKCS-KEY-PAIR-GEN"
hasnt "$T/mechs" "^  (EC|ECDSA|ECDH|EDDSA)[-,]"
peer --module "$SHIM" --token-label noec --login --pin 1234 --keypairgen --key-type EC:prime256v1 \
  --label probe >"$T/p11" 2>&1 && fail "the shim made an EC key"
has "$T/p11" "mechanism .* not supported|CKR_MECHANISM_INVALID"

sig 0 -v init --module "$SHIM" --token noec --pin-file "$T/pin"
has "$T/err" "token 'noec' has no EC key generation or ECDSA: the audit key is RSA-2048"
hasnt "$T/err" "MECHANISM_INVALID"
hasnt "$T/err" "^signet: (warning: )?cannot"
run 0 openssl pkey -pubin -in "$S/audit.pub" -noout -text
has "$T/out" "Public-Key: \(2048 bit\)"
has "$T/out" "^Modulus:"
eq "$(last_record op)" audit.key "the audit key is on record"

# Every later command: exit 0, nothing on stderr, the head signed through its record.
sig 0 key generate fw --alg rsa-2048 --policy codesign-generic
eq "$(wc -c <"$T/err")" 0 "stderr of key generate"
# No CKM_EC_EDWARDS_KEY_PAIR_GEN either: an Ed25519 key is refused in one line, exit 4, nothing kept.
snap=$(snapshot)
sig 4 key generate ed --alg ed25519 --policy codesign-generic; one_line_error
has "$T/err" "cannot generate a key pair on token 'noec': the token does not support this algorithm \(CKR_MECHANISM_INVALID\)"
eq "$(snapshot)" "$snap" "a refused Ed25519 key generate changed the store"
sig 0 cert issue fw --policy codesign-generic
eq "$(wc -c <"$T/err")" 0 "stderr of cert issue"
head -c 5000 /dev/urandom >"$T/img"
sig 0 sign "$T/img" --key fw --out "$T/img.sig"
eq "$(wc -c <"$T/err")" 0 "stderr of sign"
n=$(wc -l <"$S/audit.log")
sig 0 audit verify
eq "$(wc -c <"$T/err")" 0 "stderr of audit verify"
has "$T/out" "^audit log intact: $n records"
has "$T/out" "head signed by the audit key \(SPKI SHA-256 [0-9a-f]{64}\) through record $n$"
has "$T/out" "the token's anchor \(record $n\) is in the log"
hasnt "$T/out" "no audit key yet"

# The signed head, checked by openssl with nothing but audit.pub (RSA PKCS#1 v1.5, SHA-256).
sig 0 audit head
read -r _ seq hash b64 <"$T/out"
eq "$seq" "$n" "signed head seq"
printf '%s' "$b64" | base64 -d >"$T/head.sig"
eq "$(wc -c <"$T/head.sig")" 256 "RSA-2048 signature length"
printf 'signet audit head v1\nseq %s\nhash %s\n' "$seq" "$hash" >"$T/head.msg"
run 0 openssl dgst -sha256 -verify "$S/audit.pub" -signature "$T/head.sig" "$T/head.msg"
printf 'signet audit head v1\nseq %s\nhash %s\n' "$((seq - 1))" "$hash" >"$T/bad.msg"
run 1 openssl dgst -sha256 -verify "$S/audit.pub" -signature "$T/head.sig" "$T/bad.msg"
sig 0 audit head
cp "$T/out" "$T/head.copy"
sig 0 audit verify --head "$T/head.copy"

# Rewriting log and head without the token is still caught.
cp -a "$S" "$T/pristine"
sed -i '2s/"op":"audit.key"/"op":"audit.kez"/' "$S/audit.log"
prev=0000000000000000000000000000000000000000000000000000000000000000
: >"$T/rewritten"
while IFS= read -r line; do
  line=$(jq -c --arg p "$prev" '.prev = $p' <<<"$line")
  printf '%s\n' "$line" >>"$T/rewritten"
  prev=$(printf '%s' "$line" | sha256sum | cut -c1-64)
done <"$S/audit.log"
mv "$T/rewritten" "$S/audit.log"
{ echo "$prev"; sed -n 2p "$S/audit.head"; } >"$T/h"; mv "$T/h" "$S/audit.head"
sig 1 audit verify
one_line_error
has "$T/err" "the log was rewritten"
rm -rf "$S"; cp -a "$T/pristine" "$S"
sig 0 audit verify

# A token with neither EC nor RSA key generation (SHIM_NORSA too): init says
# once, plainly, that heads are not signed there and records it; later
# commands say nothing about it; audit verify tells the truth (no promise of
# a key that can never come).
softhsm2-util --init-token --free --label bare --so-pin 5678 --pin 1234 >/dev/null
export SHIM_NORSA=1 SIGNET_STORE="$T/bare"
sig 0 init --module "$SHIM" --token bare --pin-file "$T/pin"
eq "$(grep -c '^signet: ' "$T/err")" 1 "lines init prints on a token without EC or RSA"
has "$T/err" "^signet: warning: token 'bare' offers neither EC nor RSA key generation: it cannot hold an audit key, so audit heads are not signed there"
hasnt "$T/err" "MECHANISM_INVALID"
[ ! -e "$T/bare/audit.pub" ] || fail "audit.pub without an audit key"
eq "$(tail -1 "$T/bare/audit.log" | jq -r '.op + " " + .result')" "audit.key unavailable" "the record saying so"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/legacy.pem" 2>/dev/null
chmod 600 "$T/legacy.pem"
sig 0 key import fw --private-key "$T/legacy.pem"
hasnt "$T/err" "audit|MECHANISM"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/legacy2.pem" 2>/dev/null
chmod 600 "$T/legacy2.pem"
sig 0 key import fw2 --private-key "$T/legacy2.pem"
hasnt "$T/err" "audit|MECHANISM"
eq "$(grep -c '"result":"unavailable"' "$T/bare/audit.log")" 1 "said and recorded once"
sig 0 audit verify
eq "$(wc -c <"$T/err")" 0 "stderr of audit verify"
has "$T/out" "^  no audit key: token 'bare' offers neither EC nor RSA key generation, so heads are not signed there$"
hasnt "$T/out" "next state-changing command makes one"
sig 0 --json audit verify
eq "$(jq -r '.intact, .audit_key_unavailable' "$T/out" | tr '\n' ' ')" "true true " "json verdict"
exit 0
