/*
 * cmd_renew.c: `signet renew [--policy NAME] [--dry-run] [--check]`.
 * Every key's current certificate that is due (sgt_cert_renewal, the rule
 * every command uses: inside its policy's renewal window, or expired) is
 * reissued for the same key, through the same path as `cert reissue` (SPKI
 * proven, lint passed, audit record).  A renewed certificate is not due,
 * so a second run does nothing; --check only reports, exiting 1 when
 * something is due, for cron and monitoring.  One an outside CA issued is
 * reported but cannot be reissued here (cert csr, then cert import).
 */
#include <stdlib.h>
#include <string.h>

#include "approve.h"
#include "cert.h"
#include "cmd.h"
#include "policy.h"
#include "reissue.h"
#include "token.h"

static const char help_text[] =
	"usage: signet renew [--policy NAME] [--dry-run] [--check] [--pin-file F | --pin-fd N]\n"
	"\n"
	"Reissues, with the same key, every key's current certificate that is due:\n"
	"its expiry is within its policy's renew_before_days (30 without a policy)\n"
	"or has passed.  A certificate that lives no longer than that window is\n"
	"due when a third of its lifetime is left instead, so that renewing it\n"
	"does not make it due again.  cert list/show/lint and fleet report/check\n"
	"judge \"due\" by this same rule.  Each renewal checks that the new\n"
	"certificate has the old public key and passes lint, and is recorded in\n"
	"the audit log.  Running it again does nothing.  A key whose policy asks\n"
	"for approvals (docs/approvals.md) is reported, not reissued: renew takes\n"
	"no approvals, 'signet cert reissue LABEL --approvals DIR' does (exit 1).\n"
	"\n"
	"  --policy NAME  use this policy for every key (default: the key's, else the store's)\n"
	"  --dry-run      say what would be renewed; change nothing\n"
	"  --check        exit 1 when anything is due, 0 when nothing is (for cron)\n"
	"\n"
	"With --json prints { \"checked\", \"due\": [...], \"renewed\": [...], \"next_due_at\" }.\n";

struct due {
	struct sgt_keyrec rec;
	X509 *cert;
	long days_left;
	char not_after[32];
	char due_at[32];	/* from when it is due (sgt_cert_renewal) */
	char why[160];		/* the window that made it due */
	int foreign;		/* an outside CA issued it: renew cannot reissue it */
	int approvals;		/* the key's policy asks for approvals: only cert reissue given them does */
	char policy[65];
};

static void due_release(struct due *d, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		X509_free(d[i].cert);
	free(d);
}

/*
 * Collects the keys whose current certificate is due, as sgt_cert_renewal
 * decides for every command.  *checked counts the certificates looked at;
 * *unreadable those that could not be read (each reported once): the
 * others are still checked.  *next and next_label: the soonest of the
 * others to fall due (0 when none).
 */
