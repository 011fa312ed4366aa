/*
 * cmd_audit.c: `signet audit log|verify|custody`: prints the recorded
 * operations, re-computes the hash chain (exit 1 naming the first bad
 * record), and compares the key objects on the token with the key records
 * and their custody attributes (exit 1 on any problem).
 */
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "cmd.h"
#include "key.h"

static const char help[] =
	"usage: signet audit log [--since DATE]\n"
	"       signet audit verify\n"
	"       signet audit custody [--pin-file F | --pin-fd N]\n\n"
	"log      the recorded operations (DATE: YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ).\n"
	"verify   re-computes the hash chain of audit.log and checks audit.head;\n"
	"         exit 1 naming the first record that was modified, removed,\n"
	"         reordered, or cut off the end.\n"
	"custody  every private key on the token with its custody attributes,\n"
	"         keys on the token without a record and records without a key;\n"
	"         exit 1 on any problem.\n";

static int audit_log(struct sgt_ctx *ctx, struct sgt_store *st, const char *since)
{
	json_t *recs = NULL;
	time_t t = 0;
	size_t i;
	int rc;

	if (since != NULL && sgt_time_parse(since, &t) != 0)
		return cmd_usage("audit log", "--since needs YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, not '%s'", since);
	if ((rc = sgt_audit_read(st, t, &recs)) != SGT_OK)
		return rc;
	if (ctx->json)
		return cmd_json_print(json_pack("{s:o}", "records", recs));
	for (i = 0; i < json_array_size(recs); i++) {
		json_t *r = json_array_get(recs, i);
		const char *label = json_string_value(json_object_get(r, "label"));
		const char *spki = json_string_value(json_object_get(r, "spki_sha256"));
		json_t *d = json_object_get(r, "details");
		char *ds = d ? json_dumps(d, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

		printf("%4lld  %s  %-14s %-16s %-4s %.16s%s %s\n",
		       (long long)json_integer_value(json_object_get(r, "seq")),
		       json_string_value(json_object_get(r, "time")),
		       json_string_value(json_object_get(r, "op")), label ? label : "-",
		       json_string_value(json_object_get(r, "result")), spki ? spki : "-", spki ? "…" : "",
		       ds ? ds : "");
		free(ds);
	}
	json_decref(recs);
	return SGT_OK;
}

static int audit_verify(struct sgt_ctx *ctx, struct sgt_store *st)
{
	struct sgt_audit_result res;
	char *logpath = sgt_store_path(st, "audit.log");
	int rc = sgt_audit_verify(st, &res);

	if (rc != SGT_OK && rc != SGT_ERR_VERDICT)
		goto out;
	if (ctx->json) {
		int prc = cmd_json_print(json_pack("{s:s, s:b, s:I, s:o?, s:s?}", "log", logpath, "intact", rc == SGT_OK,
						   "records", (json_int_t)res.records,
						   "first_bad_record", rc == SGT_OK ? NULL : json_integer((json_int_t)res.bad),
						   "reason", rc == SGT_OK ? NULL : res.why));
		if (prc != SGT_OK)
			rc = prc;
	} else if (rc == SGT_OK) {
		if (!sgt_quiet)
			printf("audit log intact: %zu records, chain and head verified\n", res.records);
	} else {
		sgt_err(SGT_ERR_VERDICT, "audit log '%s' is broken at record %zu: %s", logpath, res.bad, res.why);
	}
out:
	free(logpath);
	return rc;
}

static int audit_custody(struct sgt_ctx *ctx, struct sgt_store *st, const struct sgt_pin_opts *pins)
{
	json_t *rep = NULL, *keys;
	size_t i;
	int rc = sgt_key_custody_audit(st, pins, &rep);

	if (rep == NULL)
		return rc;
	if (ctx->json) {
		int prc = cmd_json_print(rep);

		return prc != SGT_OK ? prc : rc;
	}
	keys = json_object_get(rep, "keys");
	printf("token '%s': %zu key objects\n", json_string_value(json_object_get(rep, "token")), json_array_size(keys));
	for (i = 0; i < json_array_size(keys); i++) {
		json_t *k = json_array_get(keys, i);
		json_t *c = json_object_get(k, "custody");
		const char *rec = json_string_value(json_object_get(k, "record"));
		const char *problem = json_string_value(json_object_get(k, "problem"));

		printf("  %-20s %-9s sensitive=%s extractable=%s always_sensitive=%s never_extractable=%s local=%s  %s%s\n",
		       rec ? rec : json_string_value(json_object_get(k, "token_label")),
		       json_string_value(json_object_get(k, "origin")),
		       json_is_true(json_object_get(c, "sensitive")) ? "yes" : "no",
		       json_is_true(json_object_get(c, "extractable")) ? "yes" : "no",
		       json_is_true(json_object_get(c, "always_sensitive")) ? "yes" : "no",
		       json_is_true(json_object_get(c, "never_extractable")) ? "yes" : "no",
		       json_is_true(json_object_get(c, "local")) ? "yes" : "no",
		       problem ? "PROBLEM: " : "ok", problem ? problem : "");
	}
	json_decref(rep);
	if (rc == SGT_ERR_VERDICT)
		sgt_err(rc, "custody of token '%s' has problems (see above)", st->cfg.token);
	return rc;
}

int cmd_audit(struct sgt_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "since", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		CMD_PIN_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct sgt_pin_opts pins = SGT_PIN_OPTS_INIT;
	struct sgt_store st;
	const char *since = NULL, *sub;
	int started = 0, c, rc;

	if (argc < 2)
		return cmd_usage("audit", "missing subcommand (log, verify, custody)");
	sub = argv[1];
	if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0)
		return cmd_help(help);
	if (strcmp(sub, "log") && strcmp(sub, "verify") && strcmp(sub, "custody"))
		return cmd_usage("audit", "unknown subcommand '%s'", sub);
	while ((c = cmd_getopt("audit", argc - 1, argv + 1, "h", longopts, &started)) != -1) {
		if (c == -2)
			return SGT_ERR_USAGE;
		if (cmd_pin_opt("audit", c, optarg, &pins, &rc)) {
			if (rc != SGT_OK)
				return rc;
			continue;
		}
		if (c == 'h')
			return cmd_help(help);
		if (c == 's')
			since = optarg;
	}
	if (optind < argc - 1)
		return cmd_usage("audit", "unexpected argument '%s'", argv[optind + 1]);
	if (since != NULL && strcmp(sub, "log") != 0)
		return cmd_usage("audit", "--since goes with 'audit log'");
	if ((rc = cmd_store_open(ctx, &st, SGT_LOCK_SHARED)) != SGT_OK)
		return rc;
	if (strcmp(sub, "log") == 0)
		rc = audit_log(ctx, &st, since);
	else if (strcmp(sub, "verify") == 0)
		rc = audit_verify(ctx, &st);
	else
		rc = audit_custody(ctx, &st, &pins);
	sgt_store_release(&st);
	return rc;
}
