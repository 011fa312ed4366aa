/*
 * extract.c: finds baked-in certificates and public keys.  Three scanners
 * run over each input and their finds are merged:
 *  - PEM text: every "-----BEGIN X-----" up to its "-----END", taking per
 *    line the run of base64 after comment or quote decoration, so PEM in
 *    comments, in plain text, in binaries and in one-literal-per-line C
 *    headers is found;
 *  - C tokens (text files only): adjacent string literals are joined
 *    (whitespace, comments and backslash-newlines between) and decoded, then
 *    searched as PEM text; runs of 0xNN byte values are collected and
 *    searched as DER;
 *  - DER: at every offset a cheap structural check (SEQUENCE lengths, the
 *    TBS version or serial, known key OIDs) before OpenSSL is asked to parse.
 * Each scanner moves forward only and bounds every look-ahead, so the work
 * is linear in the input; nothing is ever read past the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "extract.h"
#include "key.h"
#include "sgt.h"

#define PEM_WINDOW (256u * 1024u)	/* longest PEM block considered */
#define DER_MAX (64u * 1024u)		/* largest DER object considered */
#define RUN_MAX (4u * 1024u * 1024u)	/* C literal / byte-array accumulation cap */
#define BYTES_MIN 64			/* shorter byte arrays cannot hold a key */

/* Where a C literal run's pieces came from, to map finds back to the file. */
struct segment {
	size_t run_off, file_off;
};

struct scan {
	const unsigned char *d;
	size_t len;
	struct sgt_found_list *out;
	unsigned char (*ids)[32];	/* parallel to out->v from first_new */
	size_t first_new;
	int rc;
	/* C token state */
	struct sgt_buf run;		/* decoded string literal run */
	struct segment *segs;
	size_t nsegs, capsegs;
	struct sgt_buf arr;		/* bytes of a 0xNN array */
	size_t arr_off;
};

/* ---- facts about a key or certificate ---- */

static void name_text(X509_NAME *name, char *out, size_t cap)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *p;
	long n;

	out[0] = '\0';
	if (bio == NULL)
		return;
	if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_ONELINE & ~XN_FLAG_SPC_EQ) >= 0) {
		n = BIO_get_mem_data(bio, &p);
		if (n > 0)
			snprintf(out, cap, "%.*s", (int)n, p);
	}
	BIO_free(bio);
}

static time_t asn1_time(const ASN1_TIME *t)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return timegm(&tm);
}

static void alg_name(EVP_PKEY *pk, char *out, size_t cap)
{
	char group[64];

	switch (EVP_PKEY_get_base_id(pk)) {
	case EVP_PKEY_EC:
		if (EVP_PKEY_get_group_name(pk, group, sizeof(group), NULL) != 1)
			snprintf(out, cap, "ec");
		else if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)
			snprintf(out, cap, "ecdsa-p256");
		else if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
			snprintf(out, cap, "ecdsa-p384");
		else if (strcmp(group, "secp521r1") == 0 || strcmp(group, "P-521") == 0)
			snprintf(out, cap, "ecdsa-p521");
		else
			snprintf(out, cap, "ec %.24s", group);
		break;
	case EVP_PKEY_RSA:
		snprintf(out, cap, "rsa-%d", EVP_PKEY_get_bits(pk));
		break;
	case EVP_PKEY_ED25519:
		snprintf(out, cap, "ed25519");
		break;
	default:
		snprintf(out, cap, "%s", OBJ_nid2sn(EVP_PKEY_get_base_id(pk)));
		break;
	}
}

int sgt_keyinfo_get(X509 *cert, EVP_PKEY *pub, struct sgt_keyinfo *info)
{
	memset(info, 0, sizeof(*info));
	if (cert != NULL) {
		const ASN1_INTEGER *sn = X509_get0_serialNumber(cert);
		BIGNUM *bn = sn ? ASN1_INTEGER_to_BN(sn, NULL) : NULL;
		char *hex = bn ? BN_bn2hex(bn) : NULL;

		snprintf(info->serial, sizeof(info->serial), "%s", hex ? hex : "?");
		OPENSSL_free(hex);
		BN_free(bn);
		name_text(X509_get_subject_name(cert), info->subject, sizeof(info->subject));
		name_text(X509_get_issuer_name(cert), info->issuer, sizeof(info->issuer));
		info->not_before = asn1_time(X509_get0_notBefore(cert));
		info->not_after = asn1_time(X509_get0_notAfter(cert));
		if (pub == NULL)
			pub = X509_get0_pubkey(cert);
	}
	if (pub == NULL)
		return sgt_err(SGT_ERR_DATA, "certificate has no readable public key");
	alg_name(pub, info->alg, sizeof(info->alg));
	return sgt_key_spki_sha256(pub, info->spki_sha256) == SGT_OK ? SGT_OK
		: sgt_err(SGT_ERR_DATA, "cannot encode the public key: %s", sgt_ossl_why());
}

