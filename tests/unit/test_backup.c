/*
 * test_backup.c: unit tests for backup.c: packing a directory (lock and
 * temporaries left out, symlinks refused), the payload parser on good and
 * hostile input (path traversal, duplicates, entries below a file, sizes
 * that overrun, random mutations), the passphrase envelope (round trip,
 * wrong passphrase, every kind of flipped byte and truncation, KDF
 * bounds), the CMS envelope with a software RSA recipient, the SoftHSM2
 * configuration rewrite, and writing a restored tree with 0600/0700.
 */
#include <errno.h>
#include <fcntl.h>
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
#include <openssl/evp.h>

#include "backup.h"
#include "store.h"
#include "unit.h"

static const struct sgt_scrypt fast = { 15, 8, 1 };

struct fixture {
	char dir[64];
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (fx == NULL)
		return -1;
	strcpy(fx->dir, "/tmp/sgt-backup-XXXXXX");
	if (mkdtemp(fx->dir) == NULL) {
		free(fx);
		return -1;
	}
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	int rc = unit_rm_tree(fx->dir);

	free(fx);
	return rc;
}

static void put_file(const char *dir, const char *rel, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void put_dir(const char *dir, const char *rel)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	assert_int_equal(mkdir(path, 0700), 0);
}

/* A small store-like tree under <dir>/s. */
static void make_store(const char *dir, char *out, size_t cap)
{
	snprintf(out, cap, "%s/s", dir);
	assert_int_equal(mkdir(out, 0700), 0);
	put_file(out, "signet.yaml", "hsm:\n  module: \"/x.so\"\n  token: \"signet\"\n");
	put_file(out, "lock", "");
	put_file(out, "audit.log", "{\"seq\":1}\n");
	put_dir(out, "keys");
	put_file(out, "keys/fw.yaml", "label: fw\n");
	put_file(out, "keys/fw.yaml.tmpQ1w2E3", "half");
	put_file(out, "keys/fw.yaml.signet-0123456789abcdef0123456789abcdef.tmp", "staged");
	put_dir(out, "hsm");
	put_dir(out, "hsm/tokens");
	put_dir(out, "hsm/tokens/abc-1");
	put_file(out, "hsm/tokens/abc-1/token.object", "TOKEN");
	put_file(out, "hsm/user.pin", "1234\n");
	put_dir(out, "empty");
}

static void pack(const char *store, unsigned char **buf, size_t *len)
{
	json_t *m = json_pack("{s:s}", "store", store);
	size_t nfiles = 0;

	assert_int_equal(sgt_backup_pack(store, m, buf, len, &nfiles), SGT_OK);
	assert_int_equal(nfiles, 5);
	json_decref(m);
}

static void test_pack_parse(void **state)
{
	struct fixture *fx = *state;
	struct sgt_backup_list l;
	const struct sgt_backup_entry *e;
	unsigned char *buf;
	size_t len;
	char store[128], why[128];

	make_store(fx->dir, store, sizeof(store));
	pack(store, &buf, &len);
	assert_memory_equal(buf, "SGTSTORE", 8);
	assert_int_equal(sgt_backup_parse(buf, len, &l, why), SGT_OK);
	assert_string_equal(json_string_value(json_object_get(l.manifest, "store")), store);
	assert_null(sgt_backup_find(&l, "lock"));
	assert_null(sgt_backup_find(&l, "keys/fw.yaml.tmpQ1w2E3"));
	assert_null(sgt_backup_find(&l, "keys/fw.yaml.signet-0123456789abcdef0123456789abcdef.tmp"));
	e = sgt_backup_find(&l, "hsm/tokens/abc-1/token.object");
	assert_non_null(e);
	assert_int_equal(e->type, SGT_ENTRY_FILE);
	assert_int_equal(e->size, 5);
	assert_memory_equal(e->data, "TOKEN", 5);
	assert_int_equal(e->mode, 0600);
	e = sgt_backup_find(&l, "empty");
	assert_non_null(e);
	assert_int_equal(e->type, SGT_ENTRY_DIR);
	/* a directory comes before everything in it */
	assert_string_equal(l.v[0].path, "audit.log");
	{
		size_t i, hsm = 0, tok = 0;

		for (i = 0; i < l.n; i++) {
			if (strcmp(l.v[i].path, "hsm") == 0)
				hsm = i;
			if (strcmp(l.v[i].path, "hsm/tokens/abc-1/token.object") == 0)
				tok = i;
		}
		assert_true(hsm < tok);
	}
	assert_int_equal(l.n, 10);
	sgt_backup_list_release(&l);
	sgt_backup_secret_free(buf, len);
}

