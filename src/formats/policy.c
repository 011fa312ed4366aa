/*
 * policy.c: finding and parsing signing policies.  Parsing is strict on
 * purpose: a policy decides what a certificate that thousands of devices
 * trust looks like, so a misspelt field or an unknown key usage must stop
 * the command with file, line and field, never fall back to a default.
 * Judging certificates against a policy is lint.c's job.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "dbstore.h"
#include "policy.h"
#include "yamltree.h"

static const struct {
	const char *name;
	unsigned long bit;
} ku_names[] = {
	{ "digitalSignature", X509v3_KU_DIGITAL_SIGNATURE },
	{ "nonRepudiation", X509v3_KU_NON_REPUDIATION },
	{ "keyEncipherment", X509v3_KU_KEY_ENCIPHERMENT },
	{ "dataEncipherment", X509v3_KU_DATA_ENCIPHERMENT },
	{ "keyAgreement", X509v3_KU_KEY_AGREEMENT },
	{ "keyCertSign", X509v3_KU_KEY_CERT_SIGN },
	{ "cRLSign", X509v3_KU_CRL_SIGN },
	{ NULL, 0 }
};

static const struct {
	const char *name;
	int nid;
} eku_names[] = {
	{ "codeSigning", NID_code_sign },
	{ "anyExtendedKeyUsage", NID_anyExtendedKeyUsage },
	{ "serverAuth", NID_server_auth },
	{ "clientAuth", NID_client_auth },
	{ "emailProtection", NID_email_protect },
	{ "timeStamping", NID_time_stamp },
	{ "OCSPSigning", NID_OCSP_sign },
	{ NULL, 0 }
};

static const char *const alg_names[] = {
	"ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072", "rsa-4096", "ed25519", NULL
};

static const char *const custody_names[] = {
	"sensitive", "never-extractable", "always-sensitive", "local", "not-copyable", NULL
};

static const char *const hash_names[] = { "sha1", "sha256", "sha384", "sha512", NULL };

static const char *const ota_fields[] = {
	"sig-sha256-ecdsa", "sig-sha1-rsa", "sig-sha256-rsa", NULL
};

const char *sgt_policy_ku_name(unsigned long bit)
{
	size_t i;

	for (i = 0; ku_names[i].name != NULL; i++)
		if (ku_names[i].bit == bit)
			return ku_names[i].name;
	return "unknown";
}

const char *sgt_policy_eku_name(int nid)
{
	size_t i;

	for (i = 0; eku_names[i].name != NULL; i++)
		if (eku_names[i].nid == nid)
			return eku_names[i].name;
	return OBJ_nid2sn(nid) != NULL ? OBJ_nid2sn(nid) : "unknown";
}

static int in_list(const char *const *list, const char *s)
{
	for (; *list != NULL; list++)
		if (strcmp(*list, s) == 0)
			return 1;
	return 0;
}

int sgt_policy_hash_ok(const char *name)
{
	return name != NULL && in_list(hash_names, name);
}

int sgt_policy_allows_alg(const struct sgt_policy *pol, const char *alg)
{
	size_t i;

	for (i = 0; i < pol->nalgorithms; i++)
		if (strcmp(pol->algorithms[i], alg) == 0)
			return 1;
	return 0;
}

void sgt_policy_free(struct sgt_policy *pol)
{
	size_t i;

	if (pol == NULL)
		return;
	free(pol->name);
	free(pol->description);
	free(pol->path);
	for (i = 0; i < pol->nalgorithms; i++)
		free(pol->algorithms[i]);
	for (i = 0; i < pol->ncustody; i++)
		free(pol->custody[i]);
	free(pol->subject);
	free(pol->signature_hash);
	free(pol->signing_hash);
	free(pol->ota_signature_field);
	free(pol->approvals_allowed_signers);
	free(pol->approvals_namespace);
	free(pol);
}

static int dup_str(const char *file, const struct sgt_yaml *map, const char *key, int required, char **out)
{
	const char *v = NULL;
	int rc = sgt_yaml_get_str(file, map, key, required, &v);

	if (rc != SGT_OK || v == NULL)
		return rc;
	if ((*out = strdup(v)) == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	return SGT_OK;
}

/*
 * A list field: a YAML sequence of scalars.  Each item is passed to
 * check(), which reports "file:line: ..." itself when it refuses one.
 */
typedef int (*item_fn)(const char *file, const char *key, const struct sgt_yaml *item, void *ctx);

