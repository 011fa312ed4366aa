#!/usr/bin/env bash
# A database-backed store (PostgreSQL on a unix socket, the token behind a
# p11-kit server) and signet killed at every message to the database and
# every rename, link, unlink and fsync of a sign and of a reissue (a
# campaign: make check-campaigns).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../dbstore.sh"
db_start
token_start
sig 0 init --module "$CLIENT" --token shared --pin-file "$T/pin" --db "$DB" --host alpha
sig 0 key generate fw
sig 0 cert issue fw

# signet itself killed (SIGKILL, injected by strace) at every sendto (each
# message to PostgreSQL: BEGIN, the inserts, COMMIT), rename, link, unlink
# and fsync of a sign and of a reissue on the database store, in turn: the
# next command goes on (recovering what was left), no staged file or intent
# is left, every signature file has a record naming it, and this host's copy
# is the database's chain.
command -v strace >/dev/null || fail "strace is needed (make deps installs it)"
mkdir "$T/k"
head -c 3000 /dev/urandom >"$T/k/img.bin"
kills=0
for what in sign reissue; do
  if [ "$what" = sign ]; then cmd=("$SIGNET" sign "$T/k/img.bin" --key fw); else cmd=("$SIGNET" cert reissue fw); fi
  for sc in sendto rename link unlink fsync; do
    n=$(strace -f -o "$T/count" -e trace="$sc" "${cmd[@]}" >/dev/null 2>&1; grep -c " $sc(" "$T/count")
    for i in $(seq 1 "$n"); do
      (strace -f -o /dev/null -e trace="$sc" -e inject="$sc:signal=SIGKILL:when=$i" "${cmd[@]}" >/dev/null 2>&1; true) 2>/dev/null
      kills=$((kills + 1))
      "$SIGNET" sign "$T/k/img.bin" --key fw --out "$T/k/next$kills.sig" >"$T/next.out" 2>"$T/next.err" \
        || { cat "$T/next.err"; fail "$what killed at $sc #$i: the next command failed"; }
      cat "$T/next.err" >>"$T/recovered.log"
      left=$(find "$S" "$T/k" -name '*.tmp*' | head -3)
      [ -z "$left" ] || fail "$what killed at $sc #$i: temporary files left: $left"
      [ -z "$(ls "$S/intents" 2>/dev/null)" ] || fail "$what killed at $sc #$i: an intent left"
    done
  done
done
note "$kills kills; the next command recovered something after $(grep -c 'recovered' "$T/recovered.log") of them"
db_records >"$T/db.log"
for f in "$T"/k/*.sig; do
  [ -n "$(jq -c --arg f "$f" 'select((.intent.files // []) | index($f)) | .seq' "$T/db.log")" ] || fail "$f has no record"
done
cmp -s "$S/audit.log" "$T/db.log" || fail "this host's copy differs from the database's chain after the kills"
sig 0 audit verify
sig 0 audit custody
