/*
 * cmd_key.c: `signet key generate|import|adopt|list|show|pubkey|match`.  Parses
 * arguments, calls the key module and prints.  There is deliberately no
 * subcommand that exports a private key, and none may be added.
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "approve.h"
#include "audit.h"
#include "cert.h"
#include "cmd.h"
#include "extract.h"
#include "p11.h"
#include "key.h"
#include "policy.h"
#include "tx.h"

static const char help[] =
	"usage: signet key generate LABEL [--alg ALG] [--policy NAME] [--pin-file F | --pin-fd N]\n"
	"       signet key import LABEL --private-key FILE [--policy NAME] [--pin-file F | --pin-fd N]\n"
	"       signet key adopt LABEL (--id HEX | --uri PKCS11_URI) [--policy NAME] [--accept-extractable]\n"
	"                        [--approval SIG... | --approvals DIR] [--pin-file F | --pin-fd N]\n"
	"       signet key list\n"
	"       signet key show LABEL|PKCS11_URI\n"
	"       signet key pubkey LABEL|PKCS11_URI [--out FILE]\n"
	"       signet key match FILE...\n\n"
	"generate  makes a key pair ON the token: sensitive, never extractable, local.\n"
	"          The custody attributes are read back; a token that does not honour\n"
	"          them is refused and the pair destroyed.  ALG: ecdsa-p256 (default),\n"
	"          ecdsa-p384, rsa-2048, rsa-3072, rsa-4096, ed25519 (MCUboot images\n"
	"          only: sign --format mcuboot).\n"
	"import    brings a legacy private key file into custody as a non-extractable\n"
	"          object (origin: imported).  Destroy the file afterwards.\n"
	"adopt     takes a key pair already on the token (made by a vendor tool or\n"
	"          pkcs11-tool) into custody (origin: adopted): custody attributes read\n"
	"          back and judged against the policy; an extractable or non-sensitive\n"
	"          key is refused unless --accept-extractable, which the audit log and\n"
	"          'key show' then say loudly.  Nothing on the token is changed.\n"
	"          Under a policy that asks for approvals, it needs them: 'signet\n"
	"          approve request --op key.adopt --key LABEL --id HEX' (docs/approvals.md)\n"
	"list      the keys in custody.\n"
	"show      one key: algorithm, SPKI SHA-256, origin, custody, certificates.\n"
	"pubkey    the public key as PEM (read from the token, checked against the record).\n"
	"match     which key in custody holds the private key of each certificate,\n"
	"          public key, header, source or firmware image given (exit 1: none).\n\n"
	"A PKCS#11 URI (RFC 7512) may name a key: 'pkcs11:object=fw;type=private',\n"
	"'pkcs11:id=%01%a2'.  list and show print each key's URI as the token reports\n"
	"it (no PIN needed), for p11tool or OpenSSL's pkcs11 engine.  A URI's query\n"
	"(?pin-value, ?pin-source, ?module-path, ?module-name) is refused: the PIN\n"
	"comes from --pin-file, --pin-fd or pin_source, the module from signet.yaml.\n"
	"There is no command to export a private key.\n";

static int key_print(struct sgt_ctx *ctx, const struct sgt_store *st, const struct sgt_keyrec *rec, int detail,
		     const char *uri);

static int parse_keyopts(const char *cmd, int argc, char **argv, struct sgt_pin_opts *pins,
			 const char **alg, const char **policy, const char **keyfile, const char **out)
{
	static const struct option longopts[] = {
		{ "alg", required_argument, NULL, 'a' },
		{ "policy", required_argument, NULL, 'p' },
		{ "private-key", required_argument, NULL, 'k' },
		{ "out", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		CMD_PIN_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct sgt_pin_opts unused = SGT_PIN_OPTS_INIT;
	int started = 0, c, rc;

	/* Commands that never log in still accept the PIN options scripts pass everywhere. */
	if (pins == NULL)
		pins = &unused;
	while ((c = cmd_getopt(cmd, argc, argv, "ho:", longopts, &started)) != -1) {
		if (c == -2)
			return SGT_ERR_USAGE;
		if (cmd_pin_opt(cmd, c, optarg, pins, &rc)) {
			if (rc != SGT_OK)
				return rc;
			continue;
		}
		switch (c) {
		case 'a': if (alg) { *alg = optarg; break; } return cmd_usage(cmd, "--alg does not apply here");
		case 'p': if (policy) { *policy = optarg; break; } return cmd_usage(cmd, "--policy does not apply here");
		case 'k': if (keyfile) { *keyfile = optarg; break; } return cmd_usage(cmd, "--private-key does not apply here");
		case 'o': if (out) { *out = optarg; break; } return cmd_usage(cmd, "--out does not apply here");
		case 'h': cmd_help(help); return 1;
		}
	}
	if (pins == &unused)
		cmd_pin_unused();
	return SGT_OK;
}

