/*
 * key.c: keys in custody.  A key is generated (or imported) on the token,
 * its custody attributes are read back rather than trusted, and only then
 * are the key record and the audit record written; if any step fails the
 * objects are destroyed and the store is left as it was.  There is no
 * function here, or anywhere in signet, that reads a private key out.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "anchor.h"
#include "audit.h"
#include "hsmguard.h"
#include "intent.h"
#include "key.h"
#include "p11.h"

int sgt_key_spki_sha256(EVP_PKEY *pk, char out[65])
{
	unsigned char *der = NULL;
	int len = pk != NULL ? i2d_PUBKEY(pk, &der) : -1;

	out[0] = '\0';
	if (len <= 0)
		return sgt_err(SGT_ERR_DATA, "cannot encode a public key: %s", sgt_ossl_why());
	sgt_sha256_hex(der, (size_t)len, out);
	OPENSSL_free(der);
	return SGT_OK;
}

static const struct {
	const char *word;
	const char *attr;
	size_t off;
	int want;
} custody_checks[] = {
	{ "sensitive", "CKA_SENSITIVE", offsetof(struct sgt_custody, sensitive), 1 },
	{ "not-extractable", "CKA_EXTRACTABLE", offsetof(struct sgt_custody, extractable), 0 },
	{ "always-sensitive", "CKA_ALWAYS_SENSITIVE", offsetof(struct sgt_custody, always_sensitive), 1 },
	{ "never-extractable", "CKA_NEVER_EXTRACTABLE", offsetof(struct sgt_custody, never_extractable), 1 },
	{ "local", "CKA_LOCAL", offsetof(struct sgt_custody, local), 1 },
	{ "private", "CKA_PRIVATE", offsetof(struct sgt_custody, private_), 1 },
	{ "on-token", "CKA_TOKEN", offsetof(struct sgt_custody, token), 1 },
	{ "not-copyable", "CKA_COPYABLE", offsetof(struct sgt_custody, copyable), 0 },
};
#define NCHECKS (sizeof(custody_checks) / sizeof(custody_checks[0]))

static int custody_value(const struct sgt_custody *c, size_t i)
{
	return *(const int *)((const char *)c + custody_checks[i].off);
}

void sgt_key_custody_words(const struct sgt_custody *c, struct sgt_buf *held, struct sgt_buf *missing)
{
	size_t i;

	for (i = 0; i < NCHECKS; i++) {
		int v = custody_value(c, i);
		struct sgt_buf *b = v == custody_checks[i].want ? held : missing;

		if (v < 0 || b == NULL)
			continue;	/* not reported by the token */
		sgt_buf_printf(b, "%s%s", b->len ? ", " : "", custody_checks[i].word);
	}
}

json_t *sgt_key_custody_json(const struct sgt_custody *c)
{
	json_t *j = json_object();

#define B(k, v) if ((v) >= 0) json_object_set_new(j, k, json_boolean(v))
	B("token", c->token);
	B("private", c->private_);
	B("sensitive", c->sensitive);
	B("extractable", c->extractable);
	B("always_sensitive", c->always_sensitive);
	B("never_extractable", c->never_extractable);
	B("local", c->local);
	B("copyable", c->copyable);
	B("modifiable", c->modifiable);
#undef B
	return j;
}

/*
 * What custody must hold.  Generated: all of it.  Imported: the token keeps
 * it sensitive and non-extractable from now on; the history attributes are
 * honestly false and are not counted against it.
 */
static int custody_shortfall(const struct sgt_custody *c, int imported, struct sgt_buf *why)
{
	size_t i;
	int n = 0;

	for (i = 0; i < NCHECKS; i++) {
		const char *w = custody_checks[i].word;
		int v = custody_value(c, i);

		if (imported && (strcmp(w, "always-sensitive") == 0 || strcmp(w, "never-extractable") == 0 ||
				 strcmp(w, "local") == 0))
			continue;
		if (strcmp(w, "not-copyable") == 0 && v < 0)
			continue;	/* CKA_COPYABLE is optional (PKCS#11 2.40) */
		if (v != custody_checks[i].want) {
			if (v < 0)
				sgt_buf_printf(why, "%s%s not reported", n ? ", " : "", custody_checks[i].attr);
			else
				sgt_buf_printf(why, "%s%s is %s", n ? ", " : "", custody_checks[i].attr, v ? "true" : "false");
			n++;
		}
	}
	return n;
}

static int make_record(struct sgt_p11 *p, CK_OBJECT_HANDLE pub, CK_OBJECT_HANDLE priv, const char *label,
		       const unsigned char *id, size_t idlen, const char *origin, const char *policy,
		       struct sgt_keyrec *rec)
{
	EVP_PKEY *pk = NULL;
	int rc;

