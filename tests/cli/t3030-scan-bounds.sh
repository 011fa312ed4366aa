#!/usr/bin/env bash
# extract on crafted input (issue 12 item 3): linear time, bounded memory.
# 1. Certificate headers hidden in name attributes at every 43 bytes, each
#    claiming a 60 KB certificate whose issuer Name runs over the next
#    thousand fake ones: every candidate parses deep before failing.  The
#    old scanner took ~14 s for 1 MiB (quadratic); the DER budget keeps it
#    linear: 4 MiB must cost at most ~4x 1 MiB (plus slack), and finish fast.
# 2. One certificate repeated (PEM and DER, 8 MiB; 2 under sanitizers): each repeat is dropped
#    by its raw bytes before parsing; memory stays near the mapped input.
. "$(dirname "$0")/../lib.sh"
export SIGNET_STORE="$T/no-store"
cd "$T" || exit 1
# Sanitizer builds unwind the stack on every allocation OpenSSL makes: smaller inputs there.
case "$BUILD" in *sanitize*) MIB=$((256 << 10)) ;; *) MIB=$((1 << 20)) ;; esac
MIB=$MIB python3 - <<'PY'
import os, struct
C = 60000
be = lambda n: struct.pack('>H', n)
hdr = (b'\x30\x82' + be(C) + b'\x30\x82' + be(C - 4) + b'\xa0\x03\x02\x01\x02' + b'\x02\x01\x01' +
       b'\x30\x0a\x06\x08\x2a\x86\x48\xce\x3d\x04\x03\x02' + b'\x30\x82' + be(C - 28))
unit = b'\x31\x29\x30\x27\x06\x03\x55\x04\x03\x14\x20' + hdr   # SET { SEQ { CN, T61String(header) } }
one = b'\x00' + unit * (int(os.environ['MIB']) // len(unit))
open('crafted1.bin', 'wb').write(one)
open('crafted4.bin', 'wb').write(one * 4)
PY
ms() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N); echo $(((e - s) / 1000000)); }
t1=$(ms "$SIGNET" extract crafted1.bin)
t4=$(ms "$SIGNET" extract crafted4.bin)
note "crafted: $((MIB >> 10)) KiB ${t1} ms, 4x that ${t4} ms"
case "$BUILD" in *sanitize*) ;; *) [ "$t4" -lt 10000 ] || fail "4 MiB of crafted headers took ${t4} ms" ;; esac
[ "$t4" -le $((6 * t1 + 1500)) ] || fail "not linear: 1 MiB ${t1} ms, 4 MiB ${t4} ms"
run 1 "$SIGNET" --json extract crafted4.bin
jq -e '.files[0].limited == true and (.files[0].found | length) == 0' "$T/out" >/dev/null || fail "crafted: expected nothing found and the bound reported"
sig 1 extract crafted1.bin
has "$T/out" "stopped at a bound"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout r.key -out r.pem -subj /CN=rep -days 30 2>/dev/null
openssl x509 -in r.pem -outform DER -out r.der
MIB=$MIB python3 -c "
import os
d = open('r.der', 'rb').read(); p = open('r.pem', 'rb').read()
open('rep.bin', 'wb').write(b'\0' + (d + p) * (8 * int(os.environ['MIB']) // (len(d) + len(p))))"
/usr/bin/time -f "%e %M" -o rep.time "$SIGNET" --json extract rep.bin >"$T/out" 2>"$T/err" || fail "extract rep.bin"
read -r secs kb <rep.time
note "$((8 * MIB >> 20)) MiB of one certificate repeated: ${secs} s, max RSS ${kb} KiB"
jq -e '(.files[0].found | length) == 1' "$T/out" >/dev/null || fail "repeats reported more than once"
case "$BUILD" in
  *sanitize*) ;;	# sanitizer shadow memory makes RSS meaningless
  *) [ "$kb" -lt 80000 ] || fail "memory grew with repeats: ${kb} KiB" ;;
esac
awk -v s="$secs" 'BEGIN { exit !(s < 10) }' || fail "$((8 * MIB >> 20)) MiB of repeats took ${secs} s"

# A base64 line may start with "//": data, not a comment leader (it was
# stripped before, about one certificate in two thousand failed to read).
V="$TOP/tests/vectors/device/slash-line.pem"
grep -q '^//' "$V" || fail "vector lost its // line"
spki=$(openssl x509 -in "$V" -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum | cut -c1-64)
sig 0 --json extract "$V"
jq -e ".files[0].found[0].baked and .files[0].found[0].spki_sha256 == \"$spki\"" "$T/out" >/dev/null || fail "slash-line.pem"
sig 1 cert lint "$V" --policy codesign-generic
hasnt "$T/out" "malformed"
{ echo "#define X \\"; sed 's/.*/  "&\\n" \\/' "$V"; echo '  ""'; } >slash.h
sig 0 --json extract slash.h
jq -e ".files[0].found[0].baked and .files[0].found[0].spki_sha256 == \"$spki\"" "$T/out" >/dev/null || fail "slash.h"
{ sed 's#^#// #' "$V"; echo "int x;"; } >slash-commented.h
sig 0 --json extract slash-commented.h
jq -e ".files[0].found[0].state == \"comment\" and .files[0].found[0].spki_sha256 == \"$spki\"" "$T/out" >/dev/null || fail "slash-commented.h"
{ echo "/*"; cat "$V"; echo "*/"; echo "int y;"; } >slash-block.h
sig 0 --json extract slash-block.h
jq -e ".files[0].found[0].state == \"comment\" and .files[0].found[0].spki_sha256 == \"$spki\"" "$T/out" >/dev/null || fail "slash-block.h"
