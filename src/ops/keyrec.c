/*
 * keyrec.c: key records, <store>/keys/<label>.yaml (keyrec.h): read,
 * list, and staged in the command's transaction (sgt_keyrec_stage), so a
 * record is in place only once its audit record is durable.
 * Floor: ops.  It may call custody (tx), base and formats; never cmd.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "intent.h"
#include "keyrec.h"
#include "tx.h"
#include "yamltree.h"

static char *keyrec_path(const struct sgt_store *st, const char *label)
{
	struct sgt_buf b = { 0 };

	if (sgt_buf_printf(&b, "%s/keys/%s.yaml", st->dir, label) != SGT_OK)
		return NULL;
	return b.p;
}

void sgt_keyrec_remove(const struct sgt_store *st, const char *label)
{
	char *path = keyrec_path(st, label);

	sgt_store_unlink(path);
	free(path);
}

int sgt_keyrec_exists(const struct sgt_store *st, const char *label)
{
	char *path = keyrec_path(st, label);
	struct stat sb;
	int r = path != NULL && stat(path, &sb) == 0;

	free(path);
	return r;
}

static int copy_str(const char *name, const struct sgt_yaml *map, const char *key, int required, char *dst, size_t cap)
{
	const char *v = NULL;
	int rc = sgt_yaml_get_str(name, map, key, required, &v);

	if (rc != SGT_OK || v == NULL)
		return rc;
	if (strlen(v) >= cap)
		return sgt_err(SGT_ERR_DATA, "%s:%d: field '%s' is too long", name, sgt_yaml_get(map, key)->line, key);
	strcpy(dst, v);
	return SGT_OK;
}

static const char *const custody_names[] = {
	"token", "private", "sensitive", "extractable", "always_sensitive",
	"never_extractable", "local", "copyable", "modifiable", NULL
};

static int *custody_field(struct sgt_custody *c, size_t i)
{
	int *f[] = { &c->token, &c->private_, &c->sensitive, &c->extractable, &c->always_sensitive,
		     &c->never_extractable, &c->local, &c->copyable, &c->modifiable };

	return f[i];
}

int sgt_keyrec_load(const struct sgt_store *st, const char *label, struct sgt_keyrec *out)
{
	static const char *const keys[] = { "label", "id", "algorithm", "spki_sha256", "origin",
					    "created", "policy", "custody", "retired", "retired_by", NULL };
	char *path = keyrec_path(st, label);
	struct sgt_yaml *root = NULL;
	const struct sgt_yaml *cust;
	struct stat sb;
	size_t i;
	int rc;

	memset(out, 0, sizeof(*out));
	if (path == NULL)
		return SGT_ERR_DATA;
	if (stat(path, &sb) != 0) {
		rc = sgt_err(SGT_ERR_VERDICT, "no key '%s' in custody (no record '%s')", label, path);
		sgt_hint("'signet key list' shows the keys in custody");
		goto out;
	}
	if ((rc = sgt_yaml_load(path, &root)) != SGT_OK ||
	    (rc = sgt_yaml_check_keys(path, root, "key record", keys)) != SGT_OK ||
	    (rc = copy_str(path, root, "label", 1, out->label, sizeof(out->label))) != SGT_OK ||
	    (rc = copy_str(path, root, "id", 1, out->id, sizeof(out->id))) != SGT_OK ||
	    (rc = copy_str(path, root, "algorithm", 1, out->algorithm, sizeof(out->algorithm))) != SGT_OK ||
	    (rc = copy_str(path, root, "spki_sha256", 1, out->spki_sha256, sizeof(out->spki_sha256))) != SGT_OK ||
	    (rc = copy_str(path, root, "origin", 1, out->origin, sizeof(out->origin))) != SGT_OK ||
	    (rc = copy_str(path, root, "created", 1, out->created, sizeof(out->created))) != SGT_OK ||
	    (rc = copy_str(path, root, "policy", 0, out->policy, sizeof(out->policy))) != SGT_OK ||
	    (rc = copy_str(path, root, "retired", 0, out->retired, sizeof(out->retired))) != SGT_OK ||
	    (rc = copy_str(path, root, "retired_by", 0, out->retired_by, sizeof(out->retired_by))) != SGT_OK)
		goto out;
	if (strcmp(out->label, label) != 0) {
		rc = sgt_err(SGT_ERR_DATA, "%s: records label '%s', not '%s'", path, out->label, label);
		goto out;
	}
	cust = sgt_yaml_get(root, "custody");
	if ((rc = sgt_yaml_check_keys(path, cust, "'custody'", custody_names)) != SGT_OK)
		goto out;
	for (i = 0; custody_names[i] != NULL; i++) {
		int *f = custody_field(&out->custody, i);

		*f = -1;
		if ((rc = sgt_yaml_get_bool(path, cust, custody_names[i], 0, f)) != SGT_OK)
			goto out;
	}
out:
	sgt_yaml_free(root);
	free(path);
	return rc;
}

/* The record's YAML in b. */
static int keyrec_encode(const struct sgt_keyrec *rec, struct sgt_buf *b0)
{
	struct sgt_buf b = { 0 };
	size_t i;
	int rc, known = 0;

	rc = sgt_buf_printf(&b, "# key in custody; the private key never leaves the token\n"
			    "label: \"%s\"\nid: \"%s\"\nalgorithm: \"%s\"\nspki_sha256: \"%s\"\n"
			    "origin: \"%s\"\ncreated: \"%s\"\n",
			    rec->label, rec->id, rec->algorithm, rec->spki_sha256, rec->origin, rec->created);
	if (rc == SGT_OK && rec->policy[0] != '\0') {
		rc = sgt_buf_printf(&b, "policy: ");
		rc = rc ? rc : sgt_yaml_quote(&b, rec->policy);
		rc = rc ? rc : sgt_buf_add(&b, "\n", 1);
	}
	for (i = 0; custody_names[i] != NULL; i++)
		known += *custody_field((struct sgt_custody *)&rec->custody, i) >= 0;
	rc = rc ? rc : sgt_buf_printf(&b, known ? "custody:\n" : "custody: {}\n");
	for (i = 0; rc == SGT_OK && custody_names[i] != NULL; i++) {
		int v = *custody_field((struct sgt_custody *)&rec->custody, i);

		if (v >= 0)
			rc = sgt_buf_printf(&b, "  %s: %s\n", custody_names[i], v ? "true" : "false");
	}
	if (rc == SGT_OK && rec->retired[0] != '\0') {
		rc = sgt_buf_printf(&b, "retired: ");
		rc = rc ? rc : sgt_yaml_quote(&b, rec->retired);
		rc = rc ? rc : sgt_buf_printf(&b, "\nretired_by: ");
		rc = rc ? rc : sgt_yaml_quote(&b, rec->retired_by);
		rc = rc ? rc : sgt_buf_add(&b, "\n", 1);
	}
	if (rc != SGT_OK) {
		sgt_buf_free(&b);
		return rc;
	}
	*b0 = b;
	return SGT_OK;
}