static void test_pack_refuses_symlink(void **state)
{
	struct fixture *fx = *state;
	unsigned char *buf = NULL;
	size_t len = 0;
	char store[128], link[256];

	make_store(fx->dir, store, sizeof(store));
	snprintf(link, sizeof(link), "%s/keys/evil.yaml", store);
	assert_int_equal(symlink("/etc/passwd", link), 0);
	assert_int_equal(sgt_backup_pack(store, NULL, &buf, &len, NULL), SGT_ERR_DATA);
	assert_null(buf);
}

/* A database store's backup: of the host's directory only what keep names, the rest given in memory. */
static void test_pack_with(void **state)
{
	static const char *const keep[] = { "signet.yaml", "hsm", NULL };
	struct fixture *fx = *state;
	struct sgt_backup_entry extra[3] = {
		{ (char *)"keys/db.yaml", SGT_ENTRY_FILE, 0600, 9, (const unsigned char *)"label: db" },
		{ (char *)"audit.log", SGT_ENTRY_FILE, 0600, 10, (const unsigned char *)"{\"seq\":7}\n" },
		{ (char *)"signet-db/hosts.jsonl", SGT_ENTRY_FILE, 0600, 0, NULL },
	};
	struct sgt_backup_list l;
	const struct sgt_backup_entry *e;
	unsigned char *buf = NULL;
	size_t len = 0, nfiles = 0, i;
	char store[128], why[128];

	make_store(fx->dir, store, sizeof(store));
	assert_int_equal(sgt_backup_pack_with(store, keep, extra, 3, NULL, &buf, &len, &nfiles), SGT_OK);
	assert_int_equal(nfiles, 6);	/* signet.yaml, token.object, user.pin, and the three given */
	assert_int_equal(sgt_backup_parse(buf, len, &l, why), SGT_OK);
	assert_null(sgt_backup_find(&l, "keys/fw.yaml"));	/* the host's copy: not kept */
	assert_null(sgt_backup_find(&l, "empty"));
	assert_non_null(sgt_backup_find(&l, "hsm/tokens/abc-1/token.object"));
	assert_non_null(sgt_backup_find(&l, "signet.yaml"));
	e = sgt_backup_find(&l, "audit.log");
	assert_non_null(e);
	assert_int_equal(e->size, 10);
	assert_memory_equal(e->data, "{\"seq\":7}\n", 10);	/* the given one, not the directory's */
	e = sgt_backup_find(&l, "signet-db/hosts.jsonl");
	assert_non_null(e);
	assert_int_equal(e->size, 0);
	for (i = 0; i + 1 < l.n; i++)	/* in the payload's order: a directory before its contents */
		assert_true(strcmp(l.v[i].path, l.v[i + 1].path) != 0);
	sgt_backup_list_release(&l);
	sgt_backup_secret_free(buf, len);
	/* a path the archive may not carry is refused, nothing returned */
	extra[0].path = (char *)"../evil";
	assert_int_equal(sgt_backup_pack_with(store, keep, extra, 1, NULL, &buf, &len, &nfiles), SGT_ERR_DATA);
	assert_null(buf);
}

static void test_path_ok(void **state)
{
	static const char *const good[] = { "a", "signet.yaml", "hsm/tokens/6a4c-1/token.object", "certs/fw/current.pem",
					    "fleets/x/1.4.2.yaml", ".hidden", "a..b", NULL };
	static const char *const bad[] = { "", "/etc/passwd", "..", "../x", "a/../b", "a/./b", "./a", "a//b", "a/",
					   "a b", "a\\b", "a\nb", "é", NULL };
	size_t i;

	(void)state;
	for (i = 0; good[i]; i++)
		assert_true(sgt_backup_path_ok(good[i]));
	for (i = 0; bad[i]; i++)
		assert_false(sgt_backup_path_ok(bad[i]));
}

