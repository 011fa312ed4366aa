/*
 * cert.c: building X.509 code-signing certificates and PKCS#10 requests
 * with OpenSSL, reissuing a certificate for the same public key, SPKI
 * fingerprints, and keeping certificates in the store.  Signing goes
 * through whatever EVP_PKEY the caller passes (a token key from token.c in
 * the product, a software key in unit tests), so this module never holds
 * private key material.  It does not decide whether a certificate is good
 * enough (lint.c) and never prints to stdout.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "cert.h"
#include "intent.h"
#include "key.h"
#include "keyrec.h"

X509 *sgt_cert_parse(const unsigned char *buf, size_t len)
{
	X509 *x = NULL;

	if (len == 0 || len > SGT_CERT_MAX_FILE)
		return NULL;
	if (memmem(buf, len, "-----BEGIN", 10) != NULL) {
		BIO *bio = BIO_new_mem_buf(buf, (int)len);

		if (bio != NULL)
			x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		BIO_free(bio);
	} else {
		const unsigned char *p = buf;

		x = d2i_X509(NULL, &p, (long)len);
		/* Trailing bytes after the DER mean it is not one certificate. */
		if (x != NULL && p != buf + len) {
			X509_free(x);
			x = NULL;
		}
	}
	ERR_clear_error();
	return x;
}

int sgt_cert_load(const char *path, X509 **out)
{
	unsigned char *buf = NULL;
	size_t len;
	int rc;

	*out = NULL;
	if ((rc = sgt_file_read(path, SGT_CERT_MAX_FILE, &buf, &len)) != SGT_OK)
		return rc;
	*out = sgt_cert_parse(buf, len);
	free(buf);
	if (*out == NULL)
		return sgt_err(SGT_ERR_DATA, "'%s' is not a certificate (neither PEM nor DER X.509)", path);
	return SGT_OK;
}

int sgt_cert_spki_sha256(X509 *x, char out[65])
{
	unsigned char *der = NULL;
	int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);

	out[0] = '\0';
	if (len <= 0)
		return sgt_err(SGT_ERR_DATA, "cannot encode the certificate's public key: %s", sgt_ossl_why());
	sgt_sha256_hex(der, (size_t)len, out);
	OPENSSL_free(der);
	return SGT_OK;
}

void sgt_cert_serial_hex(X509 *x, char *out, size_t cap)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;

	snprintf(out, cap, "%s", hex != NULL ? hex : "0");
	OPENSSL_free(hex);
	BN_free(bn);
}

void sgt_cert_name(X509_NAME *n, char *out, size_t cap)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *p;
	long len;

	out[0] = '\0';
	if (bio == NULL)
		return;
	if (X509_NAME_print_ex(bio, n, 0, XN_FLAG_ONELINE & ~XN_FLAG_SPC_EQ) >= 0) {
		len = BIO_get_mem_data(bio, &p);
		snprintf(out, cap, "%.*s", (int)len, p);
	}
	BIO_free(bio);
}

int sgt_cert_times(X509 *x, time_t *not_before, time_t *not_after)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(X509_get0_notBefore(x), &tm) != 1)
		return SGT_ERR_DATA;
	*not_before = timegm(&tm);
	if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) != 1)
		return SGT_ERR_DATA;
	*not_after = timegm(&tm);
	return SGT_OK;
}

void sgt_cert_renewal(time_t not_before, time_t not_after, long window_days, time_t now, struct sgt_renewal *out)
{
	time_t window = (time_t)window_days * 86400;

	memset(out, 0, sizeof(*out));
	out->window_days = window_days;
	if (not_after > not_before) {
		out->life_days = (long)((not_after - not_before) / 86400);
		if (not_after - not_before <= window) {
			window = (not_after - not_before) / 3;
			out->short_life = 1;
		}
	}
	out->due_at = not_after - window;
	out->due = now >= out->due_at;
}

void sgt_renewal_why(const struct sgt_renewal *r, const char *policy, char *out, size_t cap)
{
	if (r->short_life)
		snprintf(out, cap, "a third of its %ld-day lifetime, which is no longer than the %ld-day renewal window",
			 r->life_days, r->window_days);
	else if (policy != NULL && *policy)
		snprintf(out, cap, "policy %s's %ld-day renewal window", policy, r->window_days);
	else
		snprintf(out, cap, "signet's default %ld-day renewal window", r->window_days);
}