/* ---- the list ---- */

void sgt_found_list_release(struct sgt_found_list *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++) {
		X509_free(l->v[i].cert);
		EVP_PKEY_free(l->v[i].pub);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

const char *sgt_found_enc_name(enum sgt_found_enc enc)
{
	switch (enc) {
	case SGT_ENC_PEM: return "pem";
	case SGT_ENC_C_STRING: return "c-string";
	case SGT_ENC_DER: return "der";
	default: return "c-bytes";
	}
}

void sgt_found_where(const struct sgt_found_list *l, const struct sgt_found *f, int compact, char *out, size_t cap)
{
	if (l->binary || f->line == 0)
		snprintf(out, cap, "offset 0x%zx", f->offset);
	else
		snprintf(out, cap, compact ? "%zu" : "line %zu", f->line);
}

/* Takes ownership of cert and pub (both freed on failure). */
static void add(struct scan *sc, enum sgt_found_kind kind, enum sgt_found_enc enc, size_t off, X509 *cert, EVP_PKEY *pub)
{
	struct sgt_found_list *l = sc->out;
	struct sgt_found *f;
	unsigned char *der = NULL;
	unsigned int mdlen = 32;
	int n;

	if (sc->rc != SGT_OK)
		goto drop;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 8;
		void *v = realloc(l->v, cap * sizeof(*l->v));
		void *ids;

		if (v == NULL)
			goto oom;
		l->v = v;
		ids = realloc(sc->ids, (cap - sc->first_new) * sizeof(*sc->ids));
		if (ids == NULL)
			goto oom;
		sc->ids = ids;
		l->cap = cap;
	}
	f = &l->v[l->n];
	memset(f, 0, sizeof(*f));
	f->kind = kind;
	f->enc = enc;
	f->offset = off;
	f->baked = 1;	/* until the C reader knows comments and #if branches */
	f->cert = cert;
	/* Certificates carry their key too, so callers can use f->pub alike. */
	f->pub = pub != NULL ? pub : X509_get_pubkey(cert);
	pub = NULL;
	if (f->pub == NULL)
		goto drop;
	if (sgt_keyinfo_get(cert, f->pub, &f->info) != SGT_OK)
		goto drop_f;
	/* Identity for de-duplication: SHA-256 of the certificate or SPKI DER. */
	n = cert ? i2d_X509(cert, &der) : i2d_PUBKEY(f->pub, &der);
	if (n <= 0)
		goto drop_f;
	EVP_Digest(der, (size_t)n, sc->ids[l->n - sc->first_new], &mdlen, EVP_sha256(), NULL);
	OPENSSL_free(der);
	l->n++;
	return;
drop_f:
	EVP_PKEY_free(f->pub);
	goto drop;
oom:
	sc->rc = sgt_err(SGT_ERR_DATA, "out of memory");
drop:
	X509_free(cert);
	EVP_PKEY_free(pub);
}

/* ---- DER ---- */

/* Reads a DER tag+length at p; 0 and the header/content sizes, or -1. */
static int der_hdr(const unsigned char *p, size_t n, unsigned char tag, size_t *hlen, size_t *clen)
{
	if (n < 2 || p[0] != tag)
		return -1;
	if (p[1] < 0x80) {
		*hlen = 2;
		*clen = p[1];
	} else if (p[1] == 0x81 && n >= 3 && p[2] >= 0x80) {
		*hlen = 3;
		*clen = p[2];
	} else if (p[1] == 0x82 && n >= 4 && p[2] != 0) {
		*hlen = 4;
		*clen = (size_t)p[2] << 8 | p[3];
	} else
		return -1;
	return *hlen + *clen <= n ? 0 : -1;
}

