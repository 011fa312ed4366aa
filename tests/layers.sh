#!/bin/sh
# tests/layers.sh [--self-test] [DIR]: every #include "x.h" in DIR/src/*/*.c
# and DIR/include/*.h must point to its own floor or lower (docs/development.md,
# "Layout").  A header's floor is that of its .c file (cmd.h: cmd).  Floors:
#   base: sgt 0; fsio pkey yamltree 10; store p11 hsmguard pin keyrec 20
#   formats 25 (beside base: formats may use base and formats only)
#   custody: audit 30; session anchor 40; intent tx 50;  ops 60;  cmd 70
# Fails naming file, line and both floors.  --self-test copies the tree,
# injects an upward include into a base file and asserts that it fails.
set -u
if [ "${1:-}" = --self-test ]; then
  root=$(cd "$(dirname "$0")/.." && pwd) tmp=$(mktemp -d) && trap 'rm -rf "$tmp"' EXIT
  cp -r "$root/src" "$root/include" "$tmp/"
  printf '#include "tx.h"\n' >>"$tmp/src/base/fsio.c"
  out=$("$0" "$tmp" 2>&1) && { echo "layers: an upward include passed"; exit 1; }
  echo "$out" | grep -q 'src/base/fsio.c:[0-9]*: includes tx.h (custody 50) from base 10' ||
    { echo "layers: unexpected failure: $out"; exit 1; }
  echo "layers: self-test ok (an upward include fails)"; exit 0
fi
cd "${1:-$(dirname "$0")/..}" || exit 2
for f in src/*/*.c; do
  b=${f##*/}; b=${b%.c}; d=${f#src/}; d=${d%%/*}
  case $d/$b in
    base/sgt) n=0;; base/fsio|base/pkey|base/yamltree) n=10;; base/*) n=20;; formats/*) n=25;;
    custody/audit) n=30;; custody/session|custody/anchor) n=40;; custody/*) n=50;; ops/*) n=60;; *) n=70;;
  esac
  echo "$b $d $n"
done >floors.tmp.$$
echo "cmd cmd 70" >>floors.tmp.$$
awk 'NR == FNR { fl[$1] = $3; nm[$1] = $2; next }
  FNR == 1 { me = FILENAME; sub(/.*\//, "", me); sub(/\.[ch]$/, "", me) }
  /^#include "/ { h = $2; gsub(/"/, "", h); sub(/\.h$/, "", h)
    if (!(h in fl) || !(me in fl)) next
    if (fl[h] > fl[me]) { printf "%s:%d: includes %s.h (%s %d) from %s %d\n", FILENAME, FNR, h, nm[h], fl[h], nm[me], fl[me]; bad = 1 } }
  END { exit bad }' floors.tmp.$$ src/*/*.c include/*.h
rc=$?
rm -f floors.tmp.$$
[ $rc -eq 0 ] && echo "layers: every include points to its own floor or lower"
exit $rc
