/*
 * sshsig.c: OpenSSH signatures (PROTOCOL.sshsig) and allowed_signers
 * files, verified with OpenSSL.  Written from the protocol documents:
 * PROTOCOL.sshsig for the envelope, RFC 4253 (strings, mpints, ssh-rsa
 * keys), RFC 5656 (ECDSA keys and signatures), RFC 8332 (rsa-sha2-*),
 * RFC 8709 (ssh-ed25519) and PROTOCOL.u2f (the sk- forms).
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "sgt.h"
#include "sshsig.h"

#define ARMOR_BEGIN "-----BEGIN SSH SIGNATURE-----"
#define ARMOR_END "-----END SSH SIGNATURE-----"
#define SK_ED25519 "sk-ssh-ed25519@openssh.com"
#define SK_ECDSA "sk-ecdsa-sha2-nistp256@openssh.com"
#define SK_FLAG_UP 0x01

/* A cursor over SSH wire data. */
struct rd {
	const unsigned char *p;
	size_t n;
};

static int rd_u32(struct rd *r, uint32_t *v)
{
	if (r->n < 4)
		return -1;
	*v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 | r->p[3];
	r->p += 4;
	r->n -= 4;
	return 0;
}

static int rd_u8(struct rd *r, unsigned char *v)
{
	if (r->n < 1)
		return -1;
	*v = r->p[0];
	r->p++;
	r->n--;
	return 0;
}

static int rd_str(struct rd *r, const unsigned char **s, size_t *len)
{
	uint32_t l;

	if (rd_u32(r, &l) != 0 || l > r->n)
		return -1;
	*s = r->p;
	*len = l;
	r->p += l;
	r->n -= l;
	return 0;
}

/* A string equal to the NUL-terminated want. */
static int rd_is(struct rd *r, const char *want)
{
	const unsigned char *s;
	size_t l;

	if (rd_str(r, &s, &l) != 0)
		return -1;
	return l == strlen(want) && memcmp(s, want, l) == 0 ? 0 : -1;
}

/* A string as a malloc'd C string; refuses embedded NULs. */
static int rd_cstr(struct rd *r, char **out)
{
	const unsigned char *s;
	size_t l;

	if (rd_str(r, &s, &l) != 0 || memchr(s, '\0', l) != NULL)
		return -1;
	*out = malloc(l + 1);
	if (*out == NULL)
		return -1;
	memcpy(*out, s, l);
	(*out)[l] = '\0';
	return 0;
}

/* A positive mpint (RFC 4251 section 5) with its leading zero stripped. */
static int rd_mpint(struct rd *r, const unsigned char **s, size_t *len)
{
	if (rd_str(r, s, len) != 0)
		return -1;
	if (*len > 0 && ((*s)[0] & 0x80))
		return -1;	/* negative */
	if (*len > 1 && (*s)[0] == 0 && !((*s)[1] & 0x80))
		return -1;	/* not minimal */
	while (*len > 0 && (*s)[0] == 0) {
		(*s)++;
		(*len)--;
	}
	return 0;
}

/* A growable buffer for the signed blob. */
struct wb {
	unsigned char buf[256 + 64];
	size_t n;
};

static int wb_put(struct wb *w, const void *p, size_t l)
{
	if (l > sizeof(w->buf) - w->n)
		return -1;
	memcpy(w->buf + w->n, p, l);
	w->n += l;
	return 0;
}

static int wb_str(struct wb *w, const void *p, size_t l)
{
	unsigned char h[4] = { (unsigned char)(l >> 24), (unsigned char)(l >> 16), (unsigned char)(l >> 8),
			       (unsigned char)l };

	if (l > 0xffffffffu)
		return -1;
	return wb_put(w, h, 4) == 0 && wb_put(w, p, l) == 0 ? 0 : -1;
}

static int why_set(char *why, size_t cap, int code, const char *msg)
{
	if (why != NULL && cap > 0)
		snprintf(why, cap, "%s", msg);
	return code;
}

/* Key kinds. */
enum kt { KT_NONE, KT_ED25519, KT_P256, KT_P384, KT_RSA, KT_SK_ED25519, KT_SK_P256 };

