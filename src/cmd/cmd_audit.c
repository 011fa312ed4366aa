/*
 * cmd_audit.c: `signet audit log|verify|custody`: prints the recorded
 * operations, re-computes the hash chain (exit 1 naming the first bad
 * record), and compares the key objects on the token with the key records
 * and their custody attributes (exit 1 on any problem).
 */
#include <stdlib.h>
#include <string.h>

#include "anchor.h"
#include "audit.h"
#include "cmd.h"
#include "dbstore.h"
#include "key.h"
#include "session.h"

static const char help[] =
	"usage: signet audit log [--since DATE]\n"
	"       signet audit verify [--head FILE]\n"
	"       signet audit head\n"
	"       signet audit custody [--pin-file F | --pin-fd N]\n\n"
	"log      the recorded operations (DATE: YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ).\n"
	"verify   re-computes the hash chain of audit.log and checks audit.head,\n"
	"         its signature by the store's audit key (audit.pub), and the\n"
	"         signed head kept on the token when the token is reachable;\n"
	"         exit 1 naming the first record that was modified, removed,\n"
	"         reordered, or cut off the end, or a log and head rewritten.\n"
	"         --head FILE also checks the log against a copy of a signed head.\n"
	"head     prints the signed head, for a ticket or a build log.\n"
	"custody  every private key on the token with its custody attributes,\n"
	"         keys on the token without a record and records without a key;\n"
	"         exit 1 on any problem.\n";

struct log_out {
	int json;
	size_t n;
};

