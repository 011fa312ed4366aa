/*
 * test_cert.c: unit tests for cert.c with software keys standing in for
 * token keys: issuing (self-signed and CA-signed), reissuing for the same
 * key with the policy applied, the SPKI three-way check, CSRs, parsing,
 * DNs, and the store's never-overwrite / atomic current.pem / undo.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "cert.h"
#include "key.h"

static const char pol_text[] =
	"name: t\nkey:\n  algorithms: [ecdsa-p256]\ncertificate:\n  subject: \"CN=ota-signer,O=Acme\"\n"
	"  validity_days: 365\n  renew_before_days: 30\n  key_usage: [digitalSignature]\n"
	"  extended_key_usage: [codeSigning]\n  signature_hash: sha256\n"
	"  forbid_extended_key_usage: [serverAuth, clientAuth]\n";

static EVP_PKEY *ec_key(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");

	assert_non_null(k);
	return k;
}

static struct sgt_policy *policy(void)
{
	struct sgt_policy *p = NULL;

	assert_int_equal(sgt_policy_parse("t.yaml", pol_text, strlen(pol_text), &p), SGT_OK);
	return p;
}

static int ext_critical(X509 *x, int nid)
{
	int i = X509_get_ext_by_NID(x, nid, -1);

	assert_true(i >= 0);
	return X509_EXTENSION_get_critical(X509_get_ext(x, i));
}

static int has_eku(X509 *x, int nid)
{
	EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL);
	int i, found = 0;

	for (i = 0; eku != NULL && i < sk_ASN1_OBJECT_num(eku); i++)
		found |= OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i)) == nid;
	EXTENDED_KEY_USAGE_free(eku);
	return found;
}

static void test_issue_self_signed(void **state)
{
	EVP_PKEY *k = ec_key();
	struct sgt_policy *p = policy();
	struct sgt_cert_spec spec = { 0 };
	X509 *x = NULL;
	char a[65], b[65], serial[128], name[256];
	time_t nb, na;
	const ASN1_INTEGER *sn;

	(void)state;
	spec.pub = k;
	spec.signer = k;
	spec.pol = p;
	spec.now = 1767225600;	/* 2026-01-01 */
	assert_int_equal(sgt_cert_issue(&spec, &x), SGT_OK);
	assert_int_equal(X509_get_version(x), 2);
	assert_true(sgt_cert_self_signed(x));
	assert_false(sgt_cert_is_ca(x));
	assert_int_equal(X509_verify(x, k), 1);
	sgt_cert_name(X509_get_subject_name(x), name, sizeof(name));
	assert_string_equal(name, "CN=ota-signer, O=Acme");
	assert_int_equal(sgt_cert_times(x, &nb, &na), SGT_OK);
	assert_int_equal(nb, spec.now);
	assert_int_equal(na - nb, 365 * 86400);
	/* Serial: 16 bytes, positive. */
	sn = X509_get0_serialNumber(x);
	assert_int_equal(ASN1_STRING_length(sn), 16);
	assert_int_equal(ASN1_STRING_type(sn), V_ASN1_INTEGER);
	sgt_cert_serial_hex(x, serial, sizeof(serial));
	assert_int_equal(strlen(serial), 32);
	/* Extensions of the policy. */
	assert_true(ext_critical(x, NID_key_usage));
	assert_true(has_eku(x, NID_code_sign));
	assert_false(has_eku(x, NID_server_auth));
	assert_true(X509_get_ext_by_NID(x, NID_subject_key_identifier, -1) >= 0);
	assert_true(X509_get_ext_by_NID(x, NID_authority_key_identifier, -1) >= 0);
	assert_int_equal(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);
	/* SPKI helpers agree. */
	assert_int_equal(sgt_cert_spki_sha256(x, a), SGT_OK);
	assert_int_equal(sgt_key_spki_sha256(k, b), SGT_OK);
	assert_string_equal(a, b);
	assert_int_equal(strlen(a), 64);
	X509_free(x);
	/* Subject from the caller, days from the caller, default without a policy. */
	spec.subject = "/CN=other/O=Acme";
	spec.days = 10;
	spec.pol = NULL;
	assert_int_equal(sgt_cert_issue(&spec, &x), SGT_OK);
	sgt_cert_name(X509_get_subject_name(x), name, sizeof(name));
	assert_string_equal(name, "CN=other, O=Acme");
	assert_int_equal(sgt_cert_times(x, &nb, &na), SGT_OK);
	assert_int_equal(na - nb, 10 * 86400);
	assert_true(has_eku(x, NID_code_sign));
	X509_free(x);
	spec.subject = NULL;
	spec.label = "fw";
	assert_int_equal(sgt_cert_issue(&spec, &x), SGT_OK);
	sgt_cert_name(X509_get_subject_name(x), name, sizeof(name));
	assert_string_equal(name, "CN=fw");
	X509_free(x);
	spec.subject = "garbage";
	assert_int_equal(sgt_cert_issue(&spec, &x), SGT_ERR_USAGE);
	assert_null(x);
	sgt_policy_free(p);
	EVP_PKEY_free(k);
}

