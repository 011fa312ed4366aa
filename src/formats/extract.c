/*
 * extract.c: finds baked-in certificates and public keys (extract.h).
 * The input is first classified: ELF, Intel HEX and S-record go through
 * container.c; other inputs with NUL bytes are raw binaries; the rest is
 * text, read by creader.c as the compiler would, plus one plain-text PEM
 * pass for PEM that sits outside any literal or comment (a .pem file, or
 * bare text in an #if 0 block).  Within each piece:
 *  - PEM: every "-----BEGIN X-----" up to its "-----END", taking per line
 *    the run of base64 after comment or quote decoration; damaged blocks
 *    and placeholders become BROKEN finds with the reason; a BEGIN line
 *    with no base64 after it in a string constant is a marker (a strstr
 *    needle, mbedTLS's own PEM constants) and no find at all;
 *  - DER: at every 0x30 a bounded structural check (keyform.c) before
 *    OpenSSL is asked, with a global budget on the bytes parsed so that
 *    crafted input cannot make the scan quadratic.
 * Every find is de-duplicated as it is made (a hash of its DER and state),
 * and each one that would be baked is handed to mbedTLS (device.c) as the
 * compiled constant.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "container.h"
#include "extract.h"
#include "keyform.h"
#include "pkey.h"
#include "sgt.h"

#define PEM_WINDOW (256u * 1024u)	/* longest PEM block considered */
#define DEVICE_MAX (64u * 1024u)	/* longest constant handed to mbedTLS */
#define BYTES_MIN 32			/* shorter byte arrays cannot hold a key */

/* How a piece's finds are located and what the device gets. */
struct where {
	enum sgt_found_enc enc;
	const struct sgt_cseg *segs;	/* data offset -> file offset; NULL: base + offset */
	size_t nsegs;
	size_t base;
	int fixed;			/* every find at base (a C array's start) */
	enum sgt_cstate state;
	const char *symbol;
	unsigned def_id;
	int cstring;			/* data is a C string: the device sees it plus a NUL */
	int has_addr;			/* base is a container address */
	int line_comment;		/* a block of // comment lines */
	int strings;			/* C string constants (a literal run, a binary's .rodata): markers are not blocks */
	size_t line;			/* container record line */
};

struct scan {
	const char *path;
	const unsigned char *d;
	size_t len;
	struct sgt_found_list *out;
	size_t first_new;
	int rc;
	/* de-duplication: ids parallel to out->v from first_new, hash table of indices */
	unsigned char (*ids)[32];
	unsigned *defs;			/* def_id of each new find */
	size_t idcap;
	size_t *tab, tabcap;		/* open addressing, 0 empty, else index + 1 */
	/* raw bytes already parsed into a find: a repeat is skipped before any parsing */
	struct idset {
		unsigned char (*ids)[32];
		size_t n, cap, *tab, tabcap;
	} raw;
	/* DER budget */
	size_t der_spent, der_budget, failed_end;
	struct sgt_creader *cr;
	enum sgt_container_type ctype;
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
		if (pub == NULL) {
			ERR_set_mark();
			pub = X509_get0_pubkey(cert);
			ERR_pop_to_mark();
		}
		if (pub == NULL) {
			/* A key type OpenSSL cannot load: named by its OID, identified by its SPKI bytes. */
			X509_PUBKEY *xpk = X509_get_X509_PUBKEY(cert);
			ASN1_OBJECT *oid = NULL;
			unsigned char *der = NULL;
			char txt[64];
			int n;

			if (xpk == NULL || X509_PUBKEY_get0_param(&oid, NULL, NULL, NULL, xpk) != 1 ||
			    (n = i2d_X509_PUBKEY(xpk, &der)) <= 0)
				return sgt_err(SGT_ERR_DATA, "certificate has no readable public key");
			OBJ_obj2txt(txt, sizeof(txt), oid, 0);
			snprintf(info->alg, sizeof(info->alg), "%.31s", txt);
			sgt_sha256_hex(der, (size_t)n, info->spki_sha256);
			OPENSSL_free(der);
			return SGT_OK;
		}
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
		free(l->v[i].device_bytes);
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

const char *sgt_found_kind_name(enum sgt_found_kind k)
{
	switch (k) {
	case SGT_FOUND_CERT: return "certificate";
	case SGT_FOUND_PUBKEY: return "public key";
	default: return "broken";
	}
}

const char *sgt_found_state_text(const struct sgt_found *f)
{
	if (f->baked)
		return "baked: compiled in, and the device parses it";
	return f->reason[0] ? f->reason : "not baked";
}

void sgt_found_where(const struct sgt_found_list *l, const struct sgt_found *f, int compact, char *out, size_t cap)
{
	if (f->has_addr && f->section[0])
		snprintf(out, cap, "offset 0x%zx (address 0x%llx, %s)", f->offset, f->addr, f->section);
	else if (f->has_addr && l->container && strcmp(l->container, "elf") == 0)
		snprintf(out, cap, "offset 0x%zx (address 0x%llx)", f->offset, f->addr);
	else if (f->has_addr)
		snprintf(out, cap, "address 0x%llx", f->addr);
	else if (l->binary || f->line == 0)
		snprintf(out, cap, "offset 0x%zx", f->offset);
	else
		snprintf(out, cap, compact ? "%zu" : "line %zu", f->line);
}

static size_t map_off(const struct where *w, size_t pos)
{
	size_t lo = 0, hi = w->nsegs;

	if (w->fixed)
		return w->base;
	if (w->segs == NULL)
		return w->base + pos;
	/* The last segment starting at or before pos. */
	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;

		if (w->segs[mid].data_off <= pos)
			lo = mid;
		else
			hi = mid;
	}
	return w->segs[lo].file_off + (pos - w->segs[lo].data_off);
}

