/*
 * rotate.c: key rotation records, the lineage statement "OLD vouches for
 * NEW" (canonical JSON with a detached signature, checkable with the
 * openssl CLI alone), and the fleet arithmetic that keeps a rotation from
 * stranding devices: which fleets' devices trust which key (a build that
 * bakes several keys trusts each), whether a key may sign for a fleet,
 * and how far each fleet has moved.  It reads fleets through the fleet
 * module and never writes: cmd_rotate.c writes under an intent.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "dbstore.h"
#include "fleet_records.h"
#include "rotate.h"
#include "yamltree.h"

char *sgt_rotation_path(const struct sgt_store *st, const char *old, const char *suffix)
{
	struct sgt_buf b = { 0 };

	if (sgt_buf_printf(&b, "%s/rotations/%s%s", st->dir, old, suffix) != SGT_OK)
		return NULL;
	return b.p;
}

static int field(const char *path, const struct sgt_yaml *root, const char *key, int required, char *dst, size_t cap)
{
	const char *v = NULL;
	int rc = sgt_yaml_get_str(path, root, key, required, &v);

	if (rc != SGT_OK || v == NULL)
		return rc;
	if (strlen(v) >= cap)
		return sgt_err(SGT_ERR_DATA, "%s:%d: field '%s' is too long", path, sgt_yaml_get(root, key)->line, key);
	strcpy(dst, v);
	return SGT_OK;
}

int sgt_rotation_load(const struct sgt_store *st, const char *old, struct sgt_rotation *r)
{
	static const char *const keys[] = { "old", "new", "old_spki_sha256", "new_spki_sha256", "old_algorithm",
					    "new_algorithm", "started", "finished", "reason", "lineage",
					    "lineage_signature", NULL };
	char *path = sgt_rotation_path(st, old, ".yaml");
	struct sgt_yaml *root = NULL;
	int rc;

	memset(r, 0, sizeof(*r));
	if (path == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	if (access(path, F_OK) != 0) {
		rc = sgt_err(SGT_ERR_VERDICT, "no rotation of key '%s' (no record '%s')", old, path);
		sgt_hint("'signet rotate start %s NEW' starts one", old);
		goto out;
	}
	if ((rc = sgt_yaml_load(path, &root)) != SGT_OK ||
	    (rc = sgt_yaml_check_keys(path, root, "rotation record", keys)) != SGT_OK ||
	    (rc = field(path, root, "old", 1, r->old, sizeof(r->old))) != SGT_OK ||
	    (rc = field(path, root, "new", 1, r->new_, sizeof(r->new_))) != SGT_OK ||
	    (rc = field(path, root, "old_spki_sha256", 1, r->old_spki, sizeof(r->old_spki))) != SGT_OK ||
	    (rc = field(path, root, "new_spki_sha256", 1, r->new_spki, sizeof(r->new_spki))) != SGT_OK ||
	    (rc = field(path, root, "old_algorithm", 1, r->old_alg, sizeof(r->old_alg))) != SGT_OK ||
	    (rc = field(path, root, "new_algorithm", 1, r->new_alg, sizeof(r->new_alg))) != SGT_OK ||
	    (rc = field(path, root, "started", 1, r->started, sizeof(r->started))) != SGT_OK ||
	    (rc = field(path, root, "finished", 0, r->finished, sizeof(r->finished))) != SGT_OK ||
	    (rc = field(path, root, "reason", 0, r->reason, sizeof(r->reason))) != SGT_OK)
		goto out;
	if (strcmp(r->old, old) != 0)
		rc = sgt_err(SGT_ERR_DATA, "%s: records a rotation of '%s', not '%s'", path, r->old, old);
out:
	sgt_yaml_free(root);
	free(path);
	return rc;
}

int sgt_rotation_list(const struct sgt_store *st, struct sgt_rotation **out, size_t *n)
{
	char *dir = sgt_store_path(st, "rotations");
	char **names = NULL;
	size_t count = 0, i, k = 0;
	struct sgt_rotation *v = NULL;
	int rc;

	*out = NULL;
	*n = 0;
	if (dir == NULL)
		return SGT_ERR_DATA;
	rc = sgt_dir_names(dir, ".yaml", &names, &count);
	free(dir);
	if (rc != SGT_OK)
		return rc;
	if (count > 0 && (v = calloc(count, sizeof(*v))) == NULL)
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
	for (i = 0; rc == SGT_OK && i < count; i++)
		if ((rc = sgt_rotation_load(st, names[i], &v[k])) == SGT_OK)
			k++;
	sgt_names_free(names, count);
	if (rc != SGT_OK) {
		free(v);
		return rc;
	}
	*out = v;
	*n = k;
	return SGT_OK;
}

static int kv(struct sgt_buf *b, const char *key, const char *value)
{
	int rc = sgt_buf_printf(b, "%s: ", key);

	rc = rc ? rc : sgt_yaml_quote(b, value);
	return rc ? rc : sgt_buf_add(b, "\n", 1);
}

int sgt_rotation_format(const struct sgt_rotation *r, struct sgt_buf *b)
{
	int rc = sgt_buf_printf(b, "# key rotation: devices move from '%s' to '%s' (signet rotate status)\n", r->old, r->new_);

	rc = rc ? rc : kv(b, "old", r->old);
	rc = rc ? rc : kv(b, "new", r->new_);
	rc = rc ? rc : kv(b, "old_spki_sha256", r->old_spki);
	rc = rc ? rc : kv(b, "new_spki_sha256", r->new_spki);
	rc = rc ? rc : kv(b, "old_algorithm", r->old_alg);
	rc = rc ? rc : kv(b, "new_algorithm", r->new_alg);
	rc = rc ? rc : kv(b, "started", r->started);
	rc = rc ? rc : kv(b, "reason", r->reason);
	if (rc == SGT_OK && r->finished[0])
		rc = kv(b, "finished", r->finished);
	if (rc == SGT_OK) {
		struct sgt_buf p = { 0 };

		rc = sgt_buf_printf(&p, "%s.lineage.json", r->old);
		rc = rc ? rc : kv(b, "lineage", p.p);
		sgt_buf_free(&p);
		rc = rc ? rc : sgt_buf_printf(&p, "%s.lineage.sig", r->old);
		rc = rc ? rc : kv(b, "lineage_signature", p.p);
		sgt_buf_free(&p);
	}
	return rc;
}

/* -- the lineage statement ------------------------------------------------ */

