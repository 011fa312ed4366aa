/*
 * cmd_rotate.c: `signet rotate start|verify|status|finish`: moving devices
 * from key OLD to key NEW without stranding any.  start records the
 * rotation and a lineage statement signed by OLD on the token; finish
 * retires OLD once no fleet's active devices trust only OLD.  Both write
 * under an intent (files staged, the audit record as the commit point);
 * a refusal writes only a `refused` audit record.  verify and status only
 * read.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "approve.h"
#include "audit.h"
#include "cert.h"
#include "cmd.h"
#include "intent.h"
#include "key.h"
#include "rotate.h"
#include "token.h"
#include "tx.h"

static const char help[] =
	"usage: signet rotate start OLD NEW [--reason TEXT] [--approval SIG... | --approvals DIR]\n"
	"                                   [--pin-file F | --pin-fd N]\n"
	"       signet rotate verify OLD [--cert FILE]\n"
	"       signet rotate status [OLD]\n"
	"       signet rotate finish OLD [--approval SIG... | --approvals DIR]\n\n"
	"Moves devices from signing key OLD to key NEW without stranding any\n"
	"(docs/rotation.md).  Devices trust only the key baked into their firmware,\n"
	"so the move goes through a stepping-stone build: firmware that bakes NEW's\n"
	"certificate (signet header NEW), signed with OLD (signet sign --key OLD\n"
	"--fleet FLEET) so devices still accept it.\n\n"
	"  start    NEW must be in custody (signet key generate NEW first).  Records\n"
	"           <store>/rotations/OLD.yaml and the lineage statement \"OLD vouches\n"
	"           for NEW\": OLD.lineage.json (canonical JSON) and OLD.lineage.sig (a\n"
	"           DER signature by OLD, made on the token, over SHA-256 of the JSON)\n"
	"  verify   checks the lineage statement with OLD's certificate (or --cert\n"
	"           FILE); exit 1 when it does not verify.  Without signet:\n"
	"             openssl x509 -in OLD.pem -pubkey -noout > old.pub\n"
	"             openssl dgst -sha256 -verify old.pub -signature OLD.lineage.sig OLD.lineage.json\n"
	"  status   per fleet (from the fleet inventory): active devices still trusting\n"
	"           only OLD, devices trusting NEW (or both), stale devices apart, and the\n"
	"           expected completion (stepping stone recorded + rollout_days)\n"
	"  finish   refuses while any fleet's active devices trust only OLD; then\n"
	"           retires OLD: it signs nothing without --fleet, and stays on the\n"
	"           token for devices that come back from a shelf\n\n"
	"When OLD's policy asks for approvals (docs/approvals.md), start and finish\n"
	"need them: 'signet approve request --op rotate.start --key OLD --new NEW'\n"
	"(--op rotate.finish --key OLD), signed by the approvers, given with\n"
	"--approval SIG... or --approvals DIR; without enough, exit 1 before the\n"
	"token is touched, and a refused record\n";

struct ropts {
	struct sgt_pin_opts pin;
	const char *reason, *cert;
	char *args[3];
	int nargs;
	char *sigs[64];			/* --approval SIG... */
	struct sgt_approve_given approvals;
};

static int parse(const char *cmd, int argc, char **argv, struct ropts *o, int maxargs)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' }, { "reason", required_argument, NULL, 'r' },
		{ "cert", required_argument, NULL, 'c' }, { "approval", required_argument, NULL, 'a' },
		{ "approvals", required_argument, NULL, 'A' }, CMD_PIN_LONGOPTS, { NULL, 0, NULL, 0 }
	};
	int started = 0, c, rc;

	while ((c = cmd_getopt(cmd, argc, argv, "h", longopts, &started)) != -1) {
		if (c == -2)
			return SGT_ERR_USAGE;
		if (cmd_pin_opt(cmd, c, optarg, &o->pin, &rc)) {
			if (rc != SGT_OK)
				return rc;
			continue;
		}
		switch (c) {
		case 'h': cmd_help(help); return 1;
		case 'r': o->reason = optarg; break;
		case 'c': o->cert = optarg; break;
		case 'a':
			if (o->approvals.nsigs >= (int)(sizeof(o->sigs) / sizeof(o->sigs[0])))
				return cmd_usage(cmd, "more than %zu --approval", sizeof(o->sigs) / sizeof(o->sigs[0]));
			o->sigs[o->approvals.nsigs++] = optarg;
			break;
		case 'A': o->approvals.dir = optarg; break;
		}
	}
	o->approvals.sigs = o->sigs;
	if ((o->approvals.nsigs > 0 || o->approvals.dir != NULL) && strcmp(cmd, "rotate start") != 0 &&
	    strcmp(cmd, "rotate finish") != 0)
		return cmd_usage(cmd, "--approval and --approvals belong to rotate start and rotate finish");
	if (o->approvals.nsigs > 0 && o->approvals.dir != NULL)
		return cmd_usage(cmd, "give --approval SIG... or --approvals DIR, not both");
	while (optind < argc) {
		if (o->nargs >= maxargs)
			return cmd_usage(cmd, "unexpected argument '%s'", argv[optind]);
		o->args[o->nargs++] = argv[optind++];
	}
	return SGT_OK;
}

