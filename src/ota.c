/*
 * ota.c: the FreeRTOS OTA failure codes and a forgiving parser for the
 * reason strings devices report.  The tables follow the OTA library's
 * headers (ota_platform_interface.h OtaPalMainStatus_t, ota.h OtaErr_t and
 * OtaJobParseErr_t of ota-for-aws-iot-embedded-sdk v3.4.0, where
 * OtaErrEmptyJobDocument = 24 was added after v3.0-v3.3 stopped at 23;
 * 0xef RxFileResumeFailed from esp-aws-iot; the kOTA_Err_* words from
 * amazon-freertos' aws_iot_ota_agent.h, 201906.00 .. 202007.00) so a
 * name printed here can be grepped for in the device sources.  The words
 * in "meaning" and "cause" are ours.  Nothing here prints.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
	} else if (k == SGT_OTA_AGENT && r->main == 12 && r->has_sub) {
		r->subcode = sgt_ota_jobparse_code(r->sub);
	}
	if (k == SGT_OTA_AGENT && r->main != 0)
		r->other_reading = "pre-v3 agents report a kOTA_Err_* word with the error in the high byte, so a code "
				   "below 0x01000000 is read as OTA library v3 (ota-for-aws-iot-embedded-sdk)";
	if (k == SGT_OTA_AGENT && r->main == 24)
		r->other_reading = "OtaErrEmptyJobDocument exists from OTA library v3.4.0; agents v3.0-v3.3 stop at 23 and never report 24";
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
	if (*input == '{' || *input == '[') {
		const char *reason;

		if ((doc = json_loads(input, JSON_DECODE_ANY, NULL)) == NULL) {
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
	} else
		rc = parse_plain(copy, out, why);
	free(copy);
	return rc;
}