static void test_issue_ca_chain(void **state)
{
	EVP_PKEY *cak = ec_key(), *k = ec_key();
	struct sgt_cert_spec spec = { 0 };
	X509 *ca = NULL, *leaf = NULL;
	ASN1_OCTET_STRING *ski;
	AUTHORITY_KEYID *aki;
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();

	(void)state;
	spec.pub = cak;
	spec.signer = cak;
	spec.subject = "CN=Test CA";
	spec.is_ca = 1;
	spec.days = 3650;
	spec.now = time(NULL) - 60;
	assert_int_equal(sgt_cert_issue(&spec, &ca), SGT_OK);
	assert_true(sgt_cert_is_ca(ca));
	assert_true(ext_critical(ca, NID_basic_constraints));
	assert_true(X509_get_key_usage(ca) & KU_KEY_CERT_SIGN);
	assert_false(has_eku(ca, NID_code_sign));

	memset(&spec, 0, sizeof(spec));
	spec.pub = k;
	spec.signer = cak;
	spec.issuer = ca;
	spec.subject = "CN=leaf";
	spec.now = time(NULL) - 60;
	assert_int_equal(sgt_cert_issue(&spec, &leaf), SGT_OK);
	assert_false(sgt_cert_self_signed(leaf));
	assert_int_equal(X509_verify(leaf, cak), 1);
	assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(leaf), X509_get_subject_name(ca)), 0);
	ski = X509_get_ext_d2i(ca, NID_subject_key_identifier, NULL, NULL);
	aki = X509_get_ext_d2i(leaf, NID_authority_key_identifier, NULL, NULL);
	assert_non_null(ski);
	assert_non_null(aki);
	assert_int_equal(ASN1_OCTET_STRING_cmp(ski, aki->keyid), 0);
	/* OpenSSL's own chain verification accepts it. */
	assert_int_equal(X509_STORE_add_cert(store, ca), 1);
	assert_int_equal(X509_STORE_CTX_init(ctx, store, leaf, NULL), 1);
	assert_int_equal(X509_verify_cert(ctx), 1);
	assert_int_equal(sgt_cert_check_same_key(leaf, leaf, k, cak), SGT_OK);
	assert_int_equal(sgt_cert_check_same_key(leaf, leaf, k, k), SGT_ERR_VERDICT);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	ASN1_OCTET_STRING_free(ski);
	AUTHORITY_KEYID_free(aki);
	X509_free(leaf);
	X509_free(ca);
	EVP_PKEY_free(k);
	EVP_PKEY_free(cak);
}

/* An "old build script" certificate: SHA-1, serverAuth, no KU, expired. */
static X509 *legacy_cert(EVP_PKEY *k)
{
	X509 *x = X509_new();
	X509_NAME *n = NULL;
	X509V3_CTX ctx;
	X509_EXTENSION *e;
	time_t t = 1577836800;	/* 2020-01-01 */

	assert_int_equal(sgt_cert_parse_dn("CN=ota-signer,O=Old Corp", &n), SGT_OK);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, n);
	X509_set_pubkey(x, k);
	X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, &t);
	X509_time_adj_ex(X509_getm_notAfter(x), 365, 0, &t);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, NID_ext_key_usage, "serverAuth");
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	e = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, "DNS:build.example");
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	assert_true(X509_sign(x, k, EVP_sha1()) > 0);
	X509_NAME_free(n);
	return x;
}

static int has_note(const struct sgt_notes *notes, const char *s)
{
	size_t i;

	for (i = 0; i < notes->n; i++)
		if (strstr(notes->text[i], s) != NULL)
			return 1;
	return 0;
}

