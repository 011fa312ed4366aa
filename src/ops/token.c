/*
 * token.c: the one bridge from a key in custody to OpenSSL: an EVP_PKEY
 * whose private operations run on the token, so X509_sign, X509_REQ_sign
 * and EVP_PKEY_sign work unchanged while the key material stays inside.
 * The key is found by its CKA_ID with one C_FindObjects (libp11 0.4.12 can
 * only enumerate every key on the token, which made a sign on a 200-key
 * token cost several times one on a 1-key token), and the signing callbacks
 * call C_Sign on the session this module holds.  A session that dies under
 * a command (a remote token's server restarting, a network HSM failing
 * over) is reopened and logged in again, a bounded number of times.  It
 * never creates or changes objects.
 */
#define OPENSSL_SUPPRESS_DEPRECATED	/* EC_KEY_METHOD/RSA_METHOD: how a key signs elsewhere */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#include "key.h"
#include "p11.h"
#include "session.h"
#include "token.h"

/* How often a dead session is reopened before the command gives up. */
#define REOPEN_TRIES 3

struct tok_key {
	struct sgt_token *t;
	CK_OBJECT_HANDLE h;
	unsigned char id[64];
	size_t idlen;
	char label[65];
};

struct sgt_token {
	struct sgt_p11 p;
	struct sgt_pin pin;	/* kept to log in again after a session dies; wiped in _free */
	struct tok_key **keys;	/* every key handed out; they live as long as the token */
	size_t nkeys;
};

/*
 * Errors raised inside the OpenSSL callbacks travel through OpenSSL's
 * error queue as this library's reasons, so the caller's one error line
 * reads "signing ... failed on the token: token 'prod': the session is
 * gone (CKR_SESSION_HANDLE_INVALID); gave up after 3 tries to reopen the
 * session".
 */
static int err_lib;
static char err_text[2][200];
static ERR_STRING_DATA err_strings[3];

static void raise_sign_error(const struct sgt_token *t, CK_RV rv, int tries)
{
	int r = tries > 0 ? 2 : 1;

	if (err_lib == 0)
		err_lib = ERR_get_next_error_library();
	if (tries > 0)
		snprintf(err_text[1], sizeof(err_text[1]), "token '%s': %s (%s); gave up after %d tries to reopen the session",
			 t->p.token, sgt_p11_rv_why(rv), sgt_p11_rv_name(rv), tries);
	else
		snprintf(err_text[0], sizeof(err_text[0]), "token '%s': %s (%s)", t->p.token, sgt_p11_rv_why(rv),
			 sgt_p11_rv_name(rv));
	err_strings[0] = (ERR_STRING_DATA){ ERR_PACK(err_lib, 0, 1), err_text[0] };
	err_strings[1] = (ERR_STRING_DATA){ ERR_PACK(err_lib, 0, 2), err_text[1] };
	err_strings[2] = (ERR_STRING_DATA){ 0, NULL };
	ERR_unload_strings(err_lib, err_strings);
	ERR_load_strings(err_lib, err_strings);
	ERR_clear_error();	/* leftovers from earlier calls would be read as the reason */
	ERR_raise(err_lib, r);
}

void sgt_token_free(struct sgt_token *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->nkeys; i++)
		free(t->keys[i]);
	free(t->keys);
	sgt_session_close(&t->p);
	sgt_pin_wipe(&t->pin);
	free(t);
}