int sgt_cert_renewal_of(X509 *x, long window_days, time_t now, struct sgt_renewal *out)
{
	time_t nb, na;

	if (sgt_cert_times(x, &nb, &na) != SGT_OK)
		return SGT_ERR_DATA;
	sgt_cert_renewal(nb, na, window_days, now, out);
	return SGT_OK;
}

int sgt_cert_pem(X509 *x, struct sgt_buf *b)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *p;
	long len;
	int rc;

	if (bio == NULL || PEM_write_bio_X509(bio, x) != 1) {
		BIO_free(bio);
		return sgt_err(SGT_ERR_DATA, "cannot encode certificate: %s", sgt_ossl_why());
	}
	len = BIO_get_mem_data(bio, &p);
	rc = sgt_buf_add(b, p, (size_t)len);
	BIO_free(bio);
	return rc;
}

int sgt_cert_self_signed(X509 *x)
{
	/*
	 * Not X509_check_issued(): it also wants keyCertSign, which a
	 * self-signed code-signing leaf rightly lacks.
	 */
	int r = X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)) == 0 &&
		X509_verify(x, X509_get0_pubkey(x)) == 1;

	ERR_clear_error();
	return r;
}

int sgt_cert_is_ca(X509 *x)
{
	BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(x, NID_basic_constraints, NULL, NULL);
	int r = bc != NULL && bc->ca;

	BASIC_CONSTRAINTS_free(bc);
	return r;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return s;
}

int sgt_cert_parse_dn(const char *dn, X509_NAME **out)
{
	X509_NAME *name = X509_NAME_new();
	char *copy = strdup(dn);
	char sep = dn[0] == '/' ? '/' : ',';
	char *p, *part;
	int rc = SGT_OK, count = 0;

	*out = NULL;
	if (name == NULL || copy == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	p = copy + (sep == '/');
	while (p != NULL) {
		char *eq, *field, *value;

		part = p;
		/* A backslash keeps a separator inside a value: "O=Acme\, Inc". */
		for (; *p != '\0' && *p != sep; p++)
			if (*p == '\\' && p[1] != '\0')
				memmove(p, p + 1, strlen(p));
		if (*p == sep)
			*p++ = '\0';
		else
			p = NULL;
		part = trim(part);
		if (*part == '\0')
			continue;
		if ((eq = strchr(part, '=')) == NULL) {
			rc = sgt_err(SGT_ERR_USAGE, "subject '%s': '%s' is not FIELD=value", dn, part);
			goto out;
		}
		*eq = '\0';
		field = trim(part);
		value = trim(eq + 1);
		if (*value == '\0') {
			rc = sgt_err(SGT_ERR_USAGE, "subject '%s': field '%s' has no value", dn, field);
			goto out;
		}
		if (!X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8, (const unsigned char *)value, -1, -1, 0)) {
			ERR_clear_error();
			rc = sgt_err(SGT_ERR_USAGE, "subject '%s': bad field '%s' (use CN, O, OU, C, L, ST, ...)", dn, field);
			goto out;
		}
		count++;
	}
	if (count == 0) {
		rc = sgt_err(SGT_ERR_USAGE, "subject '%s' is empty; give at least CN=...", dn);
		goto out;
	}
	*out = name;
	name = NULL;
out:
	X509_NAME_free(name);
	free(copy);
	return rc;
}

void sgt_notes_release(struct sgt_notes *notes)
{
	size_t i;

	for (i = 0; i < notes->n; i++)
		free(notes->text[i]);
	notes->n = 0;
}

static void note(struct sgt_notes *notes, const char *fmt, ...) SGT_PRINTF(2, 3);

static void note(struct sgt_notes *notes, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	if (notes == NULL || notes->n >= sizeof(notes->text) / sizeof(notes->text[0]))
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if ((notes->text[notes->n] = strdup(text)) != NULL)
		notes->n++;
}

static const char *spec_hash(const struct sgt_cert_spec *spec)
{
	return spec->pol != NULL && spec->pol->signature_hash != NULL ? spec->pol->signature_hash : "sha256";
}