/* Exactly one LABEL operand after the options. */
static int one_label(const char *cmd, int argc, char **argv, const char **label)
{
	if (optind >= argc)
		return cmd_usage(cmd, "missing LABEL");
	if (optind + 1 < argc)
		return cmd_usage(cmd, "unexpected argument '%s'", argv[optind + 1]);
	*label = argv[optind];
	return sgt_label_check(*label);
}

/* One key name operand: a label or a PKCS#11 URI (checked when resolved). */
static int key_name(const char *cmd, int argc, char **argv, const char **name)
{
	if (optind >= argc)
		return cmd_usage(cmd, "missing LABEL");
	if (optind + 1 < argc)
		return cmd_usage(cmd, "unexpected argument '%s'", argv[optind + 1]);
	*name = argv[optind];
	return sgt_p11_is_uri(*name) ? SGT_OK : sgt_label_check(*name);
}

/*
 * The policy decides the key: its first algorithm is the default, and an
 * algorithm it does not list is refused before the token is touched.
 */
static int policy_alg(const struct sgt_store *st, const char *policy, const char **alg)
{
	struct sgt_policy *pol = NULL;
	struct sgt_buf allowed = { 0 };
	size_t i;
	int rc;

	if (*alg != NULL && sgt_alg_from_name(*alg) == SGT_ALG_NONE)
		return sgt_err(SGT_ERR_USAGE, "unknown key algorithm '%s' (use ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096 or ed25519)", *alg);
	if (policy == NULL) {
		if (*alg == NULL)
			*alg = "ecdsa-p256";
		return SGT_OK;
	}
	if ((rc = sgt_policy_find(st->dir, policy, &pol)) != SGT_OK)
		return rc;
	if (*alg == NULL && pol->nalgorithms > 0)
		*alg = pol->algorithms[0];
	else if (*alg == NULL)
		*alg = "ecdsa-p256";
	if (pol->nalgorithms > 0 && !sgt_policy_allows_alg(pol, *alg)) {
		for (i = 0; i < pol->nalgorithms; i++)
			sgt_buf_printf(&allowed, "%s%s", i ? ", " : "", pol->algorithms[i]);
		rc = sgt_err(SGT_ERR_DATA, "policy '%s' does not allow %s keys (it allows: %s)", policy, *alg, allowed.p);
		sgt_hint("pick one of those with --alg, or another policy with --policy");
	}
	/* The returned name must outlive the policy: map it to the static table. */
	if (rc == SGT_OK)
		*alg = sgt_alg_name(sgt_alg_from_name(*alg));
	sgt_buf_free(&allowed);
	sgt_policy_free(pol);
	return rc;
}

static int key_generate(struct sgt_ctx *ctx, int argc, char **argv)
{
	struct sgt_pin_opts pins = SGT_PIN_OPTS_INIT;
	const char *alg = NULL, *policy = NULL, *label;
	struct sgt_store st;
	struct sgt_keyrec rec;
	int rc = parse_keyopts("key generate", argc, argv, &pins, &alg, &policy, NULL, NULL);

	if (rc != SGT_OK)
		return rc > 0 ? SGT_OK : rc;
	if ((rc = one_label("key generate", argc, argv, &label)) != SGT_OK)
		return rc;
	if ((rc = cmd_store_open(ctx, &st, SGT_LOCK_EXCLUSIVE)) != SGT_OK)
		return rc;
	if (policy == NULL)
		policy = st.cfg.policy;
	if ((rc = policy_alg(&st, policy, &alg)) != SGT_OK)
		goto out;
	rc = sgt_key_generate(&st, &pins, label, alg, policy, &rec);
	if (rc == SGT_OK) {
		if (!ctx->json && !sgt_quiet)
			printf("generated %s key '%s' on token '%s'\n", rec.algorithm, label, st.cfg.token);
		rc = key_print(ctx, &st, &rec, 0, NULL);
	}
out:
	sgt_store_release(&st);
	return rc;
}

