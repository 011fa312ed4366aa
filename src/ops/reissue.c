/*
 * reissue.c: certificates for keys in custody (reissue.h): the reissue
 * core that `cert reissue` and `renew` share, and the pieces `cert issue`
 * and `cert import` use with it (policy choice, CA in custody, lint gate,
 * commit of a current certificate with its audit record).  Moved out of
 * cmd_cert.c so that no command calls into another.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "audit.h"
#include "cert.h"
#include "certstore.h"
#include "intent.h"
#include "key.h"
#include "keyrec.h"
#include "lint.h"
#include "policy.h"
#include "reissue.h"
#include "token.h"
#include "tx.h"

/* --policy, else the key's policy, else the store's default; NULL pol when none is named. */
int sgt_cert_policy_for(const struct sgt_store *st, const char *opt, const struct sgt_keyrec *rec,
			struct sgt_policy **pol)
{
	const char *name = opt;

	*pol = NULL;
	if (name == NULL && rec != NULL && rec->policy[0] != '\0')
		name = rec->policy;
	if (name == NULL && st != NULL)
		name = st->cfg.policy;
	if (name == NULL)
		return SGT_OK;
	return sgt_policy_find(st != NULL ? st->dir : NULL, name, pol);
}

/* Refuses a certificate that fails lint, listing why on stderr. */
int sgt_cert_lint_gate(X509 *x, const struct sgt_policy *pol, time_t now, int flags, const char *label)
{
	struct sgt_lint l = { 0 };
	int rc = sgt_lint_cert(x, pol, now, flags, &l);

	if (rc == SGT_OK && l.errors > 0) {
		size_t i;

		rc = sgt_err(SGT_ERR_VERDICT, "the new certificate for '%s' fails lint (policy %s); nothing written",
			     label, pol != NULL ? pol->name : "default");
		for (i = 0; i < l.n; i++)
			if (l.items[i].level == SGT_LINT_ERROR)
				fprintf(stderr, "  %s: %s\n", l.items[i].code, l.items[i].text);
	}
	sgt_lint_release(&l);
	return rc;
}

int sgt_cert_pubkey_matches(EVP_PKEY *pub, const struct sgt_keyrec *rec)
{
	char spki[65];

	if (sgt_key_spki_sha256(pub, spki) != SGT_OK)
		return SGT_ERR_DATA;
	if (strcmp(spki, rec->spki_sha256) != 0)
		return sgt_err(SGT_ERR_HSM, "the token's public key for '%s' (SPKI %.16s...) is not the recorded one "
			       "(%.16s...)", rec->label, spki, rec->spki_sha256);
	return SGT_OK;
}

/* signet makes no Ed25519 certificates: OpenSSL cannot sign one with a key it does not hold. */
int sgt_cert_key_ok(const struct sgt_keyrec *rec)
{
	if (strcmp(rec->algorithm, "ed25519") == 0)
		return sgt_err(SGT_ERR_DATA, "key '%s' (ed25519) has no certificates: Ed25519 keys sign MCUboot images "
			       "only (sign --format mcuboot), which need none", rec->label);
	return SGT_OK;
}

void sgt_ca_release(struct sgt_ca *ca)
{
	X509_free(ca->cert);
	EVP_PKEY_free(ca->priv);
	EVP_PKEY_free(ca->pub);
	memset(ca, 0, sizeof(*ca));
}