int sgt_lineage_statement(const struct sgt_rotation *r, char **out, size_t *len)
{
	json_t *j = json_pack("{s:s, s:{s:s, s:s, s:s}, s:{s:s, s:s, s:s}, s:s, s:s, s:s}", "type", SGT_LINEAGE_TYPE,
			      "old", "label", r->old, "spki_sha256", r->old_spki, "algorithm", r->old_alg,
			      "new", "label", r->new_, "spki_sha256", r->new_spki, "algorithm", r->new_alg,
			      "statement", "the holder of the old key vouches for the new key", "time", r->started,
			      "reason", r->reason);
	char *s;

	*out = NULL;
	*len = 0;
	/* Sorted keys, no whitespace, strings as UTF-8: one byte sequence for one statement. */
	s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(j);
	if (s == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	*out = s;
	*len = strlen(s);
	return SGT_OK;
}

int sgt_lineage_sign(EVP_PKEY *priv, EVP_PKEY *pub, const char *label, const void *data, size_t len,
		     unsigned char **sig, size_t *siglen)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *buf = NULL;
	size_t n = 0;
	int rc = SGT_ERR_HSM;

	*sig = NULL;
	*siglen = 0;
	if (md == NULL || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, priv) != 1 ||
	    EVP_DigestSign(md, NULL, &n, data, len) != 1 || n == 0) {
		rc = sgt_err(SGT_ERR_HSM, "cannot sign the lineage statement with key '%s': %s", label, sgt_ossl_why());
		goto out;
	}
	if ((buf = malloc(n)) == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	if (EVP_DigestSign(md, buf, &n, data, len) != 1) {
		rc = sgt_err(SGT_ERR_HSM, "signing the lineage statement with key '%s' failed on the token: %s", label,
			     sgt_ossl_why());
		goto out;
	}
	EVP_MD_CTX_free(md);
	md = EVP_MD_CTX_new();
	/* What anyone with the old certificate will check, checked before it is kept. */
	if (md == NULL || EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub) != 1 ||
	    EVP_DigestVerify(md, buf, n, data, len) != 1) {
		rc = sgt_err(SGT_ERR_HSM, "the token's signature of the lineage statement does not verify with key '%s''s public key",
			     label);
		sgt_ossl_why();
		goto out;
	}
	*sig = buf;
	*siglen = n;
	buf = NULL;
	rc = SGT_OK;
out:
	free(buf);
	EVP_MD_CTX_free(md);
	return rc;
}

static const char *jstr(json_t *o, const char *a, const char *b)
{
	json_t *v = json_object_get(o, a);

	return json_string_value(b ? json_object_get(v, b) : v);
}

