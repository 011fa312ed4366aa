/*
 * backup_seal.h: the backup archive's envelopes (docs/backup.md, formats
 * floor, pure): a passphrase through scrypt to AES-256-GCM, or CMS
 * AuthEnvelopedData (AES-256-GCM) to a recipient certificate.  Opening an
 * envelope authenticates the whole payload before anything is returned.
 *
 * Ownership: payload buffers returned here hold PINs and token files, so
 * they are released with sgt_backup_secret_free (wipes, then frees).
 */
#ifndef SGT_BACKUP_SEAL_H
#define SGT_BACKUP_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "sgt.h"

#define SGT_BACKUP_MAGIC "SIGNETBK"		/* 8 bytes, the envelope */
#define SGT_BACKUP_PAYLOAD_MAGIC "SGTSTORE"	/* 8 bytes, the payload inside */
#define SGT_BACKUP_VERSION 1
#define SGT_BACKUP_KIND_SCRYPT 1	/* scrypt + AES-256-GCM */
#define SGT_BACKUP_KIND_CMS 2		/* CMS AuthEnvelopedData, AES-256-GCM */

#define SGT_BACKUP_MAX (512UL << 20)	/* largest archive read */
#define SGT_BACKUP_MAX_ENTRIES 65536
#define SGT_BACKUP_MAX_PATH 1024
#define SGT_BACKUP_PASS_MAX 1024

/* scrypt parameters as stored in the header: N = 2^log2n. */
struct sgt_scrypt {
	unsigned log2n;
	uint32_t r, p;
};
#define SGT_SCRYPT_DEFAULT { 17, 8, 1 }	/* 128 MiB, about 0.4 s */
#define SGT_SCRYPT_LOG2N_MIN 15
#define SGT_SCRYPT_LOG2N_MAX 20
#define SGT_SCRYPT_MAXMEM (1UL << 30)	/* 128 * r * N * p may not exceed this */

/* A passphrase in a fixed buffer, wiped with sgt_backup_pass_wipe. */
struct sgt_pass {
	char value[SGT_BACKUP_PASS_MAX + 1];
	size_t len;
};
/* Reads one line (the first; one trailing newline/CR stripped) from path or fd. */
int sgt_backup_pass_file(const char *path, struct sgt_pass *pass);
int sgt_backup_pass_fd(int fd, struct sgt_pass *pass);
void sgt_backup_pass_wipe(struct sgt_pass *pass);

/* Envelope kind of an archive (SGT_BACKUP_KIND_*), or SGT_ERR_DATA with why. */
int sgt_backup_kind(const unsigned char *arch, size_t len, char why[128]);

/* Seals payload with a passphrase; *out malloc'd (public: encrypted). */
int sgt_backup_seal_pass(const unsigned char *payload, size_t len, const struct sgt_pass *pass,
			 const struct sgt_scrypt *kdf, unsigned char **out, size_t *outlen);
/*
 * Opens a passphrase archive: checks the header's KDF bounds, derives the
 * key and authenticates everything (header as AAD, ciphertext, tag).
 * SGT_ERR_DATA with why on any failure; *payload is released with
 * sgt_backup_secret_free.  kdf, when not NULL, receives the header's
 * parameters.
 */
int sgt_backup_open_pass(const unsigned char *arch, size_t len, const struct sgt_pass *pass,
			 unsigned char **payload, size_t *plen, struct sgt_scrypt *kdf, char why[128]);

/* Seals payload to a recipient certificate (RSA or EC key) with CMS AuthEnvelopedData. */
int sgt_backup_seal_cms(const unsigned char *payload, size_t len, X509 *recipient, unsigned char **out,
			size_t *outlen);
/* Opens a CMS archive with the recipient's private key (cert may be NULL: every recipient is tried). */
int sgt_backup_open_cms(const unsigned char *arch, size_t len, EVP_PKEY *key, X509 *cert, unsigned char **payload,
			size_t *plen, char why[128]);

/*
 * Loads the recipient's private key (PEM, or DER PKCS#8); pass, when not
 * NULL, decrypts an encrypted PEM.  Errors name the file.
 */
int sgt_backup_load_key(const char *path, const struct sgt_pass *pass, EVP_PKEY **out);

/* Wipes and frees a payload buffer. */
void sgt_backup_secret_free(unsigned char *p, size_t len);

#endif
