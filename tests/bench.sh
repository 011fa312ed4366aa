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
msu() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N); echo $(( (e - s) / 1000 )); }
# BENCH_SECTIONS=p11,keys200 runs only those (audit keygen syscalls device fleet keys200 p11 batch tmpfs memory).
want() { [ -z "${BENCH_SECTIONS:-}" ] || [[ ",$BENCH_SECTIONS," == *",$1,"* ]]; }
# syncs CMD...: the fsync, fdatasync and syncfs calls CMD makes (strace).
syncs() {
  strace -f -o "$W/syncs.tr" -e trace=fsync,fdatasync,syncfs "$@" >/dev/null 2>&1 || true
  grep -cE '^[0-9]+ +(fsync|fdatasync|syncfs)\(' "$W/syncs.tr" || true
}

if want audit; then
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

fi
echo
if want keygen; then
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
fi

if want syscalls; then
  echo
  echo "== durability syscalls per command (strace -f): what a custody change costs the disk"
  # fsync/fdatasync/syncfs and rename/link (the puts into place) of each command, so later work
  # can lower them knowingly (docs/store.md says what each fsync of a sign is for).
  sc() {
    local f y r l
    strace -f -o "$W/sc.tr" -e trace=fsync,fdatasync,syncfs,rename,renameat,renameat2,link,linkat "$@" >/dev/null 2>&1 || true
    f=$(grep -cE '^[0-9]+ +(fsync|fdatasync)\(' "$W/sc.tr" || true)
    y=$(grep -cE '^[0-9]+ +syncfs\(' "$W/sc.tr" || true)
    r=$(grep -cE '^[0-9]+ +rename(at2?)?\(' "$W/sc.tr" || true)
    l=$(grep -cE '^[0-9]+ +link(at)?\(' "$W/sc.tr" || true)
    echo "fsync $f, syncfs $y, rename $r, link $l"
  }
  SC="$W/sc-store"
  "$SIGNET" --store "$SC" init --policy codesign-generic >/dev/null
  echo "key generate:        $(sc "$SIGNET" --store "$SC" key generate fw)"
  "$SIGNET" --store "$SC" cert issue fw >/dev/null
  echo "cert reissue:        $(sc "$SIGNET" --store "$SC" cert reissue fw)"
  mkdir -p "$W/sc-img"
  head -c 65536 /dev/urandom >"$W/sc-img/one.bin"
  "$SIGNET" --store "$SC" sign "$W/sc-img/one.bin" --key fw --out "$W/sc-img/warm.sig" >/dev/null
  echo "sign, 1 image:       $(sc "$SIGNET" --store "$SC" sign "$W/sc-img/one.bin" --key fw --out "$W/sc-img/one.sig")"
  n=${BENCH_SYSCALL_IMAGES:-1000}
  for i in $(seq 1 "$n"); do printf 'image %d\n' "$i" >"$W/sc-img/i$i.bin"; done
  echo "sign, $n images:     $(sc "$SIGNET" --store "$SC" sign "$W/sc-img"/i*.bin --key fw)"
fi

if want device && [ -x "$TOP/tests/bench.d/device.sh" ]; then
  echo
  . "$TOP/tests/bench.d/device.sh"
fi

if want fleet && [ -f "$TOP/tests/bench.d/fleet.sh" ]; then
  echo
  . "$TOP/tests/bench.d/fleet.sh"
fi
echo
if want keys200; then
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
  printf "pkcs11-tool --id:  1 key %5.1f ms  200 keys %5.1f ms  ratio %.2fx (SoftHSM2 loading its objects)\n", p1/r, p2/r, p2/p1
  printf "signet / pkcs11-tool --sign --id on the same token: 1 key %.2fx, 200 keys %.2fx (target <= 1.30x)\n", s1/p1, s2/p2
  printf "added by 199 keys:  signet %5.1f ms  pkcs11-tool %5.1f ms  (%.2fx pkcs11-tool'"'"'s slope)\n", (s2-s1)/r, (p2-p1)/r, (s2-s1)/(p2-p1) }'
