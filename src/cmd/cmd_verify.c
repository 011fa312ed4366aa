/*
 * cmd_verify.c: `signet verify IMAGE --sig SIG (--cert F | --header F |
 * --firmware F)`: decides as the device would.  The public key comes only
 * from what the device bakes in (a certificate file, a C header read as
 * the compiler reads it, or a firmware image), and the judgement is made
 * with the device's own library: the baked constant, bytes as compiled,
 * goes through mbedtls_x509_crt_parse and the signature through
 * mbedtls_pk_verify, as ESP32's ota_pal does (device.h).  OpenSSL checks
 * the same signature as a second opinion; a disagreement is reported.
 * Expiry is ignored unless asked, because ota_pal ignores it.  Works
 * without a store; with one it also names the key in custody that
 * matches.  Exit 0 valid, 1 invalid.
 */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "device.h"
#include "extract.h"
#include "sign.h"

static const char help[] =
	"usage: signet verify IMAGE --sig SIG (--cert FILE | --header FILE | --firmware FILE)\n"
	"                     [--check-expiry] [--hash sha256|sha1] [--platform esp32|ti-cc3220]\n"
	"                     [-D NAME[=VALUE]]... [-U NAME]...\n"
	"       signet verify IMAGE --format mcuboot (--key LABEL | --header keys.c | --cert FILE)\n"
	"                     [-D NAME[=VALUE]]... [-U NAME]...\n\n"
	"Checks SIG (base64, or raw DER/RSA bytes as openssl dgst -sign writes them)\n"
	"over the whole IMAGE exactly as an OTA device does: with the certificate\n"
	"baked into its firmware only (what a comment, an inactive #if branch or a\n"
	"later redefinition hides is not baked), parsed and checked by mbedTLS as\n"
	"ESP32's ota_pal does, no expiry check (--check-expiry adds one).  --header\n"
	"takes a C header or source; --firmware a firmware image (raw, ELF, Intel\n"
	"HEX, S-record); --cert a certificate or public key file.  --platform\n"
	"ti-cc3220: the device also checks the signer certificate's chain against\n"
	"its on-chip root catalog, which signet cannot see: verify says so.  -D / -U\n"
	"say what the build defines, so that #if on those macros is decided.\n"
	"--format mcuboot judges an MCUboot image as the bootloader does, with the key\n"
	"in custody, of a keys.c or of a file (signet verify --format mcuboot -h).\n\n"
	"exit status: 0 valid, 1 invalid (or the device rejects every update), 3 unreadable input\n";

struct judged {
	const struct sgt_found *f;
	int dev;		/* 1 mbedTLS accepts, 0 rejects, -1 no device model */
	int ossl;		/* 1 OpenSSL accepts, 0 rejects, -1 cannot tell */
	char why[200];
};

static const char *what(const struct sgt_found *f)
{
	return f->kind == SGT_FOUND_CERT ? f->info.subject : f->kind == SGT_FOUND_PUBKEY ? f->info.alg : f->reason;
}