static int find_due(const struct sgt_store *st, const char *policy_opt, time_t now, struct due **out,
		    size_t *n, size_t *checked, size_t *unreadable, time_t *next, char next_label[65])
{
	struct sgt_keyrec *recs = NULL;
	size_t nrecs = 0, i;
	struct due *list = NULL;
	int rc;

	*out = NULL;
	*n = *checked = *unreadable = 0;
	*next = 0;
	next_label[0] = '\0';
	if ((rc = sgt_keyrec_list(st, &recs, &nrecs)) != SGT_OK)
		return rc;
	for (i = 0; i < nrecs; i++) {
		const char *name = policy_opt;
		struct sgt_policy *pol = NULL;
		X509 *cur = NULL;
		struct sgt_renewal ren;
		time_t nb, na;
		long window = SGT_RENEW_DEFAULT_DAYS;

		if (sgt_cert_store_current(st, recs[i].label, &cur) != SGT_OK) {
			(*unreadable)++;	/* reported; one bad file must not hide the others' deadlines */
			continue;
		}
		if (cur == NULL)
			continue;
		(*checked)++;
		if (name == NULL)
			name = recs[i].policy[0] != '\0' ? recs[i].policy : st->cfg.policy;
		if (name != NULL) {
			if ((rc = sgt_policy_find(st->dir, name, &pol)) != SGT_OK) {
				X509_free(cur);
				goto out;
			}
			window = pol->renew_before_days;
		}
		if (sgt_cert_times(cur, &nb, &na) != SGT_OK) {
			(void)sgt_err(SGT_ERR_DATA, "the current certificate of '%s' has unreadable validity dates",
				      recs[i].label);
			(*unreadable)++;
			X509_free(cur);
			sgt_policy_free(pol);
			continue;
		}
		/* The one rule every command uses, short lifetimes included. */
		sgt_cert_renewal(nb, na, window, now, &ren);
		if (!ren.due && (*next == 0 || ren.due_at < *next)) {
			*next = ren.due_at;
			snprintf(next_label, 65, "%s", recs[i].label);
		}
		if (ren.due) {
			struct due *grown = realloc(list, (*n + 1) * sizeof(*grown));

			if (grown == NULL) {
				rc = sgt_err(SGT_ERR_DATA, "out of memory");
				X509_free(cur);
				sgt_policy_free(pol);
				goto out;
			}
			list = grown;
			memset(&list[*n], 0, sizeof(list[*n]));
			list[*n].rec = recs[i];
			list[*n].cert = cur;
			cur = NULL;
			list[*n].days_left = na >= now ? (long)((na - now) / 86400) : -(long)((now - na + 86399) / 86400);
			sgt_time_iso(na, list[*n].not_after);
			sgt_time_iso(ren.due_at, list[*n].due_at);
			sgt_renewal_why(&ren, pol ? pol->name : NULL, list[*n].why, sizeof(list[*n].why));
			snprintf(list[*n].policy, sizeof(list[*n].policy), "%s", pol ? pol->name : "");
			list[*n].foreign = !sgt_cert_issuer_held(st, list[*n].cert);
			list[*n].approvals = sgt_approve_needed(st, &recs[i]);
			(*n)++;
		}
		X509_free(cur);
		sgt_policy_free(pol);
	}
out:
	free(recs);
	if (rc != SGT_OK) {
		due_release(list, *n);
		*n = 0;
		return rc;
	}
	*out = list;
	return SGT_OK;
}