/* One record, printed as it is read: memory does not grow with the log. */
static int print_rec(void *ctx, json_t *r)
{
	struct log_out *o = ctx;
	const char *label = json_string_value(json_object_get(r, "label"));
	const char *spki = json_string_value(json_object_get(r, "spki_sha256"));
	json_t *d = json_object_get(r, "details");
	char *ds;

	if (o->json) {
		if ((ds = json_dumps(r, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL)
			return sgt_err(SGT_ERR_DATA, "out of memory");
		printf("%s\n    %s", o->n ? "," : "", ds);
		free(ds);
		o->n++;
		return SGT_OK;
	}
	ds = d ? json_dumps(d, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	printf("%4lld  %s  %-14s %-16s %-7s %.16s%s %s\n", (long long)json_integer_value(json_object_get(r, "seq")),
	       json_string_value(json_object_get(r, "time")), json_string_value(json_object_get(r, "op")),
	       label ? label : "-", json_string_value(json_object_get(r, "result")), spki ? spki : "-", spki ? "…" : "",
	       ds ? ds : "");
	free(ds);
	o->n++;
	return SGT_OK;
}

static int audit_log(struct sgt_ctx *ctx, struct sgt_store *st, const char *since)
{
	struct log_out o = { ctx->json, 0 };
	time_t t = 0;
	int rc;

	if (since != NULL && sgt_time_parse(since, &t) != 0)
		return cmd_usage("audit log", "--since needs YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, not '%s'", since);
	if (ctx->json)
		fputs("{\n  \"records\": [", stdout);
	rc = sgt_audit_foreach(st, t, print_rec, &o);
	if (ctx->json)
		fputs(o.n ? "\n  ]\n}\n" : "]\n}\n", stdout);
	return rc;
}

/* A copy of a signed head: the text `audit head` prints, its --json, or an audit.head file. */
static int head_copy_load(const char *path, struct sgt_audit_anchor *a, char spki[65])
{
	unsigned char *buf = NULL;
	size_t len = 0;
	json_t *j;
	json_error_t jerr;
	const char *p, *end;
	int rc;

	spki[0] = '\0';
	memset(a, 0, sizeof(*a));
	if ((rc = sgt_file_read(path, 1 << 16, &buf, &len)) != SGT_OK)
		return rc;
	if ((j = json_loadb((const char *)buf, len, 0, &jerr)) != NULL) {
		const char *h = json_string_value(json_object_get(j, "hash"));
		const char *sig = json_string_value(json_object_get(j, "signature"));
		const char *k = json_string_value(json_object_get(j, "audit_key_spki_sha256"));
		char line[800];

		snprintf(line, sizeof(line), "%lld %s %s", (long long)json_integer_value(json_object_get(j, "seq")),
			 h ? h : "", sig ? sig : "");
		if (sgt_audit_anchor_parse(line, strlen(line), a) == 0 && k != NULL)
			snprintf(spki, 65, "%s", k);
		json_decref(j);
	} else {
		for (p = (const char *)buf; p < (const char *)buf + len; p = end + 1) {
			size_t n;

			end = memchr(p, '\n', (size_t)((const char *)buf + len - p));
			if (end == NULL)
				end = (const char *)buf + len;
			n = (size_t)(end - p);
			if (n > 7 && strncmp(p, "signed ", 7) == 0)
				sgt_audit_anchor_parse(p + 7, n - 7, a);
			else if (n == 22 + 64 && strncmp(p, "audit_key_spki_sha256 ", 22) == 0)
				snprintf(spki, 65, "%.64s", p + 22);
		}
	}
	free(buf);
	if (!a->present)
		return sgt_err(SGT_ERR_DATA, "'%s' holds no signed audit head (the output of 'signet audit head')", path);
	return SGT_OK;
}

static int audit_head(struct sgt_ctx *ctx, struct sgt_store *st)
{
	struct sgt_audit_head h;
	EVP_PKEY *pub = NULL;
	char spki[65] = "";
	int rc;

	if ((rc = sgt_audit_head_load(st, &h)) != SGT_OK || (rc = sgt_audit_pub_load(st, &pub)) != SGT_OK)
		return rc;
	if (pub != NULL)
		sgt_key_spki_sha256(pub, spki);
	EVP_PKEY_free(pub);
	if (!h.signed_.present) {
		rc = sgt_err(SGT_ERR_VERDICT, "store '%s' has no signed audit head yet", st->dir);
		sgt_hint("the next state-changing command signs it on the token");
		return rc;
	}
	if (ctx->json)
		return cmd_json_print(json_pack("{s:s, s:I, s:s, s:s, s:s}", "store", st->dir, "seq", (json_int_t)h.signed_.seq,
						"hash", h.signed_.hash, "signature", h.signed_.sig_b64,
						"audit_key_spki_sha256", spki));
	printf("signed %lld %s %s\n", h.signed_.seq, h.signed_.hash, h.signed_.sig_b64);
	if (spki[0])
		printf("audit_key_spki_sha256 %s\n", spki);
	return SGT_OK;
}

static int spki_of(EVP_PKEY *k, char out[65])
{
	out[0] = '\0';
	return k != NULL ? sgt_key_spki_sha256(k, out) : SGT_OK;
}

/*
 * The token's audit key and signed head, without a PIN.  *reachable is 0
 * when the module or token cannot be used now (nothing else is set then,
 * and nothing is printed: an unreachable token is a note, not an error).
 */
static int token_anchor(const struct sgt_store *st, EVP_PKEY **pub, struct sgt_audit_anchor *a, int *reachable,
			int *keyable)
{
	struct sgt_p11 p;
	int rc = SGT_OK;

	*pub = NULL;
	*reachable = 0;
	*keyable = 1;
	memset(a, 0, sizeof(*a));
	if (sgt_session_open(&p, st, NULL, SGT_SESSION_QUIET, NULL) == SGT_OK) {
		*reachable = 1;
		rc = sgt_anchor_read(st, &p, pub, a, keyable);
	}
	sgt_session_close(&p);
	return rc;
}

static int audit_verify(struct sgt_ctx *ctx, struct sgt_store *st, const char *headfile)
{
	struct sgt_audit_result res;
	struct sgt_audit_anchor tok_anchor, copy;
	struct sgt_audit_check checks[2];
	char *logpath = sgt_store_path(st, "audit.log");
	char file_spki[65], tok_spki[65], copy_spki[65] = "", why[512] = "";
	EVP_PKEY *pub = NULL, *tokpub = NULL;
	size_t nchecks = 0;
	long long db_heads = 0;
	int reachable = 0, keyable = 1, rc;

	memset(&res, 0, sizeof(res));
	if ((rc = sgt_audit_pub_load(st, &pub)) != SGT_OK ||
	    (rc = token_anchor(st, &tokpub, &tok_anchor, &reachable, &keyable)) != SGT_OK ||
	    (headfile != NULL && (rc = head_copy_load(headfile, &copy, copy_spki)) != SGT_OK))
		goto out;
	spki_of(pub, file_spki);
	spki_of(tokpub, tok_spki);
	/* The audit key itself: the token's, the store's copy and the one a head copy names must agree. */
	if (tokpub != NULL && pub == NULL)
		snprintf(why, sizeof(why), "token '%s' holds an audit key but '%s/audit.pub' is missing: the store's audit files were replaced",
			 st->cfg.token, st->dir);
	else if (tokpub != NULL && strcmp(tok_spki, file_spki) != 0)
		snprintf(why, sizeof(why), "'%s/audit.pub' is not the audit key of token '%s'", st->dir, st->cfg.token);
	else if (copy_spki[0] && strcmp(copy_spki, file_spki) != 0)
		snprintf(why, sizeof(why), "the head copy '%s' was signed by another audit key (%s) than this store's", headfile, copy_spki);
	if (why[0]) {
		res.bad = 1;
		snprintf(res.why, sizeof(res.why), "%s", why);
		rc = SGT_ERR_VERDICT;
	} else {
		if (pub == NULL && tokpub != NULL) {
			pub = tokpub;
			tokpub = NULL;
		}
		if (tok_anchor.present)
			checks[nchecks++] = (struct sgt_audit_check){ &tok_anchor, "the signed head kept on the token" };
		if (headfile != NULL) {
			snprintf(why, sizeof(why), "the head copy '%s'", headfile);
			checks[nchecks++] = (struct sgt_audit_check){ &copy, why };
		}
		rc = sgt_audit_verify_ex(st, pub, checks, nchecks, &res);
		/* dbstore: every head the database kept, each signature checked (a file store keeps only the last) */
		if (rc == SGT_OK && st->cfg.db_conninfo != NULL && pub != NULL &&
		    (rc = sgt_db_verify_heads(pub, &db_heads)) == SGT_ERR_VERDICT) {
			res.bad = res.records;
			snprintf(res.why, sizeof(res.why), "%s", sgt_last_error());
		}
		if (rc == SGT_OK && headfile != NULL && pub == NULL) {
			res.bad = 1;
			snprintf(res.why, sizeof(res.why), "the store has no audit key, so the head copy's signature cannot be checked");
			rc = SGT_ERR_VERDICT;
		}
	}
	if (rc != SGT_OK && rc != SGT_ERR_VERDICT)
		goto out;
	/* The chain can be whole while the dates in it go back: said, never silently accepted. */
	if (res.time_backs > 0 && (rc == SGT_OK || res.time_back_first < res.bad)) {
		long long d = res.time_back_max;

		sgt_warn("record %zu of '%s' is dated before the record ahead of it (%zu record%s back in time, by up to "
			 "%lldd %02lldh%02lldm): the clock of the host that wrote %s went backwards, so the dates in the log are "
			 "not in order", res.time_back_first, logpath, res.time_backs, res.time_backs == 1 ? " goes" : "s go",
			 d / 86400, d % 86400 / 3600, d % 3600 / 60, res.time_backs == 1 ? "it" : "them");
	}
	if (ctx->json) {
		int prc = cmd_json_print(json_pack("{s:s, s:b, s:I, s:o?, s:s?, s:b, s:I, s:I, s:b, s:o?, s:s?, s:b, s:I, s:o?}", "log", logpath,
						   "intact", rc == SGT_OK, "records", (json_int_t)res.records,
						   "first_bad_record", rc == SGT_OK ? NULL : json_integer((json_int_t)res.bad),
						   "reason", rc == SGT_OK ? NULL : res.why,
						   "interrupted_append", res.interrupted,
						   "signed_through", (json_int_t)res.signed_seq,
						   "unsigned_records", (json_int_t)res.unsigned_tail,
						   "token_checked", reachable,
						   "token_anchor", tok_anchor.present ? json_integer((json_int_t)tok_anchor.seq) : NULL,
						   "audit_key_spki_sha256", pub ? file_spki : NULL,
						   "audit_key_unavailable", pub == NULL && reachable && !keyable,
						   "records_dated_back", (json_int_t)res.time_backs,
						   "first_record_dated_back", res.time_backs ? json_integer((json_int_t)res.time_back_first) : NULL));
		if (prc != SGT_OK)
			rc = prc;
	} else if (rc == SGT_OK) {
		if (!sgt_quiet) {
			printf("audit log intact: %zu records, chain and head verified\n", res.records);
			if (res.signed_seq > 0)
				printf("  head signed by the audit key (SPKI SHA-256 %s) through record %lld\n",
				       file_spki[0] ? file_spki : tok_spki, res.signed_seq);
			else if (reachable && !keyable)
				printf("  no audit key: token '%s' offers neither EC nor RSA key generation, so heads are not signed there\n",
				       st->cfg.token);
			else
				printf("  no audit key yet: the head is not signed (the next state-changing command makes one)\n");
			if (res.unsigned_tail > 0)
				printf("  %zu later record%s made without a token session (refusals, backups, fleet builds, store puts) not yet covered by a signature\n",
				       res.unsigned_tail, res.unsigned_tail == 1 ? "" : "s");
			if (tok_anchor.present)
				printf("  the token's anchor (record %lld) is in the log\n", tok_anchor.seq);
			else if (!reachable)
				printf("  token '%s' not reachable now: its anchor was not checked\n", st->cfg.token);
			if (headfile != NULL)
				printf("  the head copy '%s' (record %lld) is in the log\n", headfile, copy.seq);
			if (st->cfg.db_conninfo != NULL)
				printf("  database %s: every one of the %lld signed heads it kept has a good head signature\n", sgt_db_name(), db_heads);
			if (res.interrupted)
				printf("  the last append was interrupted before audit.head moved; the next state-changing command completes it\n");
		}
	} else {
		sgt_err(SGT_ERR_VERDICT, "audit log '%s' is broken at record %zu: %s", logpath, res.bad, res.why);
	}
out:
	EVP_PKEY_free(pub);
	EVP_PKEY_free(tokpub);
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

		const char *retired = json_string_value(json_object_get(k, "retired"));

		printf("  %-20s %-9s sensitive=%s extractable=%s always_sensitive=%s never_extractable=%s local=%s  %s%s%s%s\n",
		       rec ? rec : json_string_value(json_object_get(k, "token_label")),
		       json_string_value(json_object_get(k, "origin")),
		       json_is_true(json_object_get(c, "sensitive")) ? "yes" : "no",
		       json_is_true(json_object_get(c, "extractable")) ? "yes" : "no",
		       json_is_true(json_object_get(c, "always_sensitive")) ? "yes" : "no",
		       json_is_true(json_object_get(c, "never_extractable")) ? "yes" : "no",
		       json_is_true(json_object_get(c, "local")) ? "yes" : "no",
		       problem ? "PROBLEM: " : "ok", problem ? problem : "", retired ? "  retired " : "",
		       retired ? retired : "");
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
		{ "head", required_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		CMD_PIN_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct sgt_pin_opts pins = SGT_PIN_OPTS_INIT;
	struct sgt_store st;
	const char *since = NULL, *headfile = NULL, *sub;
	int started = 0, c, rc;

	if (argc < 2)
		return cmd_usage("audit", "missing subcommand (log, verify, head, custody)");
	sub = argv[1];
	if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0)
		return cmd_help(help);
	if (strcmp(sub, "log") && strcmp(sub, "verify") && strcmp(sub, "head") && strcmp(sub, "custody"))
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
		if (c == 'H')
			headfile = optarg;
	}
	if (optind < argc - 1)
		return cmd_usage("audit", "unexpected argument '%s'", argv[optind + 1]);
	if (since != NULL && strcmp(sub, "log") != 0)
		return cmd_usage("audit", "--since goes with 'audit log'");
	if (headfile != NULL && strcmp(sub, "verify") != 0)
		return cmd_usage("audit", "--head goes with 'audit verify'");
	if ((rc = cmd_store_open(ctx, &st, SGT_LOCK_SHARED)) != SGT_OK)
		return rc;
	if (strcmp(sub, "log") == 0)
		rc = audit_log(ctx, &st, since);
	else if (strcmp(sub, "verify") == 0)
		rc = audit_verify(ctx, &st, headfile);
	else if (strcmp(sub, "head") == 0)
		rc = audit_head(ctx, &st);
	else
		rc = audit_custody(ctx, &st, &pins);
	sgt_store_release(&st);
	return rc;
}
