/*
 * backup_seal.c: the backup archive's envelopes (docs/backup.md): a
 * passphrase through scrypt to AES-256-GCM with the header as additional
 * data, or CMS AuthEnvelopedData (AES-256-GCM) to a recipient
 * certificate; reading a passphrase and a recipient's private key.
 * Opening an envelope authenticates every byte before anything is
 * returned.  Floor: formats (pure): it uses sgt.h and OpenSSL only, never
 * a store, a token or stdout; backup.c packs what it seals.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/cms.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/ec.h>
#include <openssl/pem.h>

#include "backup_seal.h"
#include "fsio.h"

#define HDR_FIXED 10		/* magic, version, kind */
#define SALT_LEN 16
#define NONCE_LEN 12
#define TAG_LEN 16
#define PASS_HDR_LEN (HDR_FIXED + 1 + 4 + 4 + SALT_LEN + NONCE_LEN)	/* 47 */

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- passphrases ---- */

void sgt_backup_pass_wipe(struct sgt_pass *pass)
{
	OPENSSL_cleanse(pass, sizeof(*pass));
}

/* One line from fd (sgt_secret_line: the same reader as a PIN's). */
static int pass_read(int fd, const char *what, struct sgt_pass *pass)
{
	return sgt_secret_line(fd, what, "the passphrase", pass->value, sizeof(pass->value), &pass->len);
}

int sgt_backup_pass_file(const char *path, struct sgt_pass *pass)
{
	char what[4200];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc;

	if (fd < 0) {
		sgt_backup_pass_wipe(pass);
		return sgt_err(SGT_ERR_DATA, "cannot read passphrase file '%s': %s", path, strerror(errno));
	}
	snprintf(what, sizeof(what), "'%s'", path);
	rc = pass_read(fd, what, pass);
	close(fd);
	return rc;
}

int sgt_backup_pass_fd(int fd, struct sgt_pass *pass)
{
	char what[48];

	snprintf(what, sizeof(what), "file descriptor %d", fd);
	return pass_read(fd, what, pass);
}

void sgt_backup_secret_free(unsigned char *p, size_t len)
{
	if (p != NULL)
		OPENSSL_cleanse(p, len);
	free(p);
}

/* ---- envelopes ---- */

int sgt_backup_kind(const unsigned char *arch, size_t len, char why[128])
{
	why[0] = '\0';
	if (len < HDR_FIXED || memcmp(arch, SGT_BACKUP_MAGIC, 8) != 0) {
		snprintf(why, 128, "not a signet backup (no '%s' header)", SGT_BACKUP_MAGIC);
		return SGT_ERR_DATA;
	}
	if (arch[8] != SGT_BACKUP_VERSION) {
		snprintf(why, 128, "backup format version %u is not supported (this signet reads %d)", arch[8],
			 SGT_BACKUP_VERSION);
		return SGT_ERR_DATA;
	}
	if (arch[9] == SGT_BACKUP_KIND_SCRYPT && len < PASS_HDR_LEN + TAG_LEN) {
		snprintf(why, 128, "the archive is truncated (%zu bytes)", len);
		return SGT_ERR_DATA;
	}
	if (arch[9] != SGT_BACKUP_KIND_SCRYPT && arch[9] != SGT_BACKUP_KIND_CMS) {
		snprintf(why, 128, "unknown encryption kind %u", arch[9]);
		return SGT_ERR_DATA;
	}
	return arch[9];
}

static int kdf_check(const struct sgt_scrypt *k, char why[128])
{
	uint64_t n, mem;

	if (k->log2n < SGT_SCRYPT_LOG2N_MIN || k->log2n > SGT_SCRYPT_LOG2N_MAX || k->r < 1 || k->r > 32 || k->p < 1 ||
	    k->p > 16) {
		snprintf(why, 128, "scrypt parameters N=2^%u r=%u p=%u are outside what signet accepts", k->log2n,
			 (unsigned)k->r, (unsigned)k->p);
		return SGT_ERR_DATA;
	}
	n = (uint64_t)1 << k->log2n;
	mem = 128ULL * k->r * (n + 2) + 128ULL * k->r * k->p;
	if (mem > SGT_SCRYPT_MAXMEM) {
		snprintf(why, 128, "scrypt parameters N=2^%u r=%u p=%u need more than %lu MiB", k->log2n,
			 (unsigned)k->r, (unsigned)k->p, SGT_SCRYPT_MAXMEM >> 20);
		return SGT_ERR_DATA;
	}
	return SGT_OK;
}

