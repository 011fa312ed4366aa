/*
 * ota.c: the FreeRTOS OTA failure codes and a forgiving parser for the
 * reason strings devices report.  The tables follow the OTA library's
 * headers (ota_platform_interface.h OtaPalMainStatus_t, ota.h OtaErr_t and
 * OtaJobParseErr_t of ota-for-aws-iot-embedded-sdk v3.4.0, where
 * OtaErrEmptyJobDocument = 24 was added after v3.0-v3.3 stopped at 23;
 * 0xef RxFileResumeFailed from esp-aws-iot; the kOTA_Err_* words from
 * amazon-freertos' aws_iot_ota_agent.h, 201906.00 .. 202007.00;
 * IngestResult_t from ota_private.h, eIngest_Result_* before v3; the
 * SimpleLink sl_FsClose errors the TI CC3220 PAL folds into its result,
 * from the CC32xx host driver's errors.h) so a name printed here can be
 * grepped for in the device sources.  The words in "meaning" and "cause"
 * are ours.  The parser also reads the forms device logs print (see
 * parse_log).  Nothing here prints.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "ota.h"
#include "sgt.h"

#define CHECK_SIG "signet verify IMAGE --sig IMAGE.sig --header HEADER (or --firmware IMAGE_IN_THE_FIELD); signet key match HEADER"

static const struct sgt_ota_code pal_codes[] = {
	{ 0xe0, "OtaPalUninitialized", "the PAL result was never set: a PAL function returned without deciding", "a porting bug in the device's ota_pal.c", NULL },
	{ 0xe1, "OtaPalOutOfMemory", "the device ran out of memory while receiving or checking the image", "heap too small for the OTA buffers or for mbedTLS while verifying", NULL },
	{ 0xe2, "OtaPalNullFileContext", "the PAL was called without an open file", "the agent and the PAL disagree about the transfer state (porting bug, or a reset mid-transfer)", NULL },
	{ 0xe3, "OtaPalSignatureCheckFailed", "the device checked the image signature against the public key of the certificate baked into its firmware, and it did not match",
	  "the image was signed with a key whose public key is not the one baked into the device (a new key, or a new self-signed certificate made with a fresh key); "
	  "or the signature is not a DER ECDSA/SHA-256 signature over the whole image; or the baked certificate does not parse (on ESP32 that also gives 0xe3)",
	  CHECK_SIG },
	{ 0xe4, "OtaPalRxFileCreateFailed", "the device could not create the file (partition) that receives the image", "no free OTA partition, or the partition table does not match", NULL },
	{ 0xe5, "OtaPalRxFileTooLarge", "the image is larger than the device can store", "image bigger than the OTA partition", NULL },
	{ 0xe6, "OtaPalBootInfoCreateFailed", "the device could not write its boot information for the new image", "flash write failure", NULL },
	{ 0xe7, "OtaPalBadSignerCert", "the device could not read or use the signer certificate",
	  "the baked certificate (otapalconfigCODE_SIGNING_CERTIFICATE or the certificate file named by certificateName) is missing, empty or unparseable",
	  "signet extract FIRMWARE_OR_HEADER; signet key match FIRMWARE_OR_HEADER" },
	{ 0xe8, "OtaPalBadImageState", "the device was asked to set an image state it does not know", "agent/PAL version mismatch", NULL },
	{ 0xe9, "OtaPalAbortFailed", "the device could not abort the transfer", "flash or file-system failure", NULL },
	{ 0xea, "OtaPalRejectFailed", "the device could not mark the new image rejected", "flash failure while rolling back", NULL },
	{ 0xeb, "OtaPalCommitFailed", "the device could not commit (accept) the new image", "flash failure after the self-test", NULL },
	{ 0xec, "OtaPalActivateFailed", "the device could not switch to the new image", "boot partition could not be set", NULL },
	{ 0xed, "OtaPalFileAbort", "the file transfer was aborted", "the job was cancelled or the device aborted the file", NULL },
	{ 0xee, "OtaPalFileClose", "closing the received file failed", "flash write or close failure; on some ports also a failed signature check", NULL },
	{ 0xef, "OtaPalRxFileResumeFailed", "the device could not resume an interrupted transfer (esp-aws-iot)", "the partition was erased or changed since the transfer started", NULL },
};

static const struct sgt_ota_code agent_codes[] = {
	{ 0, "OtaErrNone", "no error", NULL, NULL },
	{ 1, "OtaErrUninitialized", "the agent's error code was never set", "agent porting bug", NULL },
	{ 2, "OtaErrPanic", "unrecoverable firmware error in the agent", NULL, NULL },
	{ 3, "OtaErrInvalidArg", "an OTA API was called with an invalid argument", NULL, NULL },
	{ 4, "OtaErrAgentStopped", "the OTA agent is not running", NULL, NULL },
	{ 5, "OtaErrSignalEventFailed", "the agent could not queue an event", "event queue full", NULL },
	{ 6, "OtaErrRequestJobFailed", "the device could not request its job document", "MQTT connection or policy problem", NULL },
	{ 7, "OtaErrInitFileTransferFailed", "the device could not start the file transfer", "stream/HTTP setup failed", NULL },
	{ 8, "OtaErrRequestFileBlockFailed", "the device could not request a file block", "MQTT/HTTP problem during download", NULL },
	{ 9, "OtaErrCleanupControlFailed", "cleaning up the control plane failed", NULL, NULL },
	{ 10, "OtaErrCleanupDataFailed", "cleaning up the data plane failed", NULL, NULL },
	{ 11, "OtaErrUpdateJobStatusFailed", "the device could not update the job status", NULL, NULL },
	{ 12, "OtaErrJobParserError", "the device could not parse the job document (the sub-error says why)", "a malformed or unexpected job document", NULL },
	{ 13, "OtaErrInvalidDataProtocol", "the job offers no data protocol the device supports", "MQTT vs HTTP mismatch in the OTA update", NULL },
	{ 14, "OtaErrMomentumAbort", "too many block requests went unanswered", "connectivity loss during download", NULL },
	{ 15, "OtaErrDowngradeNotAllowed", "the new firmware's version is older than the running one", "application version not increased", NULL },
	{ 16, "OtaErrSameFirmwareVersion", "the new firmware has the same version as the running one", "the version was not bumped, or the new image failed to commit and the old one rebooted", NULL },
	{ 17, "OtaErrImageStateMismatch", "the job is in self-test but the platform image state is not", "possible tampering or an interrupted update", NULL },
	{ 18, "OtaErrNoActiveJob", "an image state was set without an active job", NULL, NULL },
	{ 19, "OtaErrUserAbort", "the application aborted the OTA", NULL, NULL },
	{ 20, "OtaErrFailedToEncodeCbor", "the device could not encode a block request", NULL, NULL },
	{ 21, "OtaErrFailedToDecodeCbor", "the device could not decode a streamed block", NULL, NULL },
	{ 22, "OtaErrActivateFailed", "the device could not activate the new image", NULL, NULL },
	{ 23, "OtaErrFileSizeOverflow", "the firmware file is larger than the device allows", NULL, NULL },
	{ 24, "OtaErrEmptyJobDocument", "the job document the device received was empty (v3.4.0 and later)",
	  "the job was deleted or cancelled while the device fetched it, or a topic/policy mix-up", NULL },
};

/* Pre-v3 kOTA_Err_* (aws_iot_ota_agent.h): the high byte of the 32-bit word. */
static const struct sgt_ota_code legacy_codes[] = {
	{ 0x00, "kOTA_Err_None", "no error", NULL, NULL },
	{ 0x01, "kOTA_Err_SignatureCheckFailed", "the signature check of the received image failed (pre-v3 agent)",
	  "the image was signed with a key whose public key is not the one baked into the device, or the baked "
	  "certificate does not parse; the low 24 bits are the PAL's detail", CHECK_SIG },
	{ 0x02, "kOTA_Err_BadSignerCert", "the signer certificate was not readable or zero length (pre-v3 agent)",
	  "the baked certificate or the certificate file named by the job is missing, empty or unparseable",
	  "signet extract FIRMWARE_OR_HEADER; signet key match FIRMWARE_OR_HEADER" },
	{ 0x03, "kOTA_Err_OutOfMemory", "general out of memory", NULL, NULL },
	{ 0x04, "kOTA_Err_ActivateFailed", "activating the new image failed", NULL, NULL },
	{ 0x05, "kOTA_Err_CommitFailed", "committing (accepting) the new image failed", NULL, NULL },
	{ 0x06, "kOTA_Err_RejectFailed", "rejecting the new image failed", NULL, NULL },
	{ 0x07, "kOTA_Err_AbortFailed", "aborting the OTA failed", NULL, NULL },
	{ 0x08, "kOTA_Err_PublishFailed", "publishing an MQTT message failed", NULL, NULL },
	{ 0x09, "kOTA_Err_BadImageState", "the requested image state was out of range", NULL, NULL },
	{ 0x0a, "kOTA_Err_NoActiveJob", "a final image state was set without an active job", NULL, NULL },
	{ 0x0b, "kOTA_Err_NoFreeContext", "no OTA file context was free", NULL, NULL },
	{ 0x0c, "kOTA_Err_HTTPInitFailed", "initialising the HTTP connection failed", NULL, NULL },
	{ 0x0d, "kOTA_Err_HTTPRequestFailed", "sending the HTTP request failed", NULL, NULL },
	{ 0x10, "kOTA_Err_FileAbort", "the low-level file abort failed", NULL, NULL },
	{ 0x11, "kOTA_Err_FileClose", "the low-level file close failed (on TI CC3220 also a signature or certificate-chain failure reported by sl_FsClose)",
	  "CC3220: the signer certificate's chain does not reach a root in the on-chip catalog, or the signature is wrong", CHECK_SIG },
	{ 0x12, "kOTA_Err_RxFileCreateFailed", "the PAL could not create the receive file", NULL, NULL },
	{ 0x13, "kOTA_Err_BootInfoCreateFailed", "the PAL could not create the boot info file", NULL, NULL },
	{ 0x14, "kOTA_Err_RxFileTooLarge", "the image is too large for the platform", NULL, NULL },
	{ 0x20, "kOTA_Err_NullFilePtr", "a null file pointer was used", NULL, NULL },
	{ 0x21, "kOTA_Err_MomentumAbort", "too many stream requests went unanswered", NULL, NULL },
	{ 0x22, "kOTA_Err_DowngradeNotAllowed", "the new firmware's version is older than the running one", NULL, NULL },
	{ 0x23, "kOTA_Err_SameFirmwareVersion", "the new firmware has the same version as the running one",
	  "the version was not bumped, or the new image failed to commit", NULL },
	{ 0x24, "kOTA_Err_JobParserError", "the job document could not be parsed (see the sub-code)", NULL, NULL },
	{ 0x25, "kOTA_Err_FailedToEncodeCBOR", "a CBOR block request could not be encoded", NULL, NULL },
	{ 0x26, "kOTA_Err_ImageStateMismatch", "the job is in self-test but the platform image state is not", "possible tampering", NULL },
	{ 0x27, "kOTA_Err_GenericIngestError", "a block could not be ingested (not the PAL's fault; see the sub-code)", NULL, NULL },
	{ 0x28, "kOTA_Err_UserAbort", "the application aborted the OTA", NULL, NULL },
	{ 0x29, "kOTA_Err_ResetNotSupported", "the device cannot reset itself", NULL, NULL },
	{ 0x2a, "kOTA_Err_TopicTooLarge", "a topic string did not fit its buffer", NULL, NULL },
	{ 0x2b, "kOTA_Err_SelfTestTimerFailed", "the self-test timer could not be started", NULL, NULL },
	{ 0x2c, "kOTA_Err_EventQueueSendFailed", "posting to the agent's event queue failed", NULL, NULL },
	{ 0x2d, "kOTA_Err_InvalidDataProtocol", "the job offers no data protocol the device supports", NULL, NULL },
	{ 0xfe, "kOTA_Err_Panic", "unrecoverable firmware error in the agent", NULL, NULL },
	{ 0xff, "kOTA_Err_Uninitialized", "the error code was never set", NULL, NULL },
};

