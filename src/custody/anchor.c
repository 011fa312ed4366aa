/*
 * anchor.c: the audit key and the signed audit head on the token (see
 * anchor.h).  Raw PKCS#11 on the command's own logged-in module handle and
 * its session: a network HSM pays a round trip per call, so the audit key
 * found at login is signed with without being searched for again, and no
 * session of its own is opened, except a read-write one to keep the head
 * or make the key when the command's session is read-only (sessions of one
 * application share its login, also through a remote p11-kit client).
 * The handle is forgotten when it is released (sgt_anchor_forget).  It
 * never touches keys in custody, and never writes the store: a missing
 * audit key is reported to the caller, and tx.c makes and records it in a
 * transaction (sgt_tx_anchor).  The one file it writes is the cache of its
 * audit key's CKA_ID (SGT_AUDIT_KEYID_FILE), never trusted.
 * Floor: custody 4 (beside session.c).  It may call audit.c and base.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/pem.h>

#include "anchor.h"
#include "p11.h"
#include "pkey.h"

/* The logged-in handle heads are signed with, while it lives, and the audit private key on it, once found. */
static struct sgt_p11 *signer_p11;	/* the session heads are signed on; NULL: none */
static CK_OBJECT_HANDLE signer_key = CK_INVALID_HANDLE;
static CK_KEY_TYPE signer_kt;	/* signer_key's type */
static unsigned signer_reopens;	/* signer_p11->reopens when signer_key was found */
static EVP_PKEY *signer_check;	/* audit.pub, when signer_key was found by label alone: the first head is checked with it */
static char *signer_dir;	/* the store's directory, for the one line saying they differ */
static struct sgt_audit_signer head_signer;	/* valid while signer_p11 is set */
static CK_OBJECT_HANDLE anchor_h = CK_INVALID_HANDLE;	/* this chain's anchor kept in place, once found (keep_head) */
static unsigned anchor_reopens;	/* signer_p11->reopens when anchor_h was found */

/*
 * The chain this store's heads belong to is named by its audit key (one
 * per store, shared by every host appending to the store's log): the
 * anchor object's label carries the key's CKA_ID, so two stores on one
 * token keep two anchors.  key_id is that CKA_ID (of the key whose public
 * key is audit.pub).  legacy is the head this store last signed (audit.head's,
 * then the last one kept): an unnamed anchor (from before anchors had
 * names) holding it is this store's, replaced by its named one once that
 * is on record.
 */
static unsigned char key_id[64];
static size_t key_idlen;
static struct sgt_audit_anchor legacy;

/*
 * A store whose only anchor is still the unnamed one: its heads are kept
 * there until its replacement by the named one is on record (an
 * "audit.anchor" record, whose own signed append makes the replacement):
 * keep_head found it, and tx.c records it after the command's commit.
 */
static int migration_due;

/*
 * key_id's cache in the store, SGT_AUDIT_KEYID_FILE: "<CKA_ID in hex>
 * <SHA-256 of audit.pub's SubjectPublicKeyInfo>\n".  The audit key's
 * CKA_ID is random (named in the audit.key intent before the key is made),
 * so audit.pub does not give it, and reading it costs a call (a network
 * HSM's round trip) per command.  Never trusted: a cache made for another
 * audit.pub is not used, activation finds the key by one search of its
 * label and that CKA_ID, and the first head it signs is checked with
 * audit.pub; a head that does not check sends sign_head the slow way
 * (refind).  A lost or stale cache costs a search, never a head signed
 * with another key.  Written (cache_due) once the key it names has signed
 * a head that checks: under the store lock every append holds, so a
 * command that only reads never writes it.
 */
static int cache_due;	/* key_id is to be cached in cache_path */
static char *cache_path;	/* the store's SGT_AUDIT_KEYID_FILE */
static char cache_spki[65];	/* audit.pub's SPKI SHA-256 */
static int signer_cached;	/* signer_key was found by the cached CKA_ID */

/* The cached CKA_ID of the audit key whose audit.pub has SPKI SHA-256 spki; 0 when none fits. */
static int cache_read(const struct sgt_store *st, const char *spki, unsigned char id[64], size_t *idlen)
{
	char *path = sgt_store_path(st, SGT_AUDIT_KEYID_FILE), line[200], *sp;
	unsigned char *buf = NULL;
	size_t len = 0;
	long n = -1;

	*idlen = 0;
	if (path != NULL && sgt_file_read(path, sizeof(line) - 1, &buf, &len) == SGT_OK && len > 0) {
		memcpy(line, buf, len);
		line[len] = '\0';
		if (line[len - 1] == '\n')
			line[len - 1] = '\0';
		if ((sp = strchr(line, ' ')) != NULL && strcmp(sp + 1, spki) == 0) {
			*sp = '\0';
			n = sgt_unhex(line, id, 64);
		}
	}
	free(buf);
	free(path);
	if (n <= 0)
		return 0;
	*idlen = (size_t)n;
	return 1;
}

static void cache_disarm(void)
{
	free(cache_path);
	cache_path = NULL;
	cache_due = 0;
}

/*
 * The cache of st's audit.pub, whose SPKI SHA-256 is spki (the caller has
 * it; NULL: none); due: key_id is written there once a head signed with it
 * checks.
 */
static void cache_arm(const struct sgt_store *st, const char *spki, int due)
{
	cache_disarm();
	if (spki != NULL && (cache_path = sgt_store_path(st, SGT_AUDIT_KEYID_FILE)) != NULL) {
		snprintf(cache_spki, sizeof(cache_spki), "%s", spki);
		cache_due = due;
	}
}

/* key_id into the cache, when due: atomically replaced, without syncing its directory (docs/store.md). */
static void cache_write(void)
{
	char hex[129], line[200];
	int quiet = sgt_silent;

	if (!cache_due || cache_path == NULL || key_idlen == 0 || key_idlen > 64)
		return;
	cache_due = 0;
	sgt_hex(key_id, key_idlen, hex);
	snprintf(line, sizeof(line), "%s %s\n", hex, cache_spki);
	/* a cache: not written is found the slow way next time */
	sgt_silent = 1;
	(void)sgt_atomic_write(cache_path, line, strlen(line), SGT_WRITE_NO_DIRSYNC);
	sgt_silent = quiet;
}