/* Writes the statement, its signature and the record, then the audit record: the commit point. */
static int start_commit(struct sgt_store *st, const struct sgt_rotation *r, const char *stmt, size_t stmtlen,
			const unsigned char *sig, size_t siglen, json_t *approval)
{
	struct sgt_tx *tx = NULL;
	char *jpath = sgt_rotation_path(st, r->old, ".lineage.json");
	char *spath = sgt_rotation_path(st, r->old, ".lineage.sig");
	char *rpath = sgt_rotation_path(st, r->old, ".yaml");
	struct sgt_buf rec = { 0 };
	json_t *d = NULL;
	int rc;

	if (jpath == NULL || spath == NULL || rpath == NULL || sgt_rotation_format(r, &rec) != SGT_OK) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	if ((rc = sgt_tx_begin(st, "rotate.start", r->old, NULL, NULL, 0, &tx)) != SGT_OK)
		goto out;
	if ((rc = sgt_tx_stage(tx, jpath, stmt, stmtlen, SGT_TX_EXCL)) != SGT_OK ||
	    (rc = sgt_tx_stage(tx, spath, sig, siglen, SGT_TX_EXCL)) != SGT_OK ||
	    (rc = sgt_tx_stage(tx, rpath, rec.p, rec.len, SGT_TX_EXCL)) != SGT_OK)
		goto out;
	d = json_pack("{s:s, s:s, s:s, s:s, s:s}", "new", r->new_, "new_spki_sha256", r->new_spki, "reason", r->reason,
		      "record", rpath, "lineage_sha256", "");
	if (d != NULL) {
		char h[65];

		sgt_sha256_hex(stmt, stmtlen, h);
		json_object_set_new(d, "lineage_sha256", json_string(h));
		if (approval != NULL)
			json_object_set(d, "approval", approval);
	}
	if ((rc = sgt_tx_record(tx, "rotate.start", r->old, r->old_spki, d)) == SGT_OK)
		rc = sgt_tx_commit(tx);
	if (rc != SGT_OK && !sgt_tx_committed(tx))
		sgt_hint("the rotation of '%s' was not recorded; the store is as before", r->old);
out:
	sgt_tx_free(tx);	/* not committed: rolled back */
	json_decref(d);
	sgt_buf_free(&rec);
	free(jpath);
	free(spath);
	free(rpath);
	return rc;
}

