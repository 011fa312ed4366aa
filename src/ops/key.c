/*
 * key.c: keys in custody.  A key is generated (or imported) on the token,
 * its custody attributes are read back rather than trusted, and only then
 * are the key record and the audit record written; if any step fails the
 * objects are destroyed and the store is left as it was.  There is no
 * function here, or anywhere in signet, that reads a private key out.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "anchor.h"
#include "audit.h"
#include "hsmguard.h"
#include "intent.h"
#include "key.h"
#include "keyrec.h"
#include "keyrec_stage.h"
#include "p11.h"
#include "policy.h"
#include "session.h"
#include "tx.h"

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

		if (imported == 1 && (strcmp(w, "always-sensitive") == 0 || strcmp(w, "never-extractable") == 0 ||
				 strcmp(w, "local") == 0))
			continue;
		if (strcmp(w, "not-copyable") == 0 && (v < 0 || imported == 2))
			continue;	/* CKA_COPYABLE is optional (PKCS#11 2.40); vendor tools leave it true */
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

/*
 * Object files of the embedded token made since before (sgt_hsm_objects
 * at the start of the pair's intent): what an undone pair left behind.
 * SoftHSM2 keeps an object whose file it could not finish (an I/O error
 * while it wrote or read it back) out of its own list, so C_DestroyObject
 * cannot remove it; only its file says it is there.
 */
static size_t files_left(const struct sgt_store *st, json_t *before)
{
	json_t *now = NULL, *v;
	size_t i, j, n = 0;

	if (before == NULL || sgt_hsm_objects(st, &now) != SGT_OK || now == NULL)
		return 0;
	json_array_foreach(now, i, v) {
		int known = 0;

		for (j = 0; j < json_array_size(before) && !known; j++)
			known = json_equal(v, json_array_get(before, j));
		n += !known;
	}
	json_decref(now);
	return n;
}

/*
 * Ends the intent of a pair that was undone: rolled back when the token
 * holds nothing of it; otherwise left in place, so that the next command's
 * recovery removes what is left (intent.c: destroy_orphan, then the
 * files no object list names go to hsm/quarantine).  Returns how many
 * object files were left.
 */
static size_t end_undone(struct sgt_tx *tx, const struct sgt_store *st, json_t *before, int destroyed)
{
	size_t left = files_left(st, before);

	if (left == 0 && destroyed)
		sgt_tx_free(tx);
	else
		sgt_tx_leave(tx);
	return left;
}

/*
 * Records and audits a new pair in tx (taken: committed or rolled back); on
 * any failure destroys the pair again, before the intent ends, and says
 * exactly what was and was not destroyed.
 */
