/*
 * test_util.c: unit tests for sgt.c (src/base): hex, base64, SHA-256, labels, time
 * parsing and SIGNET_NOW, the growable buffer and whole-file reads.  Tests
 * named test_bug_* pin down behaviour the header promises but the code
 * does not deliver yet.
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

/* A fresh temp directory per test that needs one, removed afterwards. */
struct tmpdir {
	char path[64];
};

static void tmpdir_make(struct tmpdir *t)
{
	strcpy(t->path, "/tmp/sgt-util-XXXXXX");
	assert_non_null(mkdtemp(t->path));
}

static void tmpdir_file(const struct tmpdir *t, const char *name, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s/%s", t->path, name);

	assert_true(n > 0 && (size_t)n < cap);
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* ---- hex ---- */

static void test_hex_round_trip(void **state)
{
	unsigned char in[256], back[256];
	char hex[513];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)i;
	for (i = 0; i <= sizeof(in); i += 17) {
		memset(back, 0xaa, sizeof(back));
		sgt_hex(in, i, hex);
		assert_int_equal(strlen(hex), 2 * i);
		assert_int_equal(sgt_unhex(hex, back, sizeof(back)), (long)i);
		assert_memory_equal(in, back, i);
	}
	sgt_hex((const unsigned char *)"\x00\x0f\xf0\xff", 4, hex);
	assert_string_equal(hex, "000ff0ff");
}

static void test_unhex_upper_case(void **state)
{
	unsigned char out[4];

	(void)state;
	assert_int_equal(sgt_unhex("DEADbeef", out, sizeof(out)), 4);
	assert_memory_equal(out, "\xde\xad\xbe\xef", 4);
}

static void test_unhex_empty(void **state)
{
	unsigned char out[1] = { 0x55 };

	(void)state;
	assert_int_equal(sgt_unhex("", out, sizeof(out)), 0);
	assert_int_equal(out[0], 0x55);
}

static void test_unhex_rejects_odd_and_invalid(void **state)
{
	unsigned char out[16];

	(void)state;
	assert_int_equal(sgt_unhex("abc", out, sizeof(out)), -1);
	assert_int_equal(sgt_unhex("0", out, sizeof(out)), -1);
	assert_int_equal(sgt_unhex("zz", out, sizeof(out)), -1);
	assert_int_equal(sgt_unhex("0g", out, sizeof(out)), -1);
	assert_int_equal(sgt_unhex("g0", out, sizeof(out)), -1);
	assert_int_equal(sgt_unhex("0x12", out, sizeof(out)), -1);
	assert_int_equal(sgt_unhex("12 4", out, sizeof(out)), -1);
	assert_int_equal(sgt_unhex("1-", out, sizeof(out)), -1);
}

static void test_unhex_rejects_overflow(void **state)
{
	unsigned char out[4] = { 1, 2, 3, 4 };
	unsigned char guard[8];

	(void)state;
	memset(guard, 0x77, sizeof(guard));
	assert_int_equal(sgt_unhex("0011223344", out, 4), -1);
	/* Nothing written past (or before) refusing. */
	assert_memory_equal(out, "\x01\x02\x03\x04", 4);
	assert_int_equal(sgt_unhex("00112233", out, 4), 4);
	assert_int_equal(sgt_unhex("00", guard, 0), -1);
	assert_int_equal(guard[0], 0x77);
}

/* ---- base64 ---- */

static void test_base64_round_trip_0_to_70(void **state)
{
	unsigned char in[70];
	size_t len, i;

	(void)state;
	for (i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i * 37 + 11);
	for (len = 0; len <= 70; len++) {
		char *enc = sgt_base64(in, len);
		unsigned char *dec = NULL;
		size_t declen = 12345;

		assert_non_null(enc);
		assert_int_equal(strlen(enc), 4 * ((len + 2) / 3));
		/* The encoder pads to a multiple of four with '='. */
		if (len % 3 == 1)
			assert_string_equal(enc + strlen(enc) - 2, "==");
		else if (len % 3 == 2) {
			assert_int_equal(enc[strlen(enc) - 1], '=');
			assert_int_not_equal(enc[strlen(enc) - 2], '=');
		} else if (len > 0)
			assert_int_not_equal(enc[strlen(enc) - 1], '=');
		if (len == 0) {
			/* Empty input encodes to "", which the decoder refuses. */
			assert_string_equal(enc, "");
			assert_int_equal(sgt_unbase64(enc, 0, &dec, &declen), SGT_ERR_DATA);
			assert_null(dec);
			assert_int_equal(declen, 0);
		} else {
			assert_int_equal(sgt_unbase64(enc, strlen(enc), &dec, &declen), SGT_OK);
			assert_non_null(dec);
			assert_int_equal(declen, len);
			assert_memory_equal(dec, in, len);
		}
		free(dec);
		free(enc);
	}
}