static int key_import(struct sgt_ctx *ctx, int argc, char **argv)
{
	struct sgt_pin_opts pins = SGT_PIN_OPTS_INIT;
	const char *policy = NULL, *keyfile = NULL, *label;
	struct sgt_store st;
	struct sgt_keyrec rec;
	int rc = parse_keyopts("key import", argc, argv, &pins, NULL, &policy, &keyfile, NULL);

	if (rc != SGT_OK)
		return rc > 0 ? SGT_OK : rc;
	if ((rc = one_label("key import", argc, argv, &label)) != SGT_OK)
		return rc;
	if (keyfile == NULL)
		return cmd_usage("key import", "missing --private-key FILE");
	if ((rc = cmd_store_open(ctx, &st, SGT_LOCK_EXCLUSIVE)) != SGT_OK)
		return rc;
	rc = sgt_key_import(&st, &pins, label, keyfile, policy ? policy : st.cfg.policy, &rec);
	if (rc == SGT_OK) {
		if (!ctx->json && !sgt_quiet)
			printf("imported %s key '%s' into token '%s'\n", rec.algorithm, label, st.cfg.token);
		rc = key_print(ctx, &st, &rec, 0, NULL);
		/* Custody starts now: copies of the file made before cannot be accounted for. */
		sgt_warn("'%s' still holds the private key: destroy it and every copy (e.g. shred -u '%s'); "
			 "custody cannot vouch for copies made before the import", keyfile, keyfile);
	}
	sgt_store_release(&st);
	return rc;
}

static int key_adopt(struct sgt_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "id", required_argument, NULL, 'i' },
		{ "uri", required_argument, NULL, 'u' },
		{ "policy", required_argument, NULL, 'p' },
		{ "accept-extractable", no_argument, NULL, 'x' },
		{ "approval", required_argument, NULL, 'a' },
		{ "approvals", required_argument, NULL, 'A' },
		{ "help", no_argument, NULL, 'h' },
		CMD_PIN_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct sgt_pin_opts pins = SGT_PIN_OPTS_INIT;
	const char *policy = NULL, *id = NULL, *uri = NULL, *label;
	int started = 0, accept = 0, c, rc;
	struct sgt_store st;
	struct sgt_keyrec rec;
	char *sigs[64];
	struct sgt_approve_given given = { sigs, 0, NULL };
	json_t *params = NULL, *approval = NULL;

	while ((c = cmd_getopt("key adopt", argc, argv, "h", longopts, &started)) != -1) {
		if (c == -2)
			return SGT_ERR_USAGE;
		if (cmd_pin_opt("key adopt", c, optarg, &pins, &rc)) {
			if (rc != SGT_OK)
				return rc;
			continue;
		}
		switch (c) {
		case 'i': id = optarg; break;
		case 'u': uri = optarg; break;
		case 'p': policy = optarg; break;
		case 'x': accept = 1; break;
		case 'a':
			if (given.nsigs >= (int)(sizeof(sigs) / sizeof(sigs[0])))
				return cmd_usage("key adopt", "more than %zu --approval", sizeof(sigs) / sizeof(sigs[0]));
			sigs[given.nsigs++] = optarg;
			break;
		case 'A': given.dir = optarg; break;
		case 'h': return cmd_help(help);
		}
	}
	if ((rc = one_label("key adopt", argc, argv, &label)) != SGT_OK)
		return rc;
	if ((id == NULL) == (uri == NULL))
		return cmd_usage("key adopt", "name the key on the token with --id HEX or --uri PKCS11_URI (one of them)");
	if (uri != NULL && !sgt_p11_is_uri(uri))
		return cmd_usage("key adopt", "--uri needs a PKCS#11 URI ('pkcs11:...'), not '%s'", uri);
	if (given.nsigs > 0 && given.dir != NULL)
		return cmd_usage("key adopt", "give --approval SIG... or --approvals DIR, not both");
	if ((rc = cmd_store_open(ctx, &st, SGT_LOCK_EXCLUSIVE)) != SGT_OK)
		return rc;
	if (policy == NULL)
		policy = st.cfg.policy;
	/* The two-person rule, when the policy it is adopted under asks for approvals: before the token is touched. */
	if ((params = sgt_approve_params_adopt(id, uri, policy != NULL && policy[0] != '\0' ? policy : NULL)) == NULL)
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
	else if ((rc = sgt_approve_op_gate(&st, "key.adopt", label, NULL, policy, params, &given, &approval)) ==
		 SGT_ERR_VERDICT)
		sgt_record_refused(&st, "key.adopt", label, NULL, sgt_last_error());
	json_decref(params);
	if (rc != SGT_OK) {
		sgt_store_release(&st);
		return rc;
	}
	rc = sgt_key_adopt(&st, &pins, label, id, uri, policy, accept, approval, &rec);
	json_decref(approval);
	if (rc == SGT_OK) {
		if (!ctx->json && !sgt_quiet)
			printf("adopted %s key '%s' (id %s) on token '%s'\n", rec.algorithm, label, rec.id, st.cfg.token);
		rc = key_print(ctx, &st, &rec, 0, NULL);
	}
	sgt_store_release(&st);
	return rc;
}

