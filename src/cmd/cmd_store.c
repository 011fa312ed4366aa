/*
 * cmd_store.c: `signet store migrate`: a file store into PostgreSQL
 * (--to CONNINFO) and a database store back into a directory (--to DIR),
 * the audit chain byte for byte, every store file, the head as it was.
 * The source is left exactly as it was: a copy, not a move, so that a
 * failure anywhere leaves a working store; the user retires the source
 * (docs/multi-host.md says how).  And `signet store put`: files people
 * write into the store, recorded and (on a database store) shared with
 * every host through the command's transaction.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>

#include "approve.h"
#include "cmd.h"
#include "dbstore.h"
#include "fleet.h"
#include "policy.h"
#include "sshsig.h"
#include "tx.h"

static const char help[] =
	"usage: signet store migrate --to CONNINFO|DIR\n"
	"       signet store put FILE...\n\n"
	"put: shares files people write (fleets.yaml, policies/, allowed_signers) with\n"
	"  every host of a database-backed store, one store.put record per file\n"
	"  ('signet store put --help').\n\n"
	"--to CONNINFO (a libpq conninfo 'host=... dbname=...' or a postgresql:// URI):\n"
	"  copies this file store into an empty PostgreSQL database: every audit\n"
	"  record byte for byte, the head, every store file.  Then attach each host\n"
	"  with 'signet init --db CONNINFO --join --module ... --token ...'.\n"
	"--to DIR (from a database-backed store): writes the database's store into\n"
	"  the new directory DIR as a file store, with this host's token settings.\n\n"
	"The source is left as it was; stop using it (docs/multi-host.md).\n"
	"Exit 3 on a database or file error, nothing half-written.\n";

static int is_conninfo(const char *s)
{
	return strncmp(s, "postgresql://", 13) == 0 || strncmp(s, "postgres://", 11) == 0 || strchr(s, '=') != NULL;
}

/* A host-relative setting ("file:hsm/user.pin", "hsm/softhsm2.conf") made absolute against the old store. */
static char *absolute_in(const char *dir, const char *v, int file_prefix)
{
	const char *p = file_prefix ? v + 5 : v;
	char *out;

	if (p[0] == '/' || (!file_prefix && strchr(p, '/') == NULL) ||
	    (!file_prefix && strcspn(p, ":=") < strcspn(p, "/")))
		return strdup(v);
	if ((out = malloc(strlen(dir) + strlen(p) + 8)) != NULL)
		sprintf(out, "%s%s/%s", file_prefix ? "file:" : "", dir, p);
	return out;
}

static int to_dir(struct sgt_store *st, const char *given)
{
	char final[PATH_MAX], tmp[PATH_MAX + 32], cfgpath[PATH_MAX + 64];
	struct sgt_config cfg;
	size_t i;
	int rc;

	memset(&cfg, 0, sizeof(cfg));
	if ((rc = cmd_path_absolute(given, final)) != SGT_OK || (rc = cmd_dir_free(final, given, "migrate the store to")) != SGT_OK)
		return rc;
	{
		const char *slash = strrchr(final, '/');

		snprintf(tmp, sizeof(tmp), "%.*s/.%s.migrateXXXXXX", (int)(slash - final), final, slash + 1);
	}
	if (mkdtemp(tmp) == NULL)
		return sgt_err(SGT_ERR_DATA, "cannot create '%s': %s", given, strerror(errno));
	cfg.module = strdup(st->cfg.module);
	cfg.token = strdup(st->cfg.token);
	cfg.policy = st->cfg.policy ? strdup(st->cfg.policy) : NULL;
	cfg.pin_source = st->cfg.pin_source ? absolute_in(st->dir, st->cfg.pin_source, 1) : NULL;
	for (i = 0; i < st->cfg.nenv; i++) {
		cfg.env_name[i] = strdup(st->cfg.env_name[i]);
		cfg.env_value[i] = absolute_in(st->dir, st->cfg.env_value[i], 0);
		cfg.nenv = i + 1;
	}
	snprintf(cfgpath, sizeof(cfgpath), "%s/signet.yaml", tmp);
	if ((rc = sgt_db_migrate_to_dir(st, tmp)) == SGT_OK && (rc = sgt_config_save(cfgpath, &cfg)) == SGT_OK &&
	    rename(tmp, final) != 0)
		rc = sgt_err(SGT_ERR_DATA, "cannot create '%s': %s", given, strerror(errno));
	if (rc != SGT_OK)
		cmd_rm_tree(tmp);
	sgt_config_release(&cfg);
	if (rc == SGT_OK && !sgt_quiet) {
		printf("wrote the store of database %s to %s as a file store\n", sgt_db_name(), final);
		printf("  the database and this host's directory %s are left as they were: stop signing there\n", st->dir);
	}
	return rc;
}