static int commit_pair(struct sgt_tx *tx, const struct sgt_store *st, struct sgt_p11 *p, CK_OBJECT_HANDLE pub,
		       CK_OBJECT_HANDLE priv, const char *op, const unsigned char *id, size_t idlen, const char *origin,
		       const char *policy, const char *label, json_t *before, struct sgt_keyrec *rec)
{
	struct sgt_buf why = { 0 };
	json_t *details = NULL;
	size_t left;
	int rc, shortfall = 0, destroyed;

	if ((rc = make_record(p, pub, priv, label, id, idlen, origin, policy, rec)) != SGT_OK)
		goto undo;
	if (custody_shortfall(&rec->custody, strcmp(origin, "imported") == 0, &why) > 0) {
		shortfall = 1;
		rc = SGT_ERR_HSM;
		goto undo;
	}
	/* The new objects join the token's known-good copy before anything records them. */
	if ((rc = sgt_keyrec_stage(tx, st, rec, SGT_TX_EXCL)) != SGT_OK || (rc = sgt_hsm_snapshot_new(st)) != SGT_OK)
		goto undo;
	details = json_pack("{s:s, s:s, s:s, s:o}", "algorithm", rec->algorithm, "id", rec->id,
			    "origin", origin, "custody", sgt_key_custody_json(&rec->custody));
	/* The record is durable: the key record goes in place. */
	if ((rc = sgt_tx_record(tx, op, label, rec->spki_sha256, details)) == SGT_OK)
		rc = sgt_tx_commit(tx);
	if (rc == SGT_OK || sgt_tx_committed(tx)) {
		sgt_tx_free(tx);
		goto out;
	}
undo:
	/* Destroyed while the intent still names the pair: a kill here leaves it to the next command. */
	destroyed = sgt_p11_destroy(p, priv) == SGT_OK;
	destroyed = sgt_p11_destroy(p, pub) == SGT_OK && destroyed;
	left = end_undone(tx, st, before, destroyed);
	if (shortfall && destroyed && left == 0)
		sgt_err(rc, "token '%s' did not honour key custody for '%s' (%s); the key pair was destroyed", p->token, label,
			why.p);
	else if (shortfall && destroyed)
		sgt_err(rc, "token '%s' did not honour key custody for '%s' (%s); the token no longer lists the key pair, "
			"but %zu of its object files remain%s: the next signet command moves them to hsm/quarantine",
			p->token, label, why.p, left, left == 1 ? "s" : "");
	else if (shortfall)
		sgt_err(rc, "token '%s' did not honour key custody for '%s' (%s), and the key pair could not be destroyed: "
			"the next signet command destroys it", p->token, label, why.p);
	else if (!destroyed || left > 0)
		sgt_hint("token '%s' still holds %s of the key pair '%s', which was not recorded; the next signet command "
			 "removes %s", p->token, destroyed ? "object files" : "objects", label, destroyed ? "them" : "it");
	if (shortfall && (!destroyed || left > 0))
		sgt_hint("the token did not finish writing the key (an I/O error?); 'signet audit custody' lists what it holds");
	else if (shortfall)
		sgt_hint("use a token that keeps keys sensitive and non-extractable");
out:
	json_decref(details);
	sgt_buf_free(&why);
	return rc;
}

/* The intent names the pair's CKA_ID before it exists, so an interrupted run's pair can be found. */
static int begin_pair(struct sgt_store *st, const char *op, const char *label, const unsigned char *id,
		      struct sgt_tx **tx, json_t **before)
{
	char hex[33];
	int rc;

	sgt_hex(id, 16, hex);
	*before = NULL;
	if ((rc = sgt_tx_begin(st, op, label, hex, NULL, 0, tx)) != SGT_OK)
		return rc;
	/* the embedded token's object files now: what appears after is the pair's */
	if ((rc = sgt_hsm_objects(st, before)) != SGT_OK) {
		sgt_tx_free(*tx);
		*tx = NULL;
	}
	return rc;
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

/*
 * A label already used as CKA_LABEL on the token (by a vendor tool, another
 * application, or a key signet lost the record of) would make two keys
 * that every label-based tool confuses: refused before anything is made.
 */
static int label_free_on_token(struct sgt_p11 *p, const char *label)
{
	struct sgt_p11_obj *objs = NULL;
	size_t n = 0;
	int rc = sgt_p11_find_label(p, label, &objs, &n);

	free(objs);
	if (rc != SGT_OK || n == 0)
		return rc;
	rc = sgt_err(SGT_ERR_DATA, "token '%s' already holds %zu object%s labelled '%s'; refusing to make another",
		     p->token, n, n == 1 ? "" : "s", label);
	sgt_hint("pick another label, or take the existing key into custody with 'signet key adopt %s --uri \"pkcs11:object=%s\"'",
		 label, label);
	return rc;
}

int sgt_key_generate(struct sgt_store *st, const struct sgt_pin_opts *opts, const char *label,
		     const char *alg, const char *policy, struct sgt_keyrec *out)
{
	enum sgt_alg a = sgt_alg_from_name(alg);
	struct sgt_tx *tx = NULL;
	struct sgt_p11 p;
	unsigned char id[16];
	CK_OBJECT_HANDLE pub, priv;
	json_t *before = NULL;
	int rc;

	memset(&p, 0, sizeof(p));
	if (a == SGT_ALG_NONE)
		return sgt_err(SGT_ERR_USAGE, "unknown key algorithm '%s' (use ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072 or rsa-4096)", alg);
	if ((rc = check_new_label(st, label)) != SGT_OK || (rc = sgt_random(id, sizeof(id))) != SGT_OK)
		return rc;
	if ((rc = sgt_session_open(&p, st, opts, SGT_SESSION_RW | SGT_SESSION_LOGIN, NULL)) == SGT_OK && (rc = label_free_on_token(&p, label)) == SGT_OK &&
	    (rc = begin_pair(st, "key.generate", label, id, &tx, &before)) == SGT_OK) {
		if ((rc = sgt_p11_generate(&p, a, label, id, sizeof(id), &pub, &priv)) == SGT_OK)
			rc = commit_pair(tx, st, &p, pub, priv, "key.generate", id, sizeof(id), "generated", policy, label,
					 before, out);
		else if (end_undone(tx, st, before, 1) > 0)
			sgt_hint("the token left files of the unfinished pair; the next signet command moves them to hsm/quarantine");
	}
	sgt_session_close(&p);
	json_decref(before);
	return rc;
}

/* Asks on the terminal (OpenSSL's prompt) only when there is one; notes that it was asked. */
struct pass_ask {
	int asked, no_tty;
};

static int pass_cb(char *out, int size, int rwflag, void *u)
{
	struct pass_ask *pw = u;
	int fd;

	pw->asked = 1;
	if ((fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY)) < 0) {
		pw->no_tty = 1;
		return -1;
	}
	close(fd);
	return PEM_def_callback(out, size, rwflag, NULL);
}

