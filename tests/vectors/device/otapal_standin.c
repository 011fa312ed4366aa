/*
 * otapal_standin.c: the ESP32 OTA PAL's signature check, as a program the
 * tests compile with a config header in it.  Like esp-aws-iot's ota_pal.c
 * it takes otapalconfigCODE_SIGNING_CERTIFICATE as compiled (whatever the
 * preprocessor left of the header: comments, #if branches and later
 * definitions decide), hands it to mbedtls_x509_crt_parse with the length
 * including the terminating NUL, hashes the whole image with SHA-256 and
 * calls mbedtls_pk_verify with the certificate's key on the DER signature
 * (given base64, as the OTA job carries it).  A certificate that does not
 * parse is a rejected update, as on the device (0xe3).  Shares no code
 * with signet.  Build: cc -DBAKED_HEADER='"cfg.h"' otapal_standin.c
 * -lmbedx509 -lmbedcrypto.
 *   otapal_standin IMAGE SIG_BASE64   exit 0 accepted, 1 rejected, 2 error
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/base64.h>
#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include BAKED_HEADER

static const char codeSigningCertificate[] = otapalconfigCODE_SIGNING_CERTIFICATE;

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	size_t cap = 0;

	*len = 0;
	if (f == NULL)
		return NULL;
	for (;;) {
		unsigned char *nb = realloc(buf, cap + 65536);
		size_t n;

		if (nb == NULL) {
			free(buf);
			fclose(f);
			return NULL;
		}
		buf = nb;
		cap += 65536;
		n = fread(buf + *len, 1, 65536, f);
		*len += n;
		if (n < 65536)
			break;
	}
	fclose(f);
	return buf;
}

int main(int argc, char **argv)
{
	mbedtls_x509_crt chain;
	unsigned char *img, *b64, sig[1024], hash[32];
	size_t imglen, b64len, siglen = 0, i, j;
	int r, rc = 1;

	if (argc != 3)
		return 2;
	mbedtls_x509_crt_init(&chain);
	if ((img = slurp(argv[1], &imglen)) == NULL || (b64 = slurp(argv[2], &b64len)) == NULL)
		return 2;
	for (i = j = 0; i < b64len; i++)
		if (b64[i] != '\n' && b64[i] != '\r')
			b64[j++] = b64[i];
	if (mbedtls_base64_decode(sig, sizeof(sig), &siglen, b64, j) != 0)
		return 2;
	r = mbedtls_x509_crt_parse(&chain, (const unsigned char *)codeSigningCertificate, sizeof(codeSigningCertificate));
	if (r != 0) {
		printf("rejected: 0x000000e3: the baked certificate does not parse (-0x%04x)\n", (unsigned)-r);
		goto out;
	}
	mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), img, imglen, hash);
	r = mbedtls_pk_verify(&chain.pk, MBEDTLS_MD_SHA256, hash, 0, sig, siglen);
	if (r != 0) {
		printf("rejected: 0x000000e3: signature check failed (-0x%04x)\n", (unsigned)-r);
		goto out;
	}
	printf("accepted\n");
	rc = 0;
out:
	mbedtls_x509_crt_free(&chain);
	free(img);
	free(b64);
	return rc;
}
