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

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>

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

/* ---- sk- forms: built here with OpenSSL following PROTOCOL.u2f, checked by ssh-keygen -Y verify ---- */

struct bb {
	unsigned char b[2048];
	size_t n;
};

static void bb_put(struct bb *w, const void *p, size_t l)
{
	assert_true(w->n + l <= sizeof(w->b));
	memcpy(w->b + w->n, p, l);
	w->n += l;
}

static void bb_u32(struct bb *w, uint32_t v)
{
	unsigned char h[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8),
			       (unsigned char)v };

	bb_put(w, h, 4);
}

static void bb_str(struct bb *w, const void *p, size_t l)
{
	bb_u32(w, (uint32_t)l);
	bb_put(w, p, l);
}

static void bb_cstr(struct bb *w, const char *s)
{
	bb_str(w, s, strlen(s));
}

/* An SSH mpint of a big-endian unsigned value. */
static void bb_mpint(struct bb *w, const BIGNUM *bn)
{
	unsigned char v[80];
	int l = BN_bn2bin(bn, v + 1);

	v[0] = 0;
	if (l > 0 && (v[1] & 0x80))
		bb_str(w, v, (size_t)l + 1);
	else
		bb_str(w, v + 1, (size_t)l);
}

/*
 * Writes dir/NAME.sig: an SSHSIG by a freshly made sk- key (ed25519 when
 * ec is 0, else P-256) over msg with the given flags, and appends its
 * allowed_signers line to dir/sk_signers.  Returns the public key blob.
 */
static void make_sk(const char *name, int ec, unsigned char flags, const char *msg, struct bb *pub)
{
	EVP_PKEY *k = ec ? EVP_EC_gen("P-256") : EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	struct bb blob = { .n = 0 }, sig = { .n = 0 }, env = { .n = 0 };
	unsigned char h[64], d[69], raw[256], point[65];
	size_t rl = sizeof(raw), pl = sizeof(point);
	const char *type = ec ? "sk-ecdsa-sha2-nistp256@openssh.com" : "sk-ssh-ed25519@openssh.com";
	EVP_MD_CTX *mc = EVP_MD_CTX_new();
	char path[256], *b64;
	FILE *f;
	size_t i;

	assert_non_null(k);
	pub->n = 0;
	bb_cstr(pub, type);
	if (ec) {
		assert_int_equal(EVP_PKEY_get_octet_string_param(k, "encoded-pub-key", point, sizeof(point), &pl), 1);
		bb_cstr(pub, "nistp256");
		bb_str(pub, point, pl);
	} else {
		assert_int_equal(EVP_PKEY_get_raw_public_key(k, point, &pl), 1);
		bb_str(pub, point, pl);
	}
	bb_cstr(pub, "ssh:");

	/* The blob PROTOCOL.sshsig signs. */
	bb_put(&blob, "SSHSIG", 6);
	bb_cstr(&blob, "signet-release");
	bb_cstr(&blob, "");
	bb_cstr(&blob, "sha512");
	EVP_Digest(msg, strlen(msg), h, NULL, EVP_sha512(), NULL);
	bb_str(&blob, h, 64);

	/* PROTOCOL.u2f: SHA256(application) || flags || counter || SHA256(blob). */
	EVP_Digest("ssh:", 4, d, NULL, EVP_sha256(), NULL);
	d[32] = flags;
	d[33] = 0;
	d[34] = 0;
	d[35] = 0x01;
	d[36] = 0x2c;
	EVP_Digest(blob.b, blob.n, d + 37, NULL, EVP_sha256(), NULL);
	assert_int_equal(EVP_DigestSignInit(mc, NULL, ec ? EVP_sha256() : NULL, NULL, k), 1);
	assert_int_equal(EVP_DigestSign(mc, raw, &rl, d, sizeof(d)), 1);
	bb_cstr(&sig, type);
	if (ec) {
		const unsigned char *p = raw;
		ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)rl);
		struct bb rs = { .n = 0 };

		assert_non_null(es);
		bb_mpint(&rs, ECDSA_SIG_get0_r(es));
		bb_mpint(&rs, ECDSA_SIG_get0_s(es));
		bb_str(&sig, rs.b, rs.n);
		ECDSA_SIG_free(es);
	} else {
		bb_str(&sig, raw, rl);
	}
	bb_put(&sig, &flags, 1);
	bb_u32(&sig, 300);

	bb_put(&env, "SSHSIG", 6);
	bb_u32(&env, 1);
	bb_str(&env, pub->b, pub->n);
	bb_cstr(&env, "signet-release");
	bb_cstr(&env, "");
	bb_cstr(&env, "sha512");
	bb_str(&env, sig.b, sig.n);

	b64 = sgt_base64(env.b, env.n);
	assert_non_null(b64);
	snprintf(path, sizeof(path), "%s/%s.sig", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("-----BEGIN SSH SIGNATURE-----\n", f);
	for (i = 0; i < strlen(b64); i += 70)
		fprintf(f, "%.70s\n", b64 + i);
	fputs("-----END SSH SIGNATURE-----\n", f);
	fclose(f);
	free(b64);
	b64 = sgt_base64(pub->b, pub->n);
	snprintf(path, sizeof(path), "%s/sk_signers", dir);
	f = fopen(path, "a");
	assert_non_null(f);
	fprintf(f, "%s@example.com %s %s\n", name, type, b64);
	fclose(f);
	free(b64);
	EVP_MD_CTX_free(mc);
	EVP_PKEY_free(k);
}