const struct sgt_audit_signer *sgt_anchor_signer(void)
{
	return signer_p11 != NULL ? &head_signer : NULL;
}

#define ANY_CLASS ((CK_OBJECT_CLASS)-1)

/*
 * Objects of class cls (ANY_CLASS: any) whose string attribute type
 * (CKA_LABEL, or CKA_APPLICATION for an anchor) is str, and when idlen > 0
 * whose CKA_ID is id; *h malloc'd.
 */
static int find_str(struct sgt_p11 *p, CK_OBJECT_CLASS cls, CK_ATTRIBUTE_TYPE type, const char *str,
		    const unsigned char *id, size_t idlen, CK_OBJECT_HANDLE **h, size_t *n)
{
	CK_ATTRIBUTE t[3] = { { type, (void *)str, strlen(str) }, { CKA_CLASS, &cls, sizeof(cls) },
			      { CKA_ID, (void *)id, idlen } };
	CK_OBJECT_HANDLE buf[16];
	CK_ULONG got = 0;
	CK_RV rv;

	*h = NULL;
	*n = 0;
	if (cls == ANY_CLASS)
		t[1] = t[2];
	if ((rv = p->f->C_FindObjectsInit(p->session, t, (cls == ANY_CLASS ? 1 : 2) + (idlen > 0))) != CKR_OK)
		return sgt_err(SGT_ERR_HSM, "cannot search token '%s' (%s)", p->token, sgt_p11_rv_name(rv));
	/*
	 * Every one: several stores on a token each keep an anchor and an audit
	 * key.  Fewer handles than asked for end the search, as in p11.c's
	 * find_tmpl (every module known answers as many as it has), which
	 * saves a call (a round trip to a network HSM) per search.
	 */
	while ((rv = p->f->C_FindObjects(p->session, buf, 16, &got)) == CKR_OK && got > 0) {
		CK_OBJECT_HANDLE *nh = realloc(*h, (*n + got) * sizeof(**h));

		if (nh == NULL) {
			p->f->C_FindObjectsFinal(p->session);
			free(*h);
			*h = NULL;
			*n = 0;
			return sgt_err(SGT_ERR_DATA, "out of memory");
		}
		*h = nh;
		memcpy(*h + *n, buf, got * sizeof(**h));
		*n += got;
		if (got < 16)
			break;
	}
	p->f->C_FindObjectsFinal(p->session);
	if (rv != CKR_OK) {
		free(*h);
		*h = NULL;
		*n = 0;
		return sgt_err(SGT_ERR_HSM, "cannot search token '%s' (%s)", p->token, sgt_p11_rv_name(rv));
	}
	return SGT_OK;
}

/* Objects of class cls (ANY_CLASS: any) labelled label, and when idlen > 0 whose CKA_ID is id; *h malloc'd. */
static int find_id(struct sgt_p11 *p, CK_OBJECT_CLASS cls, const char *label, const unsigned char *id, size_t idlen,
		   CK_OBJECT_HANDLE **h, size_t *n)
{
	return find_str(p, cls, CKA_LABEL, label, id, idlen, h, n);
}

/* Objects of class cls (ANY_CLASS: any) labelled label; *h malloc'd. */
static int find_label(struct sgt_p11 *p, CK_OBJECT_CLASS cls, const char *label, CK_OBJECT_HANDLE **h, size_t *n)
{
	return find_str(p, cls, CKA_LABEL, label, NULL, 0, h, n);
}

/* CKA_ID of h into id (*len 0 when it has none). */
static void object_id(struct sgt_p11 *p, CK_OBJECT_HANDLE h, unsigned char *id, size_t cap, size_t *len)
{
	CK_ATTRIBUTE t = { CKA_ID, id, cap };

	*len = 0;
	if (p->f->C_GetAttributeValue(p->session, h, &t, 1) == CKR_OK && t.ulValueLen != (CK_ULONG)-1 && t.ulValueLen <= cap)
		*len = t.ulValueLen;
}

/* 1 when h's CKA_ID is id. */
static int id_is(struct sgt_p11 *p, CK_OBJECT_HANDLE h, const unsigned char *id, size_t len)
{
	unsigned char got[64];
	size_t n;

	object_id(p, h, got, sizeof(got), &n);
	return n == len && (len == 0 || memcmp(got, id, len) == 0);
}

/*
 * *q is the logged-in handle p with a session to work in: p's own, unless
 * rw asks for a read-write one and p's is read-only; then one of its own.
 */
static int attach(const struct sgt_p11 *p, struct sgt_p11 *q, int rw)
{
	CK_RV rv;

	*q = *p;
	if (p->session != CK_INVALID_HANDLE && (p->rw || !rw))
		return SGT_OK;
	q->session = CK_INVALID_HANDLE;
	rv = p->f->C_OpenSession(p->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &q->session);
	if (rv != CKR_OK)
		return sgt_err(SGT_ERR_HSM, "cannot open a session on token '%s' (%s)", p->token, sgt_p11_rv_name(rv));
	return SGT_OK;
}

/* Closes the session attach opened, never p's own. */
static void detach(const struct sgt_p11 *p, struct sgt_p11 *q)
{
	if (q->session != CK_INVALID_HANDLE && q->session != p->session)
		q->f->C_CloseSession(q->session);
	q->session = CK_INVALID_HANDLE;
}

/* No first head to check with audit.pub. */
static void check_none(void)
{
	EVP_PKEY_free(signer_check);
	signer_check = NULL;
	free(signer_dir);
	signer_dir = NULL;
}

void sgt_anchor_forget(const struct sgt_p11 *p)
{
	if (p != NULL && p == signer_p11) {
		signer_p11 = NULL;
		signer_key = CK_INVALID_HANDLE;
		signer_cached = 0;
		anchor_h = CK_INVALID_HANDLE;
		check_none();
		cache_disarm();
	}
}

/*
 * The first head signed with a key found by its label (and cached CKA_ID)
 * must verify with audit.pub: 1 when it does.
 */
static int head_checks(const unsigned char *msg, size_t len, const unsigned char *sig, size_t siglen)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok = c != NULL && EVP_DigestVerifyInit(c, NULL, EVP_sha256(), NULL, signer_check) == 1 &&
		 EVP_DigestVerify(c, sig, siglen, msg, len) == 1;

	EVP_MD_CTX_free(c);
	return ok;
}

