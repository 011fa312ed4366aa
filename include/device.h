/*
 * device.h: the device's own judgement, made with the library ESP32's
 * ota_pal uses (mbedTLS).  A baked constant is handed over exactly as it
 * is compiled: a C string with its terminating NUL counted in the length
 * (as ota_pal passes it to mbedtls_x509_crt_parse), a byte array as it
 * is.  The signature check is mbedtls_pk_verify over the image digest
 * with the first certificate's key, as ota_pal does.  This module is the
 * only one that includes mbedTLS headers; it knows nothing of OpenSSL.
 */
#ifndef SGT_DEVICE_H
#define SGT_DEVICE_H

#include <stddef.h>

enum sgt_device_form {
	SGT_DEV_NONE,		/* no device model for this form (raw keys, bootloader arrays) */
	SGT_DEV_CERT,		/* mbedtls_x509_crt_parse */
	SGT_DEV_PUBKEY		/* mbedtls_pk_parse_public_key */
};

/* "mbed TLS 2.28.3": the version linked in. */
const char *sgt_device_version(void);
/* 0 when mbedTLS parses b[0..n) as form; else its (negative) error code, why says it in words. */
int sgt_device_parse(enum sgt_device_form form, const unsigned char *b, size_t n, char *why, size_t cap);
/*
 * SGT_OK when mbedtls_pk_verify accepts sig over hash (SHA-256, or SHA-1
 * when sha1) with the key of the constant; SGT_ERR_VERDICT when it does
 * not or the constant does not parse (why says which, with mbedTLS's
 * error).  Quiet.
 */
int sgt_device_verify(enum sgt_device_form form, const unsigned char *b, size_t n, int sha1,
		      const unsigned char *hash, size_t hlen, const unsigned char *sig, size_t siglen, char *why,
		      size_t cap);

/*
 * MCUboot's signature check with mbedTLS: key as keys.c bakes it
 * (SubjectPublicKeyInfo or PKCS#1 RSAPublicKey), ECDSA DER over the
 * SHA-256 (SHA-384 when sha384) image hash, or RSA-PSS (MGF1 SHA-256,
 * salt 32) when pss.  SGT_OK or SGT_ERR_VERDICT with why.  Quiet.
 */
int sgt_device_verify_boot(const unsigned char *key, size_t keylen, int sha384, int pss, const unsigned char *hash,
			   size_t hlen, const unsigned char *sig, size_t siglen, char *why, size_t cap);

/* mbedTLS's words for an error code (negative), e.g. a platform sub-error. */
void sgt_device_strerror(int err, char *buf, size_t cap);

#endif
