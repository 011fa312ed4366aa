/*
 * test_pkey.c: unit tests for pkey.c (src/base): the SPKI SHA-256 of a
 * public key is the SHA-256 of i2d_PUBKEY's DER for every kind of key,
 * whether pkey.c writes the DER itself (P-256, P-384 on a named curve,
 * point uncompressed) or leaves it to OpenSSL (everything else); and
 * sgt_pkey_spki_ec reads from exactly those DER bytes the key d2i_PUBKEY
 * reads, and nothing else.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "pkey.h"
#include "unit.h"

static EVP_PKEY *ec_key(const char *curve)
{
	EVP_PKEY *k = EVP_EC_gen(curve);

	assert_non_null(k);
	return k;
}

/* The public half alone, as a certificate or audit.pub gives it. */
static EVP_PKEY *public_only(EVP_PKEY *k)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	int len = i2d_PUBKEY(k, &der);
	EVP_PKEY *pub;

	assert_true(len > 0);
	p = der;
	pub = d2i_PUBKEY(NULL, &p, len);
	assert_non_null(pub);
	OPENSSL_free(der);
	return pub;
}

/* sgt_key_spki_sha256 against SHA-256 of i2d_PUBKEY; wantlen: the DER's length, to see which key it was. */
static void same_as_i2d(EVP_PKEY *k, int wantlen)
{
	unsigned char *der = NULL;
	int len = i2d_PUBKEY(k, &der);
	char want[65], got[65];

	assert_true(len > 0);
	if (wantlen > 0)
		assert_int_equal(len, wantlen);
	sgt_sha256_hex(der, (size_t)len, want);
	OPENSSL_free(der);
	assert_int_equal(sgt_key_spki_sha256(k, got), SGT_OK);
	assert_string_equal(got, want);
}

static void test_spki_named_curves(void **state)
{
	const char *curves[] = { "P-256", "P-384", "prime256v1", "secp384r1" };
	const int lens[] = { 91, 120, 91, 120 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(curves) / sizeof(curves[0]); i++) {
		EVP_PKEY *k = ec_key(curves[i]), *pub = public_only(k);

		same_as_i2d(k, lens[i]);
		same_as_i2d(pub, lens[i]);
		EVP_PKEY_free(pub);
		EVP_PKEY_free(k);
	}
}

/* The point compressed, or the curve's parameters spelt out: i2d_PUBKEY's bytes, not the fixed prefix's. */
static void test_spki_compressed_and_explicit(void **state)
{
	const char *curves[] = { "P-256", "P-384" };
	size_t i;

	(void)state;
	for (i = 0; i < 2; i++) {
		EVP_PKEY *k = ec_key(curves[i]), *pub;

		assert_int_equal(EVP_PKEY_set_utf8_string_param(k, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
								OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_COMPRESSED), 1);
		same_as_i2d(k, i == 0 ? 59 : 72);
		pub = public_only(k);
		same_as_i2d(pub, i == 0 ? 59 : 72);
		EVP_PKEY_free(pub);
		assert_int_equal(EVP_PKEY_set_utf8_string_param(k, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
								OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_UNCOMPRESSED), 1);
		assert_int_equal(EVP_PKEY_set_utf8_string_param(k, OSSL_PKEY_PARAM_EC_ENCODING,
								OSSL_PKEY_EC_ENCODING_EXPLICIT), 1);
		same_as_i2d(k, 0);
		pub = public_only(k);
		same_as_i2d(pub, 0);
		EVP_PKEY_free(pub);
		EVP_PKEY_free(k);
	}
}

static void test_spki_other_keys(void **state)
{
	const char *curves[] = { "secp256k1", "P-521", "P-224" };
	EVP_PKEY *k;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(curves) / sizeof(curves[0]); i++) {
		k = ec_key(curves[i]);
		same_as_i2d(k, 0);
		EVP_PKEY_free(k);
	}
	k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	assert_non_null(k);
	same_as_i2d(k, 44);
	EVP_PKEY_free(k);
}

/* RSA and RSA-PSS keys (left to i2d_PUBKEY): the same hash, whatever the modulus' top bit. */
static void test_spki_rsa(void **state)
{
	/* 1025 and 2047 bits: a modulus whose top byte has its high bit clear, so no 0x00 before it */
	const unsigned int bits[] = { 1024, 1025, 2047, 2048, 3072 };
	const int lens[] = { 162, 162, 293, 294, 422 };
	EVP_PKEY *k, *pub;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bits) / sizeof(bits[0]); i++) {
		k = EVP_RSA_gen(bits[i]);
		assert_non_null(k);
		same_as_i2d(k, lens[i]);
		pub = public_only(k);
		same_as_i2d(pub, lens[i]);
		EVP_PKEY_free(pub);
		EVP_PKEY_free(k);
	}
	/* exponent 3: one byte; and a 4096-bit modulus' three-byte lengths, from the token's attributes */
	{
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
		BIGNUM *e = BN_new(), *n = BN_new();
		unsigned char nb[512];
		OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
		OSSL_PARAM *params;

		assert_true(ctx != NULL && e != NULL && n != NULL && bld != NULL);
		memset(nb, 0xc5, sizeof(nb));
		assert_non_null(BN_bin2bn(nb, sizeof(nb), n));
		assert_int_equal(BN_set_word(e, 3), 1);
		assert_int_equal(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n), 1);
		assert_int_equal(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e), 1);
		params = OSSL_PARAM_BLD_to_param(bld);
		k = NULL;
		assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
		assert_int_equal(EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, params), 1);
		same_as_i2d(k, 0);
		EVP_PKEY_free(k);
		OSSL_PARAM_free(params);
		OSSL_PARAM_BLD_free(bld);
		BN_free(n);
		BN_free(e);
		EVP_PKEY_CTX_free(ctx);
	}
	{
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA-PSS", NULL);

		k = NULL;
		assert_non_null(ctx);
		assert_int_equal(EVP_PKEY_keygen_init(ctx), 1);
		assert_int_equal(EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 2048), 1);
		assert_int_equal(EVP_PKEY_keygen(ctx, &k), 1);
		EVP_PKEY_CTX_free(ctx);
	}
	assert_int_equal(EVP_PKEY_get_base_id(k), EVP_PKEY_RSA_PSS);
	same_as_i2d(k, 0);
	EVP_PKEY_free(k);
}