static void test_reissue(void **state)
{
	EVP_PKEY *k = ec_key(), *other = ec_key();
	struct sgt_policy *p = policy();
	struct sgt_cert_spec spec = { 0 };
	struct sgt_notes notes = { { 0 }, 0 };
	X509 *old = legacy_cert(k), *x = NULL;
	char a[65], b[65], s1[128], s2[128];
	time_t nb, na;

	(void)state;
	spec.pub = k;
	spec.signer = k;
	spec.pol = p;
	spec.now = 1767225600;
	spec.subject = "CN=ignored";
	assert_int_equal(sgt_cert_reissue(old, &spec, &x, &notes), SGT_OK);
	/* Same key, same subject, new serial and validity. */
	assert_int_equal(sgt_cert_spki_sha256(old, a), SGT_OK);
	assert_int_equal(sgt_cert_spki_sha256(x, b), SGT_OK);
	assert_string_equal(a, b);
	assert_int_equal(X509_NAME_cmp(X509_get_subject_name(old), X509_get_subject_name(x)), 0);
	sgt_cert_serial_hex(old, s1, sizeof(s1));
	sgt_cert_serial_hex(x, s2, sizeof(s2));
	assert_string_not_equal(s1, s2);
	assert_int_equal(sgt_cert_times(x, &nb, &na), SGT_OK);
	assert_int_equal(nb, spec.now);
	assert_int_equal(na - nb, 365 * 86400);
	/* Policy applied, and said so. */
	assert_true(has_eku(x, NID_code_sign));
	assert_false(has_eku(x, NID_server_auth));
	assert_true(has_note(&notes, "removed the serverAuth"));
	assert_true(has_note(&notes, "added the codeSigning"));
	assert_true(has_note(&notes, "added key usage"));
	assert_true(ext_critical(x, NID_key_usage));
	assert_true(X509_get_key_usage(x) & KU_DIGITAL_SIGNATURE);
	/* Other extensions carried over; SHA-256 instead of SHA-1. */
	assert_true(X509_get_ext_by_NID(x, NID_subject_alt_name, -1) >= 0);
	assert_int_equal(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);
	assert_int_equal(X509_get_ext_by_NID(x, NID_subject_key_identifier, -1) >= 0, 1);
	/* The three-way check: passes with the right key, fails with another. */
	assert_int_equal(sgt_cert_check_same_key(old, x, k, k), SGT_OK);
	assert_int_equal(sgt_cert_check_same_key(old, x, other, k), SGT_ERR_VERDICT);
	assert_int_equal(sgt_cert_check_same_key(old, x, k, other), SGT_ERR_VERDICT);
	sgt_notes_release(&notes);
	X509_free(x);
	x = NULL;
	/* A reissue that put another key in would be caught. */
	spec.pub = other;
	spec.signer = other;
	assert_int_equal(sgt_cert_reissue(old, &spec, &x, &notes), SGT_OK);
	assert_int_equal(sgt_cert_check_same_key(old, x, other, other), SGT_ERR_VERDICT);
	sgt_notes_release(&notes);
	X509_free(x);
	/* Without a policy: codeSigning added, serverAuth kept, SHA-1 upgrade said. */
	spec.pub = k;
	spec.signer = k;
	spec.pol = NULL;
	assert_int_equal(sgt_cert_reissue(old, &spec, &x, &notes), SGT_OK);
	assert_true(has_eku(x, NID_code_sign));
	assert_true(has_eku(x, NID_server_auth));
	assert_true(has_note(&notes, "SHA-256 instead"));
	sgt_notes_release(&notes);
	X509_free(x);
	X509_free(old);
	sgt_policy_free(p);
	EVP_PKEY_free(other);
	EVP_PKEY_free(k);
}

static void test_parse(void **state)
{
	EVP_PKEY *k = ec_key();
	X509 *old = legacy_cert(k), *x;
	unsigned char *der = NULL, *big;
	BIO *bio = BIO_new(BIO_s_mem());
	char *pem;
	long pemlen;
	int len;

	(void)state;
	len = i2d_X509(old, &der);
	assert_true(len > 0);
	x = sgt_cert_parse(der, (size_t)len);
	assert_non_null(x);
	assert_int_equal(X509_cmp(x, old), 0);
	X509_free(x);
	/* DER with trailing bytes is not one certificate; truncated is nothing. */
	big = malloc((size_t)len + 1);
	memcpy(big, der, (size_t)len);
	big[len] = 0;
	assert_null(sgt_cert_parse(big, (size_t)len + 1));
	assert_null(sgt_cert_parse(big, (size_t)len - 1));
	assert_null(sgt_cert_parse((const unsigned char *)"", 0));
	free(big);
	PEM_write_bio_X509(bio, old);
	pemlen = BIO_get_mem_data(bio, &pem);
	x = sgt_cert_parse((unsigned char *)pem, (size_t)pemlen);
	assert_non_null(x);
	X509_free(x);
	assert_null(sgt_cert_parse((const unsigned char *)"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", 56));
	BIO_free(bio);
	OPENSSL_free(der);
	X509_free(old);
	EVP_PKEY_free(k);
}