int sgt_key_import(struct sgt_store *st, const struct sgt_pin_opts *opts, const char *label,
		   const char *keyfile, const char *policy, struct sgt_keyrec *out)
{
	struct sgt_tx *tx = NULL;
	struct sgt_p11 p;
	struct sgt_keyrec existing;
	unsigned char id[16];
	unsigned char *buf = NULL;
	size_t len = 0;
	EVP_PKEY *key = NULL;
	BIO *bio = NULL;
	struct pass_ask pw = { 0, 0 };
	CK_OBJECT_HANDLE pub, priv;
	json_t *before = NULL;
	char spki[65];
	int rc;

	memset(&p, 0, sizeof(p));
	if ((rc = check_new_label(st, label)) != SGT_OK || (rc = sgt_random(id, sizeof(id))) != SGT_OK)
		return rc;
	if ((rc = sgt_file_read(keyfile, 1 << 20, &buf, &len)) != SGT_OK)
		return rc;
	bio = BIO_new_mem_buf(buf, (int)len);
	key = bio ? PEM_read_bio_PrivateKey(bio, NULL, pass_cb, &pw) : NULL;
	if (key == NULL && pw.asked) {
		/* encrypted: one clear line, never a second prompt or a DER retry */
		rc = pw.no_tty ? sgt_err(SGT_ERR_DATA, "'%s' is an encrypted private key and there is no terminal to ask "
					 "for its passphrase", keyfile)
			       : sgt_err(SGT_ERR_DATA, "cannot decrypt '%s': %s", keyfile, sgt_ossl_why());
		if (pw.no_tty)
			sgt_hint("run 'signet key import' on a terminal, or decrypt it first (openssl pkey -in '%s')",
				 keyfile);
		goto out;
	}
	if (key == NULL) {
		const unsigned char *q = buf;

		ERR_clear_error();
		key = d2i_AutoPrivateKey(NULL, &q, (long)len);
	}
	if (key == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "'%s' is not a private key (PEM or DER): %s", keyfile, sgt_ossl_why());
		goto out;
	}
	if (sgt_alg_of_pkey(key) == SGT_ALG_NONE || sgt_alg_of_pkey(key) == SGT_ALG_ED25519) {
		rc = sgt_err(SGT_ERR_DATA, "'%s' holds a key signet does not keep as imported (use ECDSA P-256/P-384 or RSA 2048/3072/4096; Ed25519 keys are generated on the token)", keyfile);
		goto out;
	}
	if ((rc = sgt_key_spki_sha256(key, spki)) != SGT_OK)
		goto out;
	if (sgt_key_find_spki(st, spki, &existing) == SGT_OK) {
		rc = sgt_err(SGT_ERR_DATA, "the key in '%s' is already in custody as '%s'", keyfile, existing.label);
		goto out;
	}
	if ((rc = sgt_session_open(&p, st, opts, SGT_SESSION_RW | SGT_SESSION_LOGIN, NULL)) == SGT_OK && (rc = begin_pair(st, "key.import", label, id, &tx, &before)) == SGT_OK) {
		if ((rc = sgt_p11_import(&p, key, label, id, sizeof(id), &pub, &priv)) == SGT_OK)
			rc = commit_pair(tx, st, &p, pub, priv, "key.import", id, sizeof(id), "imported", policy, label,
					 before, out);
		else if (end_undone(tx, st, before, 1) > 0)
			sgt_hint("the token left files of the unfinished pair; the next signet command moves them to hsm/quarantine");
	}
	if (rc == SGT_OK && strcmp(out->spki_sha256, spki) != 0)
		rc = sgt_err(SGT_ERR_HSM, "token '%s' stored a different public key than '%s' holds", p.token, keyfile);
