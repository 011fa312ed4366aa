/*
 * sign.c: hashing, signing and checking firmware images.  The image is
 * hashed in 64 KiB chunks so its size does not matter, then the digest is
 * signed with EVP_PKEY_sign: with a token key the private operation happens
 * on the token (libp11), and the result is exactly what mbedtls_pk_verify
 * and `openssl dgst -verify` accept (DER ECDSA, PKCS#1 v1.5 RSA).  Callers
 * verify every new signature with the public key before writing it, so a
 * token that returns garbage can never produce a shipped signature.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/rsa.h>

#include "hsmguard.h"
#include "sgt.h"
#include "sign.h"

const EVP_MD *sgt_sign_md(const char *name)
{
	if (strcmp(name, "sha256") == 0)
		return EVP_sha256();
	if (strcmp(name, "sha1") == 0)
		return EVP_sha1();
	if (strcmp(name, "sha384") == 0)
		return EVP_sha384();
	if (strcmp(name, "sha512") == 0)
		return EVP_sha512();
	return NULL;
}

const char *sgt_sign_md_aws(const EVP_MD *md)
{
	switch (EVP_MD_get_type(md)) {
	case NID_sha1: return "SHA1";
	case NID_sha384: return "SHA384";
	case NID_sha512: return "SHA512";
	default: return "SHA256";
	}
}

const char *sgt_sign_alg(EVP_PKEY *pk)
{
	switch (EVP_PKEY_get_base_id(pk)) {
	case EVP_PKEY_EC: return "ECDSA";
	case EVP_PKEY_RSA: return "RSA";
	default: return NULL;
	}
}

int sgt_sign_file_digest(const char *path, const EVP_MD *md, unsigned char *out, size_t *outlen, char sha256_hex[65])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	/* The audit record names the image by SHA-256 even when the policy signs SHA-1: one read, two digests. */
	EVP_MD_CTX *ctx256 = sha256_hex != NULL && EVP_MD_get_type(md) != NID_sha256 ? EVP_MD_CTX_new() : NULL;
	unsigned char *chunk = malloc(65536), d256[EVP_MAX_MD_SIZE];
	unsigned int n = 0, n256 = 0;
	unsigned long long total = 0;
	struct stat sb;
	ssize_t got;
	int fd = -1, rc = SGT_ERR_DATA, in = strcmp(path, "-") == 0;
	const char *name = in ? "standard input" : path;

	if (ctx == NULL || chunk == NULL || (sha256_hex != NULL && EVP_MD_get_type(md) != NID_sha256 && ctx256 == NULL)) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	/* '-': standard input, read once as it comes (a pipe cannot be read twice) */
	/* Opening a FIFO waits for its writer: as interruptible as the reads below. */
	sgt_sig_window_open();
	fd = in ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	sgt_sig_window_close();
	if (fd < 0) {
		rc = errno == EINTR && sgt_sig_pending() ? sgt_err(SGT_ERR_DATA, "interrupted while opening image '%s'", path)
							 : sgt_err(SGT_ERR_DATA, "cannot read image '%s': %s", path, strerror(errno));
		goto out;
	}
	/* A device (/dev/zero, a terminal, a disk) is not an image file; '-' reads whatever standard input is. */
	if (!in && fstat(fd, &sb) == 0 && (S_ISCHR(sb.st_mode) || S_ISBLK(sb.st_mode))) {
		rc = sgt_err(SGT_ERR_DATA, "cannot read image '%s': it is a %s device, not an image file", path,
			     S_ISCHR(sb.st_mode) ? "character" : "block");
		goto out;
	}
	if (EVP_DigestInit_ex(ctx, md, NULL) != 1 || (ctx256 && EVP_DigestInit_ex(ctx256, EVP_sha256(), NULL) != 1))
		goto crypto;
	for (;;) {
		/* A pipe or FIFO may never end: SIGINT/SIGTERM get through even while signals are held. */
		sgt_sig_window_open();
		got = read(fd, chunk, 65536);
		sgt_sig_window_close();
		/* caught during the read, or pending from before it (delivered as the window opened) */
		if (sgt_sig_pending()) {
			rc = sgt_err(SGT_ERR_DATA, "interrupted while reading %s%s%s", in ? "" : "image '", in ? "standard input" : path,
				     in ? "" : "'");
			goto out;
		}
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		if ((total += (unsigned long long)got) > SGT_IMAGE_MAX) {
			rc = sgt_err(SGT_ERR_DATA, "%s%s%s is larger than %llu bytes (2 GiB), the largest image signet signs",
				     in ? "" : "image '", in ? "standard input" : path, in ? "" : "'", (unsigned long long)SGT_IMAGE_MAX);
			goto out;
		}
		if (EVP_DigestUpdate(ctx, chunk, (size_t)got) != 1 ||
		    (ctx256 && EVP_DigestUpdate(ctx256, chunk, (size_t)got) != 1))
			goto crypto;
	}
	if (got < 0) {
		rc = in ? sgt_err(SGT_ERR_DATA, "cannot read the image from standard input: %s", strerror(errno))
			: sgt_err(SGT_ERR_DATA, "cannot read image '%s': %s", path, strerror(errno));
		goto out;
	}
	if (EVP_DigestFinal_ex(ctx, out, &n) != 1 || (ctx256 && EVP_DigestFinal_ex(ctx256, d256, &n256) != 1))
		goto crypto;
	*outlen = n;
	if (sha256_hex != NULL)
		sgt_hex(ctx256 ? d256 : out, ctx256 ? n256 : n, sha256_hex);
	rc = SGT_OK;
	goto out;
