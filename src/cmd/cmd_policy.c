/*
 * cmd_policy.c: `signet policy list|show|check`.  Policies are read from
 * the policy directories (policy.h); these commands only print them or
 * say why one is malformed.  They work without a store, since choosing a
 * policy usually comes before creating one.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "approve.h"
#include "cmd.h"
#include "policy.h"

static const char help_text[] =
	"usage: signet policy list\n"
	"       signet policy show NAME\n"
	"       signet policy check FILE...\n"
	"\n"
	"Signing policies say which key, certificate profile and signature a device\n"
	"platform needs (docs/policies.md).  They are looked up as NAME.yaml in\n"
	"$SIGNET_POLICY_DIR, <store>/policies, the policies directory shipped with\n"
	"signet, in that order.\n"
	"\n"
	"  list        every policy found, with its description and file\n"
	"  show NAME   the policy's settings\n"
	"  check FILE  parse policy files strictly; exit 3 naming file, line and\n"
	"              field when one is malformed, or when approvals.required is\n"
	"              more than the distinct principals of its allowed_signers\n"
	"\n"
	"With --json each prints one JSON document.\n";

/* A database-backed store, read under its shared lock: its copy brought up to date first (dbstore.h). */
static struct sgt_store dbst;
static int dbst_open;

/* The store's directory when there is a store, so <store>/policies is searched. */
static const char *store_dir_if_any(struct sgt_ctx *ctx, char *buf, size_t cap)
{
	const char *dir = sgt_store_dir(ctx->store_opt);
	struct stat sb;

	snprintf(buf, cap, "%s/signet.yaml", dir);
	if (stat(buf, &sb) != 0)
		return NULL;
	snprintf(buf, cap, "%s", dbst_open ? dbst.dir : dir);
	return buf;
}

/*
 * The store's policies on a database-backed store are the database's:
 * the host's copy is synced (and a local edit not shared refused) before
 * they are read.  A file store is read as it is, without a lock.
 */
static int sync_db_store(struct sgt_ctx *ctx)
{
	char buf[4096];
	struct stat sb;
	int rc;

	snprintf(buf, sizeof(buf), "%s/signet.yaml", sgt_store_dir(ctx->store_opt));
	if (stat(buf, &sb) != 0)
		return SGT_OK;
	sgt_silent++;
	rc = sgt_store_open(&dbst, sgt_store_dir(ctx->store_opt));
	sgt_silent--;
	if (rc != SGT_OK)
		return SGT_OK;	/* as before: the policies are read from the directory, whatever its state */
	if (dbst.cfg.db_conninfo == NULL) {
		sgt_store_release(&dbst);
		return SGT_OK;
	}
	dbst_open = 1;
	return sgt_store_lock(&dbst, 0);
}

static int policy_sub(struct sgt_ctx *ctx, const char *sub, int argc, char **argv);

int cmd_policy(struct sgt_ctx *ctx, int argc, char **argv)
{
	int rc = policy_sub(ctx, NULL, argc, argv);

	if (dbst_open) {
		sgt_store_release(&dbst);
		dbst_open = 0;
	}
	return rc;
}

static json_t *names_json(const char **names, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a != NULL && i < n; i++)
		json_array_append_new(a, json_string(names[i]));
	return a;
}

static json_t *policy_json(const struct sgt_policy *p)
{
	const char *ku[8], *eku[SGT_POLICY_MAX_LIST], *forbid[SGT_POLICY_MAX_LIST];
	size_t nku = 0, i;
	unsigned long bit;

	for (bit = 0x80; bit != 0 && nku < 8; bit >>= 1)
		if (p->key_usage & bit)
			ku[nku++] = sgt_policy_ku_name(bit);
	if (p->key_usage & 0x8000)
		ku[nku++] = "decipherOnly";
	for (i = 0; i < p->neku; i++)
		eku[i] = sgt_policy_eku_name(p->eku[i]);
	for (i = 0; i < p->nforbid_eku; i++)
		forbid[i] = sgt_policy_eku_name(p->forbid_eku[i]);
	json_t *j;

	j = json_pack("{s:s, s:s?, s:s, s:{s:o, s:o}, s:{s:s?, s:i, s:i, s:o, s:o, s:s, s:o}, s:{s:s?, s:s?}}",
			 "name", p->name, "description", p->description, "path", p->path,
			 "key", "algorithms", names_json((const char **)p->algorithms, p->nalgorithms),
			 "custody", names_json((const char **)p->custody, p->ncustody),
			 "certificate", "subject", p->subject, "validity_days", (json_int_t)p->validity_days,
			 "renew_before_days", (json_int_t)p->renew_before_days, "key_usage", names_json(ku, nku),
			 "extended_key_usage", names_json(eku, p->neku), "signature_hash", p->signature_hash,
			 "forbid_extended_key_usage", names_json(forbid, p->nforbid_eku),
			 "signing", "hash", p->signing_hash, "ota_signature_field", p->ota_signature_field);
	if (j != NULL && p->approvals_required > 0)
		json_object_set_new(j, "approvals",
				    json_pack("{s:i, s:s, s:s, s:i}", "required", (json_int_t)p->approvals_required,
					      "allowed_signers", p->approvals_allowed_signers, "namespace",
					      p->approvals_namespace, "max_age_seconds",
					      (json_int_t)p->approvals_max_age));
	return j;
}

