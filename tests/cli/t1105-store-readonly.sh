#!/usr/bin/env bash
# A store on read-only media: on a read-only bind mount of a store (made in
# a private mount namespace: unshare -m as root, unshare -rm otherwise; the
# mount is elsewhere than where the store was written, as an archive's
# would be), audit verify (anchor checked on the token), audit custody
# (logs in), key list (with PKCS#11 URIs), cert list and fleet report work
# and write nothing, the live store included; readers still take the
# shared lock (a writer on the live store holds them off); a writer says
# in one line that the store is read-only.  Also while another process has
# the module loaded: the token is still reached through the mount only.
. "$(dirname "$0")/../lib.sh"
two_keys
head -c 2000 /dev/urandom >"$T/a.bin"
sig 0 sign "$T/a.bin" --key fw
R="$T/ro"
mkdir "$R"
# Everything in the store, token files and their good copy included.
whole() { (cd "$S" && find . -type f ! -name lock ! -name guard.lock -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -d' ' -f1; }
before=$(whole)
touch "$T/start"
sleep 1

# inside.sh runs in the mount namespace: each reader's stdout, stderr and exit status go to $T/ro-NAME.*.
cat >"$T/inside.sh" <<EOF
set -u
mount --bind "$S" "$R" && mount -o remount,ro,bind "$R" || exit 90
touch "$R/probe" 2>/dev/null && exit 91
r() { local n=\$1; shift; "$SIGNET" --store "$R" "\$@" >"$T/ro-\$n.out" 2>"$T/ro-\$n.err"; echo \$? >"$T/ro-\$n.rc"; }
r verify audit verify
r custody audit custody
r keys key list
r certs cert list
r fleet fleet report
r generate key generate new
r sign sign "$T/a.bin" --key fw
flock -x "$S/lock" sleep 3 &
sleep 0.5
SIGNET_LOCK_TIMEOUT=0 r locked key list
wait
# Another process has the module loaded (the guard held shared): the login still goes through the mount.
flock -s "$S/hsm/guard.lock" sleep 3 &
sleep 0.5
r busy audit custody
wait
EOF
if [ "$(id -u)" = 0 ]; then ns="unshare -m"; else ns="unshare -rm"; fi
$ns bash "$T/inside.sh"
rc=$?
[ "$rc" != 90 ] || fail "could not make a read-only bind mount ($ns)"
[ "$rc" != 91 ] || fail "the bind mount is writable"
eq "$rc" 0 "inside the mount namespace"
mountpoint -q "$R" && fail "the bind mount leaked out of its namespace"

# expect NAME RC: the reader's exit status, and one error line at most when it failed.
expect() {
  eq "$(cat "$T/ro-$1.rc")" "$2" "exit status of '$1' on the read-only store (stderr: $(cat "$T/ro-$1.err"))"
}
expect verify 0
has "$T/ro-verify.out" "audit log intact: 7 records"
has "$T/ro-verify.out" "the token's anchor \(record [0-9]+\) is in the log"
expect custody 0
eq "$(grep -c ' ok$' "$T/ro-custody.out")" 3 "keys judged ok by audit custody (signet-audit, fw, old)"
expect keys 0
has "$T/ro-keys.out" "^fw .*pkcs11:.*object=fw"
has "$T/ro-keys.out" "^old "
expect certs 0
eq "$(grep -c '(current)' "$T/ro-certs.out")" 2 "current certificates listed"
expect fleet 0
for n in verify custody keys certs fleet; do
  hasnt "$T/ro-$n.err" "signet: |moved"
done
for n in generate sign; do
  expect $n 3
  eq "$(grep -c '^signet: ' "$T/ro-$n.err")" 1 "error lines of '$n' on the read-only store"
  has "$T/ro-$n.err" "^signet: store '$R' is on a read-only file system: this command changes the store$"
done
expect busy 0
eq "$(grep -c ' ok$' "$T/ro-busy.out")" 3 "keys judged ok by audit custody while the guard is busy"
expect locked 3
has "$T/ro-locked.err" "is locked by"

# Nothing was written, in the store or through it (the token's files included).
eq "$(whole)" "$before" "the store after readers on its read-only mount"
eq "$(find "$S" -newer "$T/start" ! -name lock | wc -l)" 0 "files written in the store"
sig 0 audit verify
sig 0 audit custody
