/*
 * test_lint.c: unit tests for lint.c.  Each certificate is built here
 * with a software key to carry exactly one defect, and must give that
 * finding with its level; a good certificate gives none at all.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "cert.h"
#include "lint.h"

#define NOW ((time_t)1767225600)	/* 2026-01-01 */
#define DAY 86400

static const char pol_text[] =
	"name: esp\nkey:\n  algorithms: [ecdsa-p256]\ncertificate:\n  validity_days: 365\n  renew_before_days: 30\n"
	"  key_usage: [digitalSignature]\n  extended_key_usage: [codeSigning]\n  signature_hash: sha256\n"
	"  forbid_extended_key_usage: [serverAuth, clientAuth]\n";
static const char ti_text[] =
	"name: ti\nkey:\n  algorithms: [rsa-2048]\ncertificate:\n  validity_days: 365\n  renew_before_days: 30\n"
	"  key_usage: [digitalSignature]\n  extended_key_usage: [codeSigning]\n  signature_hash: sha1\n";

static EVP_PKEY *ec, *rsa;
static struct sgt_policy *pol, *ti;

static int setup(void **state)
{
	(void)state;
	ec = EVP_EC_gen("P-256");
	rsa = EVP_RSA_gen(2048);
	if (ec == NULL || rsa == NULL ||
	    sgt_policy_parse("esp.yaml", pol_text, strlen(pol_text), &pol) != SGT_OK ||
	    sgt_policy_parse("ti.yaml", ti_text, strlen(ti_text), &ti) != SGT_OK)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(ec);
	EVP_PKEY_free(rsa);
	sgt_policy_free(pol);
	sgt_policy_free(ti);
	return 0;
}

/* What a test certificate looks like; NULL strings mean "leave it out". */
struct shape {
	EVP_PKEY *key;
	const EVP_MD *md;
	time_t from, to;
	const char *ku, *eku, *bc;
	int no_ids;
	long version;
};

static struct shape good_shape(void)
{
	struct shape s = { ec, NULL, NOW - DAY, NOW + 300 * DAY, "critical,digitalSignature", "codeSigning",
			   "CA:FALSE", 0, 2 };

	s.md = EVP_sha256();
	return s;
}

static void ext(X509 *x, int nid, const char *v)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;

	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, nid, v);
	assert_non_null(e);
	assert_true(X509_add_ext(x, e, -1));
	X509_EXTENSION_free(e);
}

static X509 *build(const struct shape *s)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();

	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"t", -1, -1, 0);
	X509_set_version(x, s->version);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 4242);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, n);
	X509_set_pubkey(x, s->key);
	ASN1_TIME_set(X509_getm_notBefore(x), s->from);
	ASN1_TIME_set(X509_getm_notAfter(x), s->to);
	if (s->version == 2) {
		if (s->bc)
			ext(x, NID_basic_constraints, s->bc);
		if (s->ku)
			ext(x, NID_key_usage, s->ku);
		if (s->eku)
			ext(x, NID_ext_key_usage, s->eku);
		if (!s->no_ids) {
			ext(x, NID_subject_key_identifier, "hash");
			ext(x, NID_authority_key_identifier, "keyid:always");
		}
	}
	assert_true(X509_sign(x, s->key, s->md) > 0);
	X509_NAME_free(n);
	return x;
}

/* Lints s under p; checks exactly one finding with this code and level, and the error count. */
static void expect(const struct shape *s, const struct sgt_policy *p, const char *code, enum sgt_lint_level level,
		   const char *words)
{
	X509 *x = build(s);
	struct sgt_lint l = { 0 };
	size_t i, hits = 0;

	assert_int_equal(sgt_lint_cert(x, p, NOW, 0, &l), SGT_OK);
	for (i = 0; i < l.n; i++)
		if (strcmp(l.items[i].code, code) == 0) {
			hits++;
			assert_int_equal(l.items[i].level, level);
			if (words != NULL && strstr(l.items[i].text, words) == NULL)
				fail_msg("%s: '%s' lacks '%s'", code, l.items[i].text, words);
		}
	if (hits != 1)
		fail_msg("expected one '%s' finding, got %zu", code, hits);
	if (level == SGT_LINT_ERROR)
		assert_true(l.errors >= 1);
	sgt_lint_release(&l);
	X509_free(x);
}

