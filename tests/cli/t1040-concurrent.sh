#!/usr/bin/env bash
# Two signet runs at once: both key generations succeed, the store lock
# serialises them, records and the audit chain stay consistent.
. "$(dirname "$0")/../lib.sh"
new_store
peer_env
pids=()
for k in one two three; do
  "$SIGNET" key generate "$k" >"$T/out.$k" 2>"$T/err.$k" &
  pids+=($!)
done
for i in "${!pids[@]}"; do wait "${pids[$i]}" || { cat "$T"/err.*; fail "concurrent generate $i failed"; }; done
for k in one two three; do
  [ -f "$S/keys/$k.yaml" ] || fail "record for $k missing"
  sig 0 key pubkey "$k"
  eq "$(openssl pkey -pubin -in "$T/out" -outform DER | sha256sum | cut -d' ' -f1)" "$(yaml_get "$S/keys/$k.yaml" spki_sha256)" "spki of $k"
done
sig 0 audit verify
has "$T/out" "5 records"
p11tool --login --pin "$(user_pin)" --list-objects --type privkey >"$T/p11" 2>&1
# Three keys in custody and the store's audit key.
[ "$(grep -c 'Private Key Object' "$T/p11")" -eq 4 ] || fail "token does not hold exactly 3 private keys and the audit key"
sig 0 audit custody
ls "$S/keys" | grep -q tmp && fail "temporary files left in keys/"
true