	memset(rec, 0, sizeof(*rec));
	snprintf(rec->label, sizeof(rec->label), "%s", label);
	sgt_hex(id, idlen, rec->id);
	snprintf(rec->origin, sizeof(rec->origin), "%s", origin);
	snprintf(rec->policy, sizeof(rec->policy), "%s", policy ? policy : "");
	sgt_time_iso(sgt_now(), rec->created);
	if ((rc = sgt_p11_custody(p, priv, &rec->custody)) != SGT_OK ||
	    (rc = sgt_p11_pubkey(p, pub, &pk)) != SGT_OK ||
	    (rc = sgt_key_spki_sha256(pk, rec->spki_sha256)) != SGT_OK)
		goto out;
	snprintf(rec->algorithm, sizeof(rec->algorithm), "%s", sgt_alg_name(sgt_alg_of_pkey(pk)));
out:
	EVP_PKEY_free(pk);
	return rc;
}

/* Records and audits a new pair; on any failure destroys it again. */
static int commit_pair(const struct sgt_store *st, struct sgt_p11 *p, CK_OBJECT_HANDLE pub, CK_OBJECT_HANDLE priv,
		       const char *op, const unsigned char *id, size_t idlen, const char *origin,
		       const char *policy, const char *label, struct sgt_keyrec *rec)
{
	struct sgt_buf why = { 0 };
	json_t *details = NULL;
	int rc;

	if ((rc = make_record(p, pub, priv, label, id, idlen, origin, policy, rec)) != SGT_OK)
		goto undo;
	if (custody_shortfall(&rec->custody, strcmp(origin, "imported") == 0, &why) > 0) {
		rc = sgt_err(SGT_ERR_HSM, "token '%s' did not honour key custody for '%s' (%s); the key pair was destroyed",
			     p->token, label, why.p);
		sgt_hint("use a token that keeps keys sensitive and non-extractable");
		goto undo;
	}
	/* The new objects join the token's known-good copy before anything records them. */
	if ((rc = sgt_keyrec_save(st, rec)) != SGT_OK || (rc = sgt_hsm_snapshot_new(st)) != SGT_OK)
		goto undo;
	details = json_pack("{s:s, s:s, s:s, s:o}", "algorithm", rec->algorithm, "id", rec->id,
			    "origin", origin, "custody", sgt_key_custody_json(&rec->custody));
	if ((rc = sgt_audit_append(st, op, label, rec->spki_sha256, "ok", details)) != SGT_OK)
		goto undo;
	rc = sgt_intent_end(st);	/* the record is durable: the key record goes in place */
	goto out;
undo:
	sgt_intent_abort(st);
	if (sgt_p11_destroy(p, priv) != SGT_OK || sgt_p11_destroy(p, pub) != SGT_OK)
		sgt_warn("token '%s' may still hold objects labelled '%s'; 'signet audit custody' lists them", p->token, label);
out:
	json_decref(details);
	sgt_buf_free(&why);
	return rc;
}

/* The intent names the pair's CKA_ID before it exists, so an interrupted run's pair can be found. */
static int begin_pair(const struct sgt_store *st, const char *op, const char *label, const unsigned char *id)
{
	char hex[33];

	sgt_hex(id, 16, hex);
	return sgt_intent_begin(st, op, label, hex, NULL, 0);
}

static int check_new_label(const struct sgt_store *st, const char *label)
{
	int rc;

	if ((rc = sgt_label_check(label)) != SGT_OK)
		return rc;
	if (sgt_keyrec_exists(st, label)) {
		rc = sgt_err(SGT_ERR_DATA, "key '%s' already exists in custody; refusing to replace it", label);
		sgt_hint("pick another label; 'signet key list' shows the labels in use");
		return rc;
	}
	return SGT_OK;
}

int sgt_key_generate(const struct sgt_store *st, const struct sgt_pin_opts *opts, const char *label,
		     const char *alg, const char *policy, struct sgt_keyrec *out)
{
	enum sgt_alg a = sgt_alg_from_name(alg);
	struct sgt_p11 p;
	unsigned char id[16];
	CK_OBJECT_HANDLE pub, priv;
	int rc;

	memset(&p, 0, sizeof(p));
	if (a == SGT_ALG_NONE)
		return sgt_err(SGT_ERR_USAGE, "unknown key algorithm '%s' (use ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072 or rsa-4096)", alg);
	if ((rc = check_new_label(st, label)) != SGT_OK || (rc = sgt_random(id, sizeof(id))) != SGT_OK)
		return rc;
	if ((rc = sgt_p11_open_store(&p, st, opts, 1)) == SGT_OK && (rc = begin_pair(st, "key.generate", label, id)) == SGT_OK) {
		if ((rc = sgt_p11_generate(&p, a, label, id, sizeof(id), &pub, &priv)) == SGT_OK)
			rc = commit_pair(st, &p, pub, priv, "key.generate", id, sizeof(id), "generated", policy, label, out);
		else
			sgt_intent_abort(st);
	}
	sgt_p11_release(&p);
	return rc;
}