out:
	sgt_session_close(&p);
	json_decref(before);
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
	if ((rc = sgt_session_open(&p, st, NULL, 0, NULL)) != SGT_OK ||
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
	sgt_session_close(&p);
	return rc;
}

int sgt_key_uris(const struct sgt_store *st, const struct sgt_keyrec *recs, size_t n, char **uris)
{
	struct sgt_p11 p;
	size_t i;
	int rc;

	memset(&p, 0, sizeof(p));
	for (i = 0; i < n; i++)
		uris[i] = NULL;
	if (n == 0)
		return SGT_OK;
	/* Token information and public key objects: no login, no PIN needed. */
	if ((rc = sgt_session_open(&p, st, NULL, 0, NULL)) != SGT_OK)
		goto out;
	for (i = 0; i < n && rc == SGT_OK; i++) {
		unsigned char id[32];
		long idlen = sgt_unhex(recs[i].id, id, sizeof(id));

		if (idlen <= 0)
			rc = sgt_err(SGT_ERR_DATA, "key record '%s' has a malformed id '%s'", recs[i].label, recs[i].id);
		else
			/*
			 * signet labels both halves of the pairs it makes or imports alike;
			 * an adopted pair's private label is readable only after a login
			 * and may differ from its public one, so its URI names it by id.
			 */
			rc = sgt_p11_key_uri(&p, id, (size_t)idlen, strcmp(recs[i].origin, "adopted") != 0, &uris[i]);
	}
out:
	if (rc != SGT_OK)
		for (i = 0; i < n; i++) {
			free(uris[i]);
			uris[i] = NULL;
		}
	sgt_session_close(&p);
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
	    (rc = sgt_session_open(&p, st, opts, SGT_SESSION_LOGIN, NULL)) != SGT_OK ||
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
		if (rec != NULL && rec->retired[0])	/* kept on the token for shelved devices: not a problem */
			json_object_set_new(k, "retired", json_string(rec->retired));
		if (audit_key) {
			if (custody_shortfall(&c, 0, &why) > 0) {
				json_object_set_new(k, "problem", json_string(why.p));
				problems++;
			}
		} else if (rec == NULL) {
			json_object_set_new(k, "problem", json_string("on the token but has no key record"));
			problems++;
		} else if (custody_shortfall(&c, strcmp(rec->origin, "imported") == 0 ? 1 : strcmp(rec->origin, "adopted") == 0 ? 2 : 0,
					     &why) > 0) {
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
	sgt_session_close(&p);
	return rc;
}

/* Lists objs as "'label' id 01a2" for an ambiguity message. */
static void list_objs(const struct sgt_p11_obj *objs, size_t n, struct sgt_buf *b)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char hex[129];

		sgt_hex(objs[i].id, objs[i].idlen, hex);
		sgt_buf_printf(b, "%s'%s' (id %s)", i ? ", " : "", objs[i].label, hex[0] ? hex : "none");
	}
}

