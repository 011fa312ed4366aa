/*
 * cmd_sign.c: `signet sign IMAGE... --key LABEL`: signs firmware images on
 * the token, the way FreeRTOS OTA devices verify them.  One token session
 * serves every image.  Each signature is checked once, with the public key
 * devices hold (the current certificate's, proven equal to the token's and
 * the record's at the start), on a second thread while the token signs the
 * next image, before anything is written; each signed image gets an audit
 * record, all of a batch in one append, and no signature file is visible
 * before its record is on disk (fail closed; docs/store.md).  OTA input a
 * device could not use (hash, signer certificate dates, ids AWS refuses)
 * is refused before the token signs.  IMAGE '-' is standard input, hashed
 * once before the token is opened.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/x509v3.h>

#include "approve.h"
#include "audit.h"
#include "cert.h"
#include "certstore.h"
#include "cmd.h"
#include "hsmguard.h"
#include "intent.h"
#include "key.h"
#include "extract.h"
#include "policy.h"
#include "rotate.h"
#include "p11.h"
#include "sign.h"
#include "token.h"
#include "tx.h"

static const char help[] =
	"usage: signet sign IMAGE... --key LABEL [--out SIG] [--ota-json FILE]\n"
	"                   [--cert-name PATH] [--hash sha256|sha1] [--pin-file F | --pin-fd N]\n"
	"                   [--approval SIG... | --approvals DIR]\n"
	"       signet sign IMAGE --key LABEL --format mcuboot [--version X.Y.Z[+B]]\n"
	"                   [--header-size N] [--pad-header] [--align N] [--slot-size N] [--pad]\n"
	"                   [--confirm] [--public-key-format hash|full] [--security-counter N|auto]\n"
	"                   [--load-addr A] [--out FILE]\n\n"
	"Hashes each whole IMAGE and signs the hash on the token with key LABEL\n"
	"(ECDSA: DER signature; RSA: PKCS#1 v1.5), checks the signature with the\n"
	"public key, and writes it base64 to IMAGE.sig (or --out SIG, '-' for\n"
	"standard output, one image only).  IMAGE '-' reads the image from standard\n"
	"input (one image; --out required).  An image is a file, a FIFO or standard\n"
	"input of at most 2 GiB, never a device; Ctrl-C or SIGTERM stops a read that\n"
	"does not end.\n\n"
	"  --ota-json FILE    also write the customCodeSigning object for\n"
	"                     `aws iot create-ota-update` (one image only)\n"
	"  --cert-name PATH   certificateName in it: the signer certificate's path on\n"
	"                     the device (default: code_signing.crt)\n"
	"  --hash NAME        digest (default: the key's policy signing.hash, else sha256);\n"
	"                     OTA input takes only what devices verify: SHA256 or SHA1,\n"
	"                     and the policy's signing.hash (else exit 1, nothing signed)\n"
	"  --fleet FLEET      refuse (exit 1, nothing signed) unless every active device of\n"
	"                     FLEET runs a build that trusts the key (fleet inventory); a\n"
	"                     retired key (signet rotate finish) signs only with --fleet\n"
	"  --approval SIG     an approver's SSH signature of REQ.json (named REQ.json*.sig);\n"
	"                     repeat it; a key whose policy asks for approvals signs only\n"
	"                     with enough of them (docs/approvals.md), else exit 1\n"
	"  --approvals DIR    the request (its one *.json) and approvals (*.sig) in DIR\n"
	"  --key PKCS11_URI   the key may also be named by URI: 'pkcs11:object=fw;type=private'\n\n"
	"The whole AWS OTA input (one image):\n"
	"  --ota-update FILE  write a complete `aws iot create-ota-update --cli-input-json\n"
	"                     file://FILE` document; needs --ota-id, --role-arn, --targets\n"
	"                     and the file's location, --s3 or --stream\n"
	"  --ota-id ID        otaUpdateId: 1 to 128 letters, digits, '_' or '-' (AWS's rule)\n"
	"  --role-arn ARN     roleArn: the role AWS IoT uses to read the file\n"
	"  --targets ARN,...  thing or thing-group ARNs\n"
	"  --s3 bucket=B,key=K[,version=V]   the image in S3\n"
	"  --stream ID        or an existing AWS IoT stream (file id 0)\n"
	"  --protocols LIST   MQTT (default), HTTP or MQTT,HTTP\n"
	"  --file-name NAME   fileName on the device (default: the image's file name;\n"
	"                     needed for IMAGE '-')\n"
	"OTA input (--ota-json, --ota-update) is refused, exit 1 and nothing signed, while\n"
	"the key's certificate is expired or not yet valid: AWS refuses such a signer.\n"
	"Use AWS CLI v2 with '--cli-binary-format base64' (its default): AWS CLI v1\n"
	"(and v2 with '--cli-binary-format raw-in-base64-out') base64-encodes the\n"
	"inline signature again, and devices reject the image with 0xe3\n"
	"(signet explain 0x000000e3).\n";

struct signing {
	json_t *approval;		/* the two-person rule's audit details (approve.h), NULL without one */
	struct sgt_store st;
	struct sgt_keyrec rec;
	struct sgt_token *tok;
	EVP_PKEY *priv, *pub;
	EVP_PKEY *devkey;		/* what devices check with: the certificate's key, else pub (borrowed) */
	X509 *cert;			/* current certificate, or NULL */
	struct sgt_keyinfo cinfo;
	char *cert_pem;
	const EVP_MD *md;
	const char *alg;
	const char *cert_name;
	const char *pol_name;		/* the key's policy (the record's or the store's), or NULL */
	struct sgt_policy *pol;		/* that policy, read once for the approvals gate and the digest */
	char pol_hash[16];		/* its signing.hash, "" when it gives none */
	/* IMAGE '-': standard input, hashed once before the token was opened */
	unsigned char in_dgst[EVP_MAX_MD_SIZE];
	size_t in_dlen;
	char in_sha256[65];
};