static void test_good_has_no_findings(void **state)
{
	struct shape s = good_shape();
	X509 *x = build(&s);
	struct sgt_lint l = { 0 };
	unsigned char *der = NULL;
	int len;

	(void)state;
	assert_int_equal(sgt_lint_cert(x, pol, NOW, 0, &l), SGT_OK);
	if (l.n != 0)
		fail_msg("good certificate: %s %s", l.items[0].code, l.items[0].text);
	sgt_lint_release(&l);
	/* Also as DER bytes, and under the built-in rules. */
	len = i2d_X509(x, &der);
	assert_int_equal(sgt_lint_buf(der, (size_t)len, pol, NOW, 0, &l), SGT_OK);
	assert_int_equal(l.n, 0);
	sgt_lint_release(&l);
	assert_int_equal(sgt_lint_cert(x, NULL, NOW, 0, &l), SGT_OK);
	assert_int_equal(l.n, 0);
	sgt_lint_release(&l);
	OPENSSL_free(der);
	X509_free(x);
}

static void test_eku(void **state)
{
	struct shape s = good_shape();

	(void)state;
	s.eku = "serverAuth";
	expect(&s, pol, "eku-not-codesigning", SGT_LINT_ERROR,
	       "extended key usage is serverAuth; AWS Signer needs CodeSigning or ANY");
	expect(&s, pol, "eku-not-codesigning", SGT_LINT_ERROR, "Valid EKU values are CodeSigning or ANY");
	expect(&s, pol, "eku-forbidden", SGT_LINT_ERROR, "web server");
	expect(&s, NULL, "eku-not-codesigning", SGT_LINT_ERROR, NULL);
	s.eku = "codeSigning,clientAuth";
	expect(&s, pol, "eku-forbidden", SGT_LINT_ERROR, "clientAuth");
	s.eku = NULL;
	expect(&s, pol, "eku-missing", SGT_LINT_ERROR, "Valid EKU values are CodeSigning or ANY");
	s.eku = "anyExtendedKeyUsage";
	expect(&s, pol, "eku-any", SGT_LINT_WARNING, "AWS Signer accepts it");
	s.eku = "1.2.3.4";
	expect(&s, pol, "eku-not-codesigning", SGT_LINT_ERROR, "1.2.3.4");
}

static void test_ku(void **state)
{
	struct shape s = good_shape();

	(void)state;
	s.ku = "critical,keyEncipherment";
	expect(&s, pol, "ku-no-digital-signature", SGT_LINT_ERROR, "digitalSignature");
	s.ku = NULL;
	expect(&s, pol, "ku-missing", SGT_LINT_WARNING, NULL);
	s.ku = "digitalSignature";
	expect(&s, pol, "ku-not-critical", SGT_LINT_INFO, NULL);
}

static void test_key_and_hash(void **state)
{
	struct shape s = good_shape();

	(void)state;
	s.key = rsa;
	expect(&s, pol, "key-type", SGT_LINT_ERROR, "the key is rsa-2048, but policy esp needs ecdsa-p256");
	s.key = ec;
	s.md = EVP_sha1();
	expect(&s, pol, "weak-signature-hash", SGT_LINT_ERROR, "SHA1");
	expect(&s, NULL, "weak-signature-hash", SGT_LINT_ERROR, NULL);
	/* The TI platform needs SHA-1 and RSA: info, not error. */
	s.key = rsa;
	expect(&s, ti, "sha1-by-policy", SGT_LINT_INFO, NULL);
	s.md = EVP_sha384();
	expect(&s, ti, "signature-hash-policy", SGT_LINT_WARNING, "asks for sha1");
}

