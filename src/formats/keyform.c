/*
 * keyform.c: the key and certificate forms firmware uses (keyform.h).
 * Structural checks first (tags and lengths of the outer two levels), so
 * OpenSSL only sees bytes that already look like the object; the caller
 * bounds how often that happens.
 */
#include <ctype.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/params.h>

#include "keyform.h"
#include "sgt.h"

/* A DER tag+length at p; 0 and the header/content sizes, or -1. */
static int der_hdr(const unsigned char *p, size_t n, unsigned char tag, size_t *hlen, size_t *clen)
{
	if (n < 2 || p[0] != tag)
		return -1;
	if (p[1] < 0x80) {
		*hlen = 2;
		*clen = p[1];
	} else if (p[1] == 0x81 && n >= 3 && p[2] >= 0x80) {
		*hlen = 3;
		*clen = p[2];
	} else if (p[1] == 0x82 && n >= 4 && p[2] != 0) {
		*hlen = 4;
		*clen = (size_t)p[2] << 8 | p[3];
	} else {
		return -1;
	}
	return *hlen + *clen <= n ? 0 : -1;
}

/* Certificate ::= SEQUENCE { tbs SEQUENCE { [0] version | serial INTEGER ... } ... } */
static size_t cert_candidate(const unsigned char *p, size_t n)
{
	size_t h, c, th, tc;

	if (der_hdr(p, n, 0x30, &h, &c) != 0 || h < 3 || h + c > SGT_KEYFORM_DER_MAX)
		return 0;
	if (der_hdr(p + h, c, 0x30, &th, &tc) != 0 || th < 3 || tc < 4)
		return 0;
	if (memcmp(p + h + th, "\xa0\x03\x02\x01", 4) == 0 || p[h + th] == 0x02)
		return h + c;
	return 0;
}

/* SubjectPublicKeyInfo ::= SEQUENCE { SEQUENCE { OID ... } BIT STRING } */
static size_t spki_candidate(const unsigned char *p, size_t n)
{
	size_t h, c, ah, ac, oh, oc, bh, bc;

	if (der_hdr(p, n, 0x30, &h, &c) != 0 || h + c > SGT_KEYFORM_DER_MAX)
		return 0;
	if (der_hdr(p + h, c, 0x30, &ah, &ac) != 0 || der_hdr(p + h + ah, ac, 0x06, &oh, &oc) != 0 || oc < 3)
		return 0;
	if (der_hdr(p + h + ah + ac, c - ah - ac, 0x03, &bh, &bc) != 0 || ah + ac + bh + bc != c || bc < 2)
		return 0;
	return h + c;
}

/* RSAPublicKey ::= SEQUENCE { modulus INTEGER (>= 1024 bits), publicExponent INTEGER (small) } */
static size_t pkcs1_candidate(const unsigned char *p, size_t n)
{
	size_t h, c, mh, mc, eh, ec;

	if (der_hdr(p, n, 0x30, &h, &c) != 0 || h + c > SGT_KEYFORM_DER_MAX)
		return 0;
	if (der_hdr(p + h, c, 0x02, &mh, &mc) != 0 || mc < 129 || p[h + mh] != 0x00)
		return 0;
	if (der_hdr(p + h + mh + mc, c - mh - mc, 0x02, &eh, &ec) != 0 || ec == 0 || ec > 5 || mh + mc + eh + ec != c)
		return 0;
	return h + c;
}

size_t sgt_keyform_candidate(const unsigned char *p, size_t n)
{
	size_t t;

	if (n < 2 || p[0] != 0x30)
		return 0;
	if ((t = cert_candidate(p, n)) != 0 || (t = spki_candidate(p, n)) != 0 || (t = pkcs1_candidate(p, n)) != 0)
		return t;
	return 0;
}

void sgt_keyform_release(struct sgt_keyform *k)
{
	X509_free(k->cert);
	EVP_PKEY_free(k->pub);
	memset(k, 0, sizeof(*k));
}

static int try_cert(const unsigned char *p, size_t n, struct sgt_keyform *out)
{
	const unsigned char *r = p;
	X509 *x;

	ERR_set_mark();
	x = d2i_X509(NULL, &r, (long)n);
	if (x != NULL && (size_t)(r - p) == n) {
		out->cert = x;
		/* A key type OpenSSL cannot load leaves pub NULL; the certificate is still reported. */
		out->pub = X509_get_pubkey(x);
		out->form = "certificate";
		out->len = n;
		ERR_pop_to_mark();
		return 0;
	}
	X509_free(x);
	ERR_pop_to_mark();
	return -1;
}

