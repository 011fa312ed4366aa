/*
 * test_header.c: header rendering: each format's shape, determinism,
 * names and guards, a subject that tries to close the comment, and the
 * round trip through extract (what signet writes, signet finds again).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "extract.h"
#include "header.h"
#include "sgt.h"
#include "unit.h"

static void render(enum sgt_header_format f, X509 *x, const char *name, struct sgt_buf *b)
{
	b->len = 0;
	assert_int_equal(sgt_header_render(f, x, NULL, name, b), SGT_OK);
	assert_int_equal(sgt_buf_add(b, "", 1), SGT_OK);	/* NUL for strstr */
}

static void test_formats(void **state)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = unit_make_cert(k, "ota-signer");
	struct sgt_buf a = { 0 }, b = { 0 };
	struct sgt_keyinfo info;
	int f;

	(void)state;
	assert_int_equal(sgt_keyinfo_get(x, NULL, &info), SGT_OK);
	for (f = SGT_HEADER_OTA_PAL; f <= SGT_HEADER_PUBKEY; f++) {
		struct sgt_found_list l = { 0 };

		render((enum sgt_header_format)f, x, NULL, &a);
		render((enum sgt_header_format)f, x, NULL, &b);
		assert_int_equal(a.len, b.len);
		assert_memory_equal(a.p, b.p, a.len);
		assert_non_null(strstr(a.p, info.spki_sha256));
		assert_non_null(strstr(a.p, "#ifndef SIGNET_"));
		assert_non_null(strstr(a.p, sgt_header_default_name((enum sgt_header_format)f)));
		/* Round trip: extract finds exactly this key in what we wrote. */
		assert_int_equal(sgt_extract_buf((const unsigned char *)a.p, a.len - 1, &l), SGT_OK);
		assert_int_equal(l.n, 1);
		assert_string_equal(l.v[0].info.spki_sha256, info.spki_sha256);
		assert_int_equal(l.v[0].kind, f == SGT_HEADER_PUBKEY ? SGT_FOUND_PUBKEY : SGT_FOUND_CERT);
		sgt_found_list_release(&l);
	}
	render(SGT_HEADER_OTA_PAL, x, NULL, &a);
	assert_non_null(strstr(a.p, "#define otapalconfigCODE_SIGNING_CERTIFICATE \\\n    \"-----BEGIN CERTIFICATE-----\\n\" \\\n"));
	assert_non_null(strstr(a.p, "\"-----END CERTIFICATE-----\\n\"\n\n#endif"));
	assert_non_null(strstr(a.p, "serial:       1234"));
	render(SGT_HEADER_CODESIGNER, x, NULL, &a);
	assert_non_null(strstr(a.p, "static const char signingcredentialSIGNING_CERTIFICATE_PEM[] =\n"));
	assert_non_null(strstr(a.p, "-----END CERTIFICATE-----\\n\";\n"));
	render(SGT_HEADER_PUBKEY, x, "boot_key", &a);
	assert_non_null(strstr(a.p, "#define boot_key_LEN 91\n"));
	assert_non_null(strstr(a.p, "static const unsigned char boot_key[91] = {\n\t0x30, 0x59,"));
	assert_non_null(strstr(a.p, "#ifndef SIGNET_BOOT_KEY_H\n"));
	sgt_buf_free(&a);
	sgt_buf_free(&b);
	X509_free(x);
	EVP_PKEY_free(k);
}

static void test_hostile_subject(void **state)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = unit_make_cert(k, "evil */ int x; /*");
	struct sgt_buf a = { 0 };
	char *end;

	(void)state;
	render(SGT_HEADER_DER, x, NULL, &a);
	/* The only comment terminator is the one that closes the block. */
	end = strstr(a.p, "*/");
	assert_non_null(end);
	assert_ptr_equal(strstr(a.p, " */\n#ifndef"), end - 1);
	sgt_buf_free(&a);
	X509_free(x);
	EVP_PKEY_free(k);
}

static void test_names(void **state)
{
	enum sgt_header_format f;
	struct sgt_buf b = { 0 };
	EVP_PKEY *k = EVP_EC_gen("P-256");

	(void)state;
	assert_int_equal(sgt_header_format_parse("codesigner", &f), SGT_OK);
	assert_int_equal(f, SGT_HEADER_CODESIGNER);
	assert_int_equal(sgt_header_format_parse("pem", &f), SGT_ERR_USAGE);
	assert_true(sgt_header_name_ok("_a9"));
	assert_false(sgt_header_name_ok("9a"));
	assert_false(sgt_header_name_ok("a-b"));
	assert_false(sgt_header_name_ok(""));
	/* A bare key only makes the pubkey form. */
	assert_int_equal(sgt_header_render(SGT_HEADER_PUBKEY, NULL, k, NULL, &b), SGT_OK);
	assert_int_equal(sgt_header_render(SGT_HEADER_DER, NULL, k, NULL, &b), SGT_ERR_USAGE);
	sgt_buf_free(&b);
	EVP_PKEY_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_formats),
		cmocka_unit_test(test_hostile_subject),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
