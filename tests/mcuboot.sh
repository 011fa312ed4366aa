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
