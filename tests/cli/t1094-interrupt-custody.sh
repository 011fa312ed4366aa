#!/usr/bin/env bash
# The interruption campaign of t1090 for `key adopt`, `cert issue`, `cert
# import`, `cert csr --out`, `rotate start` and `rotate finish` (t8020 kills
# these two at some syscalls only): SIGKILL injected (strace) at every
# write, rename, link, unlink, ftruncate, fsync and syncfs each makes, in turn.
# Right after each kill no file is visible without its audit record; after
# the next state-changing command (which recovers) the files are there
# exactly when the record is, `audit verify` and `audit custody` pass, no
# temporary file or intent is left in the store or next to the output, and
# every key recorded before is still on the token.  Then `sign` failing
# cleanly (EIO at each fsync, ENOSPC at each write) leaves no staged
# signature behind unless its record was written (then the next command
# puts it in place).  Prints the counts it ran.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/campaign.sh"
MKCERT="$TOP/tests/vectors/cert/mkcert.sh"
new_store
sig 0 key generate fw
sig 0 key generate k2
# A certificate an external CA made for k2's request, for cert import.
sig 0 cert csr k2 --out "$T/k2.csr"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/ca.key" 2>/dev/null
"$MKCERT" "$T/ca.pem" "$T/ca.key" now-10d now+3650d sha256 "/CN=Acme CA" \
  "basicConstraints = critical,CA:TRUE" "keyUsage = critical,keyCertSign"
openssl x509 -req -in "$T/k2.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial -days 200 \
  -copy_extensions copy -out "$T/issued.pem" 2>/dev/null || fail "the external CA"
head -c 20000 /dev/urandom >"$T/img.bin"
mkdir "$T/od"
keys_before=$(ls "$S/keys" | sort | tr '\n' ' ')
cp -a "$S" "$T/pristine.base"
# A key pair made outside signet, for key adopt (its store only: elsewhere custody would report it).
p11tool --login --pin "$(user_pin)" --keypairgen --key-type EC:prime256v1 --id a201 --label vendor-fw >/dev/null 2>&1 ||
  fail "keypairgen"
cp -a "$S" "$T/pristine.adopt"
# A rotation of fw to k2 started, for rotate finish.
rm -rf "$S"; cp -a "$T/pristine.base" "$S"
sig 0 rotate start fw k2
cp -a "$S" "$T/pristine.finish"

# files_sum: every file the commands here may add (store files other than the log, the
# locks, the token and staged temporaries; and the outputs).
files_sum() {
  (cd "$S" && find . \( -path ./hsm -o -path ./intents \) -prune -o -type f ! -name lock ! -name 'audit.*' \
     ! -name '*.tmp*' -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-64
  (cd "$T/od" && find . -type f ! -name '*.tmp*' ! -name next.sig | sort)
}
records() { grep -c "\"op\":\"$op\",\"label\":\"[^\"]*\"[^}]*\"result\":\"ok\"" "$S/audit.log"; }

commands=(
  "adopt|key.adopt|$SIGNET key adopt vfw --uri pkcs11:object=vendor-fw;type=private"
  "issue|cert.issue|$SIGNET cert issue fw --days 40"
  "import|cert.import|$SIGNET cert import k2 $T/issued.pem"
  "csr|cert.csr|$SIGNET cert csr fw --out $T/od/fw.csr"
  "start|rotate.start|$SIGNET rotate start fw k2"
  "finish|rotate.finish|$SIGNET rotate finish fw"
)
check_after() {
  local what=$1 n1 changed
  # Right after the kill: nothing visible without its record.
  changed=0; [ "$(files_sum)" = "$pristine_sum" ] || changed=1
  n1=$(records)
  [ "$changed" = 0 ] || [ "$n1" = $((n0 + 1)) ] || fail "$what: files visible with $((n1 - n0)) new $op records"
  if [ "$op" = key.adopt ]; then
    # Until it is adopted the vendor's key is on the token without a record, which
    # `audit custody` rightly reports: the next command recovers, then the adopt runs again.
    "$SIGNET" sign "$T/img.bin" --key fw --out "$T/od/next.sig" >"$T/next.out" 2>"$T/next.err" ||
      { cat "$T/next.err"; fail "$what: the next command failed"; }
    post_state
    campaign_store_whole "$what" adopt_again
  else
    # A retired key signs only for a fleet: the next command signs with the new one.
    campaign_store_whole "$what" "$SIGNET" sign "$T/img.bin" --key k2 --out "$T/od/next.sig"
    post_state
  fi
}
adopt_again() { [ -e "$S/keys/vfw.yaml" ] || $cmd; }
# After recovery: the files exactly when the record.
post_state() {
  local changed n1
  changed=0; [ "$(files_sum)" = "$pristine_sum" ] || changed=1
  n1=$(records)
  if [ "$changed" = 1 ]; then
    eq "$n1" "$((n0 + 1))" "$what: files visible with $((n1 - n0)) new $op records"
    done_=$((done_ + 1))
  else
    eq "$n1" "$n0" "$what: a $op record without its files"
    none=$((none + 1))
  fi
}

kills=0 recovered=0 done_=0 none=0
for entry in "${commands[@]}"; do
  IFS='|' read -r name op cmd <<<"$entry"
  rm -rf "$T/pristine"
  case $name in
    adopt|finish) cp -a "$T/pristine.$name" "$T/pristine" ;;
    *) cp -a "$T/pristine.base" "$T/pristine" ;;
  esac
  rm -rf "$T/od"/*
  pristine_sum=$(S=$T/pristine; files_sum)
  n0=$(S=$T/pristine; records)
  k0=$kills
  campaign_kills "$name" "$cmd" check_after "write rename link unlink ftruncate fsync syncfs"
  note "$name: $((kills - k0)) kill points"
done
[ "$kills" -gt 40 ] || fail "only $kills injection points: strace saw too little"
note "SIGKILL at $kills injected syscalls: $done_ left the step done with its record, $none left nothing; $recovered next commands reported a recovery"

# sign failing cleanly: no staged signature is left unless its record was written.
clean=0 placed=0
rm -rf "$T/pristine"; cp -a "$T/pristine.base" "$T/pristine"
for fault in fsync:EIO write:ENOSPC syncfs:EIO; do
  sc=${fault%%:*} err=${fault#*:}
  campaign_fresh
  cmd="$SIGNET sign $T/img.bin --key fw --out $T/od/img.sig"
  n=$(strace -f -o "$T/count" -e trace="$sc" $cmd >/dev/null 2>&1; grep -c " $sc(" "$T/count")
  for i in $(seq 1 "$n"); do
    campaign_fresh
    strace -f -o /dev/null -e trace="$sc" -e inject="$sc:error=$err:when=$i" $cmd >/dev/null 2>"$T/err"
    [ $? -eq 0 ] && continue
    staged=$(ls "$T/od" | grep -c 'signet-.*\.tmp$')
    if grep -q "recorded, but" "$T/err"; then
      placed=$((placed + 1))
    else
      clean=$((clean + 1))
      eq "$staged" 0 "sign with $err at $sc #$i failed without a record, yet left a staged signature"
    fi
    campaign_store_whole "sign with $err at $sc #$i"
  done
done
[ "$clean" -gt 3 ] || fail "only $clean clean failures of sign: the injection tested too little"
note "sign: $clean clean failures left no staged signature; $placed recorded ones were completed by the next command"
echo "campaign: $kills kills, $recovered recoveries, $clean clean sign failures"
