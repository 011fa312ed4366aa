/*
 * bakedverify.c: what an ESP32 OTA PAL does with a baked header, compiled
 * by the tests with `cc -Wall -Werror` against a header `signet header`
 * wrote.  Build with -DBAKED_HEADER='"file.h"' and one of FMT_OTA_PAL,
 * FMT_CODESIGNER, FMT_DER, FMT_PUBKEY (and -DNAME=ident for --name).  The
 * PEM forms are handed to mbedtls_x509_crt_parse with sizeof(), i.e. the
 * length including the terminating NUL, exactly as ota_pal.c does.
 *   bakedverify IMAGE SIG_BASE64_FILE   exit 0 valid, 1 invalid, 2 error
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/base64.h>
#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include BAKED_HEADER

#if defined(FMT_OTA_PAL)
#ifndef NAME
#define NAME otapalconfigCODE_SIGNING_CERTIFICATE
#endif
static const char baked[] = NAME;
#elif defined(FMT_CODESIGNER)
#ifndef NAME
#define NAME signingcredentialSIGNING_CERTIFICATE_PEM
#endif
#define baked NAME
#elif defined(FMT_DER)
#ifndef NAME
#define NAME signetCODE_SIGNING_CERTIFICATE_DER
#endif
#define baked NAME
#elif defined(FMT_PUBKEY)
#ifndef NAME
#define NAME signetCODE_SIGNING_PUBLIC_KEY_DER
#endif
#define baked NAME
#else
#error "define one of FMT_OTA_PAL FMT_CODESIGNER FMT_DER FMT_PUBKEY"
#endif

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf;
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		if (f)
			fclose(f);
		return NULL;
	}
	buf = malloc((size_t)n + 1);
	if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return buf;
}

int main(int argc, char **argv)
{
	mbedtls_x509_crt crt;
	mbedtls_pk_context pk, *key;
	unsigned char *img, *b64, sig[1024], hash[32];
	size_t imglen = 0, b64len = 0, siglen = 0, i, j;
	int r;

	if (argc != 3)
		return 2;
	mbedtls_x509_crt_init(&crt);
	mbedtls_pk_init(&pk);
#if defined(FMT_PUBKEY)
	r = mbedtls_pk_parse_public_key(&pk, baked, sizeof(baked));
	key = &pk;
#else
	r = mbedtls_x509_crt_parse(&crt, (const unsigned char *)baked, sizeof(baked));
	key = &crt.pk;
#endif
	if (r != 0) {
		fprintf(stderr, "baked certificate does not parse: -0x%04x\n", (unsigned)-r);
		return 2;
	}
	if ((img = slurp(argv[1], &imglen)) == NULL || (b64 = slurp(argv[2], &b64len)) == NULL)
		return 2;
	for (i = j = 0; i < b64len; i++)
		if (b64[i] != '\n' && b64[i] != '\r')
			b64[j++] = b64[i];
	if (mbedtls_base64_decode(sig, sizeof(sig), &siglen, b64, j) != 0)
		return 2;
	mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), img, imglen, hash);
	r = mbedtls_pk_verify(key, MBEDTLS_MD_SHA256, hash, 0, sig, siglen);
	printf("%s\n", r == 0 ? "valid" : "invalid");
	mbedtls_x509_crt_free(&crt);
	mbedtls_pk_free(&pk);
	free(img);
	free(b64);
	return r == 0 ? 0 : 1;
}
