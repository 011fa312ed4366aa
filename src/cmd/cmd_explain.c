/*
 * cmd_explain.c: `signet explain REASON`: decodes an OTA job failure reason
 * (as pasted from the console, the CLI or a device log) into the FreeRTOS
 * error name, what it means, the usual cause and the signet command that
 * checks it.  Needs no store and no token.  Exit 0 when the code is known,
 * 1 when it is not, 2 when the input is not a reason at all.
 */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "device.h"
#include "ota.h"

static const char help[] =
	"usage: signet explain REASON\n"
	"       signet explain --list\n\n"
	"Decodes an OTA job failure reason: \"0x000000e3: 0x00000000\", 0xe3, e3:0,\n"
	"a whole PAL status such as 0xe3000000, \"rejected: 0x00000000\", or the JSON\n"
	"statusDetails (or a whole job execution) holding a \"reason\", also after a\n"
	"log's 'Msg: '; '-' reads it from standard input.  Codes are hexadecimal, as\n"
	"devices report them.  Device log forms are read too: Error=(NAME:0x...),\n"
	"OtaErr_t=NAME, IngestResult_t -2, pre-v3 \"Error (17:16766875) closing OTA\n"
	"file\" (decimal), any name --list shows, and a negative number (an\n"
	"IngestResult_t: 'signet explain -2' is a reason, not an option).\n\n"
	"  --list   every code signet knows\n\n"
	"exit status: 0 known code, 1 unknown code, 2 not a reason\n";

static const char *kind_name(enum sgt_ota_kind k)
{
	switch (k) {
	case SGT_OTA_PAL: return "pal";
	case SGT_OTA_AGENT: return "agent";
	case SGT_OTA_IMAGE_STATE: return "image_state";
	case SGT_OTA_LEGACY: return "legacy_agent";
	case SGT_OTA_INGEST: return "ingest_result";
	default: return "unknown";
	}
}

static int list_codes(struct sgt_ctx *ctx)
{
	const struct {
		const char *kind;
		const struct sgt_ota_code *(*table)(size_t *);
	} tables[] = {
		{ "pal", sgt_ota_pal_table }, { "agent", sgt_ota_agent_table }, { "job_parse", sgt_ota_jobparse_table },
		{ "legacy_agent (pre-v3, high byte)", sgt_ota_legacy_table },
		{ "ingest_result (IngestResult_t, decimal)", sgt_ota_ingest_table },
	};
	json_t *arr = ctx->json ? json_array() : NULL;
	size_t t, i, n;

	for (t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
		const struct sgt_ota_code *c = tables[t].table(&n);

		if (!ctx->json)
			printf("%s%s codes:\n", t ? "\n" : "", tables[t].kind);
		for (i = 0; i < n; i++) {
			/* IngestResult_t values are signed and printed in decimal, as the agent's enum */
			int ing = tables[t].table == sgt_ota_ingest_table;
			json_int_t v = ing ? (json_int_t)(int32_t)c[i].value : (json_int_t)c[i].value;

			if (ctx->json)
				json_array_append_new(arr, json_pack("{s:s,s:I,s:s,s:s}", "kind", tables[t].kind,
								     "code", v, "name", c[i].name, "meaning", c[i].meaning));
			else if (ing)
				printf("  %4d  %-34s %s\n", (int)v, c[i].name, c[i].meaning);
			else
				printf("  0x%02x  %-34s %s\n", (unsigned)c[i].value, c[i].name, c[i].meaning);
		}
	}
	return ctx->json ? cmd_json_print(arr) : SGT_OK;
}

