/*
 * cmd_cert.c: `signet cert issue|reissue|csr|import|list|show|lint`.
 * It ties the pieces together: key records and certificates from the
 * store, signing keys from the token, certificates from cert.c, verdicts
 * from lint.c, and an audit record for every certificate written.  The
 * rule it enforces everywhere: a certificate is only written after its
 * public key has been proven to be the token's (and, on reissue, the old
 * certificate's), and the store is left as it was when anything fails.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "approve.h"
#include "audit.h"
#include "cert.h"
#include "cmd.h"
#include "intent.h"
#include "extract.h"
#include "key.h"
#include "lint.h"
#include "policy.h"
#include "reissue.h"
#include "token.h"
#include "tx.h"

static const char help_text[] =
	"usage: signet cert issue LABEL [--policy NAME] [--subject DN] [--days N] [--ca LABEL] [--as-ca]\n"
	"       signet cert reissue LABEL|CERTFILE [--days N] [--policy NAME] [--approval SIG... | --approvals DIR]\n"
	"       signet cert csr LABEL [--subject DN] [--policy NAME] [--out FILE]\n"
	"       signet cert import LABEL FILE\n"
	"       signet cert list [LABEL]\n"
	"       signet cert show LABEL|FILE [--policy NAME] [--file]\n"
	"       signet cert lint FILE|LABEL [--policy NAME] [--file]\n"
	"\n"
	"  issue    a new certificate for key LABEL, signed on the token: self-signed,\n"
	"           or by the CA key given with --ca (same token).  Extensions come from\n"
	"           the policy (default: the key's, else the store's).  --as-ca makes a\n"
	"           CA certificate (CA:TRUE, keyCertSign) for signing others.\n"
	"  reissue  a new certificate for the SAME public key: subject and extensions\n"
	"           carried over from LABEL's current certificate or from CERTFILE (an\n"
	"           old or expired certificate from anywhere), policy applied, new\n"
	"           serial and validity.  Refuses (exit 1) when custody does not hold\n"
	"           the key, and checks new SPKI == old SPKI == token key before writing.\n"
	"           When the key's policy asks for approvals, it needs them (docs/approvals.md):\n"
	"           'signet approve request --op cert.reissue --key LABEL [--days N]\n"
	"           [--policy NAME]', with the same --days and --policy as here.\n"
	"  csr      a PKCS#10 request signed by the key, for an external CA\n"
	"  import   adopt a certificate issued elsewhere for key LABEL (same SPKI)\n"
	"  list     certificates in the store: serial, expiry, days left, verdict\n"
	"  show     one certificate in detail, with the key in custody that holds it\n"
	"  lint     check a certificate (PEM or DER; FILE '-' reads standard input)\n"
	"           against the policy; every finding has a level, a code and a\n"
	"           sentence; exit 1 on any error finding\n"
	"\n"
	"options:\n"
	"  --policy NAME     policy to apply (signet policy list)\n"
	"  --subject DN      subject such as \"CN=ota-signer,O=Acme\"\n"
	"  --days N          validity in days (default: the policy's validity_days)\n"
	"  --ca LABEL        sign with this key's CA certificate and key\n"
	"  --approval SIG    (reissue) an approver's SSH signature of REQ.json; repeat it\n"
	"  --approvals DIR   (reissue) the request (its one *.json) and approvals (*.sig)\n"
	"  --pin-file F, --pin-fd N   where the token PIN comes from\n"
	"\n"
	"Certificates are kept as certs/<label>/<SERIAL>.pem (never overwritten) and\n"
	"certs/<label>/current.pem (the newest).  See docs/cert.md.\n";

static const char not_in_custody[] =
	"devices that trust this certificate cannot be updated with a new key; see `signet key import` "
	"if you still have the original private key file";

enum {
	OPT_POLICY = 0x200, OPT_SUBJECT, OPT_DAYS, OPT_CA, OPT_AS_CA, OPT_OUT, OPT_FILE, OPT_APPROVAL, OPT_APPROVALS
};

struct opts {
	const char *policy;
	const char *subject;
	const char *ca;
	const char *out;
	long days;
	int as_ca;
	int force_file;		/* --file: show/lint take the operand as a file even if a key has that label */
	struct sgt_pin_opts pin;
	char *args[4];		/* operands, in order */
	int nargs;
	char *sigs[64];		/* reissue --approval SIG... */
	struct sgt_approve_given approvals;
};

static int parse_days(const char *s, long *out)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < 1 || v > 36500)
		return cmd_usage("cert", "--days needs a number of days from 1 to 36500, not '%s'", s);
	*out = v;
	return SGT_OK;
}

/* Parses the options every subcommand shares; leaves operands at optind. */
static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "policy", required_argument, NULL, OPT_POLICY },
		{ "subject", required_argument, NULL, OPT_SUBJECT },
		{ "days", required_argument, NULL, OPT_DAYS },
		{ "ca", required_argument, NULL, OPT_CA },
		{ "as-ca", no_argument, NULL, OPT_AS_CA },
		{ "out", required_argument, NULL, OPT_OUT },
		{ "file", no_argument, NULL, OPT_FILE },
		{ "approval", required_argument, NULL, OPT_APPROVAL },
		{ "approvals", required_argument, NULL, OPT_APPROVALS },
		CMD_PIN_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	int started = 0, c, rc;

	memset(o, 0, sizeof(*o));
	o->pin.fd = -1;
	/*
	 * Options may follow operands ("cert issue fw --days 30").  When getopt
	 * is done (it may have moved operands to the end), the next operand is
	 * collected and parsing starts afresh with it in the program-name
	 * slot, so the result does not depend on getopt's ordering mode.
	 */
	while (1) {
		c = cmd_getopt("cert", argc, argv, "h", longopts, &started);
		if (c == -1) {
			if (optind >= argc)
				break;
			if (o->nargs >= (int)(sizeof(o->args) / sizeof(o->args[0])))
				return cmd_usage("cert", "too many arguments");
			o->args[o->nargs++] = argv[optind];
			argv += optind;
			argc -= optind;
			started = 0;
			continue;
		}
		switch (c) {
		case 'h':
			return 1;
		case OPT_POLICY:
			o->policy = optarg;
			break;
		case OPT_SUBJECT:
			o->subject = optarg;
			break;
		case OPT_DAYS:
			if ((rc = parse_days(optarg, &o->days)) != SGT_OK)
				return rc;
			break;
		case OPT_CA:
			o->ca = optarg;
			break;
		case OPT_AS_CA:
			o->as_ca = 1;
			break;
		case OPT_OUT:
			o->out = optarg;
			break;
		case OPT_FILE:
			o->force_file = 1;
			break;
		case OPT_APPROVAL:
			if (o->approvals.nsigs >= (int)(sizeof(o->sigs) / sizeof(o->sigs[0])))
				return cmd_usage("cert", "more than %zu --approval", sizeof(o->sigs) / sizeof(o->sigs[0]));
			o->sigs[o->approvals.nsigs++] = optarg;
			o->approvals.sigs = o->sigs;
			break;
		case OPT_APPROVALS:
			o->approvals.dir = optarg;
			break;
		default:
			if (cmd_pin_opt("cert", c, optarg, &o->pin, &rc))
				if (rc != SGT_OK)
					return rc;
			if (c < 0x100 || c > 0x101)
				return SGT_ERR_USAGE;
			break;
		}
	}
	return SGT_OK;
}

