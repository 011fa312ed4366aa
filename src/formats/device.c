/*
 * device.c: mbedTLS as the device runs it (device.h).  Debian 12 ships
 * mbed TLS 2.28; ESP-IDF 5 ships 3.x.  For the two calls used here the
 * behaviour that matters is the same in both: mbedtls_x509_crt_parse
 * wants a NUL-terminated buffer whose length counts the NUL to take the
 * PEM path, and its PEM reader needs a line break right after the BEGIN
 * line; mbedtls_pk_verify takes a DER ECDSA signature or a PKCS#1 v1.5
 * RSA one over the digest.  (3.x renamed the private struct fields and
 * dropped MBEDTLS_PK_RSASSA_PSS defaults nobody here uses.)
 */
#include <stdio.h>
#include <string.h>

#include <mbedtls/error.h>
#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/version.h>
#include <mbedtls/x509_crt.h>

#include "device.h"
#include "sgt.h"

const char *sgt_device_version(void)
{
	static char v[32];

	snprintf(v, sizeof(v), "mbed TLS %s", MBEDTLS_VERSION_STRING);
	return v;
}

static void say(int err, char *why, size_t cap)
{
	char msg[160];

	if (why == NULL || cap == 0)
		return;
	mbedtls_strerror(err, msg, sizeof(msg));
	snprintf(why, cap, "mbedTLS error -0x%04x: %s", (unsigned)-err, msg);
}

/* Parses into crt or pk; returns mbedTLS's code. */
static int parse(enum sgt_device_form form, const unsigned char *b, size_t n, mbedtls_x509_crt *crt,
		 mbedtls_pk_context *pk)
{
	int r;

	if (form == SGT_DEV_CERT) {
		/*
		 * A positive result counts certificates of a chain that failed.
		 * The PALs' verify code (iot_crypto.c's CRYPTO_SignatureVerificationFinal,
		 * the stand-in) takes any non-zero result as failure, so does this.
		 */
		r = mbedtls_x509_crt_parse(crt, b, n);
		return r > 0 ? MBEDTLS_ERR_X509_CERT_UNKNOWN_FORMAT : r;
	}
	return mbedtls_pk_parse_public_key(pk, b, n);
}

int sgt_device_parse(enum sgt_device_form form, const unsigned char *b, size_t n, char *why, size_t cap)
{
	mbedtls_x509_crt crt;
	mbedtls_pk_context pk;
	int r;

	if (form == SGT_DEV_NONE)
		return 0;
	mbedtls_x509_crt_init(&crt);
	mbedtls_pk_init(&pk);
	r = parse(form, b, n, &crt, &pk);
	if (r != 0)
		say(r, why, cap);
	mbedtls_x509_crt_free(&crt);
	mbedtls_pk_free(&pk);
	return r;
}

int sgt_device_verify(enum sgt_device_form form, const unsigned char *b, size_t n, int sha1,
		      const unsigned char *hash, size_t hlen, const unsigned char *sig, size_t siglen, char *why,
		      size_t cap)
{
	mbedtls_x509_crt crt;
	mbedtls_pk_context pk;
	int r, rc = SGT_ERR_VERDICT;

	mbedtls_x509_crt_init(&crt);
	mbedtls_pk_init(&pk);
	if (form == SGT_DEV_NONE) {
		snprintf(why, cap, "no device model for this key form");
		goto out;
	}
	if ((r = parse(form, b, n, &crt, &pk)) != 0) {
		say(r, why, cap);
		goto out;
	}
	r = mbedtls_pk_verify(form == SGT_DEV_CERT ? &crt.pk : &pk, sha1 ? MBEDTLS_MD_SHA1 : MBEDTLS_MD_SHA256, hash,
			      hlen, sig, siglen);
	if (r != 0) {
		say(r, why, cap);
		goto out;
	}
	rc = SGT_OK;
out:
	mbedtls_x509_crt_free(&crt);
	mbedtls_pk_free(&pk);
	return rc;
}

void sgt_device_strerror(int err, char *buf, size_t cap)
{
	mbedtls_strerror(err, buf, cap);
}

/*
 * MCUboot's check (bootutil image_ecdsa.c / image_rsa.c built on mbedTLS):
 * the key as keys.c bakes it (SubjectPublicKeyInfo, or PKCS#1
 * RSAPublicKey, which mbedtls_pk_parse_public_key also reads), ECDSA as
 * DER over the image hash, RSA as PSS with MGF1 SHA-256 and a 32-byte salt
 * (bootutil accepts no other), the signature exactly the modulus long.
 */
int sgt_device_verify_boot(const unsigned char *key, size_t keylen, int sha384, int pss, const unsigned char *hash,
			   size_t hlen, const unsigned char *sig, size_t siglen, char *why, size_t cap)
{
	mbedtls_pk_context pk;
	mbedtls_pk_rsassa_pss_options po;
	int r, rc = SGT_ERR_VERDICT;

	mbedtls_pk_init(&pk);
	if ((r = mbedtls_pk_parse_public_key(&pk, key, keylen)) != 0) {
		say(r, why, cap);
		goto out;
	}
	if (pss) {
		if (mbedtls_pk_get_type(&pk) != MBEDTLS_PK_RSA || siglen != mbedtls_pk_get_len(&pk)) {
			snprintf(why, cap, "an RSA-PSS signature of %zu bytes for a %zu-byte key", siglen,
				 mbedtls_pk_get_len(&pk));
			goto out;
		}
		po.mgf1_hash_id = MBEDTLS_MD_SHA256;
		po.expected_salt_len = 32;
		r = mbedtls_pk_verify_ext(MBEDTLS_PK_RSASSA_PSS, &po, &pk, MBEDTLS_MD_SHA256, hash, hlen, sig, siglen);
	} else {
		r = mbedtls_pk_verify(&pk, sha384 ? MBEDTLS_MD_SHA384 : MBEDTLS_MD_SHA256, hash, hlen, sig, siglen);
	}
	if (r != 0) {
		say(r, why, cap);
		goto out;
	}
	rc = SGT_OK;
out:
	mbedtls_pk_free(&pk);
	return rc;
}
