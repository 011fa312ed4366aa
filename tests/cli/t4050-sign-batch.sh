#!/usr/bin/env bash
# Batch signing commits as a group: every signature verifies (openssl), the
# audit log has exactly one record per image in order; a batch killed at
# random moments never leaves a signature file without its audit record;
# two batches on one store run side by side (the store is locked only for
# the commit) and both finish with a verifying chain.
. "$(dirname "$0")/../lib.sh"
new_store
sig 0 key generate fw
sig 0 cert issue fw
"$SIGNET" key pubkey fw >"$T/fw.pub" 2>/dev/null
mkdir "$T/a" "$T/b"
for i in $(seq -w 1 40); do
  head -c $((1000 + 10#$i * 37)) /dev/urandom >"$T/a/img$i.bin"
  head -c $((900 + 10#$i * 41)) /dev/urandom >"$T/b/img$i.bin"
done

# One batch: one record per image, in the order given, each signature verifies.
before=$(wc -l <"$S/audit.log")
sig 0 sign "$T"/a/img*.bin --key fw
eq "$(wc -l <"$S/audit.log")" "$((before + 40))" "records after a batch of 40"
tail -40 "$S/audit.log" | jq -r '.details.image' >"$T/order"
ls "$T"/a/img*.bin >"$T/given"
cmp -s "$T/order" "$T/given" || fail "records are not one per image in order"
tail -40 "$S/audit.log" | jq -r .op | sort -u | grep -qx sign || fail "batch records are not sign records"
for f in "$T"/a/img*.bin; do
  base64 -d "$f.sig" >"$T/s.der"
  openssl dgst -sha256 -verify "$T/fw.pub" -signature "$T/s.der" "$f" >/dev/null || fail "signature of $f does not verify"
done
sig 0 audit verify
rm -f "$T"/a/*.sig

# Killed at random moments: a signature on disk always has its record; the next command cleans up.
kills=0
for try in $(seq 1 15); do
  "$SIGNET" sign "$T"/a/img*.bin --key fw >/dev/null 2>&1 &
  pid=$!
  sleep "0.$((RANDOM % 4))$((RANDOM % 10))"
  kill -KILL "$pid" 2>/dev/null && kills=$((kills + 1))
  wait "$pid" 2>/dev/null
  for f in "$T"/a/*.sig; do
    [ -e "$f" ] || continue
    grep -qF "\"signature\":\"$f\"" "$S/audit.log" || fail "try $try: $f is there without an audit record"
  done
  sig 0 sign "$T/b/img01.bin" --key fw
  sig 0 audit verify
  left=$(find "$S" "$T/a" -name '*.tmp*' ! -path '*/hsm/tokens/*' | head -3)
  [ -z "$left" ] || fail "try $try: temporary files left: $left"
  [ -z "$(ls "$S/intents" 2>/dev/null)" ] || fail "try $try: an intent left behind"
  for f in "$T"/a/*.sig; do
    [ -e "$f" ] || continue
    base64 -d "$f" >"$T/s.der" && openssl dgst -sha256 -verify "$T/fw.pub" -signature "$T/s.der" "${f%.sig}" >/dev/null ||
      fail "try $try: $f does not verify"
  done
  rm -f "$T"/a/*.sig
done
note "$kills batches killed mid-way"

# Two batches at once on one store: both finish, everything verifies.
rm -f "$T"/a/*.sig "$T"/b/*.sig
before=$(wc -l <"$S/audit.log")
"$SIGNET" sign "$T"/a/img*.bin --key fw >"$T/outa" 2>"$T/erra" &
pa=$!
"$SIGNET" sign "$T"/b/img*.bin --key fw >"$T/outb" 2>"$T/errb" &
pb=$!
wait "$pa" || { cat "$T/erra"; fail "batch a failed"; }
wait "$pb" || { cat "$T/errb"; fail "batch b failed"; }
eq "$(wc -l <"$S/audit.log")" "$((before + 80))" "records after two concurrent batches"
for f in "$T"/a/img*.bin "$T"/b/img*.bin; do
  base64 -d "$f.sig" >"$T/s.der"
  openssl dgst -sha256 -verify "$T/fw.pub" -signature "$T/s.der" "$f" >/dev/null || fail "signature of $f does not verify"
done
sig 0 audit verify
sig 0 audit custody

# A batch has no size limit of its own (it stopped at 4096 staged files once): 4500 images,
# one record each; a sample of the signatures verifies.
mkdir -p "$T/big"
for i in $(seq -w 1 4500); do printf 'image %s\n' "$i" >"$T/big/i$i.bin"; done
before=$(wc -l <"$S/audit.log")
sig 0 sign "$T"/big/*.bin --key fw
eq "$(wc -l <"$S/audit.log")" "$((before + 4500))" "records after a batch of 4500"
eq "$(ls "$T"/big/*.sig | wc -l)" 4500 "signature files after a batch of 4500"
for i in 0001 2250 4097 4500; do
  base64 -d "$T/big/i$i.bin.sig" >"$T/s.der"
  openssl dgst -sha256 -verify "$T/fw.pub" -signature "$T/s.der" "$T/big/i$i.bin" >/dev/null || fail "i$i does not verify"
done
sig 0 audit verify