static void test_dn(void **state)
{
	X509_NAME *n = NULL;
	char s[256];

	(void)state;
	assert_int_equal(sgt_cert_parse_dn("CN=a, O=Acme\\, Inc,C=DE", &n), SGT_OK);
	assert_int_equal(X509_NAME_entry_count(n), 3);
	sgt_cert_name(n, s, sizeof(s));
	assert_string_equal(s, "CN=a, O=\"Acme, Inc\", C=DE");
	X509_NAME_free(n);
	assert_int_equal(sgt_cert_parse_dn("/CN=a/OU=b", &n), SGT_OK);
	assert_int_equal(X509_NAME_entry_count(n), 2);
	X509_NAME_free(n);
	n = NULL;
	assert_int_equal(sgt_cert_parse_dn("CN", &n), SGT_ERR_USAGE);
	assert_int_equal(sgt_cert_parse_dn("NOPE=x", &n), SGT_ERR_USAGE);
	assert_int_equal(sgt_cert_parse_dn("CN=", &n), SGT_ERR_USAGE);
	assert_int_equal(sgt_cert_parse_dn(" , ", &n), SGT_ERR_USAGE);
	assert_null(n);
}

static void test_pkey_alg(void **state)
{
	EVP_PKEY *k = ec_key(), *k384 = EVP_EC_gen("P-384"), *rsa = EVP_RSA_gen(2048);
	EVP_PKEY *k1 = EVP_EC_gen("secp256k1");
	char s[64];

	(void)state;
	sgt_pkey_alg(k, s, sizeof(s));
	assert_string_equal(s, "ecdsa-p256");
	sgt_pkey_alg(k384, s, sizeof(s));
	assert_string_equal(s, "ecdsa-p384");
	sgt_pkey_alg(rsa, s, sizeof(s));
	assert_string_equal(s, "rsa-2048");
	sgt_pkey_alg(k1, s, sizeof(s));
	assert_string_equal(s, "ec secp256k1");
	sgt_pkey_alg(NULL, s, sizeof(s));
	assert_string_equal(s, "unknown");
	EVP_PKEY_free(k);
	EVP_PKEY_free(k384);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(k1);
}

static void test_csr(void **state)
{
	EVP_PKEY *k = ec_key();
	struct sgt_policy *p = policy();
	X509_REQ *req = NULL;
	STACK_OF(X509_EXTENSION) *exts;
	char name[128];

	(void)state;
	assert_int_equal(sgt_cert_csr(k, k, NULL, "fw", p, &req), SGT_OK);
	assert_int_equal(X509_REQ_verify(req, k), 1);
	sgt_cert_name(X509_REQ_get_subject_name(req), name, sizeof(name));
	assert_string_equal(name, "CN=ota-signer, O=Acme");
	exts = X509_REQ_get_extensions(req);
	assert_int_equal(sk_X509_EXTENSION_num(exts), 2);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_free(req);
	req = NULL;
	assert_int_equal(sgt_cert_csr(k, k, NULL, "fw", NULL, &req), SGT_OK);
	sgt_cert_name(X509_REQ_get_subject_name(req), name, sizeof(name));
	assert_string_equal(name, "CN=fw");
	X509_REQ_free(req);
	req = NULL;
	assert_int_equal(sgt_cert_csr(k, k, "bad", "fw", p, &req), SGT_ERR_USAGE);
	assert_null(req);
	sgt_policy_free(p);
	EVP_PKEY_free(k);
}

static int count_files(const char *dir)
{
	char cmd[PATH_MAX + 32];
	FILE *f;
	int n = -1;

	snprintf(cmd, sizeof(cmd), "ls -A '%s' | wc -l", dir);
	f = popen(cmd, "r");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%d", &n), 1);
	pclose(f);
	return n;
}

