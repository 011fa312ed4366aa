/*
 * test_sign.c: signing and verifying digests with software keys (the
 * token path is covered by tests/cli/t4020): ECDSA DER and RSA PKCS#1 v1.5
 * signatures verify, a changed digest does not, the batch verifier's
 * verdicts (on its thread and inline) belong to the signatures they were
 * given, file digests are streamed correctly, signature files are read as
 * base64 or DER, and the OTA JSON has the fields AWS expects.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "sgt.h"
#include "sign.h"

static void roundtrip(EVP_PKEY *k, const EVP_MD *md)
{
	unsigned char d[EVP_MAX_MD_SIZE], *sig = NULL;
	unsigned int dl = 0;
	size_t siglen;

	EVP_Digest("image", 5, d, &dl, md, NULL);
	assert_int_equal(sgt_sign_digest(k, "t", md, d, dl, &sig, &siglen), SGT_OK);
	assert_int_equal(sgt_sign_verify_digest(k, md, d, dl, sig, siglen), SGT_OK);
	if (EVP_PKEY_get_base_id(k) == EVP_PKEY_EC)
		assert_int_equal(sig[0], 0x30);
	else
		assert_int_equal(siglen, (size_t)EVP_PKEY_get_size(k));
	d[0] ^= 1;
	assert_int_equal(sgt_sign_verify_digest(k, md, d, dl, sig, siglen), SGT_ERR_VERDICT);
	free(sig);
}

static void test_sign_verify(void **state)
{
	EVP_PKEY *ec = EVP_EC_gen("P-256"), *ec384 = EVP_EC_gen("P-384"), *rsa = EVP_RSA_gen(2048);

	(void)state;
	roundtrip(ec, EVP_sha256());
	roundtrip(ec384, EVP_sha256());
	roundtrip(rsa, EVP_sha256());
	roundtrip(rsa, EVP_sha1());
	assert_string_equal(sgt_sign_alg(ec), "ECDSA");
	assert_string_equal(sgt_sign_alg(rsa), "RSA");
	EVP_PKEY_free(ec);
	EVP_PKEY_free(ec384);
	EVP_PKEY_free(rsa);
}

static void test_file_digest(void **state)
{
	char path[] = "/tmp/test_sign.XXXXXX";
	unsigned char d[EVP_MAX_MD_SIZE], want[EVP_MAX_MD_SIZE], *big = malloc(200000);
	unsigned int wl;
	size_t dl, i;
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "wb");

	(void)state;
	for (i = 0; i < 200000; i++)
		big[i] = (unsigned char)(i * 7);
	fwrite(big, 1, 200000, f);
	fclose(f);
	assert_int_equal(sgt_sign_file_digest(path, EVP_sha256(), d, &dl, NULL), SGT_OK);
	EVP_Digest(big, 200000, want, &wl, EVP_sha256(), NULL);
	assert_int_equal(dl, 32);
	assert_memory_equal(d, want, 32);
	unlink(path);
	assert_int_equal(sgt_sign_file_digest(path, EVP_sha256(), d, &dl, NULL), SGT_ERR_DATA);
	free(big);
}

static void test_read_sig_and_json(void **state)
{
	char path[] = "/tmp/test_sig.XXXXXX";
	unsigned char *sig;
	size_t len;
	int fd = mkstemp(path);
	json_t *j;

	(void)state;
	assert_int_equal(write(fd, "MEUC\nIQ==\n", 10), 10);
	close(fd);
	assert_int_equal(sgt_sign_read_sig(path, &sig, &len), SGT_OK);
	assert_int_equal(len, 4);
	assert_int_equal(sig[0], 0x30);
	free(sig);
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_int_equal(write(fd, "not base64!", 11), 11);
	close(fd);
	assert_int_equal(sgt_sign_read_sig(path, &sig, &len), SGT_ERR_DATA);
	unlink(path);

	j = sgt_sign_ota_json("c2ln", "PEM", "/c.crt", EVP_sha1(), "RSA");
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(j, "customCodeSigning"), "signature"), "inlineDocument")), "c2ln");
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "customCodeSigning"), "hashAlgorithm")), "SHA1");
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(j, "customCodeSigning"), "certificateChain"), "certificateName")), "/c.crt");
	json_decref(j);
	assert_null(sgt_sign_md("md5"));
}

/*
 * The batch verifier, on its thread and inline: each verdict belongs to the
 * signature submitted with it, good and bad alternating over many rounds
 * (a verdict handed to the wrong image would show as a mismatch), for ECDSA
 * and RSA.
 */
static void verifier_rounds(EVP_PKEY *k, int threaded)
{
	struct sgt_verifier *v = NULL;
	unsigned char d[32], *sig = NULL;
	size_t siglen = 0;
	int i;

	assert_int_equal(sgt_verifier_start(k, EVP_sha256(), threaded, &v), SGT_OK);
	for (i = 0; i < 200; i++) {
		int bad = i % 3 == 1;

		memset(d, i, sizeof(d));
		assert_int_equal(sgt_sign_digest(k, "t", EVP_sha256(), d, sizeof(d), &sig, &siglen), SGT_OK);
		if (bad)
			sig[siglen - 1] ^= 1;
		sgt_verifier_submit(v, d, sizeof(d), sig, siglen);
		free(sig);	/* the verifier keeps its own copy */
		assert_int_equal(sgt_verifier_wait(v), bad ? SGT_ERR_VERDICT : SGT_OK);
	}
	/* an over-long signature is never read past its copy: refused */
	{
		unsigned char huge[SGT_SIGN_MAX_SIG + 16];

		memset(huge, 0x30, sizeof(huge));
		sgt_verifier_submit(v, d, sizeof(d), huge, sizeof(huge));
		assert_int_equal(sgt_verifier_wait(v), SGT_ERR_VERDICT);
	}
	sgt_verifier_stop(v);
	sgt_verifier_stop(NULL);
}

static void test_verifier(void **state)
{
	EVP_PKEY *ec = EVP_EC_gen("P-256"), *rsa = EVP_RSA_gen(2048);

	(void)state;
	verifier_rounds(ec, 1);
	verifier_rounds(ec, 0);
	verifier_rounds(rsa, 1);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(rsa);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sign_verify),
		cmocka_unit_test(test_verifier),
		cmocka_unit_test(test_file_digest),
		cmocka_unit_test(test_read_sig_and_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