static int to_db(struct sgt_store *st, const char *conninfo)
{
	int rc = sgt_db_migrate_to_db(st, conninfo, NULL);

	if (rc == SGT_OK && !sgt_quiet) {
		printf("copied store %s into database %s: audit chain and store files\n", st->dir, sgt_db_name());
		printf("  the file store is left as it was: stop signing there\n"
		       "next, on each host: signet --store DIR init --db '...' --join --module PATH --token LABEL [--pin-file F]\n");
	}
	return rc;
}

/* -- store put ------------------------------------------------------------------------ */

static const char put_help[] =
	"usage: signet store put FILE...\n\n"
	"Shares files people write into the store (fleets.yaml, policies/NAME.yaml, the\n"
	"allowed_signers files a policy's approvals name, or any other file of yours\n"
	"under the store) with every host of a database-backed store: one store.put\n"
	"record per file (path, sha256, size), the file carried into the database in\n"
	"the same transaction; the other hosts take it at their next command.  On a\n"
	"file store the record alone is the trail of policy and inventory changes.\n"
	"FILE is relative to the store, or an absolute path inside it.  A policy must\n"
	"load (and its approvals' allowed_signers name enough principals), fleets.yaml\n"
	"and allowed_signers must parse: a broken file is refused, nothing recorded.\n"
	"Files commands write (keys/, certs/, fleets/, rotations/, audit.*) and this\n"
	"host's own (signet.yaml, lock, hsm/, intents/, shared.sha256) are refused.\n"
	"Exit 2 for such a path, 3 for a file that does not parse or cannot be read, or\n"
	"an I/O error (its line says whether the files were recorded).\n";