/* A public key's parts, pointing into its blob. */
struct pk {
	enum kt kt;
	const char *name;
	const unsigned char *a;	/* ed25519 key, EC point, RSA e */
	size_t alen;
	const unsigned char *b;	/* RSA n */
	size_t blen;
	const unsigned char *app;	/* sk application */
	size_t applen;
};

static int pk_parse(const unsigned char *blob, size_t len, struct pk *k)
{
	struct rd r = { blob, len };
	const unsigned char *t;
	size_t tl;

	memset(k, 0, sizeof(*k));
	if (rd_str(&r, &t, &tl) != 0)
		return -1;
#define IS(s) (tl == strlen(s) && memcmp(t, s, tl) == 0)
	if (IS("ssh-ed25519") || IS(SK_ED25519)) {
		k->kt = IS("ssh-ed25519") ? KT_ED25519 : KT_SK_ED25519;
		k->name = k->kt == KT_ED25519 ? "ssh-ed25519" : SK_ED25519;
		if (rd_str(&r, &k->a, &k->alen) != 0 || k->alen != 32)
			return -1;
	} else if (IS("ecdsa-sha2-nistp256") || IS("ecdsa-sha2-nistp384") || IS(SK_ECDSA)) {
		const char *curve = IS("ecdsa-sha2-nistp384") ? "nistp384" : "nistp256";
		size_t plen = IS("ecdsa-sha2-nistp384") ? 97 : 65;

		k->kt = IS("ecdsa-sha2-nistp256") ? KT_P256 : IS(SK_ECDSA) ? KT_SK_P256 : KT_P384;
		k->name = k->kt == KT_P256 ? "ecdsa-sha2-nistp256" : k->kt == KT_P384 ? "ecdsa-sha2-nistp384" : SK_ECDSA;
		if (rd_is(&r, curve) != 0 || rd_str(&r, &k->a, &k->alen) != 0 || k->alen != plen || k->a[0] != 0x04)
			return -1;
	} else if (IS("ssh-rsa")) {
		k->kt = KT_RSA;
		k->name = "ssh-rsa";
		if (rd_mpint(&r, &k->a, &k->alen) != 0 || rd_mpint(&r, &k->b, &k->blen) != 0 || k->alen == 0 ||
		    k->blen < 2048 / 8 || k->blen > 16384 / 8)
			return -1;
	} else {
		return -1;
	}
#undef IS
	if (k->kt == KT_SK_ED25519 || k->kt == KT_SK_P256) {
		if (rd_str(&r, &k->app, &k->applen) != 0 || k->applen == 0)
			return -1;
	}
	return r.n == 0 ? 0 : -1;
}

const char *sgt_sshsig_key_type(const unsigned char *blob, size_t len)
{
	struct pk k;

	return pk_parse(blob, len, &k) == 0 ? k.name : NULL;
}

void sgt_sshsig_fingerprint(const unsigned char *blob, size_t len, char out[64])
{
	unsigned char md[32];
	char *b;
	size_t l;

	EVP_Digest(blob, len, md, NULL, EVP_sha256(), NULL);
	b = sgt_base64(md, sizeof(md));
	snprintf(out, 64, "SHA256:%s", b != NULL ? b : "?");
	if (b != NULL) {
		l = strlen(out);
		while (l > 0 && out[l - 1] == '=')
			out[--l] = '\0';
	}
	free(b);
}

void sgt_sshsig_release(struct sgt_sshsig *s)
{
	free(s->pub);
	free(s->ns);
	free(s->hash_alg);
	free(s->sig);
	memset(s, 0, sizeof(*s));
}

static unsigned char *dup_bytes(const unsigned char *p, size_t l)
{
	unsigned char *d = malloc(l > 0 ? l : 1);

	if (d != NULL && l > 0)
		memcpy(d, p, l);
	return d;
}

