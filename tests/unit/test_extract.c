/*
 * test_extract.c: the scanners on inputs built in memory: PEM split in C
 * literals, comments, byte arrays, DER at odd offsets, de-duplication,
 * line numbers, and garbage that must give nothing without crashing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "extract.h"
#include "sgt.h"
#include "unit.h"

static char *pem(X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p, *s;
	long n;

	PEM_write_bio_X509(b, x);
	n = BIO_get_mem_data(b, &p);
	s = strndup(p, (size_t)n);
	BIO_free(b);
	return s;
}

static size_t scan(const void *d, size_t n, struct sgt_found_list *l)
{
	memset(l, 0, sizeof(*l));
	assert_int_equal(sgt_extract_buf(d, n, l), SGT_OK);
	return l->n;
}

/* Finds that are certificates or keys (broken material is reported apart). */
static size_t usable(const void *d, size_t n)
{
	struct sgt_found_list l;
	size_t i, k = 0;

	scan(d, n, &l);
	for (i = 0; i < l.n; i++) {
		k += l.v[i].kind != SGT_FOUND_BROKEN;
		if (l.v[i].kind == SGT_FOUND_BROKEN)
			assert_null(l.v[i].pub);
	}
	sgt_found_list_release(&l);
	return k;
}

static void test_c_literals(void **state)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = unit_make_cert(k, "lit");
	char *p = pem(x), *line, *save = NULL;
	struct sgt_buf c = { 0 };
	struct sgt_found_list l;
	struct sgt_keyinfo info;

	(void)state;
	sgt_keyinfo_get(x, NULL, &info);
	/* One literal per PEM line, no "\n", a comment and a continuation between. */
	sgt_buf_printf(&c, "// header\n#define CERT \\\n");
	for (line = strtok_r(p, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		sgt_buf_printf(&c, "  \"%s\" /* x */ \\\n", line);
	sgt_buf_printf(&c, "\n");
	assert_int_equal(scan(c.p, c.len, &l), 1);
	assert_int_equal(l.v[0].enc, SGT_ENC_C_STRING);
	assert_int_equal(l.v[0].line, 3);
	assert_string_equal(l.v[0].info.spki_sha256, info.spki_sha256);
	assert_string_equal(l.v[0].info.subject, "CN=lit");
	sgt_found_list_release(&l);
	sgt_buf_free(&c);
	free(p);
	X509_free(x);
	EVP_PKEY_free(k);
}

static void test_bytes_and_dedup(void **state)
{
	EVP_PKEY *k = EVP_EC_gen("P-384");
	X509 *x = unit_make_cert(k, "arr");
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der), i;
	struct sgt_buf c = { 0 };
	struct sgt_found_list l;
	char *p = pem(x);

	(void)state;
	/*
	 * The same certificate twice: as PEM in a comment (reported, not baked)
	 * and as a byte array (baked, named by its array); twice in the array
	 * region counts once.
	 */
	sgt_buf_printf(&c, "/*\n%s*/\nconst unsigned char a[] = {", p);
	for (i = 0; i < n; i++)
		sgt_buf_printf(&c, "%s0x%02X%s", i % 8 ? " " : "\n  ", der[i], i + 1 < n ? "," : "");
	sgt_buf_printf(&c, "\n};\nconst unsigned char b[] = {");
	for (i = 0; i < n; i++)
		sgt_buf_printf(&c, "0x%02X%s", der[i], i + 1 < n ? "," : "");
	sgt_buf_printf(&c, "\n};\n");
	assert_int_equal(scan(c.p, c.len, &l), 2);
	assert_int_equal(l.v[0].line, 2);
	assert_int_equal(l.v[0].state, SGT_C_COMMENT);
	assert_false(l.v[0].baked);
	assert_int_equal(l.v[1].state, SGT_C_ACTIVE);
	assert_true(l.v[1].baked);
	assert_int_equal(l.v[1].device_parses, 1);
	assert_string_equal(l.v[1].symbol, "a");
	assert_string_equal(l.v[0].info.alg, "ecdsa-p384");
	sgt_found_list_release(&l);
	sgt_buf_free(&c);
	OPENSSL_free(der);
	free(p);
	X509_free(x);
	EVP_PKEY_free(k);
}

