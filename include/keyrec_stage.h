/*
 * keyrec_stage.h: writing key records (keyrec.h), in a transaction (ops floor).
 */
#ifndef SGT_KEYREC_STAGE_H
#define SGT_KEYREC_STAGE_H

#include "keyrec.h"

struct sgt_tx;
/*
 * Stages rec in tx (tx.h), put in place by sgt_tx_commit; flags as
 * sgt_tx_stage's (SGT_TX_EXCL: a new record, never replacing one).
 */
int sgt_keyrec_stage(struct sgt_tx *tx, const struct sgt_store *st, const struct sgt_keyrec *rec, unsigned flags);
/* Writes a new record; refuses to replace one (exclusive).  Through sgt_put: inside an intent it is staged. */
int sgt_keyrec_save(const struct sgt_store *st, const struct sgt_keyrec *rec);
/* Replaces an existing record (key retirement); through sgt_put, so inside an intent it is staged. */
int sgt_keyrec_update(const struct sgt_store *st, const struct sgt_keyrec *rec);

#endif
