# Chapter 1: a store with its own SoftHSM2 token, a P-256 code-signing key
# generated inside it, its custody read back, and the audit chain checked.
step "1. A store with an embedded SoftHSM2 token"
show "$SIGNET" init
step "2. Generate the firmware signing key ON the token (P-256, as ESP32 OTA verifies)"
show "$SIGNET" key generate fw --alg ecdsa-p256
step "3. What custody holds: the private key is sensitive, never extractable, local"
show "$SIGNET" key show fw
show "$SIGNET" audit custody
step "4. The public key, and its SHA-256 as every later step will check it"
show "$SIGNET" key pubkey fw
step "5. Every operation so far is in the hash-chained audit log"
show "$SIGNET" audit log
show "$SIGNET" audit verify
