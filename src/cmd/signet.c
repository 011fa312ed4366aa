/*
 * signet.c: main.  Parses the global options, dispatches to the command
 * table, and is the only place that turns a status code into an exit
 * status (SPEC.md section 3: 0 ok, 1 negative verdict, 2 usage, 3 data,
 * 4 HSM).  It also sets umask 077 before anything can write a file, and
 * keeps the user's for outputs that are not secrets (sgt_out_write).
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#include "cmd.h"
#include "tx.h"

struct command {
	const char *name;
	int (*fn)(struct sgt_ctx *, int, char **);
	const char *summary;
};

static const struct command commands[] = {
	{ "init", cmd_init, "create a store and its token (embedded SoftHSM2 or an existing module)" },
	{ "key", cmd_key, "generate, import, adopt, list, show keys in custody; pubkey; match files to keys" },
	{ "cert", cmd_cert, "issue, reissue, csr, import, list, show, lint certificates" },
	{ "renew", cmd_renew, "reissue every current certificate that is due for renewal, same key" },
	{ "header", cmd_header, "export a certificate or public key as the C header firmware bakes in" },
	{ "extract", cmd_extract, "find certificates and public keys baked into sources and images" },
	{ "sign", cmd_sign, "sign firmware images on the token as OTA devices verify them" },
	{ "verify", cmd_verify, "verify an image signature as a device would" },
	{ "explain", cmd_explain, "decode an OTA job failure reason such as \"0x000000e3: 0x00000000\"" },
	{ "audit", cmd_audit, "show or verify the tamper-evident log; check key custody" },
	{ "policy", cmd_policy, "list, show and check signing policies" },
	{ "backup", cmd_backup, "write the whole store (embedded token included) as one encrypted archive" },
	{ "restore", cmd_restore, "restore a store from a backup archive; --check runs a restore drill" },
	{ "fleet", cmd_fleet, "which devices trust which key, and by when to act so all stay updatable" },
	{ "rotate", cmd_rotate, "move devices to a new signing key without stranding any; retire the old one" },
	{ "approve", cmd_approve, "the two-person rule: requests that named people approve before a key signs" },
	{ "store", cmd_store, "migrate a store into PostgreSQL and back; put shares policies, fleets.yaml" },
	{ NULL, NULL, NULL }
};

static const char usage[] =
	"usage: signet [--store DIR] [--json] [-q|--quiet] [-v|--verbose] COMMAND [ARGS]\n"
	"       signet --version | signet help [COMMAND] | signet COMMAND --help\n";

static int help_all(void)
{
	const struct command *c;

	printf("%s\nsignet keeps firmware code-signing keys inside a PKCS#11 token and issues,\n"
	       "exports, signs and audits with them.  The private key never leaves the token.\n\n"
	       "commands:\n", usage);
	for (c = commands; c->name; c++)
		printf("  %-9s %s\n", c->name, c->summary);
	printf("\nglobal options:\n"
	       "  --store DIR    the store (default $SIGNET_STORE, else ./signet-store)\n"
	       "  --json         print one JSON document on stdout instead of text\n"
	       "  -q, --quiet    no warnings or progress on stderr\n"
	       "  -v, --verbose  progress on stderr\n\n"
	       "exit status: 0 success, 1 negative verdict, 2 usage error,\n"
	       "             3 data or runtime error, 4 HSM error (docs/exit-codes.md)\n");
	return SGT_OK;
}

static const struct command *find(const char *name)
{
	const struct command *c;

	for (c = commands; c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

/*
 * Global options after the command name (`signet key list --json`) are
 * taken out of argv here, so the command sees only its own; "--" ends
 * the search.  Returns 1 when argv[i] was one, 0 when not, <0 on error.
 */