/* certs/<label>/current.pem, read as a certificate (not scanned like firmware); none yet is not an error. */
static int load_current_cert(struct signing *s)
{
	struct sgt_buf pem = { 0 };
	int rc;

	if ((rc = sgt_cert_store_current(&s->st, s->rec.label, &s->cert)) != SGT_OK || s->cert == NULL)
		return rc;	/* no certificate yet: signing still works, OTA JSON does not */
	if ((rc = sgt_keyinfo_get(s->cert, NULL, &s->cinfo)) != SGT_OK || (rc = sgt_cert_pem(s->cert, &pem)) != SGT_OK) {
		sgt_buf_free(&pem);
		return rc;
	}
	s->cert_pem = pem.p;	/* NUL-terminated, owned from here on */
	return SGT_OK;
}

/*
 * The digest: --hash, else the policy the key was made under, else
 * SHA-256.  For OTA input (ota) the policy is read even with --hash: its
 * signing.hash is what its devices verify.
 */
static int choose_md(struct signing *s, const char *hash, int ota)
{
	const struct sgt_policy *pol = s->pol;
	const char *pname = sgt_approve_policy_name(&s->st, &s->rec);

	if ((hash == NULL || ota) && pol != NULL) {
		s->pol_name = pname;
		if (pol->signing_hash)
			snprintf(s->pol_hash, sizeof(s->pol_hash), "%s", pol->signing_hash);
		if (hash == NULL && pol->signing_hash && (s->md = sgt_sign_md(pol->signing_hash)) == NULL)
			return sgt_err(SGT_ERR_DATA, "policy '%s' asks for signing hash '%s', which signet cannot sign with",
				       pname, pol->signing_hash);
	}
	if (hash != NULL && (s->md = sgt_sign_md(hash)) == NULL)
		return cmd_usage("sign", "unknown --hash '%s': use sha256, sha1, sha384 or sha512", hash);
	if (s->md == NULL)
		s->md = EVP_sha256();
	return SGT_OK;
}

/*
 * OTA input a device can use (SPEC, sign): FreeRTOS devices verify SHA256
 * (ECDSA) or SHA1 (RSA, TI CC3220), and the devices of the key's policy
 * the policy's signing.hash.  A verdict (exit 1), before the token signs.
 */
static int ota_hash_check(const struct signing *s, const char *what)
{
	int t = EVP_MD_get_type(s->md);
	const EVP_MD *want = s->pol_hash[0] ? sgt_sign_md(s->pol_hash) : NULL;

	if (t != NID_sha256 && t != NID_sha1)
		return sgt_err(SGT_ERR_VERDICT, "%s: hashAlgorithm %s: FreeRTOS devices verify SHA256 (ECDSA) or SHA1 "
			       "(RSA, TI CC3220) only, and would reject every image; nothing signed", what, sgt_sign_md_aws(s->md));
	if (want != NULL && EVP_MD_get_type(want) != t)
		return sgt_err(SGT_ERR_VERDICT, "%s: hashAlgorithm %s: key '%s' is under policy '%s', whose devices verify %s; "
			       "nothing signed", what, sgt_sign_md_aws(s->md), s->rec.label, s->pol_name, sgt_sign_md_aws(want));
	return SGT_OK;
}

/* AWS refuses an expired signer certificate for OTA input, and one not valid yet is no better. */
static int ota_cert_check(const struct signing *s, const char *what)
{
	time_t now = sgt_now();
	char when[32];

	if (s->cinfo.not_after < now) {
		sgt_time_iso(s->cinfo.not_after, when);
		sgt_err(SGT_ERR_VERDICT, "%s: the certificate of key '%s' (serial %s) expired %s; AWS refuses it as the "
			"signer certificate; nothing signed", what, s->rec.label, s->cinfo.serial, when);
		sgt_hint("'signet cert reissue %s' makes a new one for the same key; devices keep accepting it", s->rec.label);
		return SGT_ERR_VERDICT;
	}
	if (s->cinfo.not_before > now) {
		sgt_time_iso(s->cinfo.not_before, when);
		return sgt_err(SGT_ERR_VERDICT, "%s: the certificate of key '%s' (serial %s) is not valid before %s; "
			       "nothing signed", what, s->rec.label, s->cinfo.serial, when);
	}
	return SGT_OK;
}

static char *default_sig_path(const char *image)
{
	char *p = malloc(strlen(image) + 7);

	if (p)
		sprintf(p, "%s%s.sig", strchr(image, '/') ? "" : "./", image);
	return p;
}