int sgt_sshsig_parse(const char *text, size_t len, struct sgt_sshsig *out, char *why, size_t whycap)
{
	const char *b, *e;
	unsigned char *raw = NULL;
	size_t rawlen = 0;
	struct rd r;
	uint32_t ver;
	const unsigned char *s;
	size_t sl;
	struct pk k;
	int rc = SGT_ERR_DATA;

	memset(out, 0, sizeof(*out));
	b = memmem(text, len, ARMOR_BEGIN, strlen(ARMOR_BEGIN));
	if (b == NULL)
		return why_set(why, whycap, SGT_ERR_DATA, "no \"" ARMOR_BEGIN "\" line");
	b += strlen(ARMOR_BEGIN);
	e = memmem(b, len - (size_t)(b - text), ARMOR_END, strlen(ARMOR_END));
	if (e == NULL)
		return why_set(why, whycap, SGT_ERR_DATA, "no \"" ARMOR_END "\" line (truncated?)");
	if (sgt_unbase64(b, (size_t)(e - b), &raw, &rawlen) != SGT_OK)
		return why_set(why, whycap, SGT_ERR_DATA, "the armored body is not base64");
	r.p = raw;
	r.n = rawlen;
	if (r.n < 6 || memcmp(r.p, "SSHSIG", 6) != 0) {
		why_set(why, whycap, 0, "no SSHSIG magic");
		goto out;
	}
	r.p += 6;
	r.n -= 6;
	if (rd_u32(&r, &ver) != 0 || ver != 1) {
		why_set(why, whycap, 0, "unsupported signature version");
		goto out;
	}
	if (rd_str(&r, &s, &sl) != 0) {
		why_set(why, whycap, 0, "truncated public key");
		goto out;
	}
	if (pk_parse(s, sl, &k) != 0) {
		why_set(why, whycap, 0, "unsupported or malformed public key");
		goto out;
	}
	out->pub = dup_bytes(s, sl);
	out->publen = sl;
	if (out->pub == NULL || rd_cstr(&r, &out->ns) != 0 || out->ns[0] == '\0') {
		why_set(why, whycap, 0, "malformed namespace");
		goto out;
	}
	if (rd_str(&r, &s, &sl) != 0 || sl != 0) {
		why_set(why, whycap, 0, "reserved field is not empty");
		goto out;
	}
	if (rd_cstr(&r, &out->hash_alg) != 0 ||
	    (strcmp(out->hash_alg, "sha256") != 0 && strcmp(out->hash_alg, "sha512") != 0)) {
		why_set(why, whycap, 0, "hash algorithm is neither sha256 nor sha512");
		goto out;
	}
	if (rd_str(&r, &s, &sl) != 0 || sl == 0) {
		why_set(why, whycap, 0, "truncated signature");
		goto out;
	}
	out->sig = dup_bytes(s, sl);
	out->siglen = sl;
	if (out->sig == NULL || r.n != 0) {
		why_set(why, whycap, 0, "trailing data after the signature");
		goto out;
	}
	rc = SGT_OK;
out:
	free(raw);
	if (rc != SGT_OK)
		sgt_sshsig_release(out);
	return rc;
}

/* An EVP_PKEY for k; NULL on failure. */
static EVP_PKEY *pk_evp(const struct pk *k)
{
	EVP_PKEY *pkey = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	BIGNUM *n = NULL, *e = NULL;

	if (k->kt == KT_ED25519 || k->kt == KT_SK_ED25519)
		return EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, k->a, k->alen);
	bld = OSSL_PARAM_BLD_new();
	if (bld == NULL)
		goto out;
	if (k->kt == KT_RSA) {
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
		n = BN_bin2bn(k->b, (int)k->blen, NULL);
		e = BN_bin2bn(k->a, (int)k->alen, NULL);
		if (n == NULL || e == NULL || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
			goto out;
	} else {
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
		if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
						     k->kt == KT_P384 ? "P-384" : "P-256", 0) ||
		    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, k->a, k->alen))
			goto out;
	}
	params = OSSL_PARAM_BLD_to_param(bld);
	if (ctx == NULL || params == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		pkey = NULL;
out:
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	BN_free(n);
	BN_free(e);
	return pkey;
}

