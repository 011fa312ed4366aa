/*
 * fleet_records.c: what the fleet report reads from the store: recorded
 * builds (fleets/<fleet>/<version>.yaml: rendered for the caller to stage
 * in its transaction, loaded, merged into the inventory) and custody (key
 * records, current signer certificates, renewal windows).
 * Floor: ops.  It may call custody, base and formats; never cmd.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/x509.h>

#include "cert.h"
#include "certstore.h"
#include "fleet.h"
#include "fleet_records.h"
#include "keyrec.h"
#include "policy.h"
#include "yamltree.h"

static char *xstrdup(const char *s)
{
	char *d = s ? strdup(s) : NULL;

	if (s != NULL && d == NULL)
		sgt_err(SGT_ERR_DATA, "out of memory");
	return d;
}

/* -- recorded builds ------------------------------------------------------ */

static int record_path(const struct sgt_store *st, const char *fleet, const char *version, char **out)
{
	struct sgt_buf b = { 0 };

	if (sgt_buf_printf(&b, "%s/fleets/%s/%s.yaml", st->dir, fleet, version) != SGT_OK)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	*out = b.p;
	return SGT_OK;
}

static int put(struct sgt_buf *b, const char *indent, const char *key, const char *value)
{
	if (sgt_buf_printf(b, "%s%s: ", indent, key) != SGT_OK || sgt_yaml_quote(b, value) != SGT_OK ||
	    sgt_buf_add(b, "\n", 1) != SGT_OK)
		return SGT_ERR_DATA;
	return SGT_OK;
}

int sgt_fleet_record_render(const struct sgt_store *st, const char *fleet, const struct sgt_fleet_build *b,
			    char **path_out, struct sgt_buf *out)
{
	struct sgt_buf y = { 0 };
	char *path = NULL, t[32];
	size_t i;
	int rc;

	*path_out = NULL;
	if ((rc = record_path(st, fleet, b->version, &path)) != SGT_OK)
		return rc;
	rc = SGT_ERR_DATA;
	if (sgt_buf_printf(&y, "# recorded by signet fleet build add; what the artefact bakes in\n") != SGT_OK ||
	    put(&y, "", "fleet", fleet) || put(&y, "", "version", b->version) ||
	    put(&y, "", "artefact", b->artefact ? b->artefact : "") ||
	    put(&y, "", "artefact_sha256", b->artefact_sha256) || put(&y, "", "recorded", b->recorded_at))
		goto oom;
	if (b->devices > 0 && sgt_buf_printf(&y, "devices: %ld\n", b->devices) != SGT_OK)
		goto oom;
	if (sgt_buf_printf(&y, "keys:\n") != SGT_OK)
		goto oom;
	for (i = 0; i < b->nkeys; i++) {
		const struct sgt_fleet_key *k = &b->keys[i];

		if (put(&y, "  - ", "spki_sha256", k->spki_sha256) || put(&y, "    ", "algorithm", k->alg))
			goto oom;
		if (k->has_cert) {
			if (put(&y, "    ", "subject", k->subject) || put(&y, "    ", "serial", k->serial))
				goto oom;
			sgt_time_iso(k->not_before, t);
			if (put(&y, "    ", "not_before", t))
				goto oom;
			sgt_time_iso(k->not_after, t);
			if (put(&y, "    ", "not_after", t))
				goto oom;
			if (k->usage[0] != '\0' && put(&y, "    ", "usage", k->usage))
				goto oom;
		}
	}
	*path_out = path;
	path = NULL;
	*out = y;
	memset(&y, 0, sizeof(y));
	rc = SGT_OK;
	goto out;
oom:
	sgt_err(SGT_ERR_DATA, "out of memory");
out:
	sgt_buf_free(&y);
	free(path);
	return rc;
}

