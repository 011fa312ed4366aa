#!/usr/bin/env bash
# PINs come from --pin-file, --pin-fd or pin_source, never argv; a wrong
# PIN is exit 4 with one clear line and changes nothing.
. "$(dirname "$0")/../lib.sh"
new_store
peer_env

echo 00000000 >"$T/wrong"; chmod 600 "$T/wrong"
before=$(snapshot_records)
records=$(wc -l <"$S/audit.log")
objs=$(token_objects)
sig 4 key generate k --pin-file "$T/wrong"
one_line_error
has "$T/err" "login to token 'signet' failed: wrong PIN"
eq "$(snapshot_records)" "$before" "store changed by wrong PIN"
eq "$(token_objects)" "$objs" "token objects changed by wrong PIN"
# The attempt is on record, and the chain still verifies.
eq "$(wc -l <"$S/audit.log")" "$((records + 1))" "records after a wrong PIN"
eq "$(last_record result)" refused "result of the wrong-PIN record"
eq "$(last_record op)" login "op of the wrong-PIN record"
has "$S/audit.log" '"reason":"CKR_PIN_INCORRECT"'
sig 0 audit verify
has "$T/out" "1 later record .*not yet covered by a signature"

sig 0 key generate via-file --pin-file "$S/hsm/user.pin"
"$SIGNET" key generate via-fd --pin-fd 3 3<"$S/hsm/user.pin" >"$T/out" 2>"$T/err" || { cat "$T/err"; fail "--pin-fd"; }
sig 4 key generate k --pin-fd 3 3<"$T/wrong"
has "$T/err" "wrong PIN"
sig 2 key generate k --pin-fd notanumber
has "$T/err" "--pin-fd needs a file descriptor number"
sig 3 key generate k --pin-file "$T/missing"
has "$T/err" "cannot read PIN file '$T/missing'"

# Without pin_source and without a terminal there is no PIN: exit 4, a hint.
sed -i '/pin_source/d' "$S/signet.yaml"
setsid "$SIGNET" key generate k </dev/null >"$T/out" 2>"$T/err"; rc=$?
eq "$rc" 4 "exit without any PIN source"
has "$T/err" "no PIN for token 'signet'"
has "$T/err" "^hint: give the user PIN with --pin-file"

# The PIN never appears in the audit log or the key records.
pin=$(user_pin)
! grep -rq "$pin" "$S/audit.log" "$S/keys" || fail "PIN written to the store"

# The prompt: on a terminal (script(1) gives one), echo off, so the PIN
# typed is not in what the terminal shows.  It is typed after the prompt
# appears, as a person would: type-ahead is echoed before any program can
# turn echo off.
{ sleep 1; printf '%s\n' "$pin"; } | script -qec "$SIGNET key generate via-prompt" "$T/typescript" >"$T/out" 2>&1 \
  || { cat "$T/out"; fail "key generate with a prompted PIN"; }
has "$T/out" "PIN for token 'signet':"
hasnt "$T/out" "$pin"
[ -f "$S/keys/via-prompt.yaml" ] || fail "no key generated through the prompt"
printf 'nonsense\n' | script -qec "$SIGNET key generate bad-prompt" "$T/typescript" >"$T/out" 2>&1 && fail "wrong prompted PIN accepted"
has "$T/out" "wrong PIN"
