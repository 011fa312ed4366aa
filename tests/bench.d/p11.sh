# Sourced by tests/bench.sh ($SIGNET, $BUILD, $W, $MOD set): what a network
# HSM would charge.  A network HSM pays one round trip per PKCS#11 call, so
# (1) the calls each command makes, counted with OpenSC's pkcs11-spy between
# the program and SoftHSM2, against pkcs11-tool doing the same on the same
# token, and (2) one sign's wall time through a p11-kit server with a few
# milliseconds added to every message (tests/bench/bench_delay), against
# pkcs11-tool through the same path.  Targets (issue 20, item 5): one sign
# within 1.3x of pkcs11-tool's calls and time, 2 calls per further image.
SPY=${BENCH_SPY:-$(ls /usr/lib/*/pkcs11-spy.so 2>/dev/null | head -1)}
CLIENT=$(ls /usr/lib/*/pkcs11/p11-kit-client.so 2>/dev/null | head -1)
P=$W/p11
mkdir -p "$P"

# p11_calls LOG: the C_* calls the spy logged.
p11_calls() { grep -c '^[0-9]*: C_' "$1" || true; }
# p11_by LOG: the same, by function, most frequent first ("OpenSession 4, ...").
p11_by() {
  grep '^[0-9]*: C_' "$1" | awk '{print substr($2, 3)}' | sort | uniq -c | sort -k1,1nr -k2 |
    awk '{printf "%s%s %d", (NR > 1 ? ", " : ""), $2, $1} END{print ""}'
}
# spied LOG CMD...: runs CMD with the spy logging into LOG (started afresh).
spied() {
  local log=$1; shift; rm -f "$log"
  ( export PKCS11SPY="$MOD" PKCS11SPY_OUTPUT="$log"; "$@" ) >/dev/null 2>&1 || echo "   (failed: $*)"
}

if [ -z "$SPY" ]; then
  echo "== PKCS#11 calls: skipped (pkcs11-spy.so not found; Debian package opensc)"
else
echo "== PKCS#11 calls per command: OpenSC pkcs11-spy between the program and SoftHSM2, every C_* call counted"
PS=$P/store
"$SIGNET" --store "$PS" init >/dev/null
"$SIGNET" --store "$PS" key generate fw >/dev/null
"$SIGNET" --store "$PS" cert issue fw >/dev/null
pid=$(sed -n 's/^id: *"\{0,1\}\([0-9a-f]*\)"\{0,1\}$/\1/p' "$PS/keys/fw.yaml")
ppin=$(cat "$PS/hsm/user.pin")
# The store loads the spy instead of SoftHSM2; the spy loads $PKCS11SPY.
sed -i "s|^  module: .*|  module: \"$SPY\"|" "$PS/signet.yaml"
tool() { env SOFTHSM2_CONF="$PS/hsm/softhsm2.conf" pkcs11-tool --module "$SPY" --token-label signet --login --pin "$ppin" "$@"; }
mkdir -p "$P/img"
for i in $(seq -w 1 21); do head -c 4096 /dev/urandom >"$P/img/i$i.bin"; done
openssl dgst -sha256 -binary "$P/img/i01.bin" >"$P/i01.dgst"
spied "$P/s1" "$SIGNET" --store "$PS" sign "$P/img/i01.bin" --key fw --out "$P/one.sig"
spied "$P/t1" tool --sign -m ECDSA --id "$pid" -i "$P/i01.dgst" -o "$P/p.sig"
rm -f "$P"/img/*.sig
spied "$P/s21" "$SIGNET" --store "$PS" sign "$P"/img/*.bin --key fw
spied "$P/sg" "$SIGNET" --store "$PS" key generate fw2
spied "$P/tg" tool --keypairgen --key-type EC:prime256v1 --id 0101 --label peer-gen
spied "$P/sr" "$SIGNET" --store "$PS" cert reissue fw
spied "$P/sv" "$SIGNET" --store "$PS" audit verify
spied "$P/sl" "$SIGNET" --store "$PS" key list
spied "$P/tl" tool --list-objects
c1=$(p11_calls "$P/s1") t1=$(p11_calls "$P/t1") c21=$(p11_calls "$P/s21")
awk -v s="$c1" -v t="$t1" 'BEGIN{printf "sign, one image:        signet %3d calls  pkcs11-tool --sign --id %3d  ratio %.2fx (target <= 1.30x)\n", s, t, s/t}'
awk -v a="$c1" -v b="$c21" 'BEGIN{printf "sign, 21 images:        signet %3d calls  = %.1f calls per further image (target 2: C_SignInit, C_Sign)\n", b, (b-a)/20}'
awk -v s="$(p11_calls "$P/sg")" -v t="$(p11_calls "$P/tg")" 'BEGIN{printf "key generate (P-256):   signet %3d calls  pkcs11-tool --keypairgen  %3d  ratio %.2fx (signet also reads custody back)\n", s, t, s/t}'
printf 'cert reissue:           signet %3d calls\n' "$(p11_calls "$P/sr")"
printf 'audit verify:           signet %3d calls\n' "$(p11_calls "$P/sv")"
awk -v s="$(p11_calls "$P/sl")" -v t="$(p11_calls "$P/tl")" 'BEGIN{printf "key list (2 keys):      signet %3d calls  pkcs11-tool --list-objects %3d (all objects, all attributes)\n", s, t}'
echo "   signet sign, by call:  $(p11_by "$P/s1")"
echo "   pkcs11-tool, by call:  $(p11_by "$P/t1")"
echo "   cert reissue, by call: $(p11_by "$P/sr")"
fi

echo
if [ -z "$CLIENT" ] || ! command -v p11-kit >/dev/null; then
  echo "== p11-kit server: skipped (p11-kit-client.so or p11-kit not found; Debian packages p11-kit, p11-kit-modules)"
else
LAT=${BENCH_LATENCY_MS:-2}
echo "== one sign through a p11-kit server: direct, and with $LAT ms added to every message each way (bench_delay)"
R=$P/remote
mkdir -p "$R/tokens"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$R" >"$R/conf"
echo 24680 >"$R/pin"; chmod 600 "$R/pin"
SOFTHSM2_CONF="$R/conf" softhsm2-util --init-token --free --label remote --so-pin 13579 --pin 24680 >/dev/null
SOFTHSM2_CONF="$R/conf" setsid p11-kit server -f --provider "$MOD" -n "$R/server.sock" "pkcs11:token=remote" >"$R/server.out" 2>&1 &
srv=$!
setsid "$BUILD/bench/bench_delay" "$R/delay.sock" "$R/server.sock" "$LAT" >"$R/delay.out" 2>&1 &
dly=$!
trap 'kill -TERM -- "-$srv" "-$dly" 2>/dev/null; rm -rf "$W"' EXIT
for _ in $(seq 100); do [ -S "$R/server.sock" ] && [ -S "$R/delay.sock" ] && break; sleep 0.05; done
RS=$R/store
P11_KIT_SERVER_ADDRESS="unix:path=$R/server.sock" "$SIGNET" --store "$RS" init --module "$CLIENT" --token remote --pin-file "$R/pin" >/dev/null
P11_KIT_SERVER_ADDRESS="unix:path=$R/server.sock" "$SIGNET" --store "$RS" key generate fw >/dev/null
P11_KIT_SERVER_ADDRESS="unix:path=$R/server.sock" "$SIGNET" --store "$RS" cert issue fw >/dev/null
rid=$(sed -n 's/^id: *"\{0,1\}\([0-9a-f]*\)"\{0,1\}$/\1/p' "$RS/keys/fw.yaml")
head -c 100000 /dev/urandom >"$R/img"
openssl dgst -sha256 -binary "$R/img" >"$R/img.dgst"
if [ -n "$SPY" ]; then
  # The same sign counted through the client (the server exports one token: one slot, one C_GetTokenInfo).
  export P11_KIT_SERVER_ADDRESS="unix:path=$R/server.sock"
  cp "$RS/signet.yaml" "$R/signet.yaml.client"
  sed -i "s|^  module: .*|  module: \"$SPY\"|" "$RS/signet.yaml"
  ( export PKCS11SPY="$CLIENT" PKCS11SPY_OUTPUT="$R/s.spy"; "$SIGNET" --store "$RS" sign "$R/img" --key fw --out "$R/img.sig" ) >/dev/null 2>&1
  ( export PKCS11SPY="$CLIENT" PKCS11SPY_OUTPUT="$R/t.spy"; pkcs11-tool --module "$SPY" --token-label remote --login --pin 24680 \
      --sign -m ECDSA --id "$rid" -i "$R/img.dgst" -o "$R/p.sig" ) >/dev/null 2>&1
  cp "$R/signet.yaml.client" "$RS/signet.yaml"
  unset P11_KIT_SERVER_ADDRESS
  awk -v s="$(p11_calls "$R/s.spy")" -v t="$(p11_calls "$R/t.spy")" 'BEGIN{printf "calls through the client:  signet sign %3d  pkcs11-tool --sign --id %3d  ratio %.2fx\n", s, t, s/t}'
fi
for via in server delay; do
  export P11_KIT_SERVER_ADDRESS="unix:path=$R/$via.sock"
  s="" t=""
  for i in $(seq 11); do
    s="$s $(msu "$SIGNET" --store "$RS" sign "$R/img" --key fw --out "$R/img.sig")"
    t="$t $(msu pkcs11-tool --module "$CLIENT" --token-label remote --login --pin 24680 --sign -m ECDSA --id "$rid" -i "$R/img.dgst" -o "$R/p.sig")"
  done
  unset P11_KIT_SERVER_ADDRESS
  s=$(printf '%s\n' $s | sort -n | sed -n 6p) t=$(printf '%s\n' $t | sort -n | sed -n 6p)
  [ "$via" = server ] && what="direct to the server:" || what="$LAT ms per message added:"
  awk -v w="$what" -v s="$s" -v t="$t" 'BEGIN{printf "%-26s signet sign %6.1f ms  pkcs11-tool --sign --id %6.1f ms  ratio %.2fx (median of 11; target <= 1.30x)\n", w, s/1000, t/1000, s/t}'
  [ "$via" = server ] && s0=$s t0=$t
done
# What the latency alone adds (the round trips), apart from each program's own local work.
awk -v s="$s" -v t="$t" -v s0="$s0" -v t0="$t0" 'BEGIN{printf "added by the latency:      signet sign %+6.1f ms  pkcs11-tool --sign --id %+6.1f ms  ratio %.2fx\n", (s-s0)/1000, (t-t0)/1000, (s-s0)/(t-t0)}'

kill -TERM -- "-$srv" "-$dly" 2>/dev/null || true
wait "$srv" "$dly" 2>/dev/null || true
trap 'rm -rf "$W"' EXIT
fi