/* A platform sub-error in words: negative values as signed, mbedTLS codes named; bits24: a PAL's low 24 bits. */
static void sub_words(uint32_t sub, int bits24, char *out, size_t cap)
{
	int32_t v = bits24 && (sub & 0x800000u) ? (int32_t)sub - 0x1000000 : (int32_t)sub;
	char msg[96];

	if (v < 0 && v >= -0x7fff) {
		sgt_device_strerror(v, msg, sizeof(msg));
		if (strncmp(msg, "UNKNOWN ERROR", 13) != 0)
			snprintf(out, cap, "%d (-0x%04x) as a signed platform error; where the port passes mbedTLS codes: %s",
				 (int)v, (unsigned)-v, msg);
		else
			snprintf(out, cap, "%d as a signed platform error", (int)v);
	} else if (v < 0) {
		snprintf(out, cap, "%d as a signed platform error", (int)v);
	} else {
		out[0] = '\0';
	}
}

static void print_inner(const struct sgt_ota_reason *r)
{
	if (!r->has_sub || r->sub == 0) {
		printf("sub-code: 0x00000000: no error given with the state\n");
		return;
	}
	switch (r->inner_kind) {
	case SGT_OTA_PAL:
		printf("sub-code: 0x%08x: the error that caused it: 0x%02x %s (OTA PAL, v3), platform detail 0x%06x: %s\n",
		       (unsigned)r->sub, (unsigned)r->inner_main, r->inner->name, (unsigned)r->inner_detail, r->inner->meaning);
		break;
	case SGT_OTA_AGENT:
		printf("sub-code: 0x%08x: the error that caused it: %u %s (OTA agent, v3): %s\n", (unsigned)r->sub,
		       (unsigned)r->inner_main, r->inner->name, r->inner->meaning);
		break;
	case SGT_OTA_LEGACY:
		printf("sub-code: 0x%08x: the error that caused it: %s (pre-v3 agent), PAL detail 0x%06x: %s\n",
		       (unsigned)r->sub, r->inner->name, (unsigned)r->inner_detail, r->inner->meaning);
		break;
	default:
		printf("sub-code: 0x%08x: not a known OTA error\n", (unsigned)r->sub);
	}
	if (r->inner && r->inner->check)
		printf("check with: %s\n", r->inner->check);
}

