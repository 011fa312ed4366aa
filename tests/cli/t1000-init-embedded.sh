#!/usr/bin/env bash
# init: the embedded SoftHSM2 default creates the documented layout with
# private permissions and random PINs, and refuses to overwrite a store.
. "$(dirname "$0")/../lib.sh"

new_store
has "$T/out" "created store $S"
for f in signet.yaml audit.log audit.head hsm/softhsm2.conf hsm/user.pin hsm/so.pin; do
  [ -f "$S/$f" ] || fail "missing $f"
  eq "$(stat -c %a "$S/$f")" 600 "mode of $f"
done
eq "$(stat -c %a "$S")" 700 "mode of the store directory"
grep -Eqx '[0-9a-f]{32}' "$S/hsm/user.pin" || fail "user PIN is not 32 random hex digits"
[ "$(cat "$S/hsm/user.pin")" != "$(cat "$S/hsm/so.pin")" ] || fail "user and SO PIN are equal"
has "$S/signet.yaml" '^  token: "signet"'
has "$S/signet.yaml" '^  pin_source: "file:hsm/user.pin"'
has "$S/signet.yaml" 'SOFTHSM2_CONF: "hsm/softhsm2.conf"'
has "$S/hsm/softhsm2.conf" "^directories.tokendir = $S/hsm/tokens$"
ls "$(dirname "$S")" | grep -q '\.init' && fail "temporary init directory left behind"

# The token is real: an independent peer sees it and can log in with the PIN.
p11tool --login --pin "$(user_pin)" --list-objects >"$T/p11" 2>&1 || { cat "$T/p11"; fail "pkcs11-tool cannot log in"; }
SOFTHSM2_CONF="$S/hsm/softhsm2.conf" softhsm2-util --show-slots | grep -q 'Label:.*signet' || fail "softhsm2-util does not see token 'signet'"

sig 0 audit verify
has "$T/out" "2 records"

# A second init refuses and leaves everything as it was.
before=$(snapshot)
sig 3 init
one_line_error
has "$T/err" "already exists at '$S'"
eq "$(snapshot)" "$before" "store changed by refused init"

# A non-empty directory that is not a store is refused too.
mkdir -p "$T/other" && echo keep >"$T/other/file"
sig 3 --store "$T/other" init
one_line_error
has "$T/err" "not empty"
eq "$(cat "$T/other/file")" keep "existing file changed"

# An unknown default policy is refused before anything is created.
sig 3 --store "$T/p" init --policy nosuch
has "$T/err" "no policy 'nosuch'"
[ ! -e "$T/p" ] || fail "store created with an unknown policy"

# --json prints one document with stable fields.
sig 0 --json --store "$T/j" init --policy codesign-generic
has "$T/out" '"store": "'"$T/j"'"'
has "$T/out" '"embedded": true'
has "$T/j/signet.yaml" '^policy: "codesign-generic"'