static void print_list(const char *title, const char **names, size_t n)
{
	size_t i;

	printf("  %-26s", title);
	for (i = 0; i < n; i++)
		printf("%s%s", i ? ", " : "", names[i]);
	printf("%s\n", n == 0 ? "(none)" : "");
}

static int show(struct sgt_ctx *ctx, const char *name)
{
	char buf[4096];
	struct sgt_policy *p = NULL;
	json_t *j;
	int rc;

	if ((rc = sgt_policy_find(store_dir_if_any(ctx, buf, sizeof(buf)), name, &p)) != SGT_OK)
		return rc;
	j = policy_json(p);
	if (ctx->json) {
		rc = cmd_json_print(j);
	} else if (j == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
	} else {
		const char *ku[8], *eku[SGT_POLICY_MAX_LIST], *forbid[SGT_POLICY_MAX_LIST];
		json_t *c = json_object_get(j, "certificate");
		size_t i, nku = json_array_size(json_object_get(c, "key_usage"));

		for (i = 0; i < nku && i < 8; i++)
			ku[i] = json_string_value(json_array_get(json_object_get(c, "key_usage"), i));
		for (i = 0; i < p->neku; i++)
			eku[i] = sgt_policy_eku_name(p->eku[i]);
		for (i = 0; i < p->nforbid_eku; i++)
			forbid[i] = sgt_policy_eku_name(p->forbid_eku[i]);
		printf("policy %s (%s)\n", p->name, p->path);
		if (p->description != NULL)
			printf("  %s\n", p->description);
		print_list("key algorithms:", (const char **)p->algorithms, p->nalgorithms);
		print_list("key custody:", (const char **)p->custody, p->ncustody);
		printf("  %-26s%s\n", "subject:", p->subject != NULL ? p->subject : "(CN=<key label>)");
		/* The one renewal rule (sgt_cert_renewal), said whole: a short certificate renews at a third of its life. */
		printf("  %-26s%ld days, renewed %ld days before expiry (a certificate that lives %ld days or less: when a "
		       "third of its lifetime is left)\n", "validity:", p->validity_days, p->renew_before_days,
		       p->renew_before_days);
		print_list("key usage:", ku, nku < 8 ? nku : 8);
		print_list("extended key usage:", eku, p->neku);
		print_list("forbidden extended usage:", forbid, p->nforbid_eku);
		printf("  %-26s%s\n", "certificate signature:", p->signature_hash);
		if (p->signing_hash != NULL || p->ota_signature_field != NULL)
			printf("  %-26s%s, OTA field %s\n", "image signature:",
			       p->signing_hash ? p->signing_hash : "sha256",
			       p->ota_signature_field ? p->ota_signature_field : "(not set)");
		if (p->approvals_required > 0)
		{
			printf("  %-26s%ld distinct principals of %s sign each request (namespace %s), which "
			       "expires %ldh%02ldm after it is made\n", "approvals:", p->approvals_required,
			       p->approvals_allowed_signers, p->approvals_namespace, p->approvals_max_age / 3600,
			       p->approvals_max_age % 3600 / 60);
			/* renew takes no approvals: the renewal line above says when, this one who acts. */
			printf("  %-26sneeded to sign, rotate start/finish, cert reissue and key adopt; renew leaves "
			       "these keys to 'cert reissue --approvals'\n", "");
		}
		else
			printf("  %-26s%s\n", "approvals:", "none required");
		json_decref(j);
	}
	sgt_policy_free(p);
	return rc;
}

