#!/usr/bin/env bash
# audit custody: keys on the token without a record, and records whose key
# is gone, are problems (exit 1); an honest store is exit 0.
. "$(dirname "$0")/../lib.sh"
new_store
peer_env
sig 0 key generate fw
sig 0 audit custody
has "$T/out" "fw +generated +sensitive=yes extractable=no always_sensitive=yes never_extractable=yes local=yes +ok"

# A key made behind signet's back, extractable.
p11tool --login --pin "$(user_pin)" --keypairgen --key-type EC:prime256v1 --label rogue --id 0102 >/dev/null 2>&1 \
  || fail "pkcs11-tool keygen failed"
sig 1 audit custody
has "$T/out" "rogue.*PROBLEM: on the token but has no key record"
sig 1 --json audit custody
has "$T/out" '"problems": 1'

# A record whose key was deleted from the token.
p11tool --login --pin "$(user_pin)" --delete-object --type privkey --label rogue >/dev/null 2>&1
p11tool --login --pin "$(user_pin)" --delete-object --type privkey --label fw >/dev/null 2>&1
forget_deleted
sig 1 audit custody
has "$T/out" "recorded but the token no longer holds it"
