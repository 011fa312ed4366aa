/*
 * keyrec.h: key records, <store>/keys/<label>.yaml: one YAML file per key
 * in custody (label, CKA_ID, algorithm, SPKI hash, origin, custody
 * attributes, retirement).  Read by anyone (base floor); written only
 * through a transaction (keyrec_stage.h, ops floor).
 */
#ifndef SGT_KEYREC_H
#define SGT_KEYREC_H

#include "store.h"

/* Key records: <store>/keys/<label>.yaml. */
int sgt_keyrec_load(const struct sgt_store *st, const char *label, struct sgt_keyrec *out);
/* Returns 1 when a record for label exists, 0 otherwise. */
int sgt_keyrec_exists(const struct sgt_store *st, const char *label);
/* keys/<label>.yaml (malloc'd), NULL when out of memory. */
char *sgt_keyrec_path(const struct sgt_store *st, const char *label);
/* The record's YAML in b (reset first); label and fields are not checked here. */
int sgt_keyrec_encode(const struct sgt_keyrec *rec, struct sgt_buf *b);
/* Removes the record a failed command just wrote (rollback only). */
void sgt_keyrec_remove(const struct sgt_store *st, const char *label);
/* All records, sorted by label; *out malloc'd (free with free()). */
int sgt_keyrec_list(const struct sgt_store *st, struct sgt_keyrec **out, size_t *n);
/* The record in recs whose spki_sha256 is spki, or NULL. */
const struct sgt_keyrec *sgt_keyrec_by_spki(const struct sgt_keyrec *recs, size_t n, const char *spki);

#endif