/* A key as p11.c builds a token's: EVP_PKEY_fromdata from the group name and the point. */
static void test_spki_fromdata(void **state)
{
	EVP_PKEY *k = ec_key("P-256"), *made = NULL;
	unsigned char pt[65];
	size_t n = 0;
	OSSL_PARAM params[3];
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);

	(void)state;
	assert_int_equal(EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt), &n), 1);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"prime256v1", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pt, n);
	params[2] = OSSL_PARAM_construct_end();
	assert_non_null(ctx);
	assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
	assert_int_equal(EVP_PKEY_fromdata(ctx, &made, EVP_PKEY_PUBLIC_KEY, params), 1);
	same_as_i2d(made, 91);
	EVP_PKEY_free(made);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(k);
}

/* sgt_pkey_spki_ec reads what d2i_PUBKEY reads, the same key, for the DER it takes. */
static void test_spki_ec_reads_named(void **state)
{
	const char *curves[] = { "P-256", "P-384" };
	size_t i;

	(void)state;
	for (i = 0; i < 2; i++) {
		EVP_PKEY *k = ec_key(curves[i]), *got = NULL, *want;
		unsigned char *der = NULL;
		const unsigned char *p;
		int len = i2d_PUBKEY(k, &der);

		assert_true(len > 0);
		p = der;
		want = d2i_PUBKEY(NULL, &p, len);
		assert_non_null(want);
		assert_int_equal(sgt_pkey_spki_ec(der, (size_t)len, &got), 1);
		assert_non_null(got);
		assert_int_equal(EVP_PKEY_eq(got, want), 1);
		same_as_i2d(got, len);
		EVP_PKEY_free(got);
		EVP_PKEY_free(want);
		OPENSSL_free(der);
		EVP_PKEY_free(k);
	}
}

/* Anything but the exact DER of a P-256/P-384 key with its point on the curve is left to OpenSSL. */
static void test_spki_ec_leaves_the_rest(void **state)
{
	EVP_PKEY *k = ec_key("P-256"), *got = (EVP_PKEY *)&got, *other;
	unsigned char *der = NULL, buf[200];
	const unsigned char *p;
	int len = i2d_PUBKEY(k, &der);

	(void)state;
	assert_int_equal(len, 91);
	memcpy(buf, der, 91);
	/* a point off the curve: d2i_PUBKEY refuses it too */
	buf[90] ^= 1;
	assert_int_equal(sgt_pkey_spki_ec(buf, 91, &got), 0);
	assert_null(got);
	p = buf;
	other = d2i_PUBKEY(NULL, &p, 91);
	assert_null(other);
	buf[90] ^= 1;
	/* one byte more, one less */
	buf[91] = 0;
	assert_int_equal(sgt_pkey_spki_ec(buf, 92, &got), 0);
	assert_int_equal(sgt_pkey_spki_ec(buf, 90, &got), 0);
	/* the curve's OID one arc off (1.2.840.10045.3.1.10), the point's first byte that of a compressed one */
	buf[22] = 0x0a;
	assert_int_equal(sgt_pkey_spki_ec(buf, 91, &got), 0);
	buf[22] = 0x07;
	buf[26] = 0x02;
	assert_int_equal(sgt_pkey_spki_ec(buf, 91, &got), 0);
	buf[26] = 0x04;
	assert_int_equal(sgt_pkey_spki_ec(buf, 91, &got), 1);
	EVP_PKEY_free(got);
	OPENSSL_free(der);
	EVP_PKEY_free(k);
	k = EVP_RSA_gen(2048);
	der = NULL;
	len = i2d_PUBKEY(k, &der);
	assert_int_equal(sgt_pkey_spki_ec(der, (size_t)len, &got), 0);
	assert_null(got);
	OPENSSL_free(der);
	EVP_PKEY_free(k);
}

static void test_spki_null(void **state)
{
	char out[65] = "x";

	(void)state;
	sgt_silent++;
	assert_int_equal(sgt_key_spki_sha256(NULL, out), SGT_ERR_DATA);
	sgt_silent--;
	assert_string_equal(out, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spki_named_curves),
		cmocka_unit_test(test_spki_compressed_and_explicit),
		cmocka_unit_test(test_spki_other_keys),
		cmocka_unit_test(test_spki_rsa),
		cmocka_unit_test(test_spki_fromdata),
		cmocka_unit_test(test_spki_ec_reads_named),
		cmocka_unit_test(test_spki_ec_leaves_the_rest),
		cmocka_unit_test(test_spki_null),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
