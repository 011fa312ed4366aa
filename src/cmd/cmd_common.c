/*
 * cmd_common.c: helpers shared by the command files: quiet getopt with
 * signet's one-line errors, help and usage output, store opening with the
 * lock, JSON printing and the PIN options.
 */
#include <errno.h>
#include <limits.h>
#include <ftw.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "dbstore.h"
#include "hsmguard.h"
#include "intent.h"
#include "tx.h"

int cmd_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "signet: %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	sgt_hint("'signet help %s' shows the usage", cmd);
	return SGT_ERR_USAGE;
}

int cmd_help(const char *text)
{
	fputs(text, stdout);
	return SGT_OK;
}

int cmd_getopt(const char *cmd, int argc, char **argv, const char *shortopts,
	       const struct option *longopts, int *started)
{
	char spec[64];
	int c;

	if (!*started) {
		optind = 0;	/* GNU: full re-initialisation */
		*started = 1;
	}
	/* Options may follow operands (signet key generate LABEL --alg ...); ':' reports missing arguments as ':'. */
	snprintf(spec, sizeof(spec), ":%s", shortopts);
	opterr = 0;
	c = getopt_long(argc, argv, spec, longopts, NULL);
	if (c == '?') {
		if (optopt > 0 && optopt < 0x100)
			cmd_usage(cmd, "unknown option '-%c'", optopt);
		else
			cmd_usage(cmd, "unknown option '%s'", argv[optind - 1]);
		return -2;
	}
	if (c == ':') {
		cmd_usage(cmd, "option '%s' needs an argument", argv[optind - 1]);
		return -2;
	}
	return c;
}

/*
 * The PIN options the command parsed (cmd_pin_opt), read by cmd_store_open
 * before it locks: a copy, since a command may parse into a struct that
 * does not outlive its option parser.
 */
static struct sgt_pin_opts given_pins = SGT_PIN_OPTS_INIT;

int cmd_store_open(struct sgt_ctx *ctx, struct sgt_store *st, int lock)
{
	int rc = sgt_store_open(st, sgt_store_dir(ctx->store_opt));

	if (rc != SGT_OK)
		return rc;
	/*
	 * A --pin-file or --pin-fd is read now, before the lock and the module:
	 * a FIFO nobody writes then blocks no other command, and SIGINT/SIGTERM
	 * end the wait at once.  A PIN that cannot be read is an error only
	 * where a login needs it (sgt_pin_get reads the source again and says
	 * why): many commands accept the PIN options without logging in.
	 */
	sgt_err_hold();	/* errors held back; a warning (a PIN file others may read) is said now */
	(void)sgt_pin_preread(&given_pins);
	(void)sgt_err_release();
	/* A writer's lock first finishes or undoes what an interrupted command left (tx.h). */
	if (lock == SGT_LOCK_EXCLUSIVE)
		rc = sgt_tx_lock(st);
	else if (lock == SGT_LOCK_SHARED)
		rc = sgt_store_lock(st, 0);
	if (rc != SGT_OK)
		sgt_store_release(st);
	return rc;
}

void cmd_pin_unused(void)
{
	struct sgt_pin_opts none = SGT_PIN_OPTS_INIT;

	given_pins = none;
}

int cmd_store_open_optional(struct sgt_ctx *ctx, struct sgt_store *st, int lock, int *have)
{
	struct sgt_buf cfg = { 0 };
	int absent;

	*have = 0;
	memset(st, 0, sizeof(*st));
	st->lock_fd = -1;
	if (sgt_buf_printf(&cfg, "%s/signet.yaml", sgt_store_dir(ctx->store_opt)) != SGT_OK)
		return SGT_ERR_DATA;
	absent = access(cfg.p, F_OK) != 0;
	sgt_buf_free(&cfg);
	if (absent)
		return SGT_OK;
	*have = 1;
	return cmd_store_open(ctx, st, lock);
}

int cmd_custody_records(struct sgt_ctx *ctx, struct sgt_keyrec **recs, size_t *n, int *have)
{
	struct sgt_store st;
	int rc = cmd_store_open_optional(ctx, &st, SGT_LOCK_SHARED, have);

	*recs = NULL;
	*n = 0;
	if (rc != SGT_OK || !*have) {
		*have = 0;
		return rc;
	}
	rc = sgt_keyrec_list(&st, recs, n);
	sgt_store_release(&st);
	if (rc != SGT_OK)
		*have = 0;
	return rc;
}

const char *cmd_custody_label(const struct sgt_keyrec *recs, size_t n, const char *spki)
{
	const struct sgt_keyrec *r = sgt_keyrec_by_spki(recs, n, spki);

	return r != NULL ? r->label : NULL;
}

