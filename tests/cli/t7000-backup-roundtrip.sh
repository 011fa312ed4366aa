#!/usr/bin/env bash
# backup -> restore into another directory -> sign there: the signature
# verifies (openssl CLI) with the ORIGINAL store's public key, after the
# original store is gone.  The restored store has 0600/0700 modes, a
# softhsm2.conf naming its own token directory, a verifying audit chain
# with a 'restore' record; the source store records the archive's SHA-256.
# restore refuses an existing store and a non-empty directory.
. "$(dirname "$0")/../lib.sh"
new_store
sig 0 key generate fw
sig 0 cert issue fw
sig 0 key pubkey fw --out "$T/fw.pub.pem"
printf 'correct horse battery staple\n' >"$T/pass"
: >"$S/keys/fw.yaml.tmpAbC123"   # an atomic-write temporary: never archived
printf 'marker\n' >>"$S/lock"        # the lock file is not archived (restore makes its own)

# The default KDF cost once (N=2^17), then the cheapest allowed for speed.
sig 0 backup "$T/full.sbk" --passphrase-file "$T/pass"
has "$T/out" "scrypt N=2\^17 r=8 p=1, AES-256-GCM"
has "$T/out" "includes the embedded token"
[ "$(head -c 8 "$T/full.sbk")" = SIGNETBK ] || fail "no archive magic"
# Encrypted: neither the PIN nor a key record is readable in it.
! grep -qF "$(user_pin)" "$T/full.sbk" || fail "user PIN in clear in the archive"
! grep -q "spki_sha256" "$T/full.sbk" || fail "key record in clear in the archive"
[ "$(stat -c %a "$T/full.sbk")" = 600 ] || fail "archive mode $(stat -c %a "$T/full.sbk")"
ls "$T" | grep -q 'tmp' && fail "temporary left next to the archive"

# The source store's audit log carries the archive's SHA-256, and still verifies.
sum=$(sha256sum "$T/full.sbk" | cut -d' ' -f1)
tail -1 "$S/audit.log" >"$T/last"
has "$T/last" '"op":"backup"'
has "$T/last" "\"archive_sha256\":\"$sum\""
sig 0 audit verify

# Passphrase from a file descriptor works the same; restore into another directory.
sig 0 restore "$T/full.sbk" --store "$T/copy" --passphrase-fd 3 3<"$T/pass"
has "$T/out" "restored store $T/copy"
R="$T/copy"
grep -q marker "$R/lock" 2>/dev/null && fail "the lock file was archived"
[ -e "$R/keys/fw.yaml.tmpAbC123" ] && fail "a temporary was archived"

for f in signet.yaml keys/fw.yaml audit.log audit.head hsm/user.pin hsm/so.pin hsm/softhsm2.conf; do
  [ -f "$R/$f" ] || fail "$f not restored"
  cmp -s "$S/$f" "$R/$f" || [ "$f" = audit.log ] || [ "$f" = audit.head ] || [ "$f" = hsm/softhsm2.conf ] ||
    fail "$f differs from the original"
done
bad=$(find "$R" \( -type f ! -perm 600 \) -o \( -type d ! -perm 700 \) | head -1)
[ -z "$bad" ] || fail "mode of $bad is $(stat -c %a "$bad")"
has "$R/hsm/softhsm2.conf" "^directories.tokendir = $R/hsm/tokens$"
# The restored log is the original one plus one 'restore' record.
eq "$(head -n "$(wc -l <"$S/audit.log" | awk '{print $1-1}')" "$S/audit.log" | sha256sum)" \
   "$(head -n "$(wc -l <"$S/audit.log" | awk '{print $1-1}')" "$R/audit.log" | sha256sum)" "restored log prefix"
tail -1 "$R/audit.log" >"$T/last"
has "$T/last" '"op":"restore"'
has "$T/last" "\"archive_sha256\":\"$sum\""

# The original store is gone; the restored one signs with the same key.
mv "$S" "$T/gone"
printf 'firmware image v2\n' >"$T/app.bin"
sig 0 --store "$R" sign "$T/app.bin" --key fw
base64 -d "$T/app.bin.sig" >"$T/app.sig.der"
openssl dgst -sha256 -verify "$T/fw.pub.pem" -signature "$T/app.sig.der" "$T/app.bin" >"$T/v" 2>&1 ||
  { cat "$T/v"; fail "openssl does not verify the restored store's signature with the original public key"; }
has "$T/v" "Verified OK"
sig 0 --store "$R" audit verify
sig 0 --store "$R" audit custody
p11tool_r() { SOFTHSM2_CONF="$R/hsm/softhsm2.conf" pkcs11-tool --module "$SOFTHSM_MODULE" --token-label signet "$@"; }
p11tool_r --login --pin "$(cat "$R/hsm/user.pin")" --list-objects --type privkey >"$T/p11" 2>&1
has "$T/p11" "label: +fw"
mv "$T/gone" "$S"

# Refusals: an existing store, a non-empty directory, a file.  Nothing changes.
before=$(cd "$R" && find . -type f ! -name lock -print0 | sort -z | xargs -0 sha256sum | sha256sum)
sig 3 restore "$T/full.sbk" --store "$R" --passphrase-file "$T/pass"
one_line_error
has "$T/err" "a store already exists at '$R'; refusing to overwrite it"
eq "$(cd "$R" && find . -type f ! -name lock -print0 | sort -z | xargs -0 sha256sum | sha256sum)" "$before" "store changed"
mkdir "$T/busy" && echo x >"$T/busy/keep"
sig 3 restore "$T/full.sbk" --store "$T/busy" --passphrase-file "$T/pass"
has "$T/err" "not empty"
eq "$(ls -A "$T/busy")" keep "non-empty directory changed"
sig 3 restore "$T/full.sbk" --store "$T/busy/keep" --passphrase-file "$T/pass"
has "$T/err" "not a directory"
# An empty directory is fine (like init).
mkdir "$T/empty"
sig 0 restore "$T/full.sbk" --store "$T/empty" --passphrase-file "$T/pass"
sig 0 --store "$T/empty" audit verify
ls -a "$T" | grep -q '\.restore' && fail "restore temporaries left behind"

# -v says what the slow step is before it starts; without -v nothing is said.
hasnt "$T/err" "scrypt"
sig 0 -v backup "$T/verbose.sbk" --passphrase-file "$T/pass" --scrypt-n 15
has "$T/err" "^signet: deriving the archive key \(scrypt N=2\^15, a few seconds\)\.\.\.$"
sig 0 -v restore "$T/verbose.sbk" --store "$T/verbose" --passphrase-file "$T/pass"
has "$T/err" "^signet: deriving the archive key \(scrypt N=2\^15, a few seconds\)\.\.\.$"

# --json of both commands.
sig 0 --json backup "$T/j.sbk" --passphrase-file "$T/pass" --scrypt-n 15
eq "$(jq -r .archive_sha256 "$T/out")" "$(sha256sum "$T/j.sbk" | cut -d' ' -f1)" "json archive_sha256"
eq "$(jq -r .keys_included "$T/out")" true "json keys_included"
sig 0 --json restore "$T/j.sbk" --store "$T/j" --passphrase-file "$T/pass"
eq "$(jq -r .store "$T/out")" "$T/j" "json store"
exit 0