/* An SSH ECDSA signature blob (mpint r, mpint s) as DER; malloc'd length in *derlen. */
static unsigned char *ecdsa_der(const unsigned char *blob, size_t len, size_t *derlen)
{
	struct rd r = { blob, len };
	const unsigned char *rb, *sb;
	size_t rl, sl;
	ECDSA_SIG *es = NULL;
	BIGNUM *br = NULL, *bs = NULL;
	unsigned char *der = NULL;
	int l;

	if (rd_mpint(&r, &rb, &rl) != 0 || rd_mpint(&r, &sb, &sl) != 0 || r.n != 0 || rl > 66 || sl > 66)
		return NULL;
	es = ECDSA_SIG_new();
	br = BN_bin2bn(rb, (int)rl, NULL);
	bs = BN_bin2bn(sb, (int)sl, NULL);
	if (es == NULL || br == NULL || bs == NULL || !ECDSA_SIG_set0(es, br, bs)) {
		BN_free(br);
		BN_free(bs);
		ECDSA_SIG_free(es);
		return NULL;
	}
	l = i2d_ECDSA_SIG(es, &der);
	ECDSA_SIG_free(es);
	if (l <= 0)
		return NULL;
	*derlen = (size_t)l;
	return der;
}

/* Verifies sig over data with pkey; md NULL for Ed25519.  1 when good. */
static int evp_verify(EVP_PKEY *pkey, const EVP_MD *md, int pss_pad, const unsigned char *sig, size_t siglen,
		      const unsigned char *data, size_t datalen)
{
	EVP_MD_CTX *mc = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pc = NULL;
	int ok = 0;

	(void)pss_pad;
	if (mc != NULL && EVP_DigestVerifyInit(mc, &pc, md, NULL, pkey) == 1)
		ok = EVP_DigestVerify(mc, sig, siglen, data, datalen) == 1;
	EVP_MD_CTX_free(mc);
	return ok;
}