int sgt_key_import(const struct sgt_store *st, const struct sgt_pin_opts *opts, const char *label,
		   const char *keyfile, const char *policy, struct sgt_keyrec *out)
{
	struct sgt_p11 p;
	struct sgt_keyrec existing;
	unsigned char id[16];
	unsigned char *buf = NULL;
	size_t len = 0;
	EVP_PKEY *key = NULL;
	BIO *bio = NULL;
	CK_OBJECT_HANDLE pub, priv;
	char spki[65];
	int rc;

	memset(&p, 0, sizeof(p));
	if ((rc = check_new_label(st, label)) != SGT_OK || (rc = sgt_random(id, sizeof(id))) != SGT_OK)
		return rc;
	if ((rc = sgt_file_read(keyfile, 1 << 20, &buf, &len)) != SGT_OK)
		return rc;
	bio = BIO_new_mem_buf(buf, (int)len);
	key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	if (key == NULL) {
		const unsigned char *q = buf;

		ERR_clear_error();
		key = d2i_AutoPrivateKey(NULL, &q, (long)len);
	}
	if (key == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "'%s' is not a private key (PEM or DER): %s", keyfile, sgt_ossl_why());
		goto out;
	}
	if (sgt_alg_of_pkey(key) == SGT_ALG_NONE) {
		rc = sgt_err(SGT_ERR_DATA, "'%s' holds a key signet does not keep (use ECDSA P-256/P-384 or RSA 2048/3072/4096)", keyfile);
		goto out;
	}
	if ((rc = sgt_key_spki_sha256(key, spki)) != SGT_OK)
		goto out;
	if (sgt_key_find_spki(st, spki, &existing) == SGT_OK) {
		rc = sgt_err(SGT_ERR_DATA, "the key in '%s' is already in custody as '%s'", keyfile, existing.label);
		goto out;
	}
	if ((rc = sgt_p11_open_store(&p, st, opts, 1)) == SGT_OK && (rc = begin_pair(st, "key.import", label, id)) == SGT_OK) {
		if ((rc = sgt_p11_import(&p, key, label, id, sizeof(id), &pub, &priv)) == SGT_OK)
			rc = commit_pair(st, &p, pub, priv, "key.import", id, sizeof(id), "imported", policy, label, out);
		else
			sgt_intent_abort(st);
	}
	if (rc == SGT_OK && strcmp(out->spki_sha256, spki) != 0)
		rc = sgt_err(SGT_ERR_HSM, "token '%s' stored a different public key than '%s' holds", p.token, keyfile);
out:
	sgt_p11_release(&p);
	EVP_PKEY_free(key);
	BIO_free(bio);
	if (buf != NULL)
		OPENSSL_cleanse(buf, len);
	free(buf);
	return rc;
}

int sgt_key_pubkey(const struct sgt_store *st, const struct sgt_keyrec *rec, EVP_PKEY **out)
{
	struct sgt_p11 p;
	struct sgt_p11_obj *objs = NULL;
	unsigned char id[32];
	long idlen = sgt_unhex(rec->id, id, sizeof(id));
	size_t n = 0;
	char spki[65];
	int rc;

	*out = NULL;
	memset(&p, 0, sizeof(p));
	if (idlen <= 0)
		return sgt_err(SGT_ERR_DATA, "key record '%s' has a malformed id '%s'", rec->label, rec->id);
	/* Public key objects are not CKA_PRIVATE: no login, no PIN needed. */
	if ((rc = sgt_store_apply_env(st)) != SGT_OK)
		return rc;
	rc = sgt_p11_load(&p, st->cfg.module);
	p.guarded = 1;
	if (rc != SGT_OK || (rc = sgt_p11_open(&p, st->cfg.token, 0)) != SGT_OK ||
	    (rc = sgt_p11_find(&p, CKO_PUBLIC_KEY, id, (size_t)idlen, &objs, &n)) != SGT_OK)
		goto out;
	if (n == 0) {
		rc = sgt_err(SGT_ERR_VERDICT, "token '%s' holds no public key for '%s' (id %s)", st->cfg.token, rec->label, rec->id);
		sgt_hint("'signet audit custody' compares the token with the key records");
		goto out;
	}
	if ((rc = sgt_p11_pubkey(&p, objs[0].h, out)) != SGT_OK || (rc = sgt_key_spki_sha256(*out, spki)) != SGT_OK)
		goto out;
	if (strcmp(spki, rec->spki_sha256) != 0)
		rc = sgt_err(SGT_ERR_DATA, "the public key of '%s' on token '%s' (SPKI SHA-256 %s) is not the one recorded (%s)",
			     rec->label, st->cfg.token, spki, rec->spki_sha256);
out:
	if (rc != SGT_OK) {
		EVP_PKEY_free(*out);
		*out = NULL;
	}
	free(objs);
	sgt_p11_release(&p);
	return rc;
}