static int grow_ids(struct scan *sc, size_t need)
{
	size_t cap;
	void *a, *b;

	if (need <= sc->idcap)
		return SGT_OK;
	cap = sc->idcap ? 2 * sc->idcap : 16;
	while (cap < need)
		cap *= 2;
	a = realloc(sc->ids, cap * sizeof(*sc->ids));
	if (a == NULL)
		return SGT_ERR_DATA;
	sc->ids = a;
	b = realloc(sc->defs, cap * sizeof(*sc->defs));
	if (b == NULL)
		return SGT_ERR_DATA;
	sc->defs = b;
	sc->idcap = cap;
	return SGT_OK;
}

/* Index of a new find with this id, or (size_t)-1; inserts k when absent and k != -1. */
static size_t id_lookup(struct scan *sc, const unsigned char id[32], size_t k)
{
	size_t h, i;

	if (sc->tabcap == 0 || 2 * (k + 1) > sc->tabcap) {
		size_t cap = sc->tabcap ? 2 * sc->tabcap : 64, j, *t;

		while (2 * (k + 2) > cap)
			cap *= 2;
		if ((t = calloc(cap, sizeof(*t))) == NULL)
			return (size_t)-2;
		for (j = 0; j < sc->tabcap; j++) {
			size_t e = sc->tab[j];

			if (e == 0)
				continue;
			memcpy(&h, sc->ids[e - 1], sizeof(h));
			for (i = h & (cap - 1); t[i] != 0; i = (i + 1) & (cap - 1))
				;
			t[i] = e;
		}
		free(sc->tab);
		sc->tab = t;
		sc->tabcap = cap;
	}
	memcpy(&h, id, sizeof(h));
	for (i = h & (sc->tabcap - 1); sc->tab[i] != 0; i = (i + 1) & (sc->tabcap - 1))
		if (memcmp(sc->ids[sc->tab[i] - 1], id, 32) == 0)
			return sc->tab[i] - 1;
	if (k != (size_t)-1)
		sc->tab[i] = k + 1;
	return (size_t)-1;
}

struct cand {
	enum sgt_found_kind kind;
	enum sgt_found_enc enc;
	size_t off;
	X509 *cert;
	EVP_PKEY *pub;
	const char *form;
	const char *reason;		/* BROKEN */
	const unsigned char *dev;	/* the constant as compiled */
	size_t devlen;
	enum sgt_device_form devform;
	unsigned long long addr;
};

static const char *unparsable_cost(const char *sym);

