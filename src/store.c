/*
 * store.c: the store on disk.  Every file it writes goes through
 * sgt_atomic_write (temp file in the same directory, fsync, rename, fsync
 * of the directory), so a reader or a crash never sees half a file.  The
 * flock on <store>/lock serialises state-changing commands.  This module
 * reads and writes YAML records; it never talks to a token.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hsmguard.h"
#include "intent.h"
#include "store.h"
#include "yamltree.h"

const char *sgt_store_dir(const char *opt)
{
	const char *env = getenv("SIGNET_STORE");

	if (opt != NULL && *opt != '\0')
		return opt;
	if (env != NULL && *env != '\0')
		return env;
	return "./signet-store";
}

char *sgt_store_path(const struct sgt_store *st, const char *rel)
{
	struct sgt_buf b = { 0 };

	if (sgt_buf_printf(&b, "%s/%s", st->dir, rel) != SGT_OK)
		return NULL;
	return b.p;
}

int sgt_mkdirs(const char *path)
{
	char tmp[PATH_MAX];
	char *p;

	if (strlen(path) >= sizeof(tmp))
		return sgt_err(SGT_ERR_DATA, "path too long: '%s'", path);
	if (path[0] == '\0')
		return SGT_OK;
	strcpy(tmp, path);
	for (p = tmp + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;

			*p = '\0';
			if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
				return sgt_err(SGT_ERR_DATA, "cannot create directory '%s': %s", tmp, strerror(errno));
			*p = c;
			if (c == '\0')
				break;
		}
	}
	return SGT_OK;
}

int sgt_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	int rc = SGT_OK;

	if (fd < 0)
		return sgt_err(SGT_ERR_DATA, "cannot open directory '%s': %s", dir, strerror(errno));
	if (fsync(fd) != 0)
		rc = sgt_err(SGT_ERR_DATA, "cannot sync directory '%s': %s", dir, strerror(errno));
	close(fd);
	return rc;
}

static int atomic_write(const char *path, const void *data, size_t len, int exclusive);

int sgt_atomic_write(const char *path, const void *data, size_t len, int exclusive)
{
	int rc;

	sgt_sig_hold();
	rc = atomic_write(path, data, len, exclusive);
	sgt_sig_release();
	return rc;
}

static int atomic_write(const char *path, const void *data, size_t len, int exclusive)
{
	char dir[PATH_MAX], tmp[PATH_MAX];
	const char *slash = strrchr(path, '/');
	const char *p = data;
	size_t done = 0;
	int fd, rc;

	if (strlen(path) + 16 >= sizeof(tmp) || (slash != NULL && (size_t)(slash - path) >= sizeof(dir)))
		return sgt_err(SGT_ERR_DATA, "path too long: '%s'", path);
	if (slash == NULL)
		strcpy(dir, ".");	/* a bare file name (an --out argument) is in the current directory */
	else if (slash == path)
		strcpy(dir, "/");
	else {
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
	}
	if ((rc = sgt_mkdirs(dir)) != SGT_OK)
		return rc;
	snprintf(tmp, sizeof(tmp), "%s.tmpXXXXXX", path);
	fd = mkstemp(tmp);
	if (fd < 0)
		return sgt_err(SGT_ERR_DATA, "cannot create '%s': %s", tmp, strerror(errno));
	while (done < len) {
		ssize_t n = write(fd, p + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = sgt_err(SGT_ERR_DATA, "cannot write '%s': %s", path, strerror(errno));
			goto fail;
		}
		done += (size_t)n;
	}
	if (fsync(fd) != 0) {
		rc = sgt_err(SGT_ERR_DATA, "cannot sync '%s': %s", path, strerror(errno));
		goto fail;
	}
	if (close(fd) != 0) {
		fd = -1;
		rc = sgt_err(SGT_ERR_DATA, "cannot write '%s': %s", path, strerror(errno));
		goto fail;
	}
	fd = -1;
	if (exclusive) {
		/* link() fails if the name exists, so no record is ever replaced. */
		if (link(tmp, path) != 0) {
			rc = errno == EEXIST
				? sgt_err(SGT_ERR_DATA, "'%s' already exists; not replacing it", path)
				: sgt_err(SGT_ERR_DATA, "cannot create '%s': %s", path, strerror(errno));
			goto fail;
		}
		unlink(tmp);
	} else if (rename(tmp, path) != 0) {
		rc = sgt_err(SGT_ERR_DATA, "cannot replace '%s': %s", path, strerror(errno));
		goto fail;
	}
	return sgt_fsync_dir(dir);
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return rc;
}

void sgt_store_unlink(const char *path)
{
	if (path != NULL && unlink(path) != 0 && errno != ENOENT)
		sgt_warn("cannot remove '%s' while undoing a failed command: %s", path, strerror(errno));
}

