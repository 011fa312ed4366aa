#!/usr/bin/env bash
# restore --check, the backup drill: on a good backup every key signs on
# the restored token and verifies (exit 0; an Ed25519 key with CKM_EDDSA); when a key's token object is
# gone (removed with pkcs11-tool before the backup) that key fails and the
# drill exits 1; a backup of a store whose audit log was edited fails too.
# The temporary store is always removed, and the real store is untouched.
. "$(dirname "$0")/../lib.sh"
new_store
sig 0 key generate fw
sig 0 key generate boot --alg rsa-2048 --policy codesign-generic
sig 0 key generate edboot --alg ed25519 --policy codesign-generic   # MCUboot's Ed25519: CKM_EDDSA over a hash
sig 0 cert issue fw
printf 'correct horse battery staple\n' >"$T/pass"
mkdir "$T/tmp"
export TMPDIR="$T/tmp"

sig 0 backup "$T/good.sbk" --passphrase-file "$T/pass" --scrypt-n 15
snap=$(snapshot)
sig 0 restore "$T/good.sbk" --check --passphrase-file "$T/pass"
has "$T/out" "^  key fw +ok +signed and verified \(recorded SPKI and current certificate\)"
has "$T/out" "^  key boot +ok +signed and verified \(recorded SPKI\)"
has "$T/out" "^  key edboot +ok +signed and verified \(recorded SPKI\)"
has "$T/out" "^  audit log +intact"
has "$T/out" "drill passed"
[ -z "$(ls -A "$T/tmp")" ] || fail "drill left $(ls -A "$T/tmp")"
eq "$(snapshot)" "$snap" "the drill changed the real store"

sig 0 --json restore "$T/good.sbk" --check --passphrase-file "$T/pass"
eq "$(jq -r .result "$T/out")" passed "json result"
eq "$(jq -r '[.keys[] | .label + "=" + .result] | join(",")' "$T/out")" "boot=ok,edboot=ok,fw=ok" "json per key"
eq "$(jq -r .audit.result "$T/out")" intact "json audit"

# Remove fw's private key from the token behind signet's back, then back up.
p11tool --login --pin "$(user_pin)" --delete-object --type privkey --label fw >/dev/null 2>&1 ||
  fail "pkcs11-tool could not delete the key"
forget_deleted
sig 0 backup "$T/broken.sbk" --passphrase-file "$T/pass" --scrypt-n 15
sig 1 restore "$T/broken.sbk" --check --passphrase-file "$T/pass"
has "$T/out" "^  key fw +failed +the restored token does not hold the key"
has "$T/out" "^  key boot +ok"
has "$T/out" "drill FAILED"
[ -z "$(ls -A "$T/tmp")" ] || fail "failed drill left $(ls -A "$T/tmp")"

# A store whose audit log was edited: the drill says the chain is broken.
rm -rf "$S"
new_store
sig 0 key generate fw
sed -i '1s/"init"/"tnit"/' "$S/audit.log"
sig 0 backup "$T/tampered.sbk" --passphrase-file "$T/pass" --scrypt-n 15
sig 1 restore "$T/tampered.sbk" --check --passphrase-file "$T/pass"
has "$T/out" "^  key fw +ok"
has "$T/out" "^  audit log +broken"
has "$T/out" "drill FAILED"
[ -z "$(ls -A "$T/tmp")" ] || fail "drill left $(ls -A "$T/tmp")"
exit 0
