#!/usr/bin/env bash
# Marker strings are not certificates (issue 17 item 7).  A BEGIN line with
# no base64 after it in a string constant -- the strstr() needle of
# Nordic/TI/Cypress OTA ports, mbedTLS's own "-----BEGIN CERTIFICATE-----"
# / "-----END ..." constants (taken here from Debian's libmbedx509) in
# every image linked with it, a "%s" template -- is no finding: not a
# certificate, not a broken one the device "rejects (0xe3)".  Next to the
# real certificate, only the real one is reported and baked, and extract,
# key match, verify --firmware and fleet build add are not confused.  Real
# damage stays a finding: a code-signing constant holding only the BEGIN
# line, a PEM without END, a placeholder, base64 that does not decode.
. "$(dirname "$0")/../lib.sh"
export SIGNET_NOW=2026-03-01T00:00:00Z
new_store
sig 0 key generate fw
sig 0 cert issue fw
cd "$T" || exit 1
cert="$S/certs/fw/current.pem"
spki=$(openssl x509 -in "$cert" -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum | cut -c1-64)
sig 0 header fw --out signer.h
libs=$(ls /usr/lib/*/libmbedx509.so.* /usr/lib/*/libmbedcrypto.so.* 2>/dev/null)
[ -n "$libs" ] || fail "no libmbedx509/libmbedcrypto to take mbedTLS's marker strings from"

# 1. A Nordic-style OTA port: the needle, begin/end constants, a template; alone, then with the real certificate.
cat >port.c <<'C'
#include <string.h>
#include <stdio.h>
#define PEM_CERT_BEGIN "-----BEGIN CERTIFICATE-----"
#define PEM_CERT_END   "-----END CERTIFICATE-----\n"
static const char *const key_markers[] = { "-----BEGIN PUBLIC KEY-----\n", "-----END PUBLIC KEY-----\n" };
int is_pem(const char *buf) { return strstr(buf, "-----BEGIN CERTIFICATE-----") != NULL; }
int wrap(char *out, size_t n, const char *b64)
{
	return snprintf(out, n, "-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n", b64);
}
C
run 1 "$SIGNET" extract port.c
has "$T/out" "no certificate or public key found"
hasnt "$T/out" "broken|0xe3|truncated|placeholder"
{ cat port.c; echo '#include "signer.h"'; echo 'const char *signer = otapalconfigCODE_SIGNING_CERTIFICATE;'; cat signer.h; } >port2.c
sig 0 --json extract port2.c
eq "$(jq '.files[0].found | length' "$T/out")" 1 "port2.c: only the real certificate"
eq "$(jq -r '.files[0].found[0] | "\(.kind) \(.baked) \(.spki_sha256)"' "$T/out")" "certificate true $spki" "port2.c find"
sig 0 key match port2.c
has "$T/out" "held by key 'fw'"
hasnt "$T/out" "broken|0xe3"

# 2. A firmware image: mbedTLS's marker strings as its .rodata holds them (NUL-terminated,
#    side by side), the needle, then the real certificate as a C string.
cat $libs | tr '\0\n\r' '\n\001\001' | grep -ax -- '-----\(BEGIN\|END\) [A-Z0-9 ]*-----' | tr '\n' '\0' >markers.bin
for m in 'BEGIN CERTIFICATE' 'END CERTIFICATE' 'BEGIN PUBLIC KEY' 'BEGIN RSA PUBLIC KEY'; do
  tr '\0' '\n' <markers.bin | grep -qx -- "-----$m-----" || fail "no '$m' marker in $libs"
done
{ head -c 4001 /dev/urandom; cat markers.bin; printf 'needle\0-----BEGIN CERTIFICATE-----\0-----BEGIN CERTIFICATE-----\n\0'
  head -c 777 /dev/urandom; cat "$cert"; printf '\0'; cat markers.bin; head -c 3000 /dev/urandom; } >fw.bin