/* Certificates kept for a key, with expiry, as JSON; unreadable ones are skipped with a warning. */
static json_t *key_certs(const struct sgt_store *st, const char *label)
{
	json_t *arr = json_array();
	X509 *cur = NULL;
	char **paths = NULL, cur_serial[80] = "";
	size_t n = 0, i;

	if (sgt_cert_store_current(st, label, &cur) == SGT_OK && cur != NULL)
		sgt_cert_serial_hex(cur, cur_serial, sizeof(cur_serial));
	X509_free(cur);
	if (sgt_cert_store_list(st, label, &paths, &n) != SGT_OK)
		return arr;
	for (i = 0; i < n; i++) {
		X509 *x = NULL;
		time_t nb, na;
		char serial[80], after[32];

		if (sgt_cert_load(paths[i], &x) != SGT_OK || sgt_cert_times(x, &nb, &na) != SGT_OK) {
			X509_free(x);
			continue;
		}
		sgt_cert_serial_hex(x, serial, sizeof(serial));
		sgt_time_iso(na, after);
		json_array_append_new(arr, json_pack("{s:s, s:s, s:b, s:b, s:s}", "serial", serial, "not_after", after,
						     "expired", na < sgt_now(), "current", strcmp(serial, cur_serial) == 0,
						     "path", paths[i]));
		X509_free(x);
	}
	sgt_cert_paths_free(paths, n);
	return arr;
}

/*
 * The keys' PKCS#11 URIs, read from the token without a login.  A token
 * that cannot be read leaves them out with one warning line: the records
 * are still shown, as they were before URIs were.
 */
static void key_uris(const struct sgt_store *st, const struct sgt_keyrec *recs, size_t n, char **uris)
{
	size_t i;
	int rc;

	sgt_err_hold();
	rc = sgt_key_uris(st, recs, n, uris);
	sgt_err_release();
	if (rc != SGT_OK) {
		sgt_warn("PKCS#11 URIs left out: %s", sgt_last_error());
		return;
	}
	for (i = 0; i < n; i++)
		if (uris[i] == NULL)
			sgt_warn("token '%s' holds no public key for '%s' (id %s): no PKCS#11 URI; 'signet audit custody' "
				 "compares the token with the records", st->cfg.token, recs[i].label, recs[i].id);
}