static const struct sgt_ota_code jobparse_codes[] = {
	{ 0, "OtaJobParseErrNone", "no job-parse error", NULL, NULL },
	{ 1, "OtaJobParseErrNullJob", "a null job was reported (no job ID)", NULL, NULL },
	{ 2, "OtaJobParseErrUpdateCurrentJob", "the device is already busy with this job ID", NULL, NULL },
	{ 3, "OtaJobParseErrZeroFileSize", "the job document gives a zero file size", NULL, NULL },
	{ 4, "OtaJobParseErrNonConformingJobDoc", "the job document does not have the fields the device requires",
	  "for signed updates: the signature field (e.g. sig-sha256-ecdsa) or certfile is missing", NULL },
	{ 5, "OtaJobParseErrBadModelInitParams", "invalid document-model parameters on the device", NULL, NULL },
	{ 6, "OtaJobParseErrNoContextAvailable", "no OTA file context was available", NULL, NULL },
	{ 7, "OtaJobParseErrNoActiveJobs", "no active jobs are available in the service", NULL, NULL },
};

/* The agent's image-state words used in "reason":"<word>: 0x%08x" (pcOTA_JobReason_Strings). */
static const struct sgt_ota_code image_states[] = {
	{ 1, "ready", "the image is downloaded and waits for its self-test", NULL, NULL },
	{ 2, "active", "the new image is running its self-test", NULL, NULL },
	{ 3, "accepted", "the new image passed its self-test and was accepted", NULL, NULL },
	{ 4, "rejected", "the new image was rejected (self-test failed or the application rejected it)",
	  "the application's self-test failed, or the image did not boot", NULL },
	{ 5, "aborted", "the update was aborted", NULL, NULL },
};

