/*
 * ota.h: decoding FreeRTOS OTA job failure reasons.  A failed OTA job
 * carries statusDetails {"reason":"0x%08x: 0x%08x"}: for a PAL failure the
 * PAL main status (OtaPalMainStatus_t, 0xe0..0xef) and the platform
 * sub-error; for an agent failure an OtaErr_t (0..24) and, for
 * OtaErrJobParserError, an OtaJobParseErr_t as sub-error.  Pre-v3
 * amazon-freertos agents report a kOTA_Err_* word instead: the error in
 * the high byte (0x01000000 SignatureCheckFailed ...) and the PAL's detail
 * in the low 24 bits.  "rejected: 0x..." / "aborted: 0x..." carry the
 * error that caused the state as sub-code, decoded the same way.  This
 * module only parses and looks up; it prints nothing and needs no store.
 */
#ifndef SGT_OTA_H
#define SGT_OTA_H

#include <stdint.h>

/* What a reason's main code is. */
enum sgt_ota_kind {
	SGT_OTA_UNKNOWN = 0,
	SGT_OTA_PAL,		/* OtaPalMainStatus_t, from ota_platform_interface.h */
	SGT_OTA_AGENT,		/* OtaErr_t, from ota.h */
	SGT_OTA_IMAGE_STATE,	/* "rejected: 0x..." etc., from the agent's image state */
	SGT_OTA_LEGACY,		/* kOTA_Err_*, pre-v3 amazon-freertos aws_ota_agent.h */
	SGT_OTA_INGEST		/* IngestResult_t, the agent's result for a received block (negative: failed) */
};

/* One documented code: static data, never freed. */
struct sgt_ota_code {
	uint32_t value;
	const char *name;	/* the FreeRTOS identifier */
	const char *meaning;	/* what the device is saying */
	const char *cause;	/* usual cause, or NULL */
	const char *check;	/* signet commands that check it, or NULL */
};

struct sgt_ota_reason {
	enum sgt_ota_kind kind;
	uint32_t main;		/* PAL main status / OtaErr_t / image state */
	uint32_t sub;		/* platform sub-error / job-parse error */
	int has_sub;
	char word[16];		/* image-state word for SGT_OTA_IMAGE_STATE */
	const struct sgt_ota_code *code;	/* NULL when unknown */
	const struct sgt_ota_code *subcode;	/* job-parse error, or NULL */
	uint32_t detail;	/* SGT_OTA_LEGACY: the PAL's low 24 bits */
	/* An image state's sub-code read as an error of its own (kind UNKNOWN when it is not one). */
	enum sgt_ota_kind inner_kind;
	const struct sgt_ota_code *inner;
	uint32_t inner_main, inner_detail;
	const char *other_reading;	/* a second reading when the form is ambiguous, or NULL */
	int sub24;		/* sub (or detail) is a PAL's low 24 bits: sign bit 23 */
	/* SGT_OTA_LEGACY: the 24-bit PAL detail as a TI SimpleLink (CC3220) error, or NULL */
	const struct sgt_ota_code *platform;
	char form[192];		/* how a pasted log line was read, "" for a bare reason */
};

/*
 * Parses a reason: "0x000000e3: 0x00000000", "0xe3", "e3", "e3:0",
 * a whole OtaPalStatus_t such as 0xe3000000, "rejected: 0x00000000", or a
 * JSON document holding a "reason" string anywhere (statusDetails, a job
 * execution), also after a log's "Msg: " prefix.  Numbers are hexadecimal,
 * as the agent prints them.  Device log forms: "Error=(NAME:0x...)" (v3
 * closeFile), "OtaErr_t=NAME[, OtaPalStatus_t=NAME]", "IngestResult_t -2",
 * pre-v3 "Error (17:16766875) closing OTA file" (decimal), a bare name of
 * any table, and a negative decimal number (an IngestResult_t).  Returns
 * SGT_OK with the codes looked up (code may be NULL: unknown), or
 * SGT_ERR_USAGE with why (static text) when the input is not a reason.
 */
int sgt_ota_parse(const char *input, struct sgt_ota_reason *out, const char **why);

/* Table lookups; NULL when the value is not a documented code. */
const struct sgt_ota_code *sgt_ota_pal_code(uint32_t value);
const struct sgt_ota_code *sgt_ota_agent_code(uint32_t value);
const struct sgt_ota_code *sgt_ota_jobparse_code(uint32_t value);
const struct sgt_ota_code *sgt_ota_image_state(const char *word);

/* The whole tables, for listing and tests. */
const struct sgt_ota_code *sgt_ota_pal_table(size_t *n);
const struct sgt_ota_code *sgt_ota_agent_table(size_t *n);
const struct sgt_ota_code *sgt_ota_jobparse_table(size_t *n);
const struct sgt_ota_code *sgt_ota_legacy_table(size_t *n);
const struct sgt_ota_code *sgt_ota_legacy_code(uint32_t value);	/* value: the high byte */
const struct sgt_ota_code *sgt_ota_ingest_table(size_t *n);	/* value: (uint32_t) of the negative int */
const struct sgt_ota_code *sgt_ota_ingest_code(int32_t value);
/* A TI SimpleLink file-system error (negative) that the CC3220 OTA PAL reports from sl_FsClose, or NULL. */
const struct sgt_ota_code *sgt_ota_simplelink_code(int32_t value);

#endif
