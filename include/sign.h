/*
 * sign.h: firmware image signatures as FreeRTOS OTA devices check them: a
 * hash over the whole file (streamed, any size), signed as a digest:
 * ECDSA gives the DER Ecdsa-Sig-Value mbedtls_pk_verify expects, RSA gives
 * PKCS#1 v1.5 over a DigestInfo.  The private key is any EVP_PKEY, normally
 * one from token.h whose operations run on the token.  Verification uses
 * only a public key: that is what the device does.  Nothing here prints.
 */
#ifndef SGT_SIGN_H
#define SGT_SIGN_H

#include <stddef.h>

#include <jansson.h>
#include <openssl/evp.h>

#define SGT_SIGN_MAX_SIG 1024	/* RSA-8192 fits */

/* "sha256" / "sha1" / "sha384" / "sha512" -> md, NULL when unknown. */
const EVP_MD *sgt_sign_md(const char *name);
/* "SHA256" / "SHA1" ..., as AWS spells hashAlgorithm. */
const char *sgt_sign_md_aws(const EVP_MD *md);
/* "ECDSA" / "RSA" for signatureAlgorithm; NULL when the key cannot sign images. */
const char *sgt_sign_alg(EVP_PKEY *pk);

/* The largest image signed (and approved): 2 GiB, more than any firmware image. */
#define SGT_IMAGE_MAX (1ULL << 31)

/*
 * Streams path ('-': standard input, not closed) through md; errors name the file.
 * A device is refused, an image over SGT_IMAGE_MAX too, and SIGINT/SIGTERM
 * end a read that blocks even while signals are held (the error says
 * "interrupted"; the signal stays pending).  out holds
 * EVP_MAX_MD_SIZE.  sha256_hex, when not NULL, receives the file's SHA-256
 * (hex) from the same read, whatever md is.
 */
int sgt_sign_file_digest(const char *path, const EVP_MD *md, unsigned char *out, size_t *outlen, char sha256_hex[65]);

/* Signs a digest; *sig malloc'd.  Errors name label. */
int sgt_sign_digest(EVP_PKEY *priv, const char *label, const EVP_MD *md, const unsigned char *dgst, size_t dlen,
		    unsigned char **sig, size_t *siglen);
/* SGT_OK when sig is a valid signature of dgst by pub, SGT_ERR_VERDICT (quiet) when not. */
int sgt_sign_verify_digest(EVP_PKEY *pub, const EVP_MD *md, const unsigned char *dgst, size_t dlen,
			   const unsigned char *sig, size_t siglen);

/*
 * Checks signatures on a second thread while the caller makes the next one
 * (a batch's pipeline; the token signs one image while the last one is
 * checked).  One check in flight: submit hands over a copy of the digest
 * and signature, wait returns its verdict as sgt_sign_verify_digest would.
 * threaded 0 checks inside submit (one image: a thread would cost more
 * than it saves).  The thread never takes SIGINT, SIGTERM or SIGHUP.
 */
struct sgt_verifier;
int sgt_verifier_start(EVP_PKEY *pub, const EVP_MD *md, int threaded, struct sgt_verifier **out);
void sgt_verifier_submit(struct sgt_verifier *v, const unsigned char *dgst, size_t dlen, const unsigned char *sig,
			 size_t siglen);
int sgt_verifier_wait(struct sgt_verifier *v);
void sgt_verifier_stop(struct sgt_verifier *v);

/* Reads a signature file: base64 (whitespace ignored), or raw bytes (DER ECDSA, RSA) as openssl dgst -sign writes them; *sig malloc'd. */
int sgt_sign_read_sig(const char *path, unsigned char **sig, size_t *len);

/*
 * The customCodeSigning object of `aws iot create-ota-update`:
 * {"customCodeSigning": {signature.inlineDocument, certificateChain
 * {certificateName, inlineDocument}, hashAlgorithm, signatureAlgorithm}}.
 */
json_t *sgt_sign_ota_json(const char *sig_b64, const char *cert_pem, const char *cert_name, const EVP_MD *md,
			  const char *alg);

#endif
