/*
 * intent.h: crash consistency for state-changing commands.  A command
 * says what it is about to do (sgt_intent_begin writes <store>/intents/<id>.json:
 * the operation, the token key it may create, the directories its files go
 * to), writes its files under temporary names (sgt_put: "<file>.signet-
 * <id>.tmp"), makes them durable together just before its audit record
 * (sgt_intent_sync_staged), appends that record (which names the staged
 * files: this is the commit point), and only then puts the files in place
 * (sgt_intent_publish / _end).  So no effect is visible before its audit
 * record is durable.  Commands drive it through a transaction (tx.h), which
 * also writes the records.
 *
 * A command killed on the way leaves intents/<id>.json (no longer flocked);
 * the next command that takes the store's exclusive lock (sgt_intent_recover,
 * called by tx.h's sgt_tx_lock) completes what the
 * audit log shows was committed, removes what was not (staged files, and
 * a key pair generated but never recorded), sweeps temporary files of
 * interrupted atomic writes, and appends a "recovered" record, saying so
 * in one line on stderr.
 */
#ifndef SGT_INTENT_H
#define SGT_INTENT_H

#include <jansson.h>

#include "pin.h"
#include "store.h"

/*
 * Opens an intent: op and label as the audit record will name them,
 * key_id (hex CKA_ID, may be NULL) of a key pair the command may create on
 * the token, outputs the files outside the store it will stage (NULL
 * entries are skipped; recovery sweeps their directories, the store's own
 * are always swept).  Caller holds the store's exclusive lock.  One intent
 * at a time.
 */
int sgt_intent_begin(const struct sgt_store *st, const char *op, const char *label, const char *key_id,
		     const char *const *outputs, size_t noutputs);
/* The open intent's id, or NULL. */
const char *sgt_intent_nonce(void);
/*
 * Writes a file as part of the open intent (staged, put in place after the
 * audit record), or atomically at once when no intent is open.  exclusive:
 * never replace an existing file.
 */
int sgt_put(const char *path, const void *data, size_t len, int exclusive);
/*
 * sgt_put for a user output that is not a secret (a header, a signature,
 * an OTA job document): it replaces any file and gets mode 0666 & ~umask
 * of the user, as sgt_out_write does, instead of a store file's 0600.
 */
int sgt_put_out(const char *path, const void *data, size_t len);
/*
 * {"id": ID, "files": [staged files not yet named by a record]}, marking
 * them claimed (tx.c does it for each record).  New reference.
 */
json_t *sgt_intent_take_staged(void);
/* The same for the named files only (one record of a batch names its own). */
json_t *sgt_intent_claim(const char *const *finals, size_t n);
/* After writing records: the claimed files are committed (ok) or free again. */
void sgt_intent_recorded(int ok);
/*
 * Before a record that names staged files is written: makes
 * every staged file durable, with their directory entries (an fsync of
 * each file and directory for a few, one syncfs per file system for many),
 * so that a record never names a file a power cut could leave torn.
 */
int sgt_intent_sync_staged(void);
/* Puts committed files in place (rename, or link for exclusive ones) and syncs their directories. */
int sgt_intent_publish(void);
/* Removes staged files not yet committed (a part of the command failed before its record). */
void sgt_intent_discard(void);
/* Publishes what is committed, discards the rest, removes intents/<id>.json. */
int sgt_intent_end(const struct sgt_store *st);
/* The command failed: nothing committed is left staged, intents/<id>.json is removed. */
void sgt_intent_abort(const struct sgt_store *st);
/*
 * Ends this process's part of the intent without removing it: staged files
 * go, the intent stays for the next command's recovery (what the token
 * still holds of an undone key pair, which this process could not remove).
 */
void sgt_intent_leave(void);

/*
 * Finds what an interrupted command left (see above) and completes or
 * rolls it back.  Called with the store's exclusive lock; opens the token
 * only when a key pair must be destroyed (opts for its PIN, may be NULL).
 */
int sgt_intent_recover(const struct sgt_store *st, const struct sgt_pin_opts *opts);
/* 1 while sgt_intent_recover runs (the token it opens must not take part in anchoring). */
int sgt_intent_recovering(void);

#endif
