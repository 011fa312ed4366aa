/*
 * approve.h: the two-person rule (SPEC "approve"): the allowed_signers
 * file a key's policy names, counted and loaded for the gate.
 */
#ifndef SGT_APPROVE_H
#define SGT_APPROVE_H

#include <stddef.h>

#include "sshsig.h"

/*
 * Loads the allowed_signers file named by a policy: an absolute path as
 * is, else relative to store_dir (required then).  The path read goes to
 * path.  SGT_OK or reported SGT_ERR_DATA naming the file.
 */
int sgt_approve_signers_load(const char *store_dir, const char *file, struct sgt_signers *out, char *path,
			     size_t cap);

/* Distinct principal patterns (negations not counted) across all lines. */
size_t sgt_approve_principal_count(const struct sgt_signers *s);

#endif