static int rotate_start(struct sgt_ctx *ctx, int argc, char **argv)
{
	struct ropts o = { .pin = SGT_PIN_OPTS_INIT };
	struct sgt_store st;
	struct sgt_keyrec orec, nrec;
	struct sgt_rotation r;
	struct sgt_token *tok = NULL;
	EVP_PKEY *priv = NULL, *pub = NULL;
	unsigned char *sig = NULL;
	size_t siglen = 0, stmtlen = 0;
	char *stmt = NULL, *rpath = NULL, spki[65];
	json_t *params = NULL, *approval = NULL;
	int rc;

	if ((rc = parse("rotate start", argc, argv, &o, 2)) != SGT_OK)
		return rc > 0 ? SGT_OK : rc;
	if (o.nargs != 2)
		return cmd_usage("rotate start", "needs OLD and NEW key labels");
	if ((rc = sgt_label_check(o.args[0])) != SGT_OK || (rc = sgt_label_check(o.args[1])) != SGT_OK)
		return rc;
	if (strcmp(o.args[0], o.args[1]) == 0)
		return cmd_usage("rotate start", "OLD and NEW are the same key '%s'", o.args[0]);
	if (o.reason != NULL && strlen(o.reason) >= sizeof(r.reason))
		return cmd_usage("rotate start", "--reason is longer than %zu bytes", sizeof(r.reason) - 1);
	if ((rc = cmd_store_open(ctx, &st, SGT_LOCK_EXCLUSIVE)) != SGT_OK)
		return rc;
	if ((rc = sgt_keyrec_load(&st, o.args[0], &orec)) != SGT_OK)
		goto out;
	if ((rc = sgt_keyrec_load(&st, o.args[1], &nrec)) != SGT_OK) {
		sgt_hint("generate the new key first: 'signet key generate %s'", o.args[1]);
		if (rc == SGT_ERR_VERDICT)
			goto refused;
		goto out;
	}
	/* A rotation moves OTA fleets; FreeRTOS devices verify ECDSA or RSA, so an Ed25519 (MCUboot) key has no place in one. */
	if (strcmp(orec.algorithm, "ed25519") == 0 || strcmp(nrec.algorithm, "ed25519") == 0) {
		rc = sgt_err(SGT_ERR_DATA, "key '%s' (ed25519) cannot take part in a rotation: rotate moves OTA fleets, whose "
			     "FreeRTOS devices verify ECDSA or RSA; Ed25519 keys sign MCUboot images only",
			     strcmp(orec.algorithm, "ed25519") == 0 ? orec.label : nrec.label);
		goto out;
	}
	if ((rpath = sgt_rotation_path(&st, orec.label, ".yaml")) == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	if (access(rpath, F_OK) == 0) {
		rc = sgt_err(SGT_ERR_DATA, "key '%s' already has a rotation ('%s')", orec.label, rpath);
		sgt_hint("'signet rotate status %s' shows it", orec.label);
		goto out;
	}
	if (orec.retired[0] || nrec.retired[0]) {
		rc = sgt_err(SGT_ERR_VERDICT, "key '%s' is retired (%s): it cannot take part in a new rotation",
			     orec.retired[0] ? orec.label : nrec.label, orec.retired[0] ? orec.retired : nrec.retired);
		goto refused;
	}
	if (strcmp(orec.spki_sha256, nrec.spki_sha256) == 0) {
		rc = sgt_err(SGT_ERR_VERDICT, "keys '%s' and '%s' are the same public key (SPKI %s): nothing to rotate",
			     orec.label, nrec.label, orec.spki_sha256);
		goto refused;
	}
	/* The two-person rule, when OLD's policy asks for approvals: before the token is touched. */
	if ((params = sgt_approve_params_rotate(nrec.label, nrec.spki_sha256, NULL)) == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	if ((rc = sgt_approve_op_gate(&st, "rotate.start", orec.label, orec.spki_sha256,
				      sgt_approve_policy_name(&st, &orec), params, &o.approvals, &approval)) != SGT_OK) {
		if (rc == SGT_ERR_VERDICT)
			goto refused;
		goto out;
	}
	memset(&r, 0, sizeof(r));
	snprintf(r.old, sizeof(r.old), "%s", orec.label);
	snprintf(r.new_, sizeof(r.new_), "%s", nrec.label);
	memcpy(r.old_spki, orec.spki_sha256, sizeof(r.old_spki));
	memcpy(r.new_spki, nrec.spki_sha256, sizeof(r.new_spki));
	snprintf(r.old_alg, sizeof(r.old_alg), "%s", orec.algorithm);
	snprintf(r.new_alg, sizeof(r.new_alg), "%s", nrec.algorithm);
	sgt_time_iso(sgt_now(), r.started);
	snprintf(r.reason, sizeof(r.reason), "%s", o.reason ? o.reason : "key rotation");
	if ((rc = sgt_lineage_statement(&r, &stmt, &stmtlen)) != SGT_OK ||
	    (rc = sgt_token_open(&st, &o.pin, &tok)) != SGT_OK || (rc = sgt_token_key(tok, &orec, &priv, &pub)) != SGT_OK)
		goto out;
	if (sgt_key_spki_sha256(pub, spki) != SGT_OK || strcmp(spki, orec.spki_sha256) != 0) {
		rc = sgt_err(SGT_ERR_HSM, "the token's public key for '%s' does not match its record (SPKI %s)", orec.label, spki);
		goto out;
	}
	if ((rc = sgt_lineage_sign(priv, pub, orec.label, stmt, stmtlen, &sig, &siglen)) != SGT_OK ||
	    (rc = start_commit(&st, &r, stmt, stmtlen, sig, siglen, approval)) != SGT_OK)
		goto out;
	if (ctx->json) {
		rc = cmd_json_print(json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "old", r.old, "new", r.new_, "started",
					      r.started, "record", rpath, "old_spki_sha256", r.old_spki, "new_spki_sha256",
					      r.new_spki));
	} else if (!sgt_quiet) {
		printf("rotation started: '%s' -> '%s' (%s)\n", r.old, r.new_, rpath);
		printf("  lineage statement signed by '%s' on the token: %s/rotations/%s.lineage.json (.sig)\n", r.old, st.dir,
		       r.old);
		printf("next: bake the new key into a stepping-stone build (signet header %s), sign it with the old key\n"
		       "      (signet sign IMAGE --key %s --fleet FLEET), roll it out; 'signet rotate status' follows the move\n",
		       r.new_, r.old);
	}
	goto out;
refused:
	sgt_record_refused(&st, "rotate.start", orec.label, orec.spki_sha256, sgt_last_error());
out:
	json_decref(params);
	json_decref(approval);
	EVP_PKEY_free(priv);
	EVP_PKEY_free(pub);
	sgt_token_free(tok);
	free(stmt);
	free(sig);
	free(rpath);
	sgt_store_release(&st);
	return rc;
}

/* OLD's public key as others see it: --cert FILE, else its current certificate, else the token's. */
static int old_pubkey(const struct sgt_store *st, const char *certfile, const struct sgt_rotation *r, EVP_PKEY **out,
		      const char **from)
{
	struct sgt_keyrec rec;
	X509 *x = NULL;
	int rc;

	*out = NULL;
	if (certfile != NULL) {
		if ((rc = sgt_cert_load(certfile, &x)) != SGT_OK)
			return rc;
		*from = certfile;
	} else if ((rc = sgt_cert_store_current(st, r->old, &x)) != SGT_OK) {
		return rc;
	} else if (x != NULL) {
		*from = "its current certificate";
	}
	if (x != NULL) {
		*out = X509_get_pubkey(x);
		X509_free(x);
		return *out ? SGT_OK : sgt_err(SGT_ERR_DATA, "cannot read the public key of the certificate of '%s'", r->old);
	}
	*from = "the token's public key";
	if ((rc = sgt_keyrec_load(st, r->old, &rec)) != SGT_OK)
		return rc;
	return sgt_key_pubkey(st, &rec, out);
}

static int rotate_verify(struct sgt_ctx *ctx, int argc, char **argv)
{
	struct ropts o = { .pin = SGT_PIN_OPTS_INIT };
	struct sgt_store st;
	struct sgt_rotation r;
	EVP_PKEY *pub = NULL;
	unsigned char *stmt = NULL, *sig = NULL;
	size_t stmtlen = 0, siglen = 0;
	char *jpath = NULL, *spath = NULL, why[256], spki[65];
	const char *from = "";
	int rc;

	if ((rc = parse("rotate verify", argc, argv, &o, 1)) != SGT_OK)
		return rc > 0 ? SGT_OK : rc;
	if (o.nargs != 1)
		return cmd_usage("rotate verify", "needs the OLD key label");
	if ((rc = sgt_label_check(o.args[0])) != SGT_OK)
		return rc;
	if ((rc = cmd_store_open(ctx, &st, SGT_LOCK_SHARED)) != SGT_OK)
		return rc;
	if ((rc = sgt_rotation_load(&st, o.args[0], &r)) != SGT_OK)
		goto out;
	jpath = sgt_rotation_path(&st, r.old, ".lineage.json");
	spath = sgt_rotation_path(&st, r.old, ".lineage.sig");
	if (jpath == NULL || spath == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	if ((rc = sgt_file_read(jpath, 1 << 16, &stmt, &stmtlen)) != SGT_OK ||
	    (rc = sgt_file_read(spath, 1 << 12, &sig, &siglen)) != SGT_OK ||
	    (rc = old_pubkey(&st, o.cert, &r, &pub, &from)) != SGT_OK)
		goto out;
	if (sgt_key_spki_sha256(pub, spki) != SGT_OK || strcmp(spki, r.old_spki) != 0) {
		rc = sgt_err(SGT_ERR_VERDICT, "%s is for another key (SPKI %s), not '%s' (SPKI %s)", from, spki, r.old,
			     r.old_spki);
		goto out;
	}
	if (sgt_lineage_verify(pub, stmt, stmtlen, sig, siglen, &r, why, sizeof(why)) != SGT_OK) {
		rc = sgt_err(SGT_ERR_VERDICT, "lineage statement '%s' is not valid: %s", jpath, why);
		goto out;
	}
	if (ctx->json)
		rc = cmd_json_print(json_pack("{s:b, s:s, s:s, s:s, s:s, s:s, s:s}", "valid", 1, "old", r.old, "new", r.new_,
					      "old_spki_sha256", r.old_spki, "new_spki_sha256", r.new_spki, "statement", jpath,
					      "checked_with", from));
	else
		printf("lineage statement valid: '%s' (SPKI %.16s...) vouches for '%s' (SPKI %.16s...), %s; checked with %s\n",
		       r.old, r.old_spki, r.new_, r.new_spki, r.started, from);
out:
	EVP_PKEY_free(pub);
	free(stmt);
	free(sig);
	free(jpath);
	free(spath);
	sgt_store_release(&st);
	return rc;
}

static char *day(time_t t, char *buf)
{
	char iso[32];

	sgt_time_iso(t, iso);
	memcpy(buf, iso, 10);	/* the date part */
	buf[10] = '\0';
	return buf;
}

static json_t *progress_json(const struct sgt_rotate_progress *p)
{
	char iso[32];

	if (p->expected)
		sgt_time_iso(p->expected, iso);
	return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:s?, s:s?, s:I}", "fleet", p->fleet->name,
			 "only_old", (json_int_t)p->only_old, "only_old_stale", (json_int_t)p->only_old_stale,
			 "trusting_new", (json_int_t)p->with_new, "trusting_new_stale", (json_int_t)p->with_new_stale,
			 "unknown", (json_int_t)p->unknown, "unknown_stale", (json_int_t)p->unknown_stale,
			 "stepping_stone", p->stone, "expected_completion", p->expected ? iso : NULL,
			 "rollout_days", (json_int_t)p->fleet->rollout_days);
}