int sgt_token_open(const struct sgt_store *st, const struct sgt_pin_opts *opts, struct sgt_token **out)
{
	struct sgt_token *t = calloc(1, sizeof(*t));
	int rc;

	*out = NULL;
	if (t == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	/*
	 * Read-write where the token allows: the audit head the command's
	 * record moves is kept on the token in this same session (anchor.h), so
	 * no second session is opened for it; signing needs no writes.  The PIN
	 * is kept for logging in again after a session dies.
	 */
	if ((rc = sgt_session_open(&t->p, st, opts, SGT_SESSION_RW_IF_ABLE | SGT_SESSION_LOGIN, &t->pin)) != SGT_OK)
		goto fail;
	*out = t;
	return SGT_OK;
fail:
	sgt_token_free(t);
	return rc;
}

/*
 * After *rv killed the session: waits a little (a failing-over HSM or a
 * restarting server needs a moment), reopens and logs in, at most
 * REOPEN_TRIES times in all.  Returns 1 when the caller should retry; 0
 * with *rv the last failure when it should give up.
 */
static int revive(struct sgt_token *t, CK_RV *rv, int *tries)
{
	while (sgt_p11_dead(*rv) && *tries < REOPEN_TRIES) {
		struct timespec pause = { 0, 100000000L << *tries };

		(*tries)++;
		sgt_verbose("token '%s': %s (%s); reopening the session (try %d of %d)", t->p.token,
			    sgt_p11_rv_why(*rv), sgt_p11_rv_name(*rv), *tries, REOPEN_TRIES);
		nanosleep(&pause, NULL);
		if ((*rv = sgt_p11_reopen(&t->p, &t->pin)) == CKR_OK)
			return 1;
	}
	return 0;
}

/*
 * The private key with this CKA_ID and its public key, from ONE search (a
 * module like SoftHSM2 walks every object of the token per search) and one
 * attribute read per object found (a network HSM pays a round trip per
 * call): a certificate or other object with the same ID is passed over.
 * *hpriv is CK_INVALID_HANDLE when there is none; *pk, when not NULL, is
 * the public key as the public object (or the private one) gave it in that
 * read, else NULL with *hpub the public object (CK_INVALID_HANDLE: none)
 * for sgt_p11_pubkey.  pk NULL: only the private key is looked for.
 */
static CK_RV find_by_id(struct sgt_p11 *p, const unsigned char *id, size_t idlen, int rsa, CK_OBJECT_HANDLE *hpriv,
			CK_OBJECT_HANDLE *hpub, EVP_PKEY **pk)
{
	CK_OBJECT_CLASS priv = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tmpl[2] = { { CKA_ID, (void *)id, idlen }, { CKA_CLASS, &priv, sizeof(priv) } };
	CK_OBJECT_HANDLE hs[8];
	EVP_PKEY *from_priv = NULL;
	CK_ULONG got = 0, i;
	CK_RV rv;

	*hpriv = CK_INVALID_HANDLE;
	if (hpub != NULL)
		*hpub = CK_INVALID_HANDLE;
	if (pk != NULL)
		*pk = NULL;
	if ((rv = p->f->C_FindObjectsInit(p->session, tmpl, pk != NULL ? 1 : 2)) != CKR_OK)
		return rv;
	do {
		rv = p->f->C_FindObjects(p->session, hs, 8, &got);
		for (i = 0; rv == CKR_OK && i < got; i++) {
			CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
			EVP_PKEY *k = NULL;

			if (pk != NULL && sgt_p11_object(p, hs[i], rsa, &cls, &k) != CKR_OK)
				continue;
			if (cls == CKO_PRIVATE_KEY && *hpriv == CK_INVALID_HANDLE) {
				*hpriv = hs[i];
				from_priv = k;
				k = NULL;
			} else if (cls == CKO_PUBLIC_KEY && hpub != NULL && *hpub == CK_INVALID_HANDLE) {
				*hpub = hs[i];
				if (pk != NULL && *pk == NULL) {
					*pk = k;
					k = NULL;
				}
			}
			EVP_PKEY_free(k);
		}
	} while (rv == CKR_OK && got == 8);
	p->f->C_FindObjectsFinal(p->session);
	/* No public object (some modules keep only the private one): the private key's read may carry the public half. */
	if (pk != NULL && *pk == NULL && *hpub == CK_INVALID_HANDLE) {
		*pk = from_priv;
		from_priv = NULL;
	}
	EVP_PKEY_free(from_priv);
	if (rv != CKR_OK && pk != NULL) {
		EVP_PKEY_free(*pk);
		*pk = NULL;
	}
	return rv;
}

/* Finds the key's private object again (its handle may change with a new session). */
static CK_RV key_handle(struct tok_key *k)
{
	return find_by_id(&k->t->p, k->id, k->idlen, 0, &k->h, NULL, NULL);
}

/* C_SignInit + C_Sign, reopening a dead session a bounded number of times. */
static int token_sign_mech(struct tok_key *k, CK_MECHANISM mech, const unsigned char *in, size_t inlen,
			   unsigned char *out, CK_ULONG *outlen)
{
	struct sgt_token *t = k->t;
	CK_ULONG cap = *outlen;
	int tries = 0;
	CK_RV rv;

	for (;;) {
		*outlen = cap;
		rv = t->p.f->C_SignInit(t->p.session, &mech, k->h);
		if (rv == CKR_OK)
			rv = t->p.f->C_Sign(t->p.session, (CK_BYTE_PTR)in, inlen, out, outlen);
		if (rv == CKR_OK)
			return 1;
		if (!revive(t, &rv, &tries))
			break;
		if ((rv = key_handle(k)) != CKR_OK || k->h == CK_INVALID_HANDLE) {
			if (rv == CKR_OK)
				rv = CKR_KEY_HANDLE_INVALID;
			break;
		}
	}
	raise_sign_error(t, rv, tries);
	return 0;
}

static int token_sign(struct tok_key *k, CK_MECHANISM_TYPE mtype, const unsigned char *in, size_t inlen,
		      unsigned char *out, CK_ULONG *outlen)
{
	CK_MECHANISM mech = { mtype, NULL, 0 };

	return token_sign_mech(k, mech, in, inlen, out, outlen);
}

static int ec_idx = -1, rsa_idx = -1, ed_idx = -1;
static EC_KEY_METHOD *ec_meth;
static RSA_METHOD *rsa_meth;

static ECDSA_SIG *ec_sign_sig(const unsigned char *dgst, int dlen, const BIGNUM *kinv, const BIGNUM *rp, EC_KEY *ec)
{
	struct tok_key *k = EC_KEY_get_ex_data(ec, ec_idx);
	unsigned char raw[2 * 66];
	CK_ULONG len = sizeof(raw);
	ECDSA_SIG *sig;
	BIGNUM *r, *s;

	(void)kinv;
	(void)rp;
	if (k == NULL || !token_sign(k, CKM_ECDSA, dgst, (size_t)dlen, raw, &len) || len % 2 != 0)
		return NULL;
	r = BN_bin2bn(raw, (int)(len / 2), NULL);
	s = BN_bin2bn(raw + len / 2, (int)(len / 2), NULL);
	sig = ECDSA_SIG_new();
	if (r == NULL || s == NULL || sig == NULL || !ECDSA_SIG_set0(sig, r, s)) {
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(sig);
		return NULL;
	}
	return sig;
}

static int rsa_priv_enc(int flen, const unsigned char *from, unsigned char *to, RSA *rsa, int padding)
{
	struct tok_key *k = RSA_get_ex_data(rsa, rsa_idx);
	CK_ULONG len = (CK_ULONG)RSA_size(rsa);

	if (k == NULL || (padding != RSA_PKCS1_PADDING && padding != RSA_NO_PADDING))
		return -1;
	if (!token_sign(k, padding == RSA_PKCS1_PADDING ? CKM_RSA_PKCS : CKM_RSA_X_509, from, (size_t)flen, to, &len))
		return -1;
	return (int)len;
}

static int methods(void)
{
	if (ec_meth == NULL) {
		int (*sign)(int, const unsigned char *, int, unsigned char *, unsigned int *, const BIGNUM *,
			    const BIGNUM *, EC_KEY *) = NULL;

		ec_idx = EC_KEY_get_ex_new_index(0, NULL, NULL, NULL, NULL);
		if ((ec_meth = EC_KEY_METHOD_new(EC_KEY_OpenSSL())) == NULL)
			return 0;
		EC_KEY_METHOD_get_sign(ec_meth, &sign, NULL, NULL);
		EC_KEY_METHOD_set_sign(ec_meth, sign, NULL, ec_sign_sig);
	}
	if (rsa_meth == NULL) {
		rsa_idx = RSA_get_ex_new_index(0, NULL, NULL, NULL, NULL);
		if ((rsa_meth = RSA_meth_dup(RSA_PKCS1_OpenSSL())) == NULL)
			return 0;
		RSA_meth_set1_name(rsa_meth, "signet PKCS#11 token");
		RSA_meth_set_priv_enc(rsa_meth, rsa_priv_enc);
		RSA_meth_set_flags(rsa_meth, RSA_meth_get_flags(rsa_meth) | RSA_FLAG_EXT_PKEY);
	}
	return 1;
}

/* An EVP_PKEY with pub's public half whose private operations call the token through k. */
static int token_pkey(struct tok_key *k, EVP_PKEY *pub, EVP_PKEY **out)
{
	EVP_PKEY *pk = EVP_PKEY_new();

	*out = NULL;
	if (pk == NULL || !methods())
		goto fail;
	if (EVP_PKEY_is_a(pub, "EC")) {
		EC_KEY *ec = EC_KEY_dup(EVP_PKEY_get0_EC_KEY(pub));

		if (ec == NULL || !EC_KEY_set_method(ec, ec_meth) || !EC_KEY_set_ex_data(ec, ec_idx, k) ||
		    !EVP_PKEY_assign_EC_KEY(pk, ec)) {
			EC_KEY_free(ec);
			goto fail;
		}
	} else if (EVP_PKEY_is_a(pub, "RSA")) {
		const BIGNUM *n = NULL, *e = NULL;
		RSA *rsa = RSA_new();
		BIGNUM *n2, *e2;

		RSA_get0_key(EVP_PKEY_get0_RSA(pub), &n, &e, NULL);
		n2 = n ? BN_dup(n) : NULL;
		e2 = e ? BN_dup(e) : NULL;
		if (rsa == NULL || n2 == NULL || e2 == NULL || !RSA_set_method(rsa, rsa_meth) ||
		    !RSA_set0_key(rsa, n2, e2, NULL)) {
			BN_free(n2);
			BN_free(e2);
			RSA_free(rsa);
			goto fail;
		}
		if (!RSA_set_ex_data(rsa, rsa_idx, k) || !EVP_PKEY_assign_RSA(pk, rsa)) {
			RSA_free(rsa);
			goto fail;
		}
	} else if (EVP_PKEY_is_a(pub, "ED25519")) {
		/*
		 * OpenSSL has no method hook for Ed25519: the key is its public
		 * half tagged with k, and sgt_token_sign_eddsa signs with it.
		 * OpenSSL's own signing fails on it (no private half).
		 */
		EVP_PKEY_free(pk);
		if (ed_idx < 0)
			ed_idx = EVP_PKEY_get_ex_new_index(0, NULL, NULL, NULL, NULL);
		if (ed_idx < 0 || (pk = EVP_PKEY_dup(pub)) == NULL)
			goto fail;
		if (!EVP_PKEY_set_ex_data(pk, ed_idx, k))
			goto fail;
	} else {
		EVP_PKEY_free(pk);
		return sgt_err(SGT_ERR_DATA, "key '%s' is neither EC, RSA nor Ed25519; signet cannot sign with it", k->label);
	}
	*out = pk;
	return SGT_OK;
fail:
	EVP_PKEY_free(pk);
	return sgt_err(SGT_ERR_DATA, "cannot set up key '%s' for signing: %s", k->label, sgt_ossl_why());
}

/*
 * The object under the record's id must be the record's key: an edited
 * record, or another key stored under that id, is refused rather than
 * signed with.
 */
static int record_matches(const struct sgt_token *t, const struct sgt_keyrec *rec, EVP_PKEY *pk)
{
	const char *alg = sgt_alg_name(sgt_alg_of_pkey(pk));
	char spki[65];
	int rc;

	if ((rc = sgt_key_spki_sha256(pk, spki)) != SGT_OK)
		return rc;
	if (strcmp(spki, rec->spki_sha256) != 0)
		return sgt_err(SGT_ERR_DATA, "key record '%s' does not match token '%s': the record says spki:%.12s, "
			       "the token's key with id %s is spki:%.12s", rec->label, t->p.token, rec->spki_sha256,
			       rec->id, spki);
	if (alg == NULL || strcmp(alg, rec->algorithm) != 0)
		return sgt_err(SGT_ERR_DATA, "key record '%s' does not match token '%s': the record says %s, the token's "
			       "key with id %s is %s", rec->label, t->p.token, rec->algorithm, rec->id,
			       alg ? alg : "of a kind signet does not keep");
	return SGT_OK;
}

/* sgt_token_key and sgt_token_key_known: known NULL, the public key is read from the token. */
static int key_setup(struct sgt_token *t, const struct sgt_keyrec *rec, EVP_PKEY *known, EVP_PKEY **priv, EVP_PKEY **pub)
{
	struct tok_key *k = NULL;
	CK_OBJECT_HANDLE hpub = CK_INVALID_HANDLE;
	EVP_PKEY *pk = NULL;
	long idlen;
	int tries = 0, rsa, rc;
	CK_RV rv;

	*priv = NULL;
	if (pub != NULL)
		*pub = NULL;
	/* The caller's key must be the record's before the token is asked anything. */
	if (known != NULL && (rc = record_matches(t, rec, known)) != SGT_OK)
		return rc;
	{
		struct tok_key **grown = realloc(t->keys, (t->nkeys + 1) * sizeof(*grown));

		if (grown == NULL)
			return sgt_err(SGT_ERR_DATA, "out of memory");
		t->keys = grown;
	}
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	k->t = t;
	snprintf(k->label, sizeof(k->label), "%s", rec->label);
	if ((idlen = sgt_unhex(rec->id, k->id, sizeof(k->id))) <= 0) {
		free(k);
		return sgt_err(SGT_ERR_DATA, "key record '%s' has a malformed id '%s'", rec->label, rec->id);
	}
	k->idlen = (size_t)idlen;
	t->keys[t->nkeys++] = k;	/* owned by t from here on */
	rsa = sgt_alg_from_name(rec->algorithm);
	rsa = rsa == SGT_ALG_RSA2048 || rsa == SGT_ALG_RSA3072 || rsa == SGT_ALG_RSA4096;
	do
		rv = find_by_id(&t->p, k->id, k->idlen, rsa, &k->h, &hpub, known != NULL ? NULL : &pk);
	while (rv != CKR_OK && revive(t, &rv, &tries));
	if (rv != CKR_OK) {
		char what[200];

		snprintf(what, sizeof(what), "cannot look up key '%s' on token '%s'", rec->label, t->p.token);
		return sgt_p11_report(rv, what);
	}
	if (k->h == CK_INVALID_HANDLE) {
		EVP_PKEY_free(pk);
		sgt_err(SGT_ERR_VERDICT, "token '%s' no longer holds key '%s' (id %s)", t->p.token, rec->label, rec->id);
		sgt_hint("'signet audit custody' compares the token with the key records");
		return SGT_ERR_VERDICT;
	}
	if (known != NULL) {
		if (EVP_PKEY_up_ref(known) != 1)
			return sgt_err(SGT_ERR_DATA, "out of memory");
		pk = known;
	} else {
		/* No public object (some modules keep only the private one): its attributes carry the public half. */
		if (pk == NULL && (rc = sgt_p11_pubkey(&t->p, hpub != CK_INVALID_HANDLE ? hpub : k->h, &pk)) != SGT_OK)
			return rc;
		if ((rc = record_matches(t, rec, pk)) != SGT_OK) {
			EVP_PKEY_free(pk);
			return rc;
		}
	}
	if ((rc = token_pkey(k, pk, priv)) != SGT_OK) {
		EVP_PKEY_free(pk);
		return rc;
	}
	if (pub != NULL)
		*pub = pk;
	else
		EVP_PKEY_free(pk);
	return SGT_OK;
}

int sgt_token_key(struct sgt_token *t, const struct sgt_keyrec *rec, EVP_PKEY **priv, EVP_PKEY **pub)
{
	return key_setup(t, rec, NULL, priv, pub);
}

int sgt_token_key_known(struct sgt_token *t, const struct sgt_keyrec *rec, EVP_PKEY *known, EVP_PKEY **priv,
			EVP_PKEY **pub)
{
	return key_setup(t, rec, known, priv, pub);
}

int sgt_token_sign_pss(EVP_PKEY *priv, const unsigned char *dgst, size_t dlen, unsigned char *sig, size_t *siglen)
{
	CK_RSA_PKCS_PSS_PARAMS pp = { CKM_SHA256, CKG_MGF1_SHA256, 32 };
	CK_MECHANISM mech = { CKM_RSA_PKCS_PSS, &pp, sizeof(pp) };
	const RSA *rsa = EVP_PKEY_is_a(priv, "RSA") ? EVP_PKEY_get0_RSA(priv) : NULL;
	struct tok_key *k = rsa && rsa_idx >= 0 ? RSA_get_ex_data(rsa, rsa_idx) : NULL;
	CK_ULONG len = (CK_ULONG)*siglen;

	if (k == NULL || dlen != 32)
		return sgt_err(SGT_ERR_DATA, "RSA-PSS: not an RSA key on the token, or not a SHA-256 digest");
	if (!token_sign_mech(k, mech, dgst, dlen, sig, &len))
		return sgt_err(SGT_ERR_HSM, "RSA-PSS signature on the token: %s", sgt_ossl_why());
	*siglen = (size_t)len;
	return SGT_OK;
}

int sgt_token_sign_eddsa(EVP_PKEY *priv, const unsigned char *msg, size_t mlen, unsigned char *sig, size_t *siglen)
{
	CK_MECHANISM mech = { CKM_EDDSA, NULL, 0 };	/* pure Ed25519: no parameters */
	struct tok_key *k = ed_idx >= 0 && EVP_PKEY_is_a(priv, "ED25519") ? EVP_PKEY_get_ex_data(priv, ed_idx) : NULL;
	CK_ULONG len = (CK_ULONG)*siglen;

	if (k == NULL || *siglen < 64)
		return sgt_err(SGT_ERR_DATA, "Ed25519: not an Ed25519 key on the token");
	if (!token_sign_mech(k, mech, msg, mlen, sig, &len))
		return sgt_err(SGT_ERR_HSM, "Ed25519 signature on the token: %s", sgt_ossl_why());
	if (len != 64)
		return sgt_err(SGT_ERR_HSM, "the token's Ed25519 signature is %lu bytes, not 64", (unsigned long)len);
	*siglen = (size_t)len;
	return SGT_OK;
}