/*
 * IngestResult_t (ota_private.h of ota-for-aws-iot-embedded-sdk v3; the
 * same values as eIngest_Result_* of pre-v3 amazon-freertos, where -4 and
 * -10 had other names, ingest_legacy_names).  Stored as (uint32_t)value.
 */
#define ING(v) ((uint32_t)(int32_t)(v))
static const struct sgt_ota_code ingest_codes[] = {
	{ ING(-1), "IngestResultFileComplete", "the whole file arrived and the signature check passed", NULL, NULL },
	{ ING(-2), "IngestResultSigCheckFail", "the whole file arrived but the signature check (the PAL's closeFile) failed",
	  "the image was signed with a key whose public key is not the one baked into the device, or the signer "
	  "certificate is not usable there; the job then fails with 0xe3 (v3) or kOTA_Err_SignatureCheckFailed (pre-v3)",
	  CHECK_SIG },
	{ ING(-3), "IngestResultFileCloseFail", "the whole file arrived but closing it failed for a reason other than the signature",
	  "the PAL's closeFile failed for a reason other than the signature: flash or file-system failure", NULL },
	{ ING(-4), "IngestResultNullInput", "an input pointer was NULL (pre-v3: eIngest_Result_NullContext, the file context was NULL)",
	  "agent porting bug or a transfer that was already torn down", NULL },
	{ ING(-5), "IngestResultBadFileHandle", "the receive file handle is invalid", "the file was closed or never opened (PAL createFile failed)", NULL },
	{ ING(-6), "IngestResultUnexpectedBlock", "a block arrived that the agent was not expecting",
	  "no file transfer is open, or every block was already received (a late block from the stream)", NULL },
	{ ING(-7), "IngestResultBlockOutOfRange", "the block index or size is outside the file",
	  "the stream's file is not the size the job document gives", NULL },
	{ ING(-8), "IngestResultBadData", "the data block from the service was malformed (could not be decoded)",
	  "decoding the stream message (CBOR) failed: a corrupted or truncated message", NULL },
	{ ING(-9), "IngestResultWriteBlockFailed", "the PAL could not write the block", "flash write failure or the partition is too small", NULL },
	{ ING(-10), "IngestResultNoDecodeMemory", "no memory to decode the block (pre-v3: eIngest_Result_NullResultPointer, a NULL close-result pointer)",
	  "decode buffer not configured or too small", NULL },
	{ ING(-127), "IngestResultUninitialized", "the result was never set (an agent bug)", NULL, NULL },
	{ ING(0), "IngestResultAccepted_Continue", "the block was accepted; more are expected (not an error)", NULL, NULL },
	{ ING(1), "IngestResultDuplicate_Continue", "the block was a duplicate, which is fine (not an error)", NULL, NULL },
};

