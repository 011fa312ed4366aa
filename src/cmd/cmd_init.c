/*
 * cmd_init.c: `signet init`.  Builds the whole store in a temporary
 * directory next to the target and renames it into place, so a failed or
 * interrupted init leaves nothing behind and an existing store is never
 * touched.  The embedded default is a SoftHSM2 token inside <store>/hsm
 * with random user and SO PINs in 0600 files; --module/--token records an
 * existing token after checking that it can be logged into.
 * The one state change not made in a transaction (tx.h): its "init" record
 * goes through sgt_tx_init_record into a store that does not exist until the
 * rename, so there is no intent to recover and none to write (docs/store.md,
 * "The transaction").
 * Floor: cmd.  It may call every floor below.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/file.h>
#include <ftw.h>

#include "audit.h"
#include "cmd.h"
#include "dbstore.h"
#include "hsmguard.h"
#include "intent.h"
#include "p11.h"
#include "policy.h"
#include "session.h"
#include "tx.h"

static const char help[] =
	"usage: signet init [--module PATH --token LABEL] [--pin-file F] [--so-pin-file F]\n"
	"                   [--policy NAME] [--db CONNINFO [--join] [--host NAME]]\n\n"
	"Creates the store (--store DIR, $SIGNET_STORE or ./signet-store).\n\n"
	"Without --module: the embedded default, a SoftHSM2 token labelled 'signet'\n"
	"inside <store>/hsm with random user and SO PINs in 0600 files there\n"
	"(or the PINs in --pin-file / --so-pin-file).\n"
	"With --module PATH --token LABEL: records an existing, initialised token of\n"
	"any PKCS#11 module after logging in once; --pin-file F is then recorded as\n"
	"the PIN source, otherwise signet asks for the PIN each time.\n\n"
	"  --policy NAME   default policy of the store (aws-freertos-esp32)\n"
	"  --db CONNINFO   keep the store in PostgreSQL (libpq conninfo or URI): the\n"
	"                  schema is created; the directory keeps this host's settings\n"
	"                  and a copy the database keeps current (docs/multi-host.md)\n"
	"  --join          attach this host to the store already in that database\n"
	"                  (needs --module: every host uses the same token)\n"
	"  --host NAME     this host's name in the records it makes (the host name)\n\n"
	"Refuses to overwrite an existing store.  Exit 3 on bad input, 4 on HSM errors.\n";

static const char *const softhsm_paths[] = {
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/local/lib/softhsm/libsofthsm2.so",
	NULL
};

static const char *softhsm_module(void)
{
	const char *env = getenv("SIGNET_SOFTHSM_MODULE");
	size_t i;

	if (env != NULL && *env)
		return env;
	for (i = 0; softhsm_paths[i] != NULL; i++)
		if (access(softhsm_paths[i], R_OK) == 0)
			return softhsm_paths[i];
	return softhsm_paths[0];
}

static int write_pin(const char *dir, const char *name, const struct sgt_pin *pin)
{
	char path[PATH_MAX];
	char buf[SGT_PIN_MAX + 2];
	int rc;

	snprintf(path, sizeof(path), "%s/hsm/%s", dir, name);
	memcpy(buf, pin->value, pin->len);
	buf[pin->len] = '\n';
	rc = sgt_atomic_write(path, buf, pin->len + 1, 1);
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

static int random_pin(struct sgt_pin *pin)
{
	unsigned char raw[16];
	int rc = sgt_random(raw, sizeof(raw));

	sgt_pin_wipe(pin);
	if (rc == SGT_OK) {
		sgt_hex(raw, sizeof(raw), pin->value);
		pin->len = 2 * sizeof(raw);
	}
	OPENSSL_cleanse(raw, sizeof(raw));
	return rc;
}

static int write_softhsm_conf(const char *dir, const char *tokendir_root)
{
	char path[PATH_MAX];
	struct sgt_buf b = { 0 };
	int rc;

	snprintf(path, sizeof(path), "%s/hsm/softhsm2.conf", dir);
	rc = sgt_buf_printf(&b, "# SoftHSM2 configuration of this signet store (written by signet init)\n"
			    "directories.tokendir = %s/hsm/tokens\n"
			    "objectstore.backend = file\n"
			    "log.level = ERROR\n"
			    "slots.removable = false\n", tokendir_root);
	rc = rc ? rc : sgt_atomic_write(path, b.p, b.len, 0);
	sgt_buf_free(&b);
	return rc;
}

/* Sets up the SoftHSM2 token inside tmp. */
static int init_embedded(const char *tmp, const char *final, const char *module, const char *pinfile,
			 const char *sofile, struct sgt_config *cfg)
{
	struct sgt_pin user, so;
	struct sgt_pin_opts given = { pinfile, -1 };	/* read ahead by cmd_init (sgt_pin_preread) */
	struct sgt_p11 p;
	char conf[PATH_MAX + 64], tokens[PATH_MAX + 64];
	int rc;

	memset(&p, 0, sizeof(p));
	sgt_pin_wipe(&user);
	sgt_pin_wipe(&so);
	snprintf(tokens, sizeof(tokens), "%s/hsm/tokens", tmp);
	snprintf(conf, sizeof(conf), "%s/hsm/softhsm2.conf", tmp);
	if ((rc = sgt_mkdirs(tokens)) != SGT_OK ||
	    (rc = pinfile ? sgt_pin_get(NULL, &given, "signet", &user) : random_pin(&user)) != SGT_OK ||
	    (rc = sofile ? sgt_pin_read_file(sofile, &so) : random_pin(&so)) != SGT_OK ||
	    (rc = write_pin(tmp, "user.pin", &user)) != SGT_OK ||
	    (rc = write_pin(tmp, "so.pin", &so)) != SGT_OK ||
	    (rc = write_softhsm_conf(tmp, tmp)) != SGT_OK)
		goto out;
	if (setenv("SOFTHSM2_CONF", conf, 1) != 0) {
		rc = sgt_err(SGT_ERR_DATA, "cannot set SOFTHSM2_CONF: %s", strerror(errno));
		goto out;
	}
	if ((rc = sgt_p11_load(&p, module)) != SGT_OK ||
	    (rc = sgt_p11_init_token(&p, "signet", &so, &user)) != SGT_OK)
		goto out;
	/* The token directory is named absolutely: point it at the final place. */
	rc = write_softhsm_conf(tmp, final);
	cfg->module = strdup(module);
	cfg->token = strdup("signet");
	cfg->pin_source = strdup("file:hsm/user.pin");
	cfg->env_name[0] = strdup("SOFTHSM2_CONF");
	cfg->env_value[0] = strdup("hsm/softhsm2.conf");
	cfg->nenv = 1;
out:
	sgt_p11_release(&p);
	sgt_pin_wipe(&user);
	sgt_pin_wipe(&so);
	return rc;
}

