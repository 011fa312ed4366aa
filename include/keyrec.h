/*
 * keyrec.h: key records, <store>/keys/<label>.yaml: one YAML file per key
 * in custody (label, CKA_ID, algorithm, SPKI hash, origin, custody
 * attributes, retirement).  Read by anyone; written only through a
 * transaction (sgt_keyrec_stage) or sgt_put inside an intent.
 */
#ifndef SGT_KEYREC_H
#define SGT_KEYREC_H

#include "store.h"

/* Key records: <store>/keys/<label>.yaml. */
int sgt_keyrec_load(const struct sgt_store *st, const char *label, struct sgt_keyrec *out);
/* Returns 1 when a record for label exists, 0 otherwise. */
int sgt_keyrec_exists(const struct sgt_store *st, const char *label);
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
/* Removes the record a failed command just wrote (rollback only). */
void sgt_keyrec_remove(const struct sgt_store *st, const char *label);
/* All records, sorted by label; *out malloc'd (free with free()). */
int sgt_keyrec_list(const struct sgt_store *st, struct sgt_keyrec **out, size_t *n);
/* The record in recs whose spki_sha256 is spki, or NULL. */
const struct sgt_keyrec *sgt_keyrec_by_spki(const struct sgt_keyrec *recs, size_t n, const char *spki);

#endif
