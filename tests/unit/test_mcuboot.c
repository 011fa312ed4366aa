/*
 * test_mcuboot.c: the MCUboot image module without a token: versions as
 * imgtool parses them, the trailer sizes imgtool reserves, an image made
 * with a software key (signed in between, as the token would) judged
 * valid, and the judgement's refusals for a changed byte, another key and
 * a key hash that names another key; Ed25519 (TLV 0x24) as for the rest.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "mcuboot.h"
#include "sign.h"

static void test_version(void **state)
{
	struct sgt_mcuboot_ver v;
	static const char *const bad[] = { "", "1.", "1..2", "01.2.3", "256.0.0", "1.256.0", "1.2.65536",
					   "1.2.3+4294967296", "1.2+3", "1.2.3.4", "a", "-1", "1.2.3+", NULL };
	int i;

	(void)state;
	assert_int_equal(sgt_mcuboot_version_parse("1.2.3+4", &v), SGT_OK);
	assert_int_equal(v.major, 1);
	assert_int_equal(v.minor, 2);
	assert_int_equal(v.revision, 3);
	assert_int_equal(v.build, 4);
	assert_int_equal(sgt_mcuboot_version_parse("255.255.65535+4294967295", &v), SGT_OK);
	assert_int_equal(v.build, 4294967295U);
	assert_int_equal(sgt_mcuboot_version_parse("7", &v), SGT_OK);
	assert_int_equal(v.major, 7);
	assert_int_equal(v.minor + v.revision + v.build, 0);
	for (i = 0; bad[i]; i++)
		assert_int_equal(sgt_mcuboot_version_parse(bad[i], &v), SGT_ERR_USAGE);
}

static void test_trailer(void **state)
{
	(void)state;
	/* imgtool _trailer_size with 128 sectors: 3 * 128 * align + 4 * max_align + magic aligned */
	assert_int_equal(sgt_mcuboot_trailer_size(1), 384 + 32 + 16);
	assert_int_equal(sgt_mcuboot_trailer_size(8), 3072 + 32 + 16);
	assert_int_equal(sgt_mcuboot_trailer_size(32), 12288 + 128 + 32);
}

/* Makes a signed image of body with priv (software key) into b. */
static void make(EVP_PKEY *priv, const unsigned char *body, size_t n, const struct sgt_mcuboot_opts *o,
		 struct sgt_mcuboot_key *k, struct sgt_mcuboot_build *b)
{
	unsigned char *sig = NULL;
	size_t siglen = 0;
	const char *why = NULL;
	char w[300];

	assert_int_equal(sgt_mcuboot_key_of(priv, k, &why), SGT_OK);
	assert_int_equal(sgt_mcuboot_prepare(body, n, o, k, b, w, sizeof(w)), SGT_OK);
	if (k->ed25519) {
		EVP_MD_CTX *c = EVP_MD_CTX_new();

		siglen = 64;
		sig = malloc(siglen);
		assert_int_equal(EVP_DigestSignInit(c, NULL, NULL, NULL, priv), 1);
		assert_int_equal(EVP_DigestSign(c, sig, &siglen, b->digest, b->dlen), 1);	/* pure Ed25519 over the hash */
		EVP_MD_CTX_free(c);
	} else if (k->pss) {
		EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(priv, NULL);

		siglen = 512;
		sig = malloc(siglen);
		assert_int_equal(EVP_PKEY_sign_init(c), 1);
		EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PSS_PADDING);
		EVP_PKEY_CTX_set_signature_md(c, EVP_sha256());
		EVP_PKEY_CTX_set_rsa_mgf1_md(c, EVP_sha256());
		EVP_PKEY_CTX_set_rsa_pss_saltlen(c, 32);
		assert_int_equal(EVP_PKEY_sign(c, sig, &siglen, b->digest, b->dlen), 1);
		EVP_PKEY_CTX_free(c);
	} else {
		assert_int_equal(sgt_sign_digest(priv, "unit", k->md, b->digest, b->dlen, &sig, &siglen), SGT_OK);
	}
	assert_int_equal(sgt_mcuboot_finish(b, o, k, sig, siglen, w, sizeof(w)), SGT_OK);
	free(sig);
}

