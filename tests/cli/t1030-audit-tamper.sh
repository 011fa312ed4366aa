#!/usr/bin/env bash
# audit verify detects a record modified, removed, reordered, or cut off the
# end, naming the first bad record; and refuses to extend a broken chain.
. "$(dirname "$0")/../lib.sh"
new_store
for k in a b c d; do sig 0 key generate "$k"; done
sig 0 audit verify
has "$T/out" "intact: 6 records"
sig 0 --json audit verify
has "$T/out" '"intact": true'
cp -a "$S" "$T/pristine"

reset() { rm -rf "$S"; cp -a "$T/pristine" "$S"; }

# Modified: change a label inside record 3; record 4 no longer chains to it.
reset
sed -i '4s/"label":"b"/"label":"x"/' "$S/audit.log"
sig 1 audit verify
one_line_error
has "$T/err" "broken at record 5: its prev hash does not match"
sig 1 --json audit verify
has "$T/out" '"first_bad_record": 5'

# Modified last record: only the head can tell.
reset
sed -i '6s/"label":"d"/"label":"z"/' "$S/audit.log"
sig 1 audit verify
has "$T/err" "broken at record 6: it is not the record the signed audit head names"

# Removed.
reset
sed -i '2d' "$S/audit.log"
sig 1 audit verify
has "$T/err" "broken at record 2"

# Reordered.
reset
awk 'NR==3{l3=$0;next} NR==4{print;print l3;next} {print}' "$T/pristine/audit.log" >"$S/audit.log"
sig 1 audit verify
has "$T/err" "broken at record 3"

# Truncated tail: last record dropped.
reset
sed -i '$d' "$S/audit.log"
sig 1 audit verify
has "$T/err" "audit.head does not match the last record"

# Truncated mid-line.
reset
truncate -s -10 "$S/audit.log"
sig 1 audit verify
has "$T/err" "broken at record 6"

# A broken chain is not extended: the operation fails and adds nothing.
reset
sed -i '$d' "$S/audit.log"
cp "$S/audit.log" "$T/log.before"
sig 3 key generate e
has "$T/err" "does not end where"
cmp -s "$S/audit.log" "$T/log.before" || fail "broken audit log was extended"
[ ! -e "$S/keys/e.yaml" ] || fail "key record written although the audit record was not"
peer_env
p11tool --login --pin "$(user_pin)" --list-objects >"$T/p11" 2>&1
hasnt "$T/p11" "label: +e$"

# audit log, --since and --json.
reset
sig 0 audit log
[ "$(wc -l <"$T/out")" -eq 6 ] || fail "audit log does not print 6 records"
sig 0 --json audit log --since 2000-01-01
[ "$(grep -c '"seq"' "$T/out")" -eq 6 ] || fail "--json audit log"
sig 0 audit log --since 2999-01-01
[ ! -s "$T/out" ] || fail "--since in the future printed records"
sig 2 audit log --since yesterday
