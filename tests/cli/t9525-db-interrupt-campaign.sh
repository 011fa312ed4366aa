#!/usr/bin/env bash
# A database-backed store (PostgreSQL on a unix socket, the token behind a
# p11-kit server) and signet killed at every message to the database and
# every rename, link, unlink and fsync of a sign, a reissue, and of the
# commands t9540 runs on a database store that write store files or make
# token objects (key import, key adopt, cert import, fleet build add,
# rotate start, sign --format mcuboot); then a second host joins and its
# copy of every store file is this host's (a campaign: make
# check-campaigns).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../dbstore.sh"
db_host fw

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
sig 0 header fw --out "$T/fw.h"
sig 0 key generate k2
MKCERT="$TOP/tests/vectors/cert/mkcert.sh"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/ca.key" 2>/dev/null
"$MKCERT" "$T/ca.pem" "$T/ca.key" now-10d now+3650d sha256 "/CN=Acme CA" \
  "basicConstraints = critical,CA:TRUE" "keyUsage = critical,keyCertSign"
{ head -c 32 /dev/zero; head -c 3000 /dev/urandom; } >"$T/mcu.bin"
j=0
# mkcmd WHAT: the command, with a label, version or output of its own each time (key import and
# fleet build add never replace what an earlier run, killed after its commit, made)
mkcmd() {
  j=$((j + 1))
  case $1 in
    sign) cmd=("$SIGNET" sign "$T/k/img.bin" --key fw) ;;
    reissue) cmd=("$SIGNET" cert reissue fw) ;;
    import)
      openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/imp.pem" 2>/dev/null || fail "openssl genpkey"
      cmd=("$SIGNET" key import "imp$j" --private-key "$T/imp.pem") ;;
    adopt)
      pkcs11-tool --module "$CLIENT" --login --pin "$(cat "$T/pin")" --keypairgen --key-type EC:prime256v1 \
        --id "$(printf 'a3%04x' "$j")" --label "vendor$j" >/dev/null 2>&1 || fail "pkcs11-tool --keypairgen"
      cmd=("$SIGNET" key adopt "va$j" --uri "pkcs11:object=vendor$j;type=private") ;;
    cimport)
      "$SIGNET" cert csr k2 --out "$T/k2.csr" >/dev/null 2>&1 || fail "cert csr"
      openssl x509 -req -in "$T/k2.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -set_serial "$((1000 + j))" -days 200 \
        -copy_extensions copy -out "$T/issued.pem" 2>/dev/null || fail "the external CA"
      cmd=("$SIGNET" cert import k2 "$T/issued.pem") ;;
    build) cmd=("$SIGNET" fleet build add gen1 "1.$j" "$T/fw.h") ;;
    rotate)
      "$SIGNET" key generate "old$j" >/dev/null 2>&1 && "$SIGNET" key generate "new$j" >/dev/null 2>&1 || fail "key generate"
      cmd=("$SIGNET" rotate start "old$j" "new$j") ;;
    mcuboot) cmd=("$SIGNET" sign "$T/mcu.bin" --key fw --format mcuboot --version 1.0.0 --out "$T/k/mcu$j.img") ;;
  esac
}
for what in sign reissue import adopt cimport build rotate mcuboot; do
  for sc in sendto rename link unlink fsync; do
    mkcmd "$what"
    n=$(strace -f -o "$T/count" -e trace="$sc" "${cmd[@]}" >/dev/null 2>&1; grep -c " $sc(" "$T/count")
    for i in $(seq 1 "$n"); do
      mkcmd "$what"
      (strace -f -o /dev/null -e trace="$sc" -e inject="$sc:signal=SIGKILL:when=$i" "${cmd[@]}" >/dev/null 2>&1; true) 2>/dev/null
      kills=$((kills + 1))
      "$SIGNET" sign "$T/k/img.bin" --key fw --out "$T/k/next$kills.sig" >"$T/next.out" 2>"$T/next.err" \
        || { cat "$T/next.err"; fail "$what killed at $sc #$i: the next command failed"; }
      cat "$T/next.err" >>"$T/recovered.log"
      # Until it is adopted the vendor's key is on the token without a record (audit custody
      # rightly reports it): an adoption the kill undid runs again.
      if [ "$what" = adopt ] && [ ! -e "$S/keys/va$j.yaml" ]; then
        "${cmd[@]}" >"$T/again.out" 2>"$T/again.err" || { cat "$T/again.err"; fail "adopt killed at $sc #$i: adopting again failed"; }
      fi
      left=$(find "$S" "$T/k" -name '*.tmp*' | head -3)
      [ -z "$left" ] || fail "$what killed at $sc #$i: temporary files left: $left"
      [ -z "$(ls "$S/intents" 2>/dev/null)" ] || fail "$what killed at $sc #$i: an intent left"
    done
  done
done
note "$kills kills; the next command recovered something after $(grep -c 'recovered' "$T/recovered.log") of them"
db_records >"$T/db.log"
for f in "$T"/k/*.sig "$T"/k/mcu*.img; do
  [ -n "$(jq -c --arg f "$f" 'select((.intent.files // []) | index($f)) | .seq' "$T/db.log")" ] || fail "$f has no record"
done
for f in "$S"/keys/imp*.yaml "$S"/keys/va*.yaml "$S"/fleets/gen1/*.yaml "$S"/certs/k2/*.pem "$S"/rotations/*; do
  [ -n "$(jq -c --arg f "$f" 'select(.result == "ok" and ((.intent.files // []) | index($f))) | .seq' "$T/db.log")" ] ||
    fail "$f has no record"
done
cmp -s "$S/audit.log" "$T/db.log" || fail "this host's copy differs from the database's chain after the kills"
sig 0 audit verify
sig 0 audit custody
# A host joining now takes every store file from the database: the same as this host's.
B="$T/hostB"
sig 0 --store "$B" init --module "$CLIENT" --token shared --pin-file "$T/pin" --db "$DB" --join --host beta
storefiles() { (cd "$1" && find keys certs fleets rotations audit.pub -type f ! -name '*.tmp*' -print0 | sort -z | xargs -0 sha256sum); }
storefiles "$S" >"$T/a.files"
storefiles "$B" >"$T/b.files"
cmp -s "$T/a.files" "$T/b.files" || { diff "$T/a.files" "$T/b.files"; fail "the joining host's store files differ from this host's"; }
sig 0 --store "$B" audit verify