int sgt_sshsig_verify(const struct sgt_sshsig *s, const char *ns, const unsigned char *msg, size_t msglen,
		      char *why, size_t whycap)
{
	struct pk k;
	struct wb w = { .n = 0 };
	unsigned char h[64];
	unsigned int hl = 0;
	const EVP_MD *hmd;
	struct rd r;
	const unsigned char *t, *blob;
	size_t tl, bl;
	EVP_PKEY *pkey = NULL;
	unsigned char *der = NULL;
	size_t derlen = 0;
	int rc = SGT_ERR_DATA, good = 0;

	if (strcmp(s->ns, ns) != 0)
		return why_set(why, whycap, SGT_ERR_VERDICT, "signed for another namespace");
	if (pk_parse(s->pub, s->publen, &k) != 0)
		return why_set(why, whycap, SGT_ERR_DATA, "unsupported or malformed public key");
	hmd = strcmp(s->hash_alg, "sha512") == 0 ? EVP_sha512() : EVP_sha256();
	if (EVP_Digest(msg, msglen, h, &hl, hmd, NULL) != 1)
		return why_set(why, whycap, SGT_ERR_DATA, "cannot hash the message");
	if (wb_put(&w, "SSHSIG", 6) != 0 || wb_str(&w, s->ns, strlen(s->ns)) != 0 || wb_str(&w, "", 0) != 0 ||
	    wb_str(&w, s->hash_alg, strlen(s->hash_alg)) != 0 || wb_str(&w, h, hl) != 0)
		return why_set(why, whycap, SGT_ERR_DATA, "namespace too long");

	r.p = s->sig;
	r.n = s->siglen;
	if (rd_str(&r, &t, &tl) != 0 || rd_str(&r, &blob, &bl) != 0) {
		why_set(why, whycap, 0, "malformed signature");
		goto out;
	}
	pkey = pk_evp(&k);
	if (pkey == NULL) {
		why_set(why, whycap, 0, "the public key is not a valid key");
		goto out;
	}
#define IS(x) (tl == strlen(x) && memcmp(t, x, tl) == 0)
	switch (k.kt) {
	case KT_ED25519:
		if (!IS("ssh-ed25519") || r.n != 0 || bl != 64)
			goto malformed;
		good = evp_verify(pkey, NULL, 0, blob, bl, w.buf, w.n);
		break;
	case KT_P256:
	case KT_P384:
		if (!IS(k.name) || r.n != 0 || (der = ecdsa_der(blob, bl, &derlen)) == NULL)
			goto malformed;
		good = evp_verify(pkey, k.kt == KT_P256 ? EVP_sha256() : EVP_sha384(), 0, der, derlen, w.buf, w.n);
		break;
	case KT_RSA:
		if (IS("ssh-rsa")) {
			rc = why_set(why, whycap, SGT_ERR_VERDICT, "ssh-rsa signatures (SHA-1) are refused");
			goto out;
		}
		if (!(IS("rsa-sha2-256") || IS("rsa-sha2-512")) || r.n != 0 || bl != k.blen)
			goto malformed;
		good = evp_verify(pkey, IS("rsa-sha2-256") ? EVP_sha256() : EVP_sha512(), 0, blob, bl, w.buf, w.n);
		break;
	case KT_SK_ED25519:
	case KT_SK_P256: {
		/* PROTOCOL.u2f: signed is SHA256(application) || flags || counter || SHA256(message). */
		unsigned char flags, d[32 + 1 + 4 + 32];
		uint32_t counter;

		if (!IS(k.name) || rd_u8(&r, &flags) != 0 || rd_u32(&r, &counter) != 0 || r.n != 0)
			goto malformed;
		if (!(flags & SK_FLAG_UP)) {
			rc = why_set(why, whycap, SGT_ERR_VERDICT, "the security key did not confirm user presence");
			goto out;
		}
		EVP_Digest(k.app, k.applen, d, NULL, EVP_sha256(), NULL);
		d[32] = flags;
		d[33] = (unsigned char)(counter >> 24);
		d[34] = (unsigned char)(counter >> 16);
		d[35] = (unsigned char)(counter >> 8);
		d[36] = (unsigned char)counter;
		EVP_Digest(w.buf, w.n, d + 37, NULL, EVP_sha256(), NULL);
		if (k.kt == KT_SK_ED25519) {
			if (bl != 64)
				goto malformed;
			good = evp_verify(pkey, NULL, 0, blob, bl, d, sizeof(d));
		} else {
			if ((der = ecdsa_der(blob, bl, &derlen)) == NULL)
				goto malformed;
			good = evp_verify(pkey, EVP_sha256(), 0, der, derlen, d, sizeof(d));
		}
		break;
	}
	default:
		goto malformed;
	}
#undef IS
	rc = good ? SGT_OK : why_set(why, whycap, SGT_ERR_VERDICT, "the signature does not verify");
	goto out;
malformed:
	rc = why_set(why, whycap, SGT_ERR_DATA, "malformed signature or wrong signature type for the key");
out:
	OPENSSL_free(der);
	EVP_PKEY_free(pkey);
	return rc;
}

/* ---- allowed_signers ---- */

void sgt_signers_release(struct sgt_signers *s)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		free(s->v[i].principals);
		free(s->v[i].namespaces);
		free(s->v[i].key);
	}
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* OpenSSH glob: * any run, ? any one character. */
static int glob_match(const char *p, size_t pl, const char *s)
{
	if (pl == 0)
		return *s == '\0';
	if (*p == '*') {
		for (;;) {
			if (glob_match(p + 1, pl - 1, s))
				return 1;
			if (*s == '\0')
				return 0;
			s++;
		}
	}
	if (*s == '\0')
		return 0;
	if (*p != '?' && *p != *s)
		return 0;
	return glob_match(p + 1, pl - 1, s + 1);
}

int sgt_signers_principal_match(const char *patterns, const char *name)
{
	const char *p = patterns;
	int hit = 0;

	while (*p != '\0') {
		const char *c = strchr(p, ',');
		size_t l = c != NULL ? (size_t)(c - p) : strlen(p);
		int neg = l > 0 && p[0] == '!';

		if (glob_match(p + neg, l - (size_t)neg, name)) {
			if (neg)
				return 0;
			hit = 1;
		}
		p += l;
		if (*p == ',')
			p++;
	}
	return hit;
}

