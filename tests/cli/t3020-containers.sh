#!/usr/bin/env bash
# Firmware containers: an ELF built with the header compiled in (found in
# .rodata, with its load address), Intel HEX and Motorola S-record made
# with objcopy from a raw image (addresses in the container's terms, a
# certificate split across records found whole), and verify --firmware on
# each.  A HEX or S-record line with a bad checksum is an error naming
# the line.
. "$(dirname "$0")/../lib.sh"
new_store
sig 0 key generate fw
sig 0 cert issue fw
cd "$T" || exit 1
cert="$S/certs/fw/current.pem"
spki=$(openssl x509 -in "$cert" -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum | cut -c1-64)

# ELF: the header compiled into a program, as firmware is built.
sig 0 header fw --out cfg.h
printf '#include <stdio.h>\n#include "cfg.h"\nstatic const char signer[] = otapalconfigCODE_SIGNING_CERTIFICATE;\nint main(void){ return puts(signer) < 0; }\n' >app.c
cc -O0 -I. -o app.elf app.c || fail "cannot build the ELF"
sig 0 extract app.elf
has "$T/out" "^app.elf:offset 0x[0-9a-f]+ \\(address 0x[0-9a-f]+, \\.rodata\\): certificate \\(pem\\)"
has "$T/out" "SPKI SHA-256 $spki"
has "$T/out" "device parses: yes"
off=$(sed -n 's/^app.elf:offset \(0x[0-9a-f]*\) (address \(0x[0-9a-f]*\), .rodata).*/\1 \2/p' "$T/out")
# The address is the one the linker gave: check with the section table.
read -r foff faddr <<<"$off"
read -r soff saddr <<<"$(readelf -SW app.elf | awk '$2==".rodata"{print "0x"$5, "0x"$4}')"
[ $((faddr - saddr)) -eq $((foff - soff)) ] || fail "ELF address $faddr does not match .rodata ($saddr at $soff)"
head -c 50000 /dev/urandom >img.bin
sig 0 sign img.bin --key fw
sig 0 verify img.bin --sig img.bin.sig --firmware app.elf
has "$T/out" "^valid: "
has "$T/out" "device check: mbed TLS"

# A raw image: PEM (NUL-terminated, as a C string in flash) and DER at odd offsets.
head -c 4660 /dev/urandom >raw.bin
cat "$cert" >>raw.bin; printf '\0' >>raw.bin
head -c 777 /dev/urandom >>raw.bin
derat=$(stat -c %s raw.bin)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout o.key -out o.pem -subj /CN=tls-root -days 30 2>/dev/null
openssl x509 -in o.pem -outform DER >>raw.bin
head -c 301 /dev/urandom >>raw.bin
objcopy -I binary -O ihex --change-addresses 0x08000000 raw.bin fw.hex
objcopy -I binary -O srec --change-addresses 0x08000000 raw.bin fw.srec
head -1 fw.hex | grep -q '^:' || fail "objcopy made no Intel HEX"
head -1 fw.srec | grep -q '^S0' || fail "objcopy made no S-record"
for f in fw.hex fw.srec; do
  sig 0 extract "$f"
  has "$T/out" "^$f:address 0x8001234: certificate \\(pem\\)"
  has "$T/out" "^$f:address $(printf '0x%x' $((0x08000000 + derat))): certificate \\(der\\)"
  sig 0 --json extract "$f"
  jq -e ".files[0].container == \"$( [ $f = fw.hex ] && echo intel-hex || echo s-record)\" and (.files[0].found | length) == 2 and all(.files[0].found[]; .baked) and .files[0].found[0].spki_sha256 == \"$spki\"" "$T/out" >/dev/null || { cat "$T/out"; fail "$f json"; }
  sig 0 verify img.bin --sig img.bin.sig --firmware "$f"
  sig 0 key match "$f"
  has "$T/out" "held by key 'fw'"
done
# A damaged record: one data digit changed on line 20.
# (the digit becomes F, or 0 where it already was F: the random image made it 1 time in 16)
awk 'NR == 20 { c = substr($0, 13, 1); $0 = substr($0, 1, 12) (c == "F" ? "0" : "F") substr($0, 14) } { print }' fw.hex >bad.hex
cmp -s bad.hex fw.hex && fail "bad.hex not damaged"
sig 3 extract bad.hex
one_line_error
has "$T/err" "bad.hex' line 20: Intel HEX checksum is wrong"
sed '7s/^\(S.\{8\}\)\(.\)/\1\2\2/' fw.srec >bad.srec
sig 3 extract bad.srec
has "$T/err" "bad.srec' line 7"
