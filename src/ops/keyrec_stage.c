/*
 * keyrec_stage.c: writing key records (keyrec_stage.h): staged in the
 * command's transaction, or through sgt_put inside an open intent, so a
 * record is in place only once its audit record is durable.  Reading and
 * encoding them is keyrec.c's (base).
 * Floor: ops.  It may call custody (tx, intent) and base; never cmd.
 */
#include <stdlib.h>

#include "intent.h"
#include "keyrec.h"
#include "keyrec_stage.h"
#include "tx.h"

/* With tx, staged in it (flags as sgt_tx_stage's); without, through sgt_put (staged while an intent is open). */
static int keyrec_write(struct sgt_tx *tx, const struct sgt_store *st, const struct sgt_keyrec *rec, unsigned flags)
{
	char *path;
	struct sgt_buf b = { 0 };
	int rc;

	/* The label names a file; the other fields are hex, names and times we made. */
	if ((rc = sgt_label_check(rec->label)) != SGT_OK)
		return rc;
	if ((path = sgt_keyrec_path(st, rec->label)) == NULL)
		return SGT_ERR_DATA;
	if ((rc = sgt_keyrec_encode(rec, &b)) == SGT_OK)
		rc = tx != NULL ? sgt_tx_stage(tx, path, b.p, b.len, flags)
				: sgt_put(path, b.p, b.len, (flags & SGT_TX_EXCL) != 0);
	sgt_buf_free(&b);
	free(path);
	return rc;
}

int sgt_keyrec_stage(struct sgt_tx *tx, const struct sgt_store *st, const struct sgt_keyrec *rec, unsigned flags)
{
	return keyrec_write(tx, st, rec, flags);
}

int sgt_keyrec_save(const struct sgt_store *st, const struct sgt_keyrec *rec)
{
	return keyrec_write(NULL, st, rec, SGT_TX_EXCL);
}

int sgt_keyrec_update(const struct sgt_store *st, const struct sgt_keyrec *rec)
{
	return keyrec_write(NULL, st, rec, 0);
}