/* Next whitespace-separated token of line (quotes kept together); NULL at end. */
static char *next_tok(char **cur)
{
	char *p = *cur, *start;
	int q = 0;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0')
		return NULL;
	start = p;
	while (*p != '\0' && (q || (*p != ' ' && *p != '\t'))) {
		if (*p == '"')
			q = !q;
		p++;
	}
	if (*p != '\0')
		*p++ = '\0';
	*cur = p;
	return q ? NULL : start;
}

static int is_key_type(const char *t)
{
	return strcmp(t, "ssh-ed25519") == 0 || strcmp(t, "ecdsa-sha2-nistp256") == 0 ||
	       strcmp(t, "ecdsa-sha2-nistp384") == 0 || strcmp(t, "ssh-rsa") == 0 || strcmp(t, SK_ED25519) == 0 ||
	       strcmp(t, SK_ECDSA) == 0 || strcmp(t, "ecdsa-sha2-nistp521") == 0 || strncmp(t, "ssh-dss", 7) == 0 ||
	       strstr(t, "-cert-v01@openssh.com") != NULL;
}

/* "YYYYMMDD[HHMM[SS]][Z]" as ssh-keygen documents it (read as UTC). */
static int parse_stamp(const char *s, time_t *out)
{
	size_t l = strlen(s), i;
	struct tm tm;
	char buf[16];

	if (l > 0 && s[l - 1] == 'Z')
		l--;
	if (l != 8 && l != 12 && l != 14)
		return -1;
	for (i = 0; i < l; i++)
		if (!isdigit((unsigned char)s[i]))
			return -1;
	memset(&tm, 0, sizeof(tm));
	memcpy(buf, s, l);
	buf[l] = '\0';
#define NUM(o, n) (int)strtol((memcpy(buf, s + (o), (n)), buf[(n)] = '\0', buf), NULL, 10)
	tm.tm_year = NUM(0, 4) - 1900;
	tm.tm_mon = NUM(4, 2) - 1;
	tm.tm_mday = NUM(6, 2);
	if (l >= 12) {
		tm.tm_hour = NUM(8, 2);
		tm.tm_min = NUM(10, 2);
	}
	if (l == 14)
		tm.tm_sec = NUM(12, 2);
#undef NUM
	if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
	    tm.tm_min > 59 || tm.tm_sec > 60)
		return -1;
	*out = timegm(&tm);
	return 0;
}

/* An option value: name="value" or name=value; malloc'd without quotes. */
static char *opt_value(const char *v)
{
	size_t l = strlen(v);
	char *d;

	if (l >= 2 && v[0] == '"' && v[l - 1] == '"') {
		v++;
		l -= 2;
	}
	if (memchr(v, '"', l) != NULL)
		return NULL;
	d = malloc(l + 1);
	if (d != NULL) {
		memcpy(d, v, l);
		d[l] = '\0';
	}
	return d;
}

/* Splits options at commas outside quotes. */
static int parse_options(char *opts, struct sgt_signer *sg, const char **why)
{
	char *p = opts;

	while (*p != '\0') {
		char *o = p;
		int q = 0;

		while (*p != '\0' && (q || *p != ',')) {
			if (*p == '"')
				q = !q;
			p++;
		}
		if (*p == ',')
			*p++ = '\0';
		if (strcasecmp(o, "cert-authority") == 0) {
			*why = "cert-authority lines are not supported (list each approver's key)";
			return -1;
		} else if (strncasecmp(o, "namespaces=", 11) == 0) {
			free(sg->namespaces);
			if ((sg->namespaces = opt_value(o + 11)) == NULL) {
				*why = "malformed namespaces=";
				return -1;
			}
		} else if (strncasecmp(o, "valid-after=", 12) == 0 || strncasecmp(o, "valid-before=", 13) == 0) {
			int after = strncasecmp(o, "valid-after=", 12) == 0;
			char *v = opt_value(o + (after ? 12 : 13));
			int bad = v == NULL || parse_stamp(v, after ? &sg->valid_after : &sg->valid_before) != 0;

			free(v);
			if (bad) {
				*why = after ? "malformed valid-after= (want YYYYMMDD[HHMM[SS]][Z])"
					     : "malformed valid-before= (want YYYYMMDD[HHMM[SS]][Z])";
				return -1;
			}
		} else {
			*why = "unknown option";
			return -1;
		}
	}
	return 0;
}