static int global_opt(struct sgt_ctx *ctx, int argc, char **argv, int *i)
{
	const char *a = argv[*i];

	if (strcmp(a, "--json") == 0)
		ctx->json = 1;
	else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0)
		sgt_quiet = 1;
	else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0)
		sgt_verbose_flag = 1;
	else if (strcmp(a, "--store") == 0) {
		if (++*i >= argc)
			return sgt_err(SGT_ERR_USAGE, "option '--store' needs a directory");
		ctx->store_opt = argv[*i];
	} else if (strncmp(a, "--store=", 8) == 0)
		ctx->store_opt = a + 8;
	else
		return 0;
	return 1;
}

static int pull_global_opts(struct sgt_ctx *ctx, int *argc, char **argv, int from)
{
	int i, j = from, r;

	for (i = from; i < *argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			while (i < *argc)
				argv[j++] = argv[i++];
			break;
		}
		if ((r = global_opt(ctx, *argc, argv, &i)) < 0)
			return r;
		if (r == 0)
			argv[j++] = argv[i];
	}
	*argc = j;
	argv[j] = NULL;
	return SGT_OK;
}

static int run(struct sgt_ctx *ctx, int argc, char **argv)
{
	const struct command *c;
	int i, r;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];

		if ((r = global_opt(ctx, argc, argv, &i)) < 0)
			return r;
		if (r > 0)
			continue;
		if (strcmp(a, "--version") == 0) {
			printf("signet %s\n", SGT_VERSION);
			return SGT_OK;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
			return help_all();
		else {
			sgt_err(SGT_ERR_USAGE, "unknown option '%s'", a);
			fputs(usage, stderr);
			return SGT_ERR_USAGE;
		}
	}
	if (i >= argc) {
		fputs(usage, stderr);
		return SGT_ERR_USAGE;
	}
	if ((r = pull_global_opts(ctx, &argc, argv, i + 1)) != SGT_OK)
		return r;
	if (sgt_quiet && sgt_verbose_flag)
		sgt_verbose_flag = 0;	/* -q wins: scripts that add -q expect silence */
	if (strcmp(argv[i], "help") == 0) {
		char help[] = "--help";
		char *hargv[3];

		if (i + 1 >= argc)
			return help_all();
		if ((c = find(argv[i + 1])) == NULL) {
			sgt_err(SGT_ERR_USAGE, "unknown command '%s'", argv[i + 1]);
			sgt_hint("'signet help' lists the commands");
			return SGT_ERR_USAGE;
		}
		hargv[0] = argv[i + 1];
		hargv[1] = help;
		hargv[2] = NULL;
		return c->fn(ctx, 2, hargv);
	}
	if ((c = find(argv[i])) == NULL) {
		sgt_err(SGT_ERR_USAGE, "unknown command '%s'", argv[i]);
		sgt_hint("'signet help' lists the commands");
		return SGT_ERR_USAGE;
	}
	return c->fn(ctx, argc - i, argv + i);
}

int main(int argc, char **argv)
{
	struct sgt_ctx ctx = { NULL, 0 };
	int rc;

	(void)sgt_secrets_protect();	/* first: PINs and key material never reach a core file */
	/* Store files are 0600/0700 whatever the umask; user outputs (--out) follow the one the user set. */
	sgt_user_umask = (unsigned)umask(077);
	/*
	 * A remote token (p11-kit client, network HSM clients) talks over a
	 * socket: a server that goes away must be an error from the module,
	 * which signet reports and cleans up after, not a SIGPIPE that kills
	 * it half-way.
	 */
	signal(SIGPIPE, SIG_IGN);
	sgt_tx_install();	/* sessions record refused logins, token repairs and the audit key */
	rc = run(&ctx, argc, argv);
	sgt_pin_forget();	/* a PIN read ahead of the lock (cmd_store_open) */
	if (fflush(stdout) != 0 && rc == SGT_OK)
		rc = sgt_err(SGT_ERR_DATA, "cannot write to standard output");
	OPENSSL_cleanup();
	if (rc > 0)
		return rc;
	return rc < -4 ? 3 : -rc;
}
