#!/usr/bin/env bash
# An external SoftHSM2 token (init --module) is guarded like the embedded
# one.  SoftHSM2 truncates and rewrites token.object on every login; a
# SIGKILL between the two used to leave it empty, and the token with every
# key was gone.  signet finds the token's directory through softhsm2.conf
# and the label in token.object, keeps its known-good copy in the store
# (hsm/good/<token dir>), takes the guard lock in the token's directory
# (shared by every store on the token), and restores a damaged file.
# Killed at each login rewrite of init --module and at sign's: the token
# and its keys survive and still sign.  A configuration signet cannot
# guard is refused with one line saying why.
. "$(dirname "$0")/../lib.sh"
command -v strace >/dev/null || fail "strace is needed (make deps installs it)"
mkdir -p "$T/ext/tokens"
printf 'directories.tokendir = %s/ext/tokens\nobjectstore.backend = file\n' "$T" >"$T/ext/conf"
export SOFTHSM2_CONF="$T/ext/conf"
echo 1234 >"$T/pin"
chmod 600 "$T/pin"
softhsm2-util --init-token --free --label prod --so-pin 5678 --pin 1234 >/dev/null
tok=$(ls -d "$T"/ext/tokens/*/); tok=${tok%/}
ext() { pkcs11-tool --module "$SOFTHSM_MODULE" --token-label prod --login --pin 1234 "$@"; }
# A key made on the token before signet: it must outlive every kill below.
ext --keypairgen --key-type EC:prime256v1 --label vendor --id 01 >/dev/null 2>&1 || fail "pkcs11-tool keypairgen"
printf 'firmware\n' >"$T/img.bin"

# writes_of ARGS...: how many times signet ARGS writes the token's token.object.
writes_of() {
  strace -f -P "$tok/token.object" -o "$T/tr" -e trace=write "$SIGNET" "$@" >/dev/null 2>&1
  grep -c 'write(' "$T/tr"
}
# kill_at N ARGS...: signet ARGS killed at its Nth write of token.object (strace -P counts only those).
kill_at() {
  local n=$1; shift
  run 137 strace -f -o /dev/null -P "$tok/token.object" -e trace=write -e inject=write:signal=SIGKILL:when="$n" "$SIGNET" "$@"
}

# init --module, killed at each rewrite of token.object (the probe's login and the first session's).
n=$(writes_of init --module "$SOFTHSM_MODULE" --token prod --pin-file "$T/pin")
[ "$n" -ge 2 ] || { cat "$T/tr"; fail "init --module does not rewrite token.object twice (SoftHSM2 changed?)"; }
kills=0
for i in $(seq 1 "$n"); do
  rm -rf "$S"
  cp "$tok/token.object" "$T/token.keep"
  kill_at "$i" init --module "$SOFTHSM_MODULE" --token prod --pin-file "$T/pin"
  [ ! -s "$tok/token.object" ] || fail "the kill at write #$i did not leave token.object empty (test is not testing)"
  kills=$((kills + 1))
  # The next init (after a killed probe) or any command of the store (after a killed first session) repairs it.
  if [ -e "$S/signet.yaml" ]; then
    "$SIGNET" audit verify >"$T/out" 2>"$T/err"	# opens the token (its verdict is t1076's)
  else
    sig 0 init --module "$SOFTHSM_MODULE" --token prod --pin-file "$T/pin"
  fi
  has "$T/err" "recovered: token file '$tok/token.object' was empty"
  cmp -s "$tok/token.object" "$T/token.keep" || [ -s "$tok/token.object" ] || fail "token.object not restored"
  ext --list-objects --type privkey >"$T/objs" 2>&1 || { cat "$T/objs"; fail "pkcs11-tool cannot use the token after the kill"; }
  has "$T/objs" "label: *vendor"
  rm -rf "$S"
done
note "init --module killed at $kills login rewrites; the token survived each"

sig 0 init --module "$SOFTHSM_MODULE" --token prod --pin-file "$T/pin"
[ -e "$tok/.signet-guard.lock" ] || fail "no guard lock in the token's directory"
ls "$S/hsm/good/$(basename "$tok")"/token.object >/dev/null || fail "no known-good copy of the external token"
sig 0 key generate fw
sig 0 key adopt vendor --id 01
sig 0 cert issue fw

# sign, killed at its login's rewrite of token.object.
[ "$(writes_of sign "$T/img.bin" --key fw)" -ge 1 ] || fail "sign does not write token.object"
kill_at 1 sign "$T/img.bin" --key fw
[ ! -s "$tok/token.object" ] || fail "the kill did not leave token.object empty (test is not testing)"
sig 0 sign "$T/img.bin" --key fw
has "$T/err" "recovered: token file '$tok/token.object' was empty .*restored it from the known-good copy"
grep -q '"op":"recovered".*"repair":"token file restored from the known-good copy"' "$S/audit.log" || fail "no audit record of the repair"
for k in fw vendor; do
  sig 0 sign "$T/img.bin" --key "$k"
  base64 -d "$T/img.bin.sig" >"$T/sig.der"
  "$SIGNET" key pubkey "$k" >"$T/$k.pub" 2>/dev/null
  run 0 openssl dgst -sha256 -verify "$T/$k.pub" -signature "$T/sig.der" "$T/img.bin"
done
sig 0 audit verify
sig 0 audit custody

# A key object file the token lost is restored; the store's backup still holds no token file.
obj=$(for f in "$tok"/*.object; do [ "$(xxd -s 8 -l 24 -p "$f")" = 000000000000000000000000000000020000000000000003 ] && echo "$f"; done | head -1)
rm "$obj"
sig 0 key list
has "$T/err" "recovered: token file '$obj' was missing and signet did not destroy it"
sig 0 audit custody

# What cannot be guarded is refused before the module rewrites anything: one line saying why and how.
printf 'directories.tokendir = %s/ext/tokens\nobjectstore.backend = db\n' "$T" >"$T/ext/db.conf"
SOFTHSM2_CONF="$T/ext/db.conf" sig 4 --store "$T/s2" init --module "$SOFTHSM_MODULE" --token prod --pin-file "$T/pin"
one_line_error
has "$T/err" "cannot guard SoftHSM2 token 'prod': '$T/ext/db.conf' keeps tokens in objectstore.backend = db"
has "$T/err" "^hint: .*docs/custody.md"
[ ! -e "$T/s2" ] || fail "store created although the token cannot be guarded"
SOFTHSM2_CONF="$T/ext/none.conf" sig 4 --store "$T/s2" init --module "$SOFTHSM_MODULE" --token prod --pin-file "$T/pin"
one_line_error
has "$T/err" "cannot guard SoftHSM2 token 'prod': cannot read its configuration '$T/ext/none.conf'"
exit 0