/* Checks an existing token: it loads, is found by label, and the PIN works. */
static int init_existing(const char *tmp, const char *module, const char *token, const char *pinfile, int pinfd,
			 struct sgt_config *cfg)
{
	struct sgt_store probe;
	struct sgt_pin_opts opts = SGT_PIN_OPTS_INIT;
	struct sgt_p11 p;
	char abs[PATH_MAX];
	const char *conf = getenv("SOFTHSM2_CONF");
	int rc;

	memset(&probe, 0, sizeof(probe));
	probe.lock_fd = -1;
	/* A SoftHSM2 token's known-good copy is made in the new store before the login rewrites token.object. */
	probe.dir = (char *)tmp;
	probe.cfg.module = (char *)module;
	probe.cfg.token = (char *)token;
	opts.file = pinfile;
	opts.fd = pinfd;
	rc = sgt_session_open(&p, &probe, &opts, SGT_SESSION_LOGIN, NULL);
	sgt_session_close(&p);
	if (rc != SGT_OK)
		return rc;
	cfg->module = strdup(module);
	cfg->token = strdup(token);
	if (pinfile != NULL) {
		if (realpath(pinfile, abs) == NULL)
			return sgt_err(SGT_ERR_DATA, "cannot resolve '%s': %s", pinfile, strerror(errno));
		cfg->pin_source = malloc(strlen(abs) + 6);
		if (cfg->pin_source != NULL)
			sprintf(cfg->pin_source, "file:%s", abs);
	}
	/* A SoftHSM2 token found through the caller's SOFTHSM2_CONF needs it later too. */
	if (conf != NULL && *conf && realpath(conf, abs) != NULL) {
		cfg->env_name[0] = strdup("SOFTHSM2_CONF");
		cfg->env_value[0] = strdup(abs);
		cfg->nenv = 1;
	}
	return SGT_OK;
}