/*
 * The one private key named by --id or a URI.  A URI that names a public
 * key (type=public) leads to the private key with the same CKA_ID.
 */
static int find_private(struct sgt_p11 *p, const char *idhex, const char *uri, struct sgt_p11_obj *out)
{
	struct sgt_p11_obj *objs = NULL;
	size_t n = 0, i, npriv = 0;
	unsigned char id[64];
	long idlen;
	struct sgt_buf b = { 0 };
	const char *what = uri ? uri : idhex;
	int rc, audit_key = 0;

	if (uri != NULL)
		rc = sgt_p11_find_uri(p, uri, CKO_PRIVATE_KEY, 0, &objs, &n);
	else if ((idlen = sgt_unhex(idhex, id, sizeof(id))) <= 0)
		return sgt_err(SGT_ERR_USAGE, "--id '%s' is not a hex CKA_ID", idhex);
	else
		rc = sgt_p11_find(p, CKO_PRIVATE_KEY, id, (size_t)idlen, &objs, &n);
	if (rc != SGT_OK)
		return rc;
	/* A public key or certificate named by the URI stands for the private key with its id. */
	if (n == 1 && objs[0].cls != CKO_PRIVATE_KEY && objs[0].idlen > 0) {
		struct sgt_p11_obj *priv = NULL;
		size_t m = 0;

		memcpy(id, objs[0].id, objs[0].idlen);
		idlen = (long)objs[0].idlen;
		free(objs);
		objs = NULL;
		if ((rc = sgt_p11_find(p, CKO_PRIVATE_KEY, id, (size_t)idlen, &priv, &m)) != SGT_OK)
			return rc;
		objs = priv;
		n = m;
	}
	/* The store's audit key signs audit heads and nothing else: never a match. */
	for (i = 0; i < n;) {
		if (strcmp(objs[i].label, SGT_AUDIT_KEY_LABEL) == 0) {
			objs[i] = objs[--n];
			audit_key = 1;
		} else {
			i++;
		}
	}
	for (i = 0; i < n; i++)
		npriv += objs[i].cls == CKO_PRIVATE_KEY;
	if (npriv == 0 && audit_key) {
		rc = sgt_err(SGT_ERR_DATA, "'%s' names the store's audit key ('%s'), which signs audit heads and nothing else",
			     what, SGT_AUDIT_KEY_LABEL);
	} else if (npriv == 0) {
		rc = sgt_err(SGT_ERR_DATA, "no private key on token '%s' matches '%s'", p->token, what);
		sgt_hint("'pkcs11-tool --list-objects --login' shows what the token holds");
	} else if (n > 1) {
		list_objs(objs, n, &b);
		rc = sgt_err(SGT_ERR_DATA, "'%s' is ambiguous: %zu objects on token '%s' match: %s", what, n, p->token, b.p);
		sgt_hint("narrow the URI with id=%%XX (pkcs11-tool --list-objects shows ids), or use --id HEX");
	} else {
		*out = objs[0];
		rc = SGT_OK;
	}
	sgt_buf_free(&b);
	free(objs);
	return rc;
}

/*
 * Custody of an adopted key is judged against the policy's custody list
 * (default: sensitive and not extractable).  Returns the number of
 * shortfalls, described in why; extractable/not sensitive are counted in
 * *hard as well, since only --accept-extractable lets those through.
 */