/* Random positive 16-byte serial: top bit clear so DER needs no sign byte. */
static int set_serial(X509 *x)
{
	unsigned char raw[16];
	BIGNUM *bn = NULL;
	int rc;

	if ((rc = sgt_random(raw, sizeof(raw))) != SGT_OK)
		return rc;
	/* Bit 6 set keeps it exactly 16 bytes long, so every serial looks alike. */
	raw[0] = (unsigned char)((raw[0] & 0x7f) | 0x40);
	bn = BN_bin2bn(raw, sizeof(raw), NULL);
	if (bn == NULL || BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
		rc = sgt_err(SGT_ERR_DATA, "cannot set serial number: %s", sgt_ossl_why());
	BN_free(bn);
	OPENSSL_cleanse(raw, sizeof(raw));
	return rc;
}

static int set_validity(X509 *x, time_t now, long days)
{
	if (X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, &now) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, &now) == NULL)
		return sgt_err(SGT_ERR_DATA, "cannot set validity: %s", sgt_ossl_why());
	return SGT_OK;
}

/* Replaces (or adds) one extension given in openssl.cnf syntax. */
static int put_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int idx;

	X509V3_set_ctx(&ctx, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL)
		return sgt_err(SGT_ERR_DATA, "cannot build extension %s = %s: %s", OBJ_nid2sn(nid), value,
			       sgt_ossl_why());
	while ((idx = X509_get_ext_by_NID(x, nid, -1)) >= 0)
		X509_EXTENSION_free(X509_delete_ext(x, idx));
	if (!X509_add_ext(x, ext, -1)) {
		X509_EXTENSION_free(ext);
		return sgt_err(SGT_ERR_DATA, "cannot add extension %s: %s", OBJ_nid2sn(nid), sgt_ossl_why());
	}
	X509_EXTENSION_free(ext);
	return SGT_OK;
}

static void ku_string(unsigned long bits, struct sgt_buf *b)
{
	static const unsigned long order[] = { X509v3_KU_DIGITAL_SIGNATURE, X509v3_KU_NON_REPUDIATION,
					       X509v3_KU_KEY_ENCIPHERMENT, X509v3_KU_DATA_ENCIPHERMENT,
					       X509v3_KU_KEY_AGREEMENT, X509v3_KU_KEY_CERT_SIGN,
					       X509v3_KU_CRL_SIGN };
	size_t i;

	sgt_buf_printf(b, "critical");
	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if (bits & order[i])
			sgt_buf_printf(b, ",%s", sgt_policy_ku_name(order[i]));
}

static int put_ku(X509 *x, unsigned long bits)
{
	struct sgt_buf b = { 0 };
	int rc;

	ku_string(bits, &b);
	rc = b.p != NULL ? put_ext(x, NULL, NID_key_usage, b.p) : sgt_err(SGT_ERR_DATA, "out of memory");
	sgt_buf_free(&b);
	return rc;
}

static int put_eku(X509 *x, const int *nids, size_t n)
{
	struct sgt_buf b = { 0 };
	size_t i;
	int rc;

	for (i = 0; i < n; i++)
		sgt_buf_printf(&b, "%s%s", i ? "," : "", OBJ_nid2sn(nids[i]));
	rc = b.p != NULL ? put_ext(x, NULL, NID_ext_key_usage, b.p) : sgt_err(SGT_ERR_DATA, "out of memory");
	sgt_buf_free(&b);
	return rc;
}

/* SKI from our key, AKI from the issuer's (ourselves when self-signed). */
static int put_key_ids(X509 *x, X509 *issuer)
{
	int rc;

	if ((rc = put_ext(x, NULL, NID_subject_key_identifier, "hash")) != SGT_OK)
		return rc;
	return put_ext(x, issuer, NID_authority_key_identifier, "keyid:always");
}

static int sign_cert(X509 *x, EVP_PKEY *signer, const char *hash)
{
	const EVP_MD *md = EVP_get_digestbyname(hash);

	if (md == NULL)
		return sgt_err(SGT_ERR_DATA, "unknown signature hash '%s'", hash);
	if (X509_sign(x, signer, md) <= 0)
		return sgt_err(SGT_ERR_HSM, "signing the certificate failed: %s", sgt_ossl_why());
	return SGT_OK;
}

static int set_issuer(X509 *x, X509 *issuer)
{
	X509_NAME *n = issuer != NULL ? X509_get_subject_name(issuer) : X509_get_subject_name(x);

	if (!X509_set_issuer_name(x, n))
		return sgt_err(SGT_ERR_DATA, "cannot set issuer: %s", sgt_ossl_why());
	return SGT_OK;
}

