/*
 * backup.h: the backup archive (docs/backup.md).  A store is packed into a
 * plain "payload" (a list of path, mode, size, bytes entries behind a
 * small JSON manifest), and the payload is sealed in an envelope: a
 * passphrase through scrypt to AES-256-GCM, or CMS AuthEnvelopedData
 * (AES-256-GCM) to a recipient certificate.  Opening an envelope
 * authenticates the whole payload before anything is returned, and the
 * payload parser checks every entry, so a caller writes nothing until the
 * archive as a whole is known good.  Nothing here prints to stdout or
 * touches a token.
 *
 * Ownership: payload buffers returned here hold PINs and token files, so
 * they are released with sgt_backup_secret_free (wipes, then frees).  A
 * parsed list borrows the payload buffer it was parsed from.
 */
#ifndef SGT_BACKUP_H
#define SGT_BACKUP_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
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

/* One entry of the payload. */
enum { SGT_ENTRY_FILE = 'f', SGT_ENTRY_DIR = 'd' };
struct sgt_backup_entry {
	char *path;			/* owned; relative, '/'-separated, checked */
	int type;			/* SGT_ENTRY_FILE / SGT_ENTRY_DIR */
	unsigned mode;			/* permission bits as found (restore writes 0600/0700) */
	uint64_t size;
	const unsigned char *data;	/* borrowed from the payload buffer */
};

struct sgt_backup_list {
	json_t *manifest;		/* owned: store, created, embedded, signet, files */
	struct sgt_backup_entry *v;	/* owned */
	size_t n;
};
void sgt_backup_list_release(struct sgt_backup_list *l);
/* The entry for path, or NULL. */
const struct sgt_backup_entry *sgt_backup_find(const struct sgt_backup_list *l, const char *path);

/* 1 when rel is a path the archive may carry (relative, no '.', '..', empty parts). */
int sgt_backup_path_ok(const char *rel);

/*
 * Packs the store at storedir (already locked by the caller) into a
 * payload: every directory and regular file except the lock file and
 * temporaries (*.tmpXXXXXX), sorted.  A symlink or special file is an
 * error naming it.  manifest (borrowed, may be NULL) is stored as is.
 * *out is malloc'd: release with sgt_backup_secret_free.
 */
int sgt_backup_pack(const char *storedir, json_t *manifest, unsigned char **out, size_t *outlen, size_t *nfiles);

/*
 * The payload parser (the fuzzing entry point): checks magic, version,
 * manifest, each entry's type, path and size, that sizes add up to
 * exactly len, no duplicate path and no entry below a file.  Returns
 * SGT_OK or SGT_ERR_DATA with the reason in why (never prints).  On
 * success l borrows buf.
 */
int sgt_backup_parse(const unsigned char *buf, size_t len, struct sgt_backup_list *l, char why[128]);

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

/*
 * SoftHSM2 names its token directory absolutely: a copy of conf with
 * every `directories.tokendir` line replaced by tokendir (one added when
 * there is none).  out is appended to.
 */
int sgt_backup_softhsm_conf(const unsigned char *conf, size_t len, const char *tokendir, struct sgt_buf *out);

/*
 * Writes every entry of l below dir (which must exist and be empty):
 * directories 0700, files 0600, created exclusively, not following
 * symlinks, each fsynced, then every directory fsynced.  Content for the
 * entry named override_path (may be NULL) is taken from override instead.
 * Errors name the file.
 */
int sgt_backup_write_tree(const struct sgt_backup_list *l, const char *dir, const char *override_path,
			  const void *override, size_t override_len);

/*
 * Staged write of a file outside the store: the data goes to a temporary
 * file next to path (fsynced); sgt_backup_stage_commit renames it into
 * place and fsyncs the directory, sgt_backup_stage_abort removes it.
 */
struct sgt_stage {
	char path[4096];
	char tmp[4096 + 16];
	int active;
};
int sgt_backup_stage(struct sgt_stage *s, const char *path, const void *data, size_t len);
int sgt_backup_stage_commit(struct sgt_stage *s);
void sgt_backup_stage_abort(struct sgt_stage *s);

#endif
