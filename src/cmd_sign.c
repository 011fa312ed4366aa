/*
 * cmd_sign.c: `signet sign IMAGE... --key LABEL`: signs firmware images on
 * the token, the way FreeRTOS OTA devices verify them.  One token session
 * serves every image.  Each signature is checked with the token's public
 * key (and the key's current certificate, which is what devices hold)
 * before it is written; each signed image gets an audit record, and if
 * that record cannot be written the files written for the image are
 * removed and the command fails (fail closed).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/pem.h>

#include "audit.h"
#include "cmd.h"
#include "hsmguard.h"
#include "intent.h"
#include "key.h"
#include "extract.h"
#include "policy.h"
#include "sign.h"
#include "token.h"

static const char help[] =
	"usage: signet sign IMAGE... --key LABEL [--out SIG] [--ota-json FILE]\n"
	"                   [--cert-name PATH] [--hash sha256|sha1] [--pin-file F | --pin-fd N]\n\n"
	"Hashes each whole IMAGE and signs the hash on the token with key LABEL\n"
	"(ECDSA: DER signature; RSA: PKCS#1 v1.5), checks the signature with the\n"
	"public key, and writes it base64 to IMAGE.sig (or --out SIG, '-' for\n"
	"standard output, one image only).\n\n"
	"  --ota-json FILE    also write the customCodeSigning object for\n"
	"                     `aws iot create-ota-update` (one image only)\n"
	"  --cert-name PATH   certificateName in it: the signer certificate's path on\n"
	"                     the device (default: code_signing.crt)\n"
	"  --hash NAME        digest (default: the key's policy signing.hash, else sha256)\n";

struct signing {
	struct sgt_store st;
	struct sgt_keyrec rec;
	struct sgt_token *tok;
	EVP_PKEY *priv, *pub;
	X509 *cert;			/* current certificate, or NULL */
	struct sgt_keyinfo cinfo;
	char *cert_pem;
	const EVP_MD *md;
	const char *alg;
};

static int load_current_cert(struct signing *s)
{
	struct sgt_found_list l = { 0 };
	struct stat sb;
	char rel[128];
	char *path;
	size_t i;
	int rc = SGT_OK;

	snprintf(rel, sizeof(rel), "certs/%s/current.pem", s->rec.label);
	if ((path = sgt_store_path(&s->st, rel)) == NULL)
		return SGT_ERR_DATA;
	if (stat(path, &sb) != 0)
		goto out;	/* no certificate yet: signing still works, OTA JSON does not */
	if ((rc = sgt_extract_file(path, &l)) != SGT_OK)
		goto out;
	for (i = 0; i < l.n; i++)
		if (l.v[i].kind == SGT_FOUND_CERT) {
			BIO *bio = BIO_new(BIO_s_mem());
			char *p;
			long n;

			s->cert = l.v[i].cert;
			l.v[i].cert = NULL;
			s->cinfo = l.v[i].info;
			if (bio && PEM_write_bio_X509(bio, s->cert) == 1 && (n = BIO_get_mem_data(bio, &p)) > 0)
				s->cert_pem = strndup(p, (size_t)n);
			BIO_free(bio);
			if (s->cert_pem == NULL)
				rc = sgt_err(SGT_ERR_DATA, "cannot encode '%s' as PEM", path);
			break;
		}
out:
	sgt_found_list_release(&l);
	free(path);
	return rc;
}

/* The digest: --hash, else the policy the key was made under, else SHA-256. */
static int choose_md(struct signing *s, const char *hash)
{
	struct sgt_policy *pol = NULL;
	const char *pname = s->rec.policy[0] ? s->rec.policy : s->st.cfg.policy;
	int rc;

	if (hash == NULL && pname != NULL && pname[0] != '\0') {
		if ((rc = sgt_policy_find(s->st.dir, pname, &pol)) != SGT_OK)
			return rc;
		if (pol->signing_hash && (s->md = sgt_sign_md(pol->signing_hash)) == NULL) {
			rc = sgt_err(SGT_ERR_DATA, "policy '%s' asks for signing hash '%s', which signet cannot sign with",
				     pname, pol->signing_hash);
			sgt_policy_free(pol);
			return rc;
		}
		sgt_policy_free(pol);
	}
	if (hash != NULL && (s->md = sgt_sign_md(hash)) == NULL)
		return cmd_usage("sign", "unknown --hash '%s': use sha256, sha1, sha384 or sha512", hash);
	if (s->md == NULL)
		s->md = EVP_sha256();
	return SGT_OK;
}