static void check_sk(const char *name, int ec)
{
	struct bb pub;
	struct sgt_sshsig s;
	char why[128], file[64], *sig;
	size_t len;
	const char *msg = "the sk request";

	make_sk(name, ec, 0x01, msg, &pub);
	run("cd %s && printf '%s' | ssh-keygen -Y verify -f sk_signers -I %s@example.com -n signet-release -s %s.sig "
	    ">/dev/null 2>&1", dir, msg, name, name);
	snprintf(file, sizeof(file), "%s.sig", name);
	sig = slurp(file, &len);
	assert_int_equal(sgt_sshsig_parse(sig, len, &s, why, sizeof(why)), SGT_OK);
	assert_string_equal(sgt_sshsig_key_type(s.pub, s.publen),
			    ec ? "sk-ecdsa-sha2-nistp256@openssh.com" : "sk-ssh-ed25519@openssh.com");
	assert_int_equal(sgt_sshsig_verify(&s, "signet-release", (const unsigned char *)msg, strlen(msg), why,
					   sizeof(why)), SGT_OK);
	assert_int_equal(sgt_sshsig_verify(&s, "signet-release", (const unsigned char *)"other", 5, why, sizeof(why)),
			 SGT_ERR_VERDICT);
	sgt_sshsig_release(&s);
	free(sig);

	/*
	 * Without user presence: ssh-keygen -Y verify still says "Good" (the
	 * signature itself is sound, which this proves), signet refuses it.
	 */
	snprintf(file, sizeof(file), "%s-noup", name);
	make_sk(file, ec, 0x00, msg, &pub);
	run("cd %s && printf '%s' | ssh-keygen -Y verify -f sk_signers -I %s@example.com -n signet-release -s %s.sig "
	    ">/dev/null 2>&1", dir, msg, file, file);
	snprintf(file, sizeof(file), "%s-noup.sig", name);
	sig = slurp(file, &len);
	assert_int_equal(sgt_sshsig_parse(sig, len, &s, why, sizeof(why)), SGT_OK);
	assert_int_equal(sgt_sshsig_verify(&s, "signet-release", (const unsigned char *)msg, strlen(msg), why,
					   sizeof(why)), SGT_ERR_VERDICT);
	assert_string_equal(why, "the security key did not confirm user presence");
	sgt_sshsig_release(&s);
	free(sig);
}

static void test_sk_ed25519(void **st)
{
	(void)st;
	check_sk("sked", 0);
}

static void test_sk_ecdsa(void **st)
{
	(void)st;
	check_sk("skec", 1);
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
		cmocka_unit_test(test_sk_ed25519),	cmocka_unit_test(test_sk_ecdsa),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