int cmd_renew(struct sgt_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "policy", required_argument, NULL, 'p' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "check", no_argument, NULL, 'c' },
		CMD_PIN_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct sgt_pin_opts pin = SGT_PIN_OPTS_INIT;
	const char *policy = NULL;
	int dry_run = 0, check = 0, started = 0, c, rc;
	struct sgt_store st;
	struct sgt_token *tok = NULL;
	struct due *due = NULL;
	size_t ndue = 0, checked = 0, unreadable = 0, i, renewed = 0;
	json_t *jdue = NULL, *jrenewed = NULL;
	time_t now = sgt_now(), next = 0;
	char next_label[65], next_day[32];

	while ((c = cmd_getopt("renew", argc, argv, "h", longopts, &started)) != -1) {
		switch (c) {
		case 'h':
			return cmd_help(help_text);
		case 'p':
			policy = optarg;
			break;
		case 'n':
			dry_run = 1;
			break;
		case 'c':
			check = 1;
			break;
		default:
			if (cmd_pin_opt("renew", c, optarg, &pin, &rc)) {
				if (rc != SGT_OK)
					return rc;
				break;
			}
			return SGT_ERR_USAGE;
		}
	}
	if (optind < argc)
		return cmd_usage("renew", "unexpected argument '%s'", argv[optind]);
	if ((rc = cmd_store_open(ctx, &st, check || dry_run ? SGT_LOCK_SHARED : SGT_LOCK_EXCLUSIVE)) != SGT_OK)
		return rc;
	jdue = json_array();
	jrenewed = json_array();
	if (jdue == NULL || jrenewed == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	if ((rc = find_due(&st, policy, now, &due, &ndue, &checked, &unreadable, &next, next_label)) != SGT_OK)
		goto out;
	for (i = 0; i < ndue; i++) {
		char serial[128];

		sgt_cert_serial_hex(due[i].cert, serial, sizeof(serial));
		json_array_append_new(jdue, json_pack("{s:s, s:s, s:s, s:s, s:I, s:s?}", "label", due[i].rec.label,
						      "serial", serial, "not_after", due[i].not_after,
						      "due_at", due[i].due_at,
						      "days_left", (json_int_t)due[i].days_left, "policy",
						      due[i].policy[0] ? due[i].policy : NULL));
		json_object_set_new(json_array_get(jdue, json_array_size(jdue) - 1), "renewable",
				    json_boolean(!due[i].foreign && !due[i].approvals));
		json_object_set_new(json_array_get(jdue, json_array_size(jdue) - 1), "needs_approvals",
				    json_boolean(due[i].approvals));
		if (!ctx->json)
			printf("%s: certificate %s %s %s (%ld days), due for renewal since %.10s (%s)%s\n",
			       due[i].rec.label, serial, due[i].days_left < 0 ? "expired on" : "expires on",
			       due[i].not_after, due[i].days_left, due[i].due_at, due[i].why,
			       due[i].foreign ? "; its issuer's key is not in custody, so renew cannot reissue it" :
			       due[i].approvals ? "; its policy asks for approvals, so renew does not reissue it" :
			       check ? "" : dry_run ? ": would reissue it" : "");
	}
	if (ndue > 0 && !check && !dry_run) {
		if ((rc = sgt_token_open(&st, &pin, &tok)) != SGT_OK)
			goto out;
		for (i = 0; i < ndue; i++) {
			json_t *r = json_object();
			int r1;

			if (r == NULL) {
				rc = sgt_err(SGT_ERR_DATA, "out of memory");
				break;
			}
			/* One failure must not stop the others from being renewed. */
			if (due[i].foreign) {
				/* Said above; the key's owner must go through the CA that issued it. */
				json_decref(r);
				r1 = sgt_err(SGT_ERR_VERDICT, "the certificate of '%s' is due, but an outside CA issued "
					     "it, so renew cannot reissue it", due[i].rec.label);
				sgt_hint("make a request with 'signet cert csr %s', have that CA sign it, then "
					 "'signet cert import %s FILE'", due[i].rec.label, due[i].rec.label);
				if (rc == SGT_OK)
					rc = r1;
				continue;
			}
			if (due[i].approvals) {
				/* The two-person rule: renew takes no approvals, so it leaves the key to cert reissue. */
				json_decref(r);
				r1 = sgt_err(SGT_ERR_VERDICT, "the certificate of '%s' is due, but its policy asks for approvals, "
					     "so renew does not reissue it", due[i].rec.label);
				sgt_hint("have 'signet approve request --op cert.reissue --key %s' approved, then "
					 "'signet cert reissue %s --approvals DIR'", due[i].rec.label, due[i].rec.label);
				if (rc == SGT_OK)
					rc = r1;
				continue;
			}
			r1 = sgt_reissue(&st, tok, &due[i].rec, due[i].cert, policy, 0, "renew", r);
			if (r1 == SGT_OK) {
				renewed++;
				if (!ctx->json)
					printf("%s: reissued, same key: serial %s, valid until %s\n  %s\n",
					       due[i].rec.label, json_string_value(json_object_get(r, "serial")),
					       json_string_value(json_object_get(r, "not_after")),
					       json_string_value(json_object_get(r, "path")));
				json_array_append_new(jrenewed, r);
			} else {
				json_decref(r);
				if (rc == SGT_OK)
					rc = r1;
			}
		}
	}
	if (ctx->json) {
		int r2;

		if (next != 0)
			sgt_time_iso(next, next_day);
		r2 = cmd_json_print(json_pack("{s:I, s:I, s:O, s:O, s:b, s:b, s:s?, s:s?}", "checked",
					      (json_int_t)checked, "unreadable", (json_int_t)unreadable, "due", jdue,
					      "renewed", jrenewed, "dry_run", dry_run, "check", check, "next_due_at",
					      next ? next_day : NULL, "next_label", next ? next_label : NULL));
		rc = rc != SGT_OK ? rc : r2;
	} else if (ndue == 0) {
		printf("nothing to renew: %zu certificate%s checked, none due for renewal", checked,
		       checked == 1 ? "" : "s");
		if (next != 0) {
			sgt_time_iso(next, next_day);
			printf("; the first to fall due is '%s', on %.10s", next_label, next_day);
		}
		printf("\n");
	} else if (!check && !dry_run) {
		printf("renewed %zu of %zu due certificate%s\n", renewed, ndue, ndue == 1 ? "" : "s");
	}
	if (rc == SGT_OK && check && ndue > 0)
		rc = SGT_ERR_VERDICT;
	if (unreadable > 0 && !ctx->json)
		printf("%zu certificate%s could not be read (see the errors above)\n", unreadable,
		       unreadable == 1 ? "" : "s");
	if (unreadable > 0 && (rc == SGT_OK || rc == SGT_ERR_VERDICT))
		rc = SGT_ERR_DATA;	/* each was reported where it failed */
out:
	json_decref(jdue);
	json_decref(jrenewed);
	due_release(due, ndue);
	sgt_token_free(tok);
	sgt_store_release(&st);
	return rc;
}