static const unsigned char oid_ec[] = { 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01 };
static const unsigned char oid_rsa[] = { 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01 };
static const unsigned char oid_ed25519[] = { 0x06, 0x03, 0x2b, 0x65, 0x70 };

static int starts(const unsigned char *p, size_t n, const unsigned char *s, size_t sn)
{
	return n >= sn && memcmp(p, s, sn) == 0;
}

/* Looks like Certificate ::= SEQUENCE { tbs SEQUENCE { [0] version | serial ... } ... } */
static size_t cert_candidate(const unsigned char *p, size_t n)
{
	size_t h, c, th, tc;

	if (der_hdr(p, n, 0x30, &h, &c) != 0 || h < 3 || h + c > DER_MAX)
		return 0;
	if (der_hdr(p + h, c, 0x30, &th, &tc) != 0 || th < 3)
		return 0;
	if (starts(p + h + th, tc, (const unsigned char *)"\xa0\x03\x02\x01", 4) || (tc > 0 && p[h + th] == 0x02))
		return h + c;
	return 0;
}

/* Looks like SubjectPublicKeyInfo ::= SEQUENCE { SEQUENCE { OID ... } BIT STRING } */
static size_t spki_candidate(const unsigned char *p, size_t n)
{
	size_t h, c, ah, ac;
	const unsigned char *a;

	if (der_hdr(p, n, 0x30, &h, &c) != 0 || h + c > DER_MAX)
		return 0;
	if (der_hdr(p + h, c, 0x30, &ah, &ac) != 0)
		return 0;
	a = p + h + ah;
	if (starts(a, ac, oid_ec, sizeof(oid_ec)) || starts(a, ac, oid_rsa, sizeof(oid_rsa)) ||
	    starts(a, ac, oid_ed25519, sizeof(oid_ed25519)))
		return h + c;
	return 0;
}

/* off < 0: every find is reported at fixed (a C byte array's start). */
static void scan_der(struct scan *sc, const unsigned char *p, size_t n, size_t base, int fixed, enum sgt_found_enc enc)
{
	size_t i = 0, t;

	while (i + 2 < n && sc->rc == SGT_OK) {
		const unsigned char *q = memchr(p + i, 0x30, n - i);

		if (q == NULL)
			break;
		i = (size_t)(q - p);
		if ((t = cert_candidate(p + i, n - i)) != 0) {
			const unsigned char *r = p + i;
			X509 *x;

			ERR_set_mark();
			x = d2i_X509(NULL, &r, (long)t);
			ERR_pop_to_mark();
			if (x != NULL && (size_t)(r - (p + i)) == t) {
				add(sc, SGT_FOUND_CERT, enc, fixed ? base : base + i, x, NULL);
				i += t;	/* its SPKI is part of it, not a separate find */
				continue;
			}
			X509_free(x);
		}
		if ((t = spki_candidate(p + i, n - i)) != 0) {
			const unsigned char *r = p + i;
			EVP_PKEY *k;

			ERR_set_mark();
			k = d2i_PUBKEY(NULL, &r, (long)t);
			ERR_pop_to_mark();
			if (k != NULL && (size_t)(r - (p + i)) == t) {
				add(sc, SGT_FOUND_PUBKEY, enc, fixed ? base : base + i, NULL, k);
				i += t;
				continue;
			}
			EVP_PKEY_free(k);
		}
		i++;
	}
}

/* ---- PEM text ---- */

static int is_b64(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '=';
}

static int at(const unsigned char *p, size_t n, size_t i, const char *s)
{
	size_t k = strlen(s);

	return i + k <= n && memcmp(p + i, s, k) == 0;
}

static size_t map_off(const struct scan *sc, const struct segment *segs, size_t nsegs, size_t pos)
{
	size_t lo = 0, hi = nsegs;

	(void)sc;
	if (segs == NULL)
		return pos;
	/* The last segment starting at or before pos. */
	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;

		if (segs[mid].run_off <= pos)
			lo = mid;
		else
			hi = mid;
	}
	return segs[lo].file_off;
}