static int key_print(struct sgt_ctx *ctx, const struct sgt_store *st, const struct sgt_keyrec *rec, int detail,
		     const char *uri)
{
	struct sgt_buf held = { 0 }, missing = { 0 };
	json_t *certs = detail ? key_certs(st, rec->label) : NULL;
	size_t i;

	if (ctx->json) {
		json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s?, s:o}", "label", rec->label, "id", rec->id,
				      "algorithm", rec->algorithm, "spki_sha256", rec->spki_sha256,
				      "origin", rec->origin, "created", rec->created,
				      "policy", rec->policy[0] ? rec->policy : NULL,
				      "custody", sgt_key_custody_json(&rec->custody));

		if (strcmp(rec->origin, "adopted") == 0)
			json_object_set_new(j, "accepted_extractable",
					    json_boolean(rec->custody.extractable != 0 || rec->custody.sensitive != 1));
		if (rec->retired[0])
			json_object_set_new(j, "retired", json_pack("{s:s, s:s}", "time", rec->retired, "by", rec->retired_by));
		if (detail)
			json_object_set_new(j, "uri", uri ? json_string(uri) : json_null());
		if (certs != NULL)
			json_object_set(j, "certificates", certs);
		json_decref(certs);
		return cmd_json_print(j);
	}
	sgt_key_custody_words(&rec->custody, &held, &missing);
	printf("label:        %s\nalgorithm:    %s\nspki_sha256:  %s\norigin:       %s\ncreated:      %s\n",
	       rec->label, rec->algorithm, rec->spki_sha256, rec->origin, rec->created);
	if (rec->policy[0])
		printf("policy:       %s\n", rec->policy);
	if (rec->retired[0])
		printf("retired:      %s (%s): signs nothing without --fleet; kept on the token for shelved devices\n",
		       rec->retired, rec->retired_by);
	printf("id:           %s\n", rec->id);
	if (uri != NULL)
		printf("uri:          %s\n", uri);
	printf("custody:      %s\n", held.p ? held.p : "-");
	if (strcmp(rec->origin, "adopted") == 0 && (rec->custody.extractable != 0 || rec->custody.sensitive != 1))
		printf("WARNING:      adopted with --accept-extractable: the private key %s; copies may exist outside the token\n",
		       rec->custody.extractable != 0 ? "is extractable" : "is not sensitive");
	if (missing.len)
		printf("not held:     %s%s\n", missing.p,
		       strcmp(rec->origin, "imported") == 0 ? " (expected: the key existed outside the token before import)" : "");
	for (i = 0; certs != NULL && i < json_array_size(certs); i++) {
		json_t *c = json_array_get(certs, i);

		printf("%s %s  %s %s%s\n", i == 0 ? "certificates:" : "             ",
		       json_string_value(json_object_get(c, "serial")),
		       json_is_true(json_object_get(c, "expired")) ? "EXPIRED" : "expires",
		       json_string_value(json_object_get(c, "not_after")),
		       json_is_true(json_object_get(c, "current")) ? "  (current)" : "");
	}
	if (certs != NULL && json_array_size(certs) == 0 && strcmp(rec->algorithm, "ed25519") == 0)
		printf("certificates: none (an Ed25519 key signs MCUboot images, which need none)\n");
	else if (certs != NULL && json_array_size(certs) == 0)
		printf("certificates: none (signet cert issue %s)\n", rec->label);
	json_decref(certs);
	sgt_buf_free(&held);
	sgt_buf_free(&missing);
	return SGT_OK;
}

static int key_list(struct sgt_ctx *ctx, int argc, char **argv)
{
	struct sgt_store st;
	struct sgt_keyrec *recs = NULL;
	char **uris = NULL;
	size_t n = 0, i;
	int rc = parse_keyopts("key list", argc, argv, NULL, NULL, NULL, NULL, NULL);

	if (rc != SGT_OK)
		return rc > 0 ? SGT_OK : rc;
	if (optind < argc)
		return cmd_usage("key list", "unexpected argument '%s'", argv[optind]);
	if ((rc = cmd_store_open(ctx, &st, SGT_LOCK_SHARED)) != SGT_OK)
		return rc;
	if ((rc = sgt_keyrec_list(&st, &recs, &n)) != SGT_OK)
		goto out;
	if (n > 0 && (uris = calloc(n, sizeof(*uris))) == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	key_uris(&st, recs, n, uris);
	if (ctx->json) {
		json_t *arr = json_array();

		for (i = 0; i < n; i++)
			json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "label", recs[i].label,
							     "algorithm", recs[i].algorithm, "spki_sha256", recs[i].spki_sha256,
							     "origin", recs[i].origin, "created", recs[i].created, "id", recs[i].id,
							     "uri", uris[i] ? json_string(uris[i]) : json_null()));
		rc = cmd_json_print(json_pack("{s:s, s:o}", "token", st.cfg.token, "keys", arr));
		goto out;
	}
	if (n == 0) {
		if (!sgt_quiet)
			printf("no keys in custody (signet key generate LABEL)\n");
		goto out;
	}
	printf("%-20s %-11s %-10s %-20s %-64s %s\n", "LABEL", "ALGORITHM", "ORIGIN", "CREATED", "SPKI SHA-256",
	       "PKCS#11 URI");
	for (i = 0; i < n; i++)
		printf("%-20s %-11s %-10s %-20s %-64s %s\n", recs[i].label, recs[i].algorithm, recs[i].origin,
		       recs[i].created, recs[i].spki_sha256, uris[i] ? uris[i] : "-");