static int derive(const struct sgt_pass *pass, const unsigned char *salt, const struct sgt_scrypt *k,
		  unsigned char key[32])
{
	/* The one slow step of a backup or restore (about 3 s at the default cost): -v says so before it. */
	sgt_verbose("deriving the archive key (scrypt N=2^%u, a few seconds)...", k->log2n);
	if (EVP_PBE_scrypt(pass->value, pass->len, salt, SALT_LEN, (uint64_t)1 << k->log2n, k->r, k->p,
			   SGT_SCRYPT_MAXMEM + (1UL << 20), key, 32) != 1)
		return SGT_ERR_DATA;
	return SGT_OK;
}

/* AES-256-GCM over in with aad; enc=1 writes the tag to tag, enc=0 checks it. */
static int gcm(int enc, const unsigned char key[32], const unsigned char *nonce, const unsigned char *aad,
	       size_t aadlen, const unsigned char *in, size_t len, unsigned char *out, unsigned char *tag)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	size_t done = 0;
	int n, ok = c != NULL;

	ok = ok && EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) == 1;
	ok = ok && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) == 1;
	ok = ok && EVP_CipherInit_ex(c, NULL, NULL, key, nonce, enc) == 1;
	ok = ok && EVP_CipherUpdate(c, NULL, &n, aad, (int)aadlen) == 1;
	while (ok && done < len) {
		int chunk = len - done > (1U << 30) ? (1 << 30) : (int)(len - done);

		ok = EVP_CipherUpdate(c, out + done, &n, in + done, chunk) == 1 && n == chunk;
		done += (size_t)chunk;
	}
	if (ok && !enc)
		ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) == 1;
	ok = ok && EVP_CipherFinal_ex(c, out + done, &n) == 1;
	if (ok && enc)
		ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) == 1;
	EVP_CIPHER_CTX_free(c);
	return ok ? SGT_OK : SGT_ERR_DATA;
}

