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

/* What users paste from device logs (issue 17): every form, with the values read from it. */
static void test_log_forms(void **state)
{
	struct sgt_ota_reason r;
	const char *why;

	(void)state;
	parse_ok("Msg: {\"status\":\"FAILED\",\"statusDetails\":{\"reason\":\"0x000000e3: 0x00000000\"}}",
		 SGT_OTA_PAL, 0xe3, 1, 0, "OtaPalSignatureCheckFailed");
	parse_ok("[OTA] Published to $aws/things/x/jobs/j/update Msg: {\"statusDetails\":{\"reason\":\"0xe7\"}} (3)",
		 SGT_OTA_PAL, 0xe7, 0, 0, "OtaPalBadSignerCert");
	parse_ok("Error=(OtaPalSignatureCheckFailed:0x000000)", SGT_OTA_PAL, 0xe3, 1, 0, "OtaPalSignatureCheckFailed");
	parse_ok("[ERROR] [OTA] Failed to close the OTA file: Error=(OtaPalBadSignerCert:0xffd79b)", SGT_OTA_PAL, 0xe7, 1,
		 0xffd79b, "OtaPalBadSignerCert");
	assert_int_equal(sgt_ota_parse("Error=(OtaPalBadSignerCert:0xffd79b)", &r, &why), SGT_OK);
	assert_true(r.sub24);
	assert_non_null(r.platform);
	assert_string_equal(r.platform->name, "SL_ERROR_FS_FILE_NOT_EXISTS");
	parse_ok("OtaErr_t=OtaErrJobParserError", SGT_OTA_AGENT, 12, 0, 0, "OtaErrJobParserError");
	assert_int_equal(sgt_ota_parse("x: OtaErr_t=OtaErrUpdateJobStatusFailed, OtaPalStatus_t=OtaPalCommitFailed, state=2",
				       &r, &why), SGT_OK);
	assert_int_equal(r.main, 11);
	assert_non_null(r.inner);
	assert_string_equal(r.inner->name, "OtaPalCommitFailed");
	assert_int_equal(sgt_ota_parse("OtaErr_t=OtaErrNone, OtaPalStatus_t=OtaPalSuccess", &r, &why), SGT_OK);
	assert_null(r.inner);
	/* Bare names of every table, any case. */
	parse_ok("OtaPalSignatureCheckFailed", SGT_OTA_PAL, 0xe3, 0, 0, "OtaPalSignatureCheckFailed");
	parse_ok("otaerremptyjobdocument", SGT_OTA_AGENT, 24, 0, 0, "OtaErrEmptyJobDocument");
	parse_ok("OtaJobParseErrNonConformingJobDoc", SGT_OTA_AGENT, 12, 1, 4, "OtaErrJobParserError");
	parse_ok("kOTA_Err_BadSignerCert", SGT_OTA_LEGACY, 2, 0, 0, "kOTA_Err_BadSignerCert");
	parse_ok("IngestResultBadData", SGT_OTA_INGEST, (uint32_t)-8, 0, 0, "IngestResultBadData");
	parse_ok("eIngest_Result_NullResultPointer", SGT_OTA_INGEST, (uint32_t)-10, 0, 0, "IngestResultNoDecodeMemory");
	/* IngestResult_t and negative numbers (decimal). */
	parse_ok("-2", SGT_OTA_INGEST, (uint32_t)-2, 0, 0, "IngestResultSigCheckFail");
	parse_ok("IngestResult_t -8", SGT_OTA_INGEST, (uint32_t)-8, 0, 0, "IngestResultBadData");
	parse_ok("IngestResult_t=-127", SGT_OTA_INGEST, (uint32_t)-127, 0, 0, "IngestResultUninitialized");
	parse_ok("IngestResult_t 1", SGT_OTA_INGEST, 1, 0, 0, "IngestResultDuplicate_Continue");
	parse_ok("-55", SGT_OTA_INGEST, (uint32_t)-55, 0, 0, NULL);
	/* pre-v3: "Error (17:16766875) closing OTA file": 17 = 0x11 FileClose, 16766875 = 0xffd79b = -10341. */
	assert_int_equal(sgt_ota_parse("[prvIngestDataBlock] Error (17:16766875) closing OTA file.", &r, &why), SGT_OK);
	assert_int_equal(r.kind, SGT_OTA_LEGACY);
	assert_int_equal(r.main, 0x11);
	assert_int_equal(r.detail, 0xffd79b);
	assert_string_equal(r.code->name, "kOTA_Err_FileClose");
	assert_string_equal(r.platform->name, "SL_ERROR_FS_FILE_NOT_EXISTS");
	assert_non_null(r.other_reading);
	assert_int_equal(sgt_ota_parse("Error (1:0xffd7cf) closing OTA file", &r, &why), SGT_OK);
	assert_string_equal(r.code->name, "kOTA_Err_SignatureCheckFailed");
	assert_int_equal(r.detail, 0xffd7cf);
	assert_string_equal(r.platform->name, "SL_ERROR_FS_WRONG_SIGNATURE_SECURITY_ALERT");
	assert_int_equal(sgt_ota_parse("Error (1:-10289) closing OTA file", &r, &why), SGT_OK);
	assert_int_equal(r.detail, 0xffd7cf);
	assert_int_equal(sgt_ota_parse("Error (99:5) closing OTA file", &r, &why), SGT_OK);
	assert_int_equal(r.kind, SGT_OTA_UNKNOWN);
	assert_null(r.code);
}

static void test_log_forms_malformed(void **state)
{
	static const char *bad[] = { "Error=(NoSuchName:0x0)", "Error=(OtaPalSignatureCheckFailed)", "Error=(OtaErrNone:0x0)",
				     "Error=(OtaPalSignatureCheckFailed:0x0", "Error (300:1) closing", "Error (17:zz)",
				     "Error (17:16777216)", "OtaErr_t=Bogus", "OtaErr_t=OtaPalSignatureCheckFailed",
				     "OtaErr_t=OtaJobParseErrNullJob", "OtaPalStatus_t=OtaPalSuccess", "OtaPalStatus_t=",
				     "IngestResult_t", "IngestResult_t OtaErrNone", "IngestResult_t 99999999999",
				     "-2x", "-", "--2", "NoSuchName", "Msg: nothing", "[1,2" };
	struct sgt_ota_reason r;
	const char *why;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (sgt_ota_parse(bad[i], &r, &why) != SGT_ERR_USAGE)
			fail_msg("'%s' was read as a reason", bad[i]);
		assert_non_null(why);
	}
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
	t = sgt_ota_ingest_table(&n);
	assert_int_equal(n, 13);
	for (i = 0; i < n; i++)
		assert_true(strncmp(t[i].name, "IngestResult", 12) == 0);
	assert_string_equal(sgt_ota_ingest_code(-2)->name, "IngestResultSigCheckFail");
	assert_string_equal(sgt_ota_ingest_code(-127)->name, "IngestResultUninitialized");
	assert_null(sgt_ota_ingest_code(-11));
	assert_string_equal(sgt_ota_simplelink_code(-10341)->name, "SL_ERROR_FS_FILE_NOT_EXISTS");
	assert_null(sgt_ota_simplelink_code(-1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forms),
		cmocka_unit_test(test_log_forms),
		cmocka_unit_test(test_log_forms_malformed),
		cmocka_unit_test(test_jobparse_sub),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_tables),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
