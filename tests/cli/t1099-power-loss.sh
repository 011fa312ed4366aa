#!/usr/bin/env bash
# Power loss loses no key.  SoftHSM2 syncs none of the files it writes; a
# power cut may give back the token directory as it was before the
# command (POSIX allows it: ext4 without a journal, btrfs).  For key
# generate, sign and cert reissue, the crash state is built from the
# command's own operations (strace; tests/crashstate.py): every write not
# followed by an fsync of its file, and every directory entry made or
# removed without a later fsync of its directory, is taken back.  Then no
# record names a key the token lost (audit custody), the next commands
# (audit verify, key list, audit custody, sign) work and delete no
# known-good copy of a key object, and every key still signs (checked by
# openssl).  And the other half: a key object file the token directory
# lost is brought back from its known-good copy, with one line and a
# `recovered` record; a data object signet replaced is not.  Then a power
# cut inside a sign, at each of its fsyncs in turn (tests/campaign.sh:
# campaign_power_cuts): every record's file is in place, every signature
# in place has its record and verifies, and the next commands work.
. "$(dirname "$0")/../lib.sh"
command -v strace >/dev/null || fail "strace is needed (make deps installs it)"
CALLS=openat,write,pwrite64,ftruncate,fsync,fdatasync,rename,renameat,renameat2,link,linkat,unlink,unlinkat
new_store
sig 0 key generate fw
sig 0 cert issue fw
printf 'firmware\n' >"$T/img.bin"
tok=$(ls -d "$S"/hsm/tokens/*/); tok=${tok%/}
good="$S/hsm/good/$(basename "$tok")"

# class DIR N: the object files in DIR whose CKA_CLASS (plain, first attribute) is N (0 data, 2 public, 3 private).
class() { local f; for f in "$1"/*.object; do
  [ "$(xxd -s 8 -l 24 -p "$f" 2>/dev/null)" = "0000000000000000000000000000000200000000000000$(printf %02x "$2")" ] && basename "$f"
done; return 0; }
keys_in() { { class "$1" 2; class "$1" 3; } | sort; }

# crash NAME ARGS...: signet ARGS under strace, then the store as a power cut right after it could leave it.
crash() {
  local name=$1; shift
  rm -rf "$T/pre" "$T/post" "$T/crash"
  cp -a "$S" "$T/pre"
  strace -f -y -s 65536 -x -o "$T/tr" -e trace="$CALLS" "$SIGNET" "$@" >"$T/out" 2>"$T/err" || { cat "$T/err"; fail "$name failed"; }
  cp -a "$S" "$T/post"
  CRASH_ROOT="$S" python3 "$TOP/tests/crashstate.py" "$T/pre" "$T/post" "$T/tr" "$T/crash" >"$T/dropped" ||
    fail "$name: cannot build the crash state"
  grep -q 'hsm/tokens/' "$T/dropped" || { cat "$T/dropped"; fail "$name: the crash state takes back nothing of the token (not testing)"; }
  rm -rf "$S"
  cp -a "$T/crash" "$S"
  note "$name: the crash state took back $(wc -l <"$T/dropped") paths"
}

# verify_sig KEY: the last signature of $T/img.bin verifies with KEY's public key (openssl).
verify_sig() {
  base64 -d "$T/img.bin.sig" >"$T/sig.der"
  "$SIGNET" key pubkey "$1" >"$T/$1.pub" 2>/dev/null || fail "key pubkey $1"
  run 0 openssl dgst -sha256 -verify "$T/$1.pub" -signature "$T/sig.der" "$T/img.bin"
}

# survives NAME: after the crash, no record names a lost key and the next commands keep every key's good copy.
survives() {
  local name=$1 k
  keys_in "$good" >"$T/goods.before"
  sig 0 audit custody
  hasnt "$T/out" "not on the token|missing"
  sig 0 audit verify
  sig 0 key list
  for k in $(ls "$S/keys" | sed 's/\.yaml$//'); do
    sig 0 sign "$T/img.bin" --key "$k"
    verify_sig "$k"
  done
  sig 0 audit custody
  keys_in "$good" >"$T/goods.after"
  comm -23 "$T/goods.before" "$T/goods.after" | grep -q . && fail "$name: a later command deleted a key's known-good copy"
  keys_in "$tok" >"$T/live"
  cmp -s "$T/goods.after" "$T/live" || { diff "$T/goods.after" "$T/live"; fail "$name: token and known-good copy hold different keys"; }
}

# key generate: the new pair's files and directory entry are synced before the record names them.
crash "key generate" key generate k2
keys_in "$T/post/hsm/tokens/$(basename "$tok")" >"$T/new"
keys_in "$tok" >"$T/kept"
cmp -s "$T/new" "$T/kept" || { diff "$T/new" "$T/kept"; fail "the crash state lost a key object the record names"; }
[ -e "$S/keys/k2.yaml" ] || fail "the key record did not survive the crash (synced before the command ended)"
grep -q "$(basename "$tok")/.*\.object (" "$T/dropped" && note "objects taken back: $(grep -c '\.object (' "$T/dropped") (not keys)"
survives "key generate"

crash "sign" sign "$T/img.bin" --key fw
survives "sign"

crash "cert reissue" cert reissue fw
survives "cert reissue"

# The other half: the token directory lost a key's files (SoftHSM2 never synced them), the good copy holds them.
sig 0 key generate k3
keys_in "$tok" >"$T/all"
comm -13 "$T/new" "$T/all" >"$T/k3files"
[ "$(wc -l <"$T/k3files")" -ge 2 ] || fail "k3's object files not found"
while read -r f; do rm "$tok/$f"; done <"$T/k3files"
sig 0 audit verify
[ "$(grep -c "^signet: recovered: token file '.*' was missing and signet did not destroy it; restored it from the known-good copy" "$T/err")" -eq "$(wc -l <"$T/k3files")" ] ||
  { cat "$T/err"; fail "no recovered line per lost key object file"; }
while read -r f; do [ -e "$tok/$f" ] && [ -e "$good/$f" ] || fail "k3's file $f not restored"; done <"$T/k3files"
sig 0 sign "$T/img.bin" --key k3
verify_sig k3
grep -q '"op":"recovered".*"repair":"missing token object file restored from the known-good copy"' "$S/audit.log" ||
  fail "no audit record of the restored files"
sig 0 audit custody

# A data object signet replaced on purpose (the audit head, every signed append) stays gone: one on the token, one copy.
for i in 1 2 3; do sig 0 sign "$T/img.bin" --key fw; done
eq "$(class "$tok" 0 | wc -l)" 1 "data objects on the token"
eq "$(class "$good" 0 | wc -l)" 1 "data objects in the known-good copy"

# Power cuts inside a sign: at each of its fsyncs, in turn, and after it.
. "$TOP/tests/campaign.sh"
mkdir "$T/od"
"$SIGNET" key pubkey fw >"$T/fw.pub" 2>/dev/null || fail "key pubkey fw"
cp -a "$S" "$T/pristine"
keys_before=$(ls "$S/keys" | sort | tr '\n' ' ')
cut_check() {
  local what=$1 f
  campaign_store_whole "$what"
  campaign_records_match "$what"
  for f in "$T/od"/*.sig; do
    base64 -d "$f" >"$T/sig.der" 2>/dev/null && openssl dgst -sha256 -verify "$T/fw.pub" -signature "$T/sig.der" \
      "$T/img.bin" >/dev/null 2>&1 || fail "$what: '$f' does not verify"
  done
}
cuts=0
campaign_power_cuts sign "$SIGNET sign $T/img.bin --key fw --out $T/od/img.sig" cut_check
[ "$cuts" -ge 5 ] || fail "only $cuts power cuts inside a sign: the campaign missed its syncs"
note "$cuts power cuts inside a sign, each left a store the next command made whole"
exit 0
