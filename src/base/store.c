/*
 * store.c: the store on disk: where it is, its layout, signet.yaml, the
 * flock on <store>/lock that serialises state-changing commands, and the
 * trust checks on its files.  Every file it writes goes through
 * sgt_atomic_write (fsio.c), so a reader or a crash never sees half a
 * file.  It never talks to a token and writes no records (keyrec.c,
 * audit.c do).
 * Floor: base 2.  It may call base 0-1 (sgt.c, fsio.c, yamltree.c).
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

/* "pid 1234 (signet key generate fw)" for the run recorded in the lock file, or "" */
static void lock_holder(int fd, char *out, size_t cap)
{
	char buf[32], path[64], cmd[160];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	long pid;
	size_t i;
	int cfd;

	out[0] = '\0';
	if (n <= 4)
		return;
	buf[n] = '\0';
	if (sscanf(buf, "pid %ld", &pid) != 1 || pid <= 0)
		return;
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
	cmd[0] = '\0';
	if ((cfd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		n = read(cfd, cmd, sizeof(cmd) - 1);
		close(cfd);
		if (n > 0) {
			cmd[n] = '\0';
			for (i = 0; i + 1 < (size_t)n; i++)
				if (cmd[i] == '\0')
					cmd[i] = ' ';
		} else {
			cmd[0] = '\0';
		}
	}
	if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
		return;	/* a stale record: the holder is a shared-lock reader */
	snprintf(out, cap, cmd[0] ? "pid %ld (%s)" : "pid %ld", pid, cmd);
}

/* SIGNET_LOCK_TIMEOUT (seconds, 0 = do not wait), default SGT_LOCK_TIMEOUT. */
static long lock_timeout(void)
{
	const char *e = getenv("SIGNET_LOCK_TIMEOUT");
	char *end;
	long v;

	if (e == NULL || *e == '\0')
		return SGT_LOCK_TIMEOUT;
	v = strtol(e, &end, 10);
	return *end == '\0' && v >= 0 && v <= 86400 ? v : SGT_LOCK_TIMEOUT;
}

int sgt_store_lock(struct sgt_store *st, int exclusive)
{
	char *path = sgt_store_path(st, "lock");
	char who[256];
	struct timespec start, now;
	long timeout = lock_timeout();
	int fd, rc = SGT_OK, said = 0;

	if (path == NULL)
		return SGT_ERR_DATA;
	/*
	 * O_NOFOLLOW: a symlinked lock must not create or truncate files
	 * elsewhere.  A reader opens it read-only (flock needs no write
	 * access), so that a store on read-only media can be audited; only a
	 * store that never had a writer lacks the file, and a reader then
	 * creates it, or, on a read-only file system, does without.
	 */
	fd = open(path, (exclusive ? O_RDWR | O_CREAT : O_RDONLY) | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
	if (fd < 0 && !exclusive && errno == ENOENT) {
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
		if (fd < 0 && errno == EROFS) {
			free(path);
			st->lock_fd = -1;
			st->lock_exclusive = 0;
			return SGT_OK;
		}
	}
	if (fd < 0 && errno == EROFS) {
		rc = sgt_err(SGT_ERR_DATA, "store '%s' is on a read-only file system: this command changes the store", st->dir);
		sgt_hint("readers (audit verify, audit custody, key list, cert list, fleet report) work on a read-only store");
		free(path);
		return rc;
	}
	if (fd < 0) {
		rc = errno == ELOOP ? sgt_err(SGT_ERR_DATA, "refusing lock file '%s': it is a symbolic link", path)
				    : sgt_err(SGT_ERR_DATA, "cannot open lock file '%s': %s", path, strerror(errno));
		free(path);
		return rc;
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0) {
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK) {
			rc = sgt_err(SGT_ERR_DATA, "cannot lock '%s': %s", path, strerror(errno));
			break;
		}
		lock_holder(fd, who, sizeof(who));
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec >= timeout) {
			rc = sgt_err(SGT_ERR_DATA, "store '%s' is locked by %s; gave up after %ld s", st->dir,
				     who[0] ? who : "another signet run", timeout);
			sgt_hint("SIGNET_LOCK_TIMEOUT=SECONDS waits longer");
			break;
		}
		if (!said && !sgt_quiet && !sgt_silent) {
			/* progress, not a failure: no "signet:" prefix, so a give-up below stays the one error line */
			fprintf(stderr, "waiting for the store lock held by %s (up to %ld s)\n",
				who[0] ? who : "another signet run", timeout);
			said = 1;
		}
		{
			struct timespec ts = { 0, 100 * 1000 * 1000 };

			nanosleep(&ts, NULL);
		}
	}
	if (rc != SGT_OK) {
		close(fd);
		free(path);
		return rc;
	}
	if (exclusive) {
		/* who holds it, for a run that has to wait */
		char rec[32];
		int n = snprintf(rec, sizeof(rec), "pid %ld\n", (long)getpid());

		if (ftruncate(fd, 0) != 0 || pwrite(fd, rec, (size_t)n, 0) != n)
			sgt_verbose("cannot record the lock holder in '%s': %s", path, strerror(errno));
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

/* -- trust: the store is ours alone ------------------------------------------ */

/* A directory or file others could change is not a store signet can trust. */
static int owned_private(const char *path, const struct stat *sb, const char *what)
{
	if (sb->st_uid != geteuid())
		return sgt_err(SGT_ERR_DATA, "refusing %s '%s': owned by uid %lu, not by the user running signet (uid %lu)",
			       what, path, (unsigned long)sb->st_uid, (unsigned long)geteuid());
	if (sb->st_mode & (S_IWGRP | S_IWOTH))
		return sgt_err(SGT_ERR_DATA, "refusing %s '%s': writable by %s (mode %03o)", what, path,
			       sb->st_mode & S_IWOTH ? "others" : "its group", (unsigned)(sb->st_mode & 07777));
	return SGT_OK;
}

int sgt_path_trusted(const char *path, const char *what)
{
	struct stat sb;

	if (lstat(path, &sb) != 0)
		return sgt_err(SGT_ERR_DATA, "cannot read %s '%s': %s", what, path, strerror(errno));
	if (S_ISLNK(sb.st_mode))
		return sgt_err(SGT_ERR_DATA, "refusing %s '%s': it is a symbolic link", what, path);
	return owned_private(path, &sb, what);
}

#define TRUST_MAX_DEPTH 6

/*
 * Every entry under dir: no symbolic links (a symlinked certs/<label> would
 * receive certificates elsewhere, a symlinked lock create files
 * elsewhere), nothing but files and directories, and every directory ours
 * and closed to others (else a neighbour could plant such a link).
 */
static int trust_walk(const char *dir, int depth)
{
	DIR *d;
	struct dirent *e;
	int rc = SGT_OK;

	if (depth > TRUST_MAX_DEPTH)
		return sgt_err(SGT_ERR_DATA, "refusing '%s': directories nested deeper than a store's", dir);
	if ((d = opendir(dir)) == NULL)
		return sgt_err(SGT_ERR_DATA, "cannot read directory '%s': %s", dir, strerror(errno));
	while (rc == SGT_OK && (e = readdir(d)) != NULL) {
		struct sgt_buf p = { 0 };
		struct stat sb;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (sgt_buf_printf(&p, "%s/%s", dir, e->d_name) != SGT_OK) {
			rc = sgt_err(SGT_ERR_DATA, "out of memory");
			break;
		}
		if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
			if (errno != ENOENT)	/* a temp file another run just renamed */
				rc = sgt_err(SGT_ERR_DATA, "cannot read '%s': %s", p.p, strerror(errno));
		} else if (S_ISLNK(sb.st_mode)) {
			rc = sgt_err(SGT_ERR_DATA, "refusing the store: '%s' is a symbolic link", p.p);
			sgt_hint("signet follows no links inside its store; put the file itself there");
		} else if (S_ISDIR(sb.st_mode)) {
			if ((rc = owned_private(p.p, &sb, "store directory")) == SGT_OK)
				rc = trust_walk(p.p, depth + 1);
		} else if (!S_ISREG(sb.st_mode)) {
			rc = sgt_err(SGT_ERR_DATA, "refusing the store: '%s' is not a regular file", p.p);
		}
		sgt_buf_free(&p);
	}
	closedir(d);
	return rc;
}

static int store_trusted(const struct sgt_store *st, const char *cfgpath)
{
	struct stat sb;
	int rc;

	if (stat(st->dir, &sb) != 0)
		return sgt_err(SGT_ERR_DATA, "cannot read store '%s': %s", st->dir, strerror(errno));
	if ((rc = owned_private(st->dir, &sb, "store directory")) != SGT_OK ||
	    (rc = sgt_path_trusted(cfgpath, "store configuration")) != SGT_OK)
		return rc;
	return trust_walk(st->dir, 0);
}

/* The module signet loads runs with the user's rights: nobody else may change it. */
static int module_trusted(const char *cfgpath, const char *module)
{
	struct stat sb;

	if (module == NULL || strchr(module, '/') == NULL || stat(module, &sb) != 0)
		return SGT_OK;	/* a missing module is reported by the loader, naming it */
	if (sb.st_mode & S_IWOTH)
		return sgt_err(SGT_ERR_DATA, "refusing PKCS#11 module '%s' named in '%s': writable by others (mode %03o)",
			       module, cfgpath, (unsigned)(sb.st_mode & 07777));
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
	if ((rc = store_trusted(st, cfgpath)) != SGT_OK)
		goto out;
	if ((rc = sgt_yaml_load(cfgpath, &root)) != SGT_OK)
		goto out;
	rc = config_parse(cfgpath, root, &st->cfg);
	rc = rc ? rc : module_trusted(cfgpath, st->cfg.module);
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
	return SGT_OK;
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