/* Builds a payload from a description: entries as (type, path, data). */
struct spec {
	int type;
	const char *path;
	const char *data;
};

static size_t build(unsigned char *out, const char *manifest, const struct spec *s, size_t n)
{
	size_t pos = 0, i, mlen = strlen(manifest);

	memcpy(out, "SGTSTORE\001", 9);
	out[9] = (unsigned char)(mlen >> 24);
	out[10] = (unsigned char)(mlen >> 16);
	out[11] = (unsigned char)(mlen >> 8);
	out[12] = (unsigned char)mlen;
	memcpy(out + 13, manifest, mlen);
	pos = 13 + mlen;
	out[pos++] = 0;
	out[pos++] = 0;
	out[pos++] = 0;
	out[pos++] = (unsigned char)n;
	for (i = 0; i < n; i++) {
		size_t plen = strlen(s[i].path), dlen = s[i].data ? strlen(s[i].data) : 0;

		out[pos++] = (unsigned char)s[i].type;
		out[pos++] = 0x01;
		out[pos++] = 0x80;
		out[pos++] = (unsigned char)(plen >> 8);
		out[pos++] = (unsigned char)plen;
		memcpy(out + pos, s[i].path, plen);
		pos += plen;
		if (s[i].type != 'f')
			continue;
		memset(out + pos, 0, 7);
		out[pos + 7] = (unsigned char)dlen;
		pos += 8;
		memcpy(out + pos, s[i].data, dlen);
		pos += dlen;
	}
	return pos;
}

static int parses(const unsigned char *buf, size_t len, const char *want_why)
{
	struct sgt_backup_list l;
	char why[128];
	int rc = sgt_backup_parse(buf, len, &l, why);

	if (rc == SGT_OK) {
		sgt_backup_list_release(&l);
		return 1;
	}
	if (want_why != NULL && strstr(why, want_why) == NULL) {
		print_error("why '%s' lacks '%s'\n", why, want_why);
		return -1;
	}
	return 0;
}

static void test_parse_hostile(void **state)
{
	unsigned char buf[4096];
	size_t len;

	(void)state;
	{
		const struct spec s[] = { { 'd', "keys", NULL }, { 'f', "keys/a.yaml", "x" }, { 'f', "signet.yaml", "y" } };

		len = build(buf, "{}", s, 3);
		assert_int_equal(parses(buf, len, NULL), 1);
		assert_int_equal(parses(buf, len - 1, "truncated"), 0);
		buf[len] = 'z';
		assert_int_equal(parses(buf, len + 1, "follow the last entry"), 0);
	}
	{
		const struct spec s[] = { { 'f', "../etc/cron.d/x", "x" } };

		len = build(buf, "{}", s, 1);
		assert_int_equal(parses(buf, len, "does not restore"), 0);
	}
	{
		const struct spec s[] = { { 'f', "/etc/passwd", "x" } };

		len = build(buf, "{}", s, 1);
		assert_int_equal(parses(buf, len, "does not restore"), 0);
	}
	{
		const struct spec s[] = { { 'f', "a", "x" }, { 'f', "a", "y" } };

		len = build(buf, "{}", s, 2);
		assert_int_equal(parses(buf, len, "appears twice"), 0);
	}
	{
		/* 'a-b' sorts between 'a' and 'a/b' in byte order: the check must still see 'a/b' below the file 'a'. */
		const struct spec s[] = { { 'f', "a-b", "x" }, { 'f', "a/b", "y" }, { 'f', "a", "z" } };

		len = build(buf, "{}", s, 3);
		assert_int_equal(parses(buf, len, "below the file"), 0);
	}
	{
		const struct spec s[] = { { 'x', "a", NULL } };

		len = build(buf, "{}", s, 1);
		assert_int_equal(parses(buf, len, "unknown type"), 0);
	}
	{
		const struct spec s[] = { { 'f', "a", "x" } };

		len = build(buf, "[1,2]", s, 1);
		assert_int_equal(parses(buf, len, "not a JSON object"), 0);
		len = build(buf, "{\"a\":1,\"a\":2}", s, 1);
		assert_int_equal(parses(buf, len, "not a JSON object"), 0);
		/* a size that runs past the end, even one that would wrap */
		len = build(buf, "{}", s, 1);
		memset(buf + len - 9, 0xff, 8);
		assert_int_equal(parses(buf, len, "truncated"), 0);
		/* an entry count the buffer cannot hold is refused before any allocation */
		len = build(buf, "{}", s, 1);
		memset(buf + 15, 0xff, 4);
		assert_int_equal(parses(buf, len, "cannot fit"), 0);
		/* another version */
		len = build(buf, "{}", s, 1);
		buf[8] = 2;
		assert_int_equal(parses(buf, len, "version 2"), 0);
	}
	assert_int_equal(parses((const unsigned char *)"SGTSTOR", 7, "not a signet store payload"), 0);
}

