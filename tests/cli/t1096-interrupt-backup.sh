#!/usr/bin/env bash
# The interruption campaign of t1090 for `backup` and `restore`: SIGKILL
# injected (strace) at every write, rename, link, unlink, ftruncate, fsync
# and syncfs each makes, in turn (and backup SIGTERMed at random moments).
# backup: right after the kill an archive is there only with its record
# (SHA-256); after the next state-changing command the archive is there
# exactly when its record is, whole (mode 0600, the recorded SHA-256),
# `audit verify` and `audit custody` pass, and no staged archive, temporary
# file or intent is left in the store or next to the archive.
# restore: the target is absent or a whole store (a restore record,
# `audit verify`, `audit custody`, signs); when absent, the next restore
# succeeds and removes the staging directory the kill left, and nothing
# named .r.restoreXXXXXX, *.tmp* or an intent is left.  Prints the counts.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/campaign.sh"
new_store
sig 0 key generate fw
sig 0 cert issue fw --days 40
printf 'correct horse battery staple\n' >"$T/pass"
head -c 20000 /dev/urandom >"$T/img.bin"
mkdir "$T/od"
cp -a "$S" "$T/pristine"
keys_before=$(ls "$S/keys" | sort | tr '\n' ' ')
syscalls="write rename link unlink ftruncate fsync syncfs"

# ---- backup ----
A=$T/od/b.sbk
records() { grep -c '"op":"backup",[^}]*"result":"ok"' "$S/audit.log"; }
recorded_sha() { grep -q "\"op\":\"backup\".*\"archive_sha256\":\"$(sha256sum "$A" | cut -c1-64)\"" "$S/audit.log"; }
n0=$(S=$T/pristine; records)
check_backup() {
  local what=$1
  # Right after the kill: an archive only with its record.
  [ ! -e "$A" ] || recorded_sha || fail "$what: an archive without its audit record"
  campaign_store_whole "$what"
  if [ -e "$A" ]; then
    eq "$(records)" "$((n0 + 1))" "$what: archive with $(( $(records) - n0 )) new backup records"
    recorded_sha || fail "$what: the archive is not the one recorded"
    eq "$(stat -c %a "$A")" 600 "$what: archive mode"
    whole=$((whole + 1))
  else
    eq "$(records)" "$n0" "$what: a backup record without its archive"
    none=$((none + 1))
  fi
}
kills=0 recovered=0 whole=0 none=0 terms=0
campaign_kills backup "$SIGNET backup $A --passphrase-file $T/pass --scrypt-n 15" check_backup "$syscalls"
[ "$kills" -gt 15 ] || fail "only $kills backup injection points: strace saw too little"
[ "$whole" -gt 0 ] && [ "$none" -gt 0 ] || fail "backup: $whole whole and $none absent: the kills missed a side"
campaign_terms backup "$SIGNET backup $A --passphrase-file $T/pass --scrypt-n 15" check_backup 8
note "backup: SIGKILL at $kills syscalls and SIGTERM $terms times: $whole left the archive with its record, $none neither; $recovered next commands recovered"
bkills=$kills

# ---- restore ----
sig 0 backup "$T/b.sbk" --passphrase-file "$T/pass" --scrypt-n 15
R=$T/od/r
rm -rf "$T/od"/*
campaign_fresh() { rm -rf "$R" "$T/od"/.r.restore*; }
restore_cmd="$SIGNET restore $T/b.sbk --store $R --passphrase-file $T/pass"
check_restore() {
  local what=$1 left
  if [ -e "$R" ]; then
    restored=$((restored + 1))
  else
    $restore_cmd >"$T/next.out" 2>"$T/next.err" || { cat "$T/next.err"; fail "$what: the next restore failed"; }
    grep -q "left by an interrupted restore" "$T/next.err" && swept=$((swept + 1))
    absent=$((absent + 1))
  fi
  left=$(ls -A "$T/od" | grep -v '^r$' | head -3)
  [ -z "$left" ] || fail "$what: left next to the store: $left"
  eq "$(grep -c '"op":"restore",[^}]*"result":"ok"' "$R/audit.log")" 1 "$what: restore records"
  "$SIGNET" --store "$R" audit verify >"$T/v.out" 2>&1 || { cat "$T/v.out"; fail "$what: audit verify of the restored store"; }
  "$SIGNET" --store "$R" audit custody >"$T/c.out" 2>&1 || { cat "$T/c.out"; fail "$what: audit custody of the restored store"; }
  grep -q "^  fw " "$T/c.out" || { cat "$T/c.out"; fail "$what: key fw lost"; }
  left=$(find "$R" -name '*.tmp*' ! -path '*/hsm/tokens/*' | head -3)
  [ -z "$left" ] || fail "$what: temporary files left in the restored store: $left"
  [ -z "$(ls "$R/intents" 2>/dev/null)" ] || fail "$what: an intent left in the restored store"
}
kills=0 restored=0 absent=0 swept=0
campaign_kills restore "$restore_cmd" check_restore "$syscalls"
[ "$kills" -gt 50 ] || fail "only $kills restore injection points: strace saw too little"
[ "$swept" -gt 0 ] || fail "no restore found a staging directory to remove: the campaign missed its case"
# The restored store signs (once: the campaign checked each one's custody and chain).
"$SIGNET" --store "$R" sign "$T/img.bin" --key fw --out "$T/r.sig" >/dev/null 2>"$T/err" || { cat "$T/err"; fail "the restored store cannot sign"; }
note "restore: SIGKILL at $kills syscalls: $restored left a whole store, $absent none (then the next restore removed $swept staging directories)"
echo "campaign: backup $bkills kills, restore $kills kills"
