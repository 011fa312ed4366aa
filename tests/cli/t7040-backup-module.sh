#!/usr/bin/env bash
# A store on another PKCS#11 module (a token made with softhsm2-util,
# recorded with init --module): backup covers records, certificates and
# the audit log, says on stderr that the keys are the HSM's to back up,
# and holds no token file.  The restored store still reaches the keys on
# that HSM; the drill says the keys are not in the backup.
. "$(dirname "$0")/../lib.sh"
mkdir -p "$T/ext/tokens"
printf 'directories.tokendir = %s/ext/tokens\nobjectstore.backend = file\n' "$T" >"$T/ext/conf"
export SOFTHSM2_CONF="$T/ext/conf"
echo 1234 >"$T/pin"
chmod 600 "$T/pin"
softhsm2-util --init-token --free --label prod --so-pin 5678 --pin 1234 >/dev/null
sig 0 init --module "$SOFTHSM_MODULE" --token prod --pin-file "$T/pin"
sig 0 key generate ext
sig 0 cert issue ext
printf 'correct horse battery staple\n' >"$T/pass"

sig 0 backup "$T/m.sbk" --passphrase-file "$T/pass" --scrypt-n 15
has "$T/err" "^signet: warning: the keys are not in this backup: they stay on token 'prod' of module '$SOFTHSM_MODULE'; back them up with the HSM's own tools"
has "$T/out" "records, certificates and audit log only"
has "$S/audit.log" '"keys_included":false'

# Nothing of the token is in it: the payload lists only store files.
sig 0 restore "$T/m.sbk" --store "$T/r" --passphrase-file "$T/pass"
[ ! -e "$T/r/hsm" ] || fail "a module store's backup has an hsm/ directory"
[ -f "$T/r/keys/ext.yaml" ] && [ -f "$T/r/certs/ext/current.pem" ] && [ -f "$T/r/audit.log" ] ||
  fail "records, certificates or audit log missing"
find "$T/r" -name '*.object' | grep -q . && fail "token objects in a module store's backup"
# The restored records still name the same HSM, which still holds the key.
printf 'img\n' >"$T/img"
sig 0 --store "$T/r" sign "$T/img" --key ext

sig 0 restore "$T/m.sbk" --check --passphrase-file "$T/pass"
has "$T/out" "^  key ext +not-included +held by token 'prod'"
has "$T/err" "the keys are not in this backup"
exit 0