/* The pre-v3 names of the same values, in the same order. */
static const char *const ingest_legacy_names[] = {
	"eIngest_Result_FileComplete", "eIngest_Result_SigCheckFail", "eIngest_Result_FileCloseFail",
	"eIngest_Result_NullContext", "eIngest_Result_BadFileHandle", "eIngest_Result_UnexpectedBlock",
	"eIngest_Result_BlockOutOfRange", "eIngest_Result_BadData", "eIngest_Result_WriteBlockFailed",
	"eIngest_Result_NullResultPointer", "eIngest_Result_Uninitialized", "eIngest_Result_Accepted_Continue",
	"eIngest_Result_Duplicate_Continue",
};

/*
 * The TI SimpleLink file-system errors (errors.h of the CC32xx host driver)
 * that sl_FsClose gives when it checks a secure file's signature: the
 * CC3220 OTA PAL folds them, low 24 bits, into its close result.
 */
#define CERT_NAME "signet sign --cert-name PATH: PATH must be the signer certificate's file on the device (the job's certfile)"
static const struct sgt_ota_code simplelink_codes[] = {
	{ ING(-10273), "SL_ERROR_FS_CERT_IN_THE_CHAIN_REVOKED_SECURITY_ALERT", "a certificate in the signer's chain is revoked in the device's catalog", NULL, NULL },
	{ ING(-10274), "SL_ERROR_FS_INIT_CERTIFICATE_STORE", "the device could not initialise its certificate store (catalog)", NULL, NULL },
	{ ING(-10287), "SL_ERROR_FS_ROOT_CA_IS_UNKOWN", "the signer certificate's chain does not end at a root in the device's on-chip catalog",
	  NULL, "signet verify IMAGE --sig SIG --cert CERT (says what it cannot check for CC3220)" },
	{ ING(-10288), "SL_ERROR_FS_FILE_HAS_NOT_BEEN_CLOSE_CORRECTLY", "the file was not closed correctly before", NULL, NULL },
	{ ING(-10289), "SL_ERROR_FS_WRONG_SIGNATURE_SECURITY_ALERT", "the image signature does not verify with the signer certificate", NULL, CHECK_SIG },
	{ ING(-10290), "SL_ERROR_FS_WRONG_SIGNATURE_OR_CERTIFIC_NAME_LENGTH", "the signature or the certificate file name has a wrong length", NULL, CERT_NAME },
	{ ING(-10292), "SL_ERROR_FS_CERT_CHAIN_ERROR_SECURITY_ALERT", "the signer certificate's chain could not be verified", NULL, NULL },
	{ ING(-10341), "SL_ERROR_FS_FILE_NOT_EXISTS", "a file sl_FsClose needed does not exist on the device",
	  "for a signed image: the signer certificate file the job names (certfile) is not in the device's file system", CERT_NAME },
	{ ING(-10363), "SL_ERROR_FS_ILLEGAL_SIGNATURE", "the signature is malformed", NULL, CHECK_SIG },
	{ ING(-10372), "SL_ERROR_FS_WRONG_CERTIFICATE_FILE_NAME", "the certificate file name is wrong", NULL, CERT_NAME },
};

#define NITEMS(a) (sizeof(a) / sizeof((a)[0]))

static const struct sgt_ota_code *lookup(const struct sgt_ota_code *t, size_t n, uint32_t v)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (t[i].value == v)
			return &t[i];
	return NULL;
}

const struct sgt_ota_code *sgt_ota_pal_code(uint32_t v) { return lookup(pal_codes, NITEMS(pal_codes), v); }
const struct sgt_ota_code *sgt_ota_agent_code(uint32_t v) { return lookup(agent_codes, NITEMS(agent_codes), v); }
const struct sgt_ota_code *sgt_ota_jobparse_code(uint32_t v) { return lookup(jobparse_codes, NITEMS(jobparse_codes), v); }
const struct sgt_ota_code *sgt_ota_legacy_code(uint32_t v) { return lookup(legacy_codes, NITEMS(legacy_codes), v); }
const struct sgt_ota_code *sgt_ota_legacy_table(size_t *n) { *n = NITEMS(legacy_codes); return legacy_codes; }