static void test_time(void **state)
{
	struct shape s = good_shape();

	(void)state;
	s.from = NOW - 400 * DAY;
	s.to = NOW - 3 * DAY;
	expect(&s, pol, "expired", SGT_LINT_ERROR, "(3 days ago)");
	s.from = NOW + DAY;
	s.to = NOW + 100 * DAY;
	expect(&s, pol, "not-yet-valid", SGT_LINT_ERROR, NULL);
	s.from = NOW - 100 * DAY;
	s.to = NOW + 10 * DAY;
	expect(&s, pol, "expires-soon", SGT_LINT_WARNING, "in 10 days");
	/* Not the current certificate of a key: renew would not act, so it is not advised. */
	expect(&s, pol, "expires-soon", SGT_LINT_WARNING, "reissue it with 'signet cert reissue'");
	s.from = NOW - DAY;
	s.to = NOW + 500 * DAY;
	expect(&s, pol, "validity-too-long", SGT_LINT_ERROR, "valid for 501 days");
}

/* Lints s under p with flags; the text of the finding code, or NULL. */
static char *finding(const struct shape *s, const struct sgt_policy *p, int flags, const char *code)
{
	X509 *x = build(s);
	struct sgt_lint l = { 0 };
	char *text = NULL;
	size_t i;

	assert_int_equal(sgt_lint_cert(x, p, NOW, flags, &l), SGT_OK);
	for (i = 0; i < l.n; i++)
		if (strcmp(l.items[i].code, code) == 0)
			text = strdup(l.items[i].text);
	sgt_lint_release(&l);
	X509_free(x);
	return text;
}

/* expires-soon follows sgt_cert_renewal, the rule renew uses, and says 'signet renew' only for a current certificate. */
static void test_renewal_window(void **state)
{
	struct shape s = good_shape();
	char *t;

	(void)state;
	/* A 20-day certificate with 19 days left: renew would not act (a third of its life is the window). */
	s.from = NOW - DAY;
	s.to = NOW + 19 * DAY;
	assert_null(t = finding(&s, pol, SGT_LINT_CURRENT, "expires-soon"));
	/* With 6 days left it is due, and the finding says why. */
	s.from = NOW - 14 * DAY;
	s.to = NOW + 6 * DAY;
	assert_non_null(t = finding(&s, pol, SGT_LINT_CURRENT, "expires-soon"));
	assert_non_null(strstr(t, "a third of its 20-day lifetime"));
	assert_non_null(strstr(t, "run 'signet renew'"));
	free(t);
	/* A year-long one: the policy's 30-day window. */
	s.from = NOW - 340 * DAY;
	s.to = NOW + 25 * DAY;
	assert_non_null(t = finding(&s, pol, SGT_LINT_CURRENT | SGT_LINT_RENEW_POLICY, "expires-soon"));
	assert_non_null(strstr(t, "policy esp's 30-day renewal window"));
	assert_non_null(strstr(t, "run 'signet renew --policy esp'"));
	free(t);
	assert_non_null(t = finding(&s, pol, 0, "expires-soon"));
	assert_null(strstr(t, "run 'signet renew'"));
	free(t);
	/* Without a policy the default 30 days apply, as renew applies them. */
	assert_non_null(t = finding(&s, NULL, SGT_LINT_CURRENT, "expires-soon"));
	assert_non_null(strstr(t, "signet's default 30-day renewal window"));
	free(t);
	s.to = NOW + 31 * DAY;
	assert_null(t = finding(&s, NULL, SGT_LINT_CURRENT, "expires-soon"));
	/* Expired: renew reissues a current one. */
	s.to = NOW - DAY;
	assert_non_null(t = finding(&s, pol, SGT_LINT_CURRENT, "expired"));
	assert_non_null(strstr(t, "run 'signet renew'"));
	free(t);
}