/*
 * The token's audit key is not the store's: said (even inside the audit
 * append's silence, as it was said at login before), and nothing more is
 * signed with it.
 */
static void refuse_key(const char *token)
{
	int quiet = sgt_silent;

	sgt_silent = 0;
	sgt_warn("'%s/audit.pub' is not the audit key of token '%s'; audit heads are not signed",
		 signer_dir ? signer_dir : ".", token);
	sgt_silent = quiet;
	signer_p11 = NULL;
	signer_key = CK_INVALID_HANDLE;
	cache_disarm();
}

/* 1 when h is a private key labelled as the audit key. */
static int is_audit_key(struct sgt_p11 *p, CK_OBJECT_HANDLE h)
{
	CK_OBJECT_CLASS cls = ANY_CLASS;
	char label[sizeof(SGT_AUDIT_KEY_LABEL)];
	CK_ATTRIBUTE t[2] = { { CKA_CLASS, &cls, sizeof(cls) }, { CKA_LABEL, label, sizeof(label) } };

	return h != CK_INVALID_HANDLE && p->f->C_GetAttributeValue(p->session, h, t, 2) == CKR_OK &&
	       cls == CKO_PRIVATE_KEY && t[1].ulValueLen == strlen(SGT_AUDIT_KEY_LABEL) &&
	       memcmp(label, SGT_AUDIT_KEY_LABEL, t[1].ulValueLen) == 0 && (key_idlen == 0 || id_is(p, h, key_id, key_idlen));
}

/*
 * The mechanism and input for signing the SHA-256 digest dgst with a key
 * of type kt: ECDSA over the digest, or (a token without EC) PKCS#1 v1.5
 * over the DigestInfo, which OpenSSL verifies as a SHA-256 RSA signature.
 */
static CK_ULONG head_input(CK_KEY_TYPE kt, const unsigned char dgst[32], CK_MECHANISM *mech, unsigned char in[64])
{
	static const unsigned char sha256_info[19] = { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
						       0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20 };

	*mech = (CK_MECHANISM){ kt == CKK_RSA ? CKM_RSA_PKCS : CKM_ECDSA, NULL, 0 };
	if (kt != CKK_RSA) {
		memcpy(in, dgst, 32);
		return 32;
	}
	memcpy(in, sha256_info, sizeof(sha256_info));
	memcpy(in + sizeof(sha256_info), dgst, 32);
	return sizeof(sha256_info) + 32;
}

static int sign_digest(struct sgt_p11 *p, CK_KEY_TYPE kt, const unsigned char dgst[32], unsigned char **sig, size_t *siglen);
static int refind(struct sgt_p11 *p, const unsigned char dgst[32], unsigned char **sig, size_t *siglen);
static int token_pub(struct sgt_p11 *p, EVP_PKEY *want, EVP_PKEY **out, CK_OBJECT_HANDLE *priv);
static int same_key(EVP_PKEY *a, EVP_PKEY *b);

static int sign_head(void *ctx, const unsigned char *msg, size_t len, unsigned char **sig, size_t *siglen)
{
	const char *token = ((struct sgt_p11 *)ctx)->token;
	struct sgt_p11 p;
	CK_OBJECT_HANDLE *h = NULL;
	CK_KEY_TYPE kt = CKK_EC;
	CK_ATTRIBUTE kta = { CKA_KEY_TYPE, &kt, sizeof(kt) };
	unsigned char dgst[32];
	size_t n = 0;
	int known, rc;
	CK_RV rv;

	*sig = NULL;
	*siglen = 0;
	if ((rc = attach(ctx, &p, 0)) != SGT_OK)
		return rc;
	EVP_Digest(msg, len, dgst, NULL, EVP_sha256(), NULL);
	/*
	 * The key found when the signer was set up, as it was found while no
	 * session was reopened since; after a reopen while its handle still
	 * names it (a remote token's server that restarted may hand the number
	 * to another object); otherwise searched for again.
	 */
	known = signer_key != CK_INVALID_HANDLE && p.reopens == signer_reopens;
	if (!known && !is_audit_key(&p, signer_key)) {
		signer_key = CK_INVALID_HANDLE;
		size_t i, mine = 0;

		if ((rc = find_label(&p, CKO_PRIVATE_KEY, SGT_AUDIT_KEY_LABEL, &h, &n)) != SGT_OK)
			goto out;
		/* the store's own audit key: the one with its CKA_ID (several stores may share the token) */
		for (i = 0; i < n; i++)
			if (key_idlen == 0 || id_is(&p, h[i], key_id, key_idlen))
				h[mine++] = h[i];
		if (mine != 1) {
			rc = sgt_err(SGT_ERR_HSM, "token '%s' holds %zu audit keys of this store, not one", token, mine);
			goto out;
		}
		signer_key = h[0];
	}
	if (known) {
		kt = signer_kt;
	} else {
		if ((rv = p.f->C_GetAttributeValue(p.session, signer_key, &kta, 1)) != CKR_OK) {
			rc = sgt_err(SGT_ERR_HSM, "cannot read the audit key on token '%s' (%s)", token, sgt_p11_rv_name(rv));
			goto out;
		}
		signer_kt = kt;
		signer_reopens = p.reopens;
	}
	rc = sign_digest(&p, kt, dgst, sig, siglen);
out:
	if (rc == SGT_OK && signer_check != NULL) {
		if (!head_checks(msg, len, *sig, *siglen)) {
			free(*sig);
			*sig = NULL;
			*siglen = 0;
			/* found by a cached CKA_ID that names another key: the slow way, once */
			if (signer_cached) {
				rc = refind(&p, dgst, sig, siglen);
			} else {
				refuse_key(token);
				rc = SGT_ERR_HSM;
			}
		}
		check_none();	/* checked once */
	}
	if (rc == SGT_OK)
		cache_write();
	free(h);
	detach(ctx, &p);
	return rc;
}

