/*
 * approve.c: the two-person rule: loading and counting the allowed
 * signers a key's policy names.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "approve.h"
#include "dbstore.h"
#include "sgt.h"

int sgt_approve_signers_load(const char *store_dir, const char *file, struct sgt_signers *out, char *path,
			     size_t cap)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (file[0] == '/')
		snprintf(path, cap, "%s", file);
	else if (store_dir != NULL)
		snprintf(path, cap, "%s/%s", store_dir, file);
	else
		return sgt_err(SGT_ERR_DATA, "%s: an allowed_signers path relative to the store, but no store", file);
	if ((rc = sgt_db_shared_read(path)) != SGT_OK || (rc = sgt_file_read(path, 1 << 20, &buf, &len)) != SGT_OK)
		return rc;
	rc = sgt_signers_parse((const char *)buf, len, path, out);
	free(buf);
	return rc;
}

/* 1 when the first l bytes of p are already among the earlier patterns. */
static int seen_before(const struct sgt_signers *s, size_t upto_line, const char *upto, const char *p, size_t l)
{
	size_t i;

	for (i = 0; i <= upto_line; i++) {
		const char *q = s->v[i].principals;

		while (*q != '\0' && q != upto) {
			const char *c = strchr(q, ',');
			size_t ql = c != NULL ? (size_t)(c - q) : strlen(q);

			if (ql == l && memcmp(q, p, l) == 0)
				return 1;
			q += ql;
			if (*q == ',')
				q++;
		}
	}
	return 0;
}

size_t sgt_approve_principal_count(const struct sgt_signers *s)
{
	size_t i, n = 0;

	for (i = 0; i < s->n; i++) {
		const char *p = s->v[i].principals;

		while (*p != '\0') {
			const char *c = strchr(p, ',');
			size_t l = c != NULL ? (size_t)(c - p) : strlen(p);

			if (l > 0 && p[0] != '!' && !seen_before(s, i, p, p, l))
				n++;
			p += l;
			if (*p == ',')
				p++;
		}
	}
	return n;
}

#include <dirent.h>

#include "policy.h"
#include "store.h"

#define MAX_SIGS 64

/* The request of --approvals DIR (its one *.json) and its *.sig files. */
static int scan_dir(const char *dir, char **req, char **sigs, int *nsigs)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int rc = SGT_OK;

	if (d == NULL)
		return sgt_err(SGT_ERR_DATA, "%s: cannot open the approvals directory", dir);
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		char *p;

		if (l > 5 && strcmp(e->d_name + l - 5, ".json") == 0) {
			if (*req != NULL) {
				rc = sgt_err(SGT_ERR_DATA, "%s: more than one request (*.json) in the approvals directory",
					     dir);
				break;
			}
			if (asprintf(req, "%s/%s", dir, e->d_name) < 0)
				*req = NULL;
		} else if (l > 4 && strcmp(e->d_name + l - 4, ".sig") == 0 && *nsigs < MAX_SIGS) {
			if (asprintf(&p, "%s/%s", dir, e->d_name) >= 0)
				sigs[(*nsigs)++] = p;
		}
	}
	closedir(d);
	if (rc == SGT_OK && *req == NULL)
		rc = sgt_err(SGT_ERR_DATA, "%s: no request (*.json) in the approvals directory", dir);
	return rc;
}

static int images_match(const json_t *want, char *const *images, int nimages, const char *req)
{
	int i;
	size_t j;
	json_t *w;

	if (json_array_size(want) != (size_t)nimages)
		return sgt_err(SGT_ERR_VERDICT, "%s approves %zu image%s, not the %d given", req,
			       json_array_size(want), json_array_size(want) == 1 ? "" : "s", nimages);
	for (i = 0; i < nimages; i++) {
		unsigned char *buf = NULL;
		size_t len = 0;
		char hex[65];
		int found = 0;

		if (sgt_file_read(images[i], (size_t)1 << 31, &buf, &len) != SGT_OK)
			return SGT_ERR_DATA;
		sgt_sha256_hex(buf, len, hex);
		free(buf);
		json_array_foreach(want, j, w) {
			const char *h = json_string_value(json_object_get(w, "sha256"));

			if (h != NULL && strcmp(h, hex) == 0 && json_integer_value(json_object_get(w, "size")) == (json_int_t)len)
				found = 1;
		}
		if (!found)
			return sgt_err(SGT_ERR_VERDICT, "%s: not approved: %s does not approve these bytes (SHA-256 %s)",
				       images[i], req, hex);
	}
	return SGT_OK;
}

