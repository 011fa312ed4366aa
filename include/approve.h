/*
 * approve.h: the two-person rule (SPEC "approve"): the allowed_signers
 * file a key's policy names, counted and loaded for the gate.
 */
#ifndef SGT_APPROVE_H
#define SGT_APPROVE_H

#include <stddef.h>

#include "sshsig.h"

struct sgt_policy;

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
 * are needed; SGT_ERR_DATA for unreadable files.  pol is the policy
 * sgt_approve_policy_name names, already read by the caller (NULL: it
 * names none), so that a sign reads its policy file once.
 */
int sgt_approve_sign_gate(const struct sgt_store *st, const struct sgt_keyrec *rec, const struct sgt_policy *pol,
			  const char *fleet, char *const *images, int nimages, char *const *sigs, int nsigs,
			  const char *approvals_dir, json_t **details);

/* The policy whose approvals block rules key rec: its own, else the store's (NULL: none). */
const char *sgt_approve_policy_name(const struct sgt_store *st, const struct sgt_keyrec *rec);

/*
 * 1 when that policy asks for approvals, so that only a command given them
 * acts on the key (never `signet renew`); 0 when not, or when the policy
 * cannot be read (said on stderr; the command that acts then refuses).
 */
int sgt_approve_needed(const struct sgt_store *st, const struct sgt_keyrec *rec);

/* The approvals given on a command line: --approval SIG... (sigs) or --approvals DIR. */
struct sgt_approve_given {
	char *const *sigs;
	int nsigs;
	const char *dir;
};

/*
 * The gate of the other operations (rotate.start, rotate.finish,
 * cert.reissue, key.adopt), the same rule as sign's with the same judge:
 * when policy asks for approvals, the request must be one for op, for this
 * key (spki; for key.adopt, whose key is not in custody yet, spki NULL and
 * the label), not expired, whose "params" equal params exactly (made by
 * the sgt_approve_params_* below, as `approve request` makes them), and
 * approved by N distinct principals.  Returns as the sign gate; the caller
 * records a verdict as refused and puts *details in its audit record.
 */
int sgt_approve_op_gate(const struct sgt_store *st, const char *op, const char *label, const char *spki,
			const char *policy, const json_t *params, const struct sgt_approve_given *g, json_t **details);

/* What a request for each operation names besides the key (new references). */
json_t *sgt_approve_params_rotate(const char *new_label, const char *new_spki, const char *started);
json_t *sgt_approve_params_reissue(const char *subject, long days, const char *policy);
json_t *sgt_approve_params_adopt(const char *id, const char *uri, const char *policy);