/*
 * The new store's first session: the embedded token's files get their
 * known-good copy, and the token its audit key (anchor.h), recorded.  A
 * failure here leaves a working store; its next state-changing command
 * makes the audit key instead.
 */
static void anchor_store(const char *dir, const struct sgt_pin_opts *pins)
{
	struct sgt_store st;
	struct sgt_p11 p;

	memset(&p, 0, sizeof(p));
	if (sgt_store_open(&st, dir) != SGT_OK)
		return;
	/* Loading the module enters the token guard, which makes the first good copy. */
	if (sgt_store_lock(&st, 1) == SGT_OK)
		(void)sgt_session_open(&p, &st, pins, SGT_SESSION_RW | SGT_SESSION_LOGIN, NULL);
	sgt_session_close(&p);
	sgt_store_release(&st);
}

/* Held (flock) by a running init inside the directory it builds the store in. */
#define INIT_LOCK ".init.lock"

/*
 * An init killed before its rename leaves ".NAME.initXXXXXX" beside the
 * store it was making: a token and its PINs, no keys.  A running init holds
 * the flock of its INIT_LOCK; a directory whose lock can be taken, or one
 * without a lock that is over ten minutes old (killed between mkdtemp and
 * making the lock), was left by a dead init and goes, with one line.
 */
static void sweep_dead_inits(const char *final)
{
	const char *slash = strrchr(final, '/');
	char dir[PATH_MAX], prefix[NAME_MAX + 8];
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof(dir), "%.*s", slash == final ? 1 : (int)(slash - final), final);
	snprintf(prefix, sizeof(prefix), ".%s.init", slash + 1);
	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		char path[PATH_MAX + NAME_MAX + 2], lock[PATH_MAX + NAME_MAX + 16];
		struct stat sb;
		int fd, dead;

		if (strncmp(de->d_name, prefix, strlen(prefix)) != 0 || strlen(de->d_name) != strlen(prefix) + 6)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &sb) != 0 || !S_ISDIR(sb.st_mode) || sb.st_uid != geteuid())
			continue;
		snprintf(lock, sizeof(lock), "%s/" INIT_LOCK, path);
		if ((fd = open(lock, O_RDWR | O_NOFOLLOW | O_CLOEXEC)) >= 0) {
			dead = flock(fd, LOCK_EX | LOCK_NB) == 0;
			close(fd);
		} else {
			dead = errno == ENOENT && time(NULL) - sb.st_mtime > 600;
		}
		if (dead) {
			/* its known-good copy of an external SoftHSM2 token repairs what its login left half written */
			sgt_hsm_rescue(path);
			cmd_rm_tree(path);
			fprintf(stderr, "signet: recovered: removed '%s', left by an init that was interrupted "
				"(a token and its PINs, no keys)\n", path);
		}
	}
	closedir(d);
}

