/*
 * header.c: the C forms of a code-signing certificate.  The PEM forms
 * keep one string literal per PEM line ending in "\n" so that the
 * compiled constant is exactly the PEM text plus a NUL, which is what
 * ESP32's ota_pal hands to mbedtls_x509_crt_parse (length including the
 * NUL).  The byte-array forms give a length macro rather than a const
 * variable so that a file including the header but not using the length
 * still compiles with -Wall -Werror.  The comment block names the
 * certificate so a reviewer can tell which key a firmware build trusts.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "extract.h"
#include "header.h"

static const char *const format_names[] = { "ota-pal", "codesigner", "der", "pubkey" };
static const char *const default_names[] = {
	"otapalconfigCODE_SIGNING_CERTIFICATE",
	"signingcredentialSIGNING_CERTIFICATE_PEM",
	"signetCODE_SIGNING_CERTIFICATE_DER",
	"signetCODE_SIGNING_PUBLIC_KEY_DER",
};

int sgt_header_format_parse(const char *s, enum sgt_header_format *out)
{
	size_t i;

	for (i = 0; i < sizeof(format_names) / sizeof(format_names[0]); i++)
		if (strcmp(s, format_names[i]) == 0) {
			*out = (enum sgt_header_format)i;
			return SGT_OK;
		}
	return SGT_ERR_USAGE;
}

const char *sgt_header_format_name(enum sgt_header_format f) { return format_names[f]; }
const char *sgt_header_default_name(enum sgt_header_format f) { return default_names[f]; }

int sgt_header_name_ok(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n > 100 || !(isalpha((unsigned char)name[0]) || name[0] == '_'))
		return 0;
	for (i = 1; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '_')
			return 0;
	return 1;
}

/*
 * Subjects come from certificates we may not have issued: keep the
 * comment a comment (no "*" + "/") and plain ASCII.
 */
static int comment_line(struct sgt_buf *b, const char *label, const char *value)
{
	char clean[300];
	size_t i, j = 0;

	for (i = 0; value[i] && j + 1 < sizeof(clean); i++) {
		unsigned char c = (unsigned char)value[i];

		if (c < 0x20 || c > 0x7e)
			c = '?';
		if (c == '/' && j > 0 && clean[j - 1] == '*')
			c = '_';
		clean[j++] = (char)c;
	}
	clean[j] = '\0';
	return sgt_buf_printf(b, " * %-13s %s\n", label, clean);
}

static int bytes(struct sgt_buf *b, const unsigned char *p, size_t n)
{
	size_t i;
	int rc = SGT_OK;

	for (i = 0; i < n && rc == SGT_OK; i++)
		rc = sgt_buf_printf(b, "%s0x%02x%s", i % 12 == 0 ? "\t" : " ", p[i],
				    i + 1 == n ? "\n" : (i % 12 == 11 ? ",\n" : ","));
	return rc;
}

static int pem_of(X509 *cert, struct sgt_buf *pem)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *p;
	long n;
	int rc = SGT_ERR_DATA;

	if (bio == NULL || PEM_write_bio_X509(bio, cert) != 1)
		goto out;
	n = BIO_get_mem_data(bio, &p);
	if (n > 0 && sgt_buf_add(pem, p, (size_t)n) == SGT_OK)
		rc = SGT_OK;
out:
	BIO_free(bio);
	return rc;
}

static int pem_literals(struct sgt_buf *b, const struct sgt_buf *pem, const char *indent, const char *cont,
			const char *last)
{
	size_t i = 0;
	int rc = SGT_OK;

	while (i < pem->len && rc == SGT_OK) {
		const char *nl = memchr(pem->p + i, '\n', pem->len - i);
		size_t n = nl ? (size_t)(nl - (pem->p + i)) : pem->len - i;
		int is_last = i + n + 1 >= pem->len;

		rc = sgt_buf_printf(b, "%s\"%.*s\\n\"%s\n", indent, (int)n, pem->p + i, is_last ? last : cont);
		i += n + 1;
	}
	return rc;
}