/*
 * Lint flags saying whether `signet renew` acts on x (see lint.h):
 * SGT_LINT_CURRENT when x is the current certificate of a key in custody,
 * with SGT_LINT_RENEW_POLICY when pol is not the policy renew uses for
 * that key by default.  *rec (optional) receives the key.
 */
static int renew_flags(const struct sgt_store *st, X509 *x, const struct sgt_policy *pol, struct sgt_keyrec *rec)
{
	struct sgt_keyrec r;
	X509 *cur = NULL;
	const char *name;
	char spki[65];
	int flags = 0;

	if (st == NULL || sgt_cert_spki_sha256(x, spki) != SGT_OK || sgt_key_find_spki(st, spki, &r) != SGT_OK)
		return 0;
	if (sgt_cert_store_current(st, r.label, &cur) == SGT_OK && cur != NULL && X509_cmp(cur, x) == 0)
		flags = SGT_LINT_CURRENT;
	X509_free(cur);
	name = r.policy[0] != '\0' ? r.policy : st->cfg.policy;
	if (flags && pol != NULL && (name == NULL || strcmp(name, pol->name) != 0))
		flags |= SGT_LINT_RENEW_POLICY;
	if (flags && !sgt_cert_issuer_held(st, x))
		flags |= SGT_LINT_FOREIGN_ISSUER;
	if (flags && sgt_approve_needed(st, &r))
		flags |= SGT_LINT_NEEDS_APPROVALS;
	if (rec != NULL)
		*rec = r;
	return flags;
}

/*
 * "renew_due" (renew would reissue x now) and "renew_from" (when it falls
 * due), by the rule renew uses (sgt_cert_renewal).
 */
static void renewal_fields(json_t *j, X509 *x, const struct sgt_policy *pol, time_t now, int flags)
{
	struct sgt_renewal ren;
	char when[32];

	if (sgt_cert_renewal_of(x, pol != NULL ? pol->renew_before_days : SGT_RENEW_DEFAULT_DAYS, now, &ren) != SGT_OK)
		return;
	sgt_time_iso(ren.due_at, when);
	json_object_set_new(j, "renew_due", json_boolean((flags & SGT_LINT_CURRENT) && ren.due));
	json_object_set_new(j, "renew_from", json_string(when));
	/* Whether 'signet renew' itself can reissue it (not when an outside CA issued it). */
	json_object_set_new(j, "renew_by_renew", json_boolean((flags & SGT_LINT_CURRENT) &&
							     !(flags & (SGT_LINT_FOREIGN_ISSUER | SGT_LINT_NEEDS_APPROVALS))));
	/* Whether only 'cert reissue' given approvals acts on it (approve.h). */
	json_object_set_new(j, "renew_needs_approvals", json_boolean((flags & SGT_LINT_NEEDS_APPROVALS) != 0));
}

static void print_findings(FILE *f, const char *what, const struct sgt_lint *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		fprintf(f, "%s: %s %s: %s\n", what, sgt_lint_level_name(l->items[i].level), l->items[i].code,
			l->items[i].text);
}

static json_t *findings_json(const struct sgt_lint *l)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a != NULL && i < l->n; i++)
		json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "level", sgt_lint_level_name(l->items[i].level),
						   "code", l->items[i].code, "message", l->items[i].text));
	return a;
}

static void print_written(const char *verb, const char *label, json_t *r, const struct sgt_notes *notes)
{
	size_t i;

	printf("%s certificate for '%s'\n", verb, label);
	printf("  serial:     %s\n", json_string_value(json_object_get(r, "serial")));
	printf("  subject:    %s\n", json_string_value(json_object_get(r, "subject")));
	printf("  issuer:     %s\n", json_string_value(json_object_get(r, "issuer")));
	printf("  valid:      %s to %s\n", json_string_value(json_object_get(r, "not_before")),
	       json_string_value(json_object_get(r, "not_after")));
	printf("  spki:       %s\n", json_string_value(json_object_get(r, "spki_sha256")));
	printf("  path:       %s\n", json_string_value(json_object_get(r, "path")));
	for (i = 0; notes != NULL && i < notes->n; i++)
		printf("  note:       %s\n", notes->text[i]);
}