int sgt_ca_load(const struct sgt_store *st, struct sgt_token *tok, const char *label, struct sgt_ca *ca)
{
	char spki[65];
	int rc;

	memset(ca, 0, sizeof(*ca));
	if ((rc = sgt_label_check(label)) != SGT_OK || (rc = sgt_keyrec_load(st, label, &ca->rec)) != SGT_OK ||
	    (rc = sgt_cert_key_ok(&ca->rec)) != SGT_OK || (rc = sgt_cert_store_current(st, label, &ca->cert)) != SGT_OK)
		return rc;
	if (ca->cert == NULL || !sgt_cert_is_ca(ca->cert)) {
		rc = sgt_err(SGT_ERR_DATA, "key '%s' has no CA certificate to sign with", label);
		sgt_hint("make one with 'signet cert issue %s --as-ca'", label);
		return rc;
	}
	if ((rc = sgt_cert_spki_sha256(ca->cert, spki)) != SGT_OK)
		return rc;
	if (strcmp(spki, ca->rec.spki_sha256) != 0)
		return sgt_err(SGT_ERR_DATA, "the current certificate of '%s' is not for its key", label);
	if ((rc = sgt_token_key(tok, &ca->rec, &ca->priv, &ca->pub)) != SGT_OK)
		return rc;
	return sgt_cert_pubkey_matches(ca->pub, &ca->rec);
}

/* Finds the CA in custody whose current certificate issued x (by name and signature). */
static int ca_find_issuer(const struct sgt_store *st, struct sgt_token *tok, X509 *x, struct sgt_ca *ca)
{
	struct sgt_keyrec *recs = NULL;
	size_t n = 0, i;
	int rc = sgt_keyrec_list(st, &recs, &n);

	if (rc != SGT_OK)
		return rc;
	rc = SGT_ERR_VERDICT;
	for (i = 0; i < n && rc == SGT_ERR_VERDICT; i++) {
		X509 *c = NULL;

		if (sgt_cert_store_current(st, recs[i].label, &c) == SGT_OK && c != NULL && sgt_cert_is_ca(c) &&
		    X509_NAME_cmp(X509_get_subject_name(c), X509_get_issuer_name(x)) == 0 &&
		    X509_verify(x, X509_get0_pubkey(c)) == 1)
			rc = sgt_ca_load(st, tok, recs[i].label, ca);
		X509_free(c);
	}
	ERR_clear_error();
	free(recs);
	return rc;
}

static void time_fields(json_t *j, X509 *x, time_t now)
{
	time_t nb = 0, na = 0;
	char b1[32], b2[32];

	if (sgt_cert_times(x, &nb, &na) != SGT_OK)
		return;
	sgt_time_iso(nb, b1);
	sgt_time_iso(na, b2);
	json_object_set_new(j, "not_before", json_string(b1));
	json_object_set_new(j, "not_after", json_string(b2));
	/* Floor division so an expired certificate shows -1 on its first day. */
	json_object_set_new(j, "days_left", json_integer((json_int_t)((na - now) >= 0 ? (na - now) / 86400
									       : -((now - na + 86399) / 86400))));
}

/* Common fields of a certificate for output. */
json_t *sgt_cert_json(X509 *x, time_t now)
{
	char serial[128], subject[512], issuer[512], spki[65];
	json_t *j;

	sgt_cert_serial_hex(x, serial, sizeof(serial));
	sgt_cert_name(X509_get_subject_name(x), subject, sizeof(subject));
	sgt_cert_name(X509_get_issuer_name(x), issuer, sizeof(issuer));
	if (sgt_cert_spki_sha256(x, spki) != SGT_OK)
		spki[0] = '\0';
	j = json_pack("{s:s, s:s, s:s, s:s}", "subject", subject, "issuer", issuer, "serial", serial,
		      "spki_sha256", spki);
	if (j != NULL)
		time_fields(j, x, now);
	return j;
}

json_t *sgt_notes_json(const struct sgt_notes *notes)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a != NULL && i < notes->n; i++)
		json_array_append_new(a, json_string(notes->text[i]));
	return a;
}

/* The newest real time of a record: its real_time when SIGNET_NOW moved its time, else its time. */
static int newest_time(void *ctx, json_t *rec)
{
	const char *real = json_string_value(json_object_get(rec, "real_time"));
	time_t t, *max = ctx;

	if (sgt_time_parse(real != NULL ? real : json_string_value(json_object_get(rec, "time")), &t) == 0 && t > *max)
		*max = t;
	return SGT_OK;
}

