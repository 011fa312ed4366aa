/*
 * test_ota.c: the OTA reason parser and tables: every input form, the
 * whole-status split, JSON search, malformed input and unknown codes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ota.h"
#include "sgt.h"

static void parse_ok(const char *in, enum sgt_ota_kind kind, uint32_t main, int has_sub, uint32_t sub, const char *name)
{
	struct sgt_ota_reason r;
	const char *why;

	assert_int_equal(sgt_ota_parse(in, &r, &why), SGT_OK);
	assert_int_equal(r.kind, kind);
	assert_int_equal(r.main, main);
	assert_int_equal(r.has_sub, has_sub);
	if (has_sub)
		assert_int_equal(r.sub, sub);
	if (name) {
		assert_non_null(r.code);
		assert_string_equal(r.code->name, name);
	} else
		assert_null(r.code);
}

static void test_forms(void **state)
{
	(void)state;
	parse_ok("0x000000e3: 0x00000000", SGT_OTA_PAL, 0xe3, 1, 0, "OtaPalSignatureCheckFailed");
	parse_ok("\"0x000000e3: 0x00000000\"", SGT_OTA_PAL, 0xe3, 1, 0, "OtaPalSignatureCheckFailed");
	parse_ok("0xe3", SGT_OTA_PAL, 0xe3, 0, 0, "OtaPalSignatureCheckFailed");
	parse_ok("e3:0", SGT_OTA_PAL, 0xe3, 1, 0, "OtaPalSignatureCheckFailed");
	parse_ok("  E7 ", SGT_OTA_PAL, 0xe7, 0, 0, "OtaPalBadSignerCert");
	parse_ok("0xe3000012", SGT_OTA_PAL, 0xe3, 1, 0x12, "OtaPalSignatureCheckFailed");
	parse_ok("0x0000000c: 0x00000004", SGT_OTA_AGENT, 12, 1, 4, "OtaErrJobParserError");
	parse_ok("rejected: 0x00000000", SGT_OTA_IMAGE_STATE, 4, 1, 0, "rejected");
	parse_ok("0x55", SGT_OTA_UNKNOWN, 0x55, 0, 0, NULL);
	parse_ok("{\"status\":\"FAILED\",\"statusDetails\":{\"reason\":\"0x000000ef: 0x00000001\"}}",
		 SGT_OTA_PAL, 0xef, 1, 1, "OtaPalRxFileResumeFailed");
	parse_ok("[{\"x\":{\"reason\":\"0xe0\"}}]", SGT_OTA_PAL, 0xe0, 0, 0, "OtaPalUninitialized");
}

static void test_jobparse_sub(void **state)
{
	struct sgt_ota_reason r;
	const char *why;

	(void)state;
	assert_int_equal(sgt_ota_parse("c:7", &r, &why), SGT_OK);
	assert_non_null(r.subcode);
	assert_string_equal(r.subcode->name, "OtaJobParseErrNoActiveJobs");
	assert_int_equal(sgt_ota_parse("c:9", &r, &why), SGT_OK);
	assert_null(r.subcode);
	/* A sub-code on another agent error is not a job-parse error. */
	assert_int_equal(sgt_ota_parse("b:4", &r, &why), SGT_OK);
	assert_null(r.subcode);
}

static void test_malformed(void **state)
{
	static const char *bad[] = { "", "   ", "zz", "0x", "0xe3:", "0xe3: zz", "0xe3 x", "{bad json",
				     "{\"status\":\"x\"}", "123456789", "rejected: q", "\"\"" };
	struct sgt_ota_reason r;
	const char *why;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(sgt_ota_parse(bad[i], &r, &why), SGT_ERR_USAGE);
		assert_non_null(why);
	}
}

static void test_tables(void **state)
{
	const struct sgt_ota_code *t;
	size_t n, i;

	(void)state;
	t = sgt_ota_pal_table(&n);
	assert_int_equal(n, 16);
	for (i = 0; i < n; i++) {
		assert_int_equal(t[i].value, 0xe0 + i);
		assert_ptr_equal(sgt_ota_pal_code(0xe0 + (uint32_t)i), &t[i]);
		assert_true(strncmp(t[i].name, "OtaPal", 6) == 0);
	}
	t = sgt_ota_agent_table(&n);
	assert_int_equal(n, 25);
	for (i = 0; i < n; i++)
		assert_int_equal(t[i].value, i);
	assert_string_equal(sgt_ota_agent_code(12)->name, "OtaErrJobParserError");
	assert_string_equal(sgt_ota_agent_code(24)->name, "OtaErrEmptyJobDocument");
	assert_null(sgt_ota_agent_code(25));
	assert_string_equal(sgt_ota_legacy_code(0x01)->name, "kOTA_Err_SignatureCheckFailed");
	assert_null(sgt_ota_legacy_code(0x30));
	t = sgt_ota_jobparse_table(&n);
	assert_int_equal(n, 8);
	assert_string_equal(sgt_ota_jobparse_code(1)->name, "OtaJobParseErrNullJob");
	assert_non_null(sgt_ota_pal_code(0xe3)->check);
	assert_non_null(sgt_ota_pal_code(0xe7)->check);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forms),
		cmocka_unit_test(test_jobparse_sub),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_tables),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
