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

static const char *const format_names[] = { "ota-pal", "codesigner", "der", "pubkey", "pubkey-pem", "mcuboot",
					     "cert-der", "cert-pem" };
static const char *const default_names[] = {
	"otapalconfigCODE_SIGNING_CERTIFICATE",
	"signingcredentialSIGNING_CERTIFICATE_PEM",
	"signetCODE_SIGNING_CERTIFICATE_DER",
	"signetCODE_SIGNING_PUBLIC_KEY_DER",
	"signetCODE_SIGNING_PUBLIC_KEY_PEM",
	"ecdsa_pub_key",
	"",
	"",
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

int sgt_header_key_only(enum sgt_header_format f)
{
	return f == SGT_HEADER_PUBKEY || f == SGT_HEADER_PUBKEY_PEM || f == SGT_HEADER_MCUBOOT;
}

static int pubkey_pem_of(EVP_PKEY *pub, struct sgt_buf *pem)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *p;
	long n;
	int rc = SGT_ERR_DATA;

	if (bio == NULL || PEM_write_bio_PUBKEY(bio, pub) != 1)
		goto out;
	n = BIO_get_mem_data(bio, &p);
	if (n > 0 && sgt_buf_add(pem, p, (size_t)n) == SGT_OK)
		rc = SGT_OK;
out:
	BIO_free(bio);
	return rc;
}

/* MCUboot's default array names for the key type (imgtool getpub). */
static const char *mcuboot_name(EVP_PKEY *pub)
{
	switch (EVP_PKEY_get_base_id(pub)) {
	case EVP_PKEY_RSA: return "rsa_pub_key";
	case EVP_PKEY_ED25519: return "ed25519_pub_key";
	default: return "ecdsa_pub_key";
	}
}

int sgt_header_definition(enum sgt_header_format f, X509 *cert, EVP_PKEY *pub, const char *name, struct sgt_buf *b)
{
	struct sgt_buf pem = { 0 };
	unsigned char *der = NULL;
	int n, rc = SGT_OK;

	if (cert != NULL)
		pub = X509_get0_pubkey(cert);
	if (name == NULL)
		name = f == SGT_HEADER_MCUBOOT && pub != NULL ? mcuboot_name(pub) : default_names[f];
	switch (f) {
	case SGT_HEADER_OTA_PAL:
	case SGT_HEADER_CODESIGNER:
	case SGT_HEADER_PUBKEY_PEM:
		rc = f == SGT_HEADER_PUBKEY_PEM ? pubkey_pem_of(pub, &pem) : pem_of(cert, &pem);
		if (rc != SGT_OK) {
			rc = sgt_err(SGT_ERR_DATA, "cannot encode the %s as PEM: %s",
				     f == SGT_HEADER_PUBKEY_PEM ? "public key" : "certificate", sgt_ossl_why());
			goto out;
		}
		if (f == SGT_HEADER_CODESIGNER)
			rc = sgt_buf_printf(b, "static const char %s[] =\n", name);
		else
			rc = sgt_buf_printf(b, "#define %s \\\n", name);
		if (rc == SGT_OK)
			rc = pem_literals(b, &pem, f == SGT_HEADER_CODESIGNER ? "\t" : "    ",
					  f == SGT_HEADER_CODESIGNER ? "" : " \\", f == SGT_HEADER_CODESIGNER ? ";" : "");
		break;
	case SGT_HEADER_DER:
	case SGT_HEADER_PUBKEY:
	case SGT_HEADER_MCUBOOT:
		if (f == SGT_HEADER_DER)
			n = i2d_X509(cert, &der);
		else if (f == SGT_HEADER_MCUBOOT && EVP_PKEY_get_base_id(pub) == EVP_PKEY_RSA)
			n = i2d_PublicKey(pub, &der);	/* PKCS#1 RSAPublicKey, as MCUboot's RSA code reads */
		else
			n = i2d_PUBKEY(pub, &der);
		if (n <= 0) {
			rc = sgt_err(SGT_ERR_DATA, "cannot encode the %s as DER: %s",
				     f == SGT_HEADER_DER ? "certificate" : "public key", sgt_ossl_why());
			goto out;
		}
		if (f == SGT_HEADER_MCUBOOT)
			rc = sgt_buf_printf(b, "const unsigned char %s[] = {\n", name);
		else
			rc = sgt_buf_printf(b, "#define %s_LEN %d\n\nstatic const unsigned char %s[%d] = {\n", name, n, name, n);
		if (rc == SGT_OK)
			rc = bytes(b, der, (size_t)n);
		if (rc == SGT_OK)
			rc = sgt_buf_printf(b, "};\n");
		if (rc == SGT_OK && f == SGT_HEADER_MCUBOOT)
			rc = sgt_buf_printf(b, "const unsigned int %s_len = %d;\n", name, n);
		break;
	case SGT_HEADER_CERT_DER:
		if ((n = i2d_X509(cert, &der)) <= 0) {
			rc = sgt_err(SGT_ERR_DATA, "cannot encode the certificate as DER: %s", sgt_ossl_why());
			goto out;
		}
		rc = sgt_buf_add(b, der, (size_t)n);
		break;
	case SGT_HEADER_CERT_PEM:
		if ((rc = pem_of(cert, b)) != SGT_OK)
			rc = sgt_err(SGT_ERR_DATA, "cannot encode the certificate as PEM: %s", sgt_ossl_why());
		break;
	}
out:
	OPENSSL_free(der);
	sgt_buf_free(&pem);
	return rc;
}