static void test_binary_offsets(void **state)
{
	EVP_PKEY *k = EVP_EC_gen("P-256"), *k2 = EVP_EC_gen("P-256");
	X509 *x = unit_make_cert(k, "bin");
	unsigned char *der = NULL, *spki = NULL, *blob = calloc(1, 20000);
	int n = i2d_X509(x, &der), m = i2d_PUBKEY(k2, &spki);
	struct sgt_found_list l;

	(void)state;
	RAND_bytes(blob, 20000);
	memset(blob, 0, 16);	/* a NUL makes it binary */
	memcpy(blob + 3333, der, (size_t)n);
	memcpy(blob + 9001, spki, (size_t)m);
	assert_int_equal(scan(blob, 20000, &l), 2);
	assert_true(l.binary);
	assert_int_equal(l.v[0].offset, 3333);
	assert_int_equal(l.v[0].kind, SGT_FOUND_CERT);
	assert_int_equal(l.v[1].offset, 9001);
	assert_int_equal(l.v[1].kind, SGT_FOUND_PUBKEY);
	assert_int_equal(l.v[0].line, 0);
	sgt_found_list_release(&l);
	/* Truncated: no certificate; its intact SubjectPublicKeyInfo is still a key. */
	assert_int_equal(scan(der, (size_t)n - 1, &l), 1);
	assert_int_equal(l.v[0].kind, SGT_FOUND_PUBKEY);
	sgt_found_list_release(&l);
	assert_int_equal(scan(der, 40, &l), 0);
	free(blob);
	OPENSSL_free(der);
	OPENSSL_free(spki);
	X509_free(x);
	EVP_PKEY_free(k);
	EVP_PKEY_free(k2);
}

static void test_garbage(void **state)
{
	static const char *bad[] = {
		"-----BEGIN CERTIFICATE-----", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
		"-----BEGIN ", "\"-----BEGIN CERTIFICATE-----\n\" \"", "0x30, 0x82, 0xff", "/* unterminated", "'",
		"\"\\", "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n",
	};
	unsigned char *r = malloc(1 << 20);
	struct sgt_found_list l;
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* Every prefix, so no scanner reads past the end. */
		for (j = 0; j <= strlen(bad[i]); j++) {
			char *copy = malloc(j ? j : 1);

			memcpy(copy, bad[i], j);
			assert_int_equal(usable(copy, j), 0);
			free(copy);
		}
	}
	RAND_bytes(r, 1 << 20);
	assert_int_equal(scan(r, 1 << 20, &l), 0);
	memset(r, 0x30, 1 << 20);
	assert_int_equal(scan(r, 1 << 20, &l), 0);
	free(r);
}

/* Marker strings: no finding at all; the same under a code-signing name, or with damage, stays broken. */
static void test_markers(void **state)
{
	static const char *const none[] = {
		"int f(const char *b) { return strstr(b, \"-----BEGIN CERTIFICATE-----\") != 0; }\n",
		"#define B \"-----BEGIN CERTIFICATE-----\\n\"\n#define E \"-----END CERTIFICATE-----\\n\"\n",
		"const char *t = \"-----BEGIN CERTIFICATE-----\\n%s\\n-----END CERTIFICATE-----\\n\";\n",
		"n = snprintf(o, m, \"-----BEGIN CERTIFICATE-----\\r\\n%.*s\\r\\n-----END CERTIFICATE-----\\r\\n\", l, b);\n",
		"static const char *m[] = { \"-----BEGIN PUBLIC KEY-----\", \"-----BEGIN RSA PUBLIC KEY-----\" };\n",
	};
	static const char *const broken[] = {
		"#define otapalconfigCODE_SIGNING_CERTIFICATE \"-----BEGIN CERTIFICATE-----\\n\"\n",
		"static const char signer_cert[] = \"-----BEGIN CERTIFICATE-----\";\n",
		"const char *ca = \"-----BEGIN CERTIFICATE-----\\n...paste here...\\n-----END CERTIFICATE-----\\n\";\n",
		"const char *ca = \"-----BEGIN CERTIFICATE-----\\nMIIBAAAAAAAAAAAAAAAAAAAAAAAA\\n\";\n",
		"#define ROOT_CA_PEM \"-----BEGIN CERTIFICATE----- \\r\\n\" \"[ROOT CA CRT PEM]   \\r\\n\" \"-----END CERTIFICATE----- \"\n",
		"const char root_ca[] = \"-----BEGIN CERTIFICATE-----\\n\" \"-----END CERTIFICATE-----\\n\";\n",
	};
	/* mbedTLS's constants as its .rodata holds them. */
	static const unsigned char rodata[] = "\x01\x02-----BEGIN CERTIFICATE-----\0-----END CERTIFICATE-----\0"
					       "-----BEGIN PUBLIC KEY-----\n\0-----BEGIN X509 CRL-----\0\xff";
	struct sgt_found_list l;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
		if (scan(none[i], strlen(none[i]), &l) != 0)
			fail_msg("marker reported: %s", none[i]);
		sgt_found_list_release(&l);
	}
	for (i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
		if (scan(broken[i], strlen(broken[i]), &l) != 1 || l.v[0].kind != SGT_FOUND_BROKEN)
			fail_msg("not one broken find: %s", broken[i]);
		sgt_found_list_release(&l);
	}
	assert_int_equal(scan(rodata, sizeof(rodata), &l), 0);
	assert_true(l.binary);
	sgt_found_list_release(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_c_literals),
		cmocka_unit_test(test_bytes_and_dedup),
		cmocka_unit_test(test_binary_offsets),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_markers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
