#!/usr/bin/env bash
# `signet store put` on a database-backed store killed (SIGKILL injected
# by strace) at every message to PostgreSQL and every rename, link, unlink
# and fsync, each time putting a new version of a policy: the file people
# wrote is never lost nor rolled back; the next command (the same put run
# again) recovers and shares it; the database then holds exactly this
# host's file; every store.put record names a version that was put; no
# staged file or intent is left; the chain verifies; a second host joining
# takes the same file.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../dbstore.sh"
command -v strace >/dev/null || fail "strace is needed (make deps installs it)"
db_host
mkdir -p "$S/policies"
sed "s/^name: .*/name: p/" "$TOP/policies/codesign-generic.yaml" >"$S/policies/p.yaml"
sig 0 store put policies/p.yaml
db_sha() { db_sql "SELECT encode(sha256(content), 'hex') FROM signet_files WHERE path = 'policies/p.yaml'"; }
kills=0 j=0
sha256sum "$S/policies/p.yaml" | cut -c1-64 >"$T/versions"
for sc in sendto rename link unlink fsync; do
  n=$(strace -f -o "$T/count" -e trace="$sc" "$SIGNET" store put policies/p.yaml >/dev/null 2>&1; grep -c " $sc(" "$T/count")
  for i in $(seq 1 "$n"); do
    j=$((j + 1))
    echo "# version $j" >>"$S/policies/p.yaml"
    cp "$S/policies/p.yaml" "$T/want.yaml"
    sha256sum "$T/want.yaml" | cut -c1-64 >>"$T/versions"
    (strace -f -o /dev/null -e trace="$sc" -e inject="$sc:signal=SIGKILL:when=$i" "$SIGNET" store put policies/p.yaml \
      >/dev/null 2>&1; true) 2>/dev/null
    kills=$((kills + 1))
    what="store put killed at $sc #$i"
    cmp -s "$T/want.yaml" "$S/policies/p.yaml" || fail "$what: the policy written on this host was lost or rolled back"
    "$SIGNET" store put policies/p.yaml >"$T/next.out" 2>"$T/next.err" || { cat "$T/next.err"; fail "$what: putting it again failed"; }
    cat "$T/next.err" >>"$T/recovered.log"
    eq "$(db_sha)" "$(sha256sum "$T/want.yaml" | cut -c1-64)" "$what: the database's policy"
    left=$(find "$S" -name '*.tmp*' | head -3)
    [ -z "$left" ] || fail "$what: temporary files left: $left"
    [ -z "$(ls "$S/intents" 2>/dev/null)" ] || fail "$what: an intent left"
  done
done
note "$kills kills; the next command recovered something after $(grep -c 'recovered' "$T/recovered.log") of them"
db_records >"$T/db.log"
jq -r 'select(.op == "store.put") | .details.sha256' "$T/db.log" | sort -u >"$T/recorded"
sort -u "$T/versions" >"$T/put"
[ -z "$(comm -23 "$T/recorded" "$T/put")" ] || fail "a store.put record names a version nobody put"
cmp -s "$S/audit.log" "$T/db.log" || fail "this host's copy differs from the database's chain after the kills"
sig 0 audit verify
B="$T/hostB"
sig 0 --store "$B" init --module "$CLIENT" --token shared --pin-file "$T/pin" --db "$DB" --join --host beta
cmp -s "$S/policies/p.yaml" "$B/policies/p.yaml" || fail "the joining host's policy differs"
sig 0 --store "$B" policy show p