int cmd_init(struct sgt_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "module", required_argument, NULL, 'm' },
		{ "token", required_argument, NULL, 't' },
		{ "so-pin-file", required_argument, NULL, 's' },
		{ "policy", required_argument, NULL, 'p' },
		{ "db", required_argument, NULL, 'D' },
		{ "join", no_argument, NULL, 'J' },
		{ "host", required_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		CMD_PIN_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct sgt_pin_opts pins = SGT_PIN_OPTS_INIT;
	const char *module = NULL, *token = NULL, *sofile = NULL, *policy = "aws-freertos-esp32";
	const char *dbinfo = NULL, *host = NULL;
	char hostbuf[256];
	int join = 0;
	const char *shown = sgt_store_dir(ctx->store_opt);
	char final[PATH_MAX], tmp[PATH_MAX + 32], cfgpath[PATH_MAX + 64];
	struct sgt_config cfg;
	struct sgt_store st;
	int started = 0, c, rc, made = 0, lock_fd = -1;

	memset(&cfg, 0, sizeof(cfg));
	while ((c = cmd_getopt("init", argc, argv, "h", longopts, &started)) != -1) {
		if (c == -2)
			return SGT_ERR_USAGE;
		if (cmd_pin_opt("init", c, optarg, &pins, &rc)) {
			if (rc != SGT_OK)
				return rc;
			continue;
		}
		switch (c) {
		case 'm': module = optarg; break;
		case 't': token = optarg; break;
		case 's': sofile = optarg; break;
		case 'p': policy = optarg; break;
		case 'D': dbinfo = optarg; break;
		case 'J': join = 1; break;
		case 'H': host = optarg; break;
		case 'h': return cmd_help(help);
		}
	}
	if (optind < argc)
		return cmd_usage("init", "unexpected argument '%s'", argv[optind]);
	if ((module == NULL) != (token == NULL))
		return cmd_usage("init", "--module and --token go together");
	if (module != NULL && sofile != NULL)
		return cmd_usage("init", "--so-pin-file is only for the embedded token");
	if (module == NULL && pins.fd >= 0)
		return cmd_usage("init", "--pin-fd is only for an existing token; use --pin-file");
	if (dbinfo == NULL && (join || host != NULL))
		return cmd_usage("init", "--join and --host go with --db");
	if (join && module == NULL)
		return cmd_usage("init", "--join needs --module and --token: every host of a store uses the same token");
	if (dbinfo != NULL && host == NULL) {
		if (gethostname(hostbuf, sizeof(hostbuf)) != 0)
			return sgt_err(SGT_ERR_DATA, "cannot read this host's name: %s", strerror(errno));
		hostbuf[sizeof(hostbuf) - 1] = '\0';
		host = hostbuf;
	}
	if (host != NULL && (host[0] == '\0' || strlen(host) > 64 || strspn(host, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-_") != strlen(host)))
		return cmd_usage("init", "--host '%s' is not 1 to 64 of A-Z a-z 0-9 . - _", host);
	{
		struct sgt_policy *pol = NULL;

		/* A store whose default policy does not exist would fail on every later command. */
		rc = sgt_policy_find(NULL, policy, &pol);
		sgt_policy_free(pol);
		if (rc != SGT_OK)
			return rc;
	}
	if ((rc = cmd_path_absolute(shown, final)) != SGT_OK || (rc = cmd_dir_free(final, shown, "create store")) != SGT_OK)
		return rc;
	{
		const char *slash = strrchr(final, '/');

		snprintf(tmp, sizeof(tmp), "%.*s/.%s.initXXXXXX", (int)(slash - final), final, slash + 1);
	}
	/* A token URI that names a PIN or a module is refused before the PIN is read. */
	if (module != NULL && sgt_p11_is_uri(token)) {
		void *uri = NULL;

		if ((rc = sgt_p11_uri_parse(token, &uri)) != SGT_OK)
			return rc;
		sgt_p11_uri_free(uri);
	}
	/* The PIN before anything is made: a FIFO nobody writes leaves nothing behind, and SIGTERM ends the wait. */
	if ((rc = sgt_pin_preread(&pins)) != SGT_OK)
		return rc;
	sweep_dead_inits(final);
	if (mkdtemp(tmp) == NULL)
		return sgt_err(SGT_ERR_DATA, "cannot create store '%s': %s", shown, strerror(errno));
	made = 1;
	{
		char lock[PATH_MAX + 64];

		snprintf(lock, sizeof(lock), "%s/" INIT_LOCK, tmp);
		if ((lock_fd = open(lock, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0 ||
		    flock(lock_fd, LOCK_EX) != 0) {
			rc = sgt_err(SGT_ERR_DATA, "cannot create store '%s': %s", shown, strerror(errno));
			goto out;
		}
	}
	rc = module == NULL ? init_embedded(tmp, final, softhsm_module(), pins.file, sofile, &cfg)
			    : init_existing(tmp, module, token, pins.file, pins.fd, &cfg);
	if (rc != SGT_OK)
		goto out;
	if ((cfg.policy = strdup(policy)) == NULL || cfg.module == NULL || cfg.token == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	if (dbinfo != NULL && ((cfg.db_conninfo = strdup(dbinfo)) == NULL || (cfg.db_host = strdup(host)) == NULL)) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	snprintf(cfgpath, sizeof(cfgpath), "%s/signet.yaml", tmp);
	if ((rc = sgt_config_save(cfgpath, &cfg)) != SGT_OK)
		goto out;
	memset(&st, 0, sizeof(st));
	st.dir = tmp;
	st.lock_fd = -1;
	if (dbinfo != NULL) {
		/* dbstore: the schema (or the store joined), then this host's first record in the database's chain */
		st.cfg.db_conninfo = cfg.db_conninfo;
		st.cfg.db_host = cfg.db_host;
		if ((rc = sgt_db_create(dbinfo, host, cfg.module, cfg.token, join)) != SGT_OK ||
		    (rc = sgt_db_lock(&st, 1)) != SGT_OK)
			goto out;
	}
	{
		json_t *d = json_pack("{s:s, s:s, s:b}", "module", cfg.module, "token", cfg.token, "embedded", module == NULL);

		rc = sgt_tx_init_record(&st, join ? "host.join" : "init", d);
		json_decref(d);
	}
	if (dbinfo != NULL)
		sgt_db_unlock();
	if (rc != SGT_OK)
		goto out;
	if (rename(tmp, final) != 0) {
		rc = sgt_err(SGT_ERR_DATA, "cannot create store '%s': %s", shown, strerror(errno));
		goto out;
	}
	made = 0;
	{
		char lock[PATH_MAX + 64];

		snprintf(lock, sizeof(lock), "%s/" INIT_LOCK, final);
		unlink(lock);
	}
	if (pins.fd < 0)
		anchor_store(final, &pins);
	if (ctx->json) {
		rc = cmd_json_print(json_pack("{s:s, s:s, s:s, s:b, s:s, s:s?, s:s?, s:b}", "store", final, "module", cfg.module,
					      "token", cfg.token, "embedded", module == NULL, "policy", policy,
					      "database", dbinfo ? sgt_db_name() : NULL, "host", host, "joined", join));
	} else if (!sgt_quiet) {
		printf("created store %s\n", final);
		if (module == NULL)
			printf("  token 'signet' (SoftHSM2) in %s/hsm; PINs in %s/hsm/user.pin and so.pin (mode 0600)\n",
			       final, final);
		else
			printf("  token '%s' of %s\n", token, module);
		if (dbinfo != NULL)
			printf("  %s database %s as host '%s'\n", join ? "joined the store in" : "kept in", sgt_db_name(), host);
		printf("  default policy %s\nnext: signet key generate LABEL\n", policy);
	}
out:
	if (made)
		cmd_rm_tree(tmp);
	if (lock_fd >= 0)
		close(lock_fd);
	sgt_config_release(&cfg);
	return rc;
}