static void test_base64_known_vectors(void **state)
{
	static const struct {
		const char *plain, *b64;
	} v[] = {
		{ "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char *enc = sgt_base64((const unsigned char *)v[i].plain, strlen(v[i].plain));
		unsigned char *dec;
		size_t declen;

		assert_non_null(enc);
		assert_string_equal(enc, v[i].b64);
		assert_int_equal(sgt_unbase64(v[i].b64, strlen(v[i].b64), &dec, &declen), SGT_OK);
		assert_int_equal(declen, strlen(v[i].plain));
		assert_memory_equal(dec, v[i].plain, declen);
		free(dec);
		free(enc);
	}
}

static void test_unbase64_ignores_whitespace(void **state)
{
	static const char in[] = " Zm9v\nYmFy\r\n\tZg==\n";
	unsigned char *dec;
	size_t declen;

	(void)state;
	assert_int_equal(sgt_unbase64(in, strlen(in), &dec, &declen), SGT_OK);
	assert_int_equal(declen, 7);
	assert_memory_equal(dec, "foobarf", 7);
	free(dec);
}

static void test_unbase64_uses_inlen(void **state)
{
	/* Only the first 4 characters are the input; the rest must be ignored. */
	static const char in[] = "Zm9v!!!!";
	unsigned char *dec;
	size_t declen;

	(void)state;
	assert_int_equal(sgt_unbase64(in, 4, &dec, &declen), SGT_OK);
	assert_int_equal(declen, 3);
	assert_memory_equal(dec, "foo", 3);
	free(dec);
}

/* Returns 1 (after saying so) when in is wrongly accepted. */
static int unbase64_accepts(const char *in)
{
	unsigned char *dec = (unsigned char *)&dec;
	size_t declen = 99;

	if (sgt_unbase64(in, strlen(in), &dec, &declen) != SGT_ERR_DATA) {
		print_error("sgt_unbase64 accepted '%s' (%zu bytes)\n", in, declen);
		free(dec);
		return 1;
	}
	assert_null(dec);
	assert_int_equal(declen, 0);
	return 0;
}

static void expect_unbase64_refused(const char *in)
{
	if (unbase64_accepts(in))
		fail();
}

static void test_unbase64_rejects_garbage(void **state)
{
	(void)state;
	expect_unbase64_refused("");
	expect_unbase64_refused("   \n");
	expect_unbase64_refused("Zm9");		/* not a multiple of 4 */
	expect_unbase64_refused("Zm9vY");
	expect_unbase64_refused("!!!!");
	expect_unbase64_refused("Zm9*");
	expect_unbase64_refused("Zm9vYmF\x01");
	expect_unbase64_refused("Zm9v\xc3\xa9xx");
}

/*
 * BUG: '=' is accepted anywhere and '-' at the end, because
 * EVP_DecodeBlock maps '=' to zero bits and strips trailing non-base64
 * characters, and sgt_unbase64 only looks at the last two characters.
 */
static void test_bug_unbase64_accepts_misplaced_padding(void **state)
{
	int accepted = 0;

	(void)state;
	accepted += unbase64_accepts("====");	/* decodes to one 0x00 byte */
	accepted += unbase64_accepts("Q===");
	accepted += unbase64_accepts("A=AA");
	accepted += unbase64_accepts("Zg==Zm9v");	/* padding in the middle */
	accepted += unbase64_accepts("Zm9v----");	/* trailing junk dropped */
	assert_int_equal(accepted, 0);
}

/* ---- SHA-256 ---- */

static void test_sha256_vectors(void **state)
{
	char out[65];

	(void)state;
	sgt_sha256_hex("abc", 3, out);
	assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	sgt_sha256_hex("", 0, out);
	assert_string_equal(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	sgt_sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, out);
	assert_string_equal(out, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

/* ---- labels ---- */

static void test_label_accepts(void **state)
{
	char max[65];

	(void)state;
	assert_int_equal(sgt_label_check("fw"), SGT_OK);
	assert_int_equal(sgt_label_check("fw-signing_2.0"), SGT_OK);
	assert_int_equal(sgt_label_check("a"), SGT_OK);
	assert_int_equal(sgt_label_check("0"), SGT_OK);
	assert_int_equal(sgt_label_check("A.b-c_D"), SGT_OK);
	assert_int_equal(sgt_label_check("x."), SGT_OK);
	memset(max, 'k', 64);
	max[64] = '\0';
	assert_int_equal(sgt_label_check(max), SGT_OK);
}

static void test_label_refuses(void **state)
{
	static const char *const bad[] = {
		"", ".x", "-x", "a/b", "a b", ".", "..", "../x", "a\\b", "a\nb", "a:b",
		"a*", "\xc3\xa9", "_ok?", "tab\t",
	};
	char long65[66];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (sgt_label_check(bad[i]) != SGT_ERR_USAGE)
			fail_msg("label '%s' was accepted", bad[i]);
	memset(long65, 'k', 65);
	long65[65] = '\0';
	assert_int_equal(sgt_label_check(long65), SGT_ERR_USAGE);
}

/* ---- time ---- */

static void test_time_parse_date(void **state)
{
	time_t t = 0;
	char iso[32];

	(void)state;
	assert_int_equal(sgt_time_parse("2026-11-24", &t), 0);
	sgt_time_iso(t, iso);
	assert_string_equal(iso, "2026-11-24T00:00:00Z");
	assert_int_equal(sgt_time_parse("1970-01-01", &t), 0);
	assert_int_equal(t, 0);
}

static void test_time_parse_rfc3339(void **state)
{
	time_t t = 0, d = 0;
	char iso[32];

	(void)state;
	assert_int_equal(sgt_time_parse("2026-11-24T04:13:31Z", &t), 0);
	assert_int_equal(sgt_time_parse("2026-11-24", &d), 0);
	assert_int_equal(t - d, 4 * 3600 + 13 * 60 + 31);
	sgt_time_iso(t, iso);
	assert_string_equal(iso, "2026-11-24T04:13:31Z");
	assert_int_equal(strlen(iso), 20);
	assert_int_equal(sgt_time_parse("1970-01-02T00:00:01Z", &t), 0);
	assert_int_equal(t, 86401);
}

static void test_time_parse_rejects(void **state)
{
	static const char *const bad[] = {
		"2026-13-45x", "2026-13-01", "2026-11-24x", "2026-11-24T04:13:31",
		"2026-11-24T04:13:31Zx", "2026-11-24T25:00:00Z", "2026-11-24T04:13:31+02:00",
		"", "yesterday", "2026/11/24", "2026-11",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		time_t t = 424242;

		if (sgt_time_parse(bad[i], &t) != -1)
			fail_msg("time '%s' was accepted", bad[i]);
		assert_int_equal(t, 424242);
	}
}

/*
 * BUG: strptime checks %d only against 1..31 and timegm() normalises, so
 * an impossible date is silently moved (2026-02-30 becomes 2026-03-02).
 */
static void test_bug_time_parse_accepts_impossible_date(void **state)
{
	static const char *const bad[] = { "2026-02-30", "2026-04-31", "2026-02-29T12:00:00Z" };
	size_t i;
	int accepted = 0;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		time_t t = 0;
		char iso[32] = "";

		if (sgt_time_parse(bad[i], &t) == 0) {
			sgt_time_iso(t, iso);
			print_error("impossible date '%s' accepted as %s\n", bad[i], iso);
			accepted++;
		}
	}
	assert_int_equal(accepted, 0);
}

static void test_time_iso_round_trip(void **state)
{
	time_t in[] = { 0, 86399, 951782400 /* 2000-02-29 */, 1795493611, 4102444799 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		char iso[32];
		time_t back = -1;

		sgt_time_iso(in[i], iso);
		assert_int_equal(sgt_time_parse(iso, &back), 0);
		assert_int_equal(back, in[i]);
	}
}

static void test_now_signet_now(void **state)
{
	time_t real, t;

	(void)state;
	assert_int_equal(setenv("SIGNET_NOW", "1795493611", 1), 0);
	assert_int_equal(sgt_now(), 1795493611);
	assert_int_equal(setenv("SIGNET_NOW", "0", 1), 0);
	assert_int_equal(sgt_now(), 0);
	assert_int_equal(setenv("SIGNET_NOW", "2026-11-24T04:13:31Z", 1), 0);
	assert_int_equal(sgt_time_parse("2026-11-24T04:13:31Z", &t), 0);
	assert_int_equal(sgt_now(), t);
	assert_int_equal(setenv("SIGNET_NOW", "2026-11-24", 1), 0);
	assert_int_equal(sgt_time_parse("2026-11-24", &t), 0);
	assert_int_equal(sgt_now(), t);

	/* Unset, empty or unparsable: the real clock. */
	assert_int_equal(unsetenv("SIGNET_NOW"), 0);
	real = time(NULL);
	t = sgt_now();
	assert_true(t >= real && t - real < 5);
	assert_int_equal(setenv("SIGNET_NOW", "", 1), 0);
	t = sgt_now();
	assert_true(t >= real && t - real < 5);
	assert_int_equal(setenv("SIGNET_NOW", "not a time", 1), 0);
	t = sgt_now();
	assert_true(t >= real && t - real < 5);
	assert_int_equal(unsetenv("SIGNET_NOW"), 0);
}

/* ---- buffers ---- */

static void test_buf_printf_grows_past_512(void **state)
{
	struct sgt_buf b = { 0 };
	char big[2000];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(big) - 1; i++)
		big[i] = (char)('a' + i % 26);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(sgt_buf_printf(&b, "<%s>", "x"), SGT_OK);
	assert_string_equal(b.p, "<x>");
	/* 511 characters fit the stack buffer; 512 and more take the other path. */
	assert_int_equal(sgt_buf_printf(&b, "%.*s", 509, big), SGT_OK);
	assert_int_equal(b.len, 3 + 509);
	assert_int_equal(sgt_buf_printf(&b, "%.*s|%d", 510, big, 7), SGT_OK);
	assert_int_equal(b.len, 3 + 509 + 512);
	assert_int_equal(sgt_buf_printf(&b, "[%s]", big), SGT_OK);
	assert_int_equal(b.len, 3 + 509 + 512 + 2001);
	assert_true(b.cap > b.len);
	assert_int_equal(b.p[b.len], '\0');
	assert_memory_equal(b.p, "<x>", 3);
	assert_memory_equal(b.p + 3, big, 509);
	assert_memory_equal(b.p + 512, big, 510);
	assert_memory_equal(b.p + 1022, "|7", 2);
	assert_int_equal(b.p[1024], '[');
	assert_memory_equal(b.p + 1025, big, 1999);
	assert_int_equal(b.p[3024], ']');
	assert_int_equal(strlen(b.p), b.len);
	sgt_buf_free(&b);
	assert_null(b.p);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	sgt_buf_free(&b);	/* no-op on a zeroed struct */
}

static void test_buf_add_binary(void **state)
{
	struct sgt_buf b = { 0 };
	size_t i;

	(void)state;
	assert_int_equal(sgt_buf_add(&b, "", 0), SGT_OK);
	assert_non_null(b.p);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.p, "");
	for (i = 0; i < 1000; i++)
		assert_int_equal(sgt_buf_add(&b, "a\0b", 3), SGT_OK);
	assert_int_equal(b.len, 3000);
	assert_memory_equal(b.p + 2997, "a\0b", 3);
	assert_int_equal(b.p[3000], '\0');
	sgt_buf_free(&b);
}