static void judge_all(const char *curve_or_rsa)
{
	EVP_PKEY *priv = strcmp(curve_or_rsa, "RSA") == 0	 ? EVP_RSA_gen(2048)
			 : strcmp(curve_or_rsa, "ED25519") == 0 ? EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")
								: EVP_EC_gen(curve_or_rsa);
	EVP_PKEY *other = EVP_EC_gen("P-256");
	struct sgt_mcuboot_opts o;
	struct sgt_mcuboot_key k, ko;
	struct sgt_mcuboot_build b;
	struct sgt_mcuboot_image im;
	unsigned char body[300];
	char why[300];
	const char *w;
	int named = -1;

	memset(&o, 0, sizeof(o));
	o.hdr_size = 32;
	o.align = 8;
	o.have_sec_cnt = 1;
	o.sec_cnt = 9;
	memset(body, 0, sizeof(body));
	memset(body + 32, 0xa5, sizeof(body) - 32);
	make(priv, body, sizeof(body), &o, &k, &b);
	assert_int_equal(sgt_mcuboot_parse((unsigned char *)b.img.p, b.img.len, &im, why, sizeof(why)), SGT_OK);
	assert_int_equal(im.ntlv, 4);	/* SEC_CNT; hash, key hash, signature */
	assert_int_equal(sgt_mcuboot_judge(&im, &k, &named, why, sizeof(why)), SGT_OK);
	assert_int_equal(named, 1);
	assert_true(sgt_mcuboot_names_key(&im, &k));
	/* one byte of the body changed */
	b.img.p[100] ^= 1;
	assert_int_equal(sgt_mcuboot_judge(&im, &k, NULL, why, sizeof(why)), SGT_ERR_VERDICT);
	assert_non_null(strstr(why, "does not match its hash TLV"));
	b.img.p[100] ^= 1;
	/* another P-256 key: the key hash does not name it, bootutil skips the signature */
	assert_int_equal(sgt_mcuboot_key_of(other, &ko, &w), SGT_OK);
	if (strcmp(curve_or_rsa, "P-256") == 0) {
		assert_int_equal(sgt_mcuboot_judge(&im, &ko, &named, why, sizeof(why)), SGT_ERR_VERDICT);
		assert_int_equal(named, 0);
		assert_non_null(strstr(why, "no key TLV names"));
	}
	assert_false(sgt_mcuboot_names_key(&im, &ko));
	/* the signature's last byte changed */
	b.img.p[b.img.len - 1] ^= 1;
	assert_int_equal(sgt_mcuboot_judge(&im, &k, NULL, why, sizeof(why)), SGT_ERR_VERDICT);
	sgt_mcuboot_key_release(&k);
	sgt_mcuboot_key_release(&ko);
	sgt_mcuboot_build_release(&b);
	EVP_PKEY_free(priv);
	EVP_PKEY_free(other);
}

static void test_judge_p256(void **state)
{
	(void)state;
	judge_all("P-256");
}

static void test_judge_p384(void **state)
{
	(void)state;
	judge_all("P-384");
}

static void test_judge_rsa(void **state)
{
	(void)state;
	judge_all("RSA");
}

static void test_judge_ed25519(void **state)
{
	(void)state;
	judge_all("ED25519");
}

static void test_ed25519_key(void **state)
{
	EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"), *x = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	struct sgt_mcuboot_key k;
	const char *w;

	(void)state;
	assert_int_equal(sgt_mcuboot_key_of(ed, &k, &w), SGT_OK);
	assert_int_equal(k.sig_tlv, SGT_MCUBOOT_ED25519);
	assert_int_equal(k.hash_tlv, SGT_MCUBOOT_SHA256);
	assert_true(k.ed25519);
	assert_int_equal(k.derlen, 44);	/* SubjectPublicKeyInfo, as keys.c holds it */
	sgt_mcuboot_key_release(&k);
	assert_int_equal(sgt_mcuboot_key_of(x, &k, &w), SGT_ERR_DATA);
	EVP_PKEY_free(ed);
	EVP_PKEY_free(x);
}

static void test_refusals(void **state)
{
	EVP_PKEY *p = EVP_EC_gen("P-256"), *r4096 = EVP_RSA_gen(4096);
	struct sgt_mcuboot_opts o;
	struct sgt_mcuboot_key k, kx;
	struct sgt_mcuboot_build b;
	unsigned char body[64];
	char why[300];
	const char *w;

	(void)state;
	assert_int_equal(sgt_mcuboot_key_of(r4096, &kx, &w), SGT_ERR_DATA);
	assert_non_null(strstr(w, "RSA-2048 and RSA-3072"));
	assert_int_equal(sgt_mcuboot_key_of(p, &k, &w), SGT_OK);
	memset(&o, 0, sizeof(o));
	o.hdr_size = 32;
	o.align = 1;
	memset(body, 0, sizeof(body));
	body[5] = 1;	/* the header's room is not zero */
	assert_int_equal(sgt_mcuboot_prepare(body, sizeof(body), &o, &k, &b, why, sizeof(why)), SGT_ERR_DATA);
	body[5] = 0;
	body[0] = 0x3d, body[1] = 0xb8, body[2] = 0xf3, body[3] = 0x96;	/* already an image */
	assert_int_equal(sgt_mcuboot_prepare(body, sizeof(body), &o, &k, &b, why, sizeof(why)), SGT_ERR_DATA);
	assert_non_null(strstr(why, "already an MCUboot image"));
	memset(body, 0, 4);
	o.slot_size = 200;	/* the trailer alone is 432 bytes */
	assert_int_equal(sgt_mcuboot_prepare(body, sizeof(body), &o, &k, &b, why, sizeof(why)), SGT_ERR_DATA);
	assert_non_null(strstr(why, "do not fit"));
	sgt_mcuboot_key_release(&k);
	EVP_PKEY_free(p);
	EVP_PKEY_free(r4096);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version),     cmocka_unit_test(test_trailer),  cmocka_unit_test(test_judge_p256),
		cmocka_unit_test(test_judge_p384),  cmocka_unit_test(test_judge_rsa), cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_judge_ed25519), cmocka_unit_test(test_ed25519_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