int cmd_verify(struct sgt_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' }, { "sig", required_argument, NULL, 's' },
		{ "cert", required_argument, NULL, 'c' }, { "header", required_argument, NULL, 'H' },
		{ "firmware", required_argument, NULL, 'f' }, { "check-expiry", no_argument, NULL, 'e' },
		{ "hash", required_argument, NULL, 'm' }, { "platform", required_argument, NULL, 'p' },
		{ "define", required_argument, NULL, 'D' }, { "undefine", required_argument, NULL, 'U' },
		{ NULL, 0, NULL, 0 }
	};
	struct cmd_defines defs = { .n = 0 };
	struct sgt_extract_opts xo;
	struct sgt_found_list l = { 0 };
	struct sgt_keyrec *recs = NULL;
	struct judged *jv = NULL, *match = NULL;
	const struct sgt_found *unparsable = NULL, *broken = NULL;
	const char *image = NULL, *sigpath = NULL, *src = NULL, *srckind = NULL, *hash = "sha256", *who = NULL;
	const char *platform = "esp32";
	unsigned char *sig = NULL, dgst[EVP_MAX_MD_SIZE];
	size_t siglen = 0, dlen = 0, nrecs = 0, i, nbaked = 0, nj = 0;
	char where[96] = "", why[200] = "", notchecked[200] = "", disagree[600] = "";
	const EVP_MD *md;
	int started = 0, c, rc, expiry = 0, have = 0, nsrc = 0, sha1;
	time_t now = sgt_now();

	if (cmd_mcuboot_wanted(argc, argv))
		return cmd_verify_mcuboot(ctx, argc, argv);
	while ((c = cmd_getopt(argv[0], argc, argv, "hs:D:U:", longopts, &started)) != -1) {
		switch (c) {
		case 'D':
		case 'U':
			if ((rc = cmd_define_opt(argv[0], c == 'U', optarg, &defs)) != SGT_OK)
				return rc;
			break;
		case -2: return SGT_ERR_USAGE;
		case 'h': return cmd_help(help);
		case 's': sigpath = optarg; break;
		case 'c': src = optarg; srckind = "certificate"; nsrc++; break;
		case 'H': src = optarg; srckind = "header"; nsrc++; break;
		case 'f': src = optarg; srckind = "firmware"; nsrc++; break;
		case 'e': expiry = 1; break;
		case 'm': hash = optarg; break;
		case 'p': platform = optarg; break;
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
	if (strcmp(platform, "esp32") != 0 && strcmp(platform, "ti-cc3220") != 0)
		return cmd_usage(argv[0], "unknown --platform '%s': use esp32 or ti-cc3220", platform);
	sha1 = EVP_MD_get_type(md) == NID_sha1;

	if ((rc = sgt_sign_read_sig(sigpath, &sig, &siglen)) != SGT_OK)
		goto out;
	xo.defines = defs.v;
	xo.ndefines = defs.n;
	if ((rc = sgt_extract_file_opts(src, &xo, &l)) != SGT_OK)
		goto out;
	for (i = 0; i < l.n; i++) {
		nbaked += l.v[i].baked;
		if (l.v[i].state == SGT_C_ACTIVE && l.v[i].device_parses == 0 && unparsable == NULL)
			unparsable = &l.v[i];
		if (l.v[i].kind == SGT_FOUND_BROKEN && l.v[i].state == SGT_C_ACTIVE && broken == NULL)
			broken = &l.v[i];
	}
	if (l.n == 0) {
		rc = sgt_err(SGT_ERR_DATA, "no certificate or public key found in %s '%s'", srckind, src);
		sgt_hint("a device whose baked certificate does not parse rejects every update (0xe3/0xe7)");
		goto out;
	}
	if (nbaked == 0 && unparsable == NULL && broken == NULL) {
		sgt_found_where(&l, &l.v[0], 0, where, sizeof(where));
		rc = sgt_err(SGT_ERR_DATA, "nothing baked in %s '%s': the %s at %s is %s", srckind, src,
			     sgt_found_kind_name(l.v[0].kind), where, l.v[0].reason);
		sgt_hint("'signet extract %s' lists every find and why it is not compiled in", src);
		goto out;
	}
	if ((rc = sgt_sign_file_digest(image, md, dgst, &dlen, NULL)) != SGT_OK)
		goto out;
	if ((jv = calloc(nbaked ? nbaked : 1, sizeof(*jv))) == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	/* A firmware may carry other keys (TLS roots): the device's is the one that verifies. */
	for (i = 0; i < l.n; i++) {
		struct judged *j;

		if (!l.v[i].baked)
			continue;
		j = &jv[nj++];
		j->f = &l.v[i];
		j->ossl = l.v[i].pub ? sgt_sign_verify_digest(l.v[i].pub, md, dgst, dlen, sig, siglen) == SGT_OK : -1;
		if (l.v[i].device_parses == 1)
			j->dev = sgt_device_verify(l.v[i].device_form, l.v[i].device_bytes, l.v[i].device_len, sha1, dgst,
						   dlen, sig, siglen, j->why, sizeof(j->why)) == SGT_OK;
		else
			j->dev = -1;
		if (j->dev >= 0 && j->ossl >= 0 && j->dev != j->ossl && disagree[0] == '\0')
			snprintf(disagree, sizeof(disagree), "mbedTLS %s and OpenSSL %s this signature with the key of %s",
				 j->dev ? "accepts" : "rejects", j->ossl ? "accepts" : "rejects", what(j->f));
		if (match == NULL && (j->dev == 1 || (j->dev < 0 && j->ossl == 1)))
			match = j;
	}
	/* Custody is a courtesy here; the verdict does not need it. */
	if (cmd_custody_records(ctx, &recs, &nrecs, &have) != SGT_OK)
		have = 0;
	if (match) {
		const struct sgt_found *f = match->f;

		sgt_found_where(&l, f, 0, where, sizeof(where));
		if (have)
			who = cmd_custody_label(recs, nrecs, f->info.spki_sha256);
		if (expiry && f->kind == SGT_FOUND_CERT && f->info.not_after < now)
			snprintf(why, sizeof(why), "the certificate expired (--check-expiry)");
		else if (expiry && f->kind == SGT_FOUND_CERT && f->info.not_before > now)
			snprintf(why, sizeof(why), "the certificate is not valid yet (--check-expiry)");
		if (strcmp(platform, "ti-cc3220") == 0)
			snprintf(notchecked, sizeof(notchecked),
				 "a CC3220 also checks the signer certificate's chain against its on-chip root catalog, "
				 "which signet cannot see");
	}
	rc = match && why[0] == '\0' ? SGT_OK : SGT_ERR_VERDICT;
	if (ctx->json) {
		json_t *cands = json_array(), *j;

		for (i = 0; i < l.n; i++)
			json_array_append_new(cands, sgt_found_json(&l, &l.v[i], cmd_custody_label(recs, nrecs, l.v[i].info.spki_sha256), have));
		j = json_pack("{s:b,s:s,s:s,s:s,s:s,s:o}", "valid", rc == SGT_OK, "image", image, "signature", sigpath,
			      "source", src, "source_kind", srckind, "candidates", cands);
		if (j) {
			json_object_set_new(j, "matched_spki_sha256", match ? json_string(match->f->info.spki_sha256) : json_null());
			json_object_set_new(j, "reason", why[0] ? json_string(why) : json_null());
			json_object_set_new(j, "device_library", json_string(sgt_device_version()));
			json_object_set_new(j, "judged_by", match ? json_string(match->dev == 1 ? "mbedtls" : "openssl") : json_null());
			json_object_set_new(j, "platform", json_string(platform));
			json_object_set_new(j, "not_checked", notchecked[0] ? json_string(notchecked) : json_null());
			json_object_set_new(j, "disagreement", disagree[0] ? json_string(disagree) : json_null());
			json_object_set_new(j, "device_rejects_every_update",
					    json_boolean(nbaked == 0 && (unparsable != NULL || broken != NULL)));
		}
		cmd_json_print(j);
		goto out;
	}
	if (disagree[0])
		sgt_warn("%s", disagree);
	if (match == NULL && nbaked == 0) {
		const struct sgt_found *f = unparsable ? unparsable : broken;

		sgt_found_where(&l, f, 0, where, sizeof(where));
		printf("invalid: nothing in %s '%s' can check an update: the %s at %s: %s\n", srckind, src,
		       sgt_found_kind_name(f->kind), where, f->reason);
		printf("a device holding it rejects every update: 0x000000e3 OtaPalSignatureCheckFailed\n");
		fflush(stdout);
		sgt_hint("fix the baked constant (signet header LABEL writes one the device parses) and reflash: OTA cannot repair it");
	} else if (match == NULL) {
		printf("invalid: the signature of %s does not match the public key baked in %s '%s'\n", image, srckind, src);
		for (i = 0; i < nj; i++) {
			sgt_found_where(&l, jv[i].f, 0, where, sizeof(where));
			printf("  %s: %s %s, SPKI SHA-256 %s%s%s\n", where, sgt_found_kind_name(jv[i].f->kind), what(jv[i].f),
			       jv[i].f->info.spki_sha256, jv[i].why[0] ? ": " : "", jv[i].why);
		}
		for (i = 0; i < l.n; i++) {
			if (l.v[i].baked)
				continue;
			sgt_found_where(&l, &l.v[i], 0, where, sizeof(where));
			printf("  %s: %s %s: not baked (%s)\n", where, sgt_found_kind_name(l.v[i].kind),
			       l.v[i].kind == SGT_FOUND_BROKEN ? "" : what(&l.v[i]), l.v[i].reason);
		}
		printf("a device holding it rejects this update: 0x000000e3 OtaPalSignatureCheckFailed\n");
		fflush(stdout);	/* the hint follows the verdict, not precedes it */
		sgt_hint("the image was signed with another key; 'signet key match %s' names the key that can sign for these devices", src);
	} else {
		const struct sgt_found *f = match->f;

		printf("%s: %s signature of %s matches the %s baked in %s '%s' (%s)\n", rc == SGT_OK ? "valid" : "invalid",
		       sgt_sign_md_aws(md), image, sgt_found_kind_name(f->kind), srckind, src, where);
		if (f->symbol[0])
			printf("  symbol: %s\n", f->symbol);
		if (f->kind == SGT_FOUND_CERT)
			printf("  certificate: %s, serial %s\n", f->info.subject, f->info.serial);
		printf("  key: %s, SPKI SHA-256 %s%s%s%s\n", f->info.alg, f->info.spki_sha256,
		       who ? " (key '" : "", who ? who : "", who ? "' in custody)" : "");
		if (match->dev == 1)
			printf("  device check: %s parses the constant as compiled and mbedtls_pk_verify accepts\n",
			       sgt_device_version());
		else
			printf("  device check: no device model for this key form (%s); checked with OpenSSL\n", f->form);
		for (i = 0; i < l.n; i++) {
			if (l.v[i].baked)
				continue;
			sgt_found_where(&l, &l.v[i], 0, where, sizeof(where));
			printf("  ignored %s at %s: %s\n", sgt_found_kind_name(l.v[i].kind), where, l.v[i].reason);
		}
		if (why[0])
			printf("  but %s\n", why);
		else if (notchecked[0])
			printf("signature valid for the baked key; not checked: %s, so acceptance is not claimed\n", notchecked);
		else
			printf("a device holding it accepts this update%s\n",
			       f->kind == SGT_FOUND_CERT && f->info.not_after < now
				       ? " (its certificate has expired: devices ignore that, AWS Signer and ACM do not)" : "");
	}
out:
	free(jv);
	free(recs);
	free(sig);
	sgt_found_list_release(&l);
	return rc;
}