const struct sgt_ota_code *sgt_ota_ingest_table(size_t *n) { *n = NITEMS(ingest_codes); return ingest_codes; }
const struct sgt_ota_code *sgt_ota_ingest_code(int32_t v) { return lookup(ingest_codes, NITEMS(ingest_codes), (uint32_t)v); }
const struct sgt_ota_code *sgt_ota_simplelink_code(int32_t v) { return lookup(simplelink_codes, NITEMS(simplelink_codes), (uint32_t)v); }

const struct sgt_ota_code *sgt_ota_image_state(const char *word)
{
	size_t i;

	for (i = 0; i < NITEMS(image_states); i++)
		if (strcmp(image_states[i].name, word) == 0)
			return &image_states[i];
	return NULL;
}

const struct sgt_ota_code *sgt_ota_pal_table(size_t *n) { *n = NITEMS(pal_codes); return pal_codes; }
const struct sgt_ota_code *sgt_ota_agent_table(size_t *n) { *n = NITEMS(agent_codes); return agent_codes; }
const struct sgt_ota_code *sgt_ota_jobparse_table(size_t *n) { *n = NITEMS(jobparse_codes); return jobparse_codes; }

/* Depth-first search for a "reason" string anywhere in a JSON document. */
static const char *json_reason(json_t *j, int depth)
{
	const char *key;
	json_t *v;
	size_t i;

	if (depth > 32)
		return NULL;
	if (json_is_object(j)) {
		v = json_object_get(j, "reason");
		if (json_is_string(v))
			return json_string_value(v);
		json_object_foreach(j, key, v) {
			const char *r = json_reason(v, depth + 1);

			if (r != NULL)
				return r;
		}
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v) {
			const char *r = json_reason(v, depth + 1);

			if (r != NULL)
				return r;
		}
	}
	return NULL;
}

/*
 * One hex number, "0x" optional, at *p; skips surrounding blanks.  Hex
 * even without "0x" because the agent prints every code with %08x.
 */
static int hexnum(const char **p, uint32_t *out)
{
	const char *s = *p;
	unsigned long long v = 0;
	int digits = 0;

	while (*s == ' ' || *s == '\t')
		s++;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && isxdigit((unsigned char)s[2]))
		s += 2;
	while (isxdigit((unsigned char)*s)) {
		if (++digits > 8)
			return -1;
		v = v * 16 + (unsigned)(isdigit((unsigned char)*s) ? *s - '0' : tolower((unsigned char)*s) - 'a' + 10);
		s++;
	}
	if (digits == 0)
		return -1;
	while (*s == ' ' || *s == '\t')
		s++;
	*p = s;
	*out = (uint32_t)v;
	return 0;
}

/*
 * What a 32-bit error word is: a v3 PAL status (0xe0.., whole or main
 * only), a v3 OtaErr_t (0..24), or a pre-v3 kOTA_Err_* word (high byte).
 */
static enum sgt_ota_kind classify_word(uint32_t v, const struct sgt_ota_code **code, uint32_t *main, uint32_t *detail)
{
	*detail = 0;
	*main = v;
	if (v >= 0xe0 && v <= 0xef) {
		*code = sgt_ota_pal_code(v);
		return SGT_OTA_PAL;
	}
	if ((v >> 24) >= 0xe0 && (v >> 24) <= 0xef) {
		*main = v >> 24;
		*detail = v & 0xffffffu;
		*code = sgt_ota_pal_code(*main);
		return SGT_OTA_PAL;
	}
	if ((*code = sgt_ota_agent_code(v)) != NULL)
		return SGT_OTA_AGENT;
	if (v > 0xffffffu && (*code = sgt_ota_legacy_code(v >> 24)) != NULL) {
		*main = v >> 24;
		*detail = v & 0xffffffu;
		return SGT_OTA_LEGACY;
	}
	return SGT_OTA_UNKNOWN;
}

/* A PAL's low 24 bits as the signed number the platform returned. */
static int32_t s24(uint32_t v)
{
	v &= 0xffffffu;
	return (v & 0x800000u) ? (int32_t)v - 0x1000000 : (int32_t)v;
}

static void classify(struct sgt_ota_reason *r)
{
	uint32_t main, detail;
	const struct sgt_ota_code *c;
	enum sgt_ota_kind k = classify_word(r->main, &c, &main, &detail);

	r->code = c;
	r->kind = k;
	if (k == SGT_OTA_PAL && r->main > 0xff) {
		/* A whole OtaPalStatus_t (main << 24 | sub), split as OTA_PAL_MAIN_ERR / OTA_PAL_SUB_ERR do. */
		if (!r->has_sub) {
			r->sub = detail;
			r->has_sub = 1;
		}
		r->main = main;
	} else if (k == SGT_OTA_LEGACY) {
		r->main = main;
		r->detail = detail;
		r->platform = sgt_ota_simplelink_code(s24(detail));
	} else if (k == SGT_OTA_AGENT && r->main == 12 && r->has_sub) {
		r->subcode = sgt_ota_jobparse_code(r->sub);
	}
	if (k == SGT_OTA_AGENT && r->main != 0)
		r->other_reading = "pre-v3 agents report a kOTA_Err_* word with the error in the high byte, so a code "
				   "below 0x01000000 is read as OTA library v3 (ota-for-aws-iot-embedded-sdk)";
	if (k == SGT_OTA_AGENT && r->main == 24)
		r->other_reading = "OtaErrEmptyJobDocument exists from OTA library v3.4.0; agents v3.0-v3.3 stop at 23 and never report 24";
}