/*
 * The files a signing run writes: IMAGE.sig for each image (or --out, one
 * image; none for --out -), the --ota-json document and the --ota-update
 * document with its .README.  A malloc'd list of *n malloc'd paths; NULL
 * (reported) when out of memory.
 */
static char **sign_outputs(char **images, int nimages, const char *out, const char *ota, const char *upd, int *n)
{
	char **v = calloc((size_t)nimages + 3, sizeof(*v));
	struct sgt_buf readme = { 0 };
	int k;

	*n = 0;
	for (k = 0; v != NULL && k < nimages && !(out && strcmp(out, "-") == 0); k++) {
		if ((v[*n] = out ? strdup(out) : default_sig_path(images[k])) == NULL)
			goto oom;
		(*n)++;
		if (out != NULL)
			break;
	}
	if (v != NULL && ota != NULL && (v[(*n)++] = strdup(ota)) == NULL)
		goto oom;
	if (v != NULL && upd != NULL) {
		if ((v[(*n)++] = strdup(upd)) == NULL || sgt_buf_printf(&readme, "%s.README", upd) != SGT_OK)
			goto oom;
		v[(*n)++] = readme.p;
	}
	if (v != NULL)
		return v;
oom:
	sgt_err(SGT_ERR_DATA, "out of memory");
	while (v != NULL && *n > 0)
		free(v[--(*n)]);
	free(v);
	return NULL;
}

/* The --ota-update flags. */
struct ota_update {
	const char *path, *id, *role, *targets, *s3, *stream, *protocols, *file_name;
};

/* "bucket=B,key=K[,version=V]" -> {"bucket", "key"[, "version"]}; NULL (reported) when malformed. */
static json_t *s3_location(const char *spec)
{
	json_t *j = json_object();
	char *copy = strdup(spec), *save = NULL, *tok;

	for (tok = copy ? strtok_r(copy, ",", &save) : NULL; tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');

		if (eq == NULL || eq[1] == '\0' ||
		    (strncmp(tok, "bucket=", 7) != 0 && strncmp(tok, "key=", 4) != 0 && strncmp(tok, "version=", 8) != 0))
			break;
		*eq = '\0';
		json_object_set_new(j, tok, json_string(eq + 1));
	}
	if (copy == NULL || tok != NULL || json_object_get(j, "bucket") == NULL || json_object_get(j, "key") == NULL) {
		cmd_usage("sign", "--s3 takes bucket=NAME,key=KEY[,version=ID], not '%s'", spec);
		json_decref(j);
		j = NULL;
	}
	free(copy);
	return j;
}

/*
 * An otaUpdateId or streamId as the service model has them (botocore iot
 * service-2.json: OTAUpdateId and StreamId, pattern [a-zA-Z0-9_-]+, 1 to
 * 128 characters): AWS refuses anything else when the update is created.
 */
static int aws_id_ok(const char *id)
{
	size_t n = strlen(id), i;

	for (i = 0; i < n; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') || (id[i] >= '0' && id[i] <= '9') ||
		      id[i] == '_' || id[i] == '-'))
			return 0;
	return n >= 1 && n <= 128;
}

static int ota_update_check(const struct ota_update *u, int nimages, const char *out, int from_stdin)
{
	const char *t;

	if (u->path == NULL)
		return (u->id || u->role || u->targets || u->s3 || u->stream || u->protocols || u->file_name)
			? cmd_usage("sign", "--ota-id, --role-arn, --targets, --s3, --stream, --protocols and --file-name go with --ota-update FILE")
			: SGT_OK;
	if (nimages != 1)
		return cmd_usage("sign", "--ota-update takes one IMAGE");
	if (out != NULL && strcmp(out, "-") == 0)
		return cmd_usage("sign", "--ota-update needs the signature in a file, not --out -");
	if (u->id == NULL || u->role == NULL || u->targets == NULL)
		return cmd_usage("sign", "--ota-update needs --ota-id, --role-arn and --targets");
	if (!aws_id_ok(u->id))
		return cmd_usage("sign", "--ota-id '%s' is not an otaUpdateId AWS accepts: 1 to 128 letters, digits, '_' or '-'",
				 u->id);
	if (strlen(u->role) < 20 || strlen(u->role) > 2048)
		return cmd_usage("sign", "--role-arn '%s' is not a role ARN AWS accepts: 20 to 2048 characters "
				 "(arn:aws:iam::ACCOUNT:role/NAME)", u->role);
	for (t = u->targets; *t == ','; t++)
		;
	if (*t == '\0')
		return cmd_usage("sign", "--targets names no thing or thing group ARN");
	if (u->stream != NULL && !aws_id_ok(u->stream))
		return cmd_usage("sign", "--stream '%s' is not a streamId AWS accepts: 1 to 128 letters, digits, '_' or '-'",
				 u->stream);
	if (from_stdin && u->file_name == NULL)
		return cmd_usage("sign", "--ota-update of standard input needs --file-name NAME (the file's name on the device)");
	if ((u->s3 == NULL) == (u->stream == NULL))
		return cmd_usage("sign", "--ota-update needs where the file is: --s3 bucket=..,key=.. or --stream ID (one of them)");
	if (u->s3 != NULL) {
		json_t *s3 = s3_location(u->s3);

		if (s3 == NULL)
			return SGT_ERR_USAGE;
		json_decref(s3);
	}
	if (u->protocols && strcmp(u->protocols, "MQTT") != 0 && strcmp(u->protocols, "HTTP") != 0 &&
	    strcmp(u->protocols, "MQTT,HTTP") != 0 && strcmp(u->protocols, "HTTP,MQTT") != 0)
		return cmd_usage("sign", "--protocols is MQTT, HTTP or MQTT,HTTP, not '%s'", u->protocols);
	return SGT_OK;
}