static int each_item(const char *file, const struct sgt_yaml *map, const char *key, int required,
		     item_fn fn, void *ctx)
{
	const struct sgt_yaml *seq = sgt_yaml_get(map, key);
	size_t i;
	int rc;

	if (seq == NULL)
		return required ? sgt_err(SGT_ERR_DATA, "%s:%d: missing field '%s'", file, map->line, key) : SGT_OK;
	if (seq->kind != SGT_YAML_SEQ)
		return sgt_err(SGT_ERR_DATA, "%s:%d: field '%s' must be a list such as [a, b]", file, seq->line, key);
	if (seq->n > SGT_POLICY_MAX_LIST)
		return sgt_err(SGT_ERR_DATA, "%s:%d: field '%s' has more than %d items", file, seq->line, key,
			       SGT_POLICY_MAX_LIST);
	for (i = 0; i < seq->n; i++) {
		if (seq->items[i]->kind != SGT_YAML_SCALAR)
			return sgt_err(SGT_ERR_DATA, "%s:%d: field '%s' must list single values", file,
				       seq->items[i]->line, key);
		if ((rc = fn(file, key, seq->items[i], ctx)) != SGT_OK)
			return rc;
	}
	return SGT_OK;
}

struct strlist {
	char **items;
	size_t *n;
	const char *const *allowed;
};

static int add_str(const char *file, const char *key, const struct sgt_yaml *item, void *ctx)
{
	struct strlist *l = ctx;
	const char *const *a;
	struct sgt_buf known = { 0 };
	int rc;

	if (in_list(l->allowed, item->value)) {
		if ((l->items[*l->n] = strdup(item->value)) == NULL)
			return sgt_err(SGT_ERR_DATA, "out of memory");
		(*l->n)++;
		return SGT_OK;
	}
	for (a = l->allowed; *a != NULL; a++)
		sgt_buf_printf(&known, "%s%s", a == l->allowed ? "" : ", ", *a);
	rc = sgt_err(SGT_ERR_DATA, "%s:%d: field '%s': unknown value '%s' (known: %s)", file, item->line, key,
		     item->value, known.p ? known.p : "");
	sgt_buf_free(&known);
	return rc;
}

static int add_ku(const char *file, const char *key, const struct sgt_yaml *item, void *ctx)
{
	unsigned long *bits = ctx;
	size_t i;

	for (i = 0; ku_names[i].name != NULL; i++)
		if (strcmp(ku_names[i].name, item->value) == 0) {
			*bits |= ku_names[i].bit;
			return SGT_OK;
		}
	return sgt_err(SGT_ERR_DATA, "%s:%d: field '%s': unknown key usage '%s' (known: digitalSignature, "
		       "nonRepudiation, keyEncipherment, dataEncipherment, keyAgreement, keyCertSign, cRLSign)",
		       file, item->line, key, item->value);
}

struct ekulist {
	int *nids;
	size_t *n;
};

static int add_eku(const char *file, const char *key, const struct sgt_yaml *item, void *ctx)
{
	struct ekulist *l = ctx;
	size_t i;

	for (i = 0; eku_names[i].name != NULL; i++)
		if (strcmp(eku_names[i].name, item->value) == 0) {
			l->nids[(*l->n)++] = eku_names[i].nid;
			return SGT_OK;
		}
	return sgt_err(SGT_ERR_DATA, "%s:%d: field '%s': unknown extended key usage '%s' (known: codeSigning, "
		       "anyExtendedKeyUsage, serverAuth, clientAuth, emailProtection, timeStamping, OCSPSigning)",
		       file, item->line, key, item->value);
}

static int one_of(const char *file, const struct sgt_yaml *map, const char *key, const char *value,
		  const char *const *allowed)
{
	if (value == NULL || in_list(allowed, value))
		return SGT_OK;
	return sgt_err(SGT_ERR_DATA, "%s:%d: field '%s': unknown value '%s'", file, sgt_yaml_get(map, key)->line,
		       key, value);
}

/* "72h", "3d", "90m", "3600s": 1 s .. 366 days; -1 when malformed. */
static long parse_duration(const char *s)
{
	char *end;
	long n, unit;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	n = strtol(s, &end, 10);
	if (end[0] == '\0' || end[1] != '\0')
		return -1;
	switch (end[0]) {
	case 's': unit = 1; break;
	case 'm': unit = 60; break;
	case 'h': unit = 3600; break;
	case 'd': unit = 86400; break;
	default: return -1;
	}
	if (n < 1 || n > 366L * 86400 / unit)
		return -1;
	return n * unit;
}