/*
 * One PEM block whose "-----BEGIN " is at b.  Returns where scanning
 * resumes: after its END line, at a BEGIN that interrupts it, or just past
 * this BEGIN when the block is broken.
 */
static size_t pem_block(struct scan *sc, const unsigned char *p, size_t n, size_t b, enum sgt_found_enc enc,
			const struct segment *segs, size_t nsegs)
{
	struct sgt_buf b64 = { 0 };
	unsigned char *der = NULL;
	const unsigned char *r;
	size_t i = b + 11, lab = i, lablen, limit, derlen;
	int kind, line_start = 0, in_run = 1;

	while (i < n && i - lab < 40 && (p[i] == ' ' || (p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= '0' && p[i] <= '9')))
		i++;
	if (!at(p, n, i, "-----"))
		return b + 11;
	lablen = i - lab;
	i += 5;
	if (lablen == 11 && memcmp(p + lab, "CERTIFICATE", 11) == 0)
		kind = SGT_FOUND_CERT;
	else if ((lablen == 16 && memcmp(p + lab, "X509 CERTIFICATE", 16) == 0) ||
		 (lablen == 19 && memcmp(p + lab, "TRUSTED CERTIFICATE", 19) == 0))
		kind = SGT_FOUND_CERT;
	else if (lablen == 10 && memcmp(p + lab, "PUBLIC KEY", 10) == 0)
		kind = SGT_FOUND_PUBKEY;
	else
		return i;	/* a private key or something else: not ours */
	limit = n - i > PEM_WINDOW ? i + PEM_WINDOW : n;
	while (i < limit) {
		unsigned char c = p[i];

		if (c == '-' && at(p, n, i, "-----END "))
			break;
		if (c == '-' && at(p, n, i, "-----BEGIN ")) {
			sgt_buf_free(&b64);
			return i;
		}
		if (line_start) {
			/* Decoration before a PEM line: indentation, comment leaders, a quote. */
			while (i < limit && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r'))
				i++;
			if (at(p, limit, i, "//"))
				i += 2;
			else if (i < limit && (p[i] == '*' || p[i] == '#' || p[i] == ';'))
				i++;
			while (i < limit && (p[i] == ' ' || p[i] == '\t'))
				i++;
			if (i < limit && p[i] == '"')
				i++;
			line_start = 0;
			in_run = 1;
			continue;
		}
		if (c == '\n' || (c == '\\' && i + 1 < limit && p[i + 1] == 'n')) {
			i += c == '\n' ? 1 : 2;
			line_start = 1;
			continue;
		}
		if (in_run && is_b64(c)) {
			if (sgt_buf_add(&b64, &p[i], 1) != SGT_OK) {
				sc->rc = SGT_ERR_DATA;
				return n;
			}
		} else
			in_run = 0;
		i++;
	}
	if (i >= limit) {
		sgt_buf_free(&b64);
		return b + 11;
	}
	if (b64.len > 0 && sgt_unbase64(b64.p, b64.len, &der, &derlen) == SGT_OK) {
		r = der;
		ERR_set_mark();
		if (kind == SGT_FOUND_CERT) {
			X509 *x = d2i_X509(NULL, &r, (long)derlen);

			if (x != NULL)
				add(sc, SGT_FOUND_CERT, enc, map_off(sc, segs, nsegs, b), x, NULL);
		} else {
			EVP_PKEY *k = d2i_PUBKEY(NULL, &r, (long)derlen);

			if (k != NULL)
				add(sc, SGT_FOUND_PUBKEY, enc, map_off(sc, segs, nsegs, b), NULL, k);
		}
		ERR_pop_to_mark();
	}
	free(der);
	sgt_buf_free(&b64);
	return i + 9;
}

static void scan_pem(struct scan *sc, const unsigned char *p, size_t n, enum sgt_found_enc enc,
		     const struct segment *segs, size_t nsegs)
{
	size_t i = 0;

	while (i < n && sc->rc == SGT_OK) {
		const unsigned char *q = memmem(p + i, n - i, "-----BEGIN ", 11);

		if (q == NULL)
			break;
		i = pem_block(sc, p, n, (size_t)(q - p), enc, segs, nsegs);
	}
}

/* ---- C tokens ---- */

static void flush_run(struct scan *sc)
{
	if (sc->run.len > 0 && sc->rc == SGT_OK)
		scan_pem(sc, (const unsigned char *)sc->run.p, sc->run.len, SGT_ENC_C_STRING, sc->segs, sc->nsegs);
	sc->run.len = 0;
	sc->nsegs = 0;
}

static void flush_arr(struct scan *sc)
{
	if (sc->arr.len >= BYTES_MIN && sc->rc == SGT_OK)
		scan_der(sc, (const unsigned char *)sc->arr.p, sc->arr.len, sc->arr_off, 1, SGT_ENC_C_BYTES);
	sc->arr.len = 0;
}

static int hexv(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int ident(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Decodes the literal whose opening quote is at q; returns the index after it. */
static size_t c_literal(struct scan *sc, size_t q)
{
	const unsigned char *p = sc->d;
	size_t i = q + 1, n = sc->len;
	unsigned char ch;

	if (sc->nsegs == sc->capsegs) {
		size_t cap = sc->capsegs ? 2 * sc->capsegs : 16;
		struct segment *s = realloc(sc->segs, cap * sizeof(*s));

		if (s == NULL) {
			sc->rc = sgt_err(SGT_ERR_DATA, "out of memory");
			return n;
		}
		sc->segs = s;
		sc->capsegs = cap;
	}
	sc->segs[sc->nsegs].run_off = sc->run.len;
	sc->segs[sc->nsegs].file_off = q;
	sc->nsegs++;
	while (i < n && p[i] != '"' && p[i] != '\n') {
		ch = p[i++];
		if (ch == '\\' && i < n) {
			unsigned char e = p[i++];

			switch (e) {
			case 'n': ch = '\n'; break;
			case 'r': ch = '\r'; break;
			case 't': ch = '\t'; break;
			case '\n': continue;	/* line splice inside a literal */
			case 'x': {
				int v = 0, k = 0;

				while (k < 2 && i < n && hexv(p[i]) >= 0)
					v = v * 16 + hexv(p[i++]), k++;
				ch = (unsigned char)v;
				break;
			}
			default:
				if (e >= '0' && e <= '7') {
					int v = e - '0', k = 1;

					while (k < 3 && i < n && p[i] >= '0' && p[i] <= '7')
						v = v * 8 + (p[i++] - '0'), k++;
					ch = (unsigned char)v;
				} else
					ch = e;	/* \" \\ \' \? */
			}
		}
		if (sgt_buf_add(&sc->run, &ch, 1) != SGT_OK) {
			sc->rc = SGT_ERR_DATA;
			return n;
		}
	}
	if (sc->run.len > RUN_MAX)
		flush_run(sc);
	return i < n ? i + 1 : n;
}

static void scan_c(struct scan *sc)
{
	const unsigned char *p = sc->d;
	size_t n = sc->len, i = 0;

	while (i < n && sc->rc == SGT_OK) {
		unsigned char c = p[i];

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v') {
			i++;
		} else if (c == '\\' && (at(p, n, i + 1, "\n") || at(p, n, i + 1, "\r\n"))) {
			i += p[i + 1] == '\n' ? 2 : 3;	/* macro continuation */
		} else if (c == '/' && at(p, n, i + 1, "*")) {
			const unsigned char *e = memmem(p + i + 2, n - i - 2, "*/", 2);

			i = e ? (size_t)(e - p) + 2 : n;
		} else if (c == '/' && at(p, n, i + 1, "/")) {
			const unsigned char *e = memchr(p + i, '\n', n - i);

			i = e ? (size_t)(e - p) + 1 : n;
		} else if (c == '"') {
			flush_arr(sc);
			i = c_literal(sc, i);
		} else if (c == ',' && sc->arr.len > 0) {
			i++;
		} else if (c == '0' && i + 2 < n && (p[i + 1] == 'x' || p[i + 1] == 'X') && hexv(p[i + 2]) >= 0 &&
			   (i == 0 || !ident(p[i - 1]))) {
			size_t j = i + 2;
			unsigned v = 0;

			flush_run(sc);
			while (j < n && hexv(p[j]) >= 0 && j - i < 12)
				v = v * 16 + (unsigned)hexv(p[j++]);
			while (j < n && (p[j] == 'u' || p[j] == 'U'))
				j++;
			if (v <= 0xff && (j >= n || !ident(p[j]))) {
				unsigned char byte = (unsigned char)v;

				if (sc->arr.len == 0)
					sc->arr_off = i;
				if (sgt_buf_add(&sc->arr, &byte, 1) != SGT_OK)
					sc->rc = SGT_ERR_DATA;
				if (sc->arr.len > RUN_MAX)
					flush_arr(sc);
			} else
				flush_arr(sc);
			i = j;
		} else if (c == '\'') {
			size_t j = i + 1;

			flush_run(sc);
			flush_arr(sc);
			while (j < n && p[j] != '\'' && p[j] != '\n')
				j += p[j] == '\\' ? 2 : 1;
			i = j + 1;
		} else {
			flush_run(sc);
			flush_arr(sc);
			i++;
		}
	}
	flush_run(sc);
	flush_arr(sc);
}

/* ---- merging ---- */

struct order {
	size_t idx;
	const struct sgt_found *f;
	const unsigned char *id;
};

static int by_id(const void *a, const void *b)
{
	const struct order *x = a, *y = b;
	int c = memcmp(x->id, y->id, 32);

	if (c == 0 && x->f->kind != y->f->kind)
		c = x->f->kind < y->f->kind ? -1 : 1;
	if (c == 0 && x->f->offset != y->f->offset)
		c = x->f->offset < y->f->offset ? -1 : 1;
	if (c == 0)
		c = x->idx < y->idx ? -1 : (x->idx > y->idx);
	return c;
}

static int by_offset(const void *a, const void *b)
{
	const struct sgt_found *x = a, *y = b;

	if (x->offset != y->offset)
		return x->offset < y->offset ? -1 : 1;
	return (int)x->kind - (int)y->kind;
}

/* Drops duplicates of finds made in this call, sorts them, and numbers their lines. */
static int merge(struct scan *sc)
{
	struct sgt_found_list *l = sc->out;
	size_t k = l->n - sc->first_new, i, j, line = 1, pos = 0;
	struct order *o;
	struct sgt_found *v = l->v + sc->first_new;
	char *keep;

	if (k == 0)
		return SGT_OK;
	o = calloc(k, sizeof(*o));
	keep = calloc(k, 1);
	if (o == NULL || keep == NULL) {
		free(o);
		free(keep);
		return sgt_err(SGT_ERR_DATA, "out of memory");
	}
	for (i = 0; i < k; i++) {
		o[i].idx = i;
		o[i].f = &v[i];
		o[i].id = sc->ids[i];
	}
	qsort(o, k, sizeof(*o), by_id);
	for (i = 0; i < k; i++)
		keep[o[i].idx] = i == 0 || memcmp(o[i].id, o[i - 1].id, 32) != 0 || o[i].f->kind != o[i - 1].f->kind;
	for (i = j = 0; i < k; i++) {
		if (keep[i])
			v[j++] = v[i];
		else {
			X509_free(v[i].cert);
			EVP_PKEY_free(v[i].pub);
		}
	}
	l->n = sc->first_new + j;
	qsort(v, j, sizeof(*v), by_offset);
	if (!l->binary) {
		for (i = 0; i < j; i++) {
			for (; pos < v[i].offset && pos < sc->len; pos++)
				line += sc->d[pos] == '\n';
			v[i].line = line;
		}
	}
	free(o);
	free(keep);
	return SGT_OK;
}

int sgt_extract_buf(const unsigned char *data, size_t len, struct sgt_found_list *out)
{
	struct scan sc;
	int rc;

	memset(&sc, 0, sizeof(sc));
	sc.d = data;
	sc.len = len;
	sc.out = out;
	sc.first_new = out->n;
	/* ids is indexed from first_new; size it to the list's current capacity. */
	if (out->cap > out->n && (sc.ids = calloc(out->cap - out->n, 32)) == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	out->binary = len > 0 && memchr(data, 0, len) != NULL;
	scan_pem(&sc, data, len, SGT_ENC_PEM, NULL, 0);
	if (!out->binary)
		scan_c(&sc);
	scan_der(&sc, data, len, 0, 0, SGT_ENC_DER);
	rc = sc.rc;
	if (rc == SGT_OK)
		rc = merge(&sc);
	sgt_buf_free(&sc.run);
	sgt_buf_free(&sc.arr);
	free(sc.segs);
	free(sc.ids);
	return rc;
}

int sgt_extract_file(const char *path, struct sgt_found_list *out)
{
	struct stat sb;
	unsigned char *buf = NULL;
	void *map = MAP_FAILED;
	size_t len = 0;
	int fd = -1, rc;

	if (strcmp(path, "-") != 0) {
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			return sgt_err(SGT_ERR_DATA, "cannot read '%s': %s", path, strerror(errno));
		if (fstat(fd, &sb) != 0) {
			rc = sgt_err(SGT_ERR_DATA, "cannot read '%s': %s", path, strerror(errno));
			goto out;
		}
		if (S_ISDIR(sb.st_mode)) {
			rc = sgt_err(SGT_ERR_DATA, "cannot read '%s': it is a directory", path);
			goto out;
		}
		if (S_ISREG(sb.st_mode)) {
			/* Mapped, not copied: a multi-GiB image costs address space, not memory. */
			len = (size_t)sb.st_size;
			if (len == 0) {
				rc = sgt_extract_buf((const unsigned char *)"", 0, out);
				goto out;
			}
			map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
			if (map == MAP_FAILED) {
				rc = sgt_err(SGT_ERR_DATA, "cannot map '%s': %s", path, strerror(errno));
				goto out;
			}
			rc = sgt_extract_buf(map, len, out);
			goto out;
		}
	}
	if ((rc = sgt_file_read(path, (size_t)1 << 30, &buf, &len)) == SGT_OK)
		rc = sgt_extract_buf(buf, len, out);
out:
	if (map != MAP_FAILED)
		munmap(map, len);
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

/* ---- presentation helpers shared by extract, key match and verify ---- */

json_t *sgt_found_json(const struct sgt_found_list *l, const struct sgt_found *f, const char *custody, int have_store)
{
	char nb[32], na[32];
	json_t *j;

	sgt_time_iso(f->info.not_before, nb);
	sgt_time_iso(f->info.not_after, na);
	j = json_pack("{s:s,s:s,s:I}", "kind", f->kind == SGT_FOUND_CERT ? "certificate" : "public_key",
		      "encoding", sgt_found_enc_name(f->enc), "offset", (json_int_t)f->offset);
	if (j == NULL)
		return NULL;
	json_object_set_new(j, "line", l->binary || f->line == 0 ? json_null() : json_integer((json_int_t)f->line));
	if (f->kind == SGT_FOUND_CERT) {
		json_object_set_new(j, "subject", json_string(f->info.subject));
		json_object_set_new(j, "issuer", json_string(f->info.issuer));
		json_object_set_new(j, "serial", json_string(f->info.serial));
		json_object_set_new(j, "not_before", json_string(nb));
		json_object_set_new(j, "not_after", json_string(na));
	}
	json_object_set_new(j, "algorithm", json_string(f->info.alg));
	json_object_set_new(j, "spki_sha256", json_string(f->info.spki_sha256));
	json_object_set_new(j, "custody_key", custody ? json_string(custody) : json_null());
	json_object_set_new(j, "custody_known", json_boolean(have_store));
	return j;
}

int sgt_found_text(struct sgt_buf *b, const struct sgt_found *f, const char *custody, int have_store)
{
	char nb[32], na[32];
	int rc = SGT_OK;

	if (f->kind == SGT_FOUND_CERT) {
		sgt_time_iso(f->info.not_before, nb);
		sgt_time_iso(f->info.not_after, na);
		rc = sgt_buf_printf(b, "  subject:  %s\n  issuer:   %s\n  serial:   %s\n  validity: %s .. %s%s\n",
				    f->info.subject, f->info.issuer, f->info.serial, nb, na,
				    f->info.not_after < sgt_now() ? " (expired)" : "");
	}
	if (rc == SGT_OK)
		rc = sgt_buf_printf(b, "  key:      %s, SPKI SHA-256 %s\n", f->info.alg, f->info.spki_sha256);
	if (rc == SGT_OK && have_store)
		rc = custody ? sgt_buf_printf(b, "  custody:  key '%s' in custody holds its private key\n", custody)
			     : sgt_buf_printf(b, "  custody:  no key in custody holds its private key\n");
	return rc;
}