out:
	for (i = 0; uris != NULL && i < n; i++)
		free(uris[i]);
	free(uris);
	free(recs);
	sgt_store_release(&st);
	return rc;
}

static int key_show(struct sgt_ctx *ctx, int argc, char **argv)
{
	struct sgt_pin_opts pins = SGT_PIN_OPTS_INIT;
	struct sgt_store st;
	struct sgt_keyrec rec;
	const char *label;
	int rc = parse_keyopts("key show", argc, argv, &pins, NULL, NULL, NULL, NULL);

	if (rc != SGT_OK)
		return rc > 0 ? SGT_OK : rc;
	if ((rc = key_name("key show", argc, argv, &label)) != SGT_OK)
		return rc;
	if ((rc = cmd_store_open(ctx, &st, SGT_LOCK_SHARED)) != SGT_OK)
		return rc;
	if ((rc = sgt_key_lookup(&st, &pins, label, &rec)) == SGT_OK) {
		char *uri = NULL;

		key_uris(&st, &rec, 1, &uri);
		rc = key_print(ctx, &st, &rec, 1, uri);
		free(uri);
	}
	sgt_store_release(&st);
	return rc;
}

static int key_pubkey(struct sgt_ctx *ctx, int argc, char **argv)
{
	struct sgt_store st;
	struct sgt_keyrec rec;
	const char *label, *out = NULL;
	EVP_PKEY *pk = NULL;
	BIO *mem = NULL;
	char *pem;
	long len;
	struct sgt_pin_opts pins = SGT_PIN_OPTS_INIT;
	int rc = parse_keyopts("key pubkey", argc, argv, &pins, NULL, NULL, NULL, &out);

	if (rc != SGT_OK)
		return rc > 0 ? SGT_OK : rc;
	if ((rc = key_name("key pubkey", argc, argv, &label)) != SGT_OK)
		return rc;
	if ((rc = cmd_store_open(ctx, &st, SGT_LOCK_SHARED)) != SGT_OK)
		return rc;
	if ((rc = sgt_key_lookup(&st, &pins, label, &rec)) != SGT_OK || (rc = sgt_key_pubkey(&st, &rec, &pk)) != SGT_OK)
		goto out;
	if ((mem = BIO_new(BIO_s_mem())) == NULL || !PEM_write_bio_PUBKEY(mem, pk)) {
		rc = sgt_err(SGT_ERR_DATA, "cannot encode the public key of '%s': %s", label, sgt_ossl_why());
		goto out;
	}
	len = BIO_get_mem_data(mem, &pem);
	if (out != NULL)
		rc = sgt_out_write(out, pem, (size_t)len);
	else if (ctx->json)
		rc = cmd_json_print(json_pack("{s:s, s:s, s:s#}", "label", label, "spki_sha256", rec.spki_sha256,
					      "pem", pem, (int)len));
	else
		fwrite(pem, 1, (size_t)len, stdout);
out:
	BIO_free(mem);
	EVP_PKEY_free(pk);
	sgt_store_release(&st);
	return rc;
}

int cmd_key(struct sgt_ctx *ctx, int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(struct sgt_ctx *, int, char **);
	} subs[] = {
		{ "generate", key_generate }, { "import", key_import }, { "adopt", key_adopt }, { "list", key_list },
		{ "show", key_show }, { "pubkey", key_pubkey }, { "match", cmd_key_match },
	};
	size_t i;

	if (argc < 2)
		return cmd_usage("key", "missing subcommand (generate, import, adopt, list, show, pubkey, match)");
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		return cmd_help(help);
	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (strcmp(argv[1], subs[i].name) == 0)
			return subs[i].fn(ctx, argc - 1, argv + 1);
	if (strcmp(argv[1], "export") == 0)
		return cmd_usage("key", "there is no 'key export': private keys never leave the token (use 'key pubkey' for the public key)");
	return cmd_usage("key", "unknown subcommand '%s'", argv[1]);
}
