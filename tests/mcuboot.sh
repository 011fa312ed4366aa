# Sourced (after lib.sh) by the MCUboot tests: a test's own reading of an
# MCUboot image with python3's struct, apart from signet's decoder.
# hashed_len IMAGE: header + body + protected TLVs (the bytes the hash covers).
hashed_len() { python3 -c '
import struct, sys
b = open(sys.argv[1], "rb").read()
h, p, n = struct.unpack_from("<HHI", b, 8)
print(h + n + p)' "$1"; }
# tlv IMAGE TYPE OUT: the value of the first TLV of TYPE.
tlv() { python3 -c '
import struct, sys
b = open(sys.argv[1], "rb").read(); want = int(sys.argv[2], 0)
h, p, n = struct.unpack_from("<HHI", b, 8)
off = h + n
while True:
    m, tot = struct.unpack_from("<HH", b, off)
    t = off + 4
    while t < off + tot:
        ty, ln = struct.unpack_from("<HH", b, t)
        if ty == want:
            open(sys.argv[3], "wb").write(b[t + 4:t + 4 + ln]); sys.exit(0)
        t += 4 + ln
    if m != 0x6908:
        sys.exit(1)
    off += tot' "$@"; }
# flip FILE OFFSET: a copy with one byte changed.
flip() { python3 -c '
import sys
b = bytearray(open(sys.argv[1], "rb").read()); o = int(sys.argv[2])
b[o] ^= 0x01
open(sys.argv[3], "wb").write(b)' "$1" "$2" "$3"; }
# to_hex BIN HEX: BIN as Intel HEX at a flash slot's address (0x08020000),
# written by the test itself (extended linear address records, 16-byte lines).
to_hex() {
python3 - "$1" "$2" <<'EOF'
import sys
data = open(sys.argv[1], 'rb').read()
base = 0x08020000
out = []
def rec(t, a, d):
    b = bytes([len(d), (a >> 8) & 0xff, a & 0xff, t]) + d
    return ':' + b.hex().upper() + '%02X' % ((-sum(b)) & 0xff)
upper = None
for i in range(0, len(data), 16):
    a = base + i
    if a >> 16 != upper:
        upper = a >> 16
        out.append(rec(4, 0, bytes([upper >> 8, upper & 0xff])))
    out.append(rec(0, a & 0xffff, data[i:i + 16]))
out.append(rec(1, 0, b''))
open(sys.argv[2], 'w').write('\n'.join(out) + '\n')
EOF
}
