#!/usr/bin/env bash
# The embedded SoftHSM2 token survives interruption.  SoftHSM2 2.6 rewrites
# token.object in place on every login; a kill between its truncate and its
# write used to leave an empty file and no token.  signet keeps a known-good
# copy and restores a damaged file, saying so in one line and in the audit
# log; SIGTERM during a PKCS#11 call is held until the module is done; a
# moved store still finds its token.
. "$(dirname "$0")/../lib.sh"
command -v strace >/dev/null || fail "strace is needed (make deps installs it)"
new_store
sig 0 key generate fw
printf 'firmware\n' >"$T/img.bin"
tok=$(ls -d "$S"/hsm/tokens/*/); tok=${tok%/}
[ -d "$S/hsm/good/$(basename "$tok")" ] || fail "no known-good copy of the token"

# The reproduction from the issue: SIGKILL at the write of token.object during login (counted on a sign
# like the one killed: after one sign, the guard's list no longer changes from one sign to the next).
sig 0 sign "$T/img.bin" --key fw
n=$(strace -y -o "$T/tr" -e trace=write "$SIGNET" sign "$T/img.bin" --key fw >/dev/null 2>&1;
    grep -n 'write(' "$T/tr" | grep 'tokens/.*/token.object>' | head -1 | cut -d: -f1)
[ -n "$n" ] || { cat "$T/tr"; fail "sign does not write token.object (SoftHSM2 changed?)"; }
run 137 strace -o /dev/null -e trace=write -e inject=write:signal=SIGKILL:when="$n" "$SIGNET" sign "$T/img.bin" --key fw
[ ! -s "$tok/token.object" ] || fail "the injected kill did not leave token.object empty (test is not testing)"
sig 0 sign "$T/img.bin" --key fw
has "$T/err" "recovered: token file '.*token.object' was empty .*restored it from the known-good copy"
[ "$(grep -c '^signet: recovered' "$T/err")" -eq 1 ] || fail "more than one line for one repair"
grep -q '"op":"recovered".*"repair":"token file restored from the known-good copy"' "$S/audit.log" ||
  fail "no audit record of the repair"
sig 0 audit verify
sig 0 audit custody
base64 -d "$T/img.bin.sig" >"$T/sig.der"
"$SIGNET" key pubkey fw >"$T/fw.pub" 2>/dev/null
run 0 openssl dgst -sha256 -verify "$T/fw.pub" -signature "$T/sig.der" "$T/img.bin"

# A key's object file cut short (not empty): recognised and restored too.
# (key fw's own object: the anchor's data object is rewritten at every signed append)
obj=$(grep -L -a signet-audit "$tok"/*.object | grep -v token.object | head -1)
size=$(stat -c %s "$obj")
truncate -s $((size / 2)) "$obj"
sig 0 sign "$T/img.bin" --key fw
has "$T/err" "recovered: token file '$obj' was cut short or malformed"
eq "$(stat -c %s "$obj")" "$size" "restored object size"

# The chain's anchor, its head rewritten in place at every signed append, keeps the good copy made with
# it (no copy and no fsync per sign).  Cut short, as a power cut inside SoftHSM2's rewrite can leave it,
# it is restored from that copy: an older head, which audit verify accepts; the next signed head
# rewrites it.
anchor_seq() { grep -a -o "signet-audit-head-[0-9a-f]* signed [0-9]*" "$1" | awk '{print $3}'; }
anc=$(grep -l -a "signet-audit-head-" "$tok"/*.object)
[ "$(echo "$anc" | wc -l)" -eq 1 ] || fail "not one anchor object file: $anc"
good_anc="$S/hsm/good/$(basename "$tok")/$(basename "$anc")"
[ -n "$(anchor_seq "$good_anc")" ] || fail "no good copy of the anchor"
[ "$(anchor_seq "$good_anc")" -lt "$(anchor_seq "$anc")" ] ||
  fail "the anchor's good copy follows every head (fsyncs a sign need not make)"
old_seq=$(anchor_seq "$good_anc")
truncate -s $(( $(stat -c %s "$anc") / 2 )) "$anc"
sig 0 audit verify
has "$T/err" "recovered: token file '$anc' was cut short or malformed"
has "$T/out" "the token's anchor \(record $old_seq\) is in the log"
sig 0 sign "$T/img.bin" --key fw
eq "$(anchor_seq "$anc")" "$(wc -l <"$S/audit.log")" "the anchor after the next signed head"
sig 0 audit verify
has "$T/out" "the token's anchor \(record $(wc -l <"$S/audit.log")\) is in the log"

# The guard reads only files written since it last found them good (hsm/good/<token>/.seen
# lists their inode, size, mtime and ctime).  A file damaged with its size and mtime put
# back (only ctime betrays it) is still caught; so is one damaged under a list from
# another boot, or under a list that is garbage.
seen="$S/hsm/good/$(basename "$tok")/.seen"
[ -s "$seen" ] || fail "no .seen list after a command"
grep -qF "$(basename "$obj") " "$seen" || fail ".seen does not list the key's object file"
# Files whose copy is left as it is (token.object, generation, the anchor) are read each time, not listed:
# a sign, which rewrites them, leaves the list as it was.
for f in token.object generation "$(basename "$anc")"; do grep -q "^$f " "$seen" && fail ".seen lists $f"; done
was=$(stat -c %i.%s.%y "$seen")
sig 0 sign "$T/img.bin" --key fw
eq "$(stat -c %i.%s.%y "$seen")" "$was" ".seen after a sign (a rewrite is a new file: a new inode)"
cp -p "$obj" "$T/obj.keep"
printf '\377\377\377\377' | dd of="$obj" bs=1 seek=16 conv=notrunc status=none
touch -r "$T/obj.keep" "$obj"
eq "$(stat -c %s.%Y "$obj")" "$(stat -c %s.%Y "$T/obj.keep")" "size and mtime put back"
sig 0 sign "$T/img.bin" --key fw
has "$T/err" "recovered: token file '$obj' was cut short or malformed"
cmp -s "$obj" "$T/obj.keep" || fail "object not restored under a current .seen"
sed -i '1s/.*/signet-guard-seen 1 00000000-0000-0000-0000-000000000000/' "$seen"
truncate -s $((size / 2)) "$obj"
sig 0 sign "$T/img.bin" --key fw
has "$T/err" "recovered: token file '$obj' was cut short or malformed"
grep -q "^signet-guard-seen 1 $(cat /proc/sys/kernel/random/boot_id)\$" "$seen" || fail ".seen not rewritten for this boot"
head -c 3000 /dev/urandom >"$seen"
truncate -s $((size / 2)) "$obj"
sig 0 sign "$T/img.bin" --key fw
has "$T/err" "recovered: token file '$obj' was cut short or malformed"
cmp -s "$obj" "$T/obj.keep" || fail "object not restored under a garbage .seen"
sig 0 audit verify
# The list is never written through a symlink planted in its place: the store is refused
# (as for any link inside it) and the file behind the link is untouched.
echo keep >"$T/victim"
ln -s "$T/victim" "$seen.tmp"
sig 3 sign "$T/img.bin" --key fw
has "$T/err" "'$seen.tmp' is a symbolic link"
eq "$(cat "$T/victim")" keep "file behind a symlinked .seen.tmp"
rm -f "$seen.tmp"
sig 0 sign "$T/img.bin" --key fw
sig 0 audit custody

# A read-only command repairs too; its audit record waits for the next writer.
: >"$tok/token.object"
sig 0 key pubkey fw
has "$T/err" "recovered: token file"
[ -e "$S/hsm/repairs.pending" ] || fail "a repair under a shared lock was not noted for the audit log"
sig 0 sign "$T/img.bin" --key fw
[ ! -e "$S/hsm/repairs.pending" ] || fail "the noted repair was not written to the audit log"
sig 0 audit verify

# An empty object file no good copy knows (a generation cut off before it wrote) is moved aside, never deleted.
: >"$tok/deadbeef-0000-0000-0000-000000000000.object"
sig 0 sign "$T/img.bin" --key fw
[ ! -e "$tok/deadbeef-0000-0000-0000-000000000000.object" ] || fail "empty orphan object left on the token"
ls "$S"/hsm/quarantine/*/deadbeef-0000-0000-0000-000000000000.object.* >/dev/null 2>&1 || fail "orphan not quarantined"
sig 0 audit custody

# SIGTERM during the login (a PKCS#11 call) is held: token.object is whole, then the signal is honoured.
n=$(strace -y -o "$T/tr" -e trace=write "$SIGNET" sign "$T/img.bin" --key fw >/dev/null 2>&1;
    grep -n 'write(' "$T/tr" | grep 'tokens/.*/token.object>' | head -1 | cut -d: -f1)
rm -f "$T/img.bin.sig"
run 143 strace -o /dev/null -e trace=write -e inject=write:signal=SIGTERM:when="$n" "$SIGNET" sign "$T/img.bin" --key fw
[ -s "$tok/token.object" ] || fail "SIGTERM during login left token.object empty"
sig 0 sign "$T/img.bin" --key fw
hasnt "$T/err" "recovered: token file"
sig 0 audit verify

# A moved store finds its token (softhsm2.conf names the token directory absolutely).
mv "$S" "$T/moved"
export SIGNET_STORE="$T/moved"
sig 0 sign "$T/img.bin" --key fw
has "$T/err" "the store moved"
grep -q "directories.tokendir = $T/moved/hsm/tokens" "$T/moved/hsm/softhsm2.conf" || fail "softhsm2.conf not pointed at the new place"
sig 0 audit custody