/* Adds a find; takes ownership of c->cert and c->pub. */
static void add(struct scan *sc, const struct where *w, struct cand *c)
{
	struct sgt_found_list *l = sc->out;
	struct sgt_found *f;
	unsigned char id[32], *der = NULL;
	unsigned int mdlen = 32;
	size_t k = l->n - sc->first_new;
	EVP_MD_CTX *md = NULL;
	int n = 0;

	if (sc->rc != SGT_OK)
		goto drop;
	/* Damaged PEM in a comment is documentation ("...base64 data..."): nothing of it reaches a device. */
	if (c->kind == SGT_FOUND_BROKEN && w->state == SGT_C_COMMENT)
		goto drop;
	if (k >= SGT_EXTRACT_MAX_FINDS) {
		l->limited = 1;
		goto drop;
	}
	/* Identity: the DER (or, for broken material, its place) and the state it is in. */
	if (c->kind == SGT_FOUND_CERT)
		n = i2d_X509(c->cert, &der);
	else if (c->kind == SGT_FOUND_PUBKEY)
		n = i2d_PUBKEY(c->pub, &der);
	if (c->kind != SGT_FOUND_BROKEN && n <= 0)
		goto drop;
	if ((md = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    (n > 0 && EVP_DigestUpdate(md, der, (size_t)n) != 1) ||
	    (c->kind == SGT_FOUND_BROKEN && EVP_DigestUpdate(md, &c->off, sizeof(c->off)) != 1) ||
	    EVP_DigestUpdate(md, &w->state, sizeof(w->state)) != 1 || EVP_DigestUpdate(md, &c->kind, sizeof(c->kind)) != 1 ||
	    EVP_DigestFinal_ex(md, id, &mdlen) != 1)
		goto oom;
	OPENSSL_free(der);
	der = NULL;
	EVP_MD_CTX_free(md);
	md = NULL;
	{
		size_t dup = id_lookup(sc, id, (size_t)-1);

		if (dup == (size_t)-2)
			goto oom;
		if (dup != (size_t)-1)
			goto drop;	/* the same thing, in the same state, seen before */
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 8;
		void *v = realloc(l->v, cap * sizeof(*l->v));

		if (v == NULL)
			goto oom;
		l->v = v;
		l->cap = cap;
	}
	if (grow_ids(sc, k + 1) != SGT_OK)
		goto oom;
	f = &l->v[l->n];
	memset(f, 0, sizeof(*f));
	f->kind = c->kind;
	f->enc = w->enc;
	f->offset = c->off;
	f->state = w->state;
	snprintf(f->symbol, sizeof(f->symbol), "%s", w->symbol ? w->symbol : "");
	f->form = c->kind == SGT_FOUND_BROKEN ? "pem" : c->form;
	f->cert = c->cert;
	f->pub = c->pub;
	c->cert = NULL;
	c->pub = NULL;
	f->device_parses = -1;
	f->device_form = c->devform;
	if (w->has_addr) {
		f->has_addr = 1;
		f->addr = c->addr;
		f->line = 0;
	} else if (sc->ctype == SGT_CONT_ELF) {
		f->has_addr = sgt_container_elf_addr(sc->d, sc->len, c->off, &f->addr, f->section, sizeof(f->section));
	}
	if (f->kind != SGT_FOUND_BROKEN && sgt_keyinfo_get(f->cert, f->pub, &f->info) != SGT_OK) {
		X509_free(f->cert);
		EVP_PKEY_free(f->pub);
		return;
	}
	if (f->kind == SGT_FOUND_BROKEN && f->state != SGT_C_ACTIVE)
		snprintf(f->reason, sizeof(f->reason), "%s (%s)", c->reason, sgt_cstate_name(f->state));
	else if (f->kind == SGT_FOUND_BROKEN)
		snprintf(f->reason, sizeof(f->reason), "%s", c->reason);
	else if (f->state != SGT_C_ACTIVE)
		snprintf(f->reason, sizeof(f->reason), "%s", sgt_cstate_name(f->state));
	else if (c->devform == SGT_DEV_PUBKEY && f->pub != NULL && EVP_PKEY_get_base_id(f->pub) == EVP_PKEY_ED25519)
		f->device_form = SGT_DEV_NONE;	/* bootloaders check Ed25519 with their own code, not mbedTLS 2.x */
	else if (c->devform != SGT_DEV_NONE && c->dev != NULL) {
		/* The device's own parser, over the constant as compiled. */
		if (sgt_device_parse(c->devform, c->dev, c->devlen, f->device_err, sizeof(f->device_err)) == 0) {
			f->device_parses = 1;
			if ((f->device_bytes = malloc(c->devlen)) == NULL) {
				X509_free(f->cert);
				EVP_PKEY_free(f->pub);
				goto oom;
			}
			memcpy(f->device_bytes, c->dev, c->devlen);
			f->device_len = c->devlen;
		} else {
			f->device_parses = 0;
			snprintf(f->reason, sizeof(f->reason), "the device cannot parse it (%s): %s", f->device_err,
				 unparsable_cost(f->symbol));
		}
	}
	f->baked = f->kind != SGT_FOUND_BROKEN && f->state == SGT_C_ACTIVE && f->device_parses != 0;
	memcpy(sc->ids[k], id, 32);
	sc->defs[k] = w->def_id;
	if (id_lookup(sc, id, k) == (size_t)-2) {
		X509_free(f->cert);
		EVP_PKEY_free(f->pub);
		free(f->device_bytes);
		goto oom;
	}
	l->n++;
	return;
oom:
	sc->rc = sgt_err(SGT_ERR_DATA, "out of memory");
drop:
	OPENSSL_free(der);
	EVP_MD_CTX_free(md);
	X509_free(c->cert);
	EVP_PKEY_free(c->pub);
	c->cert = NULL;
	c->pub = NULL;
}

static void add_keyform(struct scan *sc, const struct where *w, size_t off, struct sgt_keyform *kf,
			const unsigned char *der, size_t derlen, unsigned long long addr)
{
	struct cand c;

	memset(&c, 0, sizeof(c));
	c.kind = kf->cert ? SGT_FOUND_CERT : SGT_FOUND_PUBKEY;
	c.enc = w->enc;
	c.off = off;
	c.cert = kf->cert;
	c.pub = kf->pub;
	c.form = kf->form;
	c.addr = addr;
	kf->cert = NULL;
	kf->pub = NULL;
	if (der != NULL) {
		c.dev = der;
		c.devlen = derlen;
		c.devform = c.kind == SGT_FOUND_CERT ? SGT_DEV_CERT : strcmp(c.form, "spki") == 0 ? SGT_DEV_PUBKEY : SGT_DEV_NONE;
	}
	add(sc, w, &c);
}

static void add_broken(struct scan *sc, const struct where *w, size_t off, unsigned long long addr, const char *fmt, ...)
	SGT_PRINTF(5, 6);
static void add_broken(struct scan *sc, const struct where *w, size_t off, unsigned long long addr, const char *fmt, ...)
{
	struct cand c;
	char why[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	memset(&c, 0, sizeof(c));
	c.kind = SGT_FOUND_BROKEN;
	c.off = off;
	c.reason = why;
	c.addr = addr;
	add(sc, w, &c);
}

/* ---- a set of 32-byte ids (open addressing) ---- */

/* 1 when id is in the set; else inserts it (when insert) and returns 0; -1 on out-of-memory. */
static int idset_test(struct idset *s, const unsigned char id[32], int insert)
{
	size_t h, i;

	memcpy(&h, id, sizeof(h));
	if (s->tabcap > 0)
		for (i = h & (s->tabcap - 1); s->tab[i] != 0; i = (i + 1) & (s->tabcap - 1))
			if (memcmp(s->ids[s->tab[i] - 1], id, 32) == 0)
				return 1;
	if (!insert)
		return 0;
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		void *v = realloc(s->ids, cap * 32);

		if (v == NULL)
			return -1;
		s->ids = v;
		s->cap = cap;
	}
	if (2 * (s->n + 1) > s->tabcap) {
		size_t cap = s->tabcap ? 2 * s->tabcap : 128, j, *t = calloc(cap, sizeof(*t));

		if (t == NULL)
			return -1;
		for (j = 0; j < s->n; j++) {
			size_t hj;

			memcpy(&hj, s->ids[j], sizeof(hj));
			for (i = hj & (cap - 1); t[i] != 0; i = (i + 1) & (cap - 1))
				;
			t[i] = j + 1;
		}
		free(s->tab);
		s->tab = t;
		s->tabcap = cap;
	}
	memcpy(s->ids[s->n], id, 32);
	for (i = h & (s->tabcap - 1); s->tab[i] != 0; i = (i + 1) & (s->tabcap - 1))
		;
	s->tab[i] = ++s->n;
	return 0;
}

/* The id of raw bytes in a state. */
static void raw_id(const unsigned char *p, size_t n, enum sgt_cstate st, unsigned char id[32])
{
	unsigned int len = 32;
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	memset(id, 0, 32);
	if (md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 && EVP_DigestUpdate(md, p, n) == 1 &&
	    EVP_DigestUpdate(md, &st, sizeof(st)) == 1)
		EVP_DigestFinal_ex(md, id, &len);
	EVP_MD_CTX_free(md);
}

/* ---- DER ---- */

static void scan_der(struct scan *sc, const struct where *w, const unsigned char *p, size_t n)
{
	size_t i = 0, t;

	while (i + 2 < n && sc->rc == SGT_OK) {
		const unsigned char *q = memchr(p + i, 0x30, n - i);
		struct sgt_keyform kf;

		if (q == NULL)
			break;
		i = (size_t)(q - p);
		if ((t = sgt_keyform_candidate(p + i, n - i)) == 0) {
			i++;
			continue;
		}
		/*
		 * Past the budget, a candidate inside one that already failed is
		 * not tried: what remains costs at most one pass over the input.
		 */
		if (sc->der_spent > sc->der_budget && w->base + i < sc->failed_end) {
			sc->out->limited = 1;
			i++;
			continue;
		}
		{
			unsigned char id[32];

			/* The same bytes seen before as a find: a repeat, not parsed again. */
			raw_id(p + i, t, w->state, id);
			if (idset_test(&sc->raw, id, 0) == 1) {
				i += t;
				continue;
			}
			sc->der_spent += t;
			if (sgt_keyform_der(p + i, t, &kf) == 0) {
				if (kf.len == t && idset_test(&sc->raw, id, 1) < 0)
					sc->rc = sgt_err(SGT_ERR_DATA, "out of memory");
				add_keyform(sc, w, map_off(w, i), &kf, p + i, kf.len, w->base + i);
				i += kf.len;	/* its SPKI is part of it, not a separate find */
				continue;
			}
		}
		if (w->base + i + t > sc->failed_end)
			sc->failed_end = w->base + i + t;
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

static int placeholder_text(const unsigned char *p, size_t n)
{
	static const char *const words[] = { "paste", "insert", "your ", "here", "...", "<", "todo", "replace" };
	size_t i, k;

	for (k = 0; k < sizeof(words) / sizeof(words[0]); k++) {
		size_t wl = strlen(words[k]);

		for (i = 0; i + wl <= n; i++)
			if (strncasecmp((const char *)p + i, words[k], wl) == 0)
				return 1;
	}
	return 0;
}

static int known_symbol(const char *s);

/*
 * A BEGIN line with no base64 after it, in string constants, is a marker,
 * not a certificate: the needle of strstr(buf, "-----BEGIN CERTIFICATE-----")
 * in OTA ports, mbedTLS's own "-----BEGIN CERTIFICATE-----" / "-----END ..."
 * constants (pem.c, x509_crt.c, x509write) in every image linked with it,
 * a "%s" template.  Nothing of it is a certificate a device could bake,
 * so it is no finding at all.  Under a code-signing constant's name it is
 * what that constant holds: broken.
 */
/* A constant whose name says it is what devices check updates against. */
static int signing_symbol(const char *sym)
{
	return known_symbol(sym) || (strcasestr(sym, "sign") && (strcasestr(sym, "cert") || strcasestr(sym, "key")));
}

static int is_marker(const struct where *w)
{
	return w->strings && !signing_symbol(w->symbol ? w->symbol : "");
}

/*
 * What a constant the device cannot parse costs: every update, when it is
 * the code-signing constant.  A constant named otherwise (a TLS root CA, a
 * client certificate) breaks whatever uses it, not the update check, so
 * the 0xe3 is said only as a condition there.  Without a name (a binary
 * image) nobody can tell which it is.
 */
static const char *unparsable_cost(const char *sym)
{
	if (sym[0] != '\0' && signing_symbol(sym))
		return "a device baking it as its code-signing certificate rejects every update (0xe3)";
	if (sym[0] != '\0')
		return "whatever uses it on the device fails; were it the code-signing certificate, every update "
		       "would be rejected (0xe3)";
	return "if the device checks updates against it, it rejects every one (0xe3)";
}

/*
 * What follows a marker's BEGIN line up to where the block would end:
 * nothing but blanks, NULs and printf conversions ("%s", "%.*s"), with at
 * least one conversion when need_conv (BEGIN, "%s", END: a template; an
 * empty BEGIN/END pair in one constant is a placeholder).
 */
static int marker_body(const unsigned char *p, size_t a, size_t b, int need_conv)
{
	int conv = 0;

	if (b - a > 4096)
		return 0;
	while (a < b) {
		if (p[a] == ' ' || p[a] == '\t' || p[a] == '\r' || p[a] == '\n' || p[a] == '\0') {
			a++;
			continue;
		}
		if (p[a] != '%')
			return 0;
		for (a++; a < b && strchr("-+ #0123456789.*hlzjt", p[a]) != NULL && p[a] != '\0'; a++)
			;
		if (a >= b || p[a] == '\0' || strchr("sdiuxXc", p[a]) == NULL)
			return 0;
		a++;
		conv = 1;
	}
	return conv || !need_conv;
}

/*
 * One PEM block whose "-----BEGIN " is at b.  Returns where scanning
 * resumes: after its END line, at a BEGIN that interrupts it, or just past
 * this BEGIN when the block is broken.
 */
static size_t pem_block(struct scan *sc, const struct where *w, const unsigned char *p, size_t n, size_t b)
{
	struct sgt_buf b64 = { 0 };
	unsigned char *der = NULL;
	size_t i = b + 11, lab = i, lablen, limit, derlen, body, dash, devlen;
	char label[48];
	unsigned char rid[32];
	int line_start = 0, in_run = 1, slashes;
	struct sgt_keyform kf;
	unsigned long long addr = w->base + b;

	while (i < n && i - lab < 40 && (p[i] == ' ' || (p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= '0' && p[i] <= '9')))
		i++;
	lablen = i - lab;
	while (lablen > 0 && p[lab + lablen - 1] == ' ')
		lablen--;
	for (dash = 0; i + dash < n && p[i + dash] == '-'; dash++)
		;
	memcpy(label, p + lab, lablen);
	label[lablen] = '\0';
	if (!sgt_keyform_pem_label(label, lablen))
		return i;	/* a private key or something else: not ours */
	if (dash != 5) {
		add_broken(sc, w, map_off(w, b), addr, "bad BEGIN line: \"-----BEGIN %s\" must end in exactly five dashes", label);
		return i;
	}
	i += 5;
	body = i;
	{
		/* The BEGIN line alone, the string ending with it. */
		size_t k = i;

		while (k < n && (p[k] == '\r' || p[k] == '\n'))
			k++;
		if ((k == n || p[k] == '\0') && is_marker(w))
			return k;
	}
	limit = n - i > PEM_WINDOW ? i + PEM_WINDOW : n;
	/*
	 * "//" is also base64, so it is taken as a comment leader only where
	 * the block is commented that way: its BEGIN line has "//" before it,
	 * or it sits in a block of // lines.  Otherwise a line that starts
	 * "//" is data.
	 */
	{
		size_t k = b, lim = b > 80 ? b - 80 : 0;

		while (k > lim && p[k - 1] != '\n')
			k--;
		slashes = w->line_comment || (b - k >= 2 && memmem(p + k, b - k, "//", 2) != NULL);
	}
	while (i < limit) {
		unsigned char c = p[i];

		if (c == '-' && at(p, n, i, "-----END "))
			break;
		if (c == '-' && at(p, n, i, "-----BEGIN ")) {
			if (is_marker(w) && marker_body(p, body, i, 0))
				return i;
			sgt_buf_free(&b64);
			add_broken(sc, w, map_off(w, b), addr, "truncated %s: no END line before the next BEGIN", label);
			return i;
		}
		if (line_start) {
			/* Decoration before a PEM line: indentation, comment leaders, a quote. */
			while (i < limit && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r'))
				i++;
			if (slashes && at(p, limit, i, "//"))
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
		} else {
			in_run = 0;
		}
		i++;
	}
	if (i >= limit) {
		int lone = is_marker(w) && marker_body(p, body, i, 0);

		sgt_buf_free(&b64);
		/* Binary data after a BEGIN is not a damaged certificate worth a line per BEGIN. */
		if (w->enc != SGT_ENC_DER && !lone)
			add_broken(sc, w, map_off(w, b), addr, "truncated %s: no END line", label);
		return b + 11;
	}
	if (is_marker(w) && marker_body(p, body, i, 1))
		goto done;	/* BEGIN, "%s", END: a template */
	raw_id((const unsigned char *)b64.p, b64.len, w->state, rid);
	if (b64.len >= 16 && idset_test(&sc->raw, rid, 0) == 1)
		goto done;	/* a repeat of a block already found */
	/*
	 * Only a block that does not read is judged a placeholder: random
	 * base64 spells "here" or "todo" about once in a few hundred blocks.
	 */
	if (b64.len < 16 || sgt_unbase64(b64.p, b64.len, &der, &derlen) != SGT_OK ||
	    sgt_keyform_pem_der(label, der, derlen, &kf) != 0) {
		if (b64.len < 16 || placeholder_text(p + body, i - body))
			add_broken(sc, w, map_off(w, b), addr, "placeholder: the %s block holds no real data", label);
		else if (der == NULL)
			add_broken(sc, w, map_off(w, b), addr, "the %s base64 does not decode (a line lost or damaged)", label);
		else
			add_broken(sc, w, map_off(w, b), addr,
				   "the %s does not parse: its DER is truncated or damaged (%zu bytes; a base64 line lost?)",
				   label, derlen);
		goto done;
	}
	/* What the device is handed: the constant from this BEGIN on, with its NUL. */
	{
		struct sgt_buf dev = { 0 };
		size_t e = n - b > DEVICE_MAX ? b + DEVICE_MAX : n;
		const unsigned char *nul = memchr(p + b, 0, e - b);
		struct cand c;

		if (nul != NULL)
			e = (size_t)(nul - p);
		devlen = e - b;
		if (sgt_buf_add(&dev, p + b, devlen) != SGT_OK || sgt_buf_add(&dev, "", 1) != SGT_OK) {
			sgt_keyform_release(&kf);
			sgt_buf_free(&dev);
			sc->rc = SGT_ERR_DATA;
			goto done;
		}
		memset(&c, 0, sizeof(c));
		c.kind = kf.cert ? SGT_FOUND_CERT : SGT_FOUND_PUBKEY;
		c.off = map_off(w, b);
		c.cert = kf.cert;
		c.pub = kf.pub;
		c.form = kf.form;
		c.addr = addr;
		c.dev = (const unsigned char *)dev.p;
		c.devlen = dev.len;
		c.devform = kf.cert ? SGT_DEV_CERT : SGT_DEV_PUBKEY;
		if (idset_test(&sc->raw, rid, 1) < 0)
			sc->rc = sgt_err(SGT_ERR_DATA, "out of memory");
		add(sc, w, &c);
		sgt_buf_free(&dev);
	}
done:
	free(der);
	sgt_buf_free(&b64);
	return i + 9;
}

/* Scans p[0..n); skip(b) true leaves a BEGIN at b to another scanner. */
static void scan_pem(struct scan *sc, const struct where *w, const unsigned char *p, size_t n, int text_pass)
{
	size_t i = 0;

	while (i < n && sc->rc == SGT_OK) {
		const unsigned char *q = memmem(p + i, n - i, "-----BEGIN ", 11);
		size_t b;

		if (q == NULL)
			break;
		b = (size_t)(q - p);
		if (text_pass && sc->cr != NULL) {
			struct where w2 = *w;

			if (sgt_creader_in_token(sc->cr, b)) {
				i = b + 11;
				continue;
			}
			w2.state = sgt_creader_state_at(sc->cr, b);
			i = pem_block(sc, &w2, p, n, b);
			continue;
		}
		i = pem_block(sc, w, p, n, b);
	}
}

/* ---- C pieces ---- */

static int known_symbol(const char *s)
{
	return strcmp(s, "otapalconfigCODE_SIGNING_CERTIFICATE") == 0 ||
	       strcmp(s, "signingcredentialSIGNING_CERTIFICATE_PEM") == 0 ||
	       strcmp(s, "CODE_SIGNER_PUBLIC_KEY_PEM") == 0 || strcmp(s, "signetCODE_SIGNING_PUBLIC_KEY_PEM") == 0;
}

static int on_piece(void *arg, const struct sgt_cpiece *pc)
{
	struct scan *sc = arg;
	struct where w;
	size_t before = sc->out->n;

	memset(&w, 0, sizeof(w));
	w.segs = pc->segs;
	w.nsegs = pc->nsegs;
	w.state = pc->state;
	w.symbol = pc->symbol;
	w.def_id = pc->def_id;
	switch (pc->kind) {
	case SGT_CPIECE_COMMENT:
		w.enc = SGT_ENC_PEM;
		w.line_comment = pc->file_off + 1 < sc->len && sc->d[pc->file_off + 1] == '/';
		scan_pem(sc, &w, pc->data, pc->len, 0);
		break;
	case SGT_CPIECE_STRING:
		w.enc = SGT_ENC_C_STRING;
		w.cstring = 1;
		w.strings = 1;
		scan_pem(sc, &w, pc->data, pc->len, 0);
		/* A certificate constant with no PEM at all: the stock placeholder. */
		if (sc->out->n == before && sc->rc == SGT_OK &&
		    (pc->len == 0 || memmem(pc->data, pc->len, "-----BEGIN", 10) == NULL) &&
		    /* Code-signing constants only: a TLS credential's placeholder is not an OTA matter. */
		    (known_symbol(pc->symbol) || (placeholder_text(pc->data, pc->len < 4096 ? pc->len : 4096) &&
						  strcasestr(pc->symbol, "sign") &&
						  (strcasestr(pc->symbol, "cert") || strcasestr(pc->symbol, "key"))))) {
			char head[41];
			size_t k, hn = pc->len < 40 ? pc->len : 40;

			for (k = 0; k < hn; k++)
				head[k] = pc->data[k] >= 0x20 && pc->data[k] < 0x7f ? (char)pc->data[k] : '?';
			head[hn] = '\0';
			add_broken(sc, &w, pc->file_off, 0, "placeholder: %s holds no certificate or key (\"%s\")",
				   pc->symbol[0] ? pc->symbol : "the constant", head);
		}
		break;
	case SGT_CPIECE_BYTES:
		w.enc = SGT_ENC_C_BYTES;
		w.fixed = 1;
		w.base = pc->file_off;
		if (pc->len >= BYTES_MIN) {
			struct sgt_keyform kf;

			if (sgt_keyform_array(pc->data, pc->len, pc->symbol, &kf) == 0)
				add_keyform(sc, &w, pc->file_off, &kf, pc->data, pc->len, 0);
			else
				scan_der(sc, &w, pc->data, pc->len);
		}
		break;
	}
	return sc->rc;
}

/* ---- merging ---- */

static int by_offset(const void *a, const void *b)
{
	const struct sgt_found *x = a, *y = b;

	if (x->offset != y->offset)
		return x->offset < y->offset ? -1 : 1;
	return (int)x->kind - (int)y->kind;
}

/* Marks superseded macro definitions, sorts the new finds and numbers their lines. */
static void finish(struct scan *sc)
{
	struct sgt_found_list *l = sc->out;
	struct sgt_found *v;
	size_t k = l->n - sc->first_new, i, line = 1, pos = 0;

	if (k == 0)
		return;	/* nothing new (l->v may still be NULL) */
	v = l->v + sc->first_new;

	for (i = 0; sc->cr != NULL && i < k; i++) {
		if (sc->defs[i] == 0 || sgt_creader_def_live(sc->cr, v[i].symbol, sc->defs[i]))
			continue;
		if (v[i].state == SGT_C_ACTIVE) {
			v[i].state = SGT_C_SUPERSEDED;
			v[i].baked = 0;
			snprintf(v[i].reason, sizeof(v[i].reason), "%s", sgt_cstate_name(SGT_C_SUPERSEDED));
		}
	}
	if (k > 0)
		qsort(v, k, sizeof(*v), by_offset);
	if (!l->binary) {
		for (i = 0; i < k; i++) {
			for (; pos < v[i].offset && pos < sc->len; pos++)
				line += sc->d[pos] == '\n';
			v[i].line = line;
		}
	}
}

static int extract_named(const char *path, const unsigned char *data, size_t len, const struct sgt_extract_opts *o,
			 struct sgt_found_list *out)
{
	struct scan sc;
	struct where w;
	struct sgt_image img = { 0 };
	size_t c;
	int rc;

	memset(&sc, 0, sizeof(sc));
	memset(&w, 0, sizeof(w));
	sc.path = path;
	sc.d = data;
	sc.len = len;
	sc.out = out;
	sc.first_new = out->n;
	sc.der_budget = 4 * len + (1u << 20);
	sc.ctype = sgt_container_type(data, len);
	w.state = SGT_C_ACTIVE;
	w.symbol = "";
	out->binary = len > 0 && memchr(data, 0, len) != NULL;
	switch (sc.ctype) {
	case SGT_CONT_IHEX:
	case SGT_CONT_SREC:
		out->container = sgt_container_name(sc.ctype);
		out->binary = 1;
		if ((rc = sgt_container_decode(path, data, len, &img)) != SGT_OK)
			return rc;
		for (c = 0; c < img.nchunks && sc.rc == SGT_OK; c++) {
			const unsigned char *p = img.data + img.chunks[c].off;

			w.has_addr = 1;
			w.base = img.chunks[c].addr;
			w.strings = 1;
			w.enc = SGT_ENC_PEM;
			scan_pem(&sc, &w, p, img.chunks[c].len, 0);
			w.enc = SGT_ENC_DER;
			scan_der(&sc, &w, p, img.chunks[c].len);
		}
		sgt_image_release(&img);
		break;
	case SGT_CONT_ELF:
	default:
		if (sc.ctype == SGT_CONT_ELF || out->binary) {
			out->container = sgt_container_name(sc.ctype);
			out->binary = 1;
			w.strings = 1;
			w.enc = SGT_ENC_PEM;
			scan_pem(&sc, &w, data, len, 0);
			w.enc = SGT_ENC_DER;
			scan_der(&sc, &w, data, len);
			break;
		}
		out->container = "text";
		if ((rc = sgt_creader_scan_with(data, len, o ? o->defines : NULL, o ? o->ndefines : 0, on_piece, &sc,
						 &sc.cr)) != SGT_OK) {
			sc.rc = rc;
			break;
		}
		w.enc = SGT_ENC_PEM;
		w.strings = 0;
		scan_pem(&sc, &w, data, len, 1);
		break;
	}
	rc = sc.rc;
	if (rc == SGT_OK)
		finish(&sc);
	sgt_creader_free(sc.cr);
	free(sc.ids);
	free(sc.defs);
	free(sc.tab);
	free(sc.raw.ids);
	free(sc.raw.tab);
	return rc;
}

int sgt_extract_named(const char *path, const unsigned char *data, size_t len, struct sgt_found_list *out)
{
	return extract_named(path, data, len, NULL, out);
}

int sgt_extract_buf(const unsigned char *data, size_t len, struct sgt_found_list *out)
{
	return extract_named("input", data, len, NULL, out);
}

int sgt_extract_file(const char *path, struct sgt_found_list *out)
{
	return sgt_extract_file_opts(path, NULL, out);
}

int sgt_extract_file_opts(const char *path, const struct sgt_extract_opts *o, struct sgt_found_list *out)
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
				rc = extract_named(path, (const unsigned char *)"", 0, o, out);
				goto out;
			}
			map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
			if (map == MAP_FAILED) {
				rc = sgt_err(SGT_ERR_DATA, "cannot map '%s': %s", path, strerror(errno));
				goto out;
			}
			rc = extract_named(path, map, len, o, out);
			goto out;
		}
	}
	if ((rc = sgt_file_read(path, (size_t)1 << 30, &buf, &len)) == SGT_OK)
		rc = extract_named(path, buf, len, o, out);
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
	j = json_pack("{s:s,s:s,s:I}", "kind", f->kind == SGT_FOUND_CERT ? "certificate" : f->kind == SGT_FOUND_PUBKEY ? "public_key" : "broken",
		      "encoding", sgt_found_enc_name(f->enc), "offset", (json_int_t)f->offset);
	if (j == NULL)
		return NULL;
	json_object_set_new(j, "line", l->binary || f->line == 0 ? json_null() : json_integer((json_int_t)f->line));
	json_object_set_new(j, "address", f->has_addr ? json_integer((json_int_t)f->addr) : json_null());
	if (f->section[0])
		json_object_set_new(j, "section", json_string(f->section));
	json_object_set_new(j, "baked", json_boolean(f->baked));
	json_object_set_new(j, "state", json_string(f->kind == SGT_FOUND_BROKEN ? "broken" :
		f->state == SGT_C_ACTIVE ? "compiled" : f->state == SGT_C_COMMENT ? "comment" :
		f->state == SGT_C_INACTIVE ? "inactive" : f->state == SGT_C_CONDITIONAL ? "conditional" : "superseded"));
	json_object_set_new(j, "symbol", f->symbol[0] ? json_string(f->symbol) : json_null());
	json_object_set_new(j, "form", json_string(f->form ? f->form : ""));
	json_object_set_new(j, "reason", f->reason[0] ? json_string(f->reason) : json_null());
	json_object_set_new(j, "device_parses", f->device_parses < 0 ? json_null() : json_boolean(f->device_parses));
	json_object_set_new(j, "device_error", f->device_parses == 0 ? json_string(f->device_err) : json_null());
	if (f->kind == SGT_FOUND_BROKEN)
		return j;
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

	if (f->symbol[0])
		rc = sgt_buf_printf(b, "  symbol:   %s\n", f->symbol);
	if (f->kind == SGT_FOUND_BROKEN) {
		if (rc == SGT_OK)
			rc = sgt_buf_printf(b, "  broken:   %s\n", f->reason);
		if (rc == SGT_OK && f->state == SGT_C_ACTIVE)
			rc = sgt_buf_printf(b, "  device:   it does not parse there: %s\n", unparsable_cost(f->symbol));
		return rc;
	}
	if (rc == SGT_OK && f->kind == SGT_FOUND_CERT) {
		sgt_time_iso(f->info.not_before, nb);
		sgt_time_iso(f->info.not_after, na);
		rc = sgt_buf_printf(b, "  subject:  %s\n  issuer:   %s\n  serial:   %s\n  validity: %s .. %s%s\n",
				    f->info.subject, f->info.issuer, f->info.serial, nb, na,
				    f->info.not_after < sgt_now() ? " (expired)" : "");
	}
	if (rc == SGT_OK)
		rc = sgt_buf_printf(b, "  key:      %s%s, SPKI SHA-256 %s\n", f->info.alg,
				    f->pub == NULL ? " (key type not loadable: reported by OID)" : "", f->info.spki_sha256);
	if (rc == SGT_OK && f->form && strcmp(f->form, "certificate") != 0 && strcmp(f->form, "spki") != 0)
		rc = sgt_buf_printf(b, "  form:     %s\n", f->form);
	if (rc == SGT_OK)
		rc = sgt_buf_printf(b, "  baked:    %s\n", f->baked ? "yes" : f->reason);
	if (rc == SGT_OK && f->device_parses >= 0)
		rc = sgt_buf_printf(b, "  device parses: %s%s%s\n", f->device_parses ? "yes" : "no (", f->device_parses ? "" : f->device_err,
				    f->device_parses ? " (mbedTLS, as compiled)" : ")");
	if (rc == SGT_OK && have_store)
		rc = custody ? sgt_buf_printf(b, "  custody:  key '%s' in custody holds its private key\n", custody)
			     : sgt_buf_printf(b, "  custody:  no key in custody holds its private key\n");
	return rc;
}