static int record_time(const char *file, const struct sgt_yaml *m, const char *key, time_t *out)
{
	const char *s = NULL;
	int rc = sgt_yaml_get_str(file, m, key, 1, &s);

	if (rc != SGT_OK)
		return rc;
	if (sgt_time_parse(s, out) != 0)
		return sgt_err(SGT_ERR_DATA, "%s:%d: field '%s': '%s' is not an RFC 3339 UTC time", file,
			       sgt_yaml_get(m, key)->line, key, s);
	return SGT_OK;
}

int sgt_fleet_record_load(const char *path, const char *fleet, const char *version, struct sgt_fleet_build *b)
{
	static const char *const allowed[] = {
		"fleet", "version", "artefact", "artefact_sha256", "recorded", "devices", "keys", NULL
	};
	static const char *const kallowed[] = {
		"spki_sha256", "algorithm", "subject", "serial", "not_before", "not_after", "usage", NULL
	};
	struct sgt_yaml *doc = NULL;
	const struct sgt_yaml *keys;
	const char *s = NULL, *v = NULL, *art = NULL, *sha = NULL, *rec = NULL;
	size_t i;
	int rc;

	if ((rc = sgt_yaml_load(path, &doc)) != SGT_OK)
		return rc;
	if ((rc = sgt_yaml_check_keys(path, doc, "a build record", allowed)) != SGT_OK ||
	    (rc = sgt_yaml_get_str(path, doc, "fleet", 1, &s)) != SGT_OK ||
	    (rc = sgt_yaml_get_str(path, doc, "version", 1, &v)) != SGT_OK ||
	    (rc = sgt_yaml_get_str(path, doc, "artefact", 0, &art)) != SGT_OK ||
	    (rc = sgt_yaml_get_str(path, doc, "artefact_sha256", 0, &sha)) != SGT_OK ||
	    (rc = sgt_yaml_get_str(path, doc, "recorded", 0, &rec)) != SGT_OK ||
	    (rc = sgt_yaml_get_long(path, doc, "devices", 0, 0, LONG_MAX / 4, &b->devices)) != SGT_OK)
		goto out;
	if (strcmp(s, fleet) != 0 || strcmp(v, version) != 0) {
		rc = sgt_err(SGT_ERR_DATA, "%s: records build '%s' of fleet '%s', not what its name says", path, v, s);
		goto out;
	}
	if (art && *art && (b->artefact = xstrdup(art)) == NULL) {
		rc = SGT_ERR_DATA;
		goto out;
	}
	snprintf(b->artefact_sha256, sizeof(b->artefact_sha256), "%s", sha ? sha : "");
	snprintf(b->recorded_at, sizeof(b->recorded_at), "%s", rec ? rec : "");
	keys = sgt_yaml_get(doc, "keys");
	if (keys == NULL || keys->kind != SGT_YAML_SEQ || keys->n == 0) {
		rc = sgt_err(SGT_ERR_DATA, "%s:%d: field 'keys': a build record lists the keys its devices trust",
			     path, keys ? keys->line : doc->line);
		goto out;
	}
	if ((b->keys = calloc(keys->n, sizeof(*b->keys))) == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	for (i = 0; i < keys->n; i++) {
		const struct sgt_yaml *k = keys->items[i];
		struct sgt_fleet_key *fk = &b->keys[i];
		const char *spki = NULL, *alg = NULL, *subj = NULL, *serial = NULL, *usage = NULL;

		if ((rc = sgt_yaml_check_keys(path, k, "a key", kallowed)) != SGT_OK ||
		    (rc = sgt_yaml_get_str(path, k, "spki_sha256", 1, &spki)) != SGT_OK ||
		    (rc = sgt_yaml_get_str(path, k, "algorithm", 0, &alg)) != SGT_OK ||
		    (rc = sgt_yaml_get_str(path, k, "subject", 0, &subj)) != SGT_OK ||
		    (rc = sgt_yaml_get_str(path, k, "serial", 0, &serial)) != SGT_OK ||
		    (rc = sgt_yaml_get_str(path, k, "usage", 0, &usage)) != SGT_OK)
			goto out;
		/* said in sentences: only what signet itself writes there */
		if (usage != NULL && strcmp(usage, SGT_FLEET_USAGE_CA) != 0 && strcmp(usage, SGT_FLEET_USAGE_OTHER) != 0) {
			rc = sgt_err(SGT_ERR_DATA, "%s:%d: field 'usage': not '%s' or '%s'", path,
				     sgt_yaml_get(k, "usage")->line, SGT_FLEET_USAGE_CA, SGT_FLEET_USAGE_OTHER);
			goto out;
		}
		if (strlen(spki) != 64 || strspn(spki, "0123456789abcdef") != 64) {
			rc = sgt_err(SGT_ERR_DATA, "%s:%d: field 'spki_sha256': not 64 lower-case hex digits", path,
				     sgt_yaml_get(k, "spki_sha256")->line);
			goto out;
		}
		memcpy(fk->spki_sha256, spki, 65);
		snprintf(fk->alg, sizeof(fk->alg), "%s", alg ? alg : "");
		if (serial != NULL) {
			fk->has_cert = 1;
			snprintf(fk->subject, sizeof(fk->subject), "%s", subj ? subj : "");
			snprintf(fk->serial, sizeof(fk->serial), "%s", serial);
			if ((rc = record_time(path, k, "not_before", &fk->not_before)) != SGT_OK ||
			    (rc = record_time(path, k, "not_after", &fk->not_after)) != SGT_OK)
				goto out;
			snprintf(fk->usage, sizeof(fk->usage), "%s", usage ? usage : "");
		}
		b->nkeys++;
	}
out:
	sgt_yaml_free(doc);
	if (rc != SGT_OK)
		sgt_fleet_build_release(b);	/* a failed load leaves nothing to free */
	return rc;
}

int sgt_fleet_records_merge(const struct sgt_store *st, struct sgt_inventory *inv)
{
	char *root = sgt_store_path(st, "fleets"), **fleets = NULL, **versions = NULL;
	size_t nf = 0, nv = 0, i, j;
	int rc;

	if (root == NULL)
		return SGT_ERR_DATA;
	/* Fleet directories carry no suffix: list entries via a "" suffix and keep the valid names. */
	if ((rc = sgt_dir_names(root, "", &fleets, &nf)) != SGT_OK)
		goto out;
	for (i = 0; i < nf && rc == SGT_OK; i++) {
		struct sgt_buf dir = { 0 };
		struct sgt_fleet *f;

		if (!sgt_fleet_name_ok(fleets[i]))
			continue;
		if (sgt_buf_printf(&dir, "%s/%s", root, fleets[i]) != SGT_OK) {
			rc = sgt_err(SGT_ERR_DATA, "out of memory");
			break;
		}
		rc = sgt_dir_names(dir.p, ".yaml", &versions, &nv);
		for (j = 0; j < nv && rc == SGT_OK; j++) {
			struct sgt_fleet_build rec, *b;
			struct sgt_buf p = { 0 };

			memset(&rec, 0, sizeof(rec));
			if (sgt_buf_printf(&p, "%s/%s.yaml", dir.p, versions[j]) != SGT_OK) {
				rc = sgt_err(SGT_ERR_DATA, "out of memory");
				break;
			}
			rc = sgt_fleet_record_load(p.p, fleets[i], versions[j], &rec);
			sgt_buf_free(&p);
			if (rc == SGT_OK && (f = sgt_inventory_fleet(inv, fleets[i])) == NULL)
				rc = sgt_inventory_add_fleet(inv, fleets[i], &f);
			if (rc == SGT_OK && (b = sgt_fleet_build_find(f, versions[j])) == NULL) {
				if ((rc = sgt_fleet_build_new(f, versions[j], &b)) == SGT_OK)
					b->devices = rec.devices;
			}
			if (rc == SGT_OK) {
				/* The inventory's own artefact (if any) is re-read; the record's keys stand otherwise. */
				if (b->artefact == NULL) {
					free(b->keys);
					b->keys = rec.keys;
					b->nkeys = rec.nkeys;
					rec.keys = NULL;
					b->artefact = rec.artefact;
					rec.artefact = NULL;
					memcpy(b->artefact_sha256, rec.artefact_sha256, sizeof(b->artefact_sha256));
				}
				memcpy(b->recorded_at, rec.recorded_at, sizeof(b->recorded_at));
				if (b->devices == 0)
					b->devices = rec.devices;
			}
			sgt_fleet_build_release(&rec);
		}
		sgt_names_free(versions, nv);
		versions = NULL;
		nv = 0;
		sgt_buf_free(&dir);
	}
out:
	sgt_names_free(fleets, nf);
	free(root);
	return rc;
}

/* -- custody --------------------------------------------------------------- */

static void subject_cn(X509 *x, char *out, size_t cap)
{
	X509_NAME *n = X509_get_subject_name(x);
	int i = n ? X509_NAME_get_index_by_NID(n, NID_commonName, -1) : -1;
	unsigned char *u = NULL;

	out[0] = '\0';
	if (i < 0)
		return;
	if (ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i))) >= 0)
		snprintf(out, cap, "%s", (char *)u);
	OPENSSL_free(u);
}