static void test_store(void **state)
{
	char dir[] = "/tmp/sgt-cert-XXXXXX", certs[300], cmd[300];
	struct sgt_store st;
	struct sgt_cert_saved s1, s2;
	struct sgt_cert_spec spec = { 0 };
	EVP_PKEY *k = ec_key();
	X509 *x1 = NULL, *x2 = NULL, *cur = NULL;
	char **paths = NULL;
	size_t n = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	memset(&st, 0, sizeof(st));
	st.dir = dir;
	st.lock_fd = -1;
	spec.pub = k;
	spec.signer = k;
	spec.now = time(NULL);
	assert_int_equal(sgt_cert_issue(&spec, &x1), SGT_OK);
	assert_int_equal(sgt_cert_issue(&spec, &x2), SGT_OK);

	assert_int_equal(sgt_cert_store_current(&st, "fw", &cur), SGT_OK);
	assert_null(cur);
	assert_int_equal(sgt_cert_store_list(&st, "fw", &paths, &n), SGT_OK);
	assert_int_equal(n, 0);
	assert_int_equal(sgt_cert_store_save(&st, "fw", x1, &s1), SGT_OK);
	assert_null(s1.prev);
	assert_int_equal(sgt_cert_store_save(&st, "fw", x2, &s2), SGT_OK);
	assert_non_null(s2.prev);
	assert_int_equal(sgt_cert_store_current(&st, "fw", &cur), SGT_OK);
	assert_int_equal(X509_cmp(cur, x2), 0);
	X509_free(cur);
	assert_int_equal(sgt_cert_store_list(&st, "fw", &paths, &n), SGT_OK);
	assert_int_equal(n, 2);
	assert_true(strcmp(paths[0], paths[1]) < 0);
	sgt_cert_paths_free(paths, n);
	/* Never overwritten: the same certificate (same serial) again is refused, nothing changes. */
	{
		struct sgt_cert_saved s3;

		assert_int_equal(sgt_cert_store_save(&st, "fw", x1, &s3), SGT_ERR_DATA);
		assert_null(s3.path);
	}
	snprintf(certs, sizeof(certs), "%s/certs/fw", dir);
	assert_int_equal(count_files(certs), 3);
	assert_int_equal(sgt_cert_store_current(&st, "fw", &cur), SGT_OK);
	assert_int_equal(X509_cmp(cur, x2), 0);
	X509_free(cur);
	sgt_cert_saved_release(&s1);
	sgt_cert_saved_release(&s2);
	/* A label that is not a label is refused before anything is written. */
	assert_int_equal(sgt_cert_store_save(&st, "../evil", x1, &s2), SGT_ERR_USAGE);
	assert_null(s2.path);
	X509_free(x1);
	X509_free(x2);
	EVP_PKEY_free(k);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* The one renewal rule: the window, a third of a short lifetime, expired is due, and never due again at once. */
static void test_renewal(void **state)
{
	const time_t day = 86400, t0 = 1790000000;
	struct sgt_renewal r;
	char why[200];

	(void)state;
	/* 365 days, 30-day window: due from 30 days before expiry. */
	sgt_cert_renewal(t0, t0 + 365 * day, 30, t0 + 334 * day, &r);
	assert_false(r.due);
	assert_int_equal(r.due_at, t0 + 335 * day);
	assert_false(r.short_life);
	sgt_cert_renewal(t0, t0 + 365 * day, 30, t0 + 335 * day, &r);
	assert_true(r.due);
	sgt_renewal_why(&r, "esp", why, sizeof(why));
	assert_string_equal(why, "policy esp's 30-day renewal window");
	sgt_renewal_why(&r, NULL, why, sizeof(why));
	assert_string_equal(why, "signet's default 30-day renewal window");
	/* Expired: due. */
	sgt_cert_renewal(t0, t0 + 365 * day, 30, t0 + 400 * day, &r);
	assert_true(r.due);
	/* 20 days under a 30-day window: due with a third left, not when new. */
	sgt_cert_renewal(t0, t0 + 21 * day, 30, t0, &r);
	assert_true(r.short_life);
	assert_false(r.due);
	assert_int_equal(r.due_at, t0 + 14 * day);
	sgt_cert_renewal(t0, t0 + 21 * day, 30, t0 + 14 * day, &r);
	assert_true(r.due);
	sgt_renewal_why(&r, "esp", why, sizeof(why));
	assert_non_null(strstr(why, "a third of its 21-day lifetime"));
	/* Exactly as long as the window counts as short (else a fresh one would be due). */
	sgt_cert_renewal(t0, t0 + 30 * day, 30, t0, &r);
	assert_false(r.due);
	assert_true(r.short_life);
	sgt_cert_renewal(t0, t0 + 31 * day, 30, t0, &r);
	assert_false(r.due);
	assert_false(r.short_life);
	/* Inverted dates: the plain window, no division by a negative life. */
	sgt_cert_renewal(t0 + 10 * day, t0, 30, t0, &r);
	assert_true(r.due);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_issue_self_signed),
		cmocka_unit_test(test_issue_ca_chain),
		cmocka_unit_test(test_reissue),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_dn),
		cmocka_unit_test(test_pkey_alg),
		cmocka_unit_test(test_csr),
		cmocka_unit_test(test_store),
		cmocka_unit_test(test_renewal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