/* Random mutations and every truncation of a real payload: refused or parsed, never a crash (run under ASan). */
static void test_parse_mutations(void **state)
{
	struct fixture *fx = *state;
	unsigned char *buf, *copy;
	size_t len, i;
	char store[128];
	unsigned seed = 12345;

	make_store(fx->dir, store, sizeof(store));
	pack(store, &buf, &len);
	copy = malloc(len);
	assert_non_null(copy);
	for (i = 0; i < len; i++)
		assert_int_equal(parses(buf, i, NULL), 0);
	for (i = 0; i < 20000; i++) {
		size_t k, flips = 1 + (rand_r(&seed) % 4);

		memcpy(copy, buf, len);
		for (k = 0; k < flips; k++)
			copy[rand_r(&seed) % len] ^= (unsigned char)(1u << (rand_r(&seed) % 8));
		assert_true(parses(copy, len, NULL) >= 0);
	}
	free(copy);
	sgt_backup_secret_free(buf, len);
}

static void pass_set(struct sgt_pass *p, const char *s)
{
	sgt_backup_pass_wipe(p);
	p->len = strlen(s);
	memcpy(p->value, s, p->len);
}

static void test_pass_round_trip_and_tamper(void **state)
{
	struct fixture *fx = *state;
	struct sgt_pass good, bad;
	struct sgt_scrypt k;
	unsigned char *payload, *arch, *out = NULL;
	size_t plen, alen, olen, i;
	char store[128], why[128];
	/* header fields (magic, version, kind, N, r, p, salt, nonce), ciphertext, tag */
	size_t offs[] = { 0, 8, 9, 10, 11, 14, 18, 19, 34, 35, 46, 47, 60, 0, 0, 0 };

	make_store(fx->dir, store, sizeof(store));
	pack(store, &payload, &plen);
	pass_set(&good, "correct horse battery staple");
	pass_set(&bad, "correct horse battery stapl3");
	assert_int_equal(sgt_backup_seal_pass(payload, plen, &good, &fast, &arch, &alen), SGT_OK);
	assert_int_equal(alen, 47 + plen + 16);
	assert_int_equal(sgt_backup_kind(arch, alen, why), SGT_BACKUP_KIND_SCRYPT);
	/* the plaintext is not in the archive */
	assert_null(memmem(arch, alen, "TOKEN", 5));

	assert_int_equal(sgt_backup_open_pass(arch, alen, &good, &out, &olen, &k, why), SGT_OK);
	assert_int_equal(olen, plen);
	assert_memory_equal(out, payload, plen);
	assert_int_equal(k.log2n, 15);
	assert_int_equal(k.r, 8);
	assert_int_equal(k.p, 1);
	sgt_backup_secret_free(out, olen);

	assert_int_equal(sgt_backup_open_pass(arch, alen, &bad, &out, &olen, NULL, why), SGT_ERR_DATA);
	assert_null(out);
	assert_non_null(strstr(why, "wrong passphrase, or the archive is damaged"));

	offs[13] = alen / 2;
	offs[14] = alen - 16;
	offs[15] = alen - 1;
	for (i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		arch[offs[i]] ^= 0x01;
		assert_int_not_equal(sgt_backup_open_pass(arch, alen, &good, &out, &olen, NULL, why), SGT_OK);
		assert_null(out);
		arch[offs[i]] ^= 0x01;
	}
	/* truncated: in the header (no KDF run), and in the body */
	for (i = 0; i < 63; i++)
		assert_int_not_equal(sgt_backup_open_pass(arch, i, &good, &out, &olen, NULL, why), SGT_OK);
	assert_int_not_equal(sgt_backup_open_pass(arch, alen - 1, &good, &out, &olen, NULL, why), SGT_OK);
	assert_int_not_equal(sgt_backup_open_pass(arch, 63, &good, &out, &olen, NULL, why), SGT_OK);
	assert_null(out);
	/* still good after all that */
	assert_int_equal(sgt_backup_open_pass(arch, alen, &good, &out, &olen, NULL, why), SGT_OK);
	sgt_backup_secret_free(out, olen);

	/* KDF parameters outside the bounds are refused before any key derivation */
	arch[10] = 30;
	assert_int_equal(sgt_backup_open_pass(arch, alen, &good, &out, &olen, NULL, why), SGT_ERR_DATA);
	assert_non_null(strstr(why, "outside what signet accepts"));
	arch[10] = 20;	/* 2^20 * r=8 * 128 = 1 GiB: over the memory bound */
	assert_int_equal(sgt_backup_open_pass(arch, alen, &good, &out, &olen, NULL, why), SGT_ERR_DATA);
	assert_non_null(strstr(why, "need more than"));
	{
		struct sgt_scrypt weak = { 14, 8, 1 };
		unsigned char *a2 = NULL;
		size_t a2len = 0;

		assert_int_equal(sgt_backup_seal_pass(payload, plen, &good, &weak, &a2, &a2len), SGT_ERR_USAGE);
		assert_null(a2);
	}
	free(arch);
	sgt_backup_pass_wipe(&good);
	sgt_backup_pass_wipe(&bad);
	sgt_backup_secret_free(payload, plen);
}