int sgt_backup_seal_pass(const unsigned char *payload, size_t len, const struct sgt_pass *pass,
			 const struct sgt_scrypt *kdf, unsigned char **out, size_t *outlen)
{
	unsigned char key[32], *buf;
	char why[128];
	size_t total = PASS_HDR_LEN + len + TAG_LEN;
	int rc;

	*out = NULL;
	*outlen = 0;
	if (kdf_check(kdf, why) != SGT_OK)
		return sgt_err(SGT_ERR_USAGE, "%s", why);
	if (len > SGT_BACKUP_MAX || (buf = malloc(total)) == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	memcpy(buf, SGT_BACKUP_MAGIC, 8);
	buf[8] = SGT_BACKUP_VERSION;
	buf[9] = SGT_BACKUP_KIND_SCRYPT;
	buf[10] = (unsigned char)kdf->log2n;
	put32(buf + 11, kdf->r);
	put32(buf + 15, kdf->p);
	if ((rc = sgt_random(buf + 19, SALT_LEN + NONCE_LEN)) != SGT_OK) {
		free(buf);
		return rc;
	}
	if (derive(pass, buf + 19, kdf, key) != SGT_OK) {
		rc = sgt_err(SGT_ERR_DATA, "cannot derive the backup key with scrypt: %s", sgt_ossl_why());
		goto out;
	}
	if (gcm(1, key, buf + 19 + SALT_LEN, buf, PASS_HDR_LEN, payload, len, buf + PASS_HDR_LEN,
		buf + PASS_HDR_LEN + len) != SGT_OK) {
		rc = sgt_err(SGT_ERR_DATA, "cannot encrypt the backup: %s", sgt_ossl_why());
		goto out;
	}
	*out = buf;
	*outlen = total;
	buf = NULL;
out:
	OPENSSL_cleanse(key, sizeof(key));
	free(buf);
	return rc;
}

int sgt_backup_open_pass(const unsigned char *arch, size_t len, const struct sgt_pass *pass,
			 unsigned char **payload, size_t *plen, struct sgt_scrypt *kdf, char why[128])
{
	struct sgt_scrypt k;
	unsigned char key[32], tag[TAG_LEN], *buf = NULL;
	size_t clen;
	int rc;

	*payload = NULL;
	*plen = 0;
	if ((rc = sgt_backup_kind(arch, len, why)) < 0)
		return rc;
	if (rc != SGT_BACKUP_KIND_SCRYPT) {
		snprintf(why, 128, "the archive is encrypted to a recipient certificate; restore it with --recipient-key");
		return SGT_ERR_USAGE;
	}
	k.log2n = arch[10];
	k.r = get32(arch + 11);
	k.p = get32(arch + 15);
	if (kdf != NULL)
		*kdf = k;
	if (kdf_check(&k, why) != SGT_OK)
		return SGT_ERR_DATA;
	clen = len - PASS_HDR_LEN - TAG_LEN;
	if ((buf = malloc(clen ? clen : 1)) == NULL) {
		snprintf(why, 128, "out of memory");
		return SGT_ERR_DATA;
	}
	if (derive(pass, arch + 19, &k, key) != SGT_OK) {
		snprintf(why, 128, "scrypt failed: %s", sgt_ossl_why());
		rc = SGT_ERR_DATA;
		goto out;
	}
	memcpy(tag, arch + len - TAG_LEN, TAG_LEN);
	if (gcm(0, key, arch + 19 + SALT_LEN, arch, PASS_HDR_LEN, arch + PASS_HDR_LEN, clen, buf, tag) != SGT_OK) {
		ERR_clear_error();
		snprintf(why, 128, "wrong passphrase, or the archive is damaged (authentication failed)");
		rc = SGT_ERR_DATA;
		goto out;
	}
	*payload = buf;
	*plen = clen;
	buf = NULL;
	rc = SGT_OK;
out:
	OPENSSL_cleanse(key, sizeof(key));
	sgt_backup_secret_free(buf, clen);
	return rc;
}

/* RSA recipients get OAEP with SHA-256, EC recipients an X9.63 KDF with SHA-256. */
static int recipient_params(CMS_RecipientInfo *ri, X509 *cert)
{
	EVP_PKEY_CTX *pctx = CMS_RecipientInfo_get0_pkey_ctx(ri);
	EVP_PKEY *pk = X509_get0_pubkey(cert);

	if (pctx == NULL || pk == NULL)
		return SGT_ERR_DATA;
	if (EVP_PKEY_is_a(pk, "RSA"))
		return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) > 0 &&
		       EVP_PKEY_CTX_set_rsa_oaep_md(pctx, EVP_sha256()) > 0 ? SGT_OK : SGT_ERR_DATA;
	if (EVP_PKEY_is_a(pk, "EC"))
		return EVP_PKEY_CTX_set_ecdh_kdf_md(pctx, EVP_sha256()) > 0 ? SGT_OK : SGT_ERR_DATA;
	return SGT_OK;
}

