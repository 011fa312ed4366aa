/*
 * test_policy.c: unit tests for policy.c: the shipped policies parse, every
 * kind of malformed policy is refused with "file:line: ... field", and
 * lookup follows SIGNET_POLICY_DIR, refuses paths and names that do not
 * match their file.
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
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "policy.h"

static const char good[] =
	"name: p\n"
	"description: test policy\n"
	"key:\n"
	"  algorithms: [ecdsa-p256, rsa-2048]\n"
	"  custody: [sensitive, local]\n"
	"certificate:\n"
	"  subject: \"CN=x, O=y\"\n"
	"  validity_days: 100\n"
	"  renew_before_days: 10\n"
	"  key_usage: [digitalSignature, nonRepudiation]\n"
	"  extended_key_usage: [codeSigning]\n"
	"  signature_hash: sha384\n"
	"  forbid_extended_key_usage: [serverAuth]\n"
	"signing:\n"
	"  hash: sha256\n"
	"  ota_signature_field: sig-sha256-ecdsa\n";

/* Runs parse on text with stderr captured; returns the status and the message. */
static int parse_capture(const char *text, char *msg, size_t cap, struct sgt_policy **out)
{
	char path[] = "/tmp/sgt-pol-err-XXXXXX";
	int fd = mkstemp(path), saved = dup(2), rc;
	FILE *f;
	size_t n;

	assert_true(fd >= 0 && saved >= 0);
	fflush(stderr);
	dup2(fd, 2);
	rc = sgt_policy_parse("t.yaml", text, strlen(text), out);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(fd);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(msg, 1, cap - 1, f);
	msg[n] = '\0';
	fclose(f);
	unlink(path);
	return rc;
}

/* Replaces the first occurrence of from with to in good[] and parses it. */
static void expect_refused(const char *from, const char *to, const char *want)
{
	char text[2048], msg[1024];
	const char *at = strstr(good, from);
	struct sgt_policy *p = NULL;

	assert_non_null(at);
	snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - good), good, to, at + strlen(from));
	assert_int_equal(parse_capture(text, msg, sizeof(msg), &p), SGT_ERR_DATA);
	assert_null(p);
	if (strstr(msg, want) == NULL)
		fail_msg("message '%s' lacks '%s'", msg, want);
}

static void test_parse_good(void **state)
{
	struct sgt_policy *p = NULL;
	char msg[256];

	(void)state;
	assert_int_equal(parse_capture(good, msg, sizeof(msg), &p), SGT_OK);
	assert_string_equal(p->name, "p");
	assert_string_equal(p->description, "test policy");
	assert_int_equal(p->nalgorithms, 2);
	assert_string_equal(p->algorithms[1], "rsa-2048");
	assert_true(sgt_policy_allows_alg(p, "ecdsa-p256"));
	assert_false(sgt_policy_allows_alg(p, "ecdsa-p384"));
	assert_int_equal(p->ncustody, 2);
	assert_string_equal(p->subject, "CN=x, O=y");
	assert_int_equal(p->validity_days, 100);
	assert_int_equal(p->renew_before_days, 10);
	assert_int_equal(p->key_usage, X509v3_KU_DIGITAL_SIGNATURE | X509v3_KU_NON_REPUDIATION);
	assert_int_equal(p->neku, 1);
	assert_int_equal(p->eku[0], NID_code_sign);
	assert_int_equal(p->nforbid_eku, 1);
	assert_int_equal(p->forbid_eku[0], NID_server_auth);
	assert_string_equal(p->signature_hash, "sha384");
	assert_string_equal(p->ota_signature_field, "sig-sha256-ecdsa");
	assert_string_equal(p->path, "t.yaml");
	sgt_policy_free(p);
	sgt_policy_free(NULL);
}

static void test_refusals(void **state)
{
	(void)state;
	expect_refused("  validity_days: 100\n", "  validity_days: 100\n  valdity: 1\n",
		       "t.yaml:9: unknown field 'valdity' in 'certificate'");
	expect_refused("signing:\n", "colour: blue\nsigning:\n", "t.yaml:14: unknown field 'colour' in policy");
	expect_refused("[codeSigning]", "[codesigning]", "t.yaml:11: field 'extended_key_usage': unknown extended key usage 'codesigning'");
	expect_refused("nonRepudiation", "nonrepudiation", "t.yaml:10: field 'key_usage': unknown key usage 'nonrepudiation'");
	expect_refused("ecdsa-p256, rsa-2048", "ecdsa-p521", "t.yaml:4: field 'algorithms': unknown value 'ecdsa-p521'");
	expect_refused("[sensitive, local]", "[sensitve]", "t.yaml:5: field 'custody': unknown value 'sensitve'");
	expect_refused("validity_days: 100", "validity_days: soon", "t.yaml:8: field 'validity_days' must be a whole number");
	expect_refused("validity_days: 100", "validity_days: 0", "field 'validity_days' must be a whole number from 1");
	expect_refused("renew_before_days: 10", "renew_before_days: 100", "t.yaml:9: field 'renew_before_days' (100) must be less than validity_days (100)");
	expect_refused("signature_hash: sha384", "signature_hash: md5", "t.yaml:12: field 'signature_hash': unknown value 'md5'");
	expect_refused("  signature_hash: sha384\n", "", "missing field 'signature_hash'");
	expect_refused("[serverAuth]", "[codeSigning]", "forbids 'codeSigning', which 'extended_key_usage' requires");
	expect_refused("[ecdsa-p256, rsa-2048]", "[]", "field 'algorithms' must name at least one algorithm");
	expect_refused("[ecdsa-p256, rsa-2048]", "ecdsa-p256", "t.yaml:4: field 'algorithms' must be a list");
	expect_refused("[digitalSignature, nonRepudiation]", "[[digitalSignature]]", "must list single values");
	expect_refused("sig-sha256-ecdsa", "sig-sha512-ecdsa", "field 'ota_signature_field': unknown value");
	expect_refused("name: p\n", "name: ../p\n", "t.yaml:1: field 'name': '../p' is not a valid policy name");
	expect_refused("name: p\n", "", "missing field 'name'");
	expect_refused("key:\n  algorithms: [ecdsa-p256, rsa-2048]\n  custody: [sensitive, local]\n", "", "missing field 'key'");
	expect_refused("name: p\n", "name: [p\n", "t.yaml:");
	expect_refused("[serverAuth]", "[a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q]", "more than 16 items");
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(sgt_policy_ku_name(X509v3_KU_KEY_CERT_SIGN), "keyCertSign");
	assert_string_equal(sgt_policy_ku_name(0x8000), "unknown");
	assert_string_equal(sgt_policy_eku_name(NID_anyExtendedKeyUsage), "anyExtendedKeyUsage");
	assert_string_equal(sgt_policy_eku_name(NID_client_auth), "clientAuth");
	assert_true(sgt_policy_hash_ok("sha1"));
	assert_false(sgt_policy_hash_ok("md5"));
	assert_false(sgt_policy_hash_ok(NULL));
}