static void test_cms_round_trip(void **state)
{
	EVP_PKEY *rk = EVP_RSA_gen(2048), *other = EVP_EC_gen("P-256");
	X509 *rc = unit_make_cert(rk, "recovery");
	unsigned char payload[] = "SGTSTORE payload bytes that stand for a store";
	unsigned char *arch = NULL, *out = NULL;
	size_t alen = 0, olen = 0;
	char why[128];

	(void)state;
	assert_non_null(rk);
	assert_int_equal(sgt_backup_seal_cms(payload, sizeof(payload), rc, &arch, &alen), SGT_OK);
	assert_int_equal(sgt_backup_kind(arch, alen, why), SGT_BACKUP_KIND_CMS);
	assert_null(memmem(arch, alen, "stand for", 9));
	assert_int_equal(sgt_backup_open_cms(arch, alen, rk, NULL, &out, &olen, why), SGT_OK);
	assert_int_equal(olen, sizeof(payload));
	assert_memory_equal(out, payload, olen);
	sgt_backup_secret_free(out, olen);
	out = NULL;
	assert_int_equal(sgt_backup_open_cms(arch, alen, other, NULL, &out, &olen, why), SGT_ERR_DATA);
	assert_null(out);
	/* the GCM tag sits at the end of the CMS structure */
	arch[alen - 3] ^= 0x40;
	assert_int_equal(sgt_backup_open_cms(arch, alen, rk, NULL, &out, &olen, why), SGT_ERR_DATA);
	assert_null(out);
	arch[alen - 3] ^= 0x40;
	assert_int_equal(sgt_backup_open_cms(arch, alen - 1, rk, NULL, &out, &olen, why), SGT_ERR_DATA);
	/* a passphrase archive is not opened as CMS, and the other way round */
	{
		struct sgt_pass p;

		pass_set(&p, "whatever it is");
		assert_int_equal(sgt_backup_open_pass(arch, alen, &p, &out, &olen, NULL, why), SGT_ERR_USAGE);
		assert_non_null(strstr(why, "--recipient-key"));
	}
	free(arch);
	X509_free(rc);
	EVP_PKEY_free(rk);
	EVP_PKEY_free(other);
}

static void conf_is(const char *in, const char *dir, const char *want)
{
	struct sgt_buf b = { 0 };

	assert_int_equal(sgt_backup_softhsm_conf((const unsigned char *)in, strlen(in), dir, &b), SGT_OK);
	assert_non_null(b.p);
	assert_int_equal(b.len, strlen(want));
	assert_memory_equal(b.p, want, b.len);
	sgt_buf_free(&b);
}