int sgt_lineage_verify(EVP_PKEY *pub, const void *data, size_t len, const unsigned char *sig, size_t siglen,
		       const struct sgt_rotation *expect, char *why, size_t whycap)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	json_t *j = NULL;
	char *canon = NULL;
	const char *s;
	int rc = SGT_ERR_VERDICT, ok;

	why[0] = '\0';
	ok = md && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub) == 1 &&
	     EVP_DigestVerify(md, sig, siglen, data, len) == 1;
	EVP_MD_CTX_free(md);
	sgt_ossl_why();
	if (!ok) {
		snprintf(why, whycap, "the signature does not verify with the old key");
		goto out;
	}
	if ((j = json_loadb(data, len, JSON_REJECT_DUPLICATES, NULL)) == NULL || !json_is_object(j)) {
		snprintf(why, whycap, "the statement is not a JSON object");
		goto out;
	}
	canon = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	if (canon == NULL || strlen(canon) != len || memcmp(canon, data, len) != 0) {
		snprintf(why, whycap, "the statement is not in canonical form (sorted keys, no whitespace)");
		goto out;
	}
	if ((s = jstr(j, "type", NULL)) == NULL || strcmp(s, SGT_LINEAGE_TYPE) != 0) {
		snprintf(why, whycap, "the statement's type is not %s", SGT_LINEAGE_TYPE);
		goto out;
	}
	if (expect != NULL) {
		const char *os = jstr(j, "old", "spki_sha256"), *ns = jstr(j, "new", "spki_sha256");

		if (os == NULL || strcmp(os, expect->old_spki) != 0) {
			snprintf(why, whycap, "the statement names old key SPKI %s, the rotation %s", os ? os : "(none)",
				 expect->old_spki);
			goto out;
		}
		if (ns == NULL || strcmp(ns, expect->new_spki) != 0) {
			snprintf(why, whycap, "the statement names new key SPKI %s, the rotation %s", ns ? ns : "(none)",
				 expect->new_spki);
			goto out;
		}
	}
	rc = SGT_OK;
out:
	free(canon);
	json_decref(j);
	return rc;
}

/* -- fleets --------------------------------------------------------------- */

static int bakes(const struct sgt_fleet_build *b, const char *spki)
{
	size_t i;

	for (i = 0; i < b->nkeys; i++)
		if (strcmp(b->keys[i].spki_sha256, spki) == 0)
			return 1;
	return 0;
}

static void add_build(char *list, size_t cap, const char *what, const char *version, long n)
{
	size_t len = strlen(list);

	if (len + 1 < cap)
		snprintf(list + len, cap - len, "%s%s %s: %ld device%s", len ? ", " : "", what, version, n, n == 1 ? "" : "s");
}

void sgt_rotate_trust(const struct sgt_fleet *f, const char *spki, struct sgt_trust_count *c)
{
	size_t i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < f->nbuilds; i++) {
		const struct sgt_fleet_build *b = &f->builds[i];

		if (bakes(b, spki)) {
			c->trusting += b->devices;
			c->trusting_stale += b->stale;
		} else {
			c->not_trusting += b->devices;
			c->not_trusting_stale += b->stale;
			if (b->devices > 0)
				add_build(c->builds, sizeof(c->builds), "build", b->version, b->devices);
		}
	}
	for (i = 0; i < f->nunknown; i++) {
		c->unknown += f->unknown[i].devices;
		c->unknown_stale += f->unknown[i].stale;
		if (f->unknown[i].devices > 0)
			add_build(c->builds, sizeof(c->builds), "unrecorded build", f->unknown[i].version, f->unknown[i].devices);
	}
}

int sgt_rotate_progress(const struct sgt_inventory *inv, const struct sgt_rotation *r,
			struct sgt_rotate_progress **out, size_t *n)
{
	struct sgt_rotate_progress *v = NULL;
	time_t started = 0;
	size_t i, j, k = 0;

