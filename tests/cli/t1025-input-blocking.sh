#!/usr/bin/env bash
# Inputs that never end: a --pin-file FIFO nobody writes, an image FIFO that
# never opens or never ends, standard input from /dev/zero, an MCUboot image
# FIFO.  SIGTERM ends each at once (measured; polled for up to 5 s), the
# store is not locked while the command waits on a PIN or image and is
# unlocked and whole afterwards (audit verify, audit custody, the next
# writer); a batch commits what it signed before the endless image.
# sign /dev/zero is refused at once: a device is not an image file.
. "$(dirname "$0")/../lib.sh"
new_store
sig 0 key generate fw
sig 0 key generate boot --alg ecdsa-p256
"$SIGNET" key pubkey fw >"$T/fw.pub" 2>/dev/null
mkfifo "$T/pin" "$T/img" "$T/mcu"
head -c 3000 /dev/urandom >"$T/a.bin"
head -c 5000 /dev/urandom >"$T/b.bin"

# unlocked: the store lock is free, and a reader that will not wait runs.
unlocked() {
  flock -n "$S/lock" true || fail "the store lock is held ($1)"
  SIGNET_LOCK_TIMEOUT=0 "$SIGNET" key list >/dev/null 2>&1 || fail "key list could not run ($1)"
}

# ends_on_term WHAT CMD...: CMD blocks (still running after 0.5 s) without
# holding the store lock when WHAT is "free"; SIGTERM then ends it, by the
# signal, polled for up to 5 s; the time it took is noted.
ends_on_term() {
  local lock=$1; shift
  "$@" >"$T/out" 2>"$T/err" &
  local pid=$! i t0 ms rc
  sleep 0.5
  kill -0 "$pid" 2>/dev/null || { cat "$T/err"; fail "ended before SIGTERM: $*"; }
  [ "$lock" = free ] && unlocked "while '$*' waits"
  t0=$(date +%s%N)
  kill -TERM "$pid"
  for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid"
    fail "still running 5 s after SIGTERM: $*"
  fi
  wait "$pid"
  rc=$?
  ms=$((($(date +%s%N) - t0) / 1000000))
  note "ended ${ms} ms after SIGTERM (exit $rc): ${*//$SIGNET/signet}"
  eq "$rc" 143 "exit status (killed by SIGTERM) of $*"
  unlocked "after '$*'"
}

records=$(wc -l <"$S/audit.log")

# A --pin-file FIFO nobody writes: read before the lock and the module.
ends_on_term free "$SIGNET" key generate k2 --pin-file "$T/pin"
# ... the same through --pin-fd on a pipe that never writes.
ends_on_term free bash -c "sleep 30 | exec '$SIGNET' key generate k3 --pin-fd 0"
# A PIN FIFO read by a command that logs in to sign.
ends_on_term free "$SIGNET" sign "$T/a.bin" --key fw --pin-file "$T/pin"
[ ! -e "$T/a.bin.sig" ] || fail "a signature appeared without its PIN"

# An image FIFO that no one opens (sign blocks in open), then one that never ends.
ends_on_term free "$SIGNET" sign "$T/img" --key fw
cat /dev/zero >"$T/img" 2>/dev/null &
ends_on_term free "$SIGNET" sign "$T/img" --key fw
has "$T/err" "interrupted while reading image '$T/img'"
wait

# A batch whose third image never ends: the first two are signed, committed and verify.
cat /dev/zero >"$T/img" 2>/dev/null &
ends_on_term free "$SIGNET" sign "$T/a.bin" "$T/b.bin" "$T/img" --key fw
wait
for f in a b; do
  [ -s "$T/$f.bin.sig" ] || fail "the batch lost $f.bin.sig, signed before the interruption"
  base64 -d "$T/$f.bin.sig" >"$T/s.der"
  openssl dgst -sha256 -verify "$T/fw.pub" -signature "$T/s.der" "$T/$f.bin" >/dev/null || fail "$f.bin.sig does not verify"
  grep -q "\"image\":\"$T/$f.bin\"" "$S/audit.log" || fail "no record of $f.bin"
done
[ ! -e "$T/img.sig" ] || fail "a signature of the endless image"

# Standard input that never ends (hashed before the token is opened).
ends_on_term held bash -c "exec '$SIGNET' sign - --key fw --out '$T/in.sig' </dev/zero"
[ ! -e "$T/in.sig" ] || fail "a signature of endless standard input"

# An MCUboot image FIFO: read before the store is locked.
ends_on_term free "$SIGNET" sign "$T/mcu" --key boot --format mcuboot --out "$T/mcu.signed.bin"

# A device is not an image: refused at once, with one line naming it.
sig 3 sign /dev/zero --key fw
one_line_error
has "$T/err" "cannot read image '/dev/zero': it is a character device, not an image file"

# Whole: nothing but the two batch records was added, no key appeared; the next writer recovers what was cut off.
eq "$(grep -c '"result":"ok"' <(tail -n +"$((records + 1))" "$S/audit.log"))" 2 "ok records added"
sig 0 audit verify
sig 0 audit custody
hasnt "$T/out" "k2|k3"
sig 0 sign "$T/a.bin" --key fw
sig 0 audit verify
[ -z "$(ls -A "$S/intents" 2>/dev/null)" ] || fail "intents left: $(ls "$S/intents")"
sig 0 key generate k2 --pin-file <(user_pin)