static void test_softhsm_conf(void **state)
{
	struct sgt_buf b = { 0 };

	(void)state;
	conf_is("# c\ndirectories.tokendir = /old/s/hsm/tokens\nobjectstore.backend = file\n", "/new/r/hsm/tokens",
		"# c\ndirectories.tokendir = /new/r/hsm/tokens\nobjectstore.backend = file\n");
	conf_is("  directories.tokendir=/old\nlog.level = ERROR", "/n",
		"directories.tokendir = /n\nlog.level = ERROR\n");
	conf_is("log.level = ERROR\n", "/n", "log.level = ERROR\ndirectories.tokendir = /n\n");
	/* a key that merely starts the same is not the token directory */
	conf_is("directories.tokendirx = 1\n", "/n", "directories.tokendirx = 1\ndirectories.tokendir = /n\n");
	assert_int_equal(sgt_backup_softhsm_conf((const unsigned char *)"", 0, "/a\nb", &b), SGT_ERR_DATA);
	sgt_buf_free(&b);
}

static void test_write_tree(void **state)
{
	struct fixture *fx = *state;
	struct sgt_backup_list l;
	struct stat sb;
	unsigned char *buf;
	size_t len;
	char store[128], dest[160], path[256], why[128];

	make_store(fx->dir, store, sizeof(store));
	assert_int_equal(chmod(store, 0755), 0);
	snprintf(path, sizeof(path), "%s/keys/fw.yaml", store);
	assert_int_equal(chmod(path, 0644), 0);
	pack(store, &buf, &len);
	assert_int_equal(sgt_backup_parse(buf, len, &l, why), SGT_OK);
	snprintf(dest, sizeof(dest), "%s/restored", fx->dir);
	assert_int_equal(mkdir(dest, 0700), 0);
	assert_int_equal(sgt_backup_write_tree(&l, dest, "hsm/user.pin", "9999\n", 5), SGT_OK);
	snprintf(path, sizeof(path), "%s/keys/fw.yaml", dest);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	snprintf(path, sizeof(path), "%s/empty", dest);
	assert_int_equal(stat(path, &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, 0700);
	{
		unsigned char *c;
		size_t n;

		snprintf(path, sizeof(path), "%s/hsm/user.pin", dest);
		assert_int_equal(sgt_file_read(path, 100, &c, &n), SGT_OK);
		assert_int_equal(n, 5);
		assert_memory_equal(c, "9999\n", 5);
		free(c);
		snprintf(path, sizeof(path), "%s/hsm/tokens/abc-1/token.object", dest);
		assert_int_equal(sgt_file_read(path, 100, &c, &n), SGT_OK);
		assert_memory_equal(c, "TOKEN", 5);
		free(c);
	}
	/* never over an existing file */
	assert_int_equal(sgt_backup_write_tree(&l, dest, NULL, NULL, 0), SGT_ERR_DATA);
	sgt_backup_list_release(&l);
	sgt_backup_secret_free(buf, len);
}

static void test_pass_read(void **state)
{
	struct fixture *fx = *state;
	struct sgt_pass p;
	char path[128];
	int fds[2];

	put_file(fx->dir, "p", "  spaces kept \r\nsecond line\n");
	snprintf(path, sizeof(path), "%s/p", fx->dir);
	assert_int_equal(sgt_backup_pass_file(path, &p), SGT_OK);
	assert_string_equal(p.value, "  spaces kept ");
	put_file(fx->dir, "e", "\n");
	snprintf(path, sizeof(path), "%s/e", fx->dir);
	assert_int_equal(sgt_backup_pass_file(path, &p), SGT_ERR_DATA);
	assert_int_equal(p.len, 0);
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write(fds[1], "from a pipe", 11), 11);
	close(fds[1]);
	assert_int_equal(sgt_backup_pass_fd(fds[0], &p), SGT_OK);
	assert_string_equal(p.value, "from a pipe");
	close(fds[0]);
	sgt_backup_pass_wipe(&p);
	assert_int_equal(p.len, 0);
	assert_int_equal(p.value[0], 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_pack_parse),
		T(test_pack_refuses_symlink),
		T(test_pack_with),
		T(test_path_ok),
		T(test_parse_hostile),
		T(test_parse_mutations),
		T(test_pass_round_trip_and_tamper),
		T(test_cms_round_trip),
		T(test_softhsm_conf),
		T(test_write_tree),
			T(test_pass_read),
	};

	umask(077);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