static int do_issue(struct sgt_ctx *ctx, struct opts *o, const char *label)
{
	struct sgt_store st;
	struct sgt_keyrec rec;
	struct sgt_policy *pol = NULL;
	struct sgt_token *tok = NULL;
	struct sgt_cert_spec spec;
	struct sgt_ca ca = { 0 };
	EVP_PKEY *priv = NULL, *pub = NULL;
	X509 *x = NULL;
	json_t *report = NULL;
	int rc;

	memset(&spec, 0, sizeof(spec));
	if ((rc = sgt_label_check(label)) != SGT_OK)
		return rc;
	if ((rc = cmd_store_open(ctx, &st, SGT_LOCK_EXCLUSIVE)) != SGT_OK)
		return rc;
	if ((rc = sgt_keyrec_load(&st, label, &rec)) != SGT_OK || (rc = sgt_cert_key_ok(&rec)) != SGT_OK ||
	    (rc = sgt_cert_policy_for(&st, o->policy, &rec, &pol)) != SGT_OK || (rc = sgt_token_open(&st, &o->pin, &tok)) != SGT_OK ||
	    (rc = sgt_token_key(tok, &rec, &priv, &pub)) != SGT_OK || (rc = sgt_cert_pubkey_matches(pub, &rec)) != SGT_OK)
		goto out;
	spec.pub = pub;
	spec.signer = priv;
	spec.pol = o->as_ca ? NULL : pol;
	spec.subject = o->subject;
	spec.label = label;
	spec.days = o->days > 0 ? o->days : (o->as_ca ? 3650 : 0);
	spec.now = sgt_now();
	spec.is_ca = o->as_ca;
	if (o->ca != NULL) {
		if (strcmp(o->ca, label) == 0) {
			rc = cmd_usage("cert", "--ca names the key itself; a self-signed certificate needs no --ca");
			goto out;
		}
		if ((rc = sgt_ca_load(&st, tok, o->ca, &ca)) != SGT_OK)
			goto out;
		spec.issuer = ca.cert;
		spec.signer = ca.priv;
	}
	if ((rc = sgt_cert_issue(&spec, &x)) != SGT_OK ||
	    (rc = sgt_cert_check_same_key(x, x, pub, ca.pub != NULL ? ca.pub : pub)) != SGT_OK ||
	    (rc = sgt_cert_lint_gate(x, spec.pol, spec.now, o->as_ca ? SGT_LINT_AS_CA : 0, label)) != SGT_OK)
		goto out;
	if ((report = sgt_cert_json(x, spec.now)) == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	json_object_set_new(report, "label", json_string(label));
	json_object_set_new(report, "policy", spec.pol != NULL ? json_string(spec.pol->name) : json_null());
	json_object_set_new(report, "ca", json_boolean(o->as_ca));
	if ((rc = sgt_cert_commit(&st, label, x, "cert.issue", spec.now, report)) != SGT_OK)
		goto out;
	if (ctx->json) {
		rc = cmd_json_print(report);
		report = NULL;
	} else {
		print_written("issued", label, report, NULL);
	}
out:
	json_decref(report);
	X509_free(x);
	sgt_ca_release(&ca);
	EVP_PKEY_free(priv);
	EVP_PKEY_free(pub);
	sgt_token_free(tok);
	sgt_policy_free(pol);
	sgt_store_release(&st);
	return rc;
}

/*
 * The certificate a file holds, read like every other command reads it
 * (extract): PEM, DER, a C header or source, a firmware image.  The first
 * baked certificate wins; *where says where it was.  SGT_ERR_DATA naming
 * the file when it holds none, with what it does hold.
 */
static int load_any_cert(const char *path, X509 **out, char *where, size_t cap)
{
	struct sgt_found_list l = { 0 };
	const struct sgt_found *use = NULL, *other = NULL;
	size_t i, n = 0;
	int rc;

	*out = NULL;
	where[0] = '\0';
	if ((rc = sgt_extract_file(path, &l)) != SGT_OK)
		return rc;
	for (i = 0; i < l.n; i++) {
		if (l.v[i].kind != SGT_FOUND_CERT)
			continue;
		n++;
		if (use == NULL && l.v[i].baked)
			use = &l.v[i];
		else if (other == NULL)
			other = &l.v[i];
	}
	if (use == NULL && other == NULL) {
		for (i = 0; i < l.n && l.v[i].kind != SGT_FOUND_BROKEN; i++)
			;
		rc = i < l.n ? sgt_err(SGT_ERR_DATA, "'%s' holds no readable certificate: %s", path, l.v[i].reason)
			     : sgt_err(SGT_ERR_DATA, "'%s' is not a certificate (nor a header, source or image holding one)", path);
		goto out;
	}
	if (use == NULL) {
		sgt_found_where(&l, other, 0, where, cap);
		sgt_warn("'%s' bakes no certificate in; reading the one at %s, which is %s", path, where, other->reason);
		use = other;
	} else if (n > 1) {
		sgt_warn("'%s' holds %zu certificates; reading the first one compiled in", path, n);
	}
	/* A plain certificate file needs no location; one inside a header or image does. */
	if (!((use->enc == SGT_ENC_PEM || use->enc == SGT_ENC_DER) && use->offset == 0 && !use->has_addr))
		sgt_found_where(&l, use, 0, where, cap);
	*out = X509_dup(use->cert);
	rc = *out ? SGT_OK : sgt_err(SGT_ERR_DATA, "out of memory");
out:
	sgt_found_list_release(&l);
	return rc;
}

static int file_exists(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static int do_reissue(struct sgt_ctx *ctx, struct opts *o, const char *what)
{
	struct sgt_store st;
	struct sgt_keyrec rec;
	struct sgt_token *tok = NULL;
	X509 *old = NULL;
	json_t *report = json_object();
	char spki[65], where[96];
	int rc, isfile;

	if (report == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	if ((rc = cmd_store_open(ctx, &st, SGT_LOCK_EXCLUSIVE)) != SGT_OK) {
		json_decref(report);
		return rc;
	}
	/* A label that is also a file is refused naming both (./x or --file for the file). */
	if ((isfile = cmd_label_or_file(&st, what, o->force_file)) < 0) {
		rc = isfile;
		goto out;
	}
	if (!isfile && sgt_label_ok(what) && sgt_keyrec_exists(&st, what)) {
		if ((rc = sgt_keyrec_load(&st, what, &rec)) != SGT_OK || (rc = sgt_cert_key_ok(&rec)) != SGT_OK ||
		    (rc = sgt_cert_store_current(&st, what, &old)) != SGT_OK)
			goto out;
		if (old == NULL) {
			rc = sgt_err(SGT_ERR_DATA, "key '%s' has no certificate to reissue", what);
			sgt_hint("issue its first one with 'signet cert issue %s', or give the old certificate file", what);
			goto out;
		}
	} else {
		if (!file_exists(what)) {
			rc = sgt_err(SGT_ERR_DATA, "'%s' is neither a key in custody nor a certificate file", what);
			sgt_hint("'signet key list' shows the keys in custody");
			goto out;
		}
		/* The old certificate may come from wherever devices keep it: PEM, DER, a header, an image. */
		if ((rc = load_any_cert(what, &old, where, sizeof(where))) != SGT_OK)
			goto out;
	}
	if ((rc = sgt_cert_spki_sha256(old, spki)) != SGT_OK)
		goto out;
	/* The whole point: a new certificate is only useful for the SAME key. */
	if ((rc = sgt_key_find_spki(&st, spki, &rec)) == SGT_ERR_VERDICT) {
		rc = sgt_err(SGT_ERR_VERDICT, "cannot reissue '%s': no key in custody holds its private key (SPKI %.16s...); %s",
			     what, spki, not_in_custody);
		sgt_record_refused(&st, "cert.reissue", NULL, spki, sgt_last_error());
		goto out;
	}
	if (rc != SGT_OK)
		goto out;
	/* The two-person rule, when the key's policy asks for approvals: before the token is touched. */
	{
		char subject[512];
		json_t *params, *approval = NULL;

		sgt_cert_name(X509_get_subject_name(old), subject, sizeof(subject));
		if ((params = sgt_approve_params_reissue(subject, o->days, o->policy)) == NULL) {
			rc = sgt_err(SGT_ERR_DATA, "out of memory");
			goto out;
		}
		rc = sgt_approve_op_gate(&st, "cert.reissue", rec.label, rec.spki_sha256, sgt_approve_policy_name(&st, &rec),
					 params, &o->approvals, &approval);
		json_decref(params);
		if (rc == SGT_ERR_VERDICT)
			sgt_record_refused(&st, "cert.reissue", rec.label, rec.spki_sha256, sgt_last_error());
		if (rc != SGT_OK)
			goto out;
		if (approval != NULL)
			json_object_set_new(report, "approval", approval);	/* into the audit record (sgt_cert_commit) */
	}
	if ((rc = sgt_token_open(&st, &o->pin, &tok)) != SGT_OK)
		goto out;
	if ((rc = sgt_reissue(&st, tok, &rec, old, o->policy, o->days, "cert.reissue", report)) != SGT_OK)
		goto out;
	if (ctx->json) {
		rc = cmd_json_print(report);
		report = NULL;
	} else {
		json_t *n = json_object_get(report, "notes");
		size_t i;

		print_written("reissued", rec.label, report, NULL);
		printf("  previous:   %s (same public key)\n",
		       json_string_value(json_object_get(report, "previous_serial")));
		for (i = 0; i < json_array_size(n); i++)
			printf("  note:       %s\n", json_string_value(json_array_get(n, i)));
	}
out:
	json_decref(report);
	X509_free(old);
	sgt_token_free(tok);
	sgt_store_release(&st);
	return rc;
}

/*
 * The key signs a request: a use of the key in custody, recorded like a
 * signature ("cert.csr"), and an --out FILE staged by the transaction, so
 * a kill leaves the request with its record or nothing (the next command's
 * recovery removes a staged copy).
 */
static int do_csr(struct sgt_ctx *ctx, struct opts *o, const char *label)
{
	struct sgt_store st;
	struct sgt_keyrec rec;
	struct sgt_policy *pol = NULL;
	struct sgt_token *tok = NULL;
	struct sgt_tx *tx = NULL;
	EVP_PKEY *priv = NULL, *pub = NULL;
	X509_REQ *req = NULL;
	BIO *bio = NULL;
	json_t *d = NULL;
	const char *outs[1] = { NULL };
	char *pem, sha[65];
	long len;
	int rc, to_file = o->out != NULL && strcmp(o->out, "-") != 0;

	if ((rc = sgt_label_check(label)) != SGT_OK)
		return rc;
	if ((rc = cmd_store_open(ctx, &st, SGT_LOCK_EXCLUSIVE)) != SGT_OK)
		return rc;
	if (to_file && (rc = sgt_out_check(o->out)) != SGT_OK)
		goto out;
	if ((rc = sgt_keyrec_load(&st, label, &rec)) != SGT_OK || (rc = sgt_cert_key_ok(&rec)) != SGT_OK ||
	    (rc = sgt_cert_policy_for(&st, o->policy, &rec, &pol)) != SGT_OK || (rc = sgt_token_open(&st, &o->pin, &tok)) != SGT_OK ||
	    (rc = sgt_token_key(tok, &rec, &priv, &pub)) != SGT_OK || (rc = sgt_cert_pubkey_matches(pub, &rec)) != SGT_OK ||
	    (rc = sgt_cert_csr(pub, priv, o->subject, label, pol, &req)) != SGT_OK)
		goto out;
	if ((bio = BIO_new(BIO_s_mem())) == NULL || PEM_write_bio_X509_REQ(bio, req) != 1) {
		rc = sgt_err(SGT_ERR_DATA, "cannot encode the request: %s", sgt_ossl_why());
		goto out;
	}
	len = BIO_get_mem_data(bio, &pem);
	sgt_sha256_hex(pem, (size_t)len, sha);
	if ((d = json_pack("{s:s, s:s}", "output", to_file ? o->out : "-", "csr_sha256", sha)) == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	outs[0] = to_file ? o->out : NULL;
	sgt_err_hold();
	if ((rc = sgt_tx_begin(&st, "cert.csr", label, NULL, outs, 1, &tx)) == SGT_OK &&
	    (!to_file || (rc = sgt_tx_stage(tx, o->out, pem, (size_t)len, SGT_TX_OUT)) == SGT_OK) &&
	    (rc = sgt_tx_record(tx, "cert.csr", label, rec.spki_sha256, d)) == SGT_OK)
		rc = sgt_tx_commit(tx);
	if ((rc = cmd_failed_because(rc, sgt_tx_committed(tx) ? "request recorded, but not put in place (the next "
				     "command completes it)" : "request not written (no audit record)")) != SGT_OK)
		goto out;
	if (ctx->json)
		rc = cmd_json_print(json_pack("{s:s, s:s?, s:s, s:s%}", "label", label, "out", to_file ? o->out : NULL,
					      "spki_sha256", rec.spki_sha256, "csr", pem, (size_t)len));
	else if (!to_file)
		fwrite(pem, 1, (size_t)len, stdout);
	else
		printf("wrote request for '%s' to %s\n", label, o->out);
out:
	sgt_tx_free(tx);
	json_decref(d);
	BIO_free(bio);
	X509_REQ_free(req);
	EVP_PKEY_free(priv);
	EVP_PKEY_free(pub);
	sgt_token_free(tok);
	sgt_policy_free(pol);
	sgt_store_release(&st);
	return rc;
}

static int do_import(struct sgt_ctx *ctx, struct opts *o, const char *label, const char *file)
{
	struct sgt_store st;
	struct sgt_keyrec rec, other;
	struct sgt_policy *pol = NULL;
	struct sgt_lint l = { 0 };
	X509 *x = NULL;
	json_t *report = NULL;
	char spki[65];
	const char *dflt;
	time_t now = sgt_now();
	int rc, lflags;

	if ((rc = sgt_label_check(label)) != SGT_OK)
		return rc;
	if ((rc = cmd_store_open(ctx, &st, SGT_LOCK_EXCLUSIVE)) != SGT_OK)
		return rc;
	if ((rc = sgt_keyrec_load(&st, label, &rec)) != SGT_OK || (rc = sgt_cert_load(file, &x)) != SGT_OK ||
	    (rc = sgt_cert_spki_sha256(x, spki)) != SGT_OK)
		goto out;
	if (strcmp(spki, rec.spki_sha256) != 0) {
		if (sgt_key_find_spki(&st, spki, &other) == SGT_OK)
			rc = sgt_err(SGT_ERR_VERDICT, "'%s' is a certificate for key '%s', not '%s'", file, other.label, label);
		else
			rc = sgt_err(SGT_ERR_VERDICT, "'%s' is for another public key (SPKI %.16s...) than key '%s' "
				     "(%.16s...); not importing it", file, spki, label, rec.spki_sha256);
		goto out;
	}
	/* Linted as what it becomes: the current certificate of the key, which renew acts on. */
	if ((rc = sgt_cert_policy_for(&st, o->policy, &rec, &pol)) != SGT_OK)
		goto out;
	dflt = rec.policy[0] != '\0' ? rec.policy : st.cfg.policy;
	lflags = (sgt_cert_is_ca(x) ? SGT_LINT_AS_CA : 0) | SGT_LINT_CURRENT;
	if (sgt_approve_needed(&st, &rec))
		lflags |= SGT_LINT_NEEDS_APPROVALS;
	if (pol != NULL && (dflt == NULL || strcmp(dflt, pol->name) != 0))
		lflags |= SGT_LINT_RENEW_POLICY;
	if (!sgt_cert_issuer_held(&st, x))
		lflags |= SGT_LINT_FOREIGN_ISSUER;
	if ((rc = sgt_lint_cert(x, pol, now, lflags, &l)) != SGT_OK)
		goto out;
	if ((report = sgt_cert_json(x, now)) == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	json_object_set_new(report, "label", json_string(label));
	json_object_set_new(report, "policy", pol != NULL ? json_string(pol->name) : json_null());
	json_object_set_new(report, "findings", findings_json(&l));
	if ((rc = sgt_cert_commit(&st, label, x, "cert.import", now, report)) != SGT_OK)
		goto out;
	/* Adopted as issued: the CA made it, so findings are reported, not refused. */
	if (l.errors > 0 && !ctx->json)
		sgt_warn("the imported certificate fails lint under policy %s; see below", pol ? pol->name : "default");
	if (ctx->json) {
		rc = cmd_json_print(report);
		report = NULL;
	} else {
		print_written("imported", label, report, NULL);
		print_findings(stdout, "  lint", &l);
	}
out:
	json_decref(report);
	sgt_lint_release(&l);
	X509_free(x);
	sgt_policy_free(pol);
	sgt_store_release(&st);
	return rc;
}

/* Lint verdict of x for listing: "ok", "warnings", or the error codes. */
static json_t *verdict_json(X509 *x, const struct sgt_policy *pol, time_t now, int flags, const char **verdict)
{
	struct sgt_lint l = { 0 };
	json_t *codes = json_array();
	size_t i;

	sgt_lint_cert(x, pol, now, (sgt_cert_is_ca(x) ? SGT_LINT_AS_CA : 0) | flags, &l);
	for (i = 0; codes != NULL && i < l.n; i++)
		if (l.items[i].level == SGT_LINT_ERROR)
			json_array_append_new(codes, json_string(l.items[i].code));
	*verdict = l.errors > 0 ? "fails" : l.warnings > 0 ? "warnings" : "ok";
	sgt_lint_release(&l);
	return codes;
}

static int list_label(const struct sgt_store *st, const struct sgt_keyrec *rec, time_t now, json_t *arr)
{
	struct sgt_policy *pol = NULL;
	char **paths = NULL;
	size_t n = 0, i;
	X509 *cur = NULL;
	int rc;

	if ((rc = sgt_cert_policy_for(st, NULL, rec, &pol)) != SGT_OK ||
	    (rc = sgt_cert_store_list(st, rec->label, &paths, &n)) != SGT_OK ||
	    (rc = sgt_cert_store_current(st, rec->label, &cur)) != SGT_OK)
		goto out;
	for (i = 0; i < n; i++) {
		X509 *x = NULL;
		json_t *j;
		const char *verdict;

		if ((rc = sgt_cert_load(paths[i], &x)) != SGT_OK)
			goto out;
		if ((j = sgt_cert_json(x, now)) != NULL) {
			/* The current one is what renew acts on, with this (the key's) policy. */
			int flags = cur != NULL && X509_cmp(cur, x) == 0 ? SGT_LINT_CURRENT : 0;

			if (flags && !sgt_cert_issuer_held(st, x))
				flags |= SGT_LINT_FOREIGN_ISSUER;
			if (flags && pol != NULL && pol->approvals_required > 0)
				flags |= SGT_LINT_NEEDS_APPROVALS;

			json_object_set_new(j, "label", json_string(rec->label));
			json_object_set_new(j, "policy", pol != NULL ? json_string(pol->name) : json_null());
			json_object_set_new(j, "errors", verdict_json(x, pol, now, flags, &verdict));
			json_object_set_new(j, "verdict", json_string(verdict));
			json_object_set_new(j, "current", json_boolean(flags != 0));
			renewal_fields(j, x, pol, now, flags);
			json_object_set_new(j, "path", json_string(paths[i]));
			json_array_append_new(arr, j);
		}
		X509_free(x);
	}
out:
	X509_free(cur);
	sgt_cert_paths_free(paths, n);
	sgt_policy_free(pol);
	return rc;
}

/* By label, then oldest first, the current certificate last among equals. */
static int cmp_cert(const void *a, const void *b)
{
	json_t *const *x = a, *const *y = b;
	int c = strcmp(json_string_value(json_object_get(*x, "label")), json_string_value(json_object_get(*y, "label")));

	if (c == 0)
		c = strcmp(json_string_value(json_object_get(*x, "not_before")),
			   json_string_value(json_object_get(*y, "not_before")));
	if (c == 0)
		c = json_is_true(json_object_get(*x, "current")) - json_is_true(json_object_get(*y, "current"));
	return c;
}

static int do_list(struct sgt_ctx *ctx, const char *label)
{
	struct sgt_store st;
	struct sgt_keyrec *recs = NULL, one;
	size_t n = 0, i;
	json_t *arr = json_array(), **sorted = NULL;
	time_t now = sgt_now();
	int rc;

	if ((rc = cmd_store_open(ctx, &st, SGT_LOCK_SHARED)) != SGT_OK) {
		json_decref(arr);
		return rc;
	}
	if (label != NULL) {
		if ((rc = sgt_label_check(label)) != SGT_OK || (rc = sgt_keyrec_load(&st, label, &one)) != SGT_OK)
			goto out;
		rc = list_label(&st, &one, now, arr);
	} else if ((rc = sgt_keyrec_list(&st, &recs, &n)) == SGT_OK) {
		for (i = 0; i < n && rc == SGT_OK; i++)
			rc = list_label(&st, &recs[i], now, arr);
	}
	if (rc != SGT_OK)
		goto out;
	/* Oldest first within a key, so the current one ends each group. */
	n = json_array_size(arr);
	if (n > 0 && (sorted = malloc(n * sizeof(*sorted))) != NULL) {
		for (i = 0; i < n; i++)
			sorted[i] = json_incref(json_array_get(arr, i));
		qsort(sorted, n, sizeof(*sorted), cmp_cert);
		json_array_clear(arr);
		for (i = 0; i < n; i++)
			json_array_append_new(arr, sorted[i]);
		free(sorted);
	}
	if (ctx->json) {
		rc = cmd_json_print(json_pack("{s:o}", "certificates", arr));
		arr = NULL;
		goto out;
	}
	if (n == 0) {
		printf("no certificates%s%s\n", label ? " for " : "", label ? label : "");
		goto out;
	}
	printf("%-16s %-32s %-10s %9s  %-8s %s\n", "LABEL", "SERIAL", "EXPIRES", "DAYS LEFT", "VERDICT", "SUBJECT");
	for (i = 0; i < n; i++) {
		json_t *j = json_array_get(arr, i);

		printf("%-16s %-32s %-10.10s %9lld  %-8s %s%s\n", json_string_value(json_object_get(j, "label")),
		       json_string_value(json_object_get(j, "serial")),
		       json_string_value(json_object_get(j, "not_after")),
		       (long long)json_integer_value(json_object_get(j, "days_left")),
		       json_string_value(json_object_get(j, "verdict")),
		       json_string_value(json_object_get(j, "subject")),
		       json_is_true(json_object_get(j, "renew_due")) ?
		       (json_is_true(json_object_get(j, "renew_by_renew")) ? "  (current, due for renewal: signet renew)" :
			json_is_true(json_object_get(j, "renew_needs_approvals")) ?
			"  (current, due for renewal: cert reissue with approvals, see cert show)" :
			"  (current, due for renewal: its CA signs a new one, see cert show)") :
		       json_is_true(json_object_get(j, "current")) ? "  (current)" : "");
	}
out:
	json_decref(arr);
	free(recs);
	sgt_store_release(&st);
	return rc;
}

/* The "renewal:" line of cert show: what renew does with x, and when. */
static void print_renewal(X509 *x, const struct sgt_policy *pol, time_t now, int flags)
{
	struct sgt_renewal ren;
	char why[160], when[32];

	if (sgt_cert_renewal_of(x, pol != NULL ? pol->renew_before_days : SGT_RENEW_DEFAULT_DAYS, now, &ren) != SGT_OK)
		return;
	sgt_renewal_why(&ren, pol != NULL ? pol->name : NULL, why, sizeof(why));
	sgt_time_iso(ren.due_at, when);
	if (!(flags & SGT_LINT_CURRENT))
		printf("  renewal:    not by 'signet renew', which acts only on the current certificate of a key in "
		       "custody; 'signet cert reissue' makes a new one\n");
	else if (flags & SGT_LINT_FOREIGN_ISSUER)
		printf("  renewal:    %s %.10s (%s); its issuer's key is not in custody, so 'signet renew' cannot "
		       "reissue it: 'signet cert csr', have that CA sign it, then 'signet cert import'\n",
		       ren.due ? "due since" : "due on", when, why);
	else if (flags & SGT_LINT_NEEDS_APPROVALS)
		printf("  renewal:    %s %.10s (%s); the key's policy asks for approvals, so 'signet renew' does not "
		       "reissue it: have 'signet approve request --op cert.reissue' approved, then 'signet cert reissue "
		       "--approvals DIR'\n", ren.due ? "due since" : "due on", when, why);
	else if (ren.due)
		printf("  renewal:    due since %.10s (%s): 'signet renew%s%s' reissues it\n", when, why,
		       (flags & SGT_LINT_RENEW_POLICY) ? " --policy " : "",
		       (flags & SGT_LINT_RENEW_POLICY) ? pol->name : "");
	else
		printf("  renewal:    due on %.10s (%s); 'signet renew' leaves it alone until then\n", when, why);
}

static int do_show(struct sgt_ctx *ctx, struct opts *o, const char *what)
{
	struct sgt_store st;
	struct sgt_keyrec rec;
	struct sgt_policy *pol = NULL;
	struct sgt_lint l = { 0 };
	X509 *x = NULL;
	json_t *j = NULL;
	char spki[65], alg[64], where[96] = "";
	int have, held = 0, rc, isfile, flags;
	time_t now = sgt_now();

	memset(&rec, 0, sizeof(rec));
	if ((rc = cmd_store_open_optional(ctx, &st, SGT_LOCK_SHARED, &have)) != SGT_OK)
		return rc;
	if ((isfile = cmd_label_or_file(have ? &st : NULL, what, o->force_file)) < 0) {
		rc = isfile;
		goto out;
	}
	if (!isfile) {
		if (!have || !sgt_label_ok(what) || !sgt_keyrec_exists(&st, what)) {
			rc = sgt_err(SGT_ERR_DATA, "unknown label '%s': no key of that name in custody and no such file", what);
			sgt_hint("'signet key list' shows the keys");
			goto out;
		}
		if ((rc = sgt_cert_store_current(&st, what, &x)) != SGT_OK)
			goto out;
		if (x == NULL) {
			rc = sgt_err(SGT_ERR_DATA, "key '%s' has no certificate yet", what);
			sgt_hint("issue one with 'signet cert issue %s'", what);
			goto out;
		}
	} else if ((rc = load_any_cert(what, &x, where, sizeof(where))) != SGT_OK) {
		goto out;
	}
	if ((rc = sgt_cert_spki_sha256(x, spki)) != SGT_OK)
		goto out;
	held = have && sgt_key_find_spki(&st, spki, &rec) == SGT_OK;
	if ((rc = sgt_cert_policy_for(have ? &st : NULL, o->policy, held ? &rec : NULL, &pol)) != SGT_OK)
		goto out;
	flags = held ? renew_flags(&st, x, pol, NULL) : 0;
	if ((rc = sgt_lint_cert(x, pol, now, (sgt_cert_is_ca(x) ? SGT_LINT_AS_CA : 0) | flags, &l)) != SGT_OK)
		goto out;
	sgt_pkey_alg(X509_get0_pubkey(x), alg, sizeof(alg));
	if ((j = sgt_cert_json(x, now)) == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	json_object_set_new(j, "key_algorithm", json_string(alg));
	json_object_set_new(j, "key_label", held ? json_string(rec.label) : json_null());
	json_object_set_new(j, "self_signed", json_boolean(sgt_cert_self_signed(x)));
	json_object_set_new(j, "ca", json_boolean(sgt_cert_is_ca(x)));
	json_object_set_new(j, "policy", pol != NULL ? json_string(pol->name) : json_null());
	json_object_set_new(j, "verdict", json_string(l.errors ? "fails" : l.warnings ? "warnings" : "ok"));
	json_object_set_new(j, "current", json_boolean((flags & SGT_LINT_CURRENT) != 0));
	renewal_fields(j, x, pol, now, flags);
	json_object_set_new(j, "findings", findings_json(&l));
	if (ctx->json) {
		rc = cmd_json_print(j);
		j = NULL;
		goto out;
	}
	printf("certificate %s%s%s\n", what, where[0] ? ", " : "", where);
	printf("  subject:    %s\n", json_string_value(json_object_get(j, "subject")));
	printf("  issuer:     %s%s\n", json_string_value(json_object_get(j, "issuer")),
	       sgt_cert_self_signed(x) ? " (self-signed)" : "");
	printf("  serial:     %s\n", json_string_value(json_object_get(j, "serial")));
	printf("  valid:      %s to %s (%lld days left)\n", json_string_value(json_object_get(j, "not_before")),
	       json_string_value(json_object_get(j, "not_after")),
	       (long long)json_integer_value(json_object_get(j, "days_left")));
	printf("  key:        %s, SPKI SHA-256 %s\n", alg, spki);
	if (held)
		printf("  custody:    key '%s' holds its private key\n", rec.label);
	else
		printf("  custody:    no key in custody holds its private key; %s\n", not_in_custody);
	printf("  policy:     %s: %s\n", pol != NULL ? pol->name : "(none)",
	       l.errors ? "fails lint" : l.warnings ? "passes, with warnings" : "passes lint");
	print_renewal(x, pol, now, flags);
	print_findings(stdout, "  lint", &l);
out:
	json_decref(j);
	sgt_lint_release(&l);
	X509_free(x);
	sgt_policy_free(pol);
	if (have)
		sgt_store_release(&st);
	return rc;
}

static int do_lint(struct sgt_ctx *ctx, struct opts *o, const char *file)
{
	struct sgt_store st;
	struct sgt_policy *pol = NULL;
	struct sgt_lint l = { 0 };
	struct sgt_keyrec rec;
	X509 *x = NULL;
	char where[96] = "", spki[65];
	int have, held, rc, isfile;

	if ((rc = cmd_store_open_optional(ctx, &st, SGT_LOCK_SHARED, &have)) != SGT_OK)
		return rc;
	/* '-' is standard input (PEM or DER, or anything extract reads), never a label */
	if ((isfile = strcmp(file, "-") == 0 ? 1 : cmd_label_or_file(have ? &st : NULL, file, o->force_file)) < 0) {
		rc = isfile;
		goto out;
	}
	if (!isfile && have && sgt_label_ok(file) && sgt_keyrec_exists(&st, file)) {
		/* A key label: its current certificate. */
		if ((rc = sgt_cert_store_current(&st, file, &x)) != SGT_OK)
			goto out;
		if (x == NULL) {
			rc = sgt_err(SGT_ERR_DATA, "key '%s' has no certificate yet", file);
			goto out;
		}
	} else if (!isfile) {
		rc = sgt_err(SGT_ERR_DATA, "cannot read '%s': no such file (nor a key label in custody)", file);
		goto out;
	} else {
		/* Certificates are read where firmware keeps them: PEM, DER, C headers, sources, images. */
		struct stat sb;
		int drc;

		if (strcmp(file, "-") != 0 && stat(file, &sb) != 0) {
			rc = sgt_err(SGT_ERR_DATA, "cannot read '%s': %s", file, strerror(errno));
			goto out;
		}
		drc = load_any_cert(file, &x, where, sizeof(where));

		if (drc != SGT_OK && drc != SGT_ERR_DATA) {
			rc = drc;
			goto out;
		}
	}
	/* A certificate of a key in custody is judged by the key's policy, as renew judges it. */
	held = have && x != NULL && sgt_cert_spki_sha256(x, spki) == SGT_OK &&
	       sgt_key_find_spki(&st, spki, &rec) == SGT_OK;
	if (o->policy != NULL)
		rc = sgt_policy_find(have ? st.dir : NULL, o->policy, &pol);
	else
		rc = sgt_cert_policy_for(have ? &st : NULL, NULL, held ? &rec : NULL, &pol);
	if (rc != SGT_OK)
		goto out;
	if (x != NULL)
		rc = sgt_lint_cert(x, pol, sgt_now(), held ? renew_flags(&st, x, pol, NULL) : 0, &l);
	else
		rc = sgt_lint_buf((const unsigned char *)"", 0, pol, sgt_now(), 0, &l);	/* "malformed" */
	if (rc != SGT_OK)
		goto out;
	if (ctx->json) {
		json_t *j = json_pack("{s:s, s:s?, s:b, s:i, s:i, s:o}", "file", file, "policy",
				      pol ? pol->name : NULL, "ok", l.errors == 0, "errors", (int)l.errors,
				      "warnings", (int)l.warnings, "findings", findings_json(&l));

		if (j && where[0])
			json_object_set_new(j, "location", json_string(where));
		rc = cmd_json_print(j);
	} else {
		if (where[0])
			printf("%s: certificate at %s\n", file, where);
		print_findings(stdout, file, &l);
		printf("%s: %zu error%s, %zu warning%s (policy %s)\n", file, l.errors, l.errors == 1 ? "" : "s",
		       l.warnings, l.warnings == 1 ? "" : "s", pol ? pol->name : "none: built-in code-signing rules");
	}
	if (rc == SGT_OK && l.errors > 0)
		rc = SGT_ERR_VERDICT;
out:
	X509_free(x);
	sgt_lint_release(&l);
	sgt_policy_free(pol);
	if (have)
		sgt_store_release(&st);
	return rc;
}

/* An option the subcommand would silently ignore is a usage error instead. */
static int check_opts(const char *sub, const struct opts *o)
{
	static const struct {
		const char *sub;
		const char *allowed;	/* letters: p policy, s subject, d days, c ca, a as-ca, o out, k pin, A approvals */
	} table[] = {
		{ "issue", "psdcak" }, { "reissue", "pdkfA" }, { "csr", "psok" }, { "import", "p" },
		{ "list", "" }, { "show", "pf" }, { "lint", "pf" }, { NULL, NULL }
	};
	const struct {
		char letter;
		int set;
		const char *name;
	} given[] = {
		{ 'p', o->policy != NULL, "--policy" }, { 's', o->subject != NULL, "--subject" },
		{ 'd', o->days != 0, "--days" }, { 'c', o->ca != NULL, "--ca" }, { 'a', o->as_ca, "--as-ca" },
		{ 'o', o->out != NULL, "--out" }, { 'k', o->pin.file != NULL || o->pin.fd >= 0, "--pin-file/--pin-fd" },
		{ 'f', o->force_file, "--file" },
		{ 'A', o->approvals.nsigs > 0 || o->approvals.dir != NULL, "--approval/--approvals" },
	};
	size_t i, j;

	for (i = 0; table[i].sub != NULL; i++) {
		if (strcmp(table[i].sub, sub) != 0)
			continue;
		for (j = 0; j < sizeof(given) / sizeof(given[0]); j++)
			if (given[j].set && strchr(table[i].allowed, given[j].letter) == NULL)
				return cmd_usage("cert", "%s does not take %s", sub, given[j].name);
	}
	return SGT_OK;
}

int cmd_cert(struct sgt_ctx *ctx, int argc, char **argv)
{
	struct opts o;
	const char *sub;
	int rc, nargs;

	if (argc < 2 || argv[1][0] == '-') {
		if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))
			return cmd_help(help_text);
		return cmd_usage("cert", "missing subcommand (issue, reissue, csr, import, list, show, lint)");
	}
	sub = argv[1];
	if ((rc = parse_opts(argc - 1, argv + 1, &o)) != SGT_OK)
		return rc == 1 ? cmd_help(help_text) : rc;
	if ((rc = check_opts(sub, &o)) != SGT_OK)
		return rc;
	nargs = o.nargs;
	argv = o.args;
	if (strcmp(sub, "issue") == 0 || strcmp(sub, "reissue") == 0 || strcmp(sub, "csr") == 0 ||
	    strcmp(sub, "show") == 0 || strcmp(sub, "lint") == 0) {
		if (nargs != 1)
			return cmd_usage("cert", "%s needs exactly one %s", sub,
					 strcmp(sub, "reissue") == 0 || strcmp(sub, "show") == 0 ? "LABEL or FILE" :
					 strcmp(sub, "lint") == 0 ? "FILE" : "LABEL");
		if (strcmp(sub, "issue") == 0)
			return do_issue(ctx, &o, argv[0]);
		if (strcmp(sub, "reissue") == 0)
			return do_reissue(ctx, &o, argv[0]);
		if (strcmp(sub, "csr") == 0)
			return do_csr(ctx, &o, argv[0]);
		if (strcmp(sub, "show") == 0)
			return do_show(ctx, &o, argv[0]);
		return do_lint(ctx, &o, argv[0]);
	}
	if (strcmp(sub, "import") == 0) {
		if (nargs != 2)
			return cmd_usage("cert", "import needs LABEL and FILE");
		return do_import(ctx, &o, argv[0], argv[1]);
	}
	if (strcmp(sub, "list") == 0) {
		if (nargs > 1)
			return cmd_usage("cert", "list takes at most one LABEL");
		return do_list(ctx, nargs == 1 ? argv[0] : NULL);
	}
	return cmd_usage("cert", "unknown subcommand '%s' (issue, reissue, csr, import, list, show, lint)", sub);
}