/* Length of the C identifier at p (0 when none). */
static size_t ident_len(const char *p)
{
	size_t n = 0;

	if (!isalpha((unsigned char)*p) && *p != '_')
		return 0;
	while (isalnum((unsigned char)p[n]) || p[n] == '_')
		n++;
	return n;
}

static int name_is(const char *p, size_t n, const char *name)
{
	return strncasecmp(p, name, n) == 0 && name[n] == '\0';
}

/*
 * A name from any table (case-insensitive), read as that bare code would
 * be: a job-parse error as OtaErrJobParserError with it as sub-error, an
 * eIngest_Result_* by its v3 value.  0 when no table has it.
 */
static int by_name(const char *p, size_t n, struct sgt_ota_reason *r)
{
	const struct {
		enum sgt_ota_kind kind;
		const struct sgt_ota_code *t;
		size_t n;
	} tables[] = {
		{ SGT_OTA_PAL, pal_codes, NITEMS(pal_codes) }, { SGT_OTA_AGENT, agent_codes, NITEMS(agent_codes) },
		{ SGT_OTA_UNKNOWN, jobparse_codes, NITEMS(jobparse_codes) }, { SGT_OTA_LEGACY, legacy_codes, NITEMS(legacy_codes) },
		{ SGT_OTA_INGEST, ingest_codes, NITEMS(ingest_codes) },
	};
	size_t t, i;

	for (t = 0; t < NITEMS(tables); t++)
		for (i = 0; i < tables[t].n; i++) {
			const struct sgt_ota_code *c = &tables[t].t[i];

			if (!name_is(p, n, c->name) && !(tables[t].t == ingest_codes && name_is(p, n, ingest_legacy_names[i])))
				continue;
			r->kind = tables[t].kind;
			r->code = c;
			r->main = c->value;
			if (tables[t].t == jobparse_codes) {
				r->kind = SGT_OTA_AGENT;
				r->main = 12;
				r->code = sgt_ota_agent_code(12);
				r->sub = c->value;
				r->has_sub = 1;
				r->subcode = c;
			}
			return 1;
		}
	return 0;
}

/* A decimal number at *p, '-' allowed when neg; 0 on success. */
static int decnum(const char **p, int neg, long long *out)
{
	const char *s = *p;
	long long v = 0;
	int digits = 0, minus = 0;

	if (neg && *s == '-') {
		minus = 1;
		s++;
	}
	while (isdigit((unsigned char)*s)) {
		if (++digits > 10)
			return -1;
		v = v * 10 + (*s++ - '0');
	}
	if (digits == 0)
		return -1;
	*p = s;
	*out = minus ? -v : v;
	return 0;
}

static void ingest(struct sgt_ota_reason *r, int32_t v)
{
	r->kind = SGT_OTA_INGEST;
	r->main = (uint32_t)v;
	r->code = sgt_ota_ingest_code(v);
}

#define NOT_A_NAME "not an OTA error name signet knows ('signet explain --list' shows them)"

/*
 * The forms device logs print, found anywhere in a pasted line.  Returns
 * 1 when s holds none of them, else SGT_OK or SGT_ERR_USAGE (*why set).
 */
