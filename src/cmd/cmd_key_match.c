/*
 * cmd_key_match.c: `signet key match FILE...`: for every certificate or
 * public key in the given files (certificates, keys, C headers and
 * sources, firmware images: anything extract reads), says which key in
 * custody holds the private key, matched by SubjectPublicKeyInfo.  This
 * answers "if I sign with signet, will these devices accept it?".  Exit 1
 * when a file holds nothing that a key in custody can sign for.
 */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "extract.h"

static const char help[] =
	"usage: signet key match [-D NAME[=VALUE]]... [-U NAME]... FILE...\n\n"
	"For each certificate or public key baked into FILE (a certificate, a public\n"
	"key, a C header or source, a firmware image), names the key in custody\n"
	"that holds its private key, matched by SubjectPublicKeyInfo.  What is not\n"
	"baked (in a comment, an inactive #if branch, a constant the device's\n"
	"mbedTLS cannot parse, broken material) is listed with the reason and never\n"
	"matched.  -D / -U say what the build defines (see signet extract).\n\n"
	"exit status: 0 every file has a match, 1 a file has none, 3 unreadable\n";

int cmd_key_match(struct sgt_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' }, { "define", required_argument, NULL, 'D' },
		{ "undefine", required_argument, NULL, 'U' }, { NULL, 0, NULL, 0 }
	};
	struct cmd_defines defs = { .n = 0 };
	struct sgt_extract_opts xo;
	struct sgt_store st;
	struct sgt_keyrec *recs = NULL;
	json_t *files = NULL;
	size_t nrecs = 0, i;
	int started = 0, c, rc, unmatched = 0, fi, opened = 0, unbaked = 0;

	while ((c = cmd_getopt("key match", argc, argv, "hD:U:", longopts, &started)) != -1) {
		if (c == -2)
			return SGT_ERR_USAGE;
		if (c == 'h')
			return cmd_help(help);
		if ((c == 'D' || c == 'U') && (rc = cmd_define_opt("key match", c == 'U', optarg, &defs)) != SGT_OK)
			return rc;
	}
	xo.defines = defs.v;
	xo.ndefines = defs.n;
	if (optind >= argc)
		return cmd_usage("key match", "missing FILE");
	if ((rc = cmd_store_open(ctx, &st, SGT_LOCK_SHARED)) != SGT_OK)
		return rc;
	opened = 1;
	if ((rc = sgt_keyrec_list(&st, &recs, &nrecs)) != SGT_OK)
		goto out;
	if (ctx->json && (files = json_array()) == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	for (fi = optind; fi < argc; fi++) {
		struct sgt_found_list l = { 0 };
		json_t *arr = ctx->json ? json_array() : NULL;
		int held = 0;
		size_t nbaked = 0;

		if ((rc = sgt_extract_file_opts(argv[fi], &xo, &l)) != SGT_OK) {
			json_decref(arr);
			goto out;
		}
		for (i = 0; i < l.n; i++) {
			const struct sgt_found *f = &l.v[i];
			const char *who = f->baked ? cmd_custody_label(recs, nrecs, f->info.spki_sha256) : NULL;
			char where[96], what[400];

			held += who != NULL;
			nbaked += f->baked;
			if (ctx->json) {
				json_array_append_new(arr, sgt_found_json(&l, f, who, 1));
				continue;
			}
			sgt_found_where(&l, f, 1, where, sizeof(where));
			if (f->kind == SGT_FOUND_CERT)
				snprintf(what, sizeof(what), "certificate %s (serial %s)", f->info.subject, f->info.serial);
			else if (f->kind == SGT_FOUND_PUBKEY)
				snprintf(what, sizeof(what), "public key %s", f->info.alg);
			else
				snprintf(what, sizeof(what), "broken material");
			if (!f->baked)
				printf("%s:%s: %s: not baked, not matched: %s\n", argv[fi], where, what, f->reason);
			else if (who)
				printf("%s:%s: %s: held by key '%s'\n", argv[fi], where, what, who);
			else
				printf("%s:%s: %s: no key in custody (SPKI SHA-256 %s)\n", argv[fi],
				       where, what, f->info.spki_sha256);
		}
		{
			char mline[1200];
			int m = cmd_mcuboot_signer(ctx, argv[fi], mline, sizeof(mline));

			/* an MCUboot image signed by a key in custody: that key can sign its next build */
			if (m >= 0 && !ctx->json)
				printf("%s\n", mline);
			if (m == 1) {
				held++;
				nbaked++;
			}
		}
		if (l.n == 0 && !ctx->json && held == 0)
			printf("%s: no certificate or public key found\n", argv[fi]);
		else if (nbaked == 0 && !ctx->json)
			printf("%s: nothing baked: a device built from it has no key that can check an update\n", argv[fi]);
		if (nbaked == 0)
			unbaked++;
		if (held == 0)
			unmatched++;
		if (ctx->json)
			json_array_append_new(files, json_pack("{s:s,s:b,s:I,s:o}", "file", argv[fi], "matched", held > 0, "baked", (json_int_t)nbaked, "found", arr));
		sgt_found_list_release(&l);
	}
	if (ctx->json) {
		rc = cmd_json_print(json_pack("{s:o}", "files", files));
		files = NULL;
		if (rc != SGT_OK)
			goto out;
	}
	if (unbaked && !ctx->json)
		sgt_hint("no key can sign for what is not baked; 'signet extract FILE' says why each find is not compiled in");
	else if (unmatched && !ctx->json)
		sgt_hint("a device that bakes in a key not held here can only be updated by whoever holds that key, or by reflashing");
	rc = unmatched ? SGT_ERR_VERDICT : SGT_OK;
out:
	json_decref(files);
	free(recs);
	if (opened)
		sgt_store_release(&st);
	return rc;
}