static int adopt_shortfall(const struct sgt_custody *c, const struct sgt_policy *pol, struct sgt_buf *why, int *hard)
{
	static const char *const dflt[] = { "sensitive", "not-extractable" };
	size_t i, j, nreq = pol && pol->ncustody ? pol->ncustody : 2;
	int n = 0;

	*hard = 0;
	if (c->extractable != 0) {
		sgt_buf_printf(why, "%sCKA_EXTRACTABLE is %s", n++ ? ", " : "", c->extractable > 0 ? "true" : "not reported");
		(*hard)++;
	}
	if (c->sensitive != 1) {
		sgt_buf_printf(why, "%sCKA_SENSITIVE is %s", n++ ? ", " : "", c->sensitive == 0 ? "false" : "not reported");
		(*hard)++;
	}
	for (i = 0; i < nreq; i++) {
		const char *w = pol && pol->ncustody ? pol->custody[i] : dflt[i];

		if (strcmp(w, "sensitive") == 0 || strcmp(w, "not-extractable") == 0)
			continue;
		for (j = 0; j < NCHECKS; j++)
			if (strcmp(custody_checks[j].word, w) == 0 && custody_value(c, j) != custody_checks[j].want) {
				sgt_buf_printf(why, "%s%s is %s (policy wants %s)", n++ ? ", " : "", custody_checks[j].attr,
					       custody_value(c, j) < 0 ? "not reported" : custody_value(c, j) ? "true" : "false", w);
			}
	}
	return n;
}