int sgt_key_find_spki(const struct sgt_store *st, const char *spki, struct sgt_keyrec *out)
{
	struct sgt_keyrec *recs = NULL;
	const struct sgt_keyrec *r;
	size_t n = 0;
	int rc = sgt_keyrec_list(st, &recs, &n);

	if (rc != SGT_OK)
		return rc;
	if ((r = sgt_keyrec_by_spki(recs, n, spki)) != NULL)
		*out = *r;
	free(recs);
	return r != NULL ? SGT_OK : SGT_ERR_VERDICT;
}

int sgt_key_custody_audit(const struct sgt_store *st, const struct sgt_pin_opts *opts, json_t **out)
{
	struct sgt_p11 p;
	struct sgt_p11_obj *objs = NULL;
	struct sgt_keyrec *recs = NULL;
	size_t nobj = 0, nrec = 0, i, j;
	char *matched = NULL;
	json_t *keys = json_array();
	int problems = 0, rc;

	*out = NULL;
	memset(&p, 0, sizeof(p));
	if ((rc = sgt_keyrec_list(st, &recs, &nrec)) != SGT_OK ||
	    (rc = sgt_p11_open_store(&p, st, opts, 0)) != SGT_OK ||
	    (rc = sgt_p11_find(&p, CKO_PRIVATE_KEY, NULL, 0, &objs, &nobj)) != SGT_OK)
		goto out;
	matched = calloc(nrec + 1, 1);
	if (matched == NULL || keys == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	for (i = 0; i < nobj; i++) {
		struct sgt_custody c;
		struct sgt_buf held = { 0 }, why = { 0 };
		const struct sgt_keyrec *rec = NULL;
		char idhex[129];
		json_t *k;
		int audit_key;

		sgt_hex(objs[i].id, objs[i].idlen, idhex);
		for (j = 0; j < nrec; j++)
			if (strcmp(recs[j].id, idhex) == 0) {
				rec = &recs[j];
				matched[j] = 1;
			}
		if ((rc = sgt_p11_custody(&p, objs[i].h, &c)) != SGT_OK)
			goto out;
		sgt_key_custody_words(&c, &held, NULL);
		/* The store's audit key (anchor.h) has no key record; it is held to the generated-key rules. */
		audit_key = rec == NULL && strcmp(objs[i].label, SGT_AUDIT_KEY_LABEL) == 0;
		k = json_pack("{s:s, s:s, s:s?, s:s, s:o}", "token_label", objs[i].label, "id", idhex,
			      "record", rec ? rec->label : NULL, "origin", rec ? rec->origin : audit_key ? "audit" : "unknown",
			      "custody", sgt_key_custody_json(&c));
		if (audit_key) {
			if (custody_shortfall(&c, 0, &why) > 0) {
				json_object_set_new(k, "problem", json_string(why.p));
				problems++;
			}
		} else if (rec == NULL) {
			json_object_set_new(k, "problem", json_string("on the token but has no key record"));
			problems++;
		} else if (custody_shortfall(&c, strcmp(rec->origin, "imported") == 0, &why) > 0) {
			json_object_set_new(k, "problem", json_string(why.p));
			problems++;
		}
		json_array_append_new(keys, k);
		sgt_buf_free(&held);
		sgt_buf_free(&why);
	}
	for (j = 0; j < nrec; j++) {
		if (matched[j])
			continue;
		json_array_append_new(keys, json_pack("{s:n, s:s, s:s, s:s, s:s}", "token_label", "id", recs[j].id,
						      "record", recs[j].label, "origin", recs[j].origin,
						      "problem", "recorded but the token no longer holds it"));
		problems++;
	}
	*out = json_pack("{s:s, s:O, s:i}", "token", st->cfg.token, "keys", keys, "problems", problems);
	rc = problems ? SGT_ERR_VERDICT : SGT_OK;
out:
	json_decref(keys);
	free(matched);
	free(objs);
	free(recs);
	sgt_p11_release(&p);
	return rc;
}