static void test_shipped(void **state)
{
	static const char *const files[] = { "policies/aws-freertos-esp32.yaml", "policies/aws-freertos-ti-cc3220.yaml",
					     "policies/codesign-generic.yaml" };
	struct sgt_policy *p = NULL;
	size_t i;

	(void)state;
	for (i = 0; i < 3; i++) {
		assert_int_equal(sgt_policy_load_file(files[i], &p), SGT_OK);
		assert_non_null(strstr(files[i], p->name));
		assert_true(p->key_usage & X509v3_KU_DIGITAL_SIGNATURE);
		assert_int_equal(p->eku[0], NID_code_sign);
		if (i == 0) {
			assert_string_equal(p->algorithms[0], "ecdsa-p256");
			assert_int_equal(p->validity_days, 365);
			assert_int_equal(p->renew_before_days, 30);
			assert_string_equal(p->ota_signature_field, "sig-sha256-ecdsa");
		} else if (i == 1) {
			assert_string_equal(p->algorithms[0], "rsa-2048");
			assert_string_equal(p->signature_hash, "sha1");
			assert_string_equal(p->ota_signature_field, "sig-sha1-rsa");
		}
		sgt_policy_free(p);
	}
}

static void write_policy(const char *dir, const char *file, const char *name)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "name: %s\n%s", name, strchr(good, '\n') + 1);
	fclose(f);
}

static void test_find(void **state)
{
	char dir[] = "/tmp/sgt-pol-XXXXXX", store[300], sub[300];
	struct sgt_policy *p = NULL;
	char **names = NULL;
	size_t n = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(store, sizeof(store), "%s/store", dir);
	snprintf(sub, sizeof(sub), "%s/store/policies", dir);
	assert_int_equal(mkdir(store, 0700), 0);
	assert_int_equal(mkdir(sub, 0700), 0);
	write_policy(dir, "env-only.yaml", "env-only");
	write_policy(dir, "liar.yaml", "honest");
	write_policy(sub, "store-only.yaml", "store-only");
	write_policy(sub, "env-only.yaml", "not-this-one");
	setenv("SIGNET_POLICY_DIR", dir, 1);

	assert_int_equal(sgt_policy_find(store, "env-only", &p), SGT_OK);
	assert_string_equal(p->name, "env-only");
	sgt_policy_free(p);
	assert_int_equal(sgt_policy_find(store, "store-only", &p), SGT_OK);
	assert_string_equal(p->name, "store-only");
	sgt_policy_free(p);
	assert_int_equal(sgt_policy_find(NULL, "store-only", &p), SGT_ERR_DATA);
	assert_null(p);
	assert_int_equal(sgt_policy_find(store, "liar", &p), SGT_ERR_DATA);
	assert_null(p);
	assert_int_equal(sgt_policy_find(store, "../store/policies/store-only", &p), SGT_ERR_DATA);
	assert_int_equal(sgt_policy_find(store, "", &p), SGT_ERR_DATA);

	assert_int_equal(sgt_policy_names(store, &names, &n), SGT_OK);
	/* env dir first, then the store's; duplicates once; sorted; plus the shipped ones. */
	assert_true(n >= 3);
	for (size_t i = 1; i < n; i++)
		assert_true(strcmp(names[i - 1], names[i]) < 0);
	{
		size_t i, env = 0, st = 0, liar = 0;

		for (i = 0; i < n; i++) {
			env += strcmp(names[i], "env-only") == 0;
			st += strcmp(names[i], "store-only") == 0;
			liar += strcmp(names[i], "liar") == 0;
		}
		assert_int_equal(env, 1);
		assert_int_equal(st, 1);
		assert_int_equal(liar, 1);
	}
	sgt_policy_names_free(names, n);
	unsetenv("SIGNET_POLICY_DIR");
	{
		char cmd[400];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		assert_int_equal(system(cmd), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_shipped),
		cmocka_unit_test(test_find),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