int sgt_key_adopt(struct sgt_store *st, const struct sgt_pin_opts *opts, const char *label, const char *idhex,
		  const char *uri, const char *policy, int accept_extractable, json_t *approval, struct sgt_keyrec *out)
{
	struct sgt_tx *tx = NULL;
	struct sgt_p11 p;
	struct sgt_p11_obj priv, *pubs = NULL;
	struct sgt_keyrec *recs = NULL, existing;
	struct sgt_policy *pol = NULL;
	struct sgt_buf why = { 0 };
	size_t npub = 0, nrecs = 0, i;
	EVP_PKEY *pk = NULL;
	json_t *details = NULL;
	int rc, hard = 0, shortfall;
	char idhex2[129];

	memset(&p, 0, sizeof(p));
	memset(out, 0, sizeof(*out));
	if ((rc = check_new_label(st, label)) != SGT_OK)
		return rc;
	if (uri != NULL) {
		void *u = NULL;

		/* Refused before the login: a malformed URI, a PIN or module in its query. */
		if ((rc = sgt_p11_uri_parse(uri, &u)) != SGT_OK)
			return rc;
		sgt_p11_uri_free(u);
	}
	if (policy != NULL && policy[0] != '\0' && (rc = sgt_policy_find(st->dir, policy, &pol)) != SGT_OK)
		return rc;
	sgt_verbose("looking for the key on token '%s'", st->cfg.token);
	if ((rc = sgt_session_open(&p, st, opts, SGT_SESSION_LOGIN, NULL)) != SGT_OK || (rc = find_private(&p, idhex, uri, &priv)) != SGT_OK)
		goto out;
	if (priv.idlen == 0) {
		rc = sgt_err(SGT_ERR_DATA, "the key '%s' on token '%s' has no CKA_ID; signet finds keys by id", priv.label, p.token);
		sgt_hint("give it one first, e.g. pkcs11-tool --set-id (on the private and the public key)");
		goto out;
	}
	if (priv.idlen > 32) {
		rc = sgt_err(SGT_ERR_DATA, "the key '%s' on token '%s' has a CKA_ID longer than 32 bytes; signet keeps ids up to 32",
			     priv.label, p.token);
		goto out;
	}
	sgt_hex(priv.id, priv.idlen, idhex2);
	/* The id must name this pair alone, or later lookups could pick another key. */
	{
		struct sgt_p11_obj *same = NULL;
		size_t nsame = 0;

		rc = sgt_p11_find(&p, CKO_PRIVATE_KEY, priv.id, priv.idlen, &same, &nsame);
		free(same);
		if (rc != SGT_OK)
			goto out;
		if (nsame != 1) {
			rc = sgt_err(SGT_ERR_DATA, "%zu private keys on token '%s' share id %s; signet cannot tell them apart",
				     nsame, p.token, idhex2);
			goto out;
		}
	}
	if ((rc = sgt_keyrec_list(st, &recs, &nrecs)) != SGT_OK)
		goto out;
	for (i = 0; i < nrecs; i++)
		if (strcmp(recs[i].id, idhex2) == 0) {
			rc = sgt_err(SGT_ERR_DATA, "that key (id %s) is already in custody as '%s'", idhex2, recs[i].label);
			goto out;
		}
	memset(out, 0, sizeof(*out));
	snprintf(out->label, sizeof(out->label), "%s", label);
	snprintf(out->id, sizeof(out->id), "%.64s", idhex2);
	snprintf(out->origin, sizeof(out->origin), "adopted");
	snprintf(out->policy, sizeof(out->policy), "%s", policy ? policy : "");
	sgt_time_iso(sgt_now(), out->created);
	if ((rc = sgt_p11_custody(&p, priv.h, &out->custody)) != SGT_OK)
		goto out;
	/* The public key object with the same id; without one, the private key's own attributes. */
	if ((rc = sgt_p11_find(&p, CKO_PUBLIC_KEY, priv.id, priv.idlen, &pubs, &npub)) != SGT_OK)
		goto out;
	rc = sgt_p11_pubkey(&p, npub > 0 ? pubs[0].h : priv.h, &pk);
	if (rc != SGT_OK) {
		if (npub == 0)
			sgt_hint("the token keeps no public key object for id %s; import one with the same id (pkcs11-tool --write-object --type pubkey)", idhex2);
		goto out;
	}
	if ((rc = sgt_key_spki_sha256(pk, out->spki_sha256)) != SGT_OK)
		goto out;
	if (sgt_alg_of_pkey(pk) == SGT_ALG_NONE) {
		rc = sgt_err(SGT_ERR_DATA, "the key with id %s is not one signet keeps (ECDSA P-256/P-384, RSA 2048/3072/4096)", idhex2);
		goto out;
	}
	snprintf(out->algorithm, sizeof(out->algorithm), "%s", sgt_alg_name(sgt_alg_of_pkey(pk)));
	if (pol != NULL && pol->nalgorithms > 0 && !sgt_policy_allows_alg(pol, out->algorithm)) {
		rc = sgt_err(SGT_ERR_DATA, "policy '%s' does not allow %s keys; '%s' not adopted", pol->name, out->algorithm, label);
		goto out;
	}
	if (sgt_key_find_spki(st, out->spki_sha256, &existing) == SGT_OK) {
		rc = sgt_err(SGT_ERR_DATA, "that public key is already in custody as '%s'", existing.label);
		goto out;
	}
	shortfall = adopt_shortfall(&out->custody, pol, &why, &hard);
	if (hard > 0 && !accept_extractable) {
		rc = sgt_err(SGT_ERR_VERDICT, "refusing to adopt '%s' (id %s) on token '%s': %s: the private key can leave the token",
			     label, idhex2, p.token, why.p);
		sgt_hint("a key that could be copied cannot be vouched for; generate a new one (signet key generate), or, knowingly, --accept-extractable");
		goto out;
	}
	if (hard == 0 && shortfall > 0) {
		rc = sgt_err(SGT_ERR_VERDICT, "refusing to adopt '%s' (id %s): custody falls short of policy '%s': %s",
			     label, idhex2, pol ? pol->name : "default", why.p);
		sgt_hint("adopt it under a policy that accepts its history (--policy codesign-generic), or generate a new key");
		goto out;
	}
	if (hard > 0)
		sgt_warn("adopting '%s' although %s; recorded in the audit log and shown by 'key show'", label, why.p);
	/* The key record is staged and put in place only once its audit record is durable. */
	if ((rc = sgt_tx_begin(st, "key.adopt", label, NULL, NULL, 0, &tx)) != SGT_OK ||
	    (rc = sgt_keyrec_stage(tx, st, out, SGT_TX_EXCL)) != SGT_OK)
		goto out;
	details = json_pack("{s:s, s:s, s:s, s:s, s:o}", "algorithm", out->algorithm, "id", out->id, "origin", "adopted",
			    "token_label", priv.label, "custody", sgt_key_custody_json(&out->custody));
	if (details != NULL && hard > 0) {
		json_object_set_new(details, "accepted_extractable", json_true());
		json_object_set_new(details, "warning",
				    json_sprintf("ADOPTED WITH --accept-extractable: %s; copies of this private key may exist outside the token", why.p));
	}
	if (details != NULL && approval != NULL)
		json_object_set(details, "approval", approval);	/* the two-person rule's gate (approve.h) */
	if ((rc = sgt_tx_record(tx, "key.adopt", label, out->spki_sha256, details)) == SGT_OK)
		rc = sgt_tx_commit(tx);
out:
	sgt_tx_free(tx);	/* not committed: the staged key record is removed */
	if (rc != SGT_OK && rc != SGT_ERR_USAGE && out->spki_sha256[0] && strcmp(out->origin, "adopted") == 0 &&
	    !sgt_keyrec_exists(st, label)) {
		json_t *d = json_pack("{s:s, s:s}", "id", out->id, "reason", why.len ? why.p : "see the error");

		/* A refused adoption is a custody event too. */
		if (rc == SGT_ERR_VERDICT)
			sgt_tx_refuse(st, "key.adopt", label, out->spki_sha256, d);
		json_decref(d);
	}
	json_decref(details);
	EVP_PKEY_free(pk);
	sgt_buf_free(&why);
	sgt_policy_free(pol);
	free(pubs);
	free(recs);
	sgt_session_close(&p);
	return rc;
}

