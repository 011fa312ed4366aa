#!/usr/bin/env bash
# make bench: measurements, not assertions.  Every figure is quoted as a
# ratio against a peer or a baseline measured in the same run, because
# these machines are shared and noisy.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$TOP/$BUILD" ;; esac
SIGNET="$BUILD/signet"
MOD=/usr/lib/softhsm/libsofthsm2.so
W=$(mktemp -d /tmp/signet-bench.XXXXXX)
trap 'rm -rf "$W"' EXIT
export SIGNET_STORE="$W/store" SIGNET_POLICY_DIR="$TOP/policies"
ms() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }

echo "== audit log: append cost must not grow with the log; verify vs sha256sum"
N=${BENCH_AUDIT_RECORDS:-20000}
mkdir -p "$W/audit"
"$BUILD/bench/bench_audit" "$W/audit" "$N" | tee "$W/audit.txt"
first=$(awk '/append_first/{print $2}' "$W/audit.txt"); last=$(awk '/append_last/{print $2}' "$W/audit.txt")
vs=$(awk '/verify_s/{print $2}' "$W/audit.txt")
s=$(date +%s%N); sha256sum "$W/audit/audit.log" >/dev/null; e=$(date +%s%N)
sha=$(awk -v n=$(( e - s )) 'BEGIN{print n/1e9}')
awk -v f="$first" -v l="$last" -v n="$N" 'BEGIN{printf "mean append, last 1000 of %d records / first 1000: %.2fx\n", n, l/f}'
awk -v v="$vs" -v s="$sha" -v sz="$(stat -c %s "$W/audit/audit.log")" \
  'BEGIN{printf "verify of %.1f MiB: %.3fs = %.1fx a plain sha256sum of the file (%.3fs)\n", sz/1048576, v, v/s, s}'

echo
echo "== key generation on SoftHSM2: signet (generate + custody read-back + record + audit) vs pkcs11-tool --keypairgen"
"$SIGNET" init --policy codesign-generic >/dev/null
export SOFTHSM2_CONF="$W/store/hsm/softhsm2.conf"
pin=$(cat "$W/store/hsm/user.pin")
for alg in ecdsa-p256:EC:prime256v1 ecdsa-p384:EC:secp384r1 rsa-2048:rsa:2048; do
  name=${alg%%:*} kt=${alg#*:}
  tot_s=0 tot_p=0
  for i in 1 2 3 4 5; do
    tot_s=$(( tot_s + $(ms "$SIGNET" key generate "b-$name-$i" --alg "$name") ))
    tot_p=$(( tot_p + $(ms pkcs11-tool --module "$MOD" --token-label signet --login --pin "$pin" --keypairgen --key-type "$kt" --label "p-$name-$i" --id "0$i") ))
  done
  awk -v a="$name" -v s="$tot_s" -v p="$tot_p" 'BEGIN{printf "%-11s signet %5.0f ms  pkcs11-tool %5.0f ms  ratio %.2fx\n", a, s/5, p/5, s/p}'
done

if [ -x "$TOP/tests/bench.d/device.sh" ]; then
  echo
  . "$TOP/tests/bench.d/device.sh"
fi

if [ -f "$TOP/tests/bench.d/fleet.sh" ]; then
  echo
  . "$TOP/tests/bench.d/fleet.sh"
fi
echo
echo "== sign on a token holding 200 keys vs one holding 1 (keys are found by CKA_ID, not enumerated)"
# SoftHSM2 itself reads every object file of the token when it loads, so
# the same ratio for pkcs11-tool (sign by --id) is the floor signet can reach.
for n in 1 200; do
  st="$W/keys$n"
  "$SIGNET" --store "$st" init >/dev/null
  "$SIGNET" --store "$st" key generate fw >/dev/null
  conf="$st/hsm/softhsm2.conf"
  pin=$(cat "$st/hsm/user.pin")
  for i in $(seq 2 "$n"); do
    SOFTHSM2_CONF="$conf" pkcs11-tool --module "$MOD" --token-label signet --login --pin "$pin" \
      --keypairgen --key-type EC:prime256v1 --id "$(printf '%04x' "$i")" --label "filler$i" >/dev/null 2>&1
  done
done
head -c 100000 /dev/urandom >"$W/img"
openssl dgst -sha256 -binary "$W/img" >"$W/img.dgst"
R=${BENCH_SIGN_RUNS:-20}
for n in 1 200; do
  st="$W/keys$n" s=0 p=0
  id=$(sed -n 's/^id: *"\{0,1\}\([0-9a-f]*\)"\{0,1\}$/\1/p' "$st/keys/fw.yaml")
  for i in $(seq "$R"); do
    s=$(( s + $(ms "$SIGNET" --store "$st" sign "$W/img" --key fw --out "$W/img.sig") ))
    p=$(( p + $(ms env SOFTHSM2_CONF="$st/hsm/softhsm2.conf" pkcs11-tool --module "$MOD" --token-label signet --login \
      --pin "$(cat "$st/hsm/user.pin")" --sign -m ECDSA --id "$id" -i "$W/img.dgst" -o "$W/p.sig") ))
  done
  eval "sign$n=$s peer$n=$p"
done
awk -v s1="$sign1" -v s2="$sign200" -v p1="$peer1" -v p2="$peer200" -v r="$R" 'BEGIN{
  printf "signet sign:       1 key %5.1f ms  200 keys %5.1f ms  ratio %.2fx\n", s1/r, s2/r, s2/s1
  printf "pkcs11-tool --id:  1 key %5.1f ms  200 keys %5.1f ms  ratio %.2fx (SoftHSM2 loading its objects)\n", p1/r, p2/r, p2/p1 }'
