#!/usr/bin/env bash
# A token that does not honour custody (a shim over SoftHSM2 that reports
# CKA_EXTRACTABLE true: a real token never does) is refused: exit 4, the
# pair is destroyed, no key record, no audit record.
. "$(dirname "$0")/../lib.sh"
new_store
peer_env
sed -i "s|^  module: .*|  module: \"$BUILD/fakes/libp11shim.so\"|" "$S/signet.yaml"

SHIM_LIE=extractable run 4 "$SIGNET" key generate leaky
one_line_error
has "$T/err" "did not honour key custody for 'leaky' \(CKA_EXTRACTABLE is true\); the key pair was destroyed"
[ ! -e "$S/keys/leaky.yaml" ] || fail "key record written"
eq "$(wc -l <"$S/audit.log")" 2 "audit records"
p11tool --login --pin "$(user_pin)" --list-objects >"$T/p11" 2>&1
hasnt "$T/p11" "leaky"

SHIM_LIE=sensitive run 4 "$SIGNET" key generate leaky2
has "$T/err" "CKA_SENSITIVE is false"

# Through the honest path the same store works.
SHIM_LIE= run 0 "$SIGNET" key generate good
sig 0 audit verify

# A module that fails to initialise is an HSM error with one line.
SHIM_LIE=init run 4 "$SIGNET" key generate other
one_line_error
has "$T/err" "cannot initialise PKCS#11 module.*CKR_DEVICE_ERROR"
