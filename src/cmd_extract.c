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
	"usage: signet extract FILE...\n\n"
	"Finds certificates and public keys in C sources and headers (PEM in string\n"
	"literals or comments, hex byte arrays) and in binary firmware images (PEM\n"
	"text, DER certificates, DER public keys at any offset).  For each: location,\n"
	"subject, serial, validity, key, SPKI SHA-256 and, when a store exists,\n"
	"whether a key in custody holds its private key.\n\n"
	"exit status: 0 found in every file, 1 a file holds none, 3 unreadable file\n";

int cmd_extract(struct sgt_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = { { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
	struct sgt_keyrec *recs = NULL;
	struct sgt_buf b = { 0 };
	json_t *files = NULL;
	size_t nrecs = 0, i;
	int started = 0, c, rc, have = 0, empty = 0, fi;

	while ((c = cmd_getopt(argv[0], argc, argv, "h", longopts, &started)) != -1) {
		if (c == -2)
			return SGT_ERR_USAGE;
		if (c == 'h')
			return cmd_help(help);
	}
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

		if ((rc = sgt_extract_file(argv[fi], &l)) != SGT_OK)
			goto out;
		if (l.n == 0)
			empty++;
		if (ctx->json)
			arr = json_array();
		else if (l.n == 0)
			printf("%s: no certificate or public key found\n", argv[fi]);
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
			rc = sgt_buf_printf(&b, "%s:%s: %s (%s)\n", argv[fi], where,
					    f->kind == SGT_FOUND_CERT ? "certificate" : "public key", sgt_found_enc_name(f->enc));
			if (rc == SGT_OK)
				rc = sgt_found_text(&b, f, who, have);
			if (rc != SGT_OK) {
				sgt_found_list_release(&l);
				goto out;
			}
			fwrite(b.p, 1, b.len, stdout);
		}
		if (ctx->json)
			json_array_append_new(files, json_pack("{s:s,s:b,s:o}", "file", argv[fi], "binary", l.binary, "found", arr));
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
