#!/usr/bin/env bash
# init --module/--token records an existing token after a real login;
# a missing module, a missing token or a wrong PIN are exit 4 and leave
# no store behind.
. "$(dirname "$0")/../lib.sh"

# An existing SoftHSM2 token made with the vendor's tool, outside signet.
mkdir -p "$T/ext/tokens"
printf 'directories.tokendir = %s/ext/tokens\nobjectstore.backend = file\n' "$T" >"$T/ext/conf"
export SOFTHSM2_CONF="$T/ext/conf"
echo 1234 >"$T/pin"
chmod 600 "$T/pin"
softhsm2-util --init-token --free --label prod --so-pin 5678 --pin 1234 >/dev/null

sig 4 init --module /nonexistent/libpkcs11.so --token prod --pin-file "$T/pin"
one_line_error
has "$T/err" "cannot load PKCS#11 module '/nonexistent/libpkcs11.so'"
[ ! -e "$S" ] || fail "store created despite the error"

sig 4 init --module "$SOFTHSM_MODULE" --token nosuch --pin-file "$T/pin"
one_line_error
has "$T/err" "no token labelled 'nosuch'.*'prod'"
[ ! -e "$S" ] || fail "store created despite the error"

echo 9999 >"$T/bad"; chmod 600 "$T/bad"
sig 4 init --module "$SOFTHSM_MODULE" --token prod --pin-file "$T/bad"
one_line_error
has "$T/err" "wrong PIN"
[ ! -e "$S" ] || fail "store created despite the error"

sig 2 init --module "$SOFTHSM_MODULE"
has "$T/err" "go together"

sig 0 init --module "$SOFTHSM_MODULE" --token prod --pin-file "$T/pin"
has "$S/signet.yaml" "^  token: \"prod\""
has "$S/signet.yaml" "^  pin_source: \"file:$T/pin\""
[ ! -e "$S/hsm/tokens" ] || fail "an embedded token was made for --module"
# the external SoftHSM2 token is guarded: its known-good copy is in the store (t1071)
ls "$S"/hsm/good/*/token.object >/dev/null 2>&1 || fail "no known-good copy of the external SoftHSM2 token"

# It works from a shell that no longer has SOFTHSM2_CONF: the store recorded it.
unset SOFTHSM2_CONF
sig 0 key generate ext-key
SOFTHSM2_CONF="$T/ext/conf" pkcs11-tool --module "$SOFTHSM_MODULE" --token-label prod --login --pin 1234 \
  --list-objects --type privkey >"$T/p11" 2>&1
has "$T/p11" "label: +ext-key"