int sgt_cert_clock_check(const struct sgt_store *st, time_t now, const char *op, const char *label, const char *spki,
			 int record)
{
	char a[32], b[32];
	time_t last = 0;
	int rc;

	/*
	 * The host's clock against the newest time in the whole log (a slow
	 * host's own records, a refusal too, are dated back).  A time chosen on
	 * purpose (SIGNET_NOW: tests, drills) is not a slow clock: records made
	 * under it keep the real one in real_time, and that is what is compared.
	 */
	(void)now;
	now = time(NULL);
	sgt_silent++;
	rc = sgt_audit_foreach(st, 0, newest_time, &last);
	sgt_silent--;
	if (rc != SGT_OK || last <= now + SGT_CLOCK_SLACK)
		return SGT_OK;	/* an unreadable log is the audit append's to report */
	sgt_time_iso(now, a);
	sgt_time_iso(last, b);
	rc = sgt_err(SGT_ERR_VERDICT, "the clock says %s, earlier than the newest audit record of '%s/audit.log' (%s): "
		     "no certificate for '%s' is issued or made current with a clock that is behind", a, st->dir, b, label);
	sgt_hint("set this host's clock right (NTP, timedatectl), then run the command again");
	if (record)
		sgt_record_refused(st, op, label, spki, sgt_last_error());
	return rc;
}

/*
 * Writes x as the new current certificate of label and records it; undoes
 * the files when the audit record cannot be written (fail closed).
 */
int sgt_cert_commit(struct sgt_store *st, const char *label, X509 *x, const char *op, time_t now, json_t *report)
{
	struct sgt_cert_saved saved;
	struct sgt_tx *tx = NULL;
	json_t *details = NULL;
	char spki[65], day[32];
	time_t nb, na;
	int rc;

	if ((rc = sgt_cert_spki_sha256(x, spki)) != SGT_OK ||
	    (rc = sgt_cert_clock_check(st, now, op, label, spki, 1)) != SGT_OK)
		return rc;
	/* A certificate that cannot be used now is never made current (a clock gone wrong, an old file). */
	if (sgt_cert_times(x, &nb, &na) != SGT_OK)
		return sgt_err(SGT_ERR_DATA, "the certificate for '%s' has unreadable validity dates; nothing written",
			       label);
	if (na <= now || nb > now) {
		sgt_time_iso(na <= now ? na : nb, day);
		rc = sgt_err(SGT_ERR_VERDICT, "the certificate for '%s' %s %.10s, so it is not made the current one; "
			     "nothing written", label, na <= now ? "expired on" : "is not valid before", day);
		return rc;
	}
	if ((rc = sgt_tx_begin(st, op, label, NULL, NULL, 0, &tx)) != SGT_OK)
		return rc;
	/* Staged in the transaction: put in place only once the record is durable. */
	if ((rc = sgt_cert_store_save(st, label, x, &saved)) != SGT_OK) {
		sgt_tx_free(tx);
		return rc;
	}
	json_object_set_new(report, "path", json_string(saved.path));
	details = json_pack("{s:O?, s:O?, s:O?, s:s}", "serial", json_object_get(report, "serial"),
			    "subject", json_object_get(report, "subject"),
			    "not_after", json_object_get(report, "not_after"), "path", saved.path);
	/* The approvals the gate counted (approve.h), when the key's policy asks for them. */
	if (details != NULL && json_object_get(report, "approval") != NULL)
		json_object_set(details, "approval", json_object_get(report, "approval"));
	if ((rc = sgt_tx_record(tx, op, label, spki, details)) == SGT_OK)
		rc = sgt_tx_commit(tx);
	if (rc != SGT_OK && !sgt_tx_committed(tx))
		sgt_hint("the certificate for '%s' was not kept, since it could not be recorded; the store is as before",
			 label);
	sgt_tx_free(tx);	/* rolls back unless committed */
	json_decref(details);
	sgt_cert_saved_release(&saved);
	return rc;
}