static long spec_days(const struct sgt_cert_spec *spec)
{
	if (spec->days > 0)
		return spec->days;
	return spec->pol != NULL ? spec->pol->validity_days : 365;
}

int sgt_cert_issue(const struct sgt_cert_spec *spec, X509 **out)
{
	X509 *x = X509_new();
	X509_NAME *name = NULL;
	struct sgt_buf dn = { 0 };
	int rc;

	*out = NULL;
	if (x == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	if (spec->subject != NULL)
		rc = sgt_cert_parse_dn(spec->subject, &name);
	else if (spec->pol != NULL && spec->pol->subject != NULL)
		rc = sgt_cert_parse_dn(spec->pol->subject, &name);
	else if ((rc = sgt_buf_printf(&dn, "CN=%s", spec->label != NULL ? spec->label : "signet")) == SGT_OK)
		rc = sgt_cert_parse_dn(dn.p, &name);
	if (rc != SGT_OK)
		goto out;
	if (!X509_set_version(x, 2) || !X509_set_subject_name(x, name) || !X509_set_pubkey(x, spec->pub)) {
		rc = sgt_err(SGT_ERR_DATA, "cannot build certificate: %s", sgt_ossl_why());
		goto out;
	}
	if ((rc = set_serial(x)) != SGT_OK || (rc = set_validity(x, spec->now, spec_days(spec))) != SGT_OK ||
	    (rc = set_issuer(x, spec->issuer)) != SGT_OK)
		goto out;
	if (spec->is_ca) {
		rc = put_ext(x, NULL, NID_basic_constraints, "critical,CA:TRUE");
		rc = rc ? rc : put_ku(x, X509v3_KU_KEY_CERT_SIGN | X509v3_KU_CRL_SIGN | X509v3_KU_DIGITAL_SIGNATURE);
	} else {
		static const int code_sign[] = { NID_code_sign };
		const struct sgt_policy *pol = spec->pol;

		rc = put_ext(x, NULL, NID_basic_constraints, "CA:FALSE");
		rc = rc ? rc : put_ku(x, pol != NULL ? pol->key_usage : X509v3_KU_DIGITAL_SIGNATURE);
		rc = rc ? rc : put_eku(x, pol != NULL ? pol->eku : code_sign, pol != NULL ? pol->neku : 1);
	}
	rc = rc ? rc : put_key_ids(x, spec->issuer);
	rc = rc ? rc : sign_cert(x, spec->signer, spec_hash(spec));
	if (rc != SGT_OK)
		goto out;
	*out = x;
	x = NULL;
out:
	sgt_buf_free(&dn);
	X509_NAME_free(name);
	X509_free(x);
	return rc;
}

static int has_nid(const int *nids, size_t n, int nid)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (nids[i] == nid)
			return 1;
	return 0;
}

uint32_t sgt_cert_key_usage(X509 *x)
{
	ASN1_BIT_STRING *bits = X509_get_ext_d2i(x, NID_key_usage, NULL, NULL);
	uint32_t ku = UINT32_MAX;

	if (bits != NULL) {
		ku = bits->length > 0 ? bits->data[0] : 0;
		if (bits->length > 1)
			ku |= (uint32_t)bits->data[1] << 8;
		ASN1_BIT_STRING_free(bits);
	}
	return ku;
}