/* ---- files ---- */

static void test_file_read_missing(void **state)
{
	struct tmpdir d;
	char path[128];
	unsigned char *out = (unsigned char *)&out;
	size_t len = 7;

	(void)state;
	tmpdir_make(&d);
	tmpdir_file(&d, "absent", path, sizeof(path));
	assert_int_equal(sgt_file_read(path, 100, &out, &len), SGT_ERR_DATA);
	assert_null(out);
	assert_int_equal(len, 0);
	assert_int_equal(rmdir(d.path), 0);
}

static void test_file_read_limits(void **state)
{
	struct tmpdir d;
	char path[128], empty[128];
	unsigned char data[70000], *out;
	size_t len, i;

	(void)state;
	for (i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 7);
	tmpdir_make(&d);
	tmpdir_file(&d, "blob", path, sizeof(path));
	tmpdir_file(&d, "empty", empty, sizeof(empty));
	write_file(path, data, sizeof(data));
	write_file(empty, "", 0);

	/* Exactly max is fine, and the result is NUL-terminated past len. */
	assert_int_equal(sgt_file_read(path, sizeof(data), &out, &len), SGT_OK);
	assert_int_equal(len, sizeof(data));
	assert_memory_equal(out, data, sizeof(data));
	assert_int_equal(out[len], '\0');
	free(out);

	/* One byte over max, within the first chunk and in a later one. */
	out = (unsigned char *)&out;
	assert_int_equal(sgt_file_read(path, sizeof(data) - 1, &out, &len), SGT_ERR_DATA);
	assert_null(out);
	assert_int_equal(len, 0);
	assert_int_equal(sgt_file_read(path, 10, &out, &len), SGT_ERR_DATA);
	assert_null(out);

	/* An empty file gives an empty, non-NULL, terminated buffer. */
	assert_int_equal(sgt_file_read(empty, 0, &out, &len), SGT_OK);
	assert_non_null(out);
	assert_int_equal(len, 0);
	assert_int_equal(out[0], '\0');
	free(out);

	assert_int_equal(unlink(path), 0);
	assert_int_equal(unlink(empty), 0);
	assert_int_equal(rmdir(d.path), 0);
}