/* approvals: { required: N, allowed_signers: FILE, namespace: NS, max_age: DURATION } */
static int parse_approvals(const char *file, const struct sgt_yaml *ap, struct sgt_policy *p)
{
	static const char *const keys[] = { "required", "allowed_signers", "namespace", "max_age", NULL };
	const char *age = NULL;
	int rc;

	if (ap == NULL)
		return SGT_OK;
	if ((rc = sgt_yaml_check_keys(file, ap, "'approvals'", keys)) != SGT_OK ||
	    (rc = sgt_yaml_get_long(file, ap, "required", 1, 1, 16, &p->approvals_required)) != SGT_OK ||
	    (rc = dup_str(file, ap, "allowed_signers", 1, &p->approvals_allowed_signers)) != SGT_OK ||
	    (rc = dup_str(file, ap, "namespace", 0, &p->approvals_namespace)) != SGT_OK ||
	    (rc = sgt_yaml_get_str(file, ap, "max_age", 0, &age)) != SGT_OK)
		return rc;
	if (p->approvals_allowed_signers[0] == '\0')
		return sgt_err(SGT_ERR_DATA, "%s:%d: field 'allowed_signers' must name a file", file,
			       sgt_yaml_get(ap, "allowed_signers")->line);
	if (p->approvals_namespace == NULL && (p->approvals_namespace = strdup("signet-release")) == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	if (p->approvals_namespace[0] == '\0' || strpbrk(p->approvals_namespace, " \t\",") != NULL)
		return sgt_err(SGT_ERR_DATA, "%s:%d: field 'namespace': '%s' is not an SSH signature namespace", file,
			       sgt_yaml_get(ap, "namespace")->line, p->approvals_namespace);
	p->approvals_max_age = age == NULL ? 72 * 3600 : parse_duration(age);
	if (p->approvals_max_age < 0)
		return sgt_err(SGT_ERR_DATA, "%s:%d: field 'max_age': '%s' is not a duration such as 72h or 3d "
			       "(1s to 366d)", file, sgt_yaml_get(ap, "max_age")->line, age);
	return SGT_OK;
}

static int parse_tree(const char *file, const struct sgt_yaml *root, struct sgt_policy *p)
{
	static const char *const top_keys[] = { "name", "description", "key", "certificate", "signing", "approvals",
						NULL };
	static const char *const key_keys[] = { "algorithms", "custody", NULL };
	static const char *const cert_keys[] = { "subject", "validity_days", "renew_before_days", "key_usage",
						 "extended_key_usage", "signature_hash",
						 "forbid_extended_key_usage", NULL };
	static const char *const sign_keys[] = { "hash", "ota_signature_field", NULL };
	const struct sgt_yaml *key, *cert, *sign;
	struct strlist algs = { p->algorithms, &p->nalgorithms, alg_names };
	struct strlist cust = { p->custody, &p->ncustody, custody_names };
	struct ekulist eku = { p->eku, &p->neku };
	struct ekulist forbid = { p->forbid_eku, &p->nforbid_eku };
	size_t i, j;
	int rc;

	if ((rc = sgt_yaml_check_keys(file, root, "policy", top_keys)) != SGT_OK ||
	    (rc = dup_str(file, root, "name", 1, &p->name)) != SGT_OK ||
	    (rc = dup_str(file, root, "description", 0, &p->description)) != SGT_OK)
		return rc;
	if (!sgt_label_ok(p->name))
		return sgt_err(SGT_ERR_DATA, "%s:%d: field 'name': '%s' is not a valid policy name", file,
			       sgt_yaml_get(root, "name")->line, p->name);
	key = sgt_yaml_get(root, "key");
	cert = sgt_yaml_get(root, "certificate");
	sign = sgt_yaml_get(root, "signing");
	if (key == NULL)
		return sgt_err(SGT_ERR_DATA, "%s:%d: missing field 'key'", file, root->line);
	if (cert == NULL)
		return sgt_err(SGT_ERR_DATA, "%s:%d: missing field 'certificate'", file, root->line);
	if ((rc = sgt_yaml_check_keys(file, key, "'key'", key_keys)) != SGT_OK ||
	    (rc = each_item(file, key, "algorithms", 1, add_str, &algs)) != SGT_OK ||
	    (rc = each_item(file, key, "custody", 0, add_str, &cust)) != SGT_OK)
		return rc;
	if (p->nalgorithms == 0)
		return sgt_err(SGT_ERR_DATA, "%s:%d: field 'algorithms' must name at least one algorithm", file,
			       sgt_yaml_get(key, "algorithms")->line);
	if ((rc = sgt_yaml_check_keys(file, cert, "'certificate'", cert_keys)) != SGT_OK ||
	    (rc = dup_str(file, cert, "subject", 0, &p->subject)) != SGT_OK ||
	    (rc = sgt_yaml_get_long(file, cert, "validity_days", 1, 1, 36500, &p->validity_days)) != SGT_OK ||
	    (rc = sgt_yaml_get_long(file, cert, "renew_before_days", 1, 0, 36500, &p->renew_before_days)) != SGT_OK ||
	    (rc = each_item(file, cert, "key_usage", 1, add_ku, &p->key_usage)) != SGT_OK ||
	    (rc = each_item(file, cert, "extended_key_usage", 1, add_eku, &eku)) != SGT_OK ||
	    (rc = each_item(file, cert, "forbid_extended_key_usage", 0, add_eku, &forbid)) != SGT_OK ||
	    (rc = dup_str(file, cert, "signature_hash", 1, &p->signature_hash)) != SGT_OK ||
	    (rc = one_of(file, cert, "signature_hash", p->signature_hash, hash_names)) != SGT_OK)
		return rc;
	if (p->renew_before_days >= p->validity_days)
		return sgt_err(SGT_ERR_DATA, "%s:%d: field 'renew_before_days' (%ld) must be less than "
			       "validity_days (%ld), or every certificate is always due", file,
			       sgt_yaml_get(cert, "renew_before_days")->line, p->renew_before_days, p->validity_days);
	for (i = 0; i < p->neku; i++)
		for (j = 0; j < p->nforbid_eku; j++)
			if (p->eku[i] == p->forbid_eku[j])
				return sgt_err(SGT_ERR_DATA, "%s:%d: field 'forbid_extended_key_usage' forbids '%s', "
					       "which 'extended_key_usage' requires", file,
					       sgt_yaml_get(cert, "forbid_extended_key_usage")->line,
					       sgt_policy_eku_name(p->eku[i]));
	if (sign != NULL &&
	    ((rc = sgt_yaml_check_keys(file, sign, "'signing'", sign_keys)) != SGT_OK ||
	     (rc = dup_str(file, sign, "hash", 0, &p->signing_hash)) != SGT_OK ||
	     (rc = one_of(file, sign, "hash", p->signing_hash, hash_names)) != SGT_OK ||
	     (rc = dup_str(file, sign, "ota_signature_field", 0, &p->ota_signature_field)) != SGT_OK ||
	     (rc = one_of(file, sign, "ota_signature_field", p->ota_signature_field, ota_fields)) != SGT_OK))
		return rc;
	return parse_approvals(file, sgt_yaml_get(root, "approvals"), p);
}

int sgt_policy_parse(const char *name, const char *buf, size_t len, struct sgt_policy **out)
{
	struct sgt_yaml *root = NULL;
	struct sgt_policy *p;
	int rc;

	*out = NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	if ((p->path = strdup(name)) == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	if ((rc = sgt_yaml_parse(name, buf, len, &root)) != SGT_OK ||
	    (rc = parse_tree(name, root, p)) != SGT_OK)
		goto out;
	*out = p;
	p = NULL;
out:
	sgt_yaml_free(root);
	sgt_policy_free(p);
	return rc;
}

int sgt_policy_load_file(const char *path, struct sgt_policy **out)
{
	unsigned char *buf = NULL;
	size_t len;
	int rc;

	*out = NULL;
	if ((rc = sgt_file_read(path, 1 << 20, &buf, &len)) != SGT_OK)
		return rc;
	rc = sgt_policy_parse(path, (const char *)buf, len, out);
	free(buf);
	return rc;
}

static int is_dir(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static void add_dir(char **dirs, size_t *n, size_t max, const char *path)
{
	size_t i;

	if (*n >= max || !is_dir(path))
		return;
	for (i = 0; i < *n; i++)
		if (strcmp(dirs[i], path) == 0)
			return;
	if ((dirs[*n] = strdup(path)) != NULL)
		(*n)++;
}

size_t sgt_policy_dirs(const char *store_dir, char **dirs, size_t max)
{
	const char *env = getenv("SIGNET_POLICY_DIR");
	char exe[PATH_MAX], buf[PATH_MAX + 32];
	ssize_t len;
	size_t n = 0;

	if (env != NULL && *env != '\0')
		add_dir(dirs, &n, max, env);
	if (store_dir != NULL) {
		snprintf(buf, sizeof(buf), "%s/policies", store_dir);
		add_dir(dirs, &n, max, buf);
	}
	/*
	 * Run from a checkout (build/signet, build/sanitize/signet): the
	 * policies are in the nearest ancestor's policies/ directory.
	 */
	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (len > 0) {
		char *slash;
		int up;

		exe[len] = '\0';
		for (up = 0; up < 3 && (slash = strrchr(exe, '/')) != NULL && slash != exe; up++) {
			struct stat sb;

			*slash = '\0';
			snprintf(buf, sizeof(buf), "%s/policies", exe);
			if (up > 0 && stat(buf, &sb) == 0 && S_ISDIR(sb.st_mode)) {
				add_dir(dirs, &n, max, buf);
				break;
			}
			/* An installed tree moved elsewhere: PREFIX/bin/signet, PREFIX/share/signet/policies. */
			snprintf(buf, sizeof(buf), "%s/share/signet/policies", exe);
			if (up == 1 && stat(buf, &sb) == 0 && S_ISDIR(sb.st_mode)) {
				add_dir(dirs, &n, max, buf);
				break;
			}
		}
	}
	add_dir(dirs, &n, max, SGT_POLICY_DIR);
	return n;
}

void sgt_policy_dirs_free(char **dirs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(dirs[i]);
}

int sgt_policy_find(const char *store_dir, const char *name, struct sgt_policy **out)
{
	char *dirs[4];
	size_t n, i;
	struct sgt_buf tried = { 0 };
	int rc = SGT_ERR_DATA;

	*out = NULL;
	/* A name, never a path: policies come from the policy directories only. */
	if (!sgt_label_ok(name))
		return sgt_err(SGT_ERR_DATA, "'%s' is not a policy name (use letters, digits, '.', '_', '-')", name);
	n = sgt_policy_dirs(store_dir, dirs, 4);
	for (i = 0; i < n; i++) {
		struct sgt_buf path = { 0 };
		struct stat sb;

		if (sgt_buf_printf(&path, "%s/%s.yaml", dirs[i], name) != SGT_OK) {
			rc = SGT_ERR_DATA;
			goto out;
		}
		if (stat(path.p, &sb) == 0) {
			rc = sgt_db_shared_read(path.p);	/* a store's policy no other host has: refused */
			rc = rc ? rc : sgt_policy_load_file(path.p, out);
			if (rc == SGT_OK && strcmp((*out)->name, name) != 0) {
				rc = sgt_err(SGT_ERR_DATA, "%s: names itself '%s', not '%s'", path.p, (*out)->name, name);
				sgt_policy_free(*out);
				*out = NULL;
			}
			sgt_buf_free(&path);
			goto out;
		}
		sgt_buf_free(&path);
		sgt_buf_printf(&tried, "%s%s", i ? ", " : "", dirs[i]);
	}
	rc = sgt_err(SGT_ERR_DATA, "no policy '%s' (looked in %s)", name, tried.p ? tried.p : "no policy directory");
	sgt_hint("'signet policy list' shows the policies available");
out:
	sgt_buf_free(&tried);
	sgt_policy_dirs_free(dirs, n);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void sgt_policy_names_free(char **names, size_t n)
{
	size_t i;

	for (i = 0; names != NULL && i < n; i++)
		free(names[i]);
	free(names);
}

int sgt_policy_names(const char *store_dir, char ***names, size_t *n)
{
	char *dirs[4];
	size_t nd, i, j, count = 0;
	char **list = NULL;
	int rc = SGT_OK;

	*names = NULL;
	*n = 0;
	nd = sgt_policy_dirs(store_dir, dirs, 4);
	for (i = 0; i < nd && rc == SGT_OK; i++) {
		DIR *d = opendir(dirs[i]);
		struct dirent *de;

		if (d == NULL)
			continue;
		while ((de = readdir(d)) != NULL) {
			size_t len = strlen(de->d_name);
			char **grown;
			char *name;
			int dup = 0;

			if (len <= 5 || strcmp(de->d_name + len - 5, ".yaml") != 0 || de->d_name[0] == '.')
				continue;
			if ((name = strndup(de->d_name, len - 5)) == NULL) {
				rc = sgt_err(SGT_ERR_DATA, "out of memory");
				break;
			}
			for (j = 0; j < count; j++)
				dup |= strcmp(list[j], name) == 0;
			if (dup) {
				free(name);
				continue;
			}
			if ((grown = realloc(list, (count + 1) * sizeof(*list))) == NULL) {
				free(name);
				rc = sgt_err(SGT_ERR_DATA, "out of memory");
				break;
			}
			list = grown;
			list[count++] = name;
		}
		closedir(d);
	}
	sgt_policy_dirs_free(dirs, nd);
	if (rc != SGT_OK) {
		sgt_policy_names_free(list, count);
		return rc;
	}
	if (count > 0)
		qsort(list, count, sizeof(*list), cmp_str);
	*names = list;
	*n = count;
	return SGT_OK;
}