int sgt_reissue(struct sgt_store *st, struct sgt_token *tok, const struct sgt_keyrec *rec,
			 X509 *old, const char *policy_name, long days, const char *op, json_t *report)
{
	struct sgt_policy *pol = NULL;
	struct sgt_cert_spec spec;
	struct sgt_notes notes = { { 0 }, 0 };
	struct sgt_ca ca = { 0 };
	EVP_PKEY *priv = NULL, *pub = NULL;
	X509 *x = NULL;
	char old_serial[128];
	json_t *info;
	int rc, as_ca = sgt_cert_is_ca(old);

	memset(&spec, 0, sizeof(spec));
	spec.now = sgt_now();
	/* nothing is signed with a clock behind the log (the refusal is recorded below) */
	if ((rc = sgt_cert_clock_check(st, spec.now, op, rec->label, rec->spki_sha256, 0)) != SGT_OK)
		goto out;
	if ((rc = sgt_cert_key_ok(rec)) != SGT_OK || (rc = sgt_cert_policy_for(st, policy_name, rec, &pol)) != SGT_OK ||
	    (rc = sgt_token_key(tok, rec, &priv, &pub)) != SGT_OK || (rc = sgt_cert_pubkey_matches(pub, rec)) != SGT_OK)
		goto out;
	spec.pub = pub;
	spec.signer = priv;
	spec.pol = as_ca ? NULL : pol;
	spec.days = days;
	if (days == 0 && as_ca) {
		time_t nb, na;

		/* A CA keeps its lifetime; leaves take the policy's. */
		spec.days = sgt_cert_times(old, &nb, &na) == SGT_OK && na > nb ? (long)((na - nb) / 86400) : 3650;
	}
	if (!sgt_cert_self_signed(old)) {
		rc = ca_find_issuer(st, tok, old, &ca);
		if (rc == SGT_ERR_VERDICT) {
			char issuer[512];

			sgt_cert_name(X509_get_issuer_name(old), issuer, sizeof(issuer));
			rc = sgt_err(SGT_ERR_VERDICT, "the certificate of '%s' was issued by '%s', whose key is not in "
				     "custody, so signet cannot reissue it", rec->label, issuer);
			sgt_hint("make a request with 'signet cert csr %s', have that CA sign it, then "
				 "'signet cert import %s FILE'", rec->label, rec->label);
		}
		if (rc != SGT_OK)
			goto out;
		spec.issuer = ca.cert;
		spec.signer = ca.priv;
	}
	if ((rc = sgt_cert_reissue(old, &spec, &x, &notes)) != SGT_OK ||
	    (rc = sgt_cert_check_same_key(old, x, pub, ca.pub != NULL ? ca.pub : pub)) != SGT_OK ||
	    (rc = sgt_cert_lint_gate(x, spec.pol, spec.now, as_ca ? SGT_LINT_AS_CA : 0, rec->label)) != SGT_OK)
		goto out;
	if ((info = sgt_cert_json(x, spec.now)) == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	sgt_cert_serial_hex(old, old_serial, sizeof(old_serial));
	json_object_set_new(report, "label", json_string(rec->label));
	json_object_update(report, info);
	json_decref(info);
	json_object_set_new(report, "previous_serial", json_string(old_serial));
	json_object_set_new(report, "policy", pol != NULL ? json_string(pol->name) : json_null());
	json_object_set_new(report, "notes", sgt_notes_json(&notes));
	if ((rc = sgt_cert_commit(st, rec->label, x, op, spec.now, report)) != SGT_OK)
		goto out;
out:
	/* Turned down (issuer not in custody, key mismatch, lint): on record, nothing else changed. */
	if (rc == SGT_ERR_VERDICT)
		sgt_record_refused(st, op, rec->label, rec->spki_sha256, sgt_last_error());
	sgt_notes_release(&notes);
	X509_free(x);
	sgt_ca_release(&ca);
	EVP_PKEY_free(priv);
	EVP_PKEY_free(pub);
	sgt_policy_free(pol);
	return rc;
}