int sgt_approve_judge(const char *sigfile, const unsigned char *req, size_t reqlen, const struct sgt_signers *signers,
		      const char *signers_path, const char *ns, const char *const *seen, size_t nseen,
		      struct sgt_approval *a)
{
	unsigned char *sb = NULL;
	size_t sl = 0, j;
	struct sgt_sshsig s;
	char why[128];
	const struct sgt_signer *g;
	int rc;

	memset(a, 0, sizeof(*a));
	if ((rc = sgt_file_read(sigfile, 1 << 16, &sb, &sl)) != SGT_OK) {
		free(sb);
		return rc;
	}
	rc = sgt_sshsig_parse((const char *)sb, sl, &s, a->why, sizeof(a->why));
	free(sb);
	if (rc != SGT_OK)
		return SGT_ERR_VERDICT;
	sgt_sshsig_fingerprint(s.pub, s.publen, a->fp);
	rc = SGT_ERR_VERDICT;
	if (sgt_sshsig_verify(&s, ns, req, reqlen, why, sizeof(why)) != SGT_OK)
		snprintf(a->why, sizeof(a->why), "%s (%s)", why, a->fp);
	else if ((g = sgt_signers_find(signers, s.pub, s.publen, ns, sgt_now())) == NULL)
		snprintf(a->why, sizeof(a->why), "key %s is not in %s", a->fp, signers_path);
	else {
		for (j = 0; j < nseen && strcmp(seen[j], g->principals) != 0; j++)
			;
		if (j < nseen)
			snprintf(a->why, sizeof(a->why), "%s has approved already", g->principals);
		else {
			a->principal = g->principals;
			rc = SGT_OK;
		}
	}
	sgt_sshsig_release(&s);
	return rc;
}

const char *sgt_approve_policy_name(const struct sgt_store *st, const struct sgt_keyrec *rec)
{
	const char *n = rec != NULL && rec->policy[0] != '\0' ? rec->policy : st->cfg.policy;

	return n != NULL && n[0] != '\0' ? n : NULL;
}

int sgt_approve_needed(const struct sgt_store *st, const struct sgt_keyrec *rec)
{
	const char *name = sgt_approve_policy_name(st, rec);
	struct sgt_policy *pol = NULL;
	int n;

	if (name == NULL || sgt_policy_find(st->dir, name, &pol) != SGT_OK)
		return 0;
	n = pol->approvals_required > 0;
	sgt_policy_free(pol);
	return n;
}

json_t *sgt_approve_params_rotate(const char *new_label, const char *new_spki, const char *started)
{
	return json_pack("{s:s, s:s, s:s?}", "new", new_label, "new_spki_sha256", new_spki, "started", started);
}

json_t *sgt_approve_params_reissue(const char *subject, long days, const char *policy)
{
	return json_pack("{s:s, s:I, s:s?}", "subject", subject, "days", (json_int_t)days, "policy", policy);
}

json_t *sgt_approve_params_adopt(const char *id, const char *uri, const char *policy)
{
	return json_pack("{s:s?, s:s?, s:s}", "id", id, "uri", uri, "policy", policy);
}

/* What a sign request must match: its fleet gate and its images. */
struct sign_ask {
	const char *fleet;
	char *const *images;
	int nimages;
};

/*
 * The one gate: the request named by g must be for op on this key (spki,
 * or label where the key is not in custody yet), not expired, and match
 * what is asked (sign: fleet and images; other operations: params, exactly);
 * then N distinct principals must have approved it (sgt_approve_judge).
 */
