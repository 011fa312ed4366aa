/*
 * test_sshsig.c: unit tests for sshsig.c.  Keys of every supported type
 * are made by ssh-keygen and signed with `ssh-keygen -Y sign` (the peer);
 * signet must accept each, agree with ssh-keygen's fingerprint, and refuse
 * another message, another namespace and altered or truncated files.  The
 * allowed_signers parser is checked for options, wildcards and refusals.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "sgt.h"
#include "sshsig.h"
#include "unit.h"

static char dir[64];

static void run(const char *fmt, ...) SGT_PRINTF(1, 2);
static void run(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	assert_int_equal(system(cmd), 0);
}

static char *slurp(const char *name, size_t *len)
{
	char path[256];
	FILE *f;
	char *buf = malloc(65536);

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_non_null(buf);
	*len = fread(buf, 1, 65535, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

/* Makes key NAME with ssh-keygen ARGS and signs msg with hash alg H. */
static void make_signed(const char *name, const char *args, const char *h)
{
	run("cd %s && ssh-keygen -q %s -N '' -C %s@example.com -f %s >/dev/null && "
	    "printf 'the request' > msg-%s && ssh-keygen -Y sign -f %s -n signet-release -O hashalg=%s msg-%s 2>/dev/null",
	    dir, args, name, name, name, name, h, name);
}

static void check_type(const char *name, const char *args, const char *h, const char *kt)
{
	struct sgt_sshsig s;
	char why[128], fp[64], file[64], *sig, *fpl;
	size_t len, fl;

	make_signed(name, args, h);
	snprintf(file, sizeof(file), "msg-%s.sig", name);
	sig = slurp(file, &len);
	assert_int_equal(sgt_sshsig_parse(sig, len, &s, why, sizeof(why)), SGT_OK);
	assert_string_equal(s.ns, "signet-release");
	assert_string_equal(s.hash_alg, h);
	assert_string_equal(sgt_sshsig_key_type(s.pub, s.publen), kt);
	assert_int_equal(sgt_sshsig_verify(&s, "signet-release", (const unsigned char *)"the request", 11, why,
					   sizeof(why)), SGT_OK);
	assert_int_equal(sgt_sshsig_verify(&s, "signet-release", (const unsigned char *)"the requesT", 11, why,
					   sizeof(why)), SGT_ERR_VERDICT);
	assert_string_equal(why, "the signature does not verify");
	assert_int_equal(sgt_sshsig_verify(&s, "git", (const unsigned char *)"the request", 11, why, sizeof(why)),
			 SGT_ERR_VERDICT);
	assert_string_equal(why, "signed for another namespace");

	/* The fingerprint ssh-keygen prints. */
	sgt_sshsig_fingerprint(s.pub, s.publen, fp);
	run("cd %s && ssh-keygen -l -E sha256 -f %s.pub | cut -d' ' -f2 > fp-%s", dir, name, name);
	snprintf(file, sizeof(file), "fp-%s", name);
	fpl = slurp(file, &fl);
	assert_true(fl > 1);
	fpl[fl - 1] = '\0';
	assert_string_equal(fp, fpl);
	free(fpl);

	/* One altered byte in the signature's last base64 line: parse or verify fails. */
	{
		char *end = strstr(sig, "-----END");
		struct sgt_sshsig t;

		assert_non_null(end);
		end[-6] = end[-6] == 'A' ? 'B' : 'A';
		if (sgt_sshsig_parse(sig, len, &t, why, sizeof(why)) == SGT_OK) {
			assert_int_not_equal(sgt_sshsig_verify(&t, "signet-release", (const unsigned char *)"the request",
							       11, why, sizeof(why)), SGT_OK);
			sgt_sshsig_release(&t);
		}
		/* Truncated: no END line. */
		assert_int_equal(sgt_sshsig_parse(sig, len / 2, &t, why, sizeof(why)), SGT_ERR_DATA);
	}
	sgt_sshsig_release(&s);
	free(sig);
}

static void test_ed25519(void **st)
{
	(void)st;
	check_type("ed", "-t ed25519", "sha512", "ssh-ed25519");
}