static int parse_log(const char *s, struct sgt_ota_reason *r, const char **why)
{
	const char *p, *pa, *pp;
	long long v;
	size_t n;

	/* OTA library v3, a failed close of the received file: "Error=(OtaPalSignatureCheckFailed:0x000000)". */
	if ((p = strstr(s, "Error=(")) != NULL) {
		uint32_t sub;

		p += 7;
		if ((n = ident_len(p)) > 0) {
			if (!by_name(p, n, r) || r->kind != SGT_OTA_PAL) {
				*why = "expected an OtaPalMainStatus_t name such as OtaPalSignatureCheckFailed after 'Error=('";
				return SGT_ERR_USAGE;
			}
			p += n;
		} else if (decnum(&p, 0, &v) == 0 && v <= 0xff) {
			r->main = (uint32_t)v;
			r->kind = (r->code = sgt_ota_pal_code(r->main)) != NULL ? SGT_OTA_PAL : SGT_OTA_UNKNOWN;
		} else {
			*why = "expected a PAL status name or number after 'Error=('";
			return SGT_ERR_USAGE;
		}
		if (*p != ':' || (p++, hexnum(&p, &sub)) != 0 || *p != ')') {
			*why = "expected 'Error=(PAL status:0xSUBERROR)'";
			return SGT_ERR_USAGE;
		}
		r->sub = sub;
		r->has_sub = 1;
		r->sub24 = sub <= 0xffffffu;
		if (r->sub24)
			r->platform = sgt_ota_simplelink_code(s24(sub));
		snprintf(r->form, sizeof(r->form), "an OTA library v3 agent log 'Error=(PAL status:platform sub-error)', "
			 "as it reports a failed close (signature check) of the received file; the sub-error is the PAL's low 24 bits");
		return SGT_OK;
	}
	/* pre-v3 amazon-freertos: "Error (17:16766875) closing OTA file", the kOTA_Err_* high byte and the PAL's 24 bits. */
	if ((p = strstr(s, "Error (")) != NULL && isdigit((unsigned char)p[7])) {
		long long detail;
		uint32_t hex;
		const char *d;

		p += 7;
		if (decnum(&p, 0, &v) != 0 || v > 0xff || *p++ != ':') {
			*why = "expected 'Error (N:DETAIL)' with N the high byte of a kOTA_Err_* code (0-255)";
			return SGT_ERR_USAGE;
		}
		while (*p == ' ')
			p++;
		d = p;
		if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
			if (hexnum(&p, &hex) != 0 || hex > 0xffffffu) {
				*why = "expected the PAL detail (24 bits) after ':'";
				return SGT_ERR_USAGE;
			}
			detail = hex;
		} else if (decnum(&p, 1, &detail) != 0 || detail > 0xffffff || detail < -0x800000) {
			*why = "expected the PAL detail (24 bits) after ':'";
			return SGT_ERR_USAGE;
		}
		if (*p != ')') {
			*why = "expected ')' after the PAL detail";
			return SGT_ERR_USAGE;
		}
		r->main = (uint32_t)v << 24 | ((uint32_t)detail & 0xffffffu);
		classify(r);
		if (r->kind != SGT_OTA_LEGACY) {
			r->kind = SGT_OTA_UNKNOWN;
			r->code = NULL;
		}
		snprintf(r->form, sizeof(r->form), "a pre-v3 amazon-freertos agent log 'Error (%lld:%.*s)': the kOTA_Err_* "
			 "code's high byte in decimal (%lld = 0x%02llx), then the PAL's low 24 bits (0x%06x)",
			 v, (int)(p - d), d, v, v, (unsigned)((uint32_t)detail & 0xffffffu));
		r->other_reading = "the first number is the high byte of a pre-v3 kOTA_Err_* word, printed in decimal, not an OTA "
				   "library v3 OtaErr_t: v3 agents log a failed close as 'Error=(NAME:0x...)'";
		return SGT_OK;
	}
	/* OTA library v3: "OtaErr_t=OtaErrJobParserError, OtaPalStatus_t=OtaPalSuccess, ...". */
	pa = strstr(s, "OtaErr_t=");
	pp = strstr(s, "OtaPalStatus_t=");
	if (pa != NULL || pp != NULL) {
		struct sgt_ota_reason pal;
		int pal_error = 0;

		memset(&pal, 0, sizeof(pal));
		if (pp != NULL) {
			pp += 15;
			n = ident_len(pp);
			if (n > 0 && name_is(pp, n, "OtaPalSuccess")) {
				if (pa == NULL) {
					*why = "OtaPalStatus_t=OtaPalSuccess reports no error";
					return SGT_ERR_USAGE;
				}
			} else if (n == 0 || !by_name(pp, n, &pal) || pal.kind != SGT_OTA_PAL) {
				*why = "expected an OtaPalMainStatus_t name after 'OtaPalStatus_t='";
				return SGT_ERR_USAGE;
			} else
				pal_error = 1;
		}
		if (pa != NULL) {
			pa += 9;
			n = ident_len(pa);
			if (n == 0 || !by_name(pa, n, r) || r->kind != SGT_OTA_AGENT || r->has_sub) {
				memset(r, 0, sizeof(*r));
				*why = "expected an OtaErr_t name such as OtaErrJobParserError after 'OtaErr_t='";
				return SGT_ERR_USAGE;
			}
			if (pal_error) {
				r->inner = pal.code;
				r->inner_kind = SGT_OTA_PAL;
				r->inner_main = pal.main;
			}
		} else
			*r = pal;
		snprintf(r->form, sizeof(r->form), "an OTA library v3 agent log naming %s", pa && pal_error ?
			 "its OtaErr_t and the PAL status (OtaPalStatus_t)" : pa ? "its OtaErr_t" : "the PAL status (OtaPalStatus_t)");
		return SGT_OK;
	}
	/* "IngestResult_t -2", "IngestResult_t=IngestResultBadData". */
	if ((p = strstr(s, "IngestResult_t")) != NULL) {
		p += 14;
		while (*p == ' ' || *p == '=' || *p == ':' || *p == '(')
			p++;
		if ((n = ident_len(p)) > 0) {
			if (!by_name(p, n, r) || r->kind != SGT_OTA_INGEST) {
				memset(r, 0, sizeof(*r));
				*why = "expected an IngestResult_t name or number after 'IngestResult_t'";
				return SGT_ERR_USAGE;
			}
		} else if (decnum(&p, 1, &v) == 0 && v >= INT32_MIN && v <= INT32_MAX) {
			ingest(r, (int32_t)v);
		} else {
			*why = "expected an IngestResult_t number (decimal, e.g. -2) after 'IngestResult_t'";
			return SGT_ERR_USAGE;
		}
		snprintf(r->form, sizeof(r->form), "an IngestResult_t, the agent's result for a received block (decimal)");
		return SGT_OK;
	}
	/* A bare negative number: IngestResult_t is the only OTA code below zero. */
	if (s[0] == '-' && isdigit((unsigned char)s[1])) {
		p = s;
		if (decnum(&p, 1, &v) != 0 || *p != '\0' || v < INT32_MIN) {
			*why = "expected a negative decimal number such as -2 (an IngestResult_t)";
			return SGT_ERR_USAGE;
		}
		ingest(r, (int32_t)v);
		r->other_reading = "a bare negative number is read as IngestResult_t (decimal), the agent's only negative "
				   "code; a device log may also print a platform's own negative error (mbedTLS, SimpleLink): "
				   "read it with the words around it";
		return SGT_OK;
	}
	return 1;
}

