/*
 * mbedverify.c: an independent, device-like verifier for tests, built on
 * mbedTLS as ESP32's ota_pal is.  It parses the signer certificate with
 * mbedtls_x509_crt_parse over the whole file plus a terminating NUL (the
 * length the device passes for its baked PEM), falls back to a bare public
 * key, hashes the whole image with SHA-256 and calls mbedtls_pk_verify on
 * the DER signature decoded from base64.  It shares no code with signet.
 *   mbedverify CERT_OR_PUBKEY IMAGE SIG_BASE64   exit 0 valid, 1 invalid, 2 error
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/base64.h>
#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	size_t cap = 0, n;

	*len = 0;
	if (f == NULL)
		return NULL;
	for (;;) {
		unsigned char *nb = realloc(buf, cap + 65536 + 1);

		if (nb == NULL) {
			free(buf);
			fclose(f);
			return NULL;
		}
		buf = nb;
		n = fread(buf + *len, 1, 65536, f);
		*len += n;
		cap += 65536;
		if (n < 65536)
			break;
	}
	fclose(f);
	buf[*len] = '\0';	/* the NUL the device's constant ends with */
	return buf;
}

int main(int argc, char **argv)
{
	mbedtls_x509_crt crt;
	mbedtls_pk_context pk, *key = NULL;
	unsigned char *cert = NULL, *img = NULL, *b64 = NULL, sig[1024], hash[32];
	size_t certlen, imglen, b64len, siglen = 0, i, j;
	int rc = 2, r;

	mbedtls_x509_crt_init(&crt);
	mbedtls_pk_init(&pk);
	if (argc != 4) {
		fprintf(stderr, "usage: mbedverify CERT_OR_PUBKEY IMAGE SIG_BASE64\n");
		goto out;
	}
	if ((cert = slurp(argv[1], &certlen)) == NULL || (img = slurp(argv[2], &imglen)) == NULL ||
	    (b64 = slurp(argv[3], &b64len)) == NULL) {
		fprintf(stderr, "mbedverify: cannot read input\n");
		goto out;
	}
	if ((r = mbedtls_x509_crt_parse(&crt, cert, certlen + 1)) == 0)
		key = &crt.pk;
	else if (mbedtls_pk_parse_public_key(&pk, cert, certlen + 1) == 0 || mbedtls_pk_parse_public_key(&pk, cert, certlen) == 0)
		key = &pk;
	else {
		fprintf(stderr, "mbedverify: certificate does not parse (-0x%04x)\n", (unsigned)-r);
		goto out;
	}
	for (i = j = 0; i < b64len; i++)	/* drop the newline signet writes */
		if (b64[i] != '\n' && b64[i] != '\r' && b64[i] != ' ')
			b64[j++] = b64[i];
	if (mbedtls_base64_decode(sig, sizeof(sig), &siglen, b64, j) != 0) {
		fprintf(stderr, "mbedverify: signature is not base64\n");
		goto out;
	}
	if (mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), img, imglen, hash) != 0)
		goto out;
	r = mbedtls_pk_verify(key, MBEDTLS_MD_SHA256, hash, 0, sig, siglen);
	printf("%s\n", r == 0 ? "valid" : "invalid");
	rc = r == 0 ? 0 : 1;
out:
	mbedtls_x509_crt_free(&crt);
	mbedtls_pk_free(&pk);
	free(cert);
	free(img);
	free(b64);
	return rc;
}