static void test_ecdsa256(void **st)
{
	(void)st;
	check_type("p256", "-t ecdsa -b 256", "sha512", "ecdsa-sha2-nistp256");
}

static void test_ecdsa384(void **st)
{
	(void)st;
	check_type("p384", "-t ecdsa -b 384", "sha256", "ecdsa-sha2-nistp384");
}

static void test_rsa_sha256(void **st)
{
	(void)st;
	check_type("rsa256", "-t rsa -b 2048", "sha256", "ssh-rsa");
}

static void test_rsa_sha512(void **st)
{
	(void)st;
	check_type("rsa512", "-t rsa -b 3072", "sha512", "ssh-rsa");
}

static void test_signers(void **st)
{
	struct sgt_signers s;
	char *pub, text[4096];
	size_t len;
	struct sgt_sshsig g;
	char why[128], *sig;
	const struct sgt_signer *hit;

	(void)st;
	make_signed("as", "-t ed25519", "sha512");
	pub = slurp("as.pub", &len);
	*strrchr(pub, ' ') = '\0';	/* drop the comment */
	snprintf(text, sizeof(text),
		 "# team\n\n\"alice@example.com,!mallory@*\" namespaces=\"git,signet-release\",valid-after=\"20260101\","
		 "valid-before=\"20301231235959Z\" %s a comment\n*@ops.example.com %s\n",
		 pub, pub);
	assert_int_equal(sgt_signers_parse(text, strlen(text), "as", &s), SGT_OK);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.v[0].principals, "alice@example.com,!mallory@*");
	assert_string_equal(s.v[0].namespaces, "git,signet-release");
	assert_int_equal(s.v[0].line, 3);
	assert_true(sgt_signers_principal_match(s.v[0].principals, "alice@example.com"));
	assert_false(sgt_signers_principal_match(s.v[0].principals, "mallory@example.com"));
	assert_true(sgt_signers_principal_match(s.v[1].principals, "bob@ops.example.com"));
	assert_false(sgt_signers_principal_match(s.v[1].principals, "bob@dev.example.com"));

	sig = slurp("msg-as.sig", &len);
	assert_int_equal(sgt_sshsig_parse(sig, len, &g, why, sizeof(why)), SGT_OK);
	hit = sgt_signers_find(&s, g.pub, g.publen, "signet-release", 1800000000);	/* 2027 */
	assert_non_null(hit);
	assert_int_equal(hit->line, 3);
	/* Outside line 3's validity: line 4 (no bounds) still takes it. */
	hit = sgt_signers_find(&s, g.pub, g.publen, "signet-release", 2000000000);
	assert_non_null(hit);
	assert_int_equal(hit->line, 4);
	sgt_signers_release(&s);
	sgt_sshsig_release(&g);
	free(sig);

	snprintf(text, sizeof(text), "ca@example.com cert-authority %s\n", pub);
	assert_int_equal(sgt_signers_parse(text, strlen(text), "as", &s), SGT_ERR_DATA);
	snprintf(text, sizeof(text), "a@b valid-after=\"2026\" %s\n", pub);
	assert_int_equal(sgt_signers_parse(text, strlen(text), "as", &s), SGT_ERR_DATA);
	snprintf(text, sizeof(text), "a@b ssh-ed25519 AAAA\n");
	assert_int_equal(sgt_signers_parse(text, strlen(text), "as", &s), SGT_ERR_DATA);
	snprintf(text, sizeof(text), "a@b\n");
	assert_int_equal(sgt_signers_parse(text, strlen(text), "as", &s), SGT_ERR_DATA);
	free(pub);
}

static int setup(void **st)
{
	(void)st;
	sgt_silent = 1;
	strcpy(dir, "/tmp/sgt-sshsig-XXXXXX");
	return mkdtemp(dir) == NULL;
}

static int teardown(void **st)
{
	(void)st;
	return unit_rm_tree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ed25519),	  cmocka_unit_test(test_ecdsa256),	cmocka_unit_test(test_ecdsa384),
		cmocka_unit_test(test_rsa_sha256), cmocka_unit_test(test_rsa_sha512), cmocka_unit_test(test_signers),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