int sgt_header_render(enum sgt_header_format f, X509 *cert, EVP_PKEY *pub, const char *name, struct sgt_buf *out)
{
	struct sgt_keyinfo info;
	struct sgt_buf pem = { 0 }, b = { 0 };
	unsigned char *der = NULL;
	char guard[128], when[32];
	size_t i;
	int n, rc;

	if (name == NULL)
		name = default_names[f];
	if (cert == NULL && f != SGT_HEADER_PUBKEY)
		return sgt_err(SGT_ERR_USAGE, "the %s format needs a certificate, not a bare public key", format_names[f]);
	if (cert != NULL)
		pub = X509_get0_pubkey(cert);
	if (pub == NULL)
		return sgt_err(SGT_ERR_DATA, "certificate has no readable public key: %s", sgt_ossl_why());
	if ((rc = sgt_keyinfo_get(cert, pub, &info)) != SGT_OK)
		return rc;

	snprintf(guard, sizeof(guard), "SIGNET_%s_H", name);
	for (i = 0; guard[i]; i++)
		guard[i] = (char)toupper((unsigned char)guard[i]);
	rc = sgt_buf_printf(&b, "/*\n * %s, exported by signet (format %s).\n",
			    f == SGT_HEADER_PUBKEY ? "Code-signing public key (DER SubjectPublicKeyInfo)"
						   : "Code-signing certificate for FreeRTOS OTA", format_names[f]);
	if (rc == SGT_OK && cert != NULL) {
		rc = comment_line(&b, "subject:", info.subject);
		if (rc == SGT_OK)
			rc = comment_line(&b, "issuer:", info.issuer);
		if (rc == SGT_OK)
			rc = comment_line(&b, "serial:", info.serial);
		sgt_time_iso(info.not_before, when);
		if (rc == SGT_OK)
			rc = comment_line(&b, "not before:", when);
		sgt_time_iso(info.not_after, when);
		if (rc == SGT_OK)
			rc = comment_line(&b, "not after:", when);
	}
	if (rc == SGT_OK)
		rc = comment_line(&b, "key:", info.alg);
	if (rc == SGT_OK)
		rc = comment_line(&b, "SPKI SHA-256:", info.spki_sha256);
	if (rc == SGT_OK)
		rc = sgt_buf_printf(&b, " *\n * The device checks update signatures with this public key only;\n"
				    " * sign images with the matching key: signet sign IMAGE --key LABEL.\n"
				    " */\n#ifndef %s\n#define %s\n\n", guard, guard);
	if (rc != SGT_OK)
		goto out;

	switch (f) {
	case SGT_HEADER_OTA_PAL:
	case SGT_HEADER_CODESIGNER:
		if ((rc = pem_of(cert, &pem)) != SGT_OK) {
			rc = sgt_err(SGT_ERR_DATA, "cannot encode the certificate as PEM: %s", sgt_ossl_why());
			goto out;
		}
		if (f == SGT_HEADER_OTA_PAL)
			rc = sgt_buf_printf(&b, "#define %s \\\n", name);
		else
			rc = sgt_buf_printf(&b, "static const char %s[] =\n", name);
		if (rc == SGT_OK)
			rc = pem_literals(&b, &pem, f == SGT_HEADER_OTA_PAL ? "    " : "\t",
					  f == SGT_HEADER_OTA_PAL ? " \\" : "", f == SGT_HEADER_OTA_PAL ? "" : ";");
		break;
	case SGT_HEADER_DER:
	case SGT_HEADER_PUBKEY:
		n = f == SGT_HEADER_DER ? i2d_X509(cert, &der) : i2d_PUBKEY(pub, &der);
		if (n <= 0) {
			rc = sgt_err(SGT_ERR_DATA, "cannot encode the %s as DER: %s",
				     f == SGT_HEADER_DER ? "certificate" : "public key", sgt_ossl_why());
			goto out;
		}
		rc = sgt_buf_printf(&b, "#define %s_LEN %d\n\nstatic const unsigned char %s[%d] = {\n", name, n, name, n);
		if (rc == SGT_OK)
			rc = bytes(&b, der, (size_t)n);
		if (rc == SGT_OK)
			rc = sgt_buf_printf(&b, "};\n");
		break;
	}
	if (rc == SGT_OK)
		rc = sgt_buf_printf(&b, "\n#endif /* %s */\n", guard);
	if (rc == SGT_OK)
		rc = sgt_buf_add(out, b.p, b.len);
out:
	OPENSSL_free(der);
	sgt_buf_free(&pem);
	sgt_buf_free(&b);
	return rc;
}
