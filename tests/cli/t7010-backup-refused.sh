#!/usr/bin/env bash
# A wrong passphrase, a flipped byte anywhere (header, KDF parameters,
# salt, nonce, ciphertext, tag), a truncated archive and a file that is
# not a backup are refused with exit 3 and one line, and nothing is
# written: the target directory does not exist afterwards and no
# temporary is left next to it.  Usage errors are exit 2.
. "$(dirname "$0")/../lib.sh"
new_store
sig 0 key generate fw
printf 'correct horse battery staple\n' >"$T/pass"
printf 'Tr0ub4dor&3 wrong\n' >"$T/wrong"
sig 0 backup "$T/b.sbk" --passphrase-file "$T/pass" --scrypt-n 15
size=$(stat -c %s "$T/b.sbk")
mkdir "$T/out.d"

refused() {  # refused FILE WHY: restore FILE is exit 3, one line, nothing written
  sig 3 restore "$1" --store "$T/out.d/r" --passphrase-file "${PASSFILE:-$T/pass}"
  one_line_error
  has "$T/err" "$2"
  [ ! -e "$T/out.d/r" ] || fail "restore of $1 wrote $T/out.d/r"
  [ -z "$(ls -A "$T/out.d")" ] || fail "restore of $1 left $(ls -A "$T/out.d")"
}

PASSFILE="$T/wrong" refused "$T/b.sbk" "cannot restore '$T/b.sbk': wrong passphrase, or the archive is damaged"

# Flip one byte at each place that matters; header bytes are authenticated too.
for off in 0 8 9 10 12 18 19 34 35 46 47 $((size / 2)) $((size - 17)) $((size - 16)) $((size - 1)); do
  cp "$T/b.sbk" "$T/flip.sbk"
  orig=$(xxd -s "$off" -l 1 -p "$T/b.sbk")
  printf '%02x' $(( 0x$orig ^ 0x01 )) | xxd -r -p | dd of="$T/flip.sbk" bs=1 seek="$off" conv=notrunc status=none
  cmp -s "$T/b.sbk" "$T/flip.sbk" && fail "byte $off not flipped"
  case $off in
    0) why="not a signet backup" ;;
    8) why="format version 0 is not supported" ;;
    9) why="unknown encryption kind 0" ;;
    10|12|18) why="scrypt parameters .* (outside what signet accepts|need more than)|wrong passphrase, or the archive is damaged" ;;
    *) why="wrong passphrase, or the archive is damaged \(authentication failed\)" ;;
  esac
  refused "$T/flip.sbk" "$why"
done

# Truncated anywhere: in the header, mid-ciphertext, one byte short.
for len in 0 5 9 40 62 $((size / 2)) $((size - 1)); do
  head -c "$len" "$T/b.sbk" >"$T/short.sbk"
  refused "$T/short.sbk" "not a signet backup|truncated|wrong passphrase, or the archive is damaged"
done
# Appended bytes are as bad as missing ones.
cat "$T/b.sbk" >"$T/long.sbk"; printf 'x' >>"$T/long.sbk"
refused "$T/long.sbk" "wrong passphrase, or the archive is damaged"
printf 'hello\n' >"$T/text.sbk"
refused "$T/text.sbk" "not a signet backup"
refused "$T/missing.sbk" "cannot read '$T/missing.sbk'"

# The good archive still restores into the same place afterwards.
sig 0 restore "$T/b.sbk" --store "$T/out.d/r" --passphrase-file "$T/pass"

# Usage: exit 2, nothing written.
sig 2 backup "$T/x.sbk"
has "$T/err" "exactly one of --passphrase-file, --passphrase-fd, --recipient"
sig 2 backup "$T/x.sbk" --passphrase-file "$T/pass" --passphrase-fd 0
sig 2 backup "$T/x.sbk" --passphrase "secret"
has "$T/err" "unknown option '--passphrase'"
sig 2 backup "$T/x.sbk" --passphrase-file "$T/pass" --scrypt-n 14
has "$T/err" "--scrypt-n needs a number from 15 to 20"
sig 2 backup "$S/inside.sbk" --passphrase-file "$T/pass"
has "$T/err" "is inside the store"
sig 2 restore "$T/b.sbk" --passphrase-file "$T/pass"
has "$T/err" "--store DIR"
sig 2 restore "$T/b.sbk" --store "$T/y"
sig 2 restore "$T/b.sbk" --check --store "$T/y" --passphrase-file "$T/pass"
[ ! -e "$T/x.sbk" ] && [ ! -e "$S/inside.sbk" ] && [ ! -e "$T/y" ] || fail "a refused command wrote a file"
# A short or empty passphrase is refused before anything is read.
printf 'short\n' >"$T/short"
sig 3 backup "$T/x.sbk" --passphrase-file "$T/short"
has "$T/err" "passphrase is too short"
: >"$T/empty"
sig 3 backup "$T/x.sbk" --passphrase-file "$T/empty"
has "$T/err" "passphrase from '$T/empty' is empty"
[ ! -e "$T/x.sbk" ] || fail "archive written with a refused passphrase"
# A backup that cannot be written claims no backup in the audit log.
n=$(wc -l <"$S/audit.log")
sig 3 backup "$T/nodir/x.sbk" --passphrase-file "$T/pass" --scrypt-n 15
tail -n +"$((n + 1))" "$S/audit.log" >"$T/new"
hasnt "$T/new" '"op":"backup"'
sig 0 audit verify
exit 0
