# Chapter 7: never lose the key.  Back up the whole store (the embedded
# token with every key included) under a passphrase, run the restore
# drill, restore into a new place, sign there, and verify with the
# original public key.  Sourced by tests/demo.sh ($SIGNET, $S, $W set).
step "70. Back up the store: records, audit log and the embedded token, scrypt + AES-256-GCM"
printf 'demo passphrase: correct horse battery staple\n' >"$W/backup.pass"
show "$SIGNET" backup "$W/signet.sbk" --passphrase-file "$W/backup.pass"
step "71. The drill: restore into a temporary store, sign and verify with every key, remove it"
show "$SIGNET" restore "$W/signet.sbk" --check --passphrase-file "$W/backup.pass"
step "72. A wrong passphrase writes nothing (exit 3)"
printf 'not the passphrase\n' >"$W/wrong.pass"
show "$SIGNET" restore "$W/signet.sbk" --store "$W/restored" --passphrase-file "$W/wrong.pass" || true
step "73. Restore somewhere else and sign there: the original public key verifies it"
show "$SIGNET" restore "$W/signet.sbk" --store "$W/restored" --passphrase-file "$W/backup.pass"
printf 'firmware after the disaster\n' >"$W/after.bin"
show "$SIGNET" --store "$W/restored" sign "$W/after.bin" --key fw
"$SIGNET" key pubkey fw --out "$W/fw.pub.pem"
base64 -d "$W/after.bin.sig" >"$W/after.sig.der"
show openssl dgst -sha256 -verify "$W/fw.pub.pem" -signature "$W/after.sig.der" "$W/after.bin"
