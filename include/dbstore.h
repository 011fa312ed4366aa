/*
 * dbstore.h: a store kept in PostgreSQL, for several signing hosts
 * (docs/multi-host.md, docs/store.md "A store in PostgreSQL").
 *
 * The database holds what the store is: its files (key records,
 * certificates, audit.pub, fleet build records, rotations) and its audit
 * chain (every record, byte for byte, and every head).  Each host keeps a
 * store directory of its own: signet.yaml (module, token, PIN source, env
 * and `store: { backend: postgresql, conninfo, host }`), its intents and a
 * copy of the database's files and chain that every command brings up to
 * date under the store lock before it reads anything.  The copy is a cache
 * of the database, never the other way round: the commit point of a
 * command is ONE SQL transaction (records, the store files they name, the
 * head signed on the token) made while the head row is locked, and only
 * then is the host's copy written and are user outputs put in place.
 *
 * libpq is loaded (pqload.h) the first time a database store is used, as for
 * fleet sources: a file store never loads it.
 */
#ifndef SGT_DBSTORE_H
#define SGT_DBSTORE_H

#include <jansson.h>

#include "store.h"
#include "yamltree.h"

/* signet.yaml's `store:` mapping (may be NULL: a file store). */
int sgt_db_config_parse(const char *path, const struct sgt_yaml *map, char **conninfo, char **host);

/*
 * Under the store's flock (store.c calls these): exclusive: BEGIN, lock
 * the head row (SELECT ... FOR UPDATE; waits for other hosts as flock waits
 * for local runs), then bring this host's copy up to date; the transaction
 * stays open until the records are committed or the lock goes.  Shared: the
 * copy is brought up to date from a read-only snapshot under a brief
 * exclusive flock, which is then lowered again.  A serialization failure
 * or deadlock is retried.  An unreachable database is one line, exit 3.
 */
int sgt_db_lock(struct sgt_store *st, int exclusive);
/* Rolls back an open transaction; the head row's lock and the writers' lock go. */
void sgt_db_unlock(void);
/* After a commit: this host's copy is written and the head kept on the token; other hosts' writers may go on. */
void sgt_db_done(void);
/* The host name records of this process carry, or NULL on a file store. */
const char *sgt_db_host(void);
/* Before an append: makes sure the head row is locked and the copy current (after an earlier commit). */
int sgt_db_ready(const struct sgt_store *st);
/*
 * The commit point on a database store: lines (len bytes, '\n'-terminated
 * records first..), the new head file's bytes, the store files that recs'
 * intents name (read from their staged names), in one SQL transaction.
 * After it returns SGT_OK the records are committed, whatever happens to
 * the host's copy.
 */
int sgt_db_commit(const char *lines, size_t len, long long first, const char *head, size_t headlen, json_t *recs);


/*
 * init --db: creates the schema (refused when the database holds a store
 * already) or, join, checks it and registers host (refused when taken).
 */
int sgt_db_create(const char *conninfo, const char *host, const char *module, const char *token, int join);
/* Every head the database kept, each signature checked with pub: *n heads checked; a bad one is SGT_ERR_VERDICT. */
int sgt_db_verify_heads(void *pub_evp, long long *n);
/*
 * store migrate: a file store's chain and files into an empty database
 * (schema made here); and a database store's into a new directory's files.
 */
int sgt_db_migrate_to_db(const struct sgt_store *st, const char *conninfo, const char *host);
int sgt_db_migrate_to_dir(const struct sgt_store *st, const char *dir);

/*
 * Files people write into the store (fleets.yaml, policies/, allowed_signers
 * files, ...: docs/multi-host.md), as against those commands own (keys/,
 * certs/, fleets/, rotations/, audit.*) and those each host keeps for itself
 * (signet.yaml, lock, hsm/, intents/, shared.sha256, dot and .tmp files).
 * rel is relative to the store.
 */
#define SGT_FILE_HOST 0
#define SGT_FILE_COMMAND 1
#define SGT_FILE_PEOPLE 2
int sgt_store_file_kind(const char *rel);
/*
 * On a database store every command's sync takes the database's copy of
 * each file people write, unless this host edited it and has not shared
 * it (refused in one line: never overwritten, never used).  `store put`
 * names the files it shares (rels, relative to the store, borrowed until
 * the store is released) before it locks: the sync leaves those as they are.
 */
void sgt_db_share_keep(char *const *rels, size_t n);
/*
 * Before a command reads a file people write at path (absolute): on a
 * database store, SGT_OK if the database holds it (or it is not such a
 * file, or missing); a file this host has that was never shared is one
 * line, SGT_ERR_DATA.  Always SGT_OK on a file store.
 */
int sgt_db_shared_read(const char *path);

/*
 * backup and restore (docs/backup.md).  A store file, or what a backup
 * keeps of the database beside them: path relative to the store, bytes.
 */
struct sgt_db_file {
	char *path;
	unsigned char *data;
	size_t len;
};
void sgt_db_files_free(struct sgt_db_file *v, size_t n);
/*
 * backup, under the head row's lock (sgt_db_lock exclusive): the store as
 * the database holds it, as a file store's files (every signet_files row,
 * audit.log of every record byte for byte, audit.head), and what a file
 * store has no place for as JSON lines: signet-db/audit.jsonl (each
 * record's host and commit time), heads.jsonl (every head kept),
 * files.jsonl (the record and host that last wrote each file) and
 * hosts.jsonl.  *records: the records in it.
 */
int sgt_db_snapshot(struct sgt_db_file **out, size_t *nout, long long *records);
/*
 * restore --db: the store restored in dir (a file store's files, signet.yaml
 * naming the database) into conninfo's database, which must hold no store:
 * schema, every record byte for byte, the heads, files and hosts meta (the
 * signet-db/ entries of a database backup, may be none) names, in one
 * SERIALIZABLE transaction left open with dir as this host's copy: the
 * restore record commits with it (sgt_db_commit) and registers host, or
 * nothing does (sgt_db_unlock).  A host name the backup's store had is refused.
 */
int sgt_db_restore_begin(const char *conninfo, const char *dir, const char *host, const char *module, const char *token,
			 const struct sgt_db_file *meta, size_t nmeta);

/*
 * restore --db run again after a kill between its commit and the host's
 * directory: *seq is the restore record host made from the archive sha in
 * conninfo's database, 0 when there is none (or no store).
 */
int sgt_db_restored(const char *conninfo, const char *host, const char *sha, long long *seq);

/* "postgresql:DB@HOST" for messages: never a password. */
const char *sgt_db_name(void);

#endif