int sgt_key_lookup(const struct sgt_store *st, const struct sgt_pin_opts *opts, const char *name, struct sgt_keyrec *out)
{
	struct sgt_p11 p;
	struct sgt_p11_obj priv;
	struct sgt_keyrec *recs = NULL;
	size_t n = 0, i;
	char hex[129];
	int rc;

	memset(&priv, 0, sizeof(priv));
	if (!sgt_p11_is_uri(name)) {
		if ((rc = sgt_label_check(name)) != SGT_OK)
			return rc;
		return sgt_keyrec_load(st, name, out);
	}
	memset(&p, 0, sizeof(p));
	{
		void *uri = NULL;

		/* A malformed URI, or one with a PIN or module in it, is refused before the token is touched. */
		if ((rc = sgt_p11_uri_parse(name, &uri)) != SGT_OK)
			return rc;
		sgt_p11_uri_free(uri);
	}
	/*
	 * Public key objects are readable without logging in: when the URI
	 * names exactly one pair through its public half, no PIN is needed
	 * here (a --pin-fd can be read only once, by the command's own login).
	 */
	if ((rc = sgt_session_open(&p, st, NULL, 0, NULL)) != SGT_OK)
		goto out;
	{
		struct sgt_p11_obj *pubs = NULL;
		size_t npub = 0;

		if ((rc = sgt_p11_find_uri(&p, name, CKO_PUBLIC_KEY, 1, &pubs, &npub)) != SGT_OK)
			goto out;
		if (npub == 1 && pubs[0].idlen > 0)
			priv = pubs[0];
		free(pubs);
		if (npub != 1 || priv.idlen == 0) {
			sgt_session_close(&p);
			if ((rc = sgt_session_open(&p, st, opts, SGT_SESSION_LOGIN, NULL)) != SGT_OK || (rc = find_private(&p, NULL, name, &priv)) != SGT_OK)
				goto out;
		}
	}
	if ((rc = sgt_keyrec_list(st, &recs, &n)) != SGT_OK)
		goto out;
	sgt_hex(priv.id, priv.idlen, hex);
	for (i = 0; i < n; i++)
		if (strcmp(recs[i].id, hex) == 0)
			break;
	if (i == n) {
		rc = sgt_err(SGT_ERR_VERDICT, "'%s' names key '%s' (id %s) on token '%s', which is not in custody", name,
			     priv.label, hex[0] ? hex : "none", p.token);
		sgt_hint("'signet key adopt LABEL --uri \"%s\"' takes it into custody", name);
		goto out;
	}
	*out = recs[i];
	rc = SGT_OK;
out:
	free(recs);
	sgt_session_close(&p);
	return rc;
}
