#!/usr/bin/env bash
# User output paths (issue 12 item 2, issue 10 item 5): --out into a
# directory that does not exist is an error (exit 3, nothing created), and
# a device node or FIFO is written through, never replaced by a file.
. "$(dirname "$0")/../lib.sh"
new_store
sig 0 key generate fw
sig 0 cert issue fw --subject CN=ota-signer
echo firmware >"$T/fw.bin"

for args in "header fw --out $T/nodir/fw.h" "key pubkey fw --out $T/nodir/fw.pem" \
            "cert csr fw --subject CN=x --out $T/nodir/fw.csr" "sign --key fw $T/fw.bin --out $T/nodir/fw.sig" \
            "fleet report --out $T/nodir/report.txt"; do
  # shellcheck disable=SC2086
  sig 3 $args
  one_line_error
  has "$T/err" "^signet: cannot write '$T/nodir/[^']*': directory '$T/nodir': No such file or directory$"
  [ ! -e "$T/nodir" ] || fail "'$args' created the directory"
done
# A sign whose output cannot be written is refused before the token signs: no login, no record.
records=$(wc -l <"$S/audit.log")
strace -f -o "$T/st" -e trace=openat "$SIGNET" sign --key fw "$T/fw.bin" --out "$T/nodir/fw.sig" >/dev/null 2>&1
grep -q 'libsofthsm2' "$T/st" && fail "sign loaded the module although its output directory is missing"
eq "$(wc -l <"$S/audit.log")" "$records" "records after a sign refused for its output"

# /dev/null stays a character device (signet runs as root here).
[ -c /dev/null ] || fail "fixture: /dev/null is not a device"
sig 0 header fw --out /dev/null
[ -c /dev/null ] || fail "/dev/null was replaced"
sig 0 key pubkey fw --out /dev/null
sig 0 sign --key fw "$T/fw.bin" --out /dev/null
[ -c /dev/null ] || fail "/dev/null was replaced"
ls /dev/ | grep -q 'null\.' && fail "temp files left in /dev"

# A FIFO receives the bytes; it is still a FIFO after.
mkfifo "$T/pipe"
cat "$T/pipe" >"$T/got" &
reader=$!
sig 0 key pubkey fw --out "$T/pipe"
wait "$reader"
[ -p "$T/pipe" ] || fail "the FIFO was replaced"
has "$T/got" "^-----BEGIN PUBLIC KEY-----$"
cat "$T/pipe" >"$T/got2" &
reader=$!
sig 0 header fw --out "$T/pipe"
wait "$reader"
[ -p "$T/pipe" ] || fail "the FIFO was replaced (header, staged path)"
sig 0 header fw --out "$T/fw.h"
cmp -s "$T/got2" "$T/fw.h" || fail "the FIFO got other bytes than a file does"
ls "$T" | grep -q 'signet-.*\.tmp\|tmp[A-Za-z0-9]\{6\}$' && fail "temp files left next to the FIFO"
# A regular file is still replaced atomically, and a directory is refused.
sig 3 header fw --out "$T"
one_line_error
has "$T/err" "^signet: cannot write '$T': it is a directory$"
echo "out targets ok"