/* The digest dgst signed on p with signer_key of type kt; *sig malloc'd, DER for ECDSA. */
static int sign_digest(struct sgt_p11 *p, CK_KEY_TYPE kt, const unsigned char dgst[32], unsigned char **sig, size_t *siglen)
{
	const char *token = p->token;
	CK_MECHANISM mech;
	unsigned char in[64], raw[512];
	CK_ULONG rawlen = sizeof(raw), inlen;
	ECDSA_SIG *es = NULL;
	unsigned char *der = NULL;
	int dlen, rc = SGT_OK;
	CK_RV rv;

	*sig = NULL;
	*siglen = 0;
	inlen = head_input(kt, dgst, &mech, in);
	if ((rv = p->f->C_SignInit(p->session, &mech, signer_key)) != CKR_OK ||
	    (rv = p->f->C_Sign(p->session, in, inlen, raw, &rawlen)) != CKR_OK) {
		rc = sgt_err(SGT_ERR_HSM, "cannot sign the audit head on token '%s' (%s)", token, sgt_p11_rv_name(rv));
		goto out;
	}
	if (kt == CKK_RSA) {
		/* PKCS#1 v1.5: the token's output is the signature as everyone reads it. */
		if ((*sig = malloc(rawlen)) == NULL) {
			rc = sgt_err(SGT_ERR_DATA, "out of memory");
			goto out;
		}
		memcpy(*sig, raw, rawlen);
		*siglen = rawlen;
		goto out;
	}
	/* PKCS#11 gives r || s; OpenSSL and everyone else want DER. */
	if (rawlen % 2 != 0 || (es = ECDSA_SIG_new()) == NULL ||
	    !ECDSA_SIG_set0(es, BN_bin2bn(raw, (int)rawlen / 2, NULL), BN_bin2bn(raw + rawlen / 2, (int)rawlen / 2, NULL)) ||
	    (dlen = i2d_ECDSA_SIG(es, &der)) <= 0) {
		rc = sgt_err(SGT_ERR_HSM, "token '%s' returned a malformed audit signature", token);
		goto out;
	}
	if ((*sig = malloc((size_t)dlen)) == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	memcpy(*sig, der, (size_t)dlen);
	*siglen = (size_t)dlen;
out:
	OPENSSL_free(der);
	ECDSA_SIG_free(es);
	return rc;
}

/*
 * The key the cached CKA_ID named signed a head audit.pub does not check
 * (a cache copied from another store on the token, or altered): found the
 * slow way, as activation does without a cache (the token's audit public
 * key that is audit.pub, and its private key by its CKA_ID), and the head
 * signed again with it.  The cache is rewritten with the first head.  No
 * such key: the token's audit key is not the store's (refuse_key).
 */
static int refind(struct sgt_p11 *p, const unsigned char dgst[32], unsigned char **sig, size_t *siglen)
{
	EVP_PKEY *tok = NULL;
	CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
	int rc;

	signer_cached = 0;
	sgt_silent++;
	rc = token_pub(p, signer_check, &tok, &key);
	sgt_silent--;
	if (rc != SGT_OK || tok == NULL || key == CK_INVALID_HANDLE || !same_key(tok, signer_check)) {
		refuse_key(p->token);
		rc = SGT_ERR_HSM;
	} else {
		signer_key = key;
		signer_kt = EVP_PKEY_is_a(tok, "RSA") ? CKK_RSA : CKK_EC;
		signer_reopens = p->reopens;
		cache_due = cache_path != NULL && key_idlen > 0;
		rc = sign_digest(p, signer_kt, dgst, sig, siglen);
	}
	EVP_PKEY_free(tok);
	return rc;
}

/*
 * The signed head an anchor holds, parsed; 0 when it holds none.  An
 * anchor kept in place (in_place: found by its chain's name in
 * CKA_APPLICATION) holds it in its label, "<chain> signed SEQ HASH SIG":
 * CKA_LABEL is the one attribute of a data object SoftHSM2 lets
 * C_SetAttributeValue change.  One of old holds "signed SEQ HASH SIG\n"
 * in its CKA_VALUE.
 */
static int anchor_of(struct sgt_p11 *p, CK_OBJECT_HANDLE h, int in_place, struct sgt_audit_anchor *x)
{
	char buf[800], *s = buf;
	CK_ATTRIBUTE t = { in_place ? CKA_LABEL : CKA_VALUE, buf, sizeof(buf) - 1 };
	size_t len;

	if (p->f->C_GetAttributeValue(p->session, h, &t, 1) != CKR_OK || t.ulValueLen >= sizeof(buf))
		return 0;
	len = t.ulValueLen;
	buf[len] = '\0';
	while (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	if (in_place && (s = strstr(buf, " signed ")) != NULL)
		s++;
	if (s == NULL)
		return 0;
	len -= (size_t)(s - buf);
	return len > 7 && strncmp(s, "signed ", 7) == 0 && sgt_audit_anchor_parse(s + 7, len - 7, x) == 0;
}

/* 1 when h is an unnamed anchor holding the head this store signed last (audit.head's). */
static int is_legacy_mine(struct sgt_p11 *p, CK_OBJECT_HANDLE h)
{
	struct sgt_audit_anchor x;

	return legacy.present && anchor_of(p, h, 0, &x) && x.seq == legacy.seq && strcmp(x.hash, legacy.hash) == 0;
}

/* The label of this chain's anchor: SGT_AUDIT_HEAD_LABEL, '-', its audit key's CKA_ID in hex (up to 16 bytes). */
static void chain_label(const unsigned char *id, size_t len, char out[64])
{
	char hex[33];

	sgt_hex(id, len > 16 ? 16 : len, hex);
	snprintf(out, 64, "%s-%s", SGT_AUDIT_HEAD_LABEL, hex);
}

/* The head's text in an anchor kept in place: its label, "<chain> signed SEQ HASH SIG". */
static void in_place_label(const char *chain, long long seq, const char *hash, const char *sig_b64, char *out, size_t cap)
{
	snprintf(out, cap, "%s signed %lld %s %s", chain, seq, hash, sig_b64);
}

/* h's label set to label: CKR_OK when the token took it. */
static CK_RV set_label(struct sgt_p11 *p, CK_OBJECT_HANDLE h, const char *label)
{
	CK_ATTRIBUTE t = { CKA_LABEL, (void *)label, strlen(label) };

	return p->f->C_SetAttributeValue(p->session, h, &t, 1);
}

/*
 * Of the chain's anchors kept in place h[0..n), the one holding the
 * highest head (two exist only if a token was restored or merged): one
 * read per anchor, none when there is one.
 */
static CK_OBJECT_HANDLE newest(struct sgt_p11 *p, const CK_OBJECT_HANDLE *h, size_t n)
{
	struct sgt_audit_anchor x, best;
	CK_OBJECT_HANDLE keep = n > 0 ? h[0] : CK_INVALID_HANDLE;
	size_t i;

	memset(&best, 0, sizeof(best));
	for (i = 0; n > 1 && i < n; i++)
		if (anchor_of(p, h[i], 1, &x) && (!best.present || x.seq > best.seq)) {
			best = x;
			keep = h[i];
		}
	return keep;
}

/*
 * The signed head kept on the token, in its chain's anchor: a data object
 * whose CKA_APPLICATION names the chain and whose label holds the head,
 * rewritten in place (one C_SetAttributeValue; SoftHSM2 rewrites one
 * object file, where making a new object and removing the old wrote one
 * file per attribute and made and unlinked two).  The anchor is found once
 * per process, under the store lock that orders the chain's appends (a
 * sign lets it go while it signs, and another signer of the store may
 * keep a head meanwhile, in the same object): it is never destroyed while
 * in use, so its handle stays good until a session is reopened.  The
 * first head, a token that will not change the label, and a store whose
 * anchor is still of an older form make a new anchor, and the older ones
 * of the chain go: the named ones labelled with the chain (heads in their
 * value), and the unnamed one this store signed last.  A store with no
 * named anchor but that unnamed one keeps its head there until an
 * "audit.anchor" record says it is replaced (migration_due).  A token
 * that refuses a head in a label keeps it in a named anchor's value, made
 * anew at every head as before.
 */
static int keep_head(void *ctx, long long seq, const char *hash, const char *sig_b64)
{
	const char *token = ((struct sgt_p11 *)ctx)->token;
	struct sgt_p11 p;
	CK_OBJECT_HANDLE *old = NULL, *unnamed = NULL, *placed = NULL, obj, at = CK_INVALID_HANDLE;
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	char text[800], label[64], chain[64], long_label[900];
	size_t n = 0, nu = 0, np = 0, i, mine = 0;
	int rc, stay_unnamed = 0, in_place;
	CK_RV rv = CKR_OK;

	snprintf(text, sizeof(text), "signed %lld %s %s\n", seq, hash, sig_b64);
	/* named by the chain's audit key (data objects have no CKA_ID); a key without one keeps an unnamed anchor, as before */
	in_place = key_idlen > 0;
	if (in_place)
		chain_label(key_id, key_idlen, chain);
	else
		snprintf(chain, sizeof(chain), "%s", SGT_AUDIT_HEAD_LABEL);
	snprintf(label, sizeof(label), "%s", chain);
	if ((rc = attach(ctx, &p, 1)) != SGT_OK)
		return rc;
	if (in_place) {
		in_place_label(chain, seq, hash, sig_b64, long_label, sizeof(long_label));
		/* found earlier in this process, no session reopened since: the same object */
		if (anchor_h != CK_INVALID_HANDLE && anchor_reopens == p.reopens && !migration_due &&
		    set_label(&p, anchor_h, long_label) == CKR_OK)
			goto out;
		anchor_h = CK_INVALID_HANDLE;
		if ((rc = find_str(&p, CKO_DATA, CKA_APPLICATION, chain, NULL, 0, &placed, &np)) != SGT_OK)
			goto out;
		at = newest(&p, placed, np);
		if (at != CK_INVALID_HANDLE && !migration_due && set_label(&p, at, long_label) == CKR_OK) {
			for (i = 0; i < np; i++)
				if (placed[i] != at)
					p.f->C_DestroyObject(p.session, placed[i]);
			anchor_h = at;
			anchor_reopens = p.reopens;
			goto out;
		}
	}
	rc = find_label(&p, CKO_DATA, label, &old, &n);
	/* no named anchor: the unnamed one this store signed last, if any (a store from before chains had names) */
	if (rc == SGT_OK && in_place && n == 0 && (np == 0 || migration_due) && legacy.present &&
	    (rc = find_label(&p, CKO_DATA, SGT_AUDIT_HEAD_LABEL, &unnamed, &nu)) == SGT_OK) {
		for (i = 0; i < nu; i++)
			if (is_legacy_mine(&p, unnamed[i]))
				unnamed[mine++] = unnamed[i];
		stay_unnamed = mine > 0 && !migration_due;
		if (stay_unnamed)
			snprintf(label, sizeof(label), "%s", SGT_AUDIT_HEAD_LABEL);
	}
	if (rc == SGT_OK) {
		CK_ATTRIBUTE t[] = {
			{ CKA_CLASS, &cls, sizeof(cls) }, { CKA_TOKEN, &yes, sizeof(yes) },
			{ CKA_PRIVATE, &no, sizeof(no) }, { CKA_LABEL, label, strlen(label) },
			{ CKA_APPLICATION, (void *)"signet", 6 }, { CKA_VALUE, text, strlen(text) },
		};

		rv = CKR_GENERAL_ERROR;
		if (in_place && !stay_unnamed) {
			/* the anchor kept in place: its chain's name to find it by, the head in its label */
			static const char note[] = "signet audit anchor: the signed head is in the label\n";

			t[3] = (CK_ATTRIBUTE){ CKA_LABEL, long_label, strlen(long_label) };
			t[4] = (CK_ATTRIBUTE){ CKA_APPLICATION, chain, strlen(chain) };
			t[5] = (CK_ATTRIBUTE){ CKA_VALUE, (void *)note, sizeof(note) - 1 };
			if ((rv = p.f->C_CreateObject(p.session, t, sizeof(t) / sizeof(t[0]), &obj)) == CKR_OK) {
				anchor_h = obj;
				anchor_reopens = p.reopens;
			} else {
				/* a token that takes no head in a label: the named anchor of old, made anew at every head */
				t[3] = (CK_ATTRIBUTE){ CKA_LABEL, label, strlen(label) };
				t[4] = (CK_ATTRIBUTE){ CKA_APPLICATION, (void *)"signet", 6 };
				t[5] = (CK_ATTRIBUTE){ CKA_VALUE, text, strlen(text) };
			}
		}
		if (rv != CKR_OK && (rv = p.f->C_CreateObject(p.session, t, sizeof(t) / sizeof(t[0]), &obj)) != CKR_OK)
			rc = sgt_err(SGT_ERR_HSM, "cannot keep the audit head on token '%s' (%s)", token, sgt_p11_rv_name(rv));
		/* the older ones of this chain go, and the unnamed one this store signed last (kept, or replaced) */
		for (i = 0; rc == SGT_OK && i < n; i++)
			p.f->C_DestroyObject(p.session, old[i]);
		for (i = 0; rc == SGT_OK && i < np; i++)
			p.f->C_DestroyObject(p.session, placed[i]);
		for (i = 0; rc == SGT_OK && i < mine; i++)
			p.f->C_DestroyObject(p.session, unnamed[i]);
		if (rc == SGT_OK && stay_unnamed) {
			/* the unnamed anchor now holds this head: the one the replacement looks for */
			legacy.present = 1;
			legacy.seq = seq;
			snprintf(legacy.hash, sizeof(legacy.hash), "%s", hash);
			migration_due = 1;
		} else if (rc == SGT_OK && mine > 0) {
			migration_due = 0;	/* replaced: the audit.anchor record is in this append */
		}
	}
out:
	free(old);
	free(unnamed);
	free(placed);
	detach(ctx, &p);
	return rc;
}

int sgt_anchor_migration_due(void)
{
	int due = migration_due && signer_p11 != NULL;

	return due;
}

int sgt_anchor_pub_pem(EVP_PKEY *pk, struct sgt_buf *out)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data;
	long len;
	int rc;

	if (b == NULL || !PEM_write_bio_PUBKEY(b, pk) || (len = BIO_get_mem_data(b, &data)) <= 0)
		rc = sgt_err(SGT_ERR_DATA, "cannot encode the audit public key");
	else
		rc = sgt_buf_add(out, data, (size_t)len);
	BIO_free(b);
	return rc;
}

/*
 * The token's audit public key (NULL when none) and, when priv is not
 * NULL, its one private key (CK_INVALID_HANDLE when not exactly one): one
 * search for both.  Several stores on a token each have an audit key: the
 * one whose public key is want (the store's audit.pub) is taken, else the
 * first; its private key is the one with its CKA_ID, kept in key_id.
 */
static int token_pub(struct sgt_p11 *p, EVP_PKEY *want, EVP_PKEY **out, CK_OBJECT_HANDLE *priv)
{
	CK_OBJECT_HANDLE *h = NULL, key = CK_INVALID_HANDLE;
	CK_OBJECT_CLASS *cls = NULL;
	unsigned char id[64];
	size_t n = 0, i, nkeys = 0, idlen = 0;
	int rc, found = 0;

	*out = NULL;
	if ((rc = find_label(p, ANY_CLASS, SGT_AUDIT_KEY_LABEL, &h, &n)) != SGT_OK)
		return rc;
	if (n > 0 && (cls = calloc(n, sizeof(*cls))) == NULL) {
		free(h);
		return sgt_err(SGT_ERR_DATA, "out of memory");
	}
	/* class and public key of each in one read (a network HSM pays a round trip per call); RSA asked again */
	for (i = 0; i < n; i++) {
		EVP_PKEY *pk = NULL;
		CK_RV rv = sgt_p11_object(p, h[i], 0, &cls[i], &pk);

		if (rv == CKR_OK && cls[i] == CKO_PUBLIC_KEY && pk == NULL)
			rv = sgt_p11_object(p, h[i], 1, &cls[i], &pk);
		if (rv != CKR_OK && rv != CKR_ATTRIBUTE_TYPE_INVALID && rv != CKR_ATTRIBUTE_SENSITIVE)
			cls[i] = ANY_CLASS;
		if (cls[i] != CKO_PUBLIC_KEY || found) {
			EVP_PKEY_free(pk);
			continue;
		}
		if (pk == NULL) {
			/* a malformed or unusual one: read attribute by attribute */
			sgt_silent++;
			rc = sgt_p11_pubkey(p, h[i], &pk);
			sgt_silent--;
			if (rc != SGT_OK)
				continue;
		}
		if (*out == NULL || (want != NULL && EVP_PKEY_eq(pk, want) == 1)) {
			EVP_PKEY_free(*out);
			*out = pk;
			object_id(p, h[i], id, sizeof(id), &idlen);
			found = want == NULL || EVP_PKEY_eq(pk, want) == 1;
		} else {
			EVP_PKEY_free(pk);
		}
	}
	rc = SGT_OK;
	for (i = 0; i < n && *out != NULL; i++)
		if (cls[i] == CKO_PRIVATE_KEY && id_is(p, h[i], id, idlen) && nkeys++ == 0)
			key = h[i];
	if (*out != NULL) {
		memcpy(key_id, id, idlen);
		key_idlen = idlen;
	}
	if (priv != NULL)
		*priv = nkeys == 1 ? key : CK_INVALID_HANDLE;
	free(cls);
	free(h);
	return rc;
}

/*
 * P-256 where the token has it; RSA-2048 on a token without elliptic
 * curves (the opencryptoki soft token), which signs heads as well and is
 * checked the same way.  A token whose list cannot be read gets P-256, as
 * before there was a choice.
 */
static enum sgt_alg audit_alg(struct sgt_p11 *p)
{
	static const CK_MECHANISM_TYPE ec[] = { CKM_EC_KEY_PAIR_GEN, CKM_ECDSA };
	static const CK_MECHANISM_TYPE rsa[] = { CKM_RSA_PKCS_KEY_PAIR_GEN, CKM_RSA_PKCS };
	int has_ec = sgt_p11_mechanisms(p, ec, 2), has_rsa;

	if (has_ec != 0)
		return SGT_ALG_P256;
	if ((has_rsa = sgt_p11_mechanisms(p, rsa, 2)) == 0)
		return SGT_ALG_NONE;
	sgt_verbose("token '%s' has no EC key generation or ECDSA: the audit key is RSA-2048", p->token);
	return SGT_ALG_RSA2048;
}

/* An earlier run already said (and recorded) that this token can hold no audit key. */
static int said_unavailable(void *ctx, json_t *rec)
{
	if (strcmp(json_string_value(json_object_get(rec, "op")) ? json_string_value(json_object_get(rec, "op")) : "", "audit.key") == 0 &&
	    json_is_string(json_object_get(rec, "result")) &&
	    strcmp(json_string_value(json_object_get(rec, "result")), "unavailable") == 0)
		*(int *)ctx = 1;
	return SGT_OK;
}

/*
 * A token with neither EC nor RSA key generation (none signet knows of, but
 * a module may list only what it does in hardware): said once, plainly,
 * and recorded (by the caller), so later commands and `audit verify` need
 * not say it as an error again.  The scan of the log happens only on such
 * a token.
 */
int sgt_anchor_said_unavailable(const struct sgt_store *st)
{
	int said = 0;

	sgt_silent++;
	sgt_audit_foreach(st, 0, said_unavailable, &said);
	sgt_silent--;
	if (said)
		return 1;
	sgt_warn("token '%s' offers neither EC nor RSA key generation: it cannot hold an audit key, so audit heads "
		 "are not signed there ('signet audit verify' still checks the chain)", st->cfg.token);
	return 0;
}

int sgt_anchor_make(struct sgt_p11 *handle, const unsigned char *id, size_t idlen, EVP_PKEY **out)
{
	struct sgt_p11 p;
	CK_OBJECT_HANDLE pub, priv;
	enum sgt_alg alg;
	int rc;

	*out = NULL;
	memset(&p, 0, sizeof(p));
	p.session = CK_INVALID_HANDLE;
	if ((rc = attach(handle, &p, 1)) != SGT_OK)
		goto out;
	if (id == NULL) {
		/* The key a cut-off run made before audit.pub. */
		if ((rc = token_pub(&p, NULL, out, NULL)) == SGT_OK && *out == NULL)
			rc = sgt_err(SGT_ERR_HSM, "token '%s' holds no audit key", p.token);
		goto out;
	}
	if ((alg = audit_alg(&p)) == SGT_ALG_NONE) {
		rc = sgt_err(SGT_ERR_HSM, "token '%s' can hold no audit key", p.token);
		goto out;
	}
	if ((rc = sgt_p11_generate(&p, alg, SGT_AUDIT_KEY_LABEL, id, idlen, &pub, &priv)) != SGT_OK)
		goto out;
	/* the new key names this store's chain from now on */
	key_idlen = idlen < sizeof(key_id) ? idlen : sizeof(key_id);
	memcpy(key_id, id, key_idlen);
	if ((rc = sgt_p11_pubkey(&p, pub, out)) != SGT_OK) {
		sgt_p11_destroy(&p, priv);
		sgt_p11_destroy(&p, pub);
	}
out:
	detach(handle, &p);
	return rc;
}

void sgt_anchor_unmake(struct sgt_p11 *handle)
{
	struct sgt_p11 p;
	CK_OBJECT_HANDLE *h = NULL;
	size_t n = 0, i;

	memset(&p, 0, sizeof(p));
	p.session = CK_INVALID_HANDLE;
	if (attach(handle, &p, 1) == SGT_OK && find_label(&p, ANY_CLASS, SGT_AUDIT_KEY_LABEL, &h, &n) == SGT_OK)
		for (i = 0; i < n; i++)
			/* only the pair just made (its CKA_ID): other stores on the token keep their audit keys */
			if (key_idlen > 0 && id_is(&p, h[i], key_id, key_idlen) && sgt_p11_destroy(&p, h[i]) != SGT_OK)
				sgt_warn("token '%s' may still hold a half-made audit key; the next command completes it", p.token);
	free(h);
	detach(handle, &p);
}

void sgt_anchor_start(struct sgt_p11 *handle, const struct sgt_store *st, const char *spki)
{
	struct sgt_audit_signer s = { sign_head, keep_head, handle };

	head_signer = s;
	signer_p11 = handle;
	signer_key = CK_INVALID_HANDLE;	/* found at the first head */
	anchor_h = CK_INVALID_HANDLE;	/* and the anchor, where it keeps it */
	signer_cached = 0;
	check_none();	/* just made, its audit.pub from its own public key */
	cache_arm(st, spki, 1);	/* its CKA_ID, cached with its first head */
}

struct key_named {
	char spki[65];
	int named;
};

static int names_key(void *ctx, json_t *rec)
{
	struct key_named *k = ctx;
	const char *op = json_string_value(json_object_get(rec, "op")), *spki = json_string_value(json_object_get(rec, "spki_sha256"));

	if (op != NULL && strcmp(op, "audit.key") == 0 && spki != NULL && strcmp(spki, k->spki) == 0)
		k->named = 1;
	return SGT_OK;
}

/*
 * 1 when the token's audit key tok is another store's: this store's log
 * never recorded it (a run of this store cut off before audit.pub made a
 * key its log does not name either, but that run's intent destroys it).
 */
static int another_chains_key(const struct sgt_store *st, EVP_PKEY *tok)
{
	struct key_named k = { "", 0 };

	if (sgt_key_spki_sha256(tok, k.spki) != SGT_OK)
		return 0;
	sgt_silent++;
	sgt_audit_foreach(st, 0, names_key, &k);
	sgt_silent--;
	return !k.named;
}

static int same_key(EVP_PKEY *a, EVP_PKEY *b)
{
	return EVP_PKEY_eq(a, b) == 1;
}

int sgt_anchor_activate(const struct sgt_store *st, struct sgt_p11 *handle)
{
	struct sgt_audit_signer s = { sign_head, keep_head, handle };
	struct sgt_audit_head head;
	struct sgt_p11 p;
	EVP_PKEY *tok = NULL, *file = NULL;
	CK_OBJECT_HANDLE key = CK_INVALID_HANDLE, *h = NULL;
	unsigned char id[64];
	char spki[65] = "";
	size_t n = 0, idlen = 0;
	int state = SGT_ANCHOR_OFF, check = 0, cached = 0, rc;

	if (st == NULL || st->dir == NULL || st->cfg.module == NULL || st->cfg.token == NULL)
		return SGT_ANCHOR_OFF;
	memset(&p, 0, sizeof(p));
	p.session = CK_INVALID_HANDLE;
	if (handle == NULL || attach(handle, &p, 0) != SGT_OK)
		goto out;
	/* What is wrong with the audit files is the audit append's and verify's to say, once. */
	sgt_silent++;
	key_idlen = 0;
	migration_due = 0;
	anchor_h = CK_INVALID_HANDLE;
	rc = sgt_audit_pub_load(st, &file);
	rc = rc ? rc : sgt_audit_head_load(st, &head);
	/*
	 * The usual store, audit.pub and its audit key's CKA_ID cached: the key
	 * is found by one search of its label and that CKA_ID (any number of
	 * stores on the token); without the cache, one audit key on the token:
	 * by one search of its label, and its CKA_ID read.  Either way that it
	 * is audit.pub's is seen when the first head it signs is checked with
	 * audit.pub (head_checks).  Anything else: the token's public keys are
	 * read and compared.
	 */
	if (rc == SGT_OK && file != NULL && sgt_key_spki_sha256(file, spki) == SGT_OK && cache_read(st, spki, id, &idlen) &&
	    find_id(&p, CKO_PRIVATE_KEY, SGT_AUDIT_KEY_LABEL, id, idlen, &h, &n) == SGT_OK && n == 1 &&
	    EVP_PKEY_up_ref(file) == 1) {
		/* its CKA_ID cached: one search finds the key of this label and id, and nothing is read */
		key = h[0];
		memcpy(key_id, id, idlen);
		key_idlen = idlen;
		tok = file;
		check = cached = 1;
	}
	if (!check) {
		free(h);
		h = NULL;
		n = 0;
	}
	if (rc == SGT_OK && file != NULL && !check &&
	    find_label(&p, CKO_PRIVATE_KEY, SGT_AUDIT_KEY_LABEL, &h, &n) == SGT_OK && n == 1 && EVP_PKEY_up_ref(file) == 1) {
		key = h[0];
		object_id(&p, key, key_id, sizeof(key_id), &key_idlen);	/* names this chain's anchor */
		tok = file;
		check = 1;
	}
	rc = rc || check ? rc : token_pub(&p, file, &tok, &key);
	sgt_silent--;
	free(h);
	if (rc != SGT_OK)
		goto out;
	/* the head this store signed last: an unnamed anchor holding it is this store's (keep_head) */
	memset(&legacy, 0, sizeof(legacy));
	if (head.signed_.present)
		legacy = head.signed_;
	if (check) {
		/* checked at the first head */
	} else if (tok == NULL) {
		/* A store from before anchoring, or one whose init could not make the key. */
		if (file != NULL) {
			sgt_warn("'%s/audit.pub' names an audit key that token '%s' does not hold; audit heads are not signed",
				 st->dir, st->cfg.token);
			goto out;
		}
		if (st->lock_exclusive)
			state = audit_alg(&p) == SGT_ALG_NONE ? SGT_ANCHOR_UNAVAILABLE : SGT_ANCHOR_MAKE;
		goto out;
	} else if (file == NULL && !head.signed_.present && another_chains_key(st, tok)) {
		/* the token's audit key is another store's (its audit.key record is not in this log): one of its own */
		if (st->lock_exclusive)
			state = SGT_ANCHOR_MAKE;
		goto out;
	} else if (file == NULL) {
		/* A key made by a run that was cut off before audit.pub; never replace one that signed heads. */
		if (head.signed_.present)
			sgt_warn("'%s/audit.pub' is missing although audit heads were signed; 'signet audit verify' reports it", st->dir);
		else if (st->lock_exclusive)
			state = SGT_ANCHOR_COMPLETE;
		goto out;
	} else if (!same_key(tok, file)) {
		sgt_warn("'%s/audit.pub' is not the audit key of token '%s'; audit heads are not signed", st->dir, st->cfg.token);
		goto out;
	}
	head_signer = s;
	signer_p11 = handle;
	signer_key = key;
	signer_kt = EVP_PKEY_is_a(tok, "RSA") ? CKK_RSA : CKK_EC;
	signer_reopens = handle->reopens;
	state = SGT_ANCHOR_SIGNING;
	check_none();
	signer_cached = cached;
	/* learned the slow way: cached with the first head that checks */
	cache_arm(st, spki[0] != '\0' ? spki : NULL, !cached && key_idlen > 0);
	if (check && (signer_dir = strdup(st->dir)) != NULL && EVP_PKEY_up_ref(file) == 1) {
		signer_check = file;
	} else if (check) {
		signer_p11 = NULL;	/* out of memory: nothing is signed with a key not checked */
		check_none();
		state = SGT_ANCHOR_OFF;
	}
	/* a store with only the unnamed anchor of old is seen by keep_head, under the lock */
out:
	if (p.f != NULL)
		detach(handle, &p);
	EVP_PKEY_free(tok);
	EVP_PKEY_free(file);
	return state;
}

int sgt_anchor_read(const struct sgt_store *st, struct sgt_p11 *p, EVP_PKEY **pub, struct sgt_audit_anchor *a,
		    int *keyable)
{
	CK_OBJECT_HANDLE *h = NULL;
	EVP_PKEY *want = NULL;
	char label[64];
	size_t n = 0, i;
	int rc, in_place = 0;

	*pub = NULL;
	memset(a, 0, sizeof(*a));
	*keyable = 1;
	sgt_silent++;
	(void)sgt_audit_pub_load(st, &want);
	sgt_silent--;
	key_idlen = 0;
	if ((rc = token_pub(p, want, pub, NULL)) != SGT_OK)
		goto out;
	/*
	 * This chain's anchor (named by its audit key's CKA_ID): the one kept in
	 * place, else one of old labelled with the chain's name; an unnamed one
	 * only while it has none.
	 */
	if (*pub != NULL && key_idlen > 0) {
		chain_label(key_id, key_idlen, label);
		if ((rc = find_str(p, CKO_DATA, CKA_APPLICATION, label, NULL, 0, &h, &n)) != SGT_OK)
			goto out;
		in_place = n > 0;
		if (n == 0 && (rc = find_label(p, CKO_DATA, label, &h, &n)) != SGT_OK)
			goto out;
	}
	if (n == 0 && (rc = find_label(p, CKO_DATA, SGT_AUDIT_HEAD_LABEL, &h, &n)) != SGT_OK)
		goto out;
	/* A token holding an audit key can hold one: its mechanisms are asked only when it holds none. */
	if (*pub == NULL)
		*keyable = audit_alg(p) != SGT_ALG_NONE;
	/* Two exist only between a new one's creation and the old one's removal, or on a restored token: the newer. */
	for (i = 0; i < n; i++) {
		struct sgt_audit_anchor x;

		if (anchor_of(p, h[i], in_place, &x) && (!a->present || x.seq > a->seq))
			*a = x;
	}
out:
	EVP_PKEY_free(want);
	free(h);
	return rc;
}

void sgt_anchor_name(char out[64])
{
	if (key_idlen > 0)
		chain_label(key_id, key_idlen, out);
	else
		snprintf(out, 64, "%s", SGT_AUDIT_HEAD_LABEL);
}