crypto:
	rc = sgt_err(SGT_ERR_DATA, "cannot hash %s%s%s: %s", in ? "" : "'", name, in ? "" : "'", sgt_ossl_why());
out:
	if (fd >= 0 && !in)
		close(fd);
	free(chunk);
	EVP_MD_CTX_free(ctx);
	EVP_MD_CTX_free(ctx256);
	return rc;
}

/* The same context set-up for signing and verifying. */
static EVP_PKEY_CTX *pctx_for(EVP_PKEY *pk, const EVP_MD *md, int verify)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pk, NULL);

	if (ctx == NULL)
		return NULL;
	if ((verify ? EVP_PKEY_verify_init(ctx) : EVP_PKEY_sign_init(ctx)) != 1 ||
	    EVP_PKEY_CTX_set_signature_md(ctx, md) != 1 ||
	    (EVP_PKEY_get_base_id(pk) == EVP_PKEY_RSA && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) != 1)) {
		EVP_PKEY_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

int sgt_sign_digest(EVP_PKEY *priv, const char *label, const EVP_MD *md, const unsigned char *dgst, size_t dlen,
		    unsigned char **sig, size_t *siglen)
{
	EVP_PKEY_CTX *ctx;
	unsigned char *buf = NULL;
	size_t len = 0;
	int rc = SGT_ERR_HSM;

	*sig = NULL;
	*siglen = 0;
	if (sgt_sign_alg(priv) == NULL)
		return sgt_err(SGT_ERR_DATA, "key '%s' is neither ECDSA nor RSA and cannot sign OTA images", label);
	if ((ctx = pctx_for(priv, md, 0)) == NULL)
		return sgt_err(SGT_ERR_HSM, "cannot prepare signing with key '%s': %s", label, sgt_ossl_why());
	if (EVP_PKEY_sign(ctx, NULL, &len, dgst, dlen) != 1 || len == 0 || len > SGT_SIGN_MAX_SIG * 2)
		goto fail;
	if ((buf = malloc(len)) == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	if (EVP_PKEY_sign(ctx, buf, &len, dgst, dlen) != 1)
		goto fail;
	*sig = buf;
	*siglen = len;
	buf = NULL;
	rc = SGT_OK;
	goto out;
fail:
	rc = sgt_err(SGT_ERR_HSM, "signing with key '%s' failed on the token: %s", label, sgt_ossl_why());
out:
	free(buf);
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

int sgt_sign_verify_digest(EVP_PKEY *pub, const EVP_MD *md, const unsigned char *dgst, size_t dlen,
			   const unsigned char *sig, size_t siglen)
{
	EVP_PKEY_CTX *ctx = pctx_for(pub, md, 1);
	int ok = ctx != NULL && EVP_PKEY_verify(ctx, sig, siglen, dgst, dlen) == 1;

	EVP_PKEY_CTX_free(ctx);
	/* a bad signature leaves errors queued: dropped, touching nothing else (the verifier's thread calls this) */
	ERR_clear_error();
	return ok ? SGT_OK : SGT_ERR_VERDICT;
}

struct sgt_verifier {
	EVP_PKEY *pub;			/* the verifier's own reference */
	const EVP_MD *md;
	int threaded, stop;
	enum { V_IDLE, V_QUEUED, V_DONE } state;
	unsigned char dgst[EVP_MAX_MD_SIZE], sig[SGT_SIGN_MAX_SIG];
	size_t dlen, siglen;
	int verdict;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

static int verify_quietly(struct sgt_verifier *v)
{
	return sgt_sign_verify_digest(v->pub, v->md, v->dgst, v->dlen, v->sig, v->siglen);
}

static void *verifier_main(void *arg)
{
	struct sgt_verifier *v = arg;

	pthread_mutex_lock(&v->mu);
	for (;;) {
		while (v->state != V_QUEUED && !v->stop)
			pthread_cond_wait(&v->cv, &v->mu);
		if (v->stop)
			break;
		pthread_mutex_unlock(&v->mu);
		v->verdict = verify_quietly(v);
		pthread_mutex_lock(&v->mu);
		v->state = V_DONE;
		pthread_cond_broadcast(&v->cv);
	}
	pthread_mutex_unlock(&v->mu);
	OPENSSL_thread_stop();
	return NULL;
}

int sgt_verifier_start(EVP_PKEY *pub, const EVP_MD *md, int threaded, struct sgt_verifier **out)
{
	struct sgt_verifier *v = calloc(1, sizeof(*v));
	sigset_t all, old;

	*out = NULL;
	if (v == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	if (EVP_PKEY_up_ref(pub) != 1) {
		free(v);
		return sgt_err(SGT_ERR_DATA, "out of memory");
	}
	v->pub = pub;
	v->md = md;
	pthread_mutex_init(&v->mu, NULL);
	pthread_cond_init(&v->cv, NULL);
	if (threaded) {
		/* Signals stay with the main thread, which holds and checks them between images. */
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		v->threaded = pthread_create(&v->thread, NULL, verifier_main, v) == 0;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	*out = v;
	return SGT_OK;
}

void sgt_verifier_submit(struct sgt_verifier *v, const unsigned char *dgst, size_t dlen, const unsigned char *sig,
			 size_t siglen)
{
	pthread_mutex_lock(&v->mu);
	while (v->state == V_QUEUED)	/* one in flight: the caller waits for each before the next */
		pthread_cond_wait(&v->cv, &v->mu);
	v->dlen = dlen <= sizeof(v->dgst) ? dlen : 0;
	v->siglen = siglen <= sizeof(v->sig) ? siglen : 0;
	memcpy(v->dgst, dgst, v->dlen);
	memcpy(v->sig, sig, v->siglen);
	if (v->threaded) {
		v->state = V_QUEUED;
		pthread_cond_broadcast(&v->cv);
	} else {
		v->verdict = verify_quietly(v);
		v->state = V_DONE;
	}
	pthread_mutex_unlock(&v->mu);
}

int sgt_verifier_wait(struct sgt_verifier *v)
{
	int verdict;

	pthread_mutex_lock(&v->mu);
	while (v->state == V_QUEUED)
		pthread_cond_wait(&v->cv, &v->mu);
	verdict = v->state == V_DONE ? v->verdict : SGT_ERR_VERDICT;
	v->state = V_IDLE;
	pthread_mutex_unlock(&v->mu);
	return verdict;
}

void sgt_verifier_stop(struct sgt_verifier *v)
{
	if (v == NULL)
		return;
	if (v->threaded) {
		pthread_mutex_lock(&v->mu);
		v->stop = 1;
		pthread_cond_broadcast(&v->cv);
		pthread_mutex_unlock(&v->mu);
		pthread_join(v->thread, NULL);
	}
	pthread_mutex_destroy(&v->mu);
	pthread_cond_destroy(&v->cv);
	EVP_PKEY_free(v->pub);
	free(v);
}

int sgt_sign_read_sig(const char *path, unsigned char **sig, size_t *len)
{
	unsigned char *raw = NULL;
	size_t rawlen, i;
	int rc, text = 1;

	*sig = NULL;
	*len = 0;
	if ((rc = sgt_file_read(path, 64 * 1024, &raw, &rawlen)) != SGT_OK)
		return rc;
	/*
	 * Base64 text (as AWS carries it) is only base64 characters and
	 * blanks; bytes that are not printable text are the raw signature
	 * `openssl dgst -sign` writes (a DER ECDSA value always holds 0x02
	 * tags, RSA bytes are random), taken as they are.  Printable text that
	 * is not base64 is neither.
	 */
	for (i = 0; i < rawlen && text; i++) {
		unsigned char c = raw[i];

		text = (c >= 0x20 && c < 0x7f) || c == '\t' || c == '\r' || c == '\n';
	}
	if (!text) {
		if (rawlen > SGT_SIGN_MAX_SIG) {
			free(raw);
			return sgt_err(SGT_ERR_DATA, "'%s' is not a signature (%zu bytes: too long for one)", path, rawlen);
		}
		*sig = raw;
		*len = rawlen;
		return SGT_OK;
	}
	rc = sgt_unbase64((const char *)raw, rawlen, sig, len);
	free(raw);
	if (rc != SGT_OK || *len == 0 || *len > SGT_SIGN_MAX_SIG) {
		free(*sig);
		*sig = NULL;
		return sgt_err(SGT_ERR_DATA, "'%s' is not a signature (base64, DER or raw bytes expected)", path);
	}
	return SGT_OK;
}

json_t *sgt_sign_ota_json(const char *sig_b64, const char *cert_pem, const char *cert_name, const EVP_MD *md,
			  const char *alg)
{
	return json_pack("{s:{s:{s:s},s:{s:s,s:s},s:s,s:s}}", "customCodeSigning",
			 "signature", "inlineDocument", sig_b64,
			 "certificateChain", "certificateName", cert_name, "inlineDocument", cert_pem,
			 "hashAlgorithm", sgt_sign_md_aws(md), "signatureAlgorithm", alg);
}
