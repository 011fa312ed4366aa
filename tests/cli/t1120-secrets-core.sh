#!/usr/bin/env bash
# Secrets in memory and cores (issue 12 item 6): signet runs with core dumps
# off, and after a PIN's or a key file's last use nothing of them is left in
# the process: a core taken with gdb at exit() (after the token is closed)
# holds neither the PIN, nor the key file's text, nor the raw private scalar.
. "$(dirname "$0")/../lib.sh"
command -v gdb >/dev/null || fail "gdb is needed (make deps installs it)"
new_store
sig 0 key generate fw
sig 0 cert issue fw --subject CN=ota-signer
echo firmware >"$T/fw.bin"

# core_at_exit ARGS...: runs signet ARGS under gdb, dumps its memory at exit() into $T/core.
core_at_exit() {
  rm -f "$T/core"
  gdb -q -batch -nx -ex 'set pagination off' -ex 'set confirm off' -ex 'set breakpoint pending on' \
    -ex 'break exit' -ex run -ex "gcore $T/core" -ex kill --args "$SIGNET" "$@" >"$T/gdb.log" 2>&1
  grep -q 'Saved corefile' "$T/gdb.log" || { cat "$T/gdb.log"; fail "no core taken for: $*"; }
  grep -q "Breakpoint 1, .*exit" "$T/gdb.log" || { cat "$T/gdb.log"; fail "gdb did not stop at exit"; }
}
# count FIXED-STRING: occurrences in the core.
count() { grep -a -c -F -- "$1" "$T/core"; }

# Under ASan the process maps terabytes of shadow memory: no core can be
# taken, so a sanitizer run checks the core limit only (below).
if [ -z "${SANITIZE:-}" ]; then
# The PIN, read from a file and used to log in and sign.
pin=$(user_pin)
[ "${#pin}" -ge 16 ] || fail "fixture: the store's PIN is too short to search for"
user_pin >"$T/pin"
core_at_exit sign --key fw "$T/fw.bin" --out "$T/fw.sig" --pin-file "$T/pin"
has "$T/gdb.log" "signed .*fw\.bin"
eq "$(count "$pin")" 0 "PIN left in the process after sign"
# ... and from the store's pin_source, on a reissue (login, sign, audit anchor).
core_at_exit cert reissue fw
eq "$(count "$pin")" 0 "PIN left in the process after cert reissue"

# A key file, imported: its PEM text and its raw private scalar are gone.
openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null | openssl pkey -out "$T/legacy.pem"
chmod 600 "$T/legacy.pem"
scalar=$(openssl pkey -in "$T/legacy.pem" -text -noout | sed -n '/^priv:/,/^pub:/p' | grep -v 'priv\|pub' | tr -d ' :\n')
[ "${#scalar}" -ge 62 ] || fail "fixture: no private scalar ($scalar)"
core_at_exit key import legacy --private-key "$T/legacy.pem"
has "$T/gdb.log" "imported ecdsa-p256 key 'legacy'"
for line in $(sed -n '2,3p' "$T/legacy.pem"); do
  eq "$(count "$line")" 0 "key file text left in the process"
done
# the last 16 bytes of the scalar (a leading zero byte may be dropped in either form)
n=$(python3 -c 'import sys; print(open(sys.argv[1], "rb").read().count(bytes.fromhex(sys.argv[2])))' "$T/core" "${scalar: -32}") ||
  fail "python3 could not search the core"
eq "$n" 0 "raw private scalar (${scalar: -32}) left in the process"
eq "$(count "$pin")" 0 "PIN left in the process after key import"
else
  note "sanitizer build: cores not searched"
fi

# No core files at all: RLIMIT_CORE is 0 in a running signet (here one waiting for the lock).
exec 9<>"$S/lock"
flock -x 9
( ulimit -c unlimited; exec env SIGNET_LOCK_TIMEOUT=30 "$SIGNET" key generate other ) >"$T/out" 2>"$T/err" &
pid=$!
for _ in $(seq 50); do grep -q waiting "$T/err" && break; sleep 0.1; done
grep -q waiting "$T/err" || fail "signet did not wait for the lock"
has "/proc/$pid/limits" "^Max core file size +0 +0 +bytes"
flock -u 9; exec 9>&-
wait "$pid" || fail "key generate failed after the lock was released"
echo "secrets ok"