int sgt_fleet_custody_load(const struct sgt_store *st, struct sgt_fleet_custody **out, size_t *n)
{
	struct sgt_keyrec *recs = NULL;
	struct sgt_fleet_custody *v = NULL;
	size_t nrecs = 0, i;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = sgt_keyrec_list(st, &recs, &nrecs)) != SGT_OK)
		return rc;
	if (nrecs > 0 && (v = calloc(nrecs, sizeof(*v))) == NULL) {
		free(recs);
		return sgt_err(SGT_ERR_DATA, "out of memory");
	}
	for (i = 0; i < nrecs && rc == SGT_OK; i++) {
		struct sgt_fleet_custody *c = &v[i];
		const char *pname = recs[i].policy[0] ? recs[i].policy : st->cfg.policy;
		struct sgt_policy *pol = NULL;
		X509 *cur = NULL;

		memcpy(c->label, recs[i].label, sizeof(c->label));
		memcpy(c->spki_sha256, recs[i].spki_sha256, sizeof(c->spki_sha256));
		c->renew_before_days = SGT_RENEW_DEFAULT_DAYS;
		if (pname != NULL && *pname) {
			if ((rc = sgt_policy_find(st->dir, pname, &pol)) != SGT_OK)
				break;
			c->renew_before_days = pol->renew_before_days;
			c->needs_approvals = pol->approvals_required > 0;
			snprintf(c->policy, sizeof(c->policy), "%s", pol->name);
			sgt_policy_free(pol);
		}
		if ((rc = sgt_cert_store_current(st, c->label, &cur)) != SGT_OK)
			break;
		if (cur != NULL) {
			char spki[65];

			/* A current.pem for another key would make the report lie: refuse it. */
			if (sgt_cert_spki_sha256(cur, spki) != SGT_OK || strcmp(spki, c->spki_sha256) != 0)
				rc = sgt_err(SGT_ERR_DATA, "certs/%s/current.pem is not a certificate for key '%s'",
					     c->label, c->label);
			else if (sgt_cert_times(cur, &c->not_before, &c->not_after) != SGT_OK)
				rc = sgt_err(SGT_ERR_DATA, "certs/%s/current.pem has unreadable validity dates", c->label);
			else {
				c->has_signer = 1;
				c->foreign_issuer = !sgt_cert_issuer_held(st, cur);
				sgt_cert_serial_hex(cur, c->serial, sizeof(c->serial));
				subject_cn(cur, c->subject_cn, sizeof(c->subject_cn));
			}
			X509_free(cur);
		}
	}
	free(recs);
	if (rc != SGT_OK) {
		free(v);
		return rc;
	}
	*out = v;
	*n = nrecs;
	return SGT_OK;
}