int sgt_store_lock(struct sgt_store *st, int exclusive)
{
	char *path = sgt_store_path(st, "lock");
	int fd;

	if (path == NULL)
		return SGT_ERR_DATA;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		int rc = sgt_err(SGT_ERR_DATA, "cannot open lock file '%s': %s", path, strerror(errno));

		free(path);
		return rc;
	}
	while (flock(fd, exclusive ? LOCK_EX : LOCK_SH) != 0) {
		if (errno != EINTR) {
			int rc = sgt_err(SGT_ERR_DATA, "cannot lock '%s': %s", path, strerror(errno));

			close(fd);
			free(path);
			return rc;
		}
	}
	free(path);
	st->lock_fd = fd;
	st->lock_exclusive = exclusive;
	return SGT_OK;
}

int sgt_store_relock(struct sgt_store *st, int how)
{
	if (st->lock_fd < 0)
		return sgt_err(SGT_ERR_DATA, "internal error: the store is not locked");
	while (flock(st->lock_fd, how == 0 ? LOCK_UN : how > 0 ? LOCK_EX : LOCK_SH) != 0)
		if (errno != EINTR)
			return sgt_err(SGT_ERR_DATA, "cannot lock the store '%s': %s", st->dir, strerror(errno));
	st->lock_exclusive = how > 0;
	return SGT_OK;
}

void sgt_config_release(struct sgt_config *cfg)
{
	size_t i;

	free(cfg->module);
	free(cfg->token);
	free(cfg->pin_source);
	free(cfg->policy);
	for (i = 0; i < cfg->nenv; i++) {
		free(cfg->env_name[i]);
		free(cfg->env_value[i]);
	}
	memset(cfg, 0, sizeof(*cfg));
}