int sgt_header_render(enum sgt_header_format f, X509 *cert, EVP_PKEY *pub, const char *name, struct sgt_buf *out)
{
	struct sgt_keyinfo info;
	struct sgt_buf b = { 0 };
	char guard[128], when[32];
	size_t i;
	int rc;

	if (cert == NULL && !sgt_header_key_only(f))
		return sgt_err(SGT_ERR_USAGE, "the %s format needs a certificate, not a bare public key", format_names[f]);
	if (cert != NULL)
		pub = X509_get0_pubkey(cert);
	if (pub == NULL)
		return sgt_err(SGT_ERR_DATA, "certificate has no readable public key: %s", sgt_ossl_why());
	if (f == SGT_HEADER_CERT_DER || f == SGT_HEADER_CERT_PEM)
		return sgt_header_definition(f, cert, pub, name, out);	/* plain files: nothing around them */
	if (name == NULL)
		name = f == SGT_HEADER_MCUBOOT ? mcuboot_name(pub) : default_names[f];
	if ((rc = sgt_keyinfo_get(f == SGT_HEADER_PUBKEY ? NULL : cert, pub, &info)) != SGT_OK)
		return rc;

	snprintf(guard, sizeof(guard), "SIGNET_%s_H", name);
	for (i = 0; guard[i]; i++)
		guard[i] = (char)toupper((unsigned char)guard[i]);
	rc = sgt_buf_printf(&b, "/*\n * %s, exported by signet (format %s).\n",
			    sgt_header_key_only(f) ? "Code-signing public key" : "Code-signing certificate for FreeRTOS OTA",
			    format_names[f]);
	if (rc == SGT_OK && cert != NULL && !sgt_header_key_only(f)) {
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
	/*
	 * The macro forms replace any earlier definition (a stock config
	 * included first), and a stock "#ifndef NAME" block included later
	 * is skipped.  A config included later that defines NAME
	 * unconditionally cannot be beaten from here: its definition would be
	 * the one compiled in (and -Werror fails on the redefinition).  The
	 * header says so where the developer reads it, with the one thing
	 * that works: --update on that config.
	 */
	if (rc == SGT_OK && (f == SGT_HEADER_OTA_PAL || f == SGT_HEADER_PUBKEY_PEM))
		rc = sgt_buf_printf(&b,
				    "/*\n"
				    " * This replaces a definition made before the header is included.\n"
				    " * A config included AFTER it must define the macro only inside\n"
				    " * \"#ifndef %s\"\n"
				    " * (as FreeRTOS's ota_demo_config.h does) or not at all: an\n"
				    " * unconditional definition there (as in esp-aws-iot's ota_config.h)\n"
				    " * is the one compiled in, and -Werror fails on it.  For such a\n"
				    " * config, put the %s into the config itself:\n"
				    " *   signet header LABEL --format %s --update path/to/config.h\n"
				    " */\n#undef %s\n",
				    name, f == SGT_HEADER_OTA_PAL ? "certificate" : "public key", format_names[f], name);
	if (rc == SGT_OK)
		rc = sgt_header_definition(f, cert, pub, name, &b);
	if (rc == SGT_OK)
		rc = sgt_buf_printf(&b, "\n#endif /* %s */\n", guard);
	if (rc == SGT_OK)
		rc = sgt_buf_add(out, b.p, b.len);
	sgt_buf_free(&b);
	return rc;
}

/* ---- --update ---- */

static int ident_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* End of a directive starting at i: the newline that is not spliced (or len). */
static size_t directive_end(const char *t, size_t len, size_t i)
{
	while (i < len && t[i] != '\n') {
		if (t[i] == '\\' && i + 1 < len && t[i + 1] == '\n')
			i += 2;
		else if (t[i] == '\\' && i + 2 < len && t[i + 1] == '\r' && t[i + 2] == '\n')
			i += 3;
		else if (t[i] == '/' && i + 1 < len && t[i + 1] == '*') {
			const char *e = memmem(t + i + 2, len - i - 2, "*/", 2);

			i = e ? (size_t)(e - t) + 2 : len;
		} else
			i++;
	}
	return i;
}

int sgt_header_update(const char *path, const char *t, size_t len, const char *name, const struct sgt_buf *def,
		      struct sgt_buf *out)
{
	size_t i = 0, k = strlen(name), found = 0, a = 0, e = 0, first_line = 0, line = 1, stmt = (size_t)-1;
	int line_start = 1;

	while (i < len) {
		char c = t[i];

		if (c == '\n') {
			line++;
			line_start = 1;
			i++;
		} else if (c == ' ' || c == '\t' || c == '\r') {
			i++;
		} else if (c == '/' && i + 1 < len && t[i + 1] == '*') {
			const char *q = memmem(t + i + 2, len - i - 2, "*/", 2);
			size_t j = q ? (size_t)(q - t) + 2 : len;

			for (; i < j; i++)
				line += t[i] == '\n';
		} else if (c == '/' && i + 1 < len && t[i + 1] == '/') {
			while (i < len && t[i] != '\n')
				i++;
		} else if (c == '"' || c == '\'') {
			if (stmt == (size_t)-1)
				stmt = i;
			for (i++; i < len && t[i] != c && t[i] != '\n'; i++)
				if (t[i] == '\\' && i + 1 < len)
					i++;
			i++;
		} else if (c == '#' && line_start) {
			size_t j = i + 1, d = directive_end(t, len, i);

			while (j < d && (t[j] == ' ' || t[j] == '\t'))
				j++;
			if (d - j > 6 && memcmp(t + j, "define", 6) == 0 && (t[j + 6] == ' ' || t[j + 6] == '\t')) {
				j += 6;
				while (j < d && (t[j] == ' ' || t[j] == '\t'))
					j++;
				if (d - j >= k && memcmp(t + j, name, k) == 0 && (j + k == d || !ident_char(t[j + k]))) {
					if (found++ == 0) {
						a = i;
						e = d;
						first_line = line;
					}
				}
			}
			for (; i < d; i++)
				line += t[i] == '\n';
			line_start = 0;
			stmt = (size_t)-1;
		} else if (ident_char(c)) {
			size_t j = i;

			if (stmt == (size_t)-1)
				stmt = i;	/* where the declaration starts: "static const char" may sit on the line before */

			while (j < len && ident_char(t[j]))
				j++;
			/* A variable definition: NAME [ ... ] = ... ; at the start of its statement's line. */
			if (j - i == k && memcmp(t + i, name, k) == 0 && (i == 0 || !ident_char(t[i - 1]))) {
				size_t q = j;

				while (q < len && (t[q] == ' ' || t[q] == '\t'))
					q++;
				if (q < len && (t[q] == '[' || t[q] == '=')) {
					const char *semi = memchr(t + q, ';', len - q);

					if (semi != NULL && found++ == 0) {
						a = stmt;
						e = (size_t)(semi - t) + 1;
						first_line = line;
					}
					if (semi != NULL) {
						for (; i < e && i < (size_t)(semi - t) + 1; i++)
							line += t[i] == '\n';
						i = (size_t)(semi - t) + 1;
						line_start = 0;
						stmt = (size_t)-1;
						continue;
					}
				}
			}
			i = j;
			line_start = 0;
		} else {
			if (c == ';' || c == '{' || c == '}')
				stmt = (size_t)-1;
			else if (stmt == (size_t)-1)
				stmt = i;
			i++;
			line_start = 0;
		}
	}
	if (found == 0)
		return sgt_err(SGT_ERR_DATA, "'%s' does not define %s: nothing to update", path, name);
	if (found > 1)
		return sgt_err(SGT_ERR_DATA, "'%s' defines %s %zu times (first on line %zu): refusing to guess which", path,
			       name, found, first_line);
	/* def ends in a newline; the original definition's own line end stays. */
	if (sgt_buf_add(out, t, a) != SGT_OK || sgt_buf_add(out, def->p, def->len > 0 && def->p[def->len - 1] == '\n' ? def->len - 1 : def->len) != SGT_OK ||
	    sgt_buf_add(out, t + e, len - e) != SGT_OK)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	return SGT_OK;
}
