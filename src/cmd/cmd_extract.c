/*
 * cmd_extract.c: `signet extract FILE...`: lists the certificates and
 * public keys baked into sources, headers and firmware images, where they
 * are (file:line or byte offset), what they are, and, when a store is
 * there, whether a key in custody holds the private key.  Works without a
 * store.  Exit 1 when a file holds nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "extract.h"

static const char help[] =
	"usage: signet extract [-D NAME[=VALUE]]... [-U NAME]... FILE...\n\n"
	"Finds certificates and public keys in C sources and headers (read as the\n"
	"compiler reads them: comments, #if branches, adjacent literals, escapes),\n"
	"and in firmware images (raw, ELF, Intel HEX, S-record: PEM text, DER\n"
	"certificates, SubjectPublicKeyInfo, PKCS#1 RSA keys).  For each: location,\n"
	"the symbol it belongs to, subject, serial, validity, key, SPKI SHA-256,\n"
	"whether it is baked (compiled in) and whether the device's mbedTLS parses\n"
	"it, and, when a store exists, whether a key in custody holds its private\n"
	"key.  Broken material (PEM that does not decode, truncated, placeholders)\n"
	"is reported with the reason.  -D / -U say what the build defines, so that\n"
	"#if on those macros is decided instead of reported as conditional.\n\n"
	"exit status: 0 found in every file, 1 a file holds no usable certificate\n"
	"or key, 3 unreadable file\n";

int cmd_extract(struct sgt_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' }, { "define", required_argument, NULL, 'D' },
		{ "undefine", required_argument, NULL, 'U' }, { NULL, 0, NULL, 0 }
	};
	struct cmd_defines defs = { .n = 0 };
	struct sgt_extract_opts xo;
	struct sgt_keyrec *recs = NULL;
	struct sgt_buf b = { 0 };
	json_t *files = NULL;
	size_t nrecs = 0, i;
	int started = 0, c, rc, have = 0, empty = 0, fi;

	while ((c = cmd_getopt(argv[0], argc, argv, "hD:U:", longopts, &started)) != -1) {
		if (c == -2)
			return SGT_ERR_USAGE;
		if (c == 'h')
			return cmd_help(help);
		if ((c == 'D' || c == 'U') && (rc = cmd_define_opt(argv[0], c == 'U', optarg, &defs)) != SGT_OK)
			return rc;
	}
	xo.defines = defs.v;
	xo.ndefines = defs.n;
	if (optind >= argc)
		return cmd_usage(argv[0], "missing FILE");
	if ((rc = cmd_custody_records(ctx, &recs, &nrecs, &have)) != SGT_OK)
		return rc;
	if (ctx->json && (files = json_array()) == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	for (fi = optind; fi < argc; fi++) {
		struct sgt_found_list l = { 0 };
		json_t *arr = NULL;

		size_t usable = 0;

		if ((rc = sgt_extract_file_opts(argv[fi], &xo, &l)) != SGT_OK)
			goto out;
		for (i = 0; i < l.n; i++)
			usable += l.v[i].kind != SGT_FOUND_BROKEN;
		if (usable == 0)
			empty++;
		if (ctx->json)
			arr = json_array();
		else if (l.n == 0)
			printf("%s: no certificate or public key found\n", argv[fi]);
		else if (usable == 0)
			printf("%s: no usable certificate or public key found, only broken material:\n", argv[fi]);
		for (i = 0; i < l.n; i++) {
			const struct sgt_found *f = &l.v[i];
			const char *who = cmd_custody_label(recs, nrecs, f->info.spki_sha256);
			char where[64];

			if (ctx->json) {
				json_array_append_new(arr, sgt_found_json(&l, f, who, have));
				continue;
			}
			sgt_found_where(&l, f, 1, where, sizeof(where));
			b.len = 0;
			rc = sgt_buf_printf(&b, "%s:%s: %s (%s)%s\n", argv[fi], where, sgt_found_kind_name(f->kind),
					    sgt_found_enc_name(f->enc), f->baked ? "" : f->kind == SGT_FOUND_BROKEN ? "" : ": not baked");
			if (rc == SGT_OK)
				rc = sgt_found_text(&b, f, who, have);
			if (rc != SGT_OK) {
				sgt_found_list_release(&l);
				goto out;
			}
			fwrite(b.p, 1, b.len, stdout);
		}
		if (l.limited && !ctx->json)
			printf("%s: the scan stopped at a bound (crafted input?): see 'extract' in docs/device.md\n", argv[fi]);
		{
			char mline[1200];

			/* an MCUboot image names the key that signed it (cmd_mcuboot.c) */
			int m = cmd_mcuboot_signer(ctx, argv[fi], mline, sizeof(mline));

			if (m >= 0 && !ctx->json)
				printf("%s\n", mline);
			if (m == 1 && usable == 0)
				empty--;	/* it holds a key reference that custody signs for */
		}
		if (ctx->json)
			json_array_append_new(files, json_pack("{s:s,s:b,s:s,s:b,s:o}", "file", argv[fi], "binary", l.binary,
							       "container", l.container ? l.container : "text", "limited", l.limited, "found", arr));
		sgt_found_list_release(&l);
	}
	if (ctx->json) {
		rc = cmd_json_print(json_pack("{s:o}", "files", files));
		files = NULL;
		if (rc != SGT_OK)
			goto out;
	}
	rc = empty ? SGT_ERR_VERDICT : SGT_OK;
out:
	json_decref(files);
	sgt_buf_free(&b);
	free(recs);
	return rc;
}