	*out = NULL;
	*n = 0;
	if (inv->n > 0 && (v = calloc(inv->n, sizeof(*v))) == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	sgt_time_parse(r->started, &started);
	for (i = 0; i < inv->n; i++) {
		const struct sgt_fleet *f = &inv->fleets[i];
		struct sgt_rotate_progress *p = &v[k];
		int relevant = 0;
		time_t stone_at = 0;

		memset(p, 0, sizeof(*p));
		p->fleet = f;
		for (j = 0; j < f->nbuilds; j++) {
			const struct sgt_fleet_build *b = &f->builds[j];
			int o = bakes(b, r->old_spki), nw = bakes(b, r->new_spki);

			relevant |= o || nw;
			if (nw) {
				time_t at = 0;

				p->with_new += b->devices;
				p->with_new_stale += b->stale;
				if (b->recorded_at[0] == '\0' || sgt_time_parse(b->recorded_at, &at) != 0 || at < started)
					at = started;
				/* The earliest build baking NEW is when the move could begin. */
				if (p->stone == NULL || at < stone_at) {
					p->stone = b->version;
					stone_at = at;
				}
			} else if (o) {
				p->only_old += b->devices;
				p->only_old_stale += b->stale;
				if (b->devices > 0)
					add_build(p->only_old_builds, sizeof(p->only_old_builds), "build", b->version, b->devices);
			}
		}
		if (!relevant)
			continue;
		for (j = 0; j < f->nunknown; j++) {
			p->unknown += f->unknown[j].devices;
			p->unknown_stale += f->unknown[j].stale;
		}
		if (p->stone != NULL)
			p->expected = stone_at + (time_t)f->rollout_days * 86400;
		k++;
	}
	if (k == 0) {
		free(v);
		v = NULL;
	}
	*out = v;
	*n = k;
	return SGT_OK;
}

int sgt_rotate_inventory(const struct sgt_store *st, char **names, size_t nnames, time_t now,
			 struct sgt_inventory *inv)
{
	char *path = sgt_store_path(st, "fleets.yaml");
	int rc;

	memset(inv, 0, sizeof(*inv));
	if (path == NULL)
		return SGT_ERR_DATA;
	rc = sgt_db_shared_read(path);
	rc = rc ? rc : sgt_inventory_load(path, 0, inv);
	free(path);
	if (rc == SGT_OK)
		rc = sgt_fleet_records_merge(st, inv);
	if (rc == SGT_OK)
		rc = sgt_fleet_read_artefacts(inv);
	if (rc == SGT_OK)
		rc = sgt_fleet_count(inv, names, nnames, now);
	if (rc != SGT_OK)
		sgt_inventory_release(inv);
	return rc;
}

int sgt_rotate_sign_allowed(const struct sgt_store *st, const struct sgt_keyrec *rec, const char *fleet)
{
	struct sgt_inventory inv;
	struct sgt_trust_count c;
	struct sgt_fleet *f;
	char *names[1];
	int rc;

	if (fleet == NULL) {
		if (rec->retired[0] == '\0')
			return SGT_OK;
		rc = sgt_err(SGT_ERR_VERDICT, "key '%s' was retired on %s (%s): it signs nothing without --fleet", rec->label,
			     rec->retired, rec->retired_by[0] ? rec->retired_by : "rotation finished");
		sgt_hint("for devices back from a shelf that still trust it: 'signet sign IMAGE --key %s --fleet FLEET'",
			 rec->label);
		return rc;
	}
	if (!sgt_fleet_name_ok(fleet))
		return sgt_err(SGT_ERR_USAGE, "'%s' cannot name a fleet", fleet);
	names[0] = (char *)fleet;
	if ((rc = sgt_rotate_inventory(st, names, 1, sgt_now(), &inv)) != SGT_OK)
		return rc;
	if ((f = sgt_inventory_fleet(&inv, fleet)) == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "no fleet '%s' in the inventory or recorded builds of store '%s'", fleet, st->dir);
		sgt_hint("'signet fleet build list' shows the fleets signet knows");
		goto out;
	}
	sgt_rotate_trust(f, rec->spki_sha256, &c);
	if (c.not_trusting + c.unknown > 0) {
		rc = sgt_err(SGT_ERR_VERDICT,
			     "key '%s' is not trusted by %ld devices of fleet '%s' (%s): they would reject the image with 0xe3",
			     rec->label, c.not_trusting + c.unknown, fleet, c.builds);
		sgt_hint("sign a stepping-stone build with the key they trust; 'signet rotate status' shows who trusts what");
		goto out;
	}
	if (c.trusting == 0) {
		rc = sgt_err(SGT_ERR_VERDICT, "fleet '%s' has no active devices on a build that trusts key '%s'", fleet,
			     rec->label);
		goto out;
	}
	if (c.not_trusting_stale + c.unknown_stale > 0)
		sgt_warn("%ld stale devices of fleet '%s' (not seen lately) do not trust key '%s'", c.not_trusting_stale +
			 c.unknown_stale, fleet, rec->label);
	if (rec->retired[0])
		sgt_warn("key '%s' is retired (%s); signing for fleet '%s', whose %ld devices all trust it", rec->label,
			 rec->retired, fleet, c.trusting);
	rc = SGT_OK;
out:
	sgt_inventory_release(&inv);
	return rc;
}