static int parse_plain(const char *s, struct sgt_ota_reason *r, const char **why)
{
	const char *p = s;
	size_t n = 0;

	while (isspace((unsigned char)*p))
		p++;
	/* "rejected: 0x00000000" and friends: an image-state word, then a sub-code. */
	while (isalpha((unsigned char)p[n]) || p[n] == '_')
		n++;
	if (n > 0 && n < sizeof(r->word) && (p[n] == ':' || p[n] == ' ' || p[n] == '\0')) {
		char word[16];
		const struct sgt_ota_code *c;

		memcpy(word, p, n);
		word[n] = '\0';
		for (size_t i = 0; i < n; i++)
			word[i] = (char)tolower((unsigned char)word[i]);
		if ((c = sgt_ota_image_state(word)) != NULL) {
			const char *q = p + n;

			strcpy(r->word, word);
			r->kind = SGT_OTA_IMAGE_STATE;
			r->code = c;
			r->main = c->value;
			while (*q == ' ')
				q++;
			if (*q == ':') {
				q++;
				if (hexnum(&q, &r->sub) != 0 || *q != '\0') {
					*why = "expected a hex sub-code after the image state";
					return SGT_ERR_USAGE;
				}
				r->has_sub = 1;
				/* The sub-code is the error that led to the state (0: none given). */
				if (r->sub != 0)
					r->inner_kind = classify_word(r->sub, &r->inner, &r->inner_main, &r->inner_detail);
			} else if (*q != '\0') {
				*why = "unexpected text after the image state";
				return SGT_ERR_USAGE;
			}
			return SGT_OK;
		}
	}
	/* A bare name from any table; an identifier that is not a hex number and no name is not a reason. */
	if ((n = ident_len(p)) > 0 && p[n] == '\0') {
		size_t i;

		if (by_name(p, n, r))
			return SGT_OK;
		for (i = 0; i < n && isxdigit((unsigned char)p[i]); i++)
			;
		if (i < n) {
			*why = NOT_A_NAME;
			return SGT_ERR_USAGE;
		}
	}
	if (hexnum(&p, &r->main) != 0) {
		*why = "expected a hex code such as 0xe3 or \"0x000000e3: 0x00000000\"";
		return SGT_ERR_USAGE;
	}
	if (*p == ':') {
		p++;
		if (hexnum(&p, &r->sub) != 0) {
			*why = "expected a hex sub-code after ':'";
			return SGT_ERR_USAGE;
		}
		r->has_sub = 1;
	}
	if (*p != '\0') {
		*why = "unexpected text after the code";
		return SGT_ERR_USAGE;
	}
	classify(r);
	return SGT_OK;
}

int sgt_ota_parse(const char *input, struct sgt_ota_reason *out, const char **why)
{
	char *copy = NULL;
	json_t *doc = NULL;
	const char *s;
	size_t n;
	int rc;

	memset(out, 0, sizeof(*out));
	*why = NULL;
	while (isspace((unsigned char)*input))
		input++;
	/* A log line that carries the job status: "... Msg: {\"status\":\"FAILED\",\"statusDetails\":{...}}". */
	if (*input != '{' && (s = strstr(input, "Msg:")) != NULL) {
		s += 4;
		while (isspace((unsigned char)*s))
			s++;
		if (*s == '{' || *s == '[')
			input = s;
	}
	if (*input == '{' || *input == '[') {
		const char *reason;

		/* What follows the document on a log line (a topic, a newline) is not part of it. */
		if ((doc = json_loads(input, JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK, NULL)) == NULL) {
			/* "[INFO] [OTA] ... Error=(...)": a log line, not a JSON array */
			if ((rc = parse_log(input, out, why)) != 1)
				return rc;
			memset(out, 0, sizeof(*out));
			*why = "not valid JSON";
			return SGT_ERR_USAGE;
		}
		if ((reason = json_reason(doc, 0)) == NULL) {
			json_decref(doc);
			*why = "the JSON holds no \"reason\" string";
			return SGT_ERR_USAGE;
		}
		if ((copy = strdup(reason)) == NULL) {
			json_decref(doc);
			return sgt_err(SGT_ERR_DATA, "out of memory");
		}
		json_decref(doc);
	} else if ((copy = strdup(input)) == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	/* A reason pasted with its quotes, or with "reason": in front. */
	s = copy;
	if ((strncmp(s, "\"reason\"", 8) == 0 || strncmp(s, "reason", 6) == 0) && strchr(s, ':') != NULL) {
		s = strchr(s, ':') + 1;
		while (isspace((unsigned char)*s))
			s++;
	}
	n = strlen(s);
	while (n > 0 && (isspace((unsigned char)s[n - 1]) || s[n - 1] == ','))
		n--;
	if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
		s++;
		n -= 2;
	}
	memmove(copy, s, n);
	copy[n] = '\0';
	if (n == 0) {
		*why = "empty reason";
		rc = SGT_ERR_USAGE;
	} else if ((rc = parse_log(copy, out, why)) == 1)
		rc = parse_plain(copy, out, why);
	free(copy);
	return rc;
}
