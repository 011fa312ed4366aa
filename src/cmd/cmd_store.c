/*
 * cmd_store.c: `signet store migrate`: a file store into PostgreSQL
 * (--to CONNINFO) and a database store back into a directory (--to DIR),
 * the audit chain byte for byte, every store file, the head as it was.
 * The source is left exactly as it was: a copy, not a move, so that a
 * failure anywhere leaves a working store; the user retires the source
 * (docs/multi-host.md says how).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "dbstore.h"

static const char help[] =
	"usage: signet store migrate --to CONNINFO|DIR\n\n"
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
		return argc < 2 ? cmd_usage("store", "which subcommand? (migrate)") : cmd_help(help);
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