static void test_file_read_directory(void **state)
{
	struct tmpdir d;
	unsigned char *out;
	size_t len;

	(void)state;
	tmpdir_make(&d);
	assert_int_equal(sgt_file_read(d.path, 100, &out, &len), SGT_ERR_DATA);
	assert_null(out);
	assert_int_equal(rmdir(d.path), 0);
}

static void test_err_returns_code(void **state)
{
	(void)state;
	assert_int_equal(sgt_err(SGT_ERR_HSM, "test %s", "message"), SGT_ERR_HSM);
	assert_int_equal(sgt_err(SGT_OK, "x"), SGT_OK);
	assert_int_equal(SGT_ERR_VERDICT, -1);
	assert_int_equal(SGT_ERR_USAGE, -2);
	assert_int_equal(SGT_ERR_DATA, -3);
	assert_int_equal(SGT_ERR_HSM, -4);
}

static void test_random_fills(void **state)
{
	unsigned char a[32], b[32];

	(void)state;
	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	assert_int_equal(sgt_random(a, sizeof(a)), SGT_OK);
	assert_int_equal(sgt_random(b, sizeof(b)), SGT_OK);
	assert_memory_not_equal(a, b, sizeof(a));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hex_round_trip),
		cmocka_unit_test(test_unhex_upper_case),
		cmocka_unit_test(test_unhex_empty),
		cmocka_unit_test(test_unhex_rejects_odd_and_invalid),
		cmocka_unit_test(test_unhex_rejects_overflow),
		cmocka_unit_test(test_base64_round_trip_0_to_70),
		cmocka_unit_test(test_base64_known_vectors),
		cmocka_unit_test(test_unbase64_ignores_whitespace),
		cmocka_unit_test(test_unbase64_uses_inlen),
		cmocka_unit_test(test_unbase64_rejects_garbage),
		cmocka_unit_test(test_bug_unbase64_accepts_misplaced_padding),
		cmocka_unit_test(test_sha256_vectors),
		cmocka_unit_test(test_label_accepts),
		cmocka_unit_test(test_label_refuses),
		cmocka_unit_test(test_time_parse_date),
		cmocka_unit_test(test_time_parse_rfc3339),
		cmocka_unit_test(test_time_parse_rejects),
		cmocka_unit_test(test_bug_time_parse_accepts_impossible_date),
		cmocka_unit_test(test_time_iso_round_trip),
		cmocka_unit_test(test_now_signet_now),
		cmocka_unit_test(test_buf_printf_grows_past_512),
		cmocka_unit_test(test_buf_add_binary),
		cmocka_unit_test(test_file_read_missing),
		cmocka_unit_test(test_file_read_limits),
		cmocka_unit_test(test_file_read_directory),
		cmocka_unit_test(test_err_returns_code),
		cmocka_unit_test(test_random_fills),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