static int list(struct sgt_ctx *ctx)
{
	char buf[4096];
	const char *sdir = store_dir_if_any(ctx, buf, sizeof(buf));
	char **names = NULL;
	size_t n = 0, i;
	json_t *arr = json_array();
	int rc;

	if ((rc = sgt_policy_names(sdir, &names, &n)) != SGT_OK)
		goto out;
	for (i = 0; i < n; i++) {
		struct sgt_policy *p = NULL;

		/* A broken file must not hide the others, but it is an error. */
		if ((rc = sgt_policy_find(sdir, names[i], &p)) != SGT_OK)
			goto out;
		if (ctx->json)
			json_array_append_new(arr, json_pack("{s:s, s:s?, s:s}", "name", p->name, "description",
							     p->description, "path", p->path));
		else
			printf("%-26s %s\n", p->name, p->description != NULL ? p->description : "");
		sgt_policy_free(p);
	}
	if (n == 0 && !ctx->json)
		sgt_warn("no policies found; set SIGNET_POLICY_DIR or install signet's policies");
	if (ctx->json) {
		rc = cmd_json_print(json_pack("{s:o}", "policies", arr));
		arr = NULL;
	}
out:
	json_decref(arr);
	sgt_policy_names_free(names, n);
	return rc;
}

/* N approvals need at least N distinct principals in allowed_signers. */
static int check_approvals(struct sgt_ctx *ctx, const struct sgt_policy *p)
{
	char buf[4096], path[4096];
	struct sgt_signers s;
	size_t n;
	int rc;

	rc = sgt_approve_signers_load(store_dir_if_any(ctx, buf, sizeof(buf)), p->approvals_allowed_signers, &s, path,
				      sizeof(path));
	if (rc != SGT_OK)
		return rc;
	n = sgt_approve_principal_count(&s);
	sgt_signers_release(&s);
	if ((long)n < p->approvals_required)
		return sgt_err(SGT_ERR_DATA, "%s: approvals: required is %ld but %s names %zu distinct principal%s",
			       p->path, p->approvals_required, path, n, n == 1 ? "" : "s");
	return SGT_OK;
}

static int check(struct sgt_ctx *ctx, int argc, char **argv)
{
	json_t *arr = json_array();
	int i, rc = SGT_OK;

	for (i = 0; i < argc; i++) {
		struct sgt_policy *p = NULL;
		int r = sgt_policy_load_file(argv[i], &p);

		if (r == SGT_OK && p->approvals_required > 0)
			r = check_approvals(ctx, p);

		if (ctx->json)
			json_array_append_new(arr, json_pack("{s:s, s:b, s:s?}", "file", argv[i], "ok", r == SGT_OK,
							     "name", p ? p->name : NULL));
		else if (r == SGT_OK)
			printf("%s: ok, policy %s\n", argv[i], p->name);
		if (r != SGT_OK && rc == SGT_OK)
			rc = r;
		sgt_policy_free(p);
	}
	if (ctx->json) {
		int r = cmd_json_print(json_pack("{s:o, s:b}", "files", arr, "ok", rc == SGT_OK));

		return rc != SGT_OK ? rc : r;
	}
	json_decref(arr);
	return rc;
}

static int policy_sub(struct sgt_ctx *ctx, const char *sub, int argc, char **argv)
{
	static const struct option opts[] = { { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
	int started = 0, c, rc;

	while ((c = cmd_getopt("policy", argc, argv, "h", opts, &started)) != -1) {
		if (c == 'h')
			return cmd_help(help_text);
		return SGT_ERR_USAGE;
	}
	if (optind >= argc)
		return cmd_usage("policy", "missing subcommand (list, show, check)");
	sub = argv[optind];
	argc -= optind;
	argv += optind;
	started = 0;
	while ((c = cmd_getopt("policy", argc, argv, "h", opts, &started)) != -1) {
		if (c == 'h')
			return cmd_help(help_text);
		return SGT_ERR_USAGE;
	}
	if ((strcmp(sub, "list") == 0 || strcmp(sub, "show") == 0 || strcmp(sub, "check") == 0) &&
	    (rc = sync_db_store(ctx)) != SGT_OK)
		return rc;
	if (strcmp(sub, "list") == 0) {
		if (optind != argc)
			return cmd_usage("policy", "list takes no arguments");
		return list(ctx);
	}
	if (strcmp(sub, "show") == 0) {
		if (argc - optind != 1)
			return cmd_usage("policy", "show needs one policy NAME");
		return show(ctx, argv[optind]);
	}
	if (strcmp(sub, "check") == 0) {
		if (optind >= argc)
			return cmd_usage("policy", "check needs at least one FILE");
		return check(ctx, argc - optind, argv + optind);
	}
	return cmd_usage("policy", "unknown subcommand '%s' (list, show, check)", sub);
}
