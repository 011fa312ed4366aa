/*
 * audit.h: the tamper-evident log.  Each state-changing operation appends
 * one JSON line to <store>/audit.log carrying the SHA-256 of the previous
 * line; <store>/audit.head holds the hash of the last line.  Verification
 * recomputes the chain and names the first record that does not fit.
 * Appending fails closed: if the record cannot be written, the operation
 * must be undone by the caller.
 */
#ifndef SGT_AUDIT_H
#define SGT_AUDIT_H

#include <jansson.h>

#include "store.h"

/*
 * Appends {seq, time, op, label, spki_sha256, result, details, prev}.
 * label, spki may be NULL; details (may be NULL) is borrowed.  Caller holds
 * the store's exclusive lock.
 */
int sgt_audit_append(const struct sgt_store *st, const char *op, const char *label,
		     const char *spki_sha256, const char *result, json_t *details);

struct sgt_audit_result {
	size_t records;		/* lines read */
	size_t bad;		/* 1-based line of the first bad record, 0 when intact */
	char why[256];		/* what is wrong with it */
};

/* Recomputes the chain.  SGT_OK when intact, SGT_ERR_VERDICT when not. */
int sgt_audit_verify(const struct sgt_store *st, struct sgt_audit_result *res);
/* All records (parsed) since `since` (0 = all), as a new JSON array. */
int sgt_audit_read(const struct sgt_store *st, time_t since, json_t **out);

#endif