int cmd_json_print(json_t *j)
{
	char *s;

	if (j == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(j);
	if (s == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	puts(s);
	free(s);
	return SGT_OK;
}

int cmd_pin_opt(const char *cmd, int c, const char *arg, struct sgt_pin_opts *opts, int *rc)
{
	char *end;
	long fd;

	*rc = SGT_OK;
	if (c == 0x100) {
		opts->file = arg;
		given_pins = *opts;
		return 1;
	}
	if (c != 0x101)
		return 0;
	errno = 0;
	fd = strtol(arg, &end, 10);
	if (errno || *end || end == arg || fd < 0 || fd > 65535)
		*rc = cmd_usage(cmd, "--pin-fd needs a file descriptor number, not '%s'", arg);
	else
		opts->fd = (int)fd;
	given_pins = *opts;
	return 1;
}

int cmd_failed_because(int rc, const char *what)
{
	char why[512], hint[512];
	const char *h = sgt_err_release();

	if (rc == SGT_OK)
		return SGT_OK;
	snprintf(why, sizeof(why), "%s", sgt_last_error());
	snprintf(hint, sizeof(hint), "%s", h ? h : "");
	sgt_err(rc, "%s: %s", what, why);
	if (hint[0] != '\0')
		sgt_hint("%s", hint);
	return rc;
}

int cmd_label_or_file(const struct sgt_store *st, const char *arg, int force_file)
{
	struct stat sb;
	int exists, label;

	if (force_file || strchr(arg, '/') != NULL)
		return 1;
	exists = stat(arg, &sb) == 0;
	label = st != NULL && sgt_label_ok(arg) && sgt_keyrec_exists(st, arg);
	if (exists && label) {
		sgt_err(SGT_ERR_USAGE, "'%s' is both the key '%s' in custody and the file '%s' here", arg, arg, arg);
		sgt_hint("say './%s' or --file %s for the file, or move out of this directory for the key", arg, arg);
		return SGT_ERR_USAGE;
	}
	return exists ? 1 : 0;
}

int cmd_define_opt(const char *cmd, int undefine, const char *arg, struct cmd_defines *d)
{
	const char *eq = undefine ? NULL : strchr(arg, '=');
	size_t len = eq ? (size_t)(eq - arg) : strlen(arg), i;

	if (d->n >= sizeof(d->v) / sizeof(d->v[0]))
		return cmd_usage(cmd, "too many -D/-U (at most %zu)", sizeof(d->v) / sizeof(d->v[0]));
	if (len == 0 || len >= sizeof(d->names[0]) || (arg[0] >= '0' && arg[0] <= '9'))
		return cmd_usage(cmd, "'%s' is not a macro name (-D NAME[=VALUE], -U NAME)", arg);
	for (i = 0; i < len; i++)
		if (!((arg[i] >= 'a' && arg[i] <= 'z') || (arg[i] >= 'A' && arg[i] <= 'Z') ||
		      (arg[i] >= '0' && arg[i] <= '9') || arg[i] == '_'))
			return cmd_usage(cmd, "'%s' is not a macro name (-D NAME[=VALUE], -U NAME)", arg);
	memcpy(d->names[d->n], arg, len);
	d->names[d->n][len] = '\0';
	d->v[d->n].name = d->names[d->n];
	d->v[d->n].value = eq ? eq + 1 : NULL;
	d->v[d->n].undefined = undefine;
	d->n++;
	return SGT_OK;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void cmd_rm_tree(const char *dir)
{
	if (dir != NULL && nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT)
		sgt_warn("could not remove '%s'", dir);
}

int cmd_path_absolute(const char *given, char out[PATH_MAX])
{
	char path[PATH_MAX], parent[PATH_MAX], rp[PATH_MAX];
	const char *slash, *base;
	size_t plen = strlen(given);

	if (plen == 0 || plen >= sizeof(path))
		return sgt_err(SGT_ERR_DATA, "unusable path '%s'", given);
	memcpy(path, given, plen + 1);
	while (plen > 1 && path[plen - 1] == '/')
		path[--plen] = '\0';
	slash = strrchr(path, '/');
	if (slash == NULL) {
		strcpy(parent, ".");
		base = path;
	} else {
		plen = slash == path ? 1 : (size_t)(slash - path);
		memcpy(parent, path, plen);
		parent[plen] = '\0';
		base = slash + 1;
	}
	if (*base == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
		return sgt_err(SGT_ERR_USAGE, "'%s' is not a usable store directory name", path);
	if (realpath(parent, rp) == NULL)
		return sgt_err(SGT_ERR_DATA, "cannot use '%s': '%s': %s", given, parent, strerror(errno));
	if ((size_t)snprintf(out, PATH_MAX, "%s/%s", strcmp(rp, "/") ? rp : "", base) >= PATH_MAX)
		return sgt_err(SGT_ERR_DATA, "path too long: '%s'", given);
	return SGT_OK;
}

int cmd_dir_free(const char *path, const char *shown, const char *verb)
{
	char cfg[PATH_MAX + 16];
	struct stat sb;
	struct dirent *de;
	DIR *d;
	int empty = 1;

	if (lstat(path, &sb) != 0)
		return errno == ENOENT ? SGT_OK : sgt_err(SGT_ERR_DATA, "cannot use '%s': %s", shown, strerror(errno));
	if (!S_ISDIR(sb.st_mode))
		return sgt_err(SGT_ERR_DATA, "cannot %s '%s': it exists and is not a directory", verb, shown);
	if ((d = opendir(path)) == NULL)
		return sgt_err(SGT_ERR_DATA, "cannot use '%s': %s", shown, strerror(errno));
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			empty = 0;
	closedir(d);
	if (empty)
		return SGT_OK;
	snprintf(cfg, sizeof(cfg), "%s/signet.yaml", path);
	if (access(cfg, F_OK) == 0)
		return sgt_err(SGT_ERR_DATA, "a store already exists at '%s'; refusing to overwrite it", shown);
	return sgt_err(SGT_ERR_DATA, "cannot %s '%s': it is not empty; refusing to overwrite it", verb, shown);
}