static char *default_sig_path(const char *image)
{
	char *p = malloc(strlen(image) + 7);

	if (p)
		sprintf(p, "%s%s.sig", strchr(image, '/') ? "" : "./", image);
	return p;
}

/* Opens the batch's intent, naming every directory a signature or OTA document goes to. */
static int begin_batch(struct signing *s, char **images, int nimages, const char *out, const char *ota)
{
	char **dirs = calloc((size_t)nimages + 2, sizeof(*dirs));
	size_t nd = 0, i;
	int k, rc;

	if (dirs == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	for (k = 0; k < nimages + 2; k++) {
		const char *f = k < nimages ? (out && strcmp(out, "-") ? out : out ? NULL : images[k]) : k == nimages ? ota : NULL;
		const char *slash;

		if (f == NULL)
			continue;
		slash = strrchr(f, '/');
		dirs[nd] = slash ? strndup(f, slash == f ? 1 : (size_t)(slash - f)) : strdup(".");
		for (i = 0; dirs[nd] && i < nd && strcmp(dirs[i], dirs[nd]) != 0; i++)
			;
		if (dirs[nd] != NULL && i == nd)
			nd++;
		else
			free(dirs[nd]);
		dirs[nd] = NULL;
	}
	rc = sgt_intent_begin(&s->st, "sign", s->rec.label, NULL, (const char *const *)dirs, nd);
	for (i = 0; i < nd; i++)
		free(dirs[i]);
	free(dirs);
	return rc;
}

/* Signs one image; writes its signature (and OTA JSON) and its audit record. */
static int sign_one(struct sgt_ctx *ctx, struct signing *s, const char *image, const char *out, const char *ota,
		    const char *cert_name, json_t *results)
{
	unsigned char dgst[EVP_MAX_MD_SIZE], *sig = NULL;
	size_t dlen = 0, siglen = 0;
	char *b64 = NULL, *sigpath = NULL, *jtext = NULL, *otapath = NULL, sha256[65] = "";
	struct sgt_buf text = { 0 };
	json_t *d = NULL;
	int rc, to_stdout = out && strcmp(out, "-") == 0;

	if ((rc = sgt_sign_file_digest(image, s->md, dgst, &dlen, sha256)) != SGT_OK)
		goto out;
	if ((rc = sgt_sign_digest(s->priv, s->rec.label, s->md, dgst, dlen, &sig, &siglen)) != SGT_OK)
		goto out;
	/* Never ship a signature the device would reject. */
	if (sgt_sign_verify_digest(s->pub, s->md, dgst, dlen, sig, siglen) != SGT_OK) {
		rc = sgt_err(SGT_ERR_HSM, "the token's signature for '%s' does not verify with key '%s''s public key; nothing written",
			     image, s->rec.label);
		goto out;
	}
	if (s->cert && sgt_sign_verify_digest(X509_get0_pubkey(s->cert), s->md, dgst, dlen, sig, siglen) != SGT_OK) {
		rc = sgt_err(SGT_ERR_DATA, "the signature for '%s' does not verify with the public key of key '%s''s current certificate; nothing written",
			     image, s->rec.label);
		goto out;
	}
	if ((b64 = sgt_base64(sig, siglen)) == NULL || sgt_buf_printf(&text, "%s\n", b64) != SGT_OK) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	if (ota) {
		json_t *j = sgt_sign_ota_json(b64, s->cert_pem, cert_name, s->md, s->alg);

		jtext = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
		json_decref(j);
		if (jtext == NULL) {
			rc = sgt_err(SGT_ERR_DATA, "out of memory");
			goto out;
		}
	}
	if (!to_stdout) {
		if ((sigpath = out ? strdup(out) : default_sig_path(image)) == NULL) {
			rc = sgt_err(SGT_ERR_DATA, "out of memory");
			goto out;
		}
		if ((rc = sgt_put(sigpath, text.p, text.len, 0)) != SGT_OK)
			goto undo;
	}
	if (ota) {
		size_t n = strlen(jtext);

		if ((otapath = strdup(ota)) == NULL) {
			rc = sgt_err(SGT_ERR_DATA, "out of memory");
			goto undo;
		}

		jtext[n] = '\n';	/* json_dumps leaves no newline; the NUL slot takes it */
		rc = sgt_put(otapath, jtext, n + 1, 0);
		jtext[n] = '\0';
		if (rc != SGT_OK)
			goto undo;
	}
	d = json_pack("{s:s,s:s,s:s,s:s,s:s}", "image", image, "image_sha256", sha256, "hash", sgt_sign_md_aws(s->md),
		      "signature_algorithm", s->alg, "signature", sigpath ? sigpath : "-");
	if (d == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto undo;
	}
	json_object_set_new(d, "certificate_serial", s->cert ? json_string(s->cinfo.serial) : json_null());
	if ((rc = sgt_audit_append(&s->st, "sign", s->rec.label, s->rec.spki_sha256, "ok", d)) != SGT_OK) {
		sgt_err(rc, "'%s' not signed: the audit record could not be written", image);
		goto undo;
	}
	/* The record is durable: the signature may be seen now. */
	if ((rc = sgt_intent_publish()) != SGT_OK)
		goto out;
	if (to_stdout)
		fwrite(text.p, 1, text.len, stdout);
	else if (ctx->json) {
		json_object_set_new(d, "key", json_string(s->rec.label));
		json_object_set_new(d, "ota_json", ota ? json_string(ota) : json_null());
		json_array_append(results, d);
	} else
		printf("signed %s (SHA-256 %s) with key '%s' (%s/%s): %s%s%s\n", image, sha256, s->rec.label, s->alg,
		       sgt_sign_md_aws(s->md), sigpath, ota ? ", " : "", ota ? ota : "");
	goto out;
undo:
	/* Staged files never reached their place; nothing that was there before is touched. */
	sgt_intent_discard();
out:
	json_decref(d);
	sgt_buf_free(&text);
	free(jtext);
	free(sigpath);
	free(otapath);
	free(b64);
	free(sig);
	return rc;
}

int cmd_sign(struct sgt_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' }, { "key", required_argument, NULL, 'k' },
		{ "out", required_argument, NULL, 'o' }, { "ota-json", required_argument, NULL, 'j' },
		{ "cert-name", required_argument, NULL, 'c' }, { "hash", required_argument, NULL, 'H' },
		CMD_PIN_LONGOPTS, { NULL, 0, NULL, 0 }
	};
	struct sgt_pin_opts pin = SGT_PIN_OPTS_INIT;
	struct signing s;
	const char *label = NULL, *out = NULL, *ota = NULL, *cert_name = "code_signing.crt", *hash = NULL;
	json_t *results = NULL;
	char spki[65], **images = NULL;
	int started = 0, c, rc = SGT_OK, i, opened = 0, nimages = 0;

	memset(&s, 0, sizeof(s));
	if ((images = calloc((size_t)argc, sizeof(char *))) == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	while ((c = cmd_getopt(argv[0], argc, argv, "hk:o:", longopts, &started)) != -1) {
		if (c == -2) {
			rc = SGT_ERR_USAGE;
			goto early;
		}
		if (cmd_pin_opt(argv[0], c, optarg, &pin, &rc)) {
			if (rc != SGT_OK)
				goto early;
			continue;
		}
		switch (c) {
		case 'h': rc = cmd_help(help); goto early;
		case 'k': label = optarg; break;
		case 'o': out = optarg; break;
		case 'j': ota = optarg; break;
		case 'c': cert_name = optarg; break;
		case 'H': hash = optarg; break;
		}
	}
	while (optind < argc)
		images[nimages++] = argv[optind++];
	rc = SGT_ERR_USAGE;
	if (nimages == 0) {
		cmd_usage(argv[0], "missing IMAGE");
		goto early;
	}
	if (label == NULL) {
		cmd_usage(argv[0], "missing --key LABEL");
		goto early;
	}
	if (nimages > 1 && (out || ota)) {
		cmd_usage(argv[0], "--out and --ota-json take one IMAGE; several images get IMAGE.sig each");
		goto early;
	}
	if (hash && sgt_sign_md(hash) == NULL) {
		cmd_usage(argv[0], "unknown --hash '%s': use sha256, sha1, sha384 or sha512", hash);
		goto early;
	}
	if ((rc = sgt_label_check(label)) != SGT_OK)
		goto early;
	if ((rc = cmd_store_open(ctx, &s.st, SGT_LOCK_EXCLUSIVE)) != SGT_OK)
		goto early;
	opened = 1;
	if ((rc = sgt_keyrec_load(&s.st, label, &s.rec)) != SGT_OK)
		goto out;
	if ((rc = choose_md(&s, hash)) != SGT_OK)
		goto out;
	if ((rc = load_current_cert(&s)) != SGT_OK)
		goto out;
	if (s.cert && strcmp(s.cinfo.spki_sha256, s.rec.spki_sha256) != 0) {
		rc = sgt_err(SGT_ERR_DATA, "the current certificate of key '%s' is for another public key (SPKI %s, key %s)",
			     label, s.cinfo.spki_sha256, s.rec.spki_sha256);
		goto out;
	}
	if (ota && s.cert == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "--ota-json needs a certificate for key '%s'", label);
		sgt_hint("'signet cert issue %s' makes one", label);
		goto out;
	}
	if ((rc = sgt_token_open(&s.st, &pin, &s.tok)) != SGT_OK)
		goto out;
	if ((rc = sgt_token_key(s.tok, &s.rec, &s.priv, &s.pub)) != SGT_OK)
		goto out;
	if (sgt_key_spki_sha256(s.pub, spki) != SGT_OK || strcmp(spki, s.rec.spki_sha256) != 0) {
		rc = sgt_err(SGT_ERR_HSM, "the token's public key for '%s' does not match its record (SPKI %s)", label, spki);
		goto out;
	}
	if ((s.alg = sgt_sign_alg(s.pub)) == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "key '%s' (%s) cannot sign OTA images: ECDSA or RSA needed", label, s.rec.algorithm);
		goto out;
	}
	if (ctx->json && (results = json_array()) == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	if ((rc = begin_batch(&s, images, nimages, out, ota)) != SGT_OK)
		goto out;
	for (i = 0; i < nimages; i++) {
		/* Ctrl-C waits while the token works; between images it stops the batch cleanly. */
		if (sgt_sig_pending()) {
			rc = sgt_err(SGT_ERR_DATA, "interrupted: %d of %d images signed", i, nimages);
			break;
		}
		if ((rc = sign_one(ctx, &s, images[i], out, ota, cert_name, results)) != SGT_OK)
			break;
	}
	if (rc != SGT_OK) {
		sgt_intent_abort(&s.st);
		goto out;
	}
	if ((rc = sgt_intent_end(&s.st)) != SGT_OK)
		goto out;
	if (ctx->json && !(out && strcmp(out, "-") == 0)) {
		rc = cmd_json_print(json_pack("{s:o}", "signed", results));
		results = NULL;
	}
out:
	json_decref(results);
	EVP_PKEY_free(s.priv);
	EVP_PKEY_free(s.pub);
	sgt_token_free(s.tok);
	X509_free(s.cert);
	free(s.cert_pem);
	if (opened)
		sgt_store_release(&s.st);
early:
	free(images);
	return rc;
}