echo "   SoftHSM2 reads every object file of the token at C_Initialize and again at every search (C_FindObjectsInit);"
echo "   pkcs11-tool searches once, signet three times (the key, the audit key, this chain's anchor): its slope's floor"
echo "   is about (load + 3 scans) / (load + 1 scan) of pkcs11-tool's; the token guard adds two lstat per token file."
# opens CMD...: the token object files CMD opens (strace): SoftHSM2's reads of its objects, not disturbed by other load.
opens() {
  strace -f -o "$W/opens.tr" -e trace=openat "$@" >/dev/null 2>&1 || true
  grep -c '\.object"' "$W/opens.tr" || true
}
echo "   token object files opened on the 200-key token: signet sign $(opens "$SIGNET" --store "$W/keys200" sign "$W/img" --key fw --out "$W/img.sig"), pkcs11-tool --sign $(opens env SOFTHSM2_CONF="$W/keys200/hsm/softhsm2.conf" pkcs11-tool --module "$MOD" --token-label signet --login --pin "$(cat "$W/keys200/hsm/user.pin")" --sign -m ECDSA --id "$id" -i "$W/img.dgst" -o "$W/p.sig")"
echo "   fsyncs per command: signet sign $(syncs "$SIGNET" --store "$W/keys200" sign "$W/img" --key fw --out "$W/img.sig"), pkcs11-tool --sign $(syncs env SOFTHSM2_CONF="$W/keys200/hsm/softhsm2.conf" pkcs11-tool --module "$MOD" --token-label signet --login --pin "$(cat "$W/keys200/hsm/user.pin")" --sign -m ECDSA --id "$id" -i "$W/img.dgst" -o "$W/p.sig")"

fi
echo
if want p11; then
. "$TOP/tests/bench.d/p11.sh"
fi