static void test_structure(void **state)
{
	struct shape s = good_shape();
	X509 *x;
	struct sgt_lint l = { 0 };

	(void)state;
	s.bc = "critical,CA:TRUE";
	s.ku = "critical,digitalSignature,keyCertSign";
	expect(&s, pol, "ca-on-leaf", SGT_LINT_ERROR, "CA:TRUE");
	/* A CA certificate linted as one: no leaf rules, keyCertSign required. */
	x = build(&s);
	assert_int_equal(sgt_lint_cert(x, pol, NOW, SGT_LINT_AS_CA, &l), SGT_OK);
	assert_int_equal(l.errors, 0);
	assert_false(sgt_lint_has(&l, "ca-on-leaf"));
	sgt_lint_release(&l);
	X509_free(x);
	s.ku = "critical,digitalSignature";
	x = build(&s);
	assert_int_equal(sgt_lint_cert(x, pol, NOW, SGT_LINT_AS_CA, &l), SGT_OK);
	assert_true(sgt_lint_has(&l, "ku-no-cert-sign"));
	sgt_lint_release(&l);
	X509_free(x);

	s = good_shape();
	s.no_ids = 1;
	expect(&s, pol, "ski-missing", SGT_LINT_INFO, NULL);
	expect(&s, pol, "aki-missing", SGT_LINT_INFO, NULL);
	s.version = 0;
	expect(&s, pol, "not-v3", SGT_LINT_WARNING, "version 1");
}

static void test_malformed(void **state)
{
	static const char junk[] = "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n";
	struct sgt_lint l = { 0 };

	(void)state;
	assert_int_equal(sgt_lint_buf((const unsigned char *)junk, sizeof(junk) - 1, pol, NOW, 0, &l), SGT_OK);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.errors, 1);
	assert_string_equal(l.items[0].code, "malformed");
	assert_string_equal(sgt_lint_level_name(l.items[0].level), "error");
	sgt_lint_release(&l);
	assert_int_equal(sgt_lint_buf((const unsigned char *)"\x30\x82\x01", 3, pol, NOW, 0, &l), SGT_OK);
	assert_true(sgt_lint_has(&l, "malformed"));
	assert_false(sgt_lint_has(&l, "expired"));
	sgt_lint_release(&l);
	assert_string_equal(sgt_lint_level_name(SGT_LINT_WARNING), "warning");
	assert_string_equal(sgt_lint_level_name(SGT_LINT_INFO), "info");
}

/* What sgt_cert_issue makes under a policy passes that policy's lint. */
static void test_issued_passes(void **state)
{
	struct sgt_cert_spec spec = { 0 };
	struct sgt_lint l = { 0 };
	X509 *x = NULL;

	(void)state;
	spec.pub = ec;
	spec.signer = ec;
	spec.pol = pol;
	spec.now = NOW;
	assert_int_equal(sgt_cert_issue(&spec, &x), SGT_OK);
	assert_int_equal(sgt_lint_cert(x, pol, NOW, 0, &l), SGT_OK);
	assert_int_equal(l.n, 0);
	sgt_lint_release(&l);
	/* ... and expires-soon appears 30 days before the end, expired after it. */
	assert_int_equal(sgt_lint_cert(x, pol, NOW + 340 * DAY, 0, &l), SGT_OK);
	assert_true(sgt_lint_has(&l, "expires-soon"));
	assert_int_equal(l.errors, 0);
	sgt_lint_release(&l);
	assert_int_equal(sgt_lint_cert(x, pol, NOW + 366 * DAY, 0, &l), SGT_OK);
	assert_true(sgt_lint_has(&l, "expired"));
	sgt_lint_release(&l);
	X509_free(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_has_no_findings),
		cmocka_unit_test(test_eku),
		cmocka_unit_test(test_ku),
		cmocka_unit_test(test_key_and_hash),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_renewal_window),
		cmocka_unit_test(test_structure),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_issued_passes),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