/* FILE as given: a clean path relative to the store (malloc'd), or a usage error. */
static int put_rel(const char *sdir, const char *given, char **out)
{
	char abs[PATH_MAX], dirbuf[PATH_MAX], *slash;
	const char *rel = given, *p;
	size_t dl = strlen(sdir);

	*out = NULL;
	if (given[0] == '/') {
		snprintf(dirbuf, sizeof(dirbuf), "%s", given);
		slash = strrchr(dirbuf, '/');
		*slash = '\0';
		if (realpath(dirbuf[0] ? dirbuf : "/", abs) == NULL || strlen(abs) + strlen(slash + 1) + 2 > sizeof(abs))
			return cmd_usage("store", "'%s' is not inside the store '%s'", given, sdir);
		strcat(abs, "/");
		strcat(abs, slash + 1);
		if (strncmp(abs, sdir, dl) != 0 || abs[dl] != '/')
			return cmd_usage("store", "'%s' is not inside the store '%s'", given, sdir);
		rel = abs + dl + 1;
	}
	while (strncmp(rel, "./", 2) == 0)
		rel += 2;
	if (*rel == '\0' || rel[strlen(rel) - 1] == '/' || strstr(rel, "//") != NULL)
		return cmd_usage("store", "'%s' does not name a file in the store", given);
	for (p = rel; p != NULL; p = strchr(p, '/') ? strchr(p, '/') + 1 : NULL)
		if (strncmp(p, "../", 3) == 0 || strcmp(p, "..") == 0 || strncmp(p, "./", 2) == 0 || strcmp(p, ".") == 0)
			return cmd_usage("store", "'%s' is not inside the store", given);
	switch (strncmp(rel, "audit.", 6) == 0 ? SGT_FILE_COMMAND : sgt_store_file_kind(rel)) {
	case SGT_FILE_COMMAND:
		return cmd_usage("store", "'%s' is written by signet's own commands, never put by hand", rel);
	case SGT_FILE_HOST:
		return cmd_usage("store", "'%s' is this host's own (or a temporary file), never shared", rel);
	default:
		break;
	}
	if ((*out = strdup(rel)) == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	return SGT_OK;
}

static int is_policy(const char *rel)
{
	size_t n = strlen(rel);

	return strncmp(rel, "policies/", 9) == 0 && strchr(rel + 9, '/') == NULL && n > 14 &&
	       strcmp(rel + n - 5, ".yaml") == 0;
}

/* 1 when a policy in the store's policies/ names rel as its approvals' allowed_signers. */
static int named_signers(const char *sdir, const char *rel)
{
	char pdir[PATH_MAX + 16], path[PATH_MAX * 2];
	struct dirent *de;
	DIR *d;
	int found = 0;

	snprintf(pdir, sizeof(pdir), "%s/policies", sdir);
	if ((d = opendir(pdir)) == NULL)
		return 0;
	sgt_silent++;
	while (!found && (de = readdir(d)) != NULL) {
		struct sgt_policy *p = NULL;
		size_t n = strlen(de->d_name);

		if (de->d_name[0] == '.' || n < 6 || strcmp(de->d_name + n - 5, ".yaml") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", pdir, de->d_name);
		if (sgt_policy_load_file(path, &p) == SGT_OK && p->approvals_allowed_signers != NULL &&
		    strcmp(p->approvals_allowed_signers, rel) == 0)
			found = 1;
		sgt_policy_free(p);
	}
	sgt_silent--;
	closedir(d);
	return found || strcmp(rel, "allowed_signers") == 0;
}

/* What can be checked before recording: SGT_OK, or one line naming file, line and reason. */
static int put_check(const char *sdir, const char *rel, const char *path)
{
	char spath[PATH_MAX * 2];
	int rc;

	if (strcmp(rel, "fleets.yaml") == 0) {
		struct sgt_inventory inv;

		if ((rc = sgt_inventory_load(path, 1, &inv)) == SGT_OK)
			sgt_inventory_release(&inv);
		return rc;
	}
	if (is_policy(rel)) {
		struct sgt_policy *p = NULL;
		const char *base = rel + 9;

		if ((rc = sgt_policy_load_file(path, &p)) != SGT_OK)
			return rc;
		if (strlen(p->name) != strlen(base) - 5 || strncmp(p->name, base, strlen(base) - 5) != 0)
			rc = sgt_err(SGT_ERR_DATA, "%s: names itself '%s', but is looked up as '%.*s'", path, p->name,
				     (int)(strlen(base) - 5), base);
		if (rc == SGT_OK && p->approvals_required > 0 && p->approvals_allowed_signers[0] == '/')
			sgt_warn("%s: its allowed_signers '%s' is outside the store: not shared, each host reads its own",
				 path, p->approvals_allowed_signers);
		if (rc == SGT_OK && p->approvals_required > 0) {
			struct sgt_signers s;
			size_t n;

			if ((rc = sgt_approve_signers_load(sdir, p->approvals_allowed_signers, &s, spath, sizeof(spath))) ==
			    SGT_OK) {
				n = sgt_approve_principal_count(&s);
				sgt_signers_release(&s);
				if ((long)n < p->approvals_required)
					rc = sgt_err(SGT_ERR_DATA, "%s: approvals: required is %ld but %s names %zu distinct "
						     "principal%s", path, p->approvals_required, spath, n, n == 1 ? "" : "s");
			}
		}
		sgt_policy_free(p);
		return rc;
	}
	if (named_signers(sdir, rel)) {
		struct sgt_signers s;

		if ((rc = sgt_approve_signers_load(sdir, rel, &s, spath, sizeof(spath))) == SGT_OK)
			sgt_signers_release(&s);
		return rc;
	}
	return SGT_OK;
}

static int put(struct sgt_ctx *ctx, int argc, char **argv)
{
	char sdir[PATH_MAX], **rels = NULL, **paths = NULL;
	unsigned char **data = NULL;
	size_t *lens = NULL;
	struct sgt_store st;
	struct sgt_tx *tx = NULL;
	int i, j, n = argc, rc = SGT_OK, opened = 0;

	if (n == 0)
		return cmd_usage("store", "put needs at least one FILE");
	if (realpath(sgt_store_dir(ctx->store_opt), sdir) == NULL)
		return sgt_err(SGT_ERR_DATA, "no store at '%s': %s", sgt_store_dir(ctx->store_opt), strerror(errno));
	rels = calloc((size_t)n, sizeof(*rels));
	paths = calloc((size_t)n, sizeof(*paths));
	data = calloc((size_t)n, sizeof(*data));
	lens = calloc((size_t)n, sizeof(*lens));
	if (rels == NULL || paths == NULL || data == NULL || lens == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	for (i = 0; i < n && rc == SGT_OK; i++) {
		rc = put_rel(sdir, argv[i], &rels[i]);
		for (j = 0; j < i && rc == SGT_OK; j++)
			if (strcmp(rels[j], rels[i]) == 0)
				rc = cmd_usage("store", "'%s' is named twice", rels[i]);
	}
	if (rc != SGT_OK)
		goto out;
	/* the sync under the lock leaves these as they are: this host's copies are what is shared */
	sgt_db_share_keep(rels, (size_t)n);
	if ((rc = cmd_store_open(ctx, &st, SGT_LOCK_EXCLUSIVE)) != SGT_OK)
		goto out;
	opened = 1;
	for (i = 0; i < n && rc == SGT_OK; i++) {
		struct stat sb;

		if ((paths[i] = sgt_store_path(&st, rels[i])) == NULL) {
			rc = SGT_ERR_DATA;
			break;
		}
		if (lstat(paths[i], &sb) != 0)
			rc = sgt_err(SGT_ERR_DATA, "cannot read '%s': %s", paths[i], strerror(errno));
		else if (!S_ISREG(sb.st_mode))
			rc = sgt_err(SGT_ERR_DATA, "'%s' is not a regular file; refusing to share it", paths[i]);
		else
			rc = sgt_file_read(paths[i], (size_t)64 << 20, &data[i], &lens[i]);
	}
	for (i = 0; i < n && rc == SGT_OK; i++)
		rc = put_check(st.dir, rels[i], paths[i]);
	if (rc != SGT_OK)
		goto out;
	sgt_err_hold();
	rc = sgt_tx_begin(&st, "store.put", NULL, NULL, NULL, 0, &tx);
	for (i = 0; i < n && rc == SGT_OK; i++) {
		char hex[65];
		json_t *details;

		sgt_sha256_hex(data[i], lens[i], hex);
		details = json_pack("{s:s, s:s, s:I}", "path", rels[i], "sha256", hex, "size", (json_int_t)lens[i]);
		if ((rc = sgt_tx_stage(tx, paths[i], data[i], lens[i], 0)) == SGT_OK)
			rc = sgt_tx_record(tx, "store.put", NULL, NULL, details);
		json_decref(details);
	}
	/* No file shared without its record: on failure sgt_tx_free rolls back. */
	rc = rc ? rc : sgt_tx_commit(tx);
	if (rc != SGT_OK) {
		rc = cmd_failed_because(rc, sgt_tx_committed(tx) ? "recorded, but putting the files in place did not finish "
								    "(the next command completes it)"
								  : "nothing put (no store.put record)");
		goto out;
	}
	(void)sgt_err_release();
	if (ctx->json) {
		json_t *arr = json_array();

		for (i = 0; i < n; i++) {
			char hex[65];

			sgt_sha256_hex(data[i], lens[i], hex);
			json_array_append_new(arr, json_pack("{s:s, s:s, s:I}", "path", rels[i], "sha256", hex, "size",
							     (json_int_t)lens[i]));
		}
		rc = cmd_json_print(json_pack("{s:o, s:s?}", "files", arr, "database",
					      st.cfg.db_conninfo != NULL ? sgt_db_name() : NULL));
		goto out;
	}
	for (i = 0; i < n && !sgt_quiet; i++) {
		char hex[65];

		sgt_sha256_hex(data[i], lens[i], hex);
		if (st.cfg.db_conninfo != NULL)
			printf("shared %s (sha256 %s, %zu bytes) with every host of database %s\n", rels[i], hex, lens[i],
			       sgt_db_name());
		else
			printf("recorded %s (sha256 %s, %zu bytes)\n", rels[i], hex, lens[i]);
	}
out:
	sgt_tx_free(tx);
	if (opened)
		sgt_store_release(&st);
	sgt_db_share_keep(NULL, 0);
	for (i = 0; rels != NULL && i < n; i++) {
		free(rels[i]);
		free(paths[i]);
		free(data[i]);
	}
	free(rels);
	free(paths);
	free(data);
	free(lens);
	return rc;
}

int cmd_store(struct sgt_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *to = NULL;
	struct sgt_store st;
	int started = 0, c, rc;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0)
		return argc < 2 ? cmd_usage("store", "which subcommand? (migrate, put)") : cmd_help(help);
	if (strcmp(argv[1], "put") == 0) {
		int k;

		for (k = 2; k < argc; k++)
			if (strcmp(argv[k], "--help") == 0 || strcmp(argv[k], "-h") == 0)
				return cmd_help(put_help);
			else if (argv[k][0] == '-' && argv[k][1] != '\0')
				return cmd_usage("store", "unknown option '%s'", argv[k]);
		return put(ctx, argc - 2, argv + 2);
	}
	if (strcmp(argv[1], "migrate") != 0)
		return cmd_usage("store", "unknown subcommand '%s'", argv[1]);
	argc--;
	argv++;
	while ((c = cmd_getopt("store", argc, argv, "h", longopts, &started)) != -1) {
		if (c == -2)
			return SGT_ERR_USAGE;
		if (c == 'h')
			return cmd_help(help);
		if (c == 't')
			to = optarg;
	}
	if (optind < argc)
		return cmd_usage("store", "unexpected argument '%s'", argv[optind]);
	if (to == NULL)
		return cmd_usage("store", "migrate needs --to CONNINFO or --to DIR");
	if ((rc = cmd_store_open(ctx, &st, SGT_LOCK_EXCLUSIVE)) != SGT_OK)
		return rc;
	if (st.cfg.db_conninfo == NULL && !is_conninfo(to))
		rc = cmd_usage("store", "this is a file store: --to takes a PostgreSQL conninfo or postgresql:// URI");
	else if (st.cfg.db_conninfo != NULL && is_conninfo(to))
		rc = cmd_usage("store", "this store is in a database already: --to takes a new directory");
	else
		rc = st.cfg.db_conninfo == NULL ? to_db(&st, to) : to_dir(&st, to);
	sgt_store_release(&st);
	return rc;
}