static int print_reason(struct sgt_ctx *ctx, const char *input, const struct sgt_ota_reason *r)
{
	const struct sgt_ota_code *c = r->code;
	char subhex[16] = "", words[320] = "";

	if (r->has_sub) {
		snprintf(subhex, sizeof(subhex), "0x%08x", (unsigned)r->sub);
		if (r->kind != SGT_OTA_IMAGE_STATE && !(r->kind == SGT_OTA_AGENT && r->main == 12))
			sub_words(r->sub, r->sub24, words, sizeof(words));
	}
	if (ctx->json) {
		json_int_t code = r->kind == SGT_OTA_INGEST ? (json_int_t)(int32_t)r->main : (json_int_t)r->main;
		json_t *j = json_pack("{s:s,s:s,s:I}", "input", input, "kind", kind_name(r->kind), "code", code);

		if (j == NULL)
			return sgt_err(SGT_ERR_DATA, "out of memory");
		json_object_set_new(j, "sub_code", r->has_sub ? json_integer((json_int_t)r->sub) : json_null());
		json_object_set_new(j, "name", c ? json_string(c->name) : json_null());
		json_object_set_new(j, "meaning", c ? json_string(c->meaning) : json_null());
		json_object_set_new(j, "cause", c && c->cause ? json_string(c->cause) : json_null());
		json_object_set_new(j, "check", c && c->check ? json_string(c->check) : json_null());
		json_object_set_new(j, "sub_name", r->subcode ? json_string(r->subcode->name) : json_null());
		json_object_set_new(j, "sub_meaning", r->subcode ? json_string(r->subcode->meaning) : json_null());
		json_object_set_new(j, "pal_detail", r->kind == SGT_OTA_LEGACY ? json_integer((json_int_t)r->detail) : json_null());
		json_object_set_new(j, "sub_words", words[0] ? json_string(words) : json_null());
		json_object_set_new(j, "cause_kind", r->inner ? json_string(kind_name(r->inner_kind)) : json_null());
		json_object_set_new(j, "cause_name", r->inner ? json_string(r->inner->name) : json_null());
		json_object_set_new(j, "other_reading", r->other_reading ? json_string(r->other_reading) : json_null());
		json_object_set_new(j, "read_as", r->form[0] ? json_string(r->form) : json_null());
		json_object_set_new(j, "platform_name", r->platform ? json_string(r->platform->name) : json_null());
		json_object_set_new(j, "pal_status", r->kind == SGT_OTA_AGENT && r->inner ? json_string(r->inner->name) : json_null());
		cmd_json_print(j);
	} else if (c == NULL && r->kind == SGT_OTA_INGEST) {
		printf("%d: unknown: not an IngestResult_t value (-10..-1, -127, 0, 1)\n", (int)(int32_t)r->main);
	} else if (c == NULL) {
		printf("0x%08x: unknown: not an OTA PAL error (0xe0-0xef), an OTA agent error (0-24) nor a pre-v3 kOTA_Err_* word\n",
		       (unsigned)r->main);
		if (r->form[0])
			printf("read as: %s\n", r->form);
	} else {
		switch (r->kind) {
		case SGT_OTA_PAL:
			printf("0x%02x %s (OTA PAL error%s%s%s)\n", (unsigned)r->main, c->name,
			       r->has_sub ? ", platform sub-error " : "", subhex, r->has_sub && r->sub == 0 ? ", none" : "");
			break;
		case SGT_OTA_AGENT:
			printf("%u %s (OTA agent error%s%s)\n", (unsigned)r->main, c->name,
			       r->has_sub ? ", sub-error " : "", subhex);
			break;
		case SGT_OTA_LEGACY:
			printf("0x%08x %s (pre-v3 amazon-freertos agent error, PAL detail 0x%06x%s%s)\n",
			       (unsigned)(r->main << 24 | r->detail), c->name, (unsigned)r->detail,
			       r->has_sub ? ", platform sub-error " : "", subhex);
			break;
		case SGT_OTA_INGEST:
			printf("%d %s (IngestResult_t, the OTA agent's result for a received block%s)\n", (int)(int32_t)r->main,
			       c->name, (int32_t)r->main < 0 ? ": negative, an error" : ": not an error");
			break;
		default:
			printf("%s (OTA image state%s%s)\n", c->name, r->has_sub ? ", sub-code " : "", subhex);
			break;
		}
		if (r->form[0])
			printf("read as: %s\n", r->form);
		printf("meaning: %s\n", c->meaning);
		if (words[0])
			printf("sub-error: %s\n", words);
		if (r->platform && r->kind != SGT_OTA_LEGACY)
			printf("sub-error on TI CC3220 (SimpleLink sl_FsClose): %s: %s\n", r->platform->name, r->platform->meaning);
		if (r->kind == SGT_OTA_IMAGE_STATE)
			print_inner(r);
		if (r->kind == SGT_OTA_AGENT && r->inner)
			printf("PAL status: 0x%02x %s: %s\n", (unsigned)r->inner_main, r->inner->name, r->inner->meaning);
		if (r->kind == SGT_OTA_LEGACY && (r->detail & 0x800000u))
			printf("PAL detail: %d as a signed 24-bit platform code%s%s%s%s\n",
			       (int)r->detail - 0x1000000, r->platform ? "; on TI CC3220 (SimpleLink sl_FsClose): " : "",
			       r->platform ? r->platform->name : "", r->platform ? ": " : "", r->platform ? r->platform->meaning : "");
		if (r->subcode)
			printf("sub-error: %u %s: %s\n", (unsigned)r->sub, r->subcode->name, r->subcode->meaning);
		else if (r->kind == SGT_OTA_AGENT && r->main == 12 && r->has_sub)
			printf("sub-error: %u is not a known OtaJobParseErr_t\n", (unsigned)r->sub);
		if (c->cause)
			printf("usual cause: %s\n", c->cause);
		if (r->subcode && r->subcode->cause)
			printf("usual cause: %s\n", r->subcode->cause);
		if (r->platform && r->platform->cause)
			printf("usual cause: %s\n", r->platform->cause);
		if (r->kind == SGT_OTA_AGENT && r->inner && r->inner->cause)
			printf("usual cause: %s\n", r->inner->cause);
		if (c->check)
			printf("check with: %s\n", c->check);
		if (r->platform && r->platform->check && r->platform->check != c->check)
			printf("check with: %s\n", r->platform->check);
		if (r->kind == SGT_OTA_AGENT && r->inner && r->inner->check)
			printf("check with: %s\n", r->inner->check);
		if (r->other_reading)
			printf("other reading: %s\n", r->other_reading);
	}
	if (c == NULL) {
		if (!ctx->json)
			sgt_hint("'signet explain --list' shows every code signet knows");
		return SGT_ERR_VERDICT;
	}
	return SGT_OK;
}

