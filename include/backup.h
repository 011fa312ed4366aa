/*
 * backup.h: the backup archive's payload (docs/backup.md).  A store is
 * packed into a plain "payload" (a list of path, mode, size, bytes entries
 * behind a small JSON manifest), which backup_seal.h seals in an envelope.
 * The payload parser checks every entry, so a caller writes nothing until
 * the archive as a whole is known good.  Nothing here prints to stdout,
 * touches a token or records: the archive and a restored store are put in
 * place by cmd_backup.c through a custody transaction (tx.h).
 *
 * Ownership: a payload holds PINs and token files: it is released with
 * sgt_backup_secret_free.  A parsed list borrows the payload buffer it was
 * parsed from.
 */
#ifndef SGT_BACKUP_H
#define SGT_BACKUP_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "backup_seal.h"
#include "sgt.h"

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
 * payload: every directory and regular file except the lock file,
 * temporaries (*.tmpXXXXXX) and files staged by a transaction
 * (*.signet-<id>.tmp), sorted.  A symlink or special file is an
 * error naming it.  manifest (borrowed, may be NULL) is stored as is.
 * *out is malloc'd: release with sgt_backup_secret_free.
 */
int sgt_backup_pack(const char *storedir, json_t *manifest, unsigned char **out, size_t *outlen, size_t *nfiles);

/*
 * As sgt_backup_pack, but of storedir only the entries keep names (paths,
 * each with what is below it; keep NULL: everything), and besides them
 * the extra entries given in memory (data borrowed; a directory of an
 * extra file need not be listed).  A database-backed store's backup: the
 * host's own files from its directory, the store from the database.
 */
int sgt_backup_pack_with(const char *storedir, const char *const *keep, const struct sgt_backup_entry *extra,
			 size_t nextra, json_t *manifest, unsigned char **out, size_t *outlen, size_t *nfiles);

/*
 * The payload parser (the fuzzing entry point): checks magic, version,
 * manifest, each entry's type, path and size, that sizes add up to
 * exactly len, no duplicate path and no entry below a file.  Returns
 * SGT_OK or SGT_ERR_DATA with the reason in why (never prints).  On
 * success l borrows buf.
 */
int sgt_backup_parse(const unsigned char *buf, size_t len, struct sgt_backup_list *l, char why[128]);

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

#endif
