/*
 * store.h: the on-disk store (SPEC.md section 4): locating it, reading and
 * writing signet.yaml and key records, the one atomic-write helper every
 * store file goes through, and the flock that serialises state-changing
 * commands.  It never talks to a token.
 */
#ifndef SGT_STORE_H
#define SGT_STORE_H

#include <stddef.h>
#include <time.h>

#include "sgt.h"

#define SGT_MAX_ENV 8

struct sgt_config {
	char *module;		/* PKCS#11 module path */
	char *token;		/* token label */
	char *pin_source;	/* "file:PATH" (PATH relative to the store) or NULL */
	char *env_name[SGT_MAX_ENV];
	char *env_value[SGT_MAX_ENV];	/* relative paths are resolved against the store */
	size_t nenv;
	char *policy;		/* default policy name */
	int embedded;		/* the token lives in <store>/hsm */
	/* store: { backend: postgresql, conninfo, host } (dbstore.h); NULL for a file store */
	char *db_conninfo;	/* libpq conninfo or URI */
	char *db_host;		/* this host's name in the records it makes */
};

struct sgt_store {
	char *dir;		/* absolute path of the store */
	struct sgt_config cfg;
	int lock_fd;		/* -1 when not locked */
	int lock_exclusive;	/* the lock held is exclusive */
};

/* Custody attributes read back from the private key object. */
struct sgt_custody {
	int token, private_, sensitive, extractable;
	int always_sensitive, never_extractable, local;
	int copyable;		/* -1 when the token does not support CKA_COPYABLE */
	int modifiable;		/* -1 when unknown */
};

struct sgt_keyrec {
	char label[65];
	char id[65];		/* hex CKA_ID */
	char algorithm[16];	/* ecdsa-p256, rsa-2048, ... */
	char spki_sha256[65];
	char origin[16];	/* generated | imported */
	char created[32];
	char policy[65];	/* policy the key was made under, may be empty */
	struct sgt_custody custody;
	char retired[32];	/* when a finished rotation retired it (rotate.h), "" while in use */
	char retired_by[128];	/* the rotation record that retired it, store-relative */
};

/* Resolves the store directory: opt, else $SIGNET_STORE, else ./signet-store. */
const char *sgt_store_dir(const char *opt);

/*
 * Opens an existing store: makes the path absolute and loads signet.yaml.
 * A missing store is SGT_ERR_DATA with a hint to run `signet init`.
 */
int sgt_store_open(struct sgt_store *st, const char *dir);
void sgt_store_release(struct sgt_store *st);

/*
 * A file signet trusts (signet.yaml, a PIN file): refused, naming it, when
 * it is a symbolic link, owned by another user than the one running
 * signet, or writable by its group or others.  what names it in messages.
 * sgt_store_open checks the store itself: its directories (ours, closed
 * to others), no symbolic links or special files anywhere inside, and a
 * module path nobody else can write.
 */
int sgt_path_trusted(const char *path, const char *what);

/*
 * Takes the store's flock (exclusive for writers), waiting for other runs:
 * says once who holds it (the pid recorded by the last exclusive holder)
 * and gives up after SIGNET_LOCK_TIMEOUT seconds (default below) with
 * SGT_ERR_DATA naming the holder.
 */
#define SGT_LOCK_TIMEOUT 120
int sgt_store_lock(struct sgt_store *st, int exclusive);

/*
 * Changes the lock held on the store's lock file: 0 lets it go (the file
 * stays open), 1 takes it exclusively again, -1 shared.
 */
int sgt_store_relock(struct sgt_store *st, int how);

/* malloc'd "<store>/<rel>"; NULL only on out-of-memory (reported). */
char *sgt_store_path(const struct sgt_store *st, const char *rel);

/*
 * Puts the config's env (SOFTHSM2_CONF ...) into the process environment
 * and enters the token guard (hsmguard.h).  Only session.c calls it, right
 * before loading the module; sgt_session_close leaves the guard after
 * unloading it.
 */
int sgt_store_apply_env(const struct sgt_store *st);

/*
 * Writes data to path atomically: a temp file in the same directory,
 * fsync, rename, fsync of the directory.  Creates missing parent
 * directories (mode 0700).  If exclusive is set, refuses to replace an
 * existing file (SGT_ERR_DATA).
 */
int sgt_atomic_write(const char *path, const void *data, size_t len, int exclusive);
/*
 * User outputs (--out and the like), as opposed to the store's own files.
 * sgt_out_special: 1 when path is an existing device node, FIFO or other
 * non-regular file (after symlinks): it is written through, never renamed
 * over.  sgt_out_check: SGT_OK when path can be written: its directory
 * exists (never created for the user) and it is not a directory.
 * sgt_out_write: sgt_out_check, then a write-through for a special target
 * or an atomic replacement otherwise, created with mode 0666 & ~umask of
 * the user (sgt_user_umask): outputs are not secrets, and another user (a
 * node_exporter scraping a report) may need to read them.  Store files
 * stay 0600 in 0700 directories.  sgt_put (intent.h) bypasses its staging
 * for special targets too.
 */
/* The umask signet was started with (main sets 077 for everything else); 077 until main records it. */
extern unsigned sgt_user_umask;
int sgt_out_special(const char *path);
int sgt_out_check(const char *path);
int sgt_out_write(const char *path, const void *data, size_t len);
/* fsync of a directory (after a rename into it); errors name it. */
int sgt_fsync_dir(const char *dir);
/* mkdir -p with mode 0700; reports errors naming the path. */
int sgt_mkdirs(const char *path);
/* Removes a file the current command wrote, for rollback; quiet on ENOENT. */
void sgt_store_unlink(const char *path);

/* Config serialisation (used by init). */
int sgt_config_save(const char *path, const struct sgt_config *cfg);
void sgt_config_release(struct sgt_config *cfg);

/* Key records: <store>/keys/<label>.yaml. */
int sgt_keyrec_load(const struct sgt_store *st, const char *label, struct sgt_keyrec *out);
/* Returns 1 when a record for label exists, 0 otherwise. */
int sgt_keyrec_exists(const struct sgt_store *st, const char *label);
/* Writes a new record; refuses to replace one (exclusive). */
int sgt_keyrec_save(const struct sgt_store *st, const struct sgt_keyrec *rec);
/* Replaces an existing record (key retirement); through sgt_put, so inside an intent it is staged. */
int sgt_keyrec_update(const struct sgt_store *st, const struct sgt_keyrec *rec);
/* Removes the record a failed command just wrote (rollback only). */
void sgt_keyrec_remove(const struct sgt_store *st, const char *label);
/* All records, sorted by label; *out malloc'd (free with free()). */
int sgt_keyrec_list(const struct sgt_store *st, struct sgt_keyrec **out, size_t *n);
/* The record in recs whose spki_sha256 is spki, or NULL. */
const struct sgt_keyrec *sgt_keyrec_by_spki(const struct sgt_keyrec *recs, size_t n, const char *spki);

#endif
