# Chapter 7b: a Ctrl-C, a kill -9 or a crash loses nothing.  SoftHSM2 is
# killed half-way through rewriting its token file; a signing batch is
# killed before it committed.  The next command repairs, completes or rolls
# back, and says so; the audit log stays whole and its head is signed by
# the token.  Sourced by tests/demo.sh ($SIGNET, $S, $W set).
# killed CMD...: runs CMD, which is meant to die of a signal; quietly.
killed() { bash -c '"$@"; true' killed "$@" >/dev/null 2>&1; }
step "74. Kill signet while SoftHSM2 rewrites token.object at login (the file is left empty)"
printf 'firmware 5.0\n' >"$W/five.bin"
tokobj=$(ls "$S"/hsm/tokens/*/token.object)
for n in 1 2 3 4 5 6 7 8 9 10; do
  killed strace -o /dev/null -e trace=write -e inject=write:signal=SIGKILL:when="$n" "$SIGNET" sign "$W/five.bin" --key fw
  [ -s "$tokobj" ] || break
done
show ls -l "$tokobj"
step "75. The next command restores the token file from its known-good copy, and records it"
show "$SIGNET" sign "$W/five.bin" --key fw
step "76. A batch of 8 killed part-way: no signature is visible yet, only staged files"
for i in 1 2 3 4 5 6 7 8; do head -c 2048 /dev/urandom >"$W/v$i.bin"; done
n=$(strace -o "$W/trace" -e trace=fsync "$SIGNET" sign "$W"/v*.bin --key fw >/dev/null 2>&1; grep -c '^fsync(' "$W/trace")
rm -f "$W"/v*.bin.sig
killed strace -o /dev/null -e trace=fsync -e inject=fsync:signal=SIGKILL:when=$((n - 2)) "$SIGNET" sign "$W"/v*.bin --key fw
show ls "$W" | grep '^v' || true
step "77. The next command that changes the store puts in place what the audit log recorded, removes the rest"
show "$SIGNET" sign "$W/five.bin" --key fw
show ls "$W" | grep '^v' || true
step "78. The audit log: chain, head signed on the token, the token's anchor; a copy of the head for a ticket"
show "$SIGNET" audit verify
show "$SIGNET" audit head