/* With tx, staged in it (flags as sgt_tx_stage's); without, through sgt_put (staged while an intent is open). */
static int keyrec_write(struct sgt_tx *tx, const struct sgt_store *st, const struct sgt_keyrec *rec, unsigned flags)
{
	char *path;
	struct sgt_buf b = { 0 };
	int rc;

	/* The label names a file; the other fields are hex, names and times we made. */
	if ((rc = sgt_label_check(rec->label)) != SGT_OK)
		return rc;
	if ((path = keyrec_path(st, rec->label)) == NULL)
		return SGT_ERR_DATA;
	if ((rc = keyrec_encode(rec, &b)) == SGT_OK)
		rc = tx != NULL ? sgt_tx_stage(tx, path, b.p, b.len, flags)
				: sgt_put(path, b.p, b.len, (flags & SGT_TX_EXCL) != 0);
	sgt_buf_free(&b);
	free(path);
	return rc;
}

int sgt_keyrec_stage(struct sgt_tx *tx, const struct sgt_store *st, const struct sgt_keyrec *rec, unsigned flags)
{
	return keyrec_write(tx, st, rec, flags);
}

int sgt_keyrec_save(const struct sgt_store *st, const struct sgt_keyrec *rec)
{
	return keyrec_write(NULL, st, rec, SGT_TX_EXCL);
}

int sgt_keyrec_update(const struct sgt_store *st, const struct sgt_keyrec *rec)
{
	return keyrec_write(NULL, st, rec, 0);
}

int sgt_keyrec_list(const struct sgt_store *st, struct sgt_keyrec **out, size_t *n)
{
	char *dirpath = sgt_store_path(st, "keys");
	char **labels = NULL;
	struct sgt_keyrec *recs = NULL;
	size_t count = 0, i;
	int rc;

	*out = NULL;
	*n = 0;
	if (dirpath == NULL)
		return SGT_ERR_DATA;
	rc = sgt_dir_names(dirpath, ".yaml", &labels, &count);
	free(dirpath);
	if (rc != SGT_OK)
		return rc;
	/* Sorted names give records sorted by label. */
	if (count > 0 && (recs = calloc(count, sizeof(*recs))) == NULL)
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
	for (i = 0; rc == SGT_OK && i < count; i++)
		rc = sgt_keyrec_load(st, labels[i], &recs[i]);
	sgt_names_free(labels, count);
	if (rc != SGT_OK) {
		free(recs);
		return rc;
	}
	*out = recs;
	*n = count;
	return SGT_OK;
}

const struct sgt_keyrec *sgt_keyrec_by_spki(const struct sgt_keyrec *recs, size_t n, const char *spki)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(recs[i].spki_sha256, spki) == 0)
			return &recs[i];
	return NULL;
}
