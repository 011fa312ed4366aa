/*
 * store.h: the on-disk store (SPEC.md section 4): locating it, reading and
 * writing signet.yaml, its trust checks, and the flock that serialises
 * state-changing commands.  Atomic writes are fsio.h's, key records
 * keyrec.h's.  It never talks to a token.
 */
#ifndef SGT_STORE_H
#define SGT_STORE_H

#include <stddef.h>
#include <time.h>

#include "fsio.h"
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
 * Puts the config's env (SOFTHSM2_CONF ...) into the process environment.
 * Only session.c calls it, right before it enters the token guard
 * (hsmguard.h) and loads the module.
 */
int sgt_store_apply_env(const struct sgt_store *st);

/* Config serialisation (used by init). */
int sgt_config_save(const char *path, const struct sgt_config *cfg);
void sgt_config_release(struct sgt_config *cfg);

#endif
