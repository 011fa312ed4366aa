/*
 * tx.h: one custody transaction, and the only way records reach the audit
 * log (sgt_audit_write is called from tx.c alone).
 *
 * A state-changing command opens a transaction under the store's exclusive
 * lock, taken by sgt_tx_lock (which records the token guard's repairs and
 * recovers earlier intents, as SQLite rolls back a hot journal when it
 * takes its lock), stages its files, queues its records (and any
 * refusals), and commits: the staged files are made durable, the queued
 * records are appended in one write with the head signed by the logged-in
 * session's signer (anchor.h), the files are put in place and the intent
 * ends.  Freeing a transaction that was not committed rolls it back; its
 * refusals are written either way.  The on-disk protocol is intent.h's,
 * byte for byte.
 */
#ifndef SGT_TX_H
#define SGT_TX_H

#include <jansson.h>

#include "store.h"

struct sgt_tx;

/* Stage flags. */
#define SGT_TX_EXCL 1u		/* never replace an existing file */
#define SGT_TX_OUT 2u		/* a user output, not a secret: mode 0666 & ~umask (sgt_put_out) */

/*
 * A writer's lock on the store: exclusive, then the token guard's noted
 * repairs recorded and every interrupted command's intent recovered
 * (finished if its record is on file, rolled back otherwise).  Before a
 * command looks anything up (cmd_store_open calls it for
 * SGT_LOCK_EXCLUSIVE); readers take a shared lock and recover nothing.  On
 * failure the store is still locked: sgt_store_release it.
 */
int sgt_tx_lock(struct sgt_store *st);
/*
 * Opens a transaction: intents/<id>.json written and flocked.  On a store
 * not locked yet it calls sgt_tx_lock first (recovery inside begin).  op and label
 * as its records will name them; key_id (hex CKA_ID, may be NULL) of a key
 * pair the command may create on the token; outputs the files outside the
 * store it will stage (NULL entries skipped; recovery sweeps their
 * directories).  The caller holds the store's exclusive lock.  One at a time.
 */
int sgt_tx_begin(struct sgt_store *st, const char *op, const char *label, const char *key_id,
		 const char *const *outputs, size_t noutputs, struct sgt_tx **out);
/* Writes a file under its staged name; it is put in place by sgt_tx_commit. */
int sgt_tx_stage(struct sgt_tx *tx, const char *path, const void *data, size_t len, unsigned flags);
/*
 * Queues a `result: ok` record (details borrowed, may be NULL).  It names
 * the files staged since the previous queued record; nothing is written
 * before sgt_tx_commit.
 */
int sgt_tx_record(struct sgt_tx *tx, const char *op, const char *label, const char *spki_sha256, json_t *details);
/* Queues a `result: refused` record, written when the transaction ends, committed or not. */
void sgt_tx_refused(struct sgt_tx *tx, const char *op, const char *label, const char *spki_sha256,
		    const char *why);
/*
 * Lets go of the store lock around slow work (other commands, other signers
 * go on; the intent, flocked by this process, tells their recovery that this
 * one is alive), and takes it exclusively again.  sgt_tx_commit retakes it.
 */
int sgt_tx_unlock(struct sgt_tx *tx);
int sgt_tx_relock(struct sgt_tx *tx);
/*
 * Syncs the staged files, appends the queued records in one write (the
 * commit point), puts the files in place and ends the intent.  On failure
 * nothing queued is on record and free rolls back.
 */
int sgt_tx_commit(struct sgt_tx *tx);
/* 1 once the queued records are durable (a later failure of sgt_tx_commit is in putting files in place). */
int sgt_tx_committed(const struct sgt_tx *tx);
/* Rolls back if not committed, writes the queued refusals, frees.  NULL is fine. */
void sgt_tx_free(struct sgt_tx *tx);
/*
 * Frees tx without rolling it back: its intent stays for the next
 * command's recovery, which finishes what this one could not (an undone
 * key pair the token still holds part of).
 */
void sgt_tx_leave(struct sgt_tx *tx);

/*
 * The audit key, in a transaction of its own ("audit.key", not nested in
 * another: nothing is done while an intent is open or a recovery runs):
 * with state SGT_ANCHOR_MAKE or SGT_ANCHOR_COMPLETE from
 * sgt_anchor_activate, makes the key on the token logged in on p (or takes
 * the one a cut-off run made), stages audit.pub, records it and starts
 * signing heads with it; SGT_ANCHOR_UNAVAILABLE is recorded as such.
 * Under the exclusive lock only.  Never fails the caller: a problem is a
 * warning.  session.c calls it right after a login.
 */
struct sgt_p11;
void sgt_tx_anchor(const struct sgt_store *st, struct sgt_p11 *p, int state);
/*
 * Installs this floor's recorder in session.c (session.h): refused logins,
 * the guard's repairs and the audit key go on record from then on.  main
 * calls it once, before any command.
 */
void sgt_tx_install(void);

/*
 * Records without a transaction object, each for one caller named here;
 * every other state change goes through sgt_tx_begin.  All append through
 * tx.c, the only caller of sgt_audit_write.
 *
 * sgt_tx_refuse: one `result: refused` record (details borrowed, may be
 * NULL) for an attempt turned down outside a transaction (a reader's
 * wrong PIN, a refused key adoption after its rollback).  As
 * sgt_record_refused below, which is it with details {"reason": why}.
 */
void sgt_tx_refuse(const struct sgt_store *st, const char *op, const char *label, const char *spki_sha256,
		   json_t *details);
/*
 * Recovery's own record (intent.c, under the lock sgt_tx_lock took): one
 * "recovered" record (report borrowed); if an intent is open (never during
 * recovery) it names the files staged since its last record.
 */
int sgt_tx_recovered(const struct sgt_store *st, const char *label, json_t *report);
/*
 * init's record, the documented exception: the store does not exist yet
 * (its directory is still the temporary one cmd_init.c renames), so there
 * is no lock, no token session and no intent to take.  op: "init", or
 * "host.join" for a host joining a database-backed store (dbstore.h).
 */
int sgt_tx_init_record(const struct sgt_store *st, const char *op, json_t *details);
/*
 * A `result: refused` record for an attempt that was turned down (wrong
 * PIN, refused reissue, refused sign).  Works under a shared lock too (it
 * raises it for the append); never fails the caller: a record that cannot
 * be written is reported as a warning.  While the token guard is held it
 * waits until sgt_session_close leaves it (sgt_record_flush_refused).
 */
void sgt_record_refused(const struct sgt_store *st, const char *op, const char *label, const char *spki_sha256,
			const char *why);
/* Writes the refusals held back while the token guard was held (session.c calls it). */
void sgt_record_flush_refused(void);
/*
 * Records the token guard's repairs as "recovered" records: made (may be
 * NULL, borrowed) as sgt_hsm_enter handed them back, and those noted in
 * hsm/repairs.pending earlier; without the exclusive lock, made is only
 * noted there (sgt_hsm_repairs_due).
 */
int sgt_record_repairs(const struct sgt_store *st, json_t *made);

#endif