static int dup_field(const char *name, const struct sgt_yaml *map, const char *key, int required, char **out)
{
	const char *v = NULL;
	int rc = sgt_yaml_get_str(name, map, key, required, &v);

	if (rc != SGT_OK || v == NULL)
		return rc;
	if ((*out = strdup(v)) == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	return SGT_OK;
}

static int config_parse(const char *path, const struct sgt_yaml *root, struct sgt_config *cfg)
{
	static const char *const top_keys[] = { "hsm", "policy", NULL };
	static const char *const hsm_keys[] = { "module", "token", "pin_source", "env", NULL };
	const struct sgt_yaml *hsm, *env;
	int rc;
	size_t i;

	if ((rc = sgt_yaml_check_keys(path, root, "signet.yaml", top_keys)) != SGT_OK)
		return rc;
	hsm = sgt_yaml_get(root, "hsm");
	if (hsm == NULL)
		return sgt_err(SGT_ERR_DATA, "%s:%d: missing field 'hsm'", path, root->line);
	if ((rc = sgt_yaml_check_keys(path, hsm, "'hsm'", hsm_keys)) != SGT_OK ||
	    (rc = dup_field(path, hsm, "module", 1, &cfg->module)) != SGT_OK ||
	    (rc = dup_field(path, hsm, "token", 1, &cfg->token)) != SGT_OK ||
	    (rc = dup_field(path, hsm, "pin_source", 0, &cfg->pin_source)) != SGT_OK ||
	    (rc = dup_field(path, root, "policy", 0, &cfg->policy)) != SGT_OK)
		return rc;
	if (cfg->pin_source != NULL && strncmp(cfg->pin_source, "file:", 5) != 0)
		return sgt_err(SGT_ERR_DATA, "%s:%d: field 'pin_source' must be 'file:PATH', not '%s'", path,
			       sgt_yaml_get(hsm, "pin_source")->line, cfg->pin_source);
	env = sgt_yaml_get(hsm, "env");
	if (env == NULL)
		return SGT_OK;
	if (env->kind != SGT_YAML_MAP)
		return sgt_err(SGT_ERR_DATA, "%s:%d: field 'env' must be a mapping of NAME: value", path, env->line);
	if (env->n > SGT_MAX_ENV)
		return sgt_err(SGT_ERR_DATA, "%s:%d: field 'env' has more than %d entries", path, env->line, SGT_MAX_ENV);
	for (i = 0; i < env->n; i++) {
		if (env->items[i]->kind != SGT_YAML_SCALAR)
			return sgt_err(SGT_ERR_DATA, "%s:%d: env '%s' must be a single value", path,
				       env->items[i]->line, env->keys[i]);
		if (env->keys[i][0] == '\0' || strspn(env->keys[i], "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") !=
		    strlen(env->keys[i]))
			return sgt_err(SGT_ERR_DATA, "%s:%d: env name '%s' is not a variable name", path,
				       env->items[i]->line, env->keys[i]);
		cfg->env_name[i] = strdup(env->keys[i]);
		cfg->env_value[i] = strdup(env->items[i]->value);
		cfg->nenv = i + 1;
		if (cfg->env_name[i] == NULL || cfg->env_value[i] == NULL)
			return sgt_err(SGT_ERR_DATA, "out of memory");
	}
	return SGT_OK;
}

int sgt_store_open(struct sgt_store *st, const char *dir)
{
	char abs[PATH_MAX];
	char *cfgpath = NULL;
	struct sgt_yaml *root = NULL;
	struct stat sb;
	int rc;

	memset(st, 0, sizeof(*st));
	st->lock_fd = -1;
	if (realpath(dir, abs) == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "no store at '%s': %s", dir, strerror(errno));
		sgt_hint("create one with 'signet --store %s init'", dir);
		return rc;
	}
	if ((st->dir = strdup(abs)) == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	if ((cfgpath = sgt_store_path(st, "signet.yaml")) == NULL) {
		rc = SGT_ERR_DATA;
		goto out;
	}
	if (stat(cfgpath, &sb) != 0) {
		rc = sgt_err(SGT_ERR_DATA, "no store at '%s': '%s' is missing", dir, cfgpath);
		sgt_hint("create one with 'signet --store %s init'", dir);
		goto out;
	}
	if ((rc = sgt_yaml_load(cfgpath, &root)) != SGT_OK)
		goto out;
	rc = config_parse(cfgpath, root, &st->cfg);
out:
	sgt_yaml_free(root);
	free(cfgpath);
	if (rc != SGT_OK)
		sgt_store_release(st);
	return rc;
}

void sgt_store_release(struct sgt_store *st)
{
	if (st->lock_fd >= 0)
		close(st->lock_fd);	/* releases the flock */
	sgt_config_release(&st->cfg);
	free(st->dir);
	st->dir = NULL;
	st->lock_fd = -1;
	st->lock_exclusive = 0;
}

/* "hsm/softhsm2.conf", "./x", "../x": yes; "/abs", "unix:path=...", "tcp:h:p", "1", "": no. */
static int env_is_relative_path(const char *v)
{
	if (v[0] == '\0' || v[0] == '/')
		return 0;
	if (v[0] == '.' || strchr(v, '/') != NULL)
		return strcspn(v, ":=") > strcspn(v, "/");	/* a '/' before any ':' or '=' */
	return 0;
}

int sgt_store_apply_env(const struct sgt_store *st)
{
	size_t i;

	for (i = 0; i < st->cfg.nenv; i++) {
		const char *v = st->cfg.env_value[i];
		char *abs = NULL;
		int r;

		/*
		 * Only a relative path is resolved against the store: addresses
		 * such as unix:path=/run/p11-kit/pkcs11 or tcp:host:port, and
		 * plain words, are passed through unchanged.
		 */
		if (env_is_relative_path(v) && (abs = sgt_store_path(st, v)) == NULL)
			return SGT_ERR_DATA;
		r = setenv(st->cfg.env_name[i], abs ? abs : v, 1);
		free(abs);
		if (r != 0)
			return sgt_err(SGT_ERR_DATA, "cannot set %s: %s", st->cfg.env_name[i], strerror(errno));
	}
	return sgt_hsm_enter(st);
}

int sgt_config_save(const char *path, const struct sgt_config *cfg)
{
	struct sgt_buf b = { 0 };
	size_t i;
	int rc;

	rc = sgt_buf_printf(&b, "# signet store configuration (see docs/store.md)\nhsm:\n  module: ");
	rc = rc ? rc : sgt_yaml_quote(&b, cfg->module);
	rc = rc ? rc : sgt_buf_printf(&b, "\n  token: ");
	rc = rc ? rc : sgt_yaml_quote(&b, cfg->token);
	if (cfg->pin_source != NULL) {
		rc = rc ? rc : sgt_buf_printf(&b, "\n  pin_source: ");
		rc = rc ? rc : sgt_yaml_quote(&b, cfg->pin_source);
	}
	if (cfg->nenv > 0)
		rc = rc ? rc : sgt_buf_printf(&b, "\n  env:");
	for (i = 0; i < cfg->nenv; i++) {
		rc = rc ? rc : sgt_buf_printf(&b, "\n    %s: ", cfg->env_name[i]);
		rc = rc ? rc : sgt_yaml_quote(&b, cfg->env_value[i]);
	}
	if (cfg->policy != NULL) {
		rc = rc ? rc : sgt_buf_printf(&b, "\npolicy: ");
		rc = rc ? rc : sgt_yaml_quote(&b, cfg->policy);
	}
	rc = rc ? rc : sgt_buf_add(&b, "\n", 1);
	rc = rc ? rc : sgt_atomic_write(path, b.p, b.len, 1);
	sgt_buf_free(&b);
	return rc;
}

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

static int keyrec_write(const struct sgt_store *st, const struct sgt_keyrec *rec, int exclusive)
{
	char *path;
	struct sgt_buf b = { 0 };
	size_t i;
	int rc, known = 0;

	/* The label names a file; the other fields are hex, names and times we made. */
	if ((rc = sgt_label_check(rec->label)) != SGT_OK)
		return rc;
	if ((path = keyrec_path(st, rec->label)) == NULL)
		return SGT_ERR_DATA;
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
	rc = rc ? rc : sgt_put(path, b.p, b.len, exclusive);
	sgt_buf_free(&b);
	free(path);
	return rc;
}

int sgt_keyrec_save(const struct sgt_store *st, const struct sgt_keyrec *rec)
{
	return keyrec_write(st, rec, 1);
}

int sgt_keyrec_update(const struct sgt_store *st, const struct sgt_keyrec *rec)
{
	return keyrec_write(st, rec, 0);
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
