/*
 * tx.h: one custody transaction, and the only way records reach the audit
 * log (sgt_audit_write is called from tx.c alone).
 *
 * A state-changing command opens a transaction under the store's exclusive
 * lock (cmd_store_open has recorded the token guard's repairs and recovered
 * earlier intents by then), stages its files, queues its records (and any
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
 * Opens a transaction: intents/<id>.json written and flocked.  op and label
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
 * Without a transaction object (commands not switched yet, recovery, the
 * token guard's repairs).  sgt_record: one record; while an intent is open
 * it names the files staged since the last record, made durable first.
 * label, spki may be NULL; details (may be NULL) is borrowed.  Signals are
 * held, and the head is signed on the token while a session is logged in.
 * Caller holds the store's exclusive lock.
 */
int sgt_record(const struct sgt_store *st, const char *op, const char *label, const char *spki_sha256,
	       const char *result, json_t *details);
/*
 * A batch: recs is a JSON array of sgt_audit_rec objects, written as
 * consecutive records in one write with one fsync, the head moved and
 * signed once.  All or none.
 */
int sgt_record_batch(const struct sgt_store *st, json_t *recs);
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
 * Records the token guard's repairs ("recovered" records, hsmguard.h's
 * sgt_hsm_flush_repairs), or keeps them in hsm/repairs.pending without the
 * exclusive lock.
 */
int sgt_record_repairs(const struct sgt_store *st);

#endif
