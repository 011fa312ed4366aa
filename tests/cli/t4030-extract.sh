#!/usr/bin/env bash
# extract: finds every certificate and public key in fixtures made here
# with openssl (tests/vectors/device/README says why they are generated):
# a header in each format, a C file with PEM in comments, odd spacing,
# literals without "\n", macro continuations and comments between, hex
# arrays; a firmware blob with PEM and DER at unaligned offsets.  Finds
# nothing (exit 1, no crash, bounded time) in several MiB of random data
# and in hostile near-misses.  Needs no store.
. "$(dirname "$0")/../lib.sh"
export SIGNET_STORE="$T/no-store"
cd "$T" || exit 1
mkcert() { openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -out "$1.pem" \
  -subj "/CN=$1" -days 30 2>/dev/null && openssl x509 -in "$1.pem" -outform DER -out "$1.der" &&
  openssl pkey -in "$1.key" -pubout -outform DER -out "$1.spki" && openssl pkey -in "$1.key" -pubout -out "$1.pub.pem" &&
  sha256sum "$1.spki" | cut -c1-64 >"$1.hash"; }
mkcert alpha; mkcert beta; mkcert gamma; mkcert delta
openssl req -x509 -newkey rsa:2048 -nodes -keyout rsa.key -out rsa.pem -subj /CN=rsa -days 30 2>/dev/null
# count FILE KIND: how many finds of KIND ("certificate"/"public_key") extract reports
found() { "$SIGNET" --json extract "$1" >"$T/j" 2>"$T/err"; jq -r ".files[0].found[] | select(.kind==\"$2\") | .spki_sha256" "$T/j"; }

# 1. signet's own headers, each format.
for f in ota-pal codesigner der pubkey; do
  sig 0 header alpha.pem --format "$f" --out "h-$f.h"
  sig 0 extract "h-$f.h"
  has "$T/out" "^h-$f.h:[0-9]+: (certificate|public key) \\(c-(string|bytes)\\)"
  has "$T/out" "SPKI SHA-256 $(cat alpha.hash)"
  [ "$(jq -r '.files[0].found | length' <("$SIGNET" --json extract "h-$f.h"))" = 1 ] || fail "$f: not exactly one find"
done
sig 0 extract h-ota-pal.h
has "$T/out" "subject:  CN=alpha"
has "$T/out" "^h-ota-pal.h:29: certificate"

# 2. A hand-written C file: every odd way firmware authors write it.
{
  echo '/* Legacy signer, kept for reference:'
  sed 's/^/ *   /' beta.pem
  echo ' */'
  echo '#include <stdint.h>'
  echo '#define  SIGNER_PEM  \'
  echo '   "-----BEGIN CERTIFICATE-----"  /* no newlines */ \'
  openssl x509 -in gamma.pem | sed '1d;$d' | fold -w 20 | sed 's/.*/        "&" \\/'
  echo '   "-----END CERTIFICATE-----"'
  echo 'static const uint8_t devkey[] = {'
  xxd -i <delta.spki | sed 's/0x\(..\)/0X\1 /g; 3s/$/ \/* comment inside *\//'
  echo '};'
  printf 'const char *one = "%s";\n' "$(awk '{printf "%s\\n", $0}' alpha.pem)"
  echo '// trailing'
  echo '//-----BEGIN PUBLIC KEY-----'
  sed 's#^#// #' rsa.pem | head -0
  openssl x509 -in rsa.pem -pubkey -noout | sed 's#^#//   #'
} >odd.c
sig 0 extract odd.c
for k in beta gamma alpha; do found odd.c certificate | grep -qx "$(cat $k.hash)" || { cat odd.c; fail "odd.c: $k certificate not found"; }; done
found odd.c public_key | grep -qx "$(cat delta.hash)" || { cat odd.c; fail "odd.c: delta byte-array key not found"; }
[ "$(found odd.c public_key | wc -l)" -eq 2 ] || { cat "$T/j"; fail "odd.c: expected 2 public keys (byte array, commented PEM)"; }
[ "$(found odd.c certificate | wc -l)" -eq 3 ] || { cat "$T/j"; fail "odd.c: expected 3 certificates"; }
# Lines: beta's PEM starts on line 2, inside the comment.
jq -e ".files[0].found[] | select(.spki_sha256==\"$(cat beta.hash)\") | select(.line==2)" "$T/j" >/dev/null || fail "beta line"

# 3. A firmware blob: PEM and DER at unaligned offsets, a bare SPKI, a PEM public key.
head -c 1001 /dev/urandom >fw.bin
cat alpha.pem >>fw.bin; printf '\0' >>fw.bin
head -c 7777 /dev/urandom >>fw.bin
off_der=$(stat -c %s fw.bin); cat beta.der >>fw.bin
head -c 333 /dev/urandom >>fw.bin
off_spki=$(stat -c %s fw.bin); cat gamma.spki >>fw.bin
head -c 5 /dev/urandom >>fw.bin
cat delta.pub.pem >>fw.bin
openssl x509 -in rsa.pem -outform DER >>fw.bin
head -c 99 /dev/urandom >>fw.bin
sig 0 extract fw.bin
has "$T/out" "^fw.bin:offset 0x3e9: certificate \\(pem\\)"
has "$T/out" "^fw.bin:offset $(printf '0x%x' "$off_der"): certificate \\(der\\)"
has "$T/out" "^fw.bin:offset $(printf '0x%x' "$off_spki"): public key \\(der\\)"
for k in alpha beta; do found fw.bin certificate | grep -qx "$(cat $k.hash)" || fail "fw.bin: $k not found"; done
for k in gamma delta; do found fw.bin public_key | grep -qx "$(cat $k.hash)" || fail "fw.bin: $k key not found"; done
[ "$(found fw.bin certificate | wc -l)" -eq 3 ] || fail "fw.bin: expected 3 certificates (alpha, beta, rsa)"
[ "$(found fw.bin public_key | wc -l)" -eq 2 ] || fail "fw.bin: expected 2 public keys (a certificate's own key is not a separate find)"
jq -e '.files[0].binary == true and (.files[0].found[0].line == null)' "$T/j" >/dev/null || fail "binary file reported with lines"

# 4. Random data of several MiB: nothing, exit 1, quickly, no crash.
head -c $((6 * 1024 * 1024)) /dev/urandom >random.bin
start=$(date +%s)
run 1 timeout 60 "$SIGNET" extract random.bin
has "$T/out" "no certificate or public key found"
[ $(( $(date +%s) - start )) -lt 30 ] || fail "extract took too long on random data"

# 5. Hostile near-misses: BEGIN without END, truncated DER, SEQUENCE headers galore, many markers.
{ echo "-----BEGIN CERTIFICATE-----"; head -c 5000 /dev/urandom | base64; } >noend.txt
head -c 200 beta.der >trunc.bin
perl -e 'print "\x30\x82\xff\xff\x30\x82\xff\x00\xa0\x03\x02\x01\x02" x 50000' >seq.bin
perl -e 'print "-----BEGIN CERTIFICATE-----\n" x 100000' >markers.txt
perl -e 'print "0x30, " x 300000, "\"" x 1000, "/*"' >hex.c
: >empty.bin
for f in noend.txt trunc.bin seq.bin markers.txt hex.c empty.bin; do
  run 1 timeout 60 "$SIGNET" extract "$f"
done
sig 1 extract alpha.pem random.bin
has "$T/out" "^random.bin: no certificate"
has "$T/out" "^alpha.pem:1: certificate"
sig 3 extract nosuchfile
one_line_error
sig 3 extract "$T"
sig 2 extract