static void progress_print(const struct sgt_rotate_progress *p, time_t now)
{
	char d[16];

	printf("  %-16s %9ld %9ld %9ld %9ld  ", p->fleet->name, p->only_old, p->with_new,
	       p->only_old_stale + p->with_new_stale + p->unknown_stale, p->unknown);
	if (p->only_old == 0 && p->unknown == 0)
		printf("moved%s\n", p->only_old_stale ? " (stale devices still trust only the old key)" : "");
	else if (p->stone == NULL)
		printf("no stepping-stone build recorded (a build baking the new key)\n");
	else
		printf("%s %s (build %s + %ld rollout days)\n", p->expected < now ? "OVERDUE since" : "expected",
		       day(p->expected, d), p->stone, p->fleet->rollout_days);
}

static int rotate_status(struct sgt_ctx *ctx, int argc, char **argv)
{
	struct ropts o = { .pin = SGT_PIN_OPTS_INIT };
	struct sgt_store st;
	struct sgt_inventory inv;
	struct sgt_rotation *rs = NULL;
	size_t nr = 0, i, j;
	json_t *out = NULL;
	time_t now = sgt_now();
	int rc, have_inv = 0;

	if ((rc = parse("rotate status", argc, argv, &o, 1)) != SGT_OK)
		return rc > 0 ? SGT_OK : rc;
	if (o.nargs == 1 && (rc = sgt_label_check(o.args[0])) != SGT_OK)
		return rc;
	if ((rc = cmd_store_open(ctx, &st, SGT_LOCK_SHARED)) != SGT_OK)
		return rc;
	if (o.nargs == 1) {
		if ((rs = calloc(1, sizeof(*rs))) == NULL) {
			rc = sgt_err(SGT_ERR_DATA, "out of memory");
			goto out;
		}
		if ((rc = sgt_rotation_load(&st, o.args[0], rs)) != SGT_OK)
			goto out;
		nr = 1;
	} else if ((rc = sgt_rotation_list(&st, &rs, &nr)) != SGT_OK) {
		goto out;
	}
	if ((rc = sgt_rotate_inventory(&st, NULL, 0, now, &inv)) != SGT_OK)
		goto out;
	have_inv = 1;
	if (ctx->json && (out = json_array()) == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	if (nr == 0 && !ctx->json)
		printf("no rotations (signet rotate start OLD NEW)\n");
	for (i = 0; i < nr; i++) {
		struct sgt_rotate_progress *p = NULL;
		size_t np = 0;
		long left = 0;

		if ((rc = sgt_rotate_progress(&inv, &rs[i], &p, &np)) != SGT_OK)
			goto out;
		for (j = 0; j < np; j++)
			left += p[j].only_old + p[j].unknown;
		if (ctx->json) {
			json_t *fl = json_array();

			for (j = 0; j < np; j++)
				json_array_append_new(fl, progress_json(&p[j]));
			json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:s, s:I, s:o}", "old", rs[i].old,
							     "new", rs[i].new_, "old_spki_sha256", rs[i].old_spki,
							     "new_spki_sha256", rs[i].new_spki, "started", rs[i].started,
							     "finished", rs[i].finished[0] ? rs[i].finished : NULL, "state",
							     rs[i].finished[0] ? "finished" : left ? "in progress" : "ready to finish",
							     "devices_left", (json_int_t)left, "fleets", fl));
		} else {
			printf("rotation '%s' -> '%s', started %s (%s): %s\n", rs[i].old, rs[i].new_, rs[i].started, rs[i].reason,
			       rs[i].finished[0] ? "finished" : left ? "in progress" : "ready to finish (signet rotate finish)");
			if (np == 0) {
				printf("  no fleet's builds bake either key\n");
			} else {
				printf("  %-16s %9s %9s %9s %9s  %s\n", "fleet", "only-old", "new", "stale", "unknown", "completion");
				for (j = 0; j < np; j++)
					progress_print(&p[j], now);
			}
		}
		free(p);
	}
	if (ctx->json) {
		rc = cmd_json_print(json_pack("{s:o}", "rotations", out));
		out = NULL;
	}
