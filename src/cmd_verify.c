/*
 * cmd_verify.c: `signet verify IMAGE --sig SIG (--cert F | --header F |
 * --firmware F)`: decides as the device would.  The public key comes only
 * from what the device bakes in (a certificate file, a C header, or a
 * firmware image searched with extract); expiry is ignored unless asked,
 * because ESP32's ota_pal ignores it.  Works without a store; with one it
 * also names the key in custody that matches.  Exit 0 valid, 1 invalid.
 */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "extract.h"
#include "sign.h"

static const char help[] =
	"usage: signet verify IMAGE --sig SIG (--cert FILE | --header FILE | --firmware FILE)\n"
	"                     [--check-expiry] [--hash sha256|sha1]\n\n"
	"Checks SIG (base64 or DER) over the whole IMAGE exactly as an OTA device\n"
	"does: with the public key of the certificate baked into its firmware only,\n"
	"no expiry check (--check-expiry adds one).  --header takes a C header or\n"
	"source (any format signet header writes); --firmware a firmware image the\n"
	"devices run; --cert a certificate or public key file.\n\n"
	"exit status: 0 valid, 1 invalid, 3 unreadable input\n";

int cmd_verify(struct sgt_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' }, { "sig", required_argument, NULL, 's' },
		{ "cert", required_argument, NULL, 'c' }, { "header", required_argument, NULL, 'H' },
		{ "firmware", required_argument, NULL, 'f' }, { "check-expiry", no_argument, NULL, 'e' },
		{ "hash", required_argument, NULL, 'm' }, { NULL, 0, NULL, 0 }
	};
	struct sgt_found_list l = { 0 };
	struct sgt_keyrec *recs = NULL;
	const struct sgt_found *match = NULL;
	const char *image = NULL, *sigpath = NULL, *src = NULL, *srckind = NULL, *hash = "sha256", *who = NULL;
	unsigned char *sig = NULL, dgst[EVP_MAX_MD_SIZE];
	size_t siglen = 0, dlen = 0, nrecs = 0, i;
	char where[64] = "", why[160] = "";
	const EVP_MD *md;
	int started = 0, c, rc, expiry = 0, have = 0, nsrc = 0;
	time_t now = sgt_now();

	while ((c = cmd_getopt(argv[0], argc, argv, "hs:", longopts, &started)) != -1) {
		switch (c) {
		case -2: return SGT_ERR_USAGE;
		case 'h': return cmd_help(help);
		case 's': sigpath = optarg; break;
		case 'c': src = optarg; srckind = "certificate"; nsrc++; break;
		case 'H': src = optarg; srckind = "header"; nsrc++; break;
		case 'f': src = optarg; srckind = "firmware"; nsrc++; break;
		case 'e': expiry = 1; break;
		case 'm': hash = optarg; break;
		}
	}
	if (optind + 1 < argc)
		return cmd_usage(argv[0], "one IMAGE at a time");
	if (optind < argc)
		image = argv[optind];
	if (image == NULL)
		return cmd_usage(argv[0], "missing IMAGE");
	if (sigpath == NULL)
		return cmd_usage(argv[0], "missing --sig SIG");
	if (nsrc != 1)
		return cmd_usage(argv[0], "give exactly one of --cert, --header, --firmware");
	if ((md = sgt_sign_md(hash)) == NULL)
		return cmd_usage(argv[0], "unknown --hash '%s': use sha256, sha1, sha384 or sha512", hash);

	if ((rc = sgt_sign_read_sig(sigpath, &sig, &siglen)) != SGT_OK)
		goto out;
	if ((rc = sgt_extract_file(src, &l)) != SGT_OK)
		goto out;
	if (l.n == 0) {
		rc = sgt_err(SGT_ERR_DATA, "no certificate or public key found in %s '%s'", srckind, src);
		sgt_hint("a device whose baked certificate does not parse rejects every update (0xe3/0xe7)");
		goto out;
	}
	if ((rc = sgt_sign_file_digest(image, md, dgst, &dlen, NULL)) != SGT_OK)
		goto out;
	/* A firmware may carry other keys (TLS roots): the device's is the one that verifies. */
	for (i = 0; i < l.n && match == NULL; i++)
		if (sgt_sign_verify_digest(l.v[i].pub, md, dgst, dlen, sig, siglen) == SGT_OK)
			match = &l.v[i];
	/* Custody is a courtesy here; the verdict does not need it. */
	if (cmd_custody_records(ctx, &recs, &nrecs, &have) != SGT_OK)
		have = 0;
	if (match) {
		sgt_found_where(&l, match, 0, where, sizeof(where));
		if (have)
			who = cmd_custody_label(recs, nrecs, match->info.spki_sha256);
		if (expiry && match->kind == SGT_FOUND_CERT && match->info.not_after < now)
			snprintf(why, sizeof(why), "the certificate expired (--check-expiry)");
		else if (expiry && match->kind == SGT_FOUND_CERT && match->info.not_before > now)
			snprintf(why, sizeof(why), "the certificate is not valid yet (--check-expiry)");
	}
	rc = match && why[0] == '\0' ? SGT_OK : SGT_ERR_VERDICT;
	if (ctx->json) {
		json_t *cands = json_array(), *j;

		for (i = 0; i < l.n; i++)
			json_array_append_new(cands, sgt_found_json(&l, &l.v[i], cmd_custody_label(recs, nrecs, l.v[i].info.spki_sha256), have));
		j = json_pack("{s:b,s:s,s:s,s:s,s:s,s:o}", "valid", rc == SGT_OK, "image", image, "signature", sigpath,
			      "source", src, "source_kind", srckind, "candidates", cands);
		if (j) {
			json_object_set_new(j, "matched_spki_sha256", match ? json_string(match->info.spki_sha256) : json_null());
			json_object_set_new(j, "reason", why[0] ? json_string(why) : json_null());
		}
		cmd_json_print(j);
		goto out;
	}
	if (match == NULL) {
		printf("invalid: the signature of %s does not match the public key baked in %s '%s'\n", image, srckind, src);
		for (i = 0; i < l.n; i++) {
			sgt_found_where(&l, &l.v[i], 0, where, sizeof(where));
			printf("  %s: %s %s, SPKI SHA-256 %s\n", where, l.v[i].kind == SGT_FOUND_CERT ? "certificate" : "public key",
			       l.v[i].kind == SGT_FOUND_CERT ? l.v[i].info.subject : l.v[i].info.alg, l.v[i].info.spki_sha256);
		}
		printf("a device holding it rejects this update: 0x000000e3 OtaPalSignatureCheckFailed\n");
		fflush(stdout);	/* the hint follows the verdict, not precedes it */
		sgt_hint("the image was signed with another key; 'signet key match %s' names the key that can sign for these devices", src);
	} else {
		printf("%s: %s signature of %s matches the %s baked in %s '%s' (%s)\n", rc == SGT_OK ? "valid" : "invalid",
		       sgt_sign_md_aws(md), image, match->kind == SGT_FOUND_CERT ? "certificate" : "public key", srckind, src, where);
		if (match->kind == SGT_FOUND_CERT)
			printf("  certificate: %s, serial %s\n", match->info.subject, match->info.serial);
		printf("  key: %s, SPKI SHA-256 %s%s%s%s\n", match->info.alg, match->info.spki_sha256,
		       who ? " (key '" : "", who ? who : "", who ? "' in custody)" : "");
		if (why[0])
			printf("  but %s\n", why);
		else
			printf("a device holding it accepts this update%s\n",
			       match->kind == SGT_FOUND_CERT && match->info.not_after < now
				       ? " (its certificate has expired: devices ignore that, AWS Signer and ACM do not)" : "");
	}
out:
	free(recs);
	free(sig);
	sgt_found_list_release(&l);
	return rc;
}