/* Applies the policy's key usage and EKU to a carried-over leaf. */
static int apply_policy(X509 *x, const struct sgt_policy *pol, struct sgt_notes *notes)
{
	EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL);
	uint32_t ku = sgt_cert_key_usage(x);
	unsigned long want_ku = pol != NULL ? pol->key_usage : X509v3_KU_DIGITAL_SIGNATURE;
	int nids[2 * SGT_POLICY_MAX_LIST + 8];
	size_t n = 0, i;
	int changed = 0, rc = SGT_OK;

	if (ku == UINT32_MAX) {
		note(notes, "%s", "added key usage (digitalSignature): the old certificate had none");
		rc = put_ku(x, want_ku);
	} else if ((ku & want_ku) != want_ku) {
		note(notes, "%s", "added digitalSignature to key usage: code signing needs it");
		rc = put_ku(x, ku | want_ku);
	}
	if (rc != SGT_OK)
		goto out;
	for (i = 0; eku != NULL && i < (size_t)sk_ASN1_OBJECT_num(eku) && n < sizeof(nids) / sizeof(nids[0]) - SGT_POLICY_MAX_LIST; i++) {
		int nid = OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, (int)i));

		if (pol != NULL && has_nid(pol->forbid_eku, pol->nforbid_eku, nid)) {
			note(notes, "removed the %s extended key usage: the policy forbids it on a code-signing certificate",
			     sgt_policy_eku_name(nid));
			changed = 1;
			continue;
		}
		if (nid != NID_undef)
			nids[n++] = nid;
	}
	if (pol != NULL) {
		for (i = 0; i < pol->neku; i++)
			if (!has_nid(nids, n, pol->eku[i])) {
				note(notes, "added the %s extended key usage (AWS Signer: \"Valid EKU values are CodeSigning or ANY\")",
				     sgt_policy_eku_name(pol->eku[i]));
				nids[n++] = pol->eku[i];
				changed = 1;
			}
	} else if (!has_nid(nids, n, NID_code_sign) && !has_nid(nids, n, NID_anyExtendedKeyUsage)) {
		note(notes, "added the %s extended key usage (AWS Signer: \"Valid EKU values are CodeSigning or ANY\")",
		     "codeSigning");
		nids[n++] = NID_code_sign;
		changed = 1;
	}
	if (changed)
		rc = put_eku(x, nids, n);
	if (rc == SGT_OK && X509_get_ext_by_NID(x, NID_basic_constraints, -1) < 0)
		rc = put_ext(x, NULL, NID_basic_constraints, "CA:FALSE");
out:
	EXTENDED_KEY_USAGE_free(eku);
	return rc;
}

