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

/*
 * One approval, judged as the gate counts it and `approve show` reports
 * it: the SSH signature in sigfile over the request's bytes (req, reqlen)
 * in namespace ns, by a key of signers (read from signers_path) valid now,
 * whose principal is not among the nseen already counted.  SGT_OK: it
 * counts (a->principal, borrowed from signers, and a->fp set).
 * SGT_ERR_VERDICT: it does not, and a->why says why.  SGT_ERR_DATA
 * (reported): sigfile cannot be read.
 */
struct sgt_approval {
	const char *principal;
	char fp[64];
	char why[384];
};
int sgt_approve_judge(const char *sigfile, const unsigned char *req, size_t reqlen, const struct sgt_signers *signers,
		      const char *signers_path, const char *ns, const char *const *seen, size_t nseen,
		      struct sgt_approval *a);

#endif

#include <jansson.h>

struct sgt_store;
struct sgt_keyrec;

/*
 * The sign gate.  When rec's policy asks for approvals, the request (the
 * one *.json of approvals_dir, or for --approval the signature's path up
 * to ".json") must name this key, these images (SHA-256 and size), this
 * fleet and not be expired, and N distinct principals of allowed_signers
 * must have signed its bytes in the policy's namespace.  SGT_OK with
 * *details NULL (no rule) or the audit details (request hash, approvers);
 * SGT_ERR_VERDICT with one line saying who has approved and how many more
 * are needed; SGT_ERR_DATA for unreadable files.
 */
int sgt_approve_sign_gate(const struct sgt_store *st, const struct sgt_keyrec *rec, const char *fleet,
			  char *const *images, int nimages, char *const *sigs, int nsigs, const char *approvals_dir,
			  json_t **details);
