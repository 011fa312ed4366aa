/*
 * test_rotate.c: unit tests for rotate.c: the lineage statement (canonical
 * bytes, signed and checked with a software key; a changed byte, another
 * key, a non-canonical statement and a statement naming other keys are
 * refused), the rotation record's round trip, and the fleet arithmetic
 * (a build baking both keys trusts each, stale and unrecorded devices
 * apart, the expected completion from the stepping stone and rollout_days).
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

#include <openssl/evp.h>

#include "rotate.h"
#include "unit.h"

#define DAY 86400
static char dir[] = "/tmp/signet-unit-rotate.XXXXXX";

static const char OLD[] = "1111111111111111111111111111111111111111111111111111111111111111";
static const char NEW[] = "2222222222222222222222222222222222222222222222222222222222222222";
static const char OTHER[] = "3333333333333333333333333333333333333333333333333333333333333333";

static void rotation(struct sgt_rotation *r)
{
	memset(r, 0, sizeof(*r));
	strcpy(r->old, "legacy");
	strcpy(r->new_, "fw2");
	strcpy(r->old_spki, OLD);
	strcpy(r->new_spki, NEW);
	strcpy(r->old_alg, "ecdsa-p256");
	strcpy(r->new_alg, "ecdsa-p256");
	strcpy(r->started, "2026-01-01T00:00:00Z");
	strcpy(r->reason, "a \"quoted\" reason\nwith a line break");
}

static EVP_PKEY *ec_key(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");

	assert_non_null(k);
	return k;
}

static void test_lineage(void **state)
{
	struct sgt_rotation r, other;
	EVP_PKEY *k = ec_key(), *k2 = ec_key();
	unsigned char *sig = NULL, *sig2 = NULL;
	size_t len = 0, siglen = 0, siglen2 = 0;
	char *stmt = NULL, why[256];

	(void)state;
	rotation(&r);
	assert_int_equal(sgt_lineage_statement(&r, &stmt, &len), SGT_OK);
	assert_int_equal(len, strlen(stmt));
	assert_non_null(strstr(stmt, "\"type\":\"signet-lineage-v1\""));
	assert_true(strncmp(stmt, "{\"new\":{\"algorithm\":", 20) == 0);	/* sorted keys */
	assert_non_null(strstr(stmt, "\\nwith"));	/* escaped: one line */
	assert_int_not_equal(stmt[len - 1], '\n');

	assert_int_equal(sgt_lineage_sign(k, k, "legacy", stmt, len, &sig, &siglen), SGT_OK);
	assert_int_equal(sgt_lineage_verify(k, stmt, len, sig, siglen, &r, why, sizeof(why)), SGT_OK);
	assert_int_equal(sgt_lineage_verify(k, stmt, len, sig, siglen, NULL, why, sizeof(why)), SGT_OK);
	/* Another key. */
	assert_int_equal(sgt_lineage_verify(k2, stmt, len, sig, siglen, &r, why, sizeof(why)), SGT_ERR_VERDICT);
	assert_non_null(strstr(why, "signature does not verify"));
	/* One byte changed. */
	stmt[len - 3] ^= 1;
	assert_int_equal(sgt_lineage_verify(k, stmt, len, sig, siglen, &r, why, sizeof(why)), SGT_ERR_VERDICT);
	stmt[len - 3] ^= 1;
	/* Signing with priv whose public half is another key is caught before anything is kept. */
	sgt_silent = 1;
	assert_int_equal(sgt_lineage_sign(k, k2, "legacy", stmt, len, &sig2, &siglen2), SGT_ERR_HSM);
	sgt_silent = 0;
	assert_null(sig2);
	/* A well-signed statement that is not canonical. */
	{
		char *loose = malloc(len + 2);

		loose[0] = ' ';
		memcpy(loose + 1, stmt, len);
		assert_int_equal(sgt_lineage_sign(k, k, "legacy", loose, len + 1, &sig2, &siglen2), SGT_OK);
		assert_int_equal(sgt_lineage_verify(k, loose, len + 1, sig2, siglen2, &r, why, sizeof(why)), SGT_ERR_VERDICT);
		assert_non_null(strstr(why, "canonical"));
		free(loose);
		free(sig2);
	}
	/* A valid statement about other keys does not vouch for this rotation. */
	other = r;
	strcpy(other.new_spki, OTHER);
	assert_int_equal(sgt_lineage_verify(k, stmt, len, sig, siglen, &other, why, sizeof(why)), SGT_ERR_VERDICT);
	assert_non_null(strstr(why, "new key SPKI"));
	strcpy(other.new_spki, NEW);
	strcpy(other.old_spki, OTHER);
	assert_int_equal(sgt_lineage_verify(k, stmt, len, sig, siglen, &other, why, sizeof(why)), SGT_ERR_VERDICT);
	assert_non_null(strstr(why, "old key SPKI"));
	free(stmt);
	free(sig);
	EVP_PKEY_free(k);
	EVP_PKEY_free(k2);
}

