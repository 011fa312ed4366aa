#!/usr/bin/env bash
# Fail closed: when the audit record cannot be written the operation is
# undone: no key record, no token objects, audit log unchanged.
. "$(dirname "$0")/../lib.sh"
new_store
peer_env
[ "$(id -u)" = 0 ] && chattr_ok=1 || chattr_ok=0
# Make audit.head unreplaceable: a directory in its place cannot be renamed over.
cp "$S/audit.head" "$T/head"
rm "$S/audit.head" && mkdir "$S/audit.head"
sig 3 key generate k
has "$T/err" "audit"
[ ! -e "$S/keys/k.yaml" ] || fail "key record kept without an audit record"
p11tool --login --pin "$(user_pin)" --list-objects >"$T/p11" 2>&1
hasnt "$T/p11" "label: +k$"
rmdir "$S/audit.head" && cp "$T/head" "$S/audit.head"
sig 0 audit verify
has "$T/out" "2 records"
sig 0 key generate k
sig 0 audit verify
has "$T/out" "3 records"

# The SIGNET_NOW test clock never passes for the real one: the record says so.
SIGNET_NOW=2020-01-01 run 0 "$SIGNET" key generate backdated
tail -1 "$S/audit.log" | grep -q '"time":"2020-01-01T00:00:00Z".*"real_time":"20[2-9][0-9]-' || fail "backdated record lacks real_time"
sig 0 audit verify
