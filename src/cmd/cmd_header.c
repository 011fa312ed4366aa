/*
 * cmd_header.c: `signet header LABEL|CERTFILE`: exports the certificate
 * (or its public key) in the C form device firmware compiles in, or as a
 * plain file; `--update FILE` puts it in place of the one definition of
 * the symbol inside an existing config file.  LABEL takes the key's
 * current certificate from the store; CERTFILE may be any file extract
 * can read (PEM, DER, even another header: only what it bakes in counts).
 * An argument that is both a label and a file is refused (./x or --file
 * for the file).  Each export is recorded in the audit log when a store
 * is there; if the record cannot be written the exported file is removed
 * or the updated file put back (fail closed).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "cmd.h"
#include "extract.h"
#include "header.h"
#include "intent.h"
#include "tx.h"

static const char help[] =
	"usage: signet header LABEL|CERTFILE [--format FORMAT] [--name IDENT]\n"
	"                     [--out FILE | --update FILE] [--file]\n\n"
	"Exports the certificate of key LABEL (its current one) or CERTFILE as a C header:\n"
	"  ota-pal     #define otapalconfigCODE_SIGNING_CERTIFICATE, one \"...\\n\" literal\n"
	"              per PEM line (ota_demo_config.h; default).  It #undefs an earlier\n"
	"              definition, so it wins over a config included before it, and over\n"
	"              one included after it that defines the macro only #ifndef; a config\n"
	"              defining it unconditionally (esp-aws-iot's ota_config.h) must not\n"
	"              come after it: use --update on that config instead\n"
	"  codesigner  static const char signingcredentialSIGNING_CERTIFICATE_PEM[]\n"
	"              (aws_ota_codesigner_certificate.h)\n"
	"  der         the certificate as a byte array, NAME_LEN its length\n"
	"  pubkey      the DER SubjectPublicKeyInfo as a byte array (bootloaders)\n"
	"  pubkey-pem  the public key PEM as a C string macro (STM32U5, Renesas)\n"
	"  mcuboot     const unsigned char NAME[] + const unsigned int NAME_len, as\n"
	"              MCUboot's keys.c (SPKI for EC/Ed25519, PKCS#1 for RSA)\n"
	"  cert-der    the certificate as a plain DER file (TI CC3220 file system)\n"
	"  cert-pem    the certificate as a plain PEM file\n\n"
	"  --name IDENT   identifier to define instead of the format's usual one\n"
	"  --out FILE     write FILE atomically instead of standard output\n"
	"  --update FILE  replace only the definition of the symbol in FILE (e.g.\n"
	"                 ota_demo_config.h), keeping every other byte; refused when the\n"
	"                 symbol is defined more than once or not at all\n"
	"  --file         the argument is a file even if a key has that label\n\n"
	"The output is byte-for-byte deterministic: the same certificate gives the same header.\n";


int cmd_header(struct sgt_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' }, { "format", required_argument, NULL, 'f' },
		{ "name", required_argument, NULL, 'n' }, { "out", required_argument, NULL, 'o' },
		{ "update", required_argument, NULL, 'u' }, { "file", no_argument, NULL, 'F' },
		{ NULL, 0, NULL, 0 }
	};
	enum sgt_header_format fmt = SGT_HEADER_OTA_PAL;
	struct sgt_found_list l = { 0 };
	struct sgt_store st;
	struct sgt_buf out = { 0 }, def = { 0 };
	const struct sgt_found *use = NULL;
	const char *name = NULL, *outpath = NULL, *updpath = NULL, *src, *label = NULL;
	char *certpath = NULL, *outfile = NULL, sha[65];
	unsigned char *orig = NULL, *pre = NULL;
	size_t origlen = 0, prelen = 0;
	struct sgt_tx *tx = NULL;
	int started = 0, c, rc, have_store = 0, wrote = 0, force_file = 0, isfile;
	size_t i;

	while ((c = cmd_getopt(argv[0], argc, argv, "hf:n:o:", longopts, &started)) != -1) {
		if (c == -2)
			return SGT_ERR_USAGE;
		if (c == 'h')
			return cmd_help(help);
		if (c == 'f' && sgt_header_format_parse(optarg, &fmt) != SGT_OK)
			return cmd_usage(argv[0], "unknown format '%s': use ota-pal, codesigner, der, pubkey, pubkey-pem, "
					 "mcuboot, cert-der or cert-pem", optarg);
		if (c == 'n')
			name = optarg;
		if (c == 'o')
			outpath = optarg;
		if (c == 'u')
			updpath = optarg;
		if (c == 'F')
			force_file = 1;
	}
	if (optind >= argc)
		return cmd_usage(argv[0], "missing LABEL or CERTFILE");
	if (optind + 1 < argc)
		return cmd_usage(argv[0], "one LABEL or CERTFILE at a time");
	if (name && !sgt_header_name_ok(name))
		return cmd_usage(argv[0], "--name '%s' is not a C identifier", name);
	if (outpath && updpath)
		return cmd_usage(argv[0], "--out and --update exclude each other");
	if (updpath && (fmt == SGT_HEADER_CERT_DER || fmt == SGT_HEADER_CERT_PEM))
		return cmd_usage(argv[0], "--update needs a C format, not %s", sgt_header_format_name(fmt));
	src = argv[optind];

	/*
	 * A FIFO (or any input that is not a plain file) and the file to update
	 * are read before the store is locked: one that never ends then blocks
	 * no other command, and SIGINT or SIGTERM ends the wait at once.
	 */
	{
		struct stat sb;

		if (updpath && (rc = sgt_file_read(updpath, 16u << 20, &orig, &origlen)) != SGT_OK)
			return rc;
		if (stat(src, &sb) == 0 && !S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode) &&
		    (rc = sgt_file_read(src, (size_t)1 << 30, &pre, &prelen)) != SGT_OK) {
			free(orig);
			return rc;
		}
	}
	if ((rc = cmd_store_open_optional(ctx, &st, SGT_LOCK_EXCLUSIVE, &have_store)) != SGT_OK) {
		free(orig);
		free(pre);
		return rc;
	}
	if ((isfile = cmd_label_or_file(have_store ? &st : NULL, src, force_file)) < 0) {
		rc = isfile;
		goto out;
	}
	if (!isfile) {
		if ((rc = sgt_label_check(src)) != SGT_OK)
			goto out;
		label = src;
		if (!have_store) {
			rc = sgt_err(SGT_ERR_VERDICT, "no key '%s': there is no store at '%s' and no such file", label,
				     sgt_store_dir(ctx->store_opt));
			goto out;
		}
	}
	if (label) {
		struct stat sb;

		if (!sgt_keyrec_exists(&st, label)) {
			rc = sgt_err(SGT_ERR_VERDICT, "no key '%s' in custody", label);
			sgt_hint("'signet key list' shows the keys; a certificate file path works too");
			goto out;
		}
		if ((certpath = malloc(strlen(label) + 32)) == NULL) {
			rc = sgt_err(SGT_ERR_DATA, "out of memory");
			goto out;
		}
		sprintf(certpath, "certs/%s/current.pem", label);
		{
			char *abs = sgt_store_path(&st, certpath);

			free(certpath);
			certpath = abs;
			src = abs;
		}
		if (src == NULL) {
			rc = SGT_ERR_DATA;
			goto out;
		}
		if (stat(src, &sb) != 0) {
			struct sgt_keyrec rec;

			if (sgt_keyrec_load(&st, label, &rec) == SGT_OK && strcmp(rec.algorithm, "ed25519") == 0) {
				rc = sgt_err(SGT_ERR_DATA, "key '%s' (ed25519) has no certificate: give its public key file", label);
				sgt_hint("'signet key pubkey %s --out %s.pem', then 'signet header %s.pem --format mcuboot'", label,
					 label, label);
				goto out;
			}
			rc = sgt_err(SGT_ERR_DATA, "key '%s' has no certificate yet", label);
			sgt_hint("'signet cert issue %s' makes one", label);
			goto out;
		}
	}
	if ((rc = label == NULL && pre != NULL ? sgt_extract_named(src, pre, prelen, &l) : sgt_extract_file(src, &l)) != SGT_OK)
		goto out;
	/* Only what the source really bakes in: not a comment, not a dead branch, not broken. */
	for (i = 0; i < l.n && use == NULL; i++)
		if (l.v[i].baked && l.v[i].kind == SGT_FOUND_CERT && l.v[i].pub != NULL)
			use = &l.v[i];
	for (i = 0; i < l.n && use == NULL && sgt_header_key_only(fmt); i++)
		if (l.v[i].baked && l.v[i].pub != NULL)
			use = &l.v[i];
	if (use == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "'%s' holds no certificate%s", label ? label : src,
			     sgt_header_key_only(fmt) ? " or public key" : "");
		if (l.n > 0)
			sgt_hint("'signet extract %s' shows what it holds and why none of it is baked", src);
		goto out;
	}
	if (l.n > 1)
		sgt_warn("'%s' holds %zu certificates or keys; exporting the first baked one (%s)", src, l.n,
			 use->info.subject[0] ? use->info.subject : use->info.spki_sha256);
	if (updpath) {
		if ((rc = sgt_header_definition(fmt, use->kind == SGT_FOUND_CERT ? use->cert : NULL, use->pub, name, &def)) != SGT_OK ||
		    (rc = sgt_header_update(updpath, (const char *)orig, origlen,
					    name ? name : sgt_header_default_name(fmt), &def, &out)) != SGT_OK)
			goto out;
		outpath = updpath;
	} else if ((rc = sgt_header_render(fmt, use->kind == SGT_FOUND_CERT ? use->cert : NULL, use->pub, name, &out)) != SGT_OK) {
		goto out;
	}
	sgt_sha256_hex(out.p, out.len, sha);

	if (outpath && strcmp(outpath, "-") != 0) {
		if ((outfile = strdup(outpath)) == NULL) {
			rc = sgt_err(SGT_ERR_DATA, "out of memory");
			goto out;
		}
		if ((rc = sgt_out_check(outfile)) != SGT_OK)
			goto out;
		/* With a store, the file appears only once its audit record is durable (tx.h). */
		if (have_store) {
			if ((rc = sgt_tx_begin(&st, "header", label, NULL, (const char *const *)&outfile, 1, &tx)) != SGT_OK ||
			    (rc = sgt_tx_stage(tx, outfile, out.p, out.len, SGT_TX_OUT)) != SGT_OK)
				goto out;
		} else if ((rc = sgt_put_out(outfile, out.p, out.len)) != SGT_OK) {
			goto out;
		}
		wrote = 1;
	}
	if (have_store) {
		json_t *d = json_pack("{s:s,s:s,s:s,s:s,s:s}", "format", sgt_header_format_name(fmt),
				      "name", name ? name : sgt_header_default_name(fmt),
				      "output", outpath ? outpath : "-", "header_sha256", sha,
				      "source", label ? label : argv[optind]);

		if (d && updpath)
			json_object_set_new(d, "updated", json_true());
		if (d && use->cert)
			json_object_set_new(d, "certificate_serial", json_string(use->info.serial));
		sgt_err_hold();
		if (d == NULL)
			rc = sgt_err(SGT_ERR_DATA, "out of memory");
		else if ((tx != NULL || (rc = sgt_tx_begin(&st, "header", label, NULL, NULL, 0, &tx)) == SGT_OK) &&
			 (rc = sgt_tx_record(tx, "header", label, use->info.spki_sha256, d)) == SGT_OK)
			rc = sgt_tx_commit(tx);
		json_decref(d);
		/* On failure the file was staged, never put in place: it (or the config --update named) is as it was. */
		if ((rc = cmd_failed_because(rc, sgt_tx_committed(tx) ? "header recorded, but not put in place (the next "
					     "command completes it)" : "header not exported (no audit record)")) != SGT_OK)
			goto out;
	}
	if (!wrote)
		fwrite(out.p, 1, out.len, stdout);
	else if (!ctx->json)
		fprintf(stderr, "%s %s (%s, %s, SPKI SHA-256 %s)\n", updpath ? "updated" : "wrote", outpath,
			sgt_header_format_name(fmt), use->info.subject[0] ? use->info.subject : "public key",
			use->info.spki_sha256);
	if (ctx->json && wrote)
		rc = cmd_json_print(json_pack("{s:s,s:s,s:s,s:s,s:b}", "output", outpath, "format", sgt_header_format_name(fmt),
					      "spki_sha256", use->info.spki_sha256, "header_sha256", sha, "updated", updpath != NULL));
out:
	sgt_found_list_release(&l);
	sgt_buf_free(&out);
	sgt_buf_free(&def);
	free(orig);
	free(pre);
	free(certpath);
	free(outfile);
	sgt_tx_free(tx);
	if (have_store)
		sgt_store_release(&st);
	return rc;
}