int sgt_cert_reissue(X509 *old, const struct sgt_cert_spec *spec, X509 **out, struct sgt_notes *notes)
{
	X509 *x = X509_new();
	const char *hash = spec_hash(spec);
	long days = spec_days(spec);
	int i, rc = SGT_OK;

	*out = NULL;
	if (x == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	if (!X509_set_version(x, 2) || !X509_set_subject_name(x, X509_get_subject_name(old)) ||
	    !X509_set_pubkey(x, spec->pub)) {
		rc = sgt_err(SGT_ERR_DATA, "cannot build certificate: %s", sgt_ossl_why());
		goto out;
	}
	if ((rc = set_serial(x)) != SGT_OK || (rc = set_validity(x, spec->now, days)) != SGT_OK ||
	    (rc = set_issuer(x, spec->issuer)) != SGT_OK)
		goto out;
	/* Carry every extension over except the key identifiers, recomputed below. */
	for (i = 0; i < X509_get_ext_count(old); i++) {
		X509_EXTENSION *ext = X509_get_ext(old, i);
		int nid = OBJ_obj2nid(X509_EXTENSION_get_object(ext));

		if (nid == NID_subject_key_identifier || nid == NID_authority_key_identifier)
			continue;
		if (!X509_add_ext(x, ext, -1)) {
			rc = sgt_err(SGT_ERR_DATA, "cannot copy extension %s: %s", OBJ_nid2sn(nid), sgt_ossl_why());
			goto out;
		}
	}
	/* A CA certificate stays a CA certificate; code-signing rules are for leaves. */
	if (!sgt_cert_is_ca(old) && (rc = apply_policy(x, spec->pol, notes)) != SGT_OK)
		goto out;
	if (spec->pol == NULL && X509_get_signature_nid(old) != NID_undef) {
		int md_nid = NID_undef;

		if (OBJ_find_sigid_algs(X509_get_signature_nid(old), &md_nid, NULL) &&
		    (md_nid == NID_sha1 || md_nid == NID_md5))
			note(notes, "signed with SHA-256 instead of the old certificate's %s", OBJ_nid2sn(md_nid));
	}
	if ((rc = put_key_ids(x, spec->issuer)) != SGT_OK || (rc = sign_cert(x, spec->signer, hash)) != SGT_OK)
		goto out;
	*out = x;
	x = NULL;
out:
	X509_free(x);
	return rc;
}

int sgt_cert_check_same_key(X509 *old, X509 *new_cert, EVP_PKEY *token_pub, EVP_PKEY *issuer_pub)
{
	char a[65], b[65], c[65];
	int rc, ok;

	if ((rc = sgt_cert_spki_sha256(old, a)) != SGT_OK || (rc = sgt_cert_spki_sha256(new_cert, b)) != SGT_OK ||
	    (rc = sgt_key_spki_sha256(token_pub, c)) != SGT_OK)
		return rc;
	if (strcmp(a, b) != 0)
		return sgt_err(SGT_ERR_VERDICT, "the new certificate's public key (SPKI %.16s...) is not the old one's "
			       "(%.16s...); refusing to write it", b, a);
	if (strcmp(b, c) != 0)
		return sgt_err(SGT_ERR_VERDICT, "the new certificate's public key (SPKI %.16s...) is not the token's "
			       "(%.16s...); refusing to write it", b, c);
	ok = X509_verify(new_cert, issuer_pub) == 1;
	ERR_clear_error();
	if (!ok)
		return sgt_err(SGT_ERR_VERDICT, "the new certificate's signature does not verify with the issuer's "
			       "public key; refusing to write it");
	return SGT_OK;
}

int sgt_cert_csr(EVP_PKEY *pub, EVP_PKEY *signer, const char *subject, const char *label,
		 const struct sgt_policy *pol, X509_REQ **out)
{
	X509_REQ *req = X509_REQ_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	X509_NAME *name = NULL;
	struct sgt_buf dn = { 0 }, ku = { 0 }, eku = { 0 };
	const EVP_MD *md = EVP_get_digestbyname(pol != NULL ? pol->signature_hash : "sha256");
	X509_EXTENSION *ext;
	size_t i;
	int rc;

	*out = NULL;
	if (req == NULL || exts == NULL || md == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "cannot build request: %s", sgt_ossl_why());
		goto out;
	}
	if (subject == NULL && pol != NULL)
		subject = pol->subject;
	if (subject == NULL && (rc = sgt_buf_printf(&dn, "CN=%s", label != NULL ? label : "signet")) == SGT_OK)
		subject = dn.p;
	if ((rc = sgt_cert_parse_dn(subject, &name)) != SGT_OK)
		goto out;
	ku_string(pol != NULL ? pol->key_usage : X509v3_KU_DIGITAL_SIGNATURE, &ku);
	if (pol != NULL)
		for (i = 0; i < pol->neku; i++)
			sgt_buf_printf(&eku, "%s%s", i ? "," : "", OBJ_nid2sn(pol->eku[i]));
	else
		sgt_buf_printf(&eku, "codeSigning");
	if (ku.p == NULL || eku.p == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	/* Ask the CA for the code-signing profile; it may still decide otherwise. */
	if ((ext = X509V3_EXT_conf_nid(NULL, NULL, NID_key_usage, ku.p)) == NULL || !sk_X509_EXTENSION_push(exts, ext) ||
	    (ext = X509V3_EXT_conf_nid(NULL, NULL, NID_ext_key_usage, eku.p)) == NULL || !sk_X509_EXTENSION_push(exts, ext) ||
	    !X509_REQ_set_version(req, 0) || !X509_REQ_set_subject_name(req, name) || !X509_REQ_set_pubkey(req, pub) ||
	    !X509_REQ_add_extensions(req, exts)) {
		rc = sgt_err(SGT_ERR_DATA, "cannot build request: %s", sgt_ossl_why());
		goto out;
	}
	if (X509_REQ_sign(req, signer, md) <= 0) {
		rc = sgt_err(SGT_ERR_HSM, "signing the request failed: %s", sgt_ossl_why());
		goto out;
	}
	*out = req;
	req = NULL;
out:
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	sgt_buf_free(&dn);
	sgt_buf_free(&ku);
	sgt_buf_free(&eku);
	X509_NAME_free(name);
	X509_REQ_free(req);
	return rc;
}

/* -- store ----------------------------------------------------------------- */

static char *label_path(const struct sgt_store *st, const char *label, const char *file)
{
	struct sgt_buf b = { 0 };

	if (sgt_buf_printf(&b, "%s/certs/%s%s%s", st->dir, label, file ? "/" : "", file ? file : "") != SGT_OK)
		return NULL;
	return b.p;
}

void sgt_cert_saved_release(struct sgt_cert_saved *saved)
{
	free(saved->path);
	free(saved->current);
	free(saved->prev);
	memset(saved, 0, sizeof(*saved));
}

int sgt_cert_store_save(const struct sgt_store *st, const char *label, X509 *x, struct sgt_cert_saved *saved)
{
	char serial[128], file[160];
	struct sgt_buf pem = { 0 };
	struct stat sb;
	int rc;

	memset(saved, 0, sizeof(*saved));
	sgt_cert_serial_hex(x, serial, sizeof(serial));
	/* A negative serial (invalid, but found in the wild) must not make a name starting with '-'. */
	snprintf(file, sizeof(file), "%s%s.pem", serial[0] == '-' ? "NEG" : "", serial + (serial[0] == '-'));
	if ((rc = sgt_label_check(label)) != SGT_OK || (rc = sgt_cert_pem(x, &pem)) != SGT_OK)
		goto out;
	saved->path = label_path(st, label, file);
	saved->current = label_path(st, label, "current.pem");
	if (saved->path == NULL || saved->current == NULL) {
		rc = SGT_ERR_DATA;
		goto out;
	}
	if (stat(saved->current, &sb) == 0 &&
	    (rc = sgt_file_read(saved->current, SGT_CERT_MAX_FILE, &saved->prev, &saved->prevlen)) != SGT_OK)
		goto out;
	if ((rc = sgt_put(saved->path, pem.p, pem.len, 1)) != SGT_OK)
		goto out;
	if ((rc = sgt_put(saved->current, pem.p, pem.len, 0)) != SGT_OK) {
		sgt_store_unlink(saved->path);
		goto out;
	}
out:
	sgt_buf_free(&pem);
	if (rc != SGT_OK)
		sgt_cert_saved_release(saved);
	return rc;
}

int sgt_cert_store_current(const struct sgt_store *st, const char *label, X509 **out)
{
	char *path = label_path(st, label, "current.pem");
	struct stat sb;
	int rc = SGT_OK;

	*out = NULL;
	if (path == NULL)
		return SGT_ERR_DATA;
	if (stat(path, &sb) == 0)
		rc = sgt_cert_load(path, out);
	free(path);
	return rc;
}

void sgt_cert_paths_free(char **paths, size_t n)
{
	size_t i;

	for (i = 0; paths != NULL && i < n; i++)
		free(paths[i]);
	free(paths);
}

int sgt_cert_store_list(const struct sgt_store *st, const char *label, char ***paths, size_t *n)
{
	char *dir = label_path(st, label, NULL);
	char **serials = NULL, **list = NULL;
	size_t count = 0, kept = 0, i;
	int rc;

	*paths = NULL;
	*n = 0;
	if (dir == NULL)
		return SGT_ERR_DATA;
	if ((rc = sgt_dir_names(dir, ".pem", &serials, &count)) == SGT_OK && count > 0 &&
	    (list = calloc(count, sizeof(*list))) == NULL)
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
	for (i = 0; rc == SGT_OK && i < count; i++) {
		struct sgt_buf b = { 0 };

		if (strcmp(serials[i], "current") == 0)
			continue;	/* a copy of the newest, not a certificate of its own */
		if (sgt_buf_printf(&b, "%s/%s.pem", dir, serials[i]) != SGT_OK)
			rc = SGT_ERR_DATA;
		else
			list[kept++] = b.p;
	}
	sgt_names_free(serials, count);
	free(dir);
	if (rc != SGT_OK) {
		sgt_cert_paths_free(list, kept);
		return rc;
	}
	*paths = list;
	*n = kept;
	return SGT_OK;
}

int sgt_cert_issuer_held(const struct sgt_store *st, X509 *x)
{
	struct sgt_keyrec *recs = NULL;
	size_t n = 0, i;
	int held = 0;

	if (sgt_cert_self_signed(x))
		return 1;
	if (sgt_keyrec_list(st, &recs, &n) != SGT_OK)
		return 0;
	for (i = 0; i < n && !held; i++) {
		X509 *c = NULL;

		if (sgt_cert_store_current(st, recs[i].label, &c) == SGT_OK && c != NULL && sgt_cert_is_ca(c) &&
		    X509_NAME_cmp(X509_get_subject_name(c), X509_get_issuer_name(x)) == 0 &&
		    X509_verify(x, X509_get0_pubkey(c)) == 1)
			held = 1;
		X509_free(c);
	}
	ERR_clear_error();
	free(recs);
	return held;
}