echo
# batch_bench DIR WHERE: batch and single-image signing with the store and images under DIR.
batch_bench() {
B="$1/batch"
echo "== batch signing on $2"
echo "   1 KiB images, P-256, embedded SoftHSM2: signet sign IMAGE... vs a bare PKCS#11 loop"
echo "   (tests/bench/bench_p11loop: login, find the key once, SHA-256 + C_Sign per image), the same loop also"
echo "   writing each IMAGE.sig (-w: the floor for any signer that leaves signature files), and a pkcs11-tool loop."
echo "   Each figure is the median of 5 runs; every run starts with no .sig files."
rm -rf "$B"; mkdir -p "$B/img"
"$SIGNET" --store "$B/store" init >/dev/null
"$SIGNET" --store "$B/store" key generate fw >/dev/null
"$SIGNET" --store "$B/store" cert issue fw >/dev/null
bid=$(sed -n 's/^id: *"\{0,1\}\([0-9a-f]*\)"\{0,1\}$/\1/p' "$B/store/keys/fw.yaml")
bconf="$B/store/hsm/softhsm2.conf"
for i in $(seq -w 1 1000); do head -c 1024 /dev/urandom >"$B/img/i$i.bin"; done
all=("$B"/img/*.bin)
for n in ${BENCH_BATCH_SIZES:-1 10 100 1000}; do
  files="${all[*]:0:$n}"
  s="" p="" w=""
  # Interleaved, so a busy moment of the machine falls on all three alike.
  for r in 1 2 3 4 5; do
    rm -f "$B"/img/*.sig
    # shellcheck disable=SC2086
    s="$s $(ms "$SIGNET" --store "$B/store" sign $files --key fw)"
    # shellcheck disable=SC2086
    p="$p $(ms env SOFTHSM2_CONF="$bconf" "$BUILD/bench/bench_p11loop" "$MOD" signet "$B/store/hsm/user.pin" "$bid" $files)"
    rm -f "$B"/img/*.sig
    # shellcheck disable=SC2086
    w="$w $(ms env SOFTHSM2_CONF="$bconf" "$BUILD/bench/bench_p11loop" -w "$MOD" signet "$B/store/hsm/user.pin" "$bid" $files)"
  done
  s=$(printf '%s\n' $s | median5) p=$(printf '%s\n' $p | median5) w=$(printf '%s\n' $w | median5)
  awk -v n="$n" -v s="$s" -v p="$p" -v w="$w" 'BEGIN{printf "batch of %4d: signet %6d ms  bare loop %6d ms  ratio %.2fx   bare loop writing .sig %6d ms  ratio %.2fx\n", n, s, p, (p > 0 ? s / p : 0), w, (w > 0 ? s / w : 0)}'
  if [ "$n" -le 100 ]; then
    t=0
    for f in $files; do
      openssl dgst -sha256 -binary "$f" >"$B/d"
      t=$(( t + $(ms env SOFTHSM2_CONF="$bconf" pkcs11-tool --module "$MOD" --token-label signet --login \
        --pin "$(cat "$B/store/hsm/user.pin")" --sign -m ECDSA --id "$bid" -i "$B/d" -o "$B/p.sig") ))
    done
    awk -v n="$n" -v s="$s" -v t="$t" 'BEGIN{printf "               pkcs11-tool loop %6d ms  signet/pkcs11-tool %.2fx\n", t, (t > 0 ? s / t : 0)}'
  fi
done
one=${all[0]}
s="" t="" u=""
openssl dgst -sha256 -binary "$one" >"$B/d"
for i in $(seq 21); do
  s="$s $(msu "$SIGNET" --store "$B/store" sign "$one" --key fw --out "$B/one.sig")"
  t="$t $(msu env SOFTHSM2_CONF="$bconf" pkcs11-tool --module "$MOD" --token-label signet --login \
    --pin "$(cat "$B/store/hsm/user.pin")" --sign -m ECDSA --id "$bid" -i "$B/d" -o "$B/p.sig")"
  # the same sign with every fsync a no-op (tests/bench/nosync.c): the floor fewer fsyncs could reach
  u="$u $(msu env LD_PRELOAD="$BUILD/bench/nosync.so" "$SIGNET" --store "$B/store" sign "$one" --key fw --out "$B/one.sig")"
done
s=$(printf '%s\n' $s | sort -n | sed -n 11p) t=$(printf '%s\n' $t | sort -n | sed -n 11p) u=$(printf '%s\n' $u | sort -n | sed -n 11p)
awk -v s="$s" -v t="$t" 'BEGIN{printf "one image, one process (median of 21): signet %.1f ms  pkcs11-tool --sign %.1f ms  ratio %.2fx (target on disk <= 1.25x)\n", s/1000, t/1000, s/t}'
awk -v s="$s" -v u="$u" -v t="$t" 'BEGIN{printf "   the same sign with no fsync at all (not safe; LD_PRELOAD nosync.so): %.1f ms  ratio %.2fx: the fsyncs cost %.1f ms\n", u/1000, u/t, (s-u)/1000}'
echo "   fsyncs per command: signet sign $(syncs "$SIGNET" --store "$B/store" sign "$one" --key fw --out "$B/one.sig"), pkcs11-tool --sign $(syncs env SOFTHSM2_CONF="$bconf" pkcs11-tool --module "$MOD" --token-label signet --login --pin "$(cat "$B/store/hsm/user.pin")" --sign -m ECDSA --id "$bid" -i "$B/d" -o "$B/p.sig")"
# Local CPU, apart from the waits: task-clock (perf stat, median of 21 interleaved runs) and
# instructions (callgrind: the same count on a busy machine, the figure to compare changes by).
P11ARGS=(pkcs11-tool --module "$MOD" --token-label signet --login
  --pin "$(cat "$B/store/hsm/user.pin")" --sign -m ECDSA --id "$bid" -i "$B/d" -o "$B/p.sig")
P11SIGN=(env SOFTHSM2_CONF="$bconf" "${P11ARGS[@]}")
if command -v perf >/dev/null && perf stat -x, -e task-clock true >/dev/null 2>&1; then
  tc() { perf stat -x, -e task-clock "$@" 2>&1 >/dev/null | awk -F, '/task-clock/{print $1}'; }
  s="" t=""
  for i in $(seq 21); do
    s="$s $(tc "$SIGNET" --store "$B/store" sign "$one" --key fw --out "$B/one.sig")"
    t="$t $(tc "${P11SIGN[@]}")"
  done
  s=$(printf '%s\n' $s | sort -n | sed -n 11p) t=$(printf '%s\n' $t | sort -n | sed -n 11p)
  awk -v s="$s" -v t="$t" 'BEGIN{printf "   CPU (task-clock, median of 21): signet %.1f ms  pkcs11-tool --sign %.1f ms  ratio %.2fx\n", s, t, s/t}'
fi
if command -v valgrind >/dev/null; then
  ir() { SOFTHSM2_CONF="$bconf" valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null |
    sed -n 's/.*Collected : *//p'; }
  s=$(ir "$SIGNET" --store "$B/store" sign "$one" --key fw --out "$B/one.sig") t=$(ir "${P11ARGS[@]}")
  awk -v s="$s" -v t="$t" 'BEGIN{printf "   instructions (callgrind): signet %.1fM  pkcs11-tool --sign %.1fM  ratio %.2fx (signet also hashes the image)\n", s/1e6, t/1e6, s/t}'
fi
rm -rf "$B"
}
median5() { sort -n | sed -n 3p; }
if want batch; then
batch_bench "$W" "disk ($W; signet syncs what it writes, the loops do not)"
fi
# tmpfs: no fsync costs and no file system's inode allocation in the figures, only the work done.
if want tmpfs; then
if S2=$(mktemp -d /dev/shm/signet-bench.XXXXXX 2>/dev/null); then
  trap 'rm -rf "$W" "$S2"' EXIT
  echo
  batch_bench "$S2" "tmpfs ($S2: no fsync costs, no inode allocation of a disk file system)"
fi
fi
echo

if want memory; then
echo "== audit log reads stream: peak memory of 'audit log' and 'audit verify' at 10k and 100k records"
for n in 10000 100000; do
  a="$W/aud$n"
  mkdir -p "$a/gen"
  "$SIGNET" --store "$a/store" init >/dev/null
  "$BUILD/bench/bench_audit" "$a/gen" "$n" >/dev/null
  # A log made by bench_audit, so the token's audit key and anchor (which name the store's own log) go.
  for t in privkey pubkey data; do
    SOFTHSM2_CONF="$a/store/hsm/softhsm2.conf" pkcs11-tool --module "$MOD" --token-label signet --login \
      --pin "$(cat "$a/store/hsm/user.pin")" --delete-object --type "$t" --label "signet-audit$([ "$t" = data ] && echo -head)" >/dev/null 2>&1
  done
  cp "$a/gen/audit.log" "$a/gen/audit.head" "$a/store/"
  rm -f "$a/store/audit.pub"
  m1=$( { /usr/bin/time -f %M "$SIGNET" --store "$a/store" audit log >/dev/null; } 2>&1 | tail -1)
  m2=$( { /usr/bin/time -f %M "$SIGNET" --store "$a/store" audit verify >/dev/null; } 2>&1 | tail -1)
  v=$(ms "$SIGNET" --store "$a/store" audit verify)
  h=$(ms sha256sum "$a/store/audit.log")
  eval "log$n=$m1 ver$n=$m2"
  awk -v n="$n" -v m1="$m1" -v m2="$m2" -v v="$v" -v h="$h" -v sz="$(stat -c %s "$a/store/audit.log")" \
    'BEGIN{printf "%6d records (%.1f MiB): audit log %d KiB, audit verify %d KiB peak; verify %d ms = %.1fx sha256sum (%d ms)\n", n, sz/1048576, m1, m2, v, (h > 0 ? v / h : 0), h}'
done
awk -v a="$log10000" -v b="$log100000" -v c="$ver10000" -v d="$ver100000" \
  'BEGIN{printf "peak memory 100k / 10k records: audit log %.2fx, audit verify %.2fx (flat is 1.0x)\n", b/a, d/c}'
fi
