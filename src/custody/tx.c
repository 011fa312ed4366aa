/*
 * tx.c: the custody transaction (tx.h) over intent.c's staging and
 * recovery, and the only caller of sgt_audit_write: records with or
 * without a transaction object, refusals, the token guard's repairs and
 * the audit key's own transaction.  Recovery runs inside it, when a
 * writer takes the lock (sgt_tx_lock).
 * Floor: custody 5 (beside intent.c).  It may call custody 3-4 (audit,
 * anchor; session through the caller), intent.c and base.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "anchor.h"
#include "audit.h"
#include "hsmguard.h"
#include "intent.h"
#include "pkey.h"
#include "session.h"
#include "tx.h"

/* The two ways records reach sgt_audit_write, both here (below: records without a transaction object). */
static int record_batch(const struct sgt_store *st, json_t *recs);
static int record_one(const struct sgt_store *st, const char *op, const char *label, const char *spki_sha256,
		      const char *result, json_t *details);

struct sgt_tx {
	struct sgt_store *st;
	json_t *recs;		/* queued records, each naming its files */
	json_t *refusals;	/* queued refusals, written at free */
	int committed;
};

int sgt_tx_lock(struct sgt_store *st)
{
	int rc;

	if ((rc = sgt_store_lock(st, 1)) != SGT_OK)
		return rc;
	/*
	 * As SQLite rolls back a hot journal when it takes its lock: the token
	 * guard's noted repairs go on record, then what an interrupted command
	 * left is finished or undone, before this one looks at anything.
	 */
	if ((rc = sgt_record_repairs(st, NULL)) == SGT_OK)
		rc = sgt_intent_recover(st, NULL);
	return rc;
}

int sgt_tx_begin(struct sgt_store *st, const char *op, const char *label, const char *key_id,
		 const char *const *outputs, size_t noutputs, struct sgt_tx **out)
{
	struct sgt_tx *tx;
	int rc;

	*out = NULL;
	if (st->lock_fd < 0 && (rc = sgt_tx_lock(st)) != SGT_OK)
		return rc;
	if (!st->lock_exclusive)
		return sgt_err(SGT_ERR_DATA, "internal error: a transaction needs the store's exclusive lock");
	if ((tx = calloc(1, sizeof(*tx))) == NULL || (tx->recs = json_array()) == NULL ||
	    (tx->refusals = json_array()) == NULL) {
		if (tx != NULL) {
			json_decref(tx->recs);
			free(tx);
		}
		return sgt_err(SGT_ERR_DATA, "out of memory");
	}
	tx->st = st;
	if ((rc = sgt_intent_begin(st, op, label, key_id, outputs, noutputs)) != SGT_OK) {
		sgt_intent_abort(st);
		json_decref(tx->recs);
		json_decref(tx->refusals);
		free(tx);
		return rc;
	}
	*out = tx;
	return SGT_OK;
}

int sgt_tx_stage(struct sgt_tx *tx, const char *path, const void *data, size_t len, unsigned flags)
{
	if (tx->committed || sgt_intent_nonce() == NULL)
		return sgt_err(SGT_ERR_DATA, "internal error: no open transaction to stage '%s' in", path);
	if (flags & SGT_TX_OUT)
		return sgt_put_out(path, data, len);
	return sgt_put(path, data, len, (flags & SGT_TX_EXCL) != 0);
}