/*
 * The signer certificate followed by the certificates of the CA keys in
 * custody that issued it, up to a self-signed one: what certificateChain
 * carries so AWS and devices that check the chain see all of it.
 */
static int chain_pem(struct signing *s, struct sgt_buf *pem)
{
	struct sgt_keyrec *recs = NULL;
	X509 *cur = X509_up_ref(s->cert) == 1 ? s->cert : NULL;	/* not X509_dup: that decodes its key again */
	size_t n = 0, i, depth;
	int rc = cur != NULL ? sgt_keyrec_list(&s->st, &recs, &n) : sgt_err(SGT_ERR_DATA, "out of memory");

	if (rc == SGT_OK && sgt_buf_printf(pem, "%s", s->cert_pem) != SGT_OK)
		rc = SGT_ERR_DATA;
	for (depth = 0; rc == SGT_OK && cur != NULL && !sgt_cert_self_signed(cur) && depth < 8; depth++) {
		X509 *issuer = NULL;

		for (i = 0; i < n && issuer == NULL; i++) {
			X509 *ca = NULL;

			if (sgt_cert_store_current(&s->st, recs[i].label, &ca) == SGT_OK && ca != NULL &&
			    X509_check_issued(ca, cur) == X509_V_OK && X509_verify(cur, X509_get0_pubkey(ca)) == 1)
				issuer = ca;
			else
				X509_free(ca);
		}
		X509_free(cur);
		cur = issuer;
		if (issuer != NULL)
			rc = sgt_cert_pem(issuer, pem);
	}
	X509_free(cur);
	free(recs);
	return rc;
}

/*
 * What a batch has signed but not yet committed: the audit records (one
 * per image) and what to print once they are on disk.
 */
struct batch {
	struct sgt_tx *tx;	/* the images' transaction: their files and records */
	size_t nrecs;		/* records queued in it */
	json_t *shown;		/* per image: {"text": line} or the --json object */
	struct sgt_buf sigout;	/* --out -: the signature for stdout */
	const struct ota_update *upd;	/* --ota-update (one image), else NULL */
	char *ota_sha;		/* its image's SHA-256 in base64, once staged */
};

/* One image's signature, made on the token and not yet checked. */
struct made {
	const char *image;
	unsigned char dgst[EVP_MAX_MD_SIZE];
	size_t dlen;
	unsigned char *sig;
	size_t siglen;
	char sha256[65];
};

/*
 * The `aws iot create-ota-update --cli-input-json` document for the image
 * just signed (m: its digests and its checked signature, in memory; b64
 * that signature) and the note beside it about the double-base64 trap:
 * staged in the batch's transaction before the image's record, so that
 * both appear only with the record (a kill leaves neither).
 */
static int stage_ota_update(struct signing *s, const struct ota_update *u, const struct made *m, const char *b64,
			    struct batch *b)
{
	unsigned char sha[32];
	struct sgt_buf chain = { 0 }, note = { 0 }, notepath = { 0 }, t = { 0 };
	const char *image = m->image, *base = strrchr(image, '/') ? strrchr(image, '/') + 1 : image;
	json_t *doc = NULL, *loc = NULL, *targets = json_array(), *protocols = json_array(), *ccs;
	char *copy = NULL, *save = NULL, *tok;
	int rc;