run 1 "$SIGNET" extract markers.bin
hasnt "$T/out" "broken|0xe3"
sig 0 --json extract fw.bin
eq "$(jq '.files[0].found | length' "$T/out")" 1 "fw.bin: only the real certificate"
eq "$(jq -r '.files[0].found[0] | "\(.kind) \(.baked) \(.spki_sha256)"' "$T/out")" "certificate true $spki" "fw.bin find"
head -c 20000 /dev/urandom >img.bin
sig 0 sign img.bin --key fw
sig 0 verify img.bin --sig img.bin.sig --firmware fw.bin
has "$T/out" "^valid: "
hasnt "$T/out" "0xe3|broken"
sig 0 key match fw.bin
has "$T/out" "held by key 'fw'"
hasnt "$T/out" "broken|0xe3"
sig 0 fleet build add field 2.0 fw.bin --devices 10
has "$T/out" "trusts $spki held by key 'fw'"
hasnt "$T/err" "warning"

# 3. An ELF built as firmware is: the header compiled in, a port using the needle, linked with mbedTLS.
cat >app.c <<'C'
#include <string.h>
#include <mbedtls/x509_crt.h>
#include "signer.h"
static const char signer[] = otapalconfigCODE_SIGNING_CERTIFICATE;
int main(int argc, char **argv)
{
	mbedtls_x509_crt c;
	int rc;

	(void)argc;
	if (strstr(argv[0], "-----BEGIN CERTIFICATE-----") != NULL)
		return 2;
	mbedtls_x509_crt_init(&c);
	rc = mbedtls_x509_crt_parse(&c, (const unsigned char *)signer, sizeof(signer));
	mbedtls_x509_crt_free(&c);
	return rc != 0;
}
C
cc -Wall -Werror -O0 -I. -o app.elf app.c -lmbedx509 -lmbedcrypto || fail "cannot build the ELF"
./app.elf || fail "the ELF's mbedTLS does not parse the baked certificate"
sig 0 --json extract app.elf
eq "$(jq '.files[0].found | length' "$T/out")" 1 "app.elf: only the real certificate"
sig 0 verify img.bin --sig img.bin.sig --firmware app.elf
has "$T/out" "^valid: "

# 4. Real damage is still reported.
pem_lines() { sed 's/.*/    "&\\n" \\/'; }
{ echo '#define otapalconfigCODE_SIGNING_CERTIFICATE "-----BEGIN CERTIFICATE-----\n"'; } >lone.h
run 1 "$SIGNET" extract lone.h
has "$T/out" "lone.h:1: broken"
has "$T/out" "truncated CERTIFICATE: no END line"
{ echo 'static const char root_ca[] = \'; sed '$d' "$cert" | pem_lines; echo '    "";'; } >noend.c
run 1 "$SIGNET" extract noend.c
has "$T/out" "noend.c:2: broken"
has "$T/out" "truncated CERTIFICATE: no END line"
{ echo 'static const char root_ca[] = \'; printf '%s\n' '-----BEGIN CERTIFICATE-----' '...paste your certificate here...' \
  '-----END CERTIFICATE-----' | pem_lines; echo '    "";'; } >paste.c
run 1 "$SIGNET" extract paste.c
has "$T/out" "placeholder: the CERTIFICATE block holds no real data"
{ echo 'static const char root_ca[] = \'; sed '3s/^..../!!!!/' "$cert" | pem_lines; echo '    "";'; } >bad64.c
run 1 "$SIGNET" extract bad64.c
has "$T/out" "paste.c|bad64.c"
has "$T/out" "broken"
{ echo 'static const char root_ca[] = \'; sed '3s/^..../AAAA/;4d' "$cert" | pem_lines; echo '    "";'; } >lost.c
run 1 "$SIGNET" extract lost.c
has "$T/out" "the CERTIFICATE (does not parse|base64 does not decode)"

# 5. What broken material costs is said as true of the device: a TLS root CA that
# does not parse breaks TLS, not the update check; the code-signing constant
# breaks every update (0xe3).
has "$T/out" "^ *device: +it does not parse there: whatever uses it on the device fails; were it the code-signing certificate"
hasnt "$T/out" "a device baking it as its code-signing certificate rejects every update"
run 1 "$SIGNET" extract lone.h
has "$T/out" "^ *device: +it does not parse there: a device baking it as its code-signing certificate rejects every update \\(0xe3\\)$"
exit 0