static int try_spki(const unsigned char *p, size_t n, struct sgt_keyform *out)
{
	const unsigned char *r = p;
	EVP_PKEY *k;

	ERR_set_mark();
	k = d2i_PUBKEY(NULL, &r, (long)n);
	ERR_pop_to_mark();
	if (k != NULL && (size_t)(r - p) == n) {
		out->pub = k;
		out->form = "spki";
		out->len = n;
		return 0;
	}
	EVP_PKEY_free(k);
	return -1;
}

static int try_pkcs1(const unsigned char *p, size_t n, struct sgt_keyform *out)
{
	const unsigned char *r = p;
	EVP_PKEY *k;

	ERR_set_mark();
	k = d2i_PublicKey(EVP_PKEY_RSA, NULL, &r, (long)n);
	ERR_pop_to_mark();
	if (k != NULL && (size_t)(r - p) == n) {
		out->pub = k;
		out->form = "pkcs1";
		out->len = n;
		return 0;
	}
	EVP_PKEY_free(k);
	return -1;
}

int sgt_keyform_der(const unsigned char *p, size_t n, struct sgt_keyform *out)
{
	size_t t;

	memset(out, 0, sizeof(*out));
	if ((t = cert_candidate(p, n)) != 0 && try_cert(p, t, out) == 0)
		return 0;
	if ((t = spki_candidate(p, n)) != 0 && try_spki(p, t, out) == 0)
		return 0;
	if ((t = pkcs1_candidate(p, n)) != 0 && try_pkcs1(p, t, out) == 0)
		return 0;
	return -1;
}

static int name_says(const char *name, const char *word)
{
	char low[128];
	size_t i;

	for (i = 0; name[i] && i + 1 < sizeof(low); i++)
		low[i] = (char)tolower((unsigned char)name[i]);
	low[i] = '\0';
	return strstr(low, word) != NULL;
}

static EVP_PKEY *ec_point(const char *group, const unsigned char *p, size_t n)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *pk = NULL;
	OSSL_PARAM params[3];

	if (ctx == NULL)
		return NULL;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)p, n);
	params[2] = OSSL_PARAM_construct_end();
	ERR_set_mark();
	if (EVP_PKEY_fromdata_init(ctx) != 1 || EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1)
		pk = NULL;
	ERR_pop_to_mark();
	EVP_PKEY_CTX_free(ctx);
	return pk;
}

int sgt_keyform_array(const unsigned char *p, size_t n, const char *name, struct sgt_keyform *out)
{
	unsigned char pt[97];

	memset(out, 0, sizeof(*out));
	if (sgt_keyform_candidate(p, n) == n && sgt_keyform_der(p, n, out) == 0)
		return 0;
	if ((n == 65 || n == 97) && p[0] == 0x04)
		out->pub = ec_point(n == 65 ? "prime256v1" : "secp384r1", p, n);
	else if (n == 64 && (name_says(name, "ec") || name_says(name, "p256"))) {
		pt[0] = 0x04;
		memcpy(pt + 1, p, 64);
		out->pub = ec_point("prime256v1", pt, 65);
	} else if (n == 32 && name_says(name, "ed25519")) {
		ERR_set_mark();
		out->pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, p, 32);
		ERR_pop_to_mark();
		out->form = "ed25519-raw";
	}
	if (out->pub == NULL)
		return -1;
	if (out->form == NULL)
		out->form = "ec-point";
	out->len = n;
	return 0;
}

int sgt_keyform_pem_label(const char *label, size_t len)
{
	static const char *const labels[] = { "CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE",
					      "PUBLIC KEY", "RSA PUBLIC KEY" };
	size_t i;

	for (i = 0; i < sizeof(labels) / sizeof(labels[0]); i++)
		if (strlen(labels[i]) == len && memcmp(labels[i], label, len) == 0)
			return 1;
	return 0;
}

int sgt_keyform_pem_der(const char *label, const unsigned char *der, size_t n, struct sgt_keyform *out)
{
	memset(out, 0, sizeof(*out));
	if (strcmp(label, "TRUSTED CERTIFICATE") == 0) {
		/* OpenSSL's trusted form: the certificate followed by its trust settings. */
		const unsigned char *r = der;

		ERR_set_mark();
		out->cert = d2i_X509_AUX(NULL, &r, (long)n);
		ERR_pop_to_mark();
		if (out->cert == NULL || (size_t)(r - der) != n) {
			X509_free(out->cert);
			out->cert = NULL;
			return -1;
		}
		out->pub = X509_get_pubkey(out->cert);
		out->form = "certificate";
		out->len = n;
		return 0;
	}
	if (strstr(label, "CERTIFICATE") != NULL)
		return try_cert(der, n, out);
	if (strcmp(label, "RSA PUBLIC KEY") == 0)
		return try_pkcs1(der, n, out);
	return try_spki(der, n, out);
}