static int explain(struct sgt_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' }, { "list", no_argument, NULL, 'l' }, { NULL, 0, NULL, 0 }
	};
	struct sgt_ota_reason r;
	struct sgt_buf in = { 0 };
	unsigned char *data = NULL;
	size_t len;
	const char *why;
	int started = 0, c, i, rc, list = 0;

	while ((c = cmd_getopt(argv[0], argc, argv, "hl", longopts, &started)) != -1) {
		if (c == -2)
			return SGT_ERR_USAGE;
		if (c == 'h')
			return cmd_help(help);
		if (c == 'l')
			list = 1;
	}
	if (list)
		return optind == argc ? list_codes(ctx) : cmd_usage(argv[0], "--list takes no reason");
	if (optind >= argc)
		return cmd_usage(argv[0], "missing REASON, e.g. \"0x000000e3: 0x00000000\"");
	if (optind + 1 == argc && strcmp(argv[optind], "-") == 0) {
		if ((rc = sgt_file_read("-", 1 << 20, &data, &len)) != SGT_OK)
			return rc;
		rc = sgt_buf_add(&in, data, len + 1);
		free(data);
	} else {
		/* An unquoted "0x000000e3: 0x00000000" arrives as two words. */
		for (i = optind, rc = SGT_OK; i < argc && rc == SGT_OK; i++)
			rc = sgt_buf_printf(&in, "%s%s", i > optind ? " " : "", argv[i]);
	}
	if (rc != SGT_OK)
		goto out;
	if ((rc = sgt_ota_parse(in.p, &r, &why)) != SGT_OK) {
		if (rc == SGT_ERR_USAGE)
			cmd_usage(argv[0], "cannot read '%.80s' as an OTA reason: %s", in.p, why);
		goto out;
	}
	rc = print_reason(ctx, in.p, &r);
out:
	sgt_buf_free(&in);
	return rc;
}

int cmd_explain(struct sgt_ctx *ctx, int argc, char **argv)
{
	char dashdash[] = "--";
	char **margv;
	int i, rc;

	/*
	 * A negative number is a reason (an IngestResult_t such as -2), not an
	 * option: "--" goes in front of the first one, so getopt leaves it and
	 * what follows to the reason.
	 */
	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (argv[i][0] != '-' || argv[i][1] < '0' || argv[i][1] > '9')
			continue;
		if ((margv = calloc((size_t)argc + 2, sizeof(*margv))) == NULL)
			return sgt_err(SGT_ERR_DATA, "out of memory");
		memcpy(margv, argv, (size_t)i * sizeof(*margv));
		margv[i] = dashdash;
		memcpy(margv + i + 1, argv + i, (size_t)(argc - i) * sizeof(*margv));
		rc = explain(ctx, argc + 1, margv);
		free(margv);
		return rc;
	}
	return explain(ctx, argc, argv);
}