int sgt_backup_seal_cms(const unsigned char *payload, size_t len, X509 *recipient, unsigned char **out,
			size_t *outlen)
{
	CMS_ContentInfo *cms = NULL;
	CMS_RecipientInfo *ri;
	BIO *in = NULL;
	unsigned char *der = NULL, *p, *buf = NULL;
	int dlen, rc = SGT_ERR_DATA;

	*out = NULL;
	*outlen = 0;
	if (len > INT_MAX)
		return sgt_err(SGT_ERR_DATA, "the store is too large for a CMS backup");
	/* AES-256-GCM makes CMS_encrypt build AuthEnvelopedData (RFC 5083): the tag covers every byte. */
	if ((in = BIO_new_mem_buf(payload, (int)len)) == NULL ||
	    (cms = CMS_encrypt(NULL, NULL, EVP_aes_256_gcm(), CMS_BINARY | CMS_PARTIAL)) == NULL ||
	    (ri = CMS_add1_recipient_cert(cms, recipient, CMS_KEY_PARAM)) == NULL) {
		sgt_err(SGT_ERR_DATA, "cannot encrypt the backup to the recipient certificate: %s", sgt_ossl_why());
		goto out;
	}
	if (recipient_params(ri, recipient) != SGT_OK) {
		sgt_err(SGT_ERR_DATA, "cannot set up key transport to the recipient certificate: %s", sgt_ossl_why());
		goto out;
	}
	if (CMS_final(cms, in, NULL, CMS_BINARY) != 1 || (dlen = i2d_CMS_ContentInfo(cms, &der)) <= 0) {
		sgt_err(SGT_ERR_DATA, "cannot encrypt the backup to the recipient certificate: %s", sgt_ossl_why());
		goto out;
	}
	if ((buf = malloc(HDR_FIXED + (size_t)dlen)) == NULL) {
		sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	memcpy(buf, SGT_BACKUP_MAGIC, 8);
	buf[8] = SGT_BACKUP_VERSION;
	buf[9] = SGT_BACKUP_KIND_CMS;
	p = buf + HDR_FIXED;
	memcpy(p, der, (size_t)dlen);
	*out = buf;
	*outlen = HDR_FIXED + (size_t)dlen;
	rc = SGT_OK;
out:
	OPENSSL_free(der);
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	return rc;
}

int sgt_backup_open_cms(const unsigned char *arch, size_t len, EVP_PKEY *key, X509 *cert, unsigned char **payload,
			size_t *plen, char why[128])
{
	const unsigned char *p;
	CMS_ContentInfo *cms = NULL;
	BIO *out = NULL;
	BUF_MEM *mem = NULL;
	int rc;

	*payload = NULL;
	*plen = 0;
	if ((rc = sgt_backup_kind(arch, len, why)) < 0)
		return rc;
	if (rc != SGT_BACKUP_KIND_CMS) {
		snprintf(why, 128, "the archive is encrypted with a passphrase; restore it with --passphrase-file or --passphrase-fd");
		return SGT_ERR_USAGE;
	}
	rc = SGT_ERR_DATA;
	p = arch + HDR_FIXED;
	if (len - HDR_FIXED > LONG_MAX || (cms = d2i_CMS_ContentInfo(NULL, &p, (long)(len - HDR_FIXED))) == NULL ||
	    p != arch + len) {
		ERR_clear_error();
		snprintf(why, 128, "the archive is damaged (its CMS structure does not parse)");
		goto out;
	}
	/* Plain EnvelopedData has no integrity tag: only AuthEnvelopedData is accepted. */
	if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_id_smime_ct_authEnvelopedData) {
		snprintf(why, 128, "the archive is not CMS AuthEnvelopedData, so its integrity cannot be checked");
		goto out;
	}
	/* A secure-heap BIO: the decrypted store (PINs, token files) is wiped when freed. */
	if ((out = BIO_new(BIO_s_secmem())) == NULL) {
		snprintf(why, 128, "out of memory");
		goto out;
	}
	if (CMS_decrypt(cms, key, cert, NULL, out, CMS_BINARY) != 1) {
		ERR_clear_error();
		snprintf(why, 128, "the recipient key does not open it, or the archive is damaged (authentication failed)");
		goto out;
	}
	BIO_get_mem_ptr(out, &mem);
	if (mem == NULL || (*payload = malloc(mem->length ? mem->length : 1)) == NULL) {
		snprintf(why, 128, "out of memory");
		goto out;
	}
	memcpy(*payload, mem->data, mem->length);
	*plen = mem->length;
	rc = SGT_OK;
out:
	BIO_free(out);
	CMS_ContentInfo_free(cms);
	return rc;
}

static int pem_pass_cb(char *buf, int size, int rwflag, void *u)
{
	const struct sgt_pass *pass = u;

	(void)rwflag;
	if (pass == NULL || pass->len > (size_t)size)
		return -1;
	memcpy(buf, pass->value, pass->len);
	return (int)pass->len;
}

int sgt_backup_load_key(const char *path, const struct sgt_pass *pass, EVP_PKEY **out)
{
	unsigned char *data = NULL;
	size_t len = 0;
	BIO *bio = NULL;
	int rc;

	*out = NULL;
	if ((rc = sgt_file_read(path, 1 << 20, &data, &len)) != SGT_OK)
		return rc;
	if ((bio = BIO_new_mem_buf(data, (int)len)) != NULL)
		*out = PEM_read_bio_PrivateKey(bio, NULL, pem_pass_cb, (void *)pass);
	if (*out == NULL && bio != NULL) {
		const unsigned char *p = data;

		ERR_clear_error();
		*out = d2i_AutoPrivateKey(NULL, &p, (long)len);
	}
	if (*out == NULL)
		rc = sgt_err(SGT_ERR_DATA, "cannot read private key '%s': %s", path,
			     pass ? "not a PEM or DER private key, or the passphrase does not open it"
				  : "not a PEM or DER private key (an encrypted one needs --passphrase-file)");
	ERR_clear_error();
	BIO_free(bio);
	sgt_backup_secret_free(data, len);
	return rc;
}