	if (sgt_unhex(m->sha256, sha, sizeof(sha)) != 32)
		return sgt_err(SGT_ERR_DATA, "'%s': no SHA-256 of the image", image);
	if ((rc = chain_pem(s, &chain)) != SGT_OK)
		goto out;
	if ((b->ota_sha = sgt_base64(sha, sizeof(sha))) == NULL ||
	    (copy = strdup(u->targets)) == NULL || targets == NULL || protocols == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	for (tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save))
		json_array_append_new(targets, json_string(tok));
	free(copy);
	if ((copy = strdup(u->protocols ? u->protocols : "MQTT")) == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	for (tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save))
		json_array_append_new(protocols, json_string(tok));
	if (u->s3 != NULL) {
		json_t *s3 = s3_location(u->s3);

		if (s3 == NULL) {
			rc = SGT_ERR_USAGE;
			goto out;
		}
		loc = json_pack("{s:o}", "s3Location", s3);
	} else {
		loc = json_pack("{s:{s:s, s:i}}", "stream", "streamId", u->stream, "fileId", 0);
	}
	ccs = sgt_sign_ota_json(b64, chain.p, s->cert_name, s->md, s->alg);
	doc = json_pack("{s:s, s:s, s:O, s:O, s:s, s:[{s:s, s:o, s:o}], s:s}", "otaUpdateId", u->id,
			"description", "signed by signet with key in custody", "targets", targets, "protocols", protocols,
			"targetSelection", "SNAPSHOT", "files", "fileName", u->file_name ? u->file_name : base,
			"fileLocation", loc, "codeSigning", ccs, "roleArn", u->role);
	loc = NULL;
	rc = sgt_buf_json(&t, doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	doc = NULL;
	if (rc != SGT_OK)
		goto out;
	if (sgt_buf_printf(&note,
		       "%s: the input of `aws iot create-ota-update --cli-input-json file://%s`\n\n"
		       "The signature in it is base64 already: run AWS CLI v2 with\n"
		       "'--cli-binary-format base64' (its default).  Do NOT add\n"
		       "'--cli-binary-format raw-in-base64-out', and do not use AWS CLI v1: both\n"
		       "base64-encode the inline signature a second time, and every device then\n"
		       "rejects the image with 0xe3 (OtaPalSignatureCheckFailed; signet explain 0x000000e3).\n\n"
		       "Upload the image with its checksum so S3 refuses a corrupted copy:\n"
		       "  aws s3api put-object --checksum-algorithm SHA256 --checksum-sha256 %s ...\n"
		       "Image %s: SHA-256 %s\n",
		       base, u->path, b->ota_sha, strcmp(image, "-") == 0 ? "(standard input)" : image, m->sha256) != SGT_OK ||
	    sgt_buf_printf(&notepath, "%s.README", u->path) != SGT_OK) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	/* every output place was checked (sgt_out_check) before the token signed anything */
	if ((rc = sgt_tx_stage(b->tx, u->path, t.p, t.len, SGT_TX_OUT)) == SGT_OK)
		rc = sgt_tx_stage(b->tx, notepath.p, note.p, note.len, SGT_TX_OUT);
out:
	json_decref(loc);
	json_decref(doc);
	json_decref(targets);
	json_decref(protocols);
	sgt_buf_free(&chain);
	sgt_buf_free(&note);
	sgt_buf_free(&notepath);
	sgt_buf_free(&t);
	free(copy);
	return rc;
}

static int sign_image(struct signing *s, const char *image, struct made *m)
{
	int rc;

	m->image = image;
	m->sig = NULL;
	m->siglen = 0;
	m->sha256[0] = '\0';
	if (strcmp(image, "-") == 0) {
		memcpy(m->dgst, s->in_dgst, s->in_dlen);
		m->dlen = s->in_dlen;
		memcpy(m->sha256, s->in_sha256, sizeof(m->sha256));
	} else if ((rc = sgt_sign_file_digest(image, s->md, m->dgst, &m->dlen, m->sha256)) != SGT_OK)
		return rc;
	return sgt_sign_digest(s->priv, s->rec.label, s->md, m->dgst, m->dlen, &m->sig, &m->siglen);
}

/*
 * An image signed by sign_image whose signature was checked (verdict,
 * from the verifier: once, with the public key devices hold, the
 * certificate's, proven equal to the token's at the start): stages its
 * files (intent.h) and adds its record to the batch.  Nothing is visible
 * until commit_batch.
 */
static int stage_image(struct sgt_ctx *ctx, struct signing *s, const struct made *m, int verdict, const char *out,
		       const char *ota, const char *cert_name, struct batch *b)
{
	const char *image = m->image, *sha256 = m->sha256;
	char *b64 = NULL, *sigpath = NULL;
	struct sgt_buf text = { 0 }, jtext = { 0 };
	json_t *d = NULL;
	int rc, to_stdout = out && strcmp(out, "-") == 0;

	/* Never ship a signature the device would reject. */
	if (verdict != SGT_OK) {
		rc = sgt_err(SGT_ERR_HSM, "the token's signature for '%s' does not verify with %s; nothing written", image,
			     s->cert ? "the public key of the key's current certificate" : "the key's public key");
		goto out;
	}
	if ((b64 = sgt_base64(m->sig, m->siglen)) == NULL || sgt_buf_printf(&text, "%s\n", b64) != SGT_OK) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	if (ota) {
		rc = sgt_buf_json(&jtext, sgt_sign_ota_json(b64, s->cert_pem, cert_name, s->md, s->alg),
				  JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		if (rc != SGT_OK)
			goto out;
	}
	if (!to_stdout) {
		if ((sigpath = out ? strdup(out) : default_sig_path(image)) == NULL) {
			rc = sgt_err(SGT_ERR_DATA, "out of memory");
			goto out;
		}
		/* every output place was checked (sgt_out_check) before the token signed anything */
		if ((rc = sgt_tx_stage(b->tx, sigpath, text.p, text.len, SGT_TX_OUT)) != SGT_OK)
			goto out;
	}
	if (ota && (rc = sgt_tx_stage(b->tx, ota, jtext.p, jtext.len, SGT_TX_OUT)) != SGT_OK)
		goto out;
	if (b->upd != NULL && (rc = stage_ota_update(s, b->upd, m, b64, b)) != SGT_OK)
		goto out;
	d = json_pack("{s:s,s:s,s:s,s:s,s:s}", "image", image, "image_sha256", sha256, "hash", sgt_sign_md_aws(s->md),
		      "signature_algorithm", s->alg, "signature", sigpath ? sigpath : "-");
	if (d == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	json_object_set_new(d, "certificate_serial", s->cert ? json_string(s->cinfo.serial) : json_null());
	if (s->approval != NULL)
		json_object_set(d, "approval", s->approval);
	/* The record names this image's files (staged just before it); it is written at the commit. */
	if ((rc = sgt_tx_record(b->tx, "sign", s->rec.label, s->rec.spki_sha256, d)) != SGT_OK)
		goto out;
	b->nrecs++;
	if (to_stdout) {
		rc = sgt_buf_add(&b->sigout, text.p, text.len);
	} else if (ctx->json) {
		json_t *j = json_deep_copy(d);

		json_object_set_new(j, "key", json_string(s->rec.label));
		json_object_set_new(j, "ota_json", ota ? json_string(ota) : json_null());
		json_array_append_new(b->shown, j);
	} else {
		struct sgt_buf line = { 0 };

		sgt_buf_printf(&line, "signed %s (SHA-256 %s) with key '%s' (%s/%s): %s%s%s\n",
			       strcmp(image, "-") == 0 ? "standard input" : image, sha256, s->rec.label,
			       s->alg, sgt_sign_md_aws(s->md), sigpath, ota ? ", " : "", ota ? ota : "");
		json_array_append_new(b->shown, json_pack("{s:s}", "text", line.p ? line.p : ""));
		sgt_buf_free(&line);
	}
out:
	json_decref(d);
	sgt_buf_free(&text);
	sgt_buf_free(&jtext);
	free(sigpath);
	free(b64);
	return rc;
}

/*
 * The commit point of a batch: every record in one append (one write, one
 * fsync, the head moved and signed once), then every signature put in
 * place together.  Nothing was visible before; nothing is lost after.
 */
static int commit_batch(struct sgt_ctx *ctx, struct signing *s, struct batch *b, json_t *results)
{
	size_t i;
	json_t *v;
	int rc;

	(void)s;
	if (b->nrecs == 0)
		return sgt_tx_commit(b->tx);	/* nothing to record: the intent ends */
	/* one line: what did not happen, and the audit log's reason */
	sgt_err_hold();
	rc = sgt_tx_commit(b->tx);
	if (rc != SGT_OK) {
		char what[120];

		if (sgt_tx_committed(b->tx))
			snprintf(what, sizeof(what), "%zu image%s signed and recorded, but not every signature was put in "
				 "place (the next command completes it)", b->nrecs, b->nrecs == 1 ? "" : "s");
		else
			snprintf(what, sizeof(what), "%zu image%s not signed (no audit record)", b->nrecs,
				 b->nrecs == 1 ? "" : "s");
		return cmd_failed_because(rc, what);
	}
	(void)sgt_err_release();
	if (b->sigout.len > 0)
		fwrite(b->sigout.p, 1, b->sigout.len, stdout);
	json_array_foreach(b->shown, i, v) {
		if (ctx->json)
			json_array_append(results, v);
		else
			fputs(json_string_value(json_object_get(v, "text")), stdout);
	}
	return SGT_OK;
}

int cmd_sign(struct sgt_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' }, { "key", required_argument, NULL, 'k' },
		{ "out", required_argument, NULL, 'o' }, { "ota-json", required_argument, NULL, 'j' },
		{ "cert-name", required_argument, NULL, 'c' }, { "hash", required_argument, NULL, 'H' },
		{ "ota-update", required_argument, NULL, 0x200 }, { "ota-id", required_argument, NULL, 0x201 },
		{ "role-arn", required_argument, NULL, 0x202 }, { "targets", required_argument, NULL, 0x203 },
		{ "s3", required_argument, NULL, 0x204 }, { "stream", required_argument, NULL, 0x205 },
		{ "protocols", required_argument, NULL, 0x206 }, { "file-name", required_argument, NULL, 0x207 },
		{ "fleet", required_argument, NULL, 0x208 }, { "approval", required_argument, NULL, 0x209 },
		{ "approvals", required_argument, NULL, 0x20a }, CMD_PIN_LONGOPTS, { NULL, 0, NULL, 0 }
	};
	struct ota_update upd = { 0 };
	struct sgt_pin_opts pin = SGT_PIN_OPTS_INIT;
	struct signing s;
	const char *label = NULL, *out = NULL, *ota = NULL, *cert_name = "code_signing.crt", *hash = NULL, *fleet = NULL;
	json_t *results = NULL;
	struct batch b = { NULL, 0, NULL, { 0 }, NULL, NULL };
	char **outputs = NULL;
	struct sgt_verifier *ver = NULL;
	struct made made[2];
	int r2, noutputs = 0, in_flight = 0;
	char **images = NULL, **approvals = NULL;
	const char *approvals_dir = NULL, *pname;
	int napprovals = 0;
	int started = 0, c, rc = SGT_OK, i, opened = 0, nimages = 0;

	if (cmd_mcuboot_wanted(argc, argv))
		return cmd_sign_mcuboot(ctx, argc, argv);
	memset(&s, 0, sizeof(s));
	memset(made, 0, sizeof(made));
	if ((images = calloc((size_t)argc, sizeof(char *))) == NULL ||
	    (approvals = calloc((size_t)argc, sizeof(char *))) == NULL)
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
		case 0x200: upd.path = optarg; break;
		case 0x201: upd.id = optarg; break;
		case 0x202: upd.role = optarg; break;
		case 0x203: upd.targets = optarg; break;
		case 0x204: upd.s3 = optarg; break;
		case 0x205: upd.stream = optarg; break;
		case 0x206: upd.protocols = optarg; break;
		case 0x207: upd.file_name = optarg; break;
		case 0x208: fleet = optarg; break;
		case 0x209: approvals[napprovals++] = optarg; break;
		case 0x20a: approvals_dir = optarg; break;
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
	/* '-' is standard input: one image, read once, so the signature needs a name of its own */
	for (i = 0; i < nimages; i++)
		if (strcmp(images[i], "-") == 0 && (nimages > 1 || out == NULL)) {
			cmd_usage(argv[0], nimages > 1 ? "'-' (standard input) is one image: sign it alone"
						       : "signing standard input needs --out SIG (or --out - for standard output)");
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
	if ((rc = ota_update_check(&upd, nimages, out, strcmp(images[0], "-") == 0)) != SGT_OK)
		goto early;
	if (!sgt_p11_is_uri(label) && (rc = sgt_label_check(label)) != SGT_OK)
		goto early;
	if ((rc = cmd_store_open(ctx, &s.st, SGT_LOCK_EXCLUSIVE)) != SGT_OK)
		goto early;
	opened = 1;
	if ((rc = sgt_key_lookup(&s.st, &pin, label, &s.rec)) != SGT_OK)
		goto out;
	label = s.rec.label;	/* a URI resolves to the key's label */
	/* Before anything is signed: the fleet's devices must trust the key; a retired key needs a fleet. */
	if ((rc = sgt_rotate_sign_allowed(&s.st, &s.rec, fleet)) != SGT_OK) {
		if (rc == SGT_ERR_VERDICT)
			sgt_record_refused(&s.st, "sign", label, s.rec.spki_sha256, sgt_last_error());
		goto out;
	}
	/* The key's policy, read once; one that cannot be read stops the sign (the gate fails closed). */
	if ((pname = sgt_approve_policy_name(&s.st, &s.rec)) != NULL &&
	    (rc = sgt_policy_find(s.st.dir, pname, &s.pol)) != SGT_OK)
		goto out;
	/* The two-person rule, when the key's policy asks for approvals (approve.h). */
	if ((rc = sgt_approve_sign_gate(&s.st, &s.rec, s.pol, fleet, images, nimages, approvals, napprovals,
					approvals_dir, &s.approval)) != SGT_OK) {
		if (rc == SGT_ERR_VERDICT)
			sgt_record_refused(&s.st, "sign", label, s.rec.spki_sha256, sgt_last_error());
		goto out;
	}
	/* Before anything else: FreeRTOS devices verify ECDSA or RSA, never Ed25519. */
	if (strcmp(s.rec.algorithm, "ed25519") == 0) {
		rc = sgt_err(SGT_ERR_DATA, "key '%s' (ed25519) cannot sign OTA images: FreeRTOS devices verify ECDSA or RSA; "
			     "Ed25519 keys sign MCUboot images (--format mcuboot)", label);
		goto out;
	}
	s.cert_name = cert_name;
	if ((rc = choose_md(&s, hash, ota || upd.path)) != SGT_OK)
		goto out;
	/* OTA input a device could not use is refused before the token signs, and on record. */
	if ((ota || upd.path) && (rc = ota_hash_check(&s, ota ? "sign --ota-json" : "sign --ota-update")) != SGT_OK) {
		sgt_record_refused(&s.st, "sign", label, s.rec.spki_sha256, sgt_last_error());
		goto out;
	}
	if ((rc = load_current_cert(&s)) != SGT_OK)
		goto out;
	if (s.cert && strcmp(s.cinfo.spki_sha256, s.rec.spki_sha256) != 0) {
		rc = sgt_err(SGT_ERR_DATA, "the current certificate of key '%s' is for another public key (SPKI %s, key %s)",
			     label, s.cinfo.spki_sha256, s.rec.spki_sha256);
		goto out;
	}
	if ((ota || upd.path) && s.cert == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "--%s needs a certificate for key '%s'", ota ? "ota-json" : "ota-update", label);
		sgt_hint("'signet cert issue %s' makes one", label);
		goto out;
	}
	if ((ota || upd.path) && (rc = ota_cert_check(&s, ota ? "sign --ota-json" : "sign --ota-update")) != SGT_OK) {
		sgt_record_refused(&s.st, "sign", label, s.rec.spki_sha256, sgt_last_error());
		goto out;
	}
	/* Every output place is checked before the token signs anything. */
	if ((outputs = sign_outputs(images, nimages, out, ota, upd.path, &noutputs)) == NULL) {
		rc = SGT_ERR_DATA;
		goto out;
	}
	for (i = 0; i < noutputs && rc == SGT_OK; i++)
		rc = sgt_out_check(outputs[i]);
	if (rc != SGT_OK)
		goto out;
	/*
	 * Standard input is hashed as it streams in, before the token is
	 * opened: signals are held while the token works, and a read from a
	 * pipe or terminal must stay interruptible (SPEC, the store).
	 */
	if (strcmp(images[0], "-") == 0 &&
	    (rc = sgt_sign_file_digest("-", s.md, s.in_dgst, &s.in_dlen, s.in_sha256)) != SGT_OK)
		goto out;
	if ((rc = sgt_token_open(&s.st, &pin, &s.tok)) != SGT_OK)
		goto out;
	/*
	 * sgt_token_key refuses a token key whose SPKI or algorithm is not the
	 * record's.  With a certificate (its SPKI is the record's, checked
	 * above), every signature is checked with its key before anything is
	 * written, which proves the token's key is the record's: the token is
	 * not asked for its public key.
	 */
	if ((rc = s.cert ? sgt_token_key_known(s.tok, &s.rec, X509_get0_pubkey(s.cert), &s.priv, &s.pub)
			 : sgt_token_key(s.tok, &s.rec, &s.priv, &s.pub)) != SGT_OK)
		goto out;
	/* Proven equal (certificate SPKI = record SPKI = token SPKI), so one check per image suffices. */
	s.devkey = s.cert ? X509_get0_pubkey(s.cert) : s.pub;
	if ((s.alg = sgt_sign_alg(s.pub)) == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "key '%s' (%s) cannot sign OTA images: ECDSA or RSA needed", label, s.rec.algorithm);
		goto out;
	}
	if ((b.shown = json_array()) == NULL ||
	    (ctx->json && (results = json_array()) == NULL)) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	b.upd = upd.path != NULL ? &upd : NULL;
	if ((rc = sgt_tx_begin(&s.st, "sign", s.rec.label, NULL, (const char *const *)outputs, (size_t)noutputs, &b.tx)) !=
	    SGT_OK)
		goto out;
	/*
	 * The store changes only at the commit: other signers work while this
	 * one signs.  The intent (locked by this process) tells any recovery
	 * that runs meanwhile that this command is alive.
	 */
	if ((rc = sgt_tx_unlock(b.tx)) != SGT_OK ||
	    (rc = sgt_verifier_start(s.devkey, s.md, nimages > 1, &ver)) != SGT_OK)
		goto out;
	/*
	 * The pipeline: the token signs image i while the verifier checks image
	 * i-1, which is then staged.  Records keep the images' order.
	 */
	for (i = 0;; i++) {
		struct made *cur = &made[i % 2], *prev = &made[(i + 1) % 2];
		int go = rc == SGT_OK && i < nimages;

		/* Ctrl-C waits while the token works; between images it stops the batch cleanly. */
		if (go && sgt_sig_pending()) {
			rc = sgt_err(SGT_ERR_DATA, "interrupted: %d of %d images signed", i, nimages);
			go = 0;
		}
		if (go)
			rc = sign_image(&s, images[i], cur);
		if (in_flight) {
			r2 = stage_image(ctx, &s, prev, sgt_verifier_wait(ver), out, ota, cert_name, &b);
			rc = rc == SGT_OK ? r2 : rc;
			free(prev->sig);
			prev->sig = NULL;
			in_flight = 0;
		}
		if (!go || rc != SGT_OK)
			break;
		sgt_verifier_submit(ver, cur->dgst, cur->dlen, cur->sig, cur->siglen);
		in_flight = 1;
	}
	free(made[0].sig);
	free(made[1].sig);
	sgt_verifier_stop(ver);
	ver = NULL;
	/* What was signed before a failure or an interruption is kept, with its records. */
	if ((r2 = sgt_tx_relock(b.tx)) != SGT_OK || (r2 = commit_batch(ctx, &s, &b, results)) != SGT_OK)
		rc = rc == SGT_OK ? r2 : rc;
	/* Not committed: sgt_tx_free at the end rolls back (nothing was recorded, nothing is put in place). */
	if (rc != SGT_OK)
		goto out;
	if (upd.path != NULL && b.ota_sha != NULL && !ctx->json) {
		if (!sgt_quiet) {
			printf("wrote %s (aws iot create-ota-update --cli-input-json file://%s) and %s.README\n", upd.path,
			       upd.path, upd.path);
			printf("image SHA-256 (base64, for aws s3api put-object --checksum-sha256): %s\n", b.ota_sha);
		}
		sgt_warn("AWS CLI v1, or v2 with '--cli-binary-format raw-in-base64-out', base64-encodes the signature again: devices then reject the image (0xe3)");
	}
	if (ctx->json && !(out && strcmp(out, "-") == 0)) {
		rc = cmd_json_print(json_pack("{s:o}", "signed", results));
		results = NULL;
	}
out:
	sgt_verifier_stop(ver);
	for (i = 0; i < noutputs; i++)
		free(outputs[i]);
	free(outputs);
	sgt_tx_free(b.tx);
	json_decref(b.shown);
	sgt_buf_free(&b.sigout);
	free(b.ota_sha);
	json_decref(results);
	EVP_PKEY_free(s.priv);
	EVP_PKEY_free(s.pub);
	sgt_token_free(s.tok);
	json_decref(s.approval);
	sgt_policy_free(s.pol);
	X509_free(s.cert);
	free(s.cert_pem);
	if (opened)
		sgt_store_release(&s.st);
early:
	free(images);
	free(approvals);
	return rc;
}
