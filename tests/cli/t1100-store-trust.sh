#!/usr/bin/env bash
# The store's own trust (issue 12 item 5): signet.yaml, the store's
# directories and PIN files that another user owns or others may write are
# refused (exit 3, one line naming the file); symbolic links and special
# files inside the store are refused, not followed; a module path others
# may write is refused.  The store lock says who holds it and gives up.
. "$(dirname "$0")/../lib.sh"
new_store
sig 0 key generate fw
sig 0 cert issue fw --subject CN=ota-signer
before=$(snapshot)

refused() {  # refused REGEX ARGS...: exit 3, one error line matching REGEX, store unchanged
  local re=$1; shift
  sig 3 "$@"
  one_line_error
  has "$T/err" "$re"
}

chmod g+w "$S/signet.yaml"
refused "^signet: refusing store configuration '$S/signet\.yaml': writable by its group \(mode 620\)$" key list
chmod 600 "$S/signet.yaml"
chmod o+w "$S"
refused "^signet: refusing store directory '$S': writable by others" key list
chmod 700 "$S"
chmod g+w "$S/keys"
refused "^signet: refusing store directory '$S/keys': writable by its group" key show fw
chmod 700 "$S/keys"
chown nobody "$S/signet.yaml"
refused "^signet: refusing store configuration '$S/signet\.yaml': owned by uid [0-9]+, not by the user running signet \(uid $(id -u)\)$" key list
chown "$(id -u)" "$S/signet.yaml"
sig 0 key list

# A symlinked certs/<label> would receive the next certificate elsewhere.
mkdir "$T/elsewhere"
mv "$S/certs/fw" "$T/elsewhere/fw"
ln -s "$T/elsewhere/fw" "$S/certs/fw"
n=$(ls "$T/elsewhere/fw" | wc -l)
refused "^signet: refusing the store: '$S/certs/fw' is a symbolic link$" cert reissue fw
eq "$(ls "$T/elsewhere/fw" | wc -l)" "$n" "a certificate went through the link"
rm "$S/certs/fw"; mv "$T/elsewhere/fw" "$S/certs/fw"
# A symlinked lock would create or truncate a file elsewhere.
rm -f "$S/lock"
ln -s "$T/victim" "$S/lock"
refused "^signet: refusing the store: '$S/lock' is a symbolic link$" key generate other
[ ! -e "$T/victim" ] || fail "the lock link was followed"
rm "$S/lock"
# A FIFO among the key records would hang every reader.
mkfifo "$S/keys/x.yaml"
refused "^signet: refusing the store: '$S/keys/x\.yaml' is not a regular file$" key list
rm "$S/keys/x.yaml"
eq "$(snapshot)" "$before" "store changed by refused runs"

# PIN files: another user's, or writable by others, are refused; 0644 is
# used with one warning naming the file and the fix; 0640 names the group.
user_pin >"$T/pin"; chmod 644 "$T/pin"
sig 0 cert reissue fw --pin-file "$T/pin"
has "$T/err" "^signet: warning: PIN file '$T/pin' is readable by others \(mode 644\): anyone who can read it can use the token; chmod 600 '$T/pin'$"
eq "$(grep -c 'PIN file' "$T/err")" 1 "one warning per run"
chmod 640 "$T/pin"
sig 0 cert reissue fw --pin-file "$T/pin"
has "$T/err" "^signet: warning: PIN file '$T/pin' is readable by its group \(mode 640\)"
chmod 600 "$T/pin"
sig 0 cert reissue fw --pin-file "$T/pin"
hasnt "$T/err" "PIN file"
chmod 646 "$T/pin"
refused "^signet: refusing PIN file '$T/pin': writable by others \(mode 646\)$" cert reissue fw --pin-file "$T/pin"
chmod 600 "$T/pin"; chown nobody "$T/pin"
refused "^signet: refusing PIN file '$T/pin': owned by uid" cert reissue fw --pin-file "$T/pin"
chown "$(id -u)" "$T/pin"
# The store's own PIN file too.
chmod 620 "$S/hsm/user.pin"
refused "refusing .*'$S/hsm/user\.pin'.*writable by its group" cert reissue fw
chmod 600 "$S/hsm/user.pin"

# A module others may replace runs with our rights: refused, naming it and signet.yaml.
cp "$SOFTHSM_MODULE" "$T/mod.so"; chmod 666 "$T/mod.so"
cp "$S/signet.yaml" "$T/signet.yaml.orig"
sed -i "s|$SOFTHSM_MODULE|$T/mod.so|" "$S/signet.yaml"
grep -q "$T/mod.so" "$S/signet.yaml" || fail "fixture: module path not replaced"
refused "^signet: refusing PKCS#11 module '$T/mod\.so' named in '$S/signet\.yaml': writable by others \(mode 666\)$" key list
chmod 755 "$T/mod.so"
sig 0 key list
cp "$T/signet.yaml.orig" "$S/signet.yaml"

# The lock: who holds it, and a timeout.
exec 9<>"$S/lock"
flock -x 9
printf 'pid %d\n' "$$" >&9
SIGNET_LOCK_TIMEOUT=1 sig 3 key generate other
one_line_error
has "$T/err" "^waiting for the store lock held by pid $$ \(.*bash.*\) \(up to 1 s\)$"
has "$T/err" "^signet: store '$S' is locked by pid $$ \(.*\); gave up after 1 s$"
flock -u 9; exec 9>&-
sig 0 key generate other
has "$S/lock" "^pid [0-9]+$"
echo "store trust ok"