out:
	json_decref(out);
	if (have_inv)
		sgt_inventory_release(&inv);
	free(rs);
	sgt_store_release(&st);
	return rc;
}

static int rotate_finish(struct sgt_ctx *ctx, int argc, char **argv)
{
	struct ropts o = { .pin = SGT_PIN_OPTS_INIT };
	struct sgt_store st;
	struct sgt_inventory inv;
	struct sgt_rotation r;
	struct sgt_keyrec rec;
	struct sgt_rotate_progress *p = NULL;
	struct sgt_buf rb = { 0 }, left = { 0 };
	size_t np = 0, j;
	long nleft = 0, stale = 0;
	char *rpath = NULL, rel[128];
	struct sgt_tx *tx = NULL;
	json_t *d = NULL, *params = NULL, *approval = NULL;
	int rc, have_inv = 0;

	if ((rc = parse("rotate finish", argc, argv, &o, 1)) != SGT_OK)
		return rc > 0 ? SGT_OK : rc;
	if (o.nargs != 1)
		return cmd_usage("rotate finish", "needs the OLD key label");
	if ((rc = sgt_label_check(o.args[0])) != SGT_OK)
		return rc;
	if ((rc = cmd_store_open(ctx, &st, SGT_LOCK_EXCLUSIVE)) != SGT_OK)
		return rc;
	if ((rc = sgt_rotation_load(&st, o.args[0], &r)) != SGT_OK || (rc = sgt_keyrec_load(&st, r.old, &rec)) != SGT_OK)
		goto out;
	if (r.finished[0]) {
		rc = sgt_err(SGT_ERR_DATA, "the rotation of '%s' finished on %s: key '%s' is retired", r.old, r.finished, r.old);
		goto out;
	}
	if ((rc = sgt_rotate_inventory(&st, NULL, 0, sgt_now(), &inv)) != SGT_OK)
		goto out;
	have_inv = 1;
	if ((rc = sgt_rotate_progress(&inv, &r, &p, &np)) != SGT_OK)
		goto out;
	for (j = 0; j < np; j++) {
		stale += p[j].only_old_stale;
		if (p[j].only_old + p[j].unknown == 0)
			continue;
		nleft += p[j].only_old + p[j].unknown;
		sgt_buf_printf(&left, "%s%s (%s", left.len ? "; " : "", p[j].fleet->name, p[j].only_old_builds);
		if (p[j].unknown)
			sgt_buf_printf(&left, "%s%ld on unrecorded builds", p[j].only_old_builds[0] ? ", " : "", p[j].unknown);
		sgt_buf_printf(&left, ")");
	}
	if (nleft > 0) {
		rc = sgt_err(SGT_ERR_VERDICT, "rotation of '%s' cannot finish: %ld devices still trust only '%s': %s", r.old,
			     nleft, r.old, left.p);
		sgt_hint("roll out a build baking '%s' signed with '%s' first; 'signet rotate status %s' follows the move",
			 r.new_, r.old, r.old);
		sgt_record_refused(&st, "rotate.finish", r.old, r.old_spki, sgt_last_error());
		goto out;
	}
	/* The two-person rule, when OLD's policy asks for approvals. */
	if ((params = sgt_approve_params_rotate(r.new_, r.new_spki, r.started)) == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	if ((rc = sgt_approve_op_gate(&st, "rotate.finish", r.old, r.old_spki, sgt_approve_policy_name(&st, &rec), params,
				      &o.approvals, &approval)) != SGT_OK) {
		if (rc == SGT_ERR_VERDICT)
			sgt_record_refused(&st, "rotate.finish", r.old, r.old_spki, sgt_last_error());
		goto out;
	}
	sgt_time_iso(sgt_now(), r.finished);
	memcpy(rec.retired, r.finished, sizeof(rec.retired));
	snprintf(rel, sizeof(rel), "rotations/%s.yaml", r.old);
	snprintf(rec.retired_by, sizeof(rec.retired_by), "%s", rel);
	if ((rpath = sgt_rotation_path(&st, r.old, ".yaml")) == NULL || sgt_rotation_format(&r, &rb) != SGT_OK) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	if ((rc = sgt_tx_begin(&st, "rotate.finish", r.old, NULL, NULL, 0, &tx)) != SGT_OK)
		goto out;
	if ((rc = sgt_keyrec_update(&st, &rec)) != SGT_OK || (rc = sgt_tx_stage(tx, rpath, rb.p, rb.len, 0)) != SGT_OK)
		goto out;
	d = json_pack("{s:s, s:s, s:s, s:I}", "new", r.new_, "retired", rec.retired, "record", rpath, "stale_devices_on_old",
		      (json_int_t)stale);
	if (d != NULL && approval != NULL)
		json_object_set(d, "approval", approval);
	if ((rc = sgt_tx_record(tx, "rotate.finish", r.old, r.old_spki, d)) == SGT_OK)
		rc = sgt_tx_commit(tx);
	if (rc != SGT_OK) {
		if (!sgt_tx_committed(tx))
			sgt_hint("key '%s' was not retired, since it could not be recorded; the store is as before", r.old);
		goto out;
	}
	if (ctx->json)
		rc = cmd_json_print(json_pack("{s:s, s:s, s:s, s:I}", "old", r.old, "new", r.new_, "retired", rec.retired,
					      "stale_devices_on_old", (json_int_t)stale));
	else if (!sgt_quiet)
		printf("rotation '%s' -> '%s' finished: key '%s' retired on %s; it stays on the token and signs only with --fleet\n",
		       r.old, r.new_, r.old, rec.retired);
	if (stale > 0)
		sgt_warn("%ld stale devices (not seen lately) still trust only '%s': when they come back, sign a stepping stone for them with 'signet sign --key %s --fleet FLEET'",
			 stale, r.old, r.old);
out:
	json_decref(d);
	json_decref(params);
	json_decref(approval);
	free(p);
	free(rpath);
	sgt_buf_free(&rb);
	sgt_buf_free(&left);
	if (have_inv)
		sgt_inventory_release(&inv);
	sgt_tx_free(tx);
	sgt_store_release(&st);
	return rc;
}

int cmd_rotate(struct sgt_ctx *ctx, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;

	if (sub == NULL)
		return cmd_usage("rotate", "missing subcommand (start, verify, status, finish)");
	if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0)
		return cmd_help(help);
	if (strcmp(sub, "start") == 0)
		return rotate_start(ctx, argc - 1, argv + 1);
	if (strcmp(sub, "verify") == 0)
		return rotate_verify(ctx, argc - 1, argv + 1);
	if (strcmp(sub, "status") == 0)
		return rotate_status(ctx, argc - 1, argv + 1);
	if (strcmp(sub, "finish") == 0)
		return rotate_finish(ctx, argc - 1, argv + 1);
	return cmd_usage("rotate", "unknown subcommand '%s'", sub);
}
