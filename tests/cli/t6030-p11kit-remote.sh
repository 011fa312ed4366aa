#!/usr/bin/env bash
# A remote token: a real `p11-kit server` started here on a unix socket in
# front of a SoftHSM2 token, used through p11-kit-client.so.  init,
# generate, issue, sign (verified by openssl), audit custody and audit
# verify work with the address in the environment and, unchanged, in
# signet.yaml's env (unix:path=... is not a path to resolve); four signet
# processes sign at once through it; stopping the server mid-batch gives
# one clear error, and every signature left behind has its audit record
# and verifies.
. "$(dirname "$0")/../lib.sh"
CLIENT=$(ls /usr/lib/*/pkcs11/p11-kit-client.so 2>/dev/null | head -1)
[ -n "$CLIENT" ] || fail "p11-kit-client.so missing (Debian package p11-kit-modules)"
command -v p11-kit >/dev/null || fail "p11-kit missing (Debian package p11-kit)"

mkdir -p "$T/hsm/tokens"
printf 'directories.tokendir = %s/hsm/tokens\nobjectstore.backend = file\n' "$T" >"$T/hsm/conf"
echo 24680 >"$T/pin"; chmod 600 "$T/pin"
SOFTHSM2_CONF="$T/hsm/conf" softhsm2-util --init-token --free --label remote --so-pin 13579 --pin 24680 >/dev/null
SOCK="$T/p11kit.sock"
SERVER_PID=
start_server() {
  rm -f "$SOCK"
  SOFTHSM2_CONF="$T/hsm/conf" setsid p11-kit server -f --provider "$SOFTHSM_MODULE" -n "$SOCK" "pkcs11:token=remote" \
    >"$T/server.out" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do [ -S "$SOCK" ] && return 0; sleep 0.05; done
  cat "$T/server.out"; fail "p11-kit server did not start"
}
# The server forks a child per connection: stop the whole group it leads.
stop_server() { [ -n "$SERVER_PID" ] && kill -TERM -- "-$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; SERVER_PID=; }
trap 'stop_server; rm -rf "$T"' EXIT
start_server
unset SOFTHSM2_CONF
export P11_KIT_SERVER_ADDRESS="unix:path=$SOCK"

sig 0 init --module "$CLIENT" --token remote --pin-file "$T/pin"
sig 0 key generate fw
sig 0 cert issue fw
sig 0 key pubkey fw --out "$T/fw.pub"
head -c 100000 /dev/urandom >"$T/img"
sig 0 sign "$T/img" --key fw
base64 -d "$T/img.sig" >"$T/img.der"
run 0 openssl dgst -sha256 -verify "$T/fw.pub" -signature "$T/img.der" "$T/img"
sig 0 verify "$T/img" --sig "$T/img.sig" --cert "$S/certs/fw/current.pem"
sig 0 audit custody
sig 0 --json audit custody
eq "$(jq -r '[.keys[] | select(.record == "fw") | .custody.extractable] | join(",")' "$T/out")" false "custody through the server"
sig 0 audit verify

# The address kept in signet.yaml, as written: not resolved against the store.
unset P11_KIT_SERVER_ADDRESS
sig 4 sign "$T/img" --key fw --out "$T/no.sig"
one_line_error
sed -i '/^policy:/i\  env:\n    P11_KIT_SERVER_ADDRESS: "unix:path='"$SOCK"'"' "$S/signet.yaml"
sig 0 sign "$T/img" --key fw --out "$T/yaml.sig"
base64 -d "$T/yaml.sig" >"$T/yaml.der"
run 0 openssl dgst -sha256 -verify "$T/fw.pub" -signature "$T/yaml.der" "$T/img"

# Four signet processes at once.
records=$(wc -l <"$S/audit.log")
for i in 1 2 3 4; do head -c 50000 /dev/urandom >"$T/c$i.bin"; done
pids=""
for i in 1 2 3 4; do "$SIGNET" sign "$T/c$i.bin" --key fw >"$T/c$i.out" 2>&1 & pids="$pids $!"; done
for p in $pids; do wait "$p" || fail "a concurrent sign failed: $(cat "$T"/c*.out)"; done
for i in 1 2 3 4; do
  base64 -d "$T/c$i.bin.sig" >"$T/c$i.der"
  run 0 openssl dgst -sha256 -verify "$T/fw.pub" -signature "$T/c$i.der" "$T/c$i.bin"
done
eq "$(( $(wc -l <"$S/audit.log") - records ))" 4 "one audit record per concurrent sign"
sig 0 audit verify

# The server stopped mid-batch.
mkdir "$T/batch"
for i in $(seq -w 1 400); do head -c 20000 /dev/urandom >"$T/batch/b$i.bin"; done
records=$(wc -l <"$S/audit.log")
"$SIGNET" sign "$T"/batch/*.bin --key fw >"$T/batch.out" 2>"$T/batch.err" &
spid=$!
# (a batch stages its signatures and puts them in place together at the end)
for _ in $(seq 3000); do compgen -G "$T/batch/b003.bin.sig*" >/dev/null && break; sleep 0.01; done
stop_server
wait "$spid"; rc=$?
[ "$rc" -eq 4 ] || { cat "$T/batch.err"; fail "expected exit 4 when the server stops, got $rc"; }
cp "$T/batch.err" "$T/err"
one_line_error
has "$T/err" "token 'remote'"
hasnt "$T/err" "CKR_0x"
signed=$(ls "$T/batch" | grep -c '\.sig$')
[ "$signed" -ge 3 ] && [ "$signed" -lt 400 ] || fail "expected a partial batch, got $signed signatures"
ls "$T/batch" | grep -v '\.bin$\|\.bin\.sig$' && fail "temporary files left behind"
eq "$(( $(wc -l <"$S/audit.log") - records ))" "$signed" "audit records = signatures written"
for f in "$T"/batch/*.sig; do
  base64 -d "$f" >"$T/b.der"
  openssl dgst -sha256 -verify "$T/fw.pub" -signature "$T/b.der" "${f%.sig}" >/dev/null || fail "$f does not verify"
done
start_server
sig 0 audit verify
