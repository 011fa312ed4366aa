/*
 * keyform.h: recognising the forms in which firmware holds a certificate
 * or a public key: X.509 certificates with any key type (an algorithm
 * OpenSSL cannot load is kept with its OID), DER SubjectPublicKeyInfo,
 * PKCS#1 RSAPublicKey (DER, or PEM "RSA PUBLIC KEY"), raw uncompressed
 * EC points (P-256, P-384) and raw Ed25519 keys.  Raw forms are ambiguous
 * bytes, so they are only taken where the caller knows the bytes are a
 * whole C array and the array's size or name says what it is.  Every
 * check before OpenSSL is asked to parse is a bounded look at a few
 * bytes.  Nothing here prints.
 */
#ifndef SGT_KEYFORM_H
#define SGT_KEYFORM_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#define SGT_KEYFORM_DER_MAX (64u * 1024u)	/* largest DER object considered */

/* What a recogniser found; owned by the caller. */
struct sgt_keyform {
	X509 *cert;		/* a certificate, or NULL */
	EVP_PKEY *pub;		/* its key (NULL for a certificate with a key OpenSSL cannot load) */
	const char *form;	/* "certificate", "spki", "pkcs1", "ec-point", "ed25519-raw" */
	size_t len;		/* bytes the object takes */
};

/*
 * Cheap structural check at p: the length the object at p would take if
 * it is a certificate, SPKI or PKCS#1 key, else 0.  Never reads past n.
 */
size_t sgt_keyform_candidate(const unsigned char *p, size_t n);
/* Parses the object at p (length from sgt_keyform_candidate); 0 and *out filled, or -1. */
int sgt_keyform_der(const unsigned char *p, size_t n, struct sgt_keyform *out);
/*
 * A whole C array of n bytes named name: the DER forms above, or a raw EC
 * point (65 or 97 bytes starting 0x04, or 64 bytes in an array whose name
 * says ec/p256/ecdsa), or a raw Ed25519 key (32 bytes, name says ed25519).
 */
int sgt_keyform_array(const unsigned char *p, size_t n, const char *name, struct sgt_keyform *out);
/* The DER in a PEM block labelled label ("CERTIFICATE", "PUBLIC KEY", "RSA PUBLIC KEY"). */
int sgt_keyform_pem_der(const char *label, const unsigned char *der, size_t n, struct sgt_keyform *out);
/* 1 when label names something this module reads, 0 otherwise. */
int sgt_keyform_pem_label(const char *label, size_t len);
void sgt_keyform_release(struct sgt_keyform *k);

#endif