static void test_record_round_trip(void **state)
{
	struct sgt_store st = { .dir = dir, .lock_fd = -1 };
	struct sgt_rotation r, back, *list = NULL;
	struct sgt_buf b = { 0 };
	size_t n = 0;
	char *path;

	(void)state;
	rotation(&r);
	assert_int_equal(sgt_rotation_format(&r, &b), SGT_OK);
	path = sgt_rotation_path(&st, "legacy", ".yaml");
	assert_int_equal(sgt_atomic_write(path, b.p, b.len, 0), SGT_OK);
	assert_int_equal(sgt_rotation_load(&st, "legacy", &back), SGT_OK);
	assert_memory_equal(&r, &back, sizeof(r));
	strcpy(r.finished, "2026-02-01T00:00:00Z");
	sgt_buf_free(&b);
	assert_int_equal(sgt_rotation_format(&r, &b), SGT_OK);
	assert_int_equal(sgt_atomic_write(path, b.p, b.len, 0), SGT_OK);
	assert_int_equal(sgt_rotation_list(&st, &list, &n), SGT_OK);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].finished, "2026-02-01T00:00:00Z");
	free(list);
	sgt_silent = 1;
	assert_int_equal(sgt_rotation_load(&st, "nosuch", &back), SGT_ERR_VERDICT);
	sgt_silent = 0;
	sgt_buf_free(&b);
	free(path);
}

static void add_build(struct sgt_fleet *f, const char *version, const char *recorded, long devices, long stale,
		      const char *k1, const char *k2)
{
	struct sgt_fleet_build *b = NULL;

	assert_int_equal(sgt_fleet_build_new(f, version, &b), SGT_OK);
	b->devices = devices;
	b->stale = stale;
	snprintf(b->recorded_at, sizeof(b->recorded_at), "%s", recorded);
	b->keys = calloc(2, sizeof(*b->keys));
	strcpy(b->keys[0].spki_sha256, k1);
	b->nkeys = 1;
	if (k2 != NULL) {
		strcpy(b->keys[1].spki_sha256, k2);
		b->nkeys = 2;
	}
}

static void test_fleet_arithmetic(void **state)
{
	struct sgt_inventory inv;
	struct sgt_fleet *f = NULL, *g = NULL, *h = NULL;
	struct sgt_trust_count c;
	struct sgt_rotate_progress *p = NULL;
	struct sgt_rotation r;
	size_t n = 0;
	time_t started = 0;

	(void)state;
	memset(&inv, 0, sizeof(inv));
	rotation(&r);
	assert_int_equal(sgt_time_parse(r.started, &started), 0);
	assert_int_equal(sgt_inventory_add_fleet(&inv, "sensors", &f), SGT_OK);
	f->rollout_days = 21;
	add_build(f, "1.0", "", 100, 7, OLD, NULL);
	add_build(f, "2.0", "2026-01-10T00:00:00Z", 40, 0, OLD, NEW);	/* MCUboot-style: bakes both */
	add_build(f, "3.0", "2026-01-05T00:00:00Z", 5, 1, NEW, NULL);
	assert_int_equal(sgt_fleet_tally(f, "9.9", 3, 2, 0), SGT_OK);	/* an unrecorded build */
	assert_int_equal(sgt_fleet_tally(f, "9.9", 3, 1, 1), SGT_OK);

	sgt_rotate_trust(f, OLD, &c);
	assert_int_equal(c.trusting, 140);
	assert_int_equal(c.trusting_stale, 7);
	assert_int_equal(c.not_trusting, 5);
	assert_int_equal(c.not_trusting_stale, 1);
	assert_int_equal(c.unknown, 2);
	assert_int_equal(c.unknown_stale, 1);
	assert_string_equal(c.builds, "build 3.0: 5 devices, unrecorded build 9.9: 2 devices");
	sgt_rotate_trust(f, NEW, &c);
	assert_int_equal(c.trusting, 45);
	assert_int_equal(c.not_trusting, 100);
	assert_string_equal(c.builds, "build 1.0: 100 devices, unrecorded build 9.9: 2 devices");

	/* A fleet that trusts neither key is not part of the rotation. */
	assert_int_equal(sgt_inventory_add_fleet(&inv, "other", &g), SGT_OK);
	add_build(g, "1.0", "", 10, 0, OTHER, NULL);
	/* A fleet still entirely on OLD, no stepping stone yet. */
	assert_int_equal(sgt_inventory_add_fleet(&inv, "meters", &h), SGT_OK);
	add_build(h, "0.1", "", 1, 0, OLD, NULL);
	f = &inv.fleets[0];	/* adding fleets may move them */

	assert_int_equal(sgt_rotate_progress(&inv, &r, &p, &n), SGT_OK);
	assert_int_equal(n, 2);
	assert_string_equal(p[0].fleet->name, "sensors");
	assert_int_equal(p[0].only_old, 100);
	assert_int_equal(p[0].only_old_stale, 7);
	assert_int_equal(p[0].with_new, 45);
	assert_int_equal(p[0].with_new_stale, 1);
	assert_int_equal(p[0].unknown, 2);
	assert_string_equal(p[0].only_old_builds, "build 1.0: 100 devices");
	/* The earliest build baking NEW (3.0, recorded 2026-01-05) + 21 days. */
	assert_string_equal(p[0].stone, "3.0");
	assert_int_equal(p[0].expected, started + 4 * DAY + 21 * DAY);
	assert_string_equal(p[1].fleet->name, "meters");
	assert_null(p[1].stone);
	assert_int_equal(p[1].expected, 0);
	assert_int_equal(p[1].only_old, 1);
	free(p);
	sgt_inventory_release(&inv);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	return nftw(dir, unit_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lineage),
		cmocka_unit_test(test_record_round_trip),
		cmocka_unit_test(test_fleet_arithmetic),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