static int parse_line(char *line, struct sgt_signer *sg, const char **why)
{
	char *cur = line, *princ, *tok, *b64;
	unsigned char *blob = NULL;
	size_t bl = 0;
	const char *kt;

	princ = next_tok(&cur);
	tok = next_tok(&cur);
	if (princ == NULL || tok == NULL) {
		*why = "want \"principals [options] keytype base64-key\"";
		return -1;
	}
	if (!is_key_type(tok)) {
		if (parse_options(tok, sg, why) != 0)
			return -1;
		tok = next_tok(&cur);
		if (tok == NULL) {
			*why = "no key";
			return -1;
		}
	}
	if (strstr(tok, "-cert-v01@openssh.com") != NULL) {
		*why = "certificate keys are not supported";
		return -1;
	}
	b64 = next_tok(&cur);
	if (b64 == NULL || sgt_unbase64(b64, strlen(b64), &blob, &bl) != SGT_OK) {
		*why = "the key is not base64";
		return -1;
	}
	kt = sgt_sshsig_key_type(blob, bl);
	if (kt == NULL || strcmp(kt, tok) != 0) {
		free(blob);
		*why = "unsupported key type or key does not match its type";
		return -1;
	}
	if (princ[0] == '"') {
		size_t l = strlen(princ);

		if (l < 2 || princ[l - 1] != '"') {
			free(blob);
			*why = "malformed principals";
			return -1;
		}
		princ[l - 1] = '\0';
		princ++;
	}
	sg->principals = strdup(princ);
	sg->key = blob;
	sg->keylen = bl;
	if (sg->principals == NULL || sg->principals[0] == '\0') {
		*why = "empty principals";
		return -1;
	}
	return 0;
}

int sgt_signers_parse(const char *text, size_t len, const char *path, struct sgt_signers *out)
{
	const char *p = text, *end = text + len;
	int lineno = 0;

	memset(out, 0, sizeof(*out));
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		char *line, *s;
		struct sgt_signer sg;
		const char *why = NULL;
		struct sgt_signer *nv;

		lineno++;
		if (memchr(p, '\0', l) != NULL) {
			sgt_signers_release(out);
			return sgt_err(SGT_ERR_DATA, "%s:%d: NUL byte in allowed_signers", path, lineno);
		}
		line = malloc(l + 1);
		if (line == NULL) {
			sgt_signers_release(out);
			return sgt_err(SGT_ERR_DATA, "%s: out of memory", path);
		}
		memcpy(line, p, l);
		line[l] = '\0';
		p += l + (nl != NULL);
		if (l > 0 && line[l - 1] == '\r')
			line[l - 1] = '\0';
		s = line;
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0' || *s == '#') {
			free(line);
			continue;
		}
		memset(&sg, 0, sizeof(sg));
		sg.line = lineno;
		if (parse_line(s, &sg, &why) != 0) {
			free(line);
			free(sg.principals);
			free(sg.namespaces);
			free(sg.key);
			sgt_signers_release(out);
			return sgt_err(SGT_ERR_DATA, "%s:%d: %s", path, lineno, why != NULL ? why : "malformed line");
		}
		free(line);
		nv = realloc(out->v, (out->n + 1) * sizeof(*nv));
		if (nv == NULL) {
			free(sg.principals);
			free(sg.namespaces);
			free(sg.key);
			sgt_signers_release(out);
			return sgt_err(SGT_ERR_DATA, "%s: out of memory", path);
		}
		out->v = nv;
		out->v[out->n++] = sg;
	}
	return SGT_OK;
}

const struct sgt_signer *sgt_signers_find(const struct sgt_signers *s, const unsigned char *key, size_t keylen,
					  const char *ns, time_t now)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		const struct sgt_signer *g = &s->v[i];

		if (g->keylen != keylen || memcmp(g->key, key, keylen) != 0)
			continue;
		if (g->namespaces != NULL && !sgt_signers_principal_match(g->namespaces, ns))
			continue;
		if ((g->valid_after != 0 && now < g->valid_after) || (g->valid_before != 0 && now > g->valid_before))
			continue;
		return g;
	}
	return NULL;
}