int sgt_tx_record(struct sgt_tx *tx, const char *op, const char *label, const char *spki_sha256, json_t *details)
{
	json_t *r;

	if (tx->committed || sgt_intent_nonce() == NULL)
		return sgt_err(SGT_ERR_DATA, "internal error: no open transaction to record '%s' in", op);
	if ((r = sgt_audit_rec(op, label, spki_sha256, "ok", details, NULL)) == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	/* It names the files staged since the previous record (claimed now, committed with it). */
	json_object_set_new(r, "intent", sgt_intent_take_staged());
	if (json_array_append_new(tx->recs, r) != 0)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	return SGT_OK;
}

void sgt_tx_refused(struct sgt_tx *tx, const char *op, const char *label, const char *spki_sha256,
		    const char *why)
{
	json_array_append_new(tx->refusals, json_pack("{s:s, s:s?, s:s?, s:s}", "op", op, "label", label,
						      "spki_sha256", spki_sha256, "why", why));
}

int sgt_tx_unlock(struct sgt_tx *tx)
{
	return sgt_store_relock(tx->st, 0);
}

int sgt_tx_relock(struct sgt_tx *tx)
{
	return sgt_store_relock(tx->st, 1);
}

int sgt_tx_commit(struct sgt_tx *tx)
{
	int rc;

	if (tx->committed)
		return SGT_OK;
	if (!tx->st->lock_exclusive && (rc = sgt_tx_relock(tx)) != SGT_OK)
		return rc;
	/* Staged files synced, the queued records in one append: the commit point. */
	if ((rc = record_batch(tx->st, tx->recs)) != SGT_OK)
		return rc;
	tx->committed = 1;
	/* The records are durable: the files go in place, the intent ends. */
	if ((rc = sgt_intent_end(tx->st)) == SGT_OK && sgt_anchor_migration_due())
		sgt_tx_anchor(tx->st, NULL, SGT_ANCHOR_MIGRATE);	/* the unnamed anchor of old: named on record */
	return rc;
}

int sgt_tx_committed(const struct sgt_tx *tx)
{
	return tx != NULL && tx->committed;
}

void sgt_tx_free(struct sgt_tx *tx)
{
	size_t i;
	json_t *r;

	if (tx == NULL)
		return;
	if (!tx->committed) {
		/* Claimed files whose records were never written are free again, then removed. */
		if (json_array_size(tx->recs) > 0)
			sgt_intent_recorded(0);
		sgt_intent_abort(tx->st);
	}
	json_array_foreach(tx->refusals, i, r)
		sgt_record_refused(tx->st, json_string_value(json_object_get(r, "op")),
				   json_string_value(json_object_get(r, "label")),
				   json_string_value(json_object_get(r, "spki_sha256")),
				   json_string_value(json_object_get(r, "why")));
	json_decref(tx->recs);
	json_decref(tx->refusals);
	free(tx);
}

void sgt_tx_leave(struct sgt_tx *tx)
{
	if (tx != NULL && !tx->committed)
		sgt_intent_leave();
	sgt_tx_free(tx);
}

/* ---- the audit key ---- */

void sgt_tx_anchor(const struct sgt_store *st, struct sgt_p11 *p, int state)
{
	/* Locked exclusively: begin leaves the store as it is. */
	struct sgt_store *wst = (struct sgt_store *)st;
	struct sgt_tx *tx = NULL;
	struct sgt_buf pem = { 0 };
	unsigned char id[16];
	char idhex[33], spki[65] = "", *path = NULL;
	EVP_PKEY *pk = NULL;
	json_t *d = NULL;
	int make = state == SGT_ANCHOR_MAKE, rc;

	/* Not inside another command's intent, nor a recovery's session. */
	if (!st->lock_exclusive || sgt_intent_nonce() != NULL || sgt_intent_recovering())
		return;
	if (state == SGT_ANCHOR_UNAVAILABLE) {
		if (sgt_anchor_said_unavailable(st))
			return;
		d = json_pack("{s:s}", "reason", "the token offers neither EC nor RSA key generation; audit heads are not signed");
		record_one(st, "audit.key", NULL, NULL, "unavailable", d);
		json_decref(d);
		return;
	}
	if (state == SGT_ANCHOR_MIGRATE) {
		/* on record; this record's own signed append replaces the unnamed anchor by the store's named one */
		char label[64];

		sgt_anchor_name(label);
		d = json_pack("{s:s, s:s}", "anchor", label, "replaces", SGT_AUDIT_HEAD_LABEL);
		if (record_one(st, "audit.anchor", NULL, NULL, "ok", d) != SGT_OK)
			sgt_warn("the audit head kept on token '%s' could not be given this store's name; the next command tries again",
				 st->cfg.token);
		json_decref(d);
		return;
	}
	if (!make && state != SGT_ANCHOR_COMPLETE)
		return;
	if (make && sgt_random(id, sizeof(id)) != SGT_OK)
		return;
	sgt_hex(id, sizeof(id), idhex);
	/* The intent names the pair's CKA_ID before it exists: a run cut off half way leaves nothing the next one keeps. */
	if (sgt_tx_begin(wst, "audit.key", NULL, make ? idhex : NULL, NULL, 0, &tx) != SGT_OK)
		goto out;
	if ((rc = sgt_anchor_make(p, make ? id : NULL, sizeof(id), &pk)) != SGT_OK)
		goto out;
	if (make)
		rc = sgt_hsm_snapshot_new(st);
	rc = rc ? rc : sgt_anchor_pub_pem(pk, &pem);
	rc = rc ? rc : sgt_key_spki_sha256(pk, spki);
	if (rc == SGT_OK && (path = sgt_store_path(st, "audit.pub")) == NULL)
		rc = SGT_ERR_DATA;
	rc = rc ? rc : sgt_tx_stage(tx, path, pem.p, pem.len, 0);
	if (rc == SGT_OK)
		d = json_pack("{s:s, s:s}", "audit_key_spki_sha256", spki, "public_key", "audit.pub");
	rc = rc ? rc : sgt_tx_record(tx, "audit.key", NULL, spki, d);
	if (rc != SGT_OK) {
		/* Nothing recorded: a pair made here goes again. */
		if (make)
			sgt_anchor_unmake(p);
		goto out;
	}
	/* Its own record's head is the first one it signs. */
	sgt_anchor_start(p, st, spki);
	rc = sgt_tx_commit(tx);
	if (!sgt_tx_committed(tx)) {
		sgt_anchor_forget(p);	/* heads are not signed with a key the log does not name */
		sgt_warn("the new audit key could not be recorded in the audit log");
	} else if (rc != SGT_OK) {
		sgt_warn("'%s/audit.pub' could not be put in place; the next command completes it", st->dir);
	}
out:
	sgt_tx_free(tx);
	EVP_PKEY_free(pk);
	json_decref(d);
	sgt_buf_free(&pem);
	free(path);
}

/* ---- records without a transaction object ---- */

static int record_batch(const struct sgt_store *st, json_t *recs)
{
	json_t *mine, *r;
	size_t i;
	int claimed = 0, rc = SGT_OK;

	if (json_array_size(recs) == 0)
		return SGT_OK;
	if ((mine = json_array()) == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	sgt_sig_hold();
	json_array_foreach(recs, i, r) {
		json_t *c = json_copy(r);

		/* A record of an open intent names the files staged since the last one. */
		if (c != NULL && json_object_get(c, "intent") == NULL && sgt_intent_nonce() != NULL)
			json_object_set_new(c, "intent", sgt_intent_take_staged());
		if (c == NULL || json_array_append_new(mine, c) != 0) {
			rc = sgt_err(SGT_ERR_DATA, "out of memory");
			break;
		}
		claimed |= json_object_get(c, "intent") != NULL;
	}
	/* The files the records name are durable before the records are. */
	if (rc == SGT_OK && claimed)
		rc = sgt_intent_sync_staged();
	if (rc == SGT_OK)
		rc = sgt_audit_write(st, mine, sgt_anchor_signer());
	if (claimed)
		sgt_intent_recorded(rc == SGT_OK);
	sgt_sig_release();
	json_decref(mine);
	return rc;
}

static int record_one(const struct sgt_store *st, const char *op, const char *label, const char *spki_sha256,
		      const char *result, json_t *details)
{
	json_t *recs = json_array(), *r = sgt_audit_rec(op, label, spki_sha256, result, details, NULL);
	int rc;

	if (recs == NULL || r == NULL || json_array_append(recs, r) != 0) {
		json_decref(recs);
		json_decref(r);
		return sgt_err(SGT_ERR_DATA, "out of memory");
	}
	json_decref(r);
	rc = record_batch(st, recs);
	json_decref(recs);
	return rc;
}

/* Refusals seen while the token guard is held wait until the module is unloaded (sgt_session_close). */
struct refusal {
	const struct sgt_store *st;
	json_t *rec;
};
static struct refusal pending[8];
static size_t npending;

static void refused_now(const struct sgt_store *st, json_t *r)
{
	const char *op = json_string_value(json_object_get(r, "op"));
	const char *label = json_string_value(json_object_get(r, "label"));
	const char *spki = json_string_value(json_object_get(r, "spki_sha256"));
	json_t *d = json_object_get(r, "details");
	int fd = -1, rc;

	if (!st->lock_exclusive) {
		/* Raise (or take) the store lock for this one append. */
		char *path = sgt_store_path(st, "lock");

		fd = st->lock_fd >= 0 ? st->lock_fd : (path ? open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600) : -1);
		free(path);
		if (fd < 0 || flock(fd, LOCK_EX) != 0) {
			sgt_warn("the refused attempt (%s) could not be recorded: the store lock is not available", op);
			if (fd >= 0 && fd != st->lock_fd)
				close(fd);
			return;
		}
	}
	rc = record_one(st, op, label, spki, "refused", d);
	if (rc != SGT_OK)
		sgt_warn("the refused attempt (%s) could not be recorded in the audit log", op);
	if (fd >= 0 && fd == st->lock_fd)
		flock(fd, LOCK_SH);
	else if (fd >= 0)
		close(fd);
}

void sgt_tx_refuse(const struct sgt_store *st, const char *op, const char *label, const char *spki_sha256,
		   json_t *details)
{
	json_t *r = json_pack("{s:s, s:s?, s:s?, s:O?}", "op", op, "label", label, "spki_sha256", spki_sha256,
			      "details", details);

	if (r == NULL || st == NULL || st->dir == NULL) {
		json_decref(r);
		return;
	}
	if (sgt_hsm_busy() && npending < sizeof(pending) / sizeof(pending[0])) {
		pending[npending].st = st;
		pending[npending++].rec = r;
		return;
	}
	refused_now(st, r);
	json_decref(r);
}

void sgt_record_refused(const struct sgt_store *st, const char *op, const char *label, const char *spki_sha256,
			const char *why)
{
	json_t *d = json_pack("{s:s}", "reason", why);

	if (d != NULL)
		sgt_tx_refuse(st, op, label, spki_sha256, d);
	json_decref(d);
}

int sgt_tx_recovered(const struct sgt_store *st, const char *label, json_t *report)
{
	return record_one(st, "recovered", label, NULL, "ok", report);
}

int sgt_tx_init_record(const struct sgt_store *st, const char *op, json_t *details)
{
	return record_one(st, op, NULL, NULL, "ok", details);
}

void sgt_record_flush_refused(void)
{
	size_t i;

	for (i = 0; i < npending; i++) {
		refused_now(pending[i].st, pending[i].rec);
		json_decref(pending[i].rec);
	}
	npending = 0;
}

int sgt_record_repairs(const struct sgt_store *st, json_t *made)
{
	json_t *due = NULL, *d;
	size_t i;
	int rc;

	if ((rc = sgt_hsm_repairs_due(st, made, &due)) != SGT_OK || due == NULL)
		return rc;
	json_array_foreach(due, i, d)
		if (rc == SGT_OK)
			rc = record_one(st, "recovered", NULL, NULL, "ok", d);
	if (rc == SGT_OK)
		sgt_hsm_repairs_recorded(st);
	json_decref(due);
	return rc;
}

static const struct sgt_session_recorder tx_recorder = {
	sgt_record_refused, sgt_record_repairs, sgt_tx_anchor, sgt_record_flush_refused,
};

void sgt_tx_install(void)
{
	sgt_session_recorder_set(&tx_recorder);
}