static int gate(const struct sgt_store *st, const char *op, const char *label, const char *spki, const char *pname,
		const struct sgt_policy *given, const struct sign_ask *sa, const json_t *params,
		const struct sgt_approve_given *g, json_t **details)
{
	struct sgt_policy *read = NULL;
	const struct sgt_policy *pol = given;
	struct sgt_signers signers = { 0 };
	char *req = NULL, *sigs[MAX_SIGS], path[4096], rhash[65], who[1024] = "";
	const char *seen[MAX_SIGS];
	unsigned char *buf = NULL;
	size_t len = 0;
	int nsigs = 0, napproved = 0, i, rc;
	json_t *doc = NULL, *approvers = json_array();
	const char *rspki, *rlabel, *expires, *rop;
	time_t exp;

	*details = NULL;
	/* A policy that cannot be read stops the operation (fail closed): it may be the one asking for approvals. */
	if (given == NULL && pname != NULL && (rc = sgt_policy_find(st->dir, pname, &read)) != SGT_OK) {
		json_decref(approvers);
		return rc;
	}
	if (given == NULL)
		pol = read;
	if (pol == NULL || pol->approvals_required == 0) {
		if (g->nsigs > 0 || g->dir != NULL)
			sgt_warn("key '%s' needs no approvals (policy %s asks for none): the approvals given were not checked",
				 label, pol != NULL ? pol->name : "(none)");
		sgt_policy_free(read);
		json_decref(approvers);
		return SGT_OK;
	}
	if (g->dir != NULL) {
		if ((rc = scan_dir(g->dir, &req, sigs, &nsigs)) != SGT_OK)
			goto out;
	} else if (g->nsigs > 0) {
		const char *j = strstr(g->sigs[0], ".json");

		if (j == NULL) {
			rc = sgt_err(SGT_ERR_DATA, "%s: an approval is named after its request (REQ.json.sig)", g->sigs[0]);
			goto out;
		}
		req = strndup(g->sigs[0], (size_t)(j - g->sigs[0]) + 5);
		for (i = 0; i < g->nsigs && i < MAX_SIGS; i++)
			sigs[nsigs++] = strdup(g->sigs[i]);
	} else {
		if (strcmp(op, "sign") == 0)
			rc = sgt_err(SGT_ERR_VERDICT, "key '%s' signs only with %ld approvals (policy %s): none given "
				     "(--approval SIG... or --approvals DIR)", label, pol->approvals_required, pol->name);
		else
			rc = sgt_err(SGT_ERR_VERDICT, "key '%s' needs %ld approvals for %s (policy %s): none given "
				     "(--approval SIG... or --approvals DIR of 'signet approve request --op %s')", label,
				     pol->approvals_required, op, pol->name, op);
		goto out;
	}
	if ((rc = sgt_file_read(req, 1 << 20, &buf, &len)) != SGT_OK)
		goto out;
	sgt_sha256_hex(buf, len, rhash);
	doc = json_loadb((const char *)buf, len, 0, NULL);
	rop = json_string_value(json_object_get(doc, "operation"));
	rlabel = json_string_value(json_object_get(json_object_get(doc, "key"), "label"));
	rspki = json_string_value(json_object_get(json_object_get(doc, "key"), "spki_sha256"));
	expires = json_string_value(json_object_get(doc, "expires"));
	if (doc == NULL || rop == NULL || rlabel == NULL || expires == NULL || sgt_time_parse(expires, &exp) != 0 ||
	    strcmp(json_string_value(json_object_get(doc, "type")) ? json_string_value(json_object_get(doc, "type")) : "",
		   "signet-approval-request") != 0) {
		rc = sgt_err(SGT_ERR_DATA, "%s: not a signet approval request", req);
		goto out;
	}
	/* A request approves one operation: approvals of a signature never open a rotation, nor the reverse. */
	if (strcmp(rop, op) != 0) {
		rc = sgt_err(SGT_ERR_VERDICT, "%s approves %s, not %s: make a request with --op %s and have it approved",
			     req, rop, op, op);
		goto out;
	}
	if (spki != NULL ? rspki == NULL || strcmp(rspki, spki) != 0 : strcmp(rlabel, label) != 0) {
		rc = sgt_err(SGT_ERR_VERDICT, "%s is a request for another key ('%s'%s%.16s%s), not '%s'", req, rlabel,
			     rspki ? ", SPKI " : "", rspki ? rspki : "", rspki ? ".." : "", label);
		goto out;
	}
	if (sgt_now() > exp) {
		rc = sgt_err(SGT_ERR_VERDICT, "%s expired at %s: make a new request and have it approved", req, expires);
		goto out;
	}
	if (sa != NULL) {
		const char *rfleet = json_string_value(json_object_get(doc, "fleet"));

		if ((rfleet == NULL) != (sa->fleet == NULL) || (sa->fleet != NULL && strcmp(sa->fleet, rfleet) != 0)) {
			rc = sgt_err(SGT_ERR_VERDICT, "%s approves signing %s%s, not %s%s", req,
				     rfleet ? "for fleet " : "without --fleet", rfleet ? rfleet : "",
				     sa->fleet ? "for fleet " : "without --fleet", sa->fleet ? sa->fleet : "");
			goto out;
		}
		if ((rc = images_match(json_object_get(doc, "images"), sa->images, sa->nimages, req)) != SGT_OK)
			goto out;
	} else if (!json_equal(json_object_get(doc, "params"), (json_t *)params)) {
		char *want = json_dumps(json_object_get(doc, "params"), JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
		char *have = json_dumps(params, JSON_SORT_KEYS | JSON_COMPACT);

		rc = sgt_err(SGT_ERR_VERDICT, "%s approves %s with %s, not %s", req, op, want ? want : "nothing",
			     have ? have : "?");
		free(want);
		free(have);
		goto out;
	}
	if ((rc = sgt_approve_signers_load(st->dir, pol->approvals_allowed_signers, &signers, path, sizeof(path))) !=
	    SGT_OK)
		goto out;
	for (i = 0; i < nsigs; i++) {
		struct sgt_approval a;

		/* An unreadable file (said) or an approval that does not count is passed over: the count decides. */
		if (sigs[i] == NULL || sgt_approve_judge(sigs[i], buf, len, &signers, path, pol->approvals_namespace, seen,
							(size_t)napproved, &a) != SGT_OK)
			continue;
		seen[napproved++] = a.principal;
		json_array_append_new(approvers, json_pack("{s:s, s:s}", "principal", a.principal, "fingerprint", a.fp));
		snprintf(who + strlen(who), sizeof(who) - strlen(who), "%s%s", napproved > 1 ? ", " : "", a.principal);
	}
	if (napproved < pol->approvals_required) {
		rc = sgt_err(SGT_ERR_VERDICT, "key '%s' needs %ld approvals of %s: %d valid (%s), %ld more needed",
			     label, pol->approvals_required, req, napproved, napproved ? who : "none",
			     pol->approvals_required - napproved);
		goto out;
	}
	*details = json_pack("{s:s, s:s, s:s, s:O}", "request", req, "request_sha256", rhash, "operation", op,
			     "approvers", approvers);
	rc = *details != NULL ? SGT_OK : sgt_err(SGT_ERR_DATA, "out of memory");
out:
	for (i = 0; i < nsigs; i++)
		free(sigs[i]);
	free(req);
	free(buf);
	json_decref(doc);
	json_decref(approvers);
	sgt_signers_release(&signers);
	sgt_policy_free(read);
	return rc;
}

int sgt_approve_sign_gate(const struct sgt_store *st, const struct sgt_keyrec *rec, const struct sgt_policy *pol,
			  const char *fleet, char *const *images, int nimages, char *const *given, int ngiven,
			  const char *approvals_dir, json_t **details)
{
	struct sign_ask sa = { fleet, images, nimages };
	struct sgt_approve_given g = { given, ngiven, approvals_dir };

	return gate(st, "sign", rec->label, rec->spki_sha256, sgt_approve_policy_name(st, rec), pol, &sa, NULL, &g,
		    details);
}

int sgt_approve_op_gate(const struct sgt_store *st, const char *op, const char *label, const char *spki,
			const char *policy, const json_t *params, const struct sgt_approve_given *g, json_t **details)
{
	return gate(st, op, label, spki, policy != NULL && policy[0] != '\0' ? policy : NULL, NULL, NULL, params, g,
		    details);
}
