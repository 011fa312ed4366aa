/*
 * mcuboot.c: MCUboot images (mcuboot.h), written from the format: the
 * header struct of bootutil's image.h, TLVs as imgtool lays them out
 * (protected area first, hashed with header and body; then the hash, the
 * key hash or key, the signature), the trailer as imgtool pads a slot.
 * The decoder repeats bootutil's bounds (tlv.c) and its decision
 * (image_validate.c); the signature is checked by device.c with mbedTLS,
 * the library bootutil uses.  No PKCS#11 here: the caller signs the
 * digest on the token between _prepare and _finish.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "container.h"
#include "device.h"
#include "mcuboot.h"

#define MAX_SECTORS 128		/* imgtool's default --max-sectors: the swap status it reserves */
#define MAX_SPAN (256UL << 20)	/* a HEX file loading more than this is not one slot */

static const unsigned char boot_magic8[16] = { 0x77, 0xc2, 0x95, 0xf3, 0x60, 0xd2, 0xef, 0x7f,
					       0x35, 0x52, 0x50, 0x0f, 0x2c, 0xb6, 0x79, 0x80 };
/* Boot magic with a flash write size above 8: the size (LE u16), then these 14 bytes. */
static const unsigned char boot_magic_tail[14] = { 0x2d, 0xe1, 0x5d, 0x29, 0x41, 0x0b, 0x8d,
						   0x77, 0x67, 0x9c, 0x11, 0x0f, 0x1f, 0x8a };

static uint16_t get16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put16(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v)
{
	put16(p, v);
	put16(p + 2, v >> 16);
}

/* One decimal field without leading zeros (imgtool's version_re), at most max. */
static const char *number(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;
	const char *p = s;

	if (!isdigit((unsigned char)*p) || (p[0] == '0' && isdigit((unsigned char)p[1])))
		return NULL;
	for (; isdigit((unsigned char)*p); p++) {
		v = v * 10 + (unsigned long)(*p - '0');
		if (v > max)
			return NULL;
	}
	*out = v;
	return p;
}

int sgt_mcuboot_version_parse(const char *s, struct sgt_mcuboot_ver *v)
{
	unsigned long f[4] = { 0, 0, 0, 0 };
	static const unsigned long max[4] = { 0xff, 0xff, 0xffff, 0xffffffffUL };
	const char *p = s;
	int i;

	for (i = 0; i < 4 && p != NULL; i++) {
		if ((p = number(p, max[i], &f[i])) == NULL)
			break;
		if (*p == '\0')
			break;
		if (i < 2 && *p == '.')
			p++;
		else if (i == 2 && *p == '+')
			p++;
		else
			p = NULL;
	}
	if (p == NULL || *p != '\0')
		return SGT_ERR_USAGE;
	v->major = (uint8_t)f[0];
	v->minor = (uint8_t)f[1];
	v->revision = (uint16_t)f[2];
	v->build = (uint32_t)f[3];
	return SGT_OK;
}

int sgt_mcuboot_key_of(EVP_PKEY *pub, struct sgt_mcuboot_key *k, const char **why)
{
	unsigned char *der = NULL;
	int n = -1, bits = EVP_PKEY_get_bits(pub);

	memset(k, 0, sizeof(*k));
	*why = NULL;
	if (EVP_PKEY_is_a(pub, "EC")) {
		char curve[32] = "";

		EVP_PKEY_get_utf8_string_param(pub, "group", curve, sizeof(curve), NULL);
		if (strcmp(curve, "prime256v1") == 0 || strcmp(curve, "P-256") == 0) {
			k->hash_tlv = SGT_MCUBOOT_SHA256;
			k->md = EVP_sha256();
			strcpy(k->name, "ecdsa-p256");
		} else if (strcmp(curve, "secp384r1") == 0 || strcmp(curve, "P-384") == 0) {
			k->hash_tlv = SGT_MCUBOOT_SHA384;
			k->md = EVP_sha384();
			strcpy(k->name, "ecdsa-p384");
		} else {
			*why = "MCUboot verifies ECDSA with P-256 or P-384 only";
			return SGT_ERR_DATA;
		}
		k->sig_tlv = SGT_MCUBOOT_ECDSA_SIG;
		n = i2d_PUBKEY(pub, &der);
	} else if (EVP_PKEY_is_a(pub, "RSA")) {
		if (bits != 2048 && bits != 3072) {
			*why = "MCUboot verifies RSA-2048 and RSA-3072 only";
			return SGT_ERR_DATA;
		}
		k->sig_tlv = bits == 2048 ? SGT_MCUBOOT_RSA2048_PSS : SGT_MCUBOOT_RSA3072_PSS;
		k->hash_tlv = SGT_MCUBOOT_SHA256;
		k->md = EVP_sha256();
		k->pss = 1;
		k->rsa_len = (size_t)bits / 8;
		snprintf(k->name, sizeof(k->name), "rsa-%d", bits);
		n = i2d_PublicKey(pub, &der);	/* PKCS#1 RSAPublicKey, as keys.c holds it */
	} else if (EVP_PKEY_is_a(pub, "ED25519")) {
		/* image_ed25519.c: Ed25519 over the SHA-256 image hash; keys.c holds the SubjectPublicKeyInfo. */
		k->sig_tlv = SGT_MCUBOOT_ED25519;
		k->hash_tlv = SGT_MCUBOOT_SHA256;
		k->md = EVP_sha256();
		k->ed25519 = 1;
		strcpy(k->name, "ed25519");
		n = i2d_PUBKEY(pub, &der);
	} else {
		*why = "MCUboot signatures are ECDSA P-256/P-384, RSA-2048/3072 PSS or Ed25519";
		return SGT_ERR_DATA;
	}
	if (n <= 0) {
		*why = "the public key does not encode";
		return SGT_ERR_DATA;
	}
	k->hash_len = (size_t)EVP_MD_get_size(k->md);
	k->der = der;
	k->derlen = (size_t)n;
	return SGT_OK;
}

void sgt_mcuboot_key_release(struct sgt_mcuboot_key *k)
{
	OPENSSL_free(k->der);
	k->der = NULL;
}

static unsigned max_align(unsigned align)
{
	return align > 8 ? align : 8;
}

static unsigned long long align_up(unsigned long long v, unsigned a)
{
	return (v + a - 1) / a * a;
}

unsigned long long sgt_mcuboot_trailer_size(unsigned align)
{
	unsigned m = max_align(align);

	return (unsigned long long)MAX_SECTORS * 3 * align + 4ULL * m + align_up(16, m);
}

static void boot_magic(unsigned align, unsigned char out[16])
{
	if (max_align(align) == 8) {
		memcpy(out, boot_magic8, 16);
	} else {
		put16(out, max_align(align));
		memcpy(out + 2, boot_magic_tail, sizeof(boot_magic_tail));
	}
}

/* The largest DER ECDSA signature for the key, or the RSA signature's size. */
static size_t max_sig(const struct sgt_mcuboot_key *k)
{
	return k->pss ? k->rsa_len : k->ed25519 ? 64 : 2 * (k->hash_len + 3) + 3;
}

static size_t unprot_size(const struct sgt_mcuboot_key *k, const struct sgt_mcuboot_opts *o, size_t siglen)
{
	return 4 + (4 + k->hash_len) + (4 + (o->full_key ? k->derlen : k->hash_len)) + (4 + siglen);
}

static int slot_fits(size_t total, const struct sgt_mcuboot_opts *o, char *why, size_t cap)
{
	unsigned long long t = sgt_mcuboot_trailer_size(o->align);

	if (o->slot_size == 0 || (unsigned long long)total + t <= o->slot_size)
		return SGT_OK;
	snprintf(why, cap, "the signed image (%zu bytes with header and TLVs) and its trailer (%llu bytes) do not fit the %llu-byte slot",
		 total, t, o->slot_size);
	return SGT_ERR_DATA;
}

static int add_tlv(struct sgt_buf *b, uint16_t type, const unsigned char *v, size_t len)
{
	unsigned char h[4];

	put16(h, type);
	put16(h + 2, (uint32_t)len);
	return sgt_buf_add(b, h, 4) == SGT_OK && sgt_buf_add(b, v, len) == SGT_OK ? SGT_OK : SGT_ERR_DATA;
}

int sgt_mcuboot_prepare(const unsigned char *body, size_t n, const struct sgt_mcuboot_opts *o,
			const struct sgt_mcuboot_key *k, struct sgt_mcuboot_build *b, char *why, size_t cap)
{
	unsigned char hdr[SGT_MCUBOOT_HDR], fill[256];
	size_t i, img_size, prot = o->have_sec_cnt ? 12 : 0;
	unsigned int dlen = 0;

	memset(b, 0, sizeof(*b));
	if (sgt_mcuboot_is_image(body, n)) {
		snprintf(why, cap, "already an MCUboot image (magic 0x96f3b83d at offset 0): sign the unsigned build");
		return SGT_ERR_DATA;
	}
	if (!o->pad_header) {
		for (i = 0; i < o->hdr_size && i < n && body[i] == 0; i++)
			;
		if (i < o->hdr_size) {
			snprintf(why, cap, "does not begin with %u zero bytes for the MCUboot header (byte %zu is not zero): "
				 "link it with room for the header or use --pad-header", o->hdr_size, i);
			return SGT_ERR_DATA;
		}
	}
	img_size = o->pad_header ? n : n - o->hdr_size;
	if (img_size > 0xffffffffUL - o->hdr_size - prot) {
		snprintf(why, cap, "too large for an MCUboot image header (%zu bytes)", img_size);
		return SGT_ERR_DATA;
	}
	if (slot_fits(o->hdr_size + img_size + prot + unprot_size(k, o, max_sig(k)), o, why, cap) != SGT_OK)
		return SGT_ERR_DATA;
	memset(fill, 0xff, sizeof(fill));
	for (i = 0; o->pad_header && i < o->hdr_size; i += sizeof(fill))
		if (sgt_buf_add(&b->img, fill, o->hdr_size - i < sizeof(fill) ? o->hdr_size - i : sizeof(fill)) != SGT_OK)
			goto oom;
	if (sgt_buf_add(&b->img, body, n) != SGT_OK)
		goto oom;
	memset(hdr, 0, sizeof(hdr));
	put32(hdr, SGT_MCUBOOT_MAGIC);
	put32(hdr + 4, o->load_addr);
	put16(hdr + 8, o->hdr_size);
	put16(hdr + 10, (uint32_t)prot);
	put32(hdr + 12, (uint32_t)img_size);
	put32(hdr + 16, o->load_addr ? SGT_MCUBOOT_F_RAM_LOAD : 0);
	hdr[20] = o->ver.major;
	hdr[21] = o->ver.minor;
	put16(hdr + 22, o->ver.revision);
	put32(hdr + 24, o->ver.build);
	memcpy(b->img.p, hdr, sizeof(hdr));
	if (prot) {
		unsigned char info[4], cnt[4];

		put16(info, SGT_MCUBOOT_TLV_PROT_INFO);
		put16(info + 2, (uint32_t)prot);
		put32(cnt, o->sec_cnt);
		if (sgt_buf_add(&b->img, info, 4) != SGT_OK || add_tlv(&b->img, SGT_MCUBOOT_SEC_CNT, cnt, 4) != SGT_OK)
			goto oom;
	}
	b->hashed = b->img.len;
	if (!EVP_Digest(b->img.p, b->img.len, b->digest, &dlen, k->md, NULL))
		goto oom;
	b->dlen = dlen;
	return SGT_OK;
oom:
	snprintf(why, cap, "out of memory");
	sgt_mcuboot_build_release(b);
	return SGT_ERR_DATA;
}

int sgt_mcuboot_finish(struct sgt_mcuboot_build *b, const struct sgt_mcuboot_opts *o, const struct sgt_mcuboot_key *k,
		       const unsigned char *sig, size_t siglen, char *why, size_t cap)
{
	size_t tot = unprot_size(k, o, siglen);
	unsigned char info[4], kh[EVP_MAX_MD_SIZE];
	unsigned int khlen = 0;

	if (tot > 0xffff) {
		snprintf(why, cap, "the TLV area (%zu bytes) does not fit its 16-bit length", tot);
		return SGT_ERR_DATA;
	}
	if (slot_fits(b->hashed + tot, o, why, cap) != SGT_OK)
		return SGT_ERR_DATA;
	put16(info, SGT_MCUBOOT_TLV_INFO);
	put16(info + 2, (uint32_t)tot);
	if (!EVP_Digest(k->der, k->derlen, kh, &khlen, k->md, NULL) || sgt_buf_add(&b->img, info, 4) != SGT_OK ||
	    add_tlv(&b->img, k->hash_tlv, b->digest, b->dlen) != SGT_OK ||
	    (o->full_key ? add_tlv(&b->img, SGT_MCUBOOT_PUBKEY, k->der, k->derlen)
			 : add_tlv(&b->img, SGT_MCUBOOT_KEYHASH, kh, khlen)) != SGT_OK ||
	    add_tlv(&b->img, k->sig_tlv, sig, siglen) != SGT_OK) {
		snprintf(why, cap, "out of memory");
		return SGT_ERR_DATA;
	}
	return SGT_OK;
}

/* The trailer's last bytes: image_ok (when confirmed) and the boot magic, at their offsets from the slot's end. */
struct trailer {
	unsigned char magic[16];
	unsigned long long ok_back;	/* image_ok sits ok_back bytes before the slot's end */
	unsigned m;
};

static void trailer_of(const struct sgt_mcuboot_opts *o, struct trailer *t)
{
	t->m = max_align(o->align);
	boot_magic(o->align, t->magic);
	t->ok_back = align_up(16, t->m) + t->m;
}

static int hex_record(struct sgt_buf *out, unsigned type, unsigned addr, const unsigned char *d, size_t n)
{
	unsigned sum = (unsigned)n + (addr >> 8 & 0xff) + (addr & 0xff) + type;
	size_t i;
	int rc = sgt_buf_printf(out, ":%02X%04X%02X", (unsigned)n, addr & 0xffff, type);

	for (i = 0; rc == SGT_OK && i < n; i++) {
		sum += d[i];
		rc = sgt_buf_printf(out, "%02X", d[i]);
	}
	return rc == SGT_OK ? sgt_buf_printf(out, "%02X\n", (0x100 - (sum & 0xff)) & 0xff) : rc;
}

/* Data records for d[0..n) at addr, with extended linear address records where the upper half changes. */
static int hex_data(struct sgt_buf *out, unsigned long long addr, const unsigned char *d, size_t n, long long *upper)
{
	size_t i = 0;
	int rc = SGT_OK;

	while (rc == SGT_OK && i < n) {
		unsigned long long a = addr + i;
		size_t len = n - i < 16 ? n - i : 16;

		if ((long long)(a >> 16) != *upper) {
			unsigned char ela[2] = { (unsigned char)(a >> 24), (unsigned char)(a >> 16) };

			*upper = (long long)(a >> 16);
			if ((rc = hex_record(out, 4, 0, ela, 2)) != SGT_OK)
				break;
		}
		if ((a & 0xffff) + len > 0x10000)
			len = (size_t)(0x10000 - (a & 0xffff));
		rc = hex_record(out, 0, (unsigned)(a & 0xffff), d + i, len);
		i += len;
	}
	return rc;
}

int sgt_mcuboot_render(const struct sgt_mcuboot_build *b, const struct sgt_mcuboot_opts *o, int hex,
		       unsigned long long base, struct sgt_buf *out)
{
	struct trailer t;
	unsigned char ff[256];
	long long upper = -1;
	int rc;

	trailer_of(o, &t);
	memset(ff, 0xff, sizeof(ff));
	if (!hex) {
		unsigned long long left = o->pad ? o->slot_size - b->img.len : 0;

		rc = sgt_buf_add(out, b->img.p, b->img.len);
		for (; rc == SGT_OK && left > 0;) {
			size_t k = left < sizeof(ff) ? (size_t)left : sizeof(ff);

			rc = sgt_buf_add(out, ff, k);
			left -= k;
		}
		if (rc == SGT_OK && o->pad) {
			memcpy(out->p + out->len - 16, t.magic, 16);
			if (o->confirm)
				out->p[out->len - t.ok_back] = 0x01;
		}
		return rc;
	}
	if (base + o->slot_size + b->img.len > 0x100000000ULL)
		return sgt_err(SGT_ERR_DATA, "the image does not fit Intel HEX's 32-bit addresses at 0x%llx", base);
	rc = hex_data(out, base, (const unsigned char *)b->img.p, b->img.len, &upper);
	if (rc == SGT_OK && o->pad && o->confirm) {
		unsigned char flag[32];

		memset(flag, 0xff, sizeof(flag));
		flag[0] = 0x01;
		rc = hex_data(out, base + o->slot_size - t.ok_back, flag, t.m, &upper);
	}
	if (rc == SGT_OK && o->pad)
		rc = hex_data(out, base + o->slot_size - 16, t.magic, 16, &upper);
	if (rc == SGT_OK)
		rc = hex_record(out, 1, 0, NULL, 0);
	return rc;
}

void sgt_mcuboot_build_release(struct sgt_mcuboot_build *b)
{
	sgt_buf_free(&b->img);
}

int sgt_mcuboot_is_image(const unsigned char *d, size_t n)
{
	return n >= 4 && get32(d) == SGT_MCUBOOT_MAGIC;
}

int sgt_mcuboot_parse(const unsigned char *d, size_t n, struct sgt_mcuboot_image *im, char *why, size_t cap)
{
	unsigned long long size, off, prot_end, tlv_end, tlv_off;
	uint16_t magic, tot;

	memset(im, 0, sizeof(*im));
	im->d = d;
	im->n = n;
	if (n < SGT_MCUBOOT_HDR) {
		snprintf(why, cap, "%zu bytes: too short for the 32-byte image header", n);
		return SGT_ERR_VERDICT;
	}
	if (get32(d) != SGT_MCUBOOT_MAGIC) {
		snprintf(why, cap, "bad image magic 0x%08x (bootutil wants 0x96f3b83d)", get32(d));
		return SGT_ERR_VERDICT;
	}
	im->load_addr = get32(d + 4);
	im->hdr_size = get16(d + 8);
	im->prot_size = get16(d + 10);
	im->img_size = get32(d + 12);
	im->flags = get32(d + 16);
	im->ver.major = d[20];
	im->ver.minor = d[21];
	im->ver.revision = get16(d + 22);
	im->ver.build = get32(d + 24);
	if (im->hdr_size < SGT_MCUBOOT_HDR) {
		snprintf(why, cap, "header size %u is smaller than the 32-byte header", im->hdr_size);
		return SGT_ERR_VERDICT;
	}
	off = (unsigned long long)im->hdr_size + im->img_size;
	size = off + im->prot_size;
	if (size >= n) {
		snprintf(why, cap, "header size %u + image size %u + protected TLVs %u = %llu bytes: not inside the %zu-byte image",
			 im->hdr_size, im->img_size, im->prot_size, size, n);
		return SGT_ERR_VERDICT;
	}
	if (im->flags & 0xc) {
		snprintf(why, cap, "the image is flagged encrypted (0x%x): signet signs and checks plain images only", im->flags);
		return SGT_ERR_VERDICT;
	}
	im->hashed = (size_t)size;
	/* bootutil_tlv_iter_begin */
	if (off + 4 > n) {
		snprintf(why, cap, "no TLV info header at offset %llu: the file ends", off);
		return SGT_ERR_VERDICT;
	}
	magic = get16(d + off);
	tot = get16(d + off + 2);
	if (magic == SGT_MCUBOOT_TLV_PROT_INFO) {
		if (im->prot_size != tot) {
			snprintf(why, cap, "protected TLV area of %u bytes, but the header says %u", tot, im->prot_size);
			return SGT_ERR_VERDICT;
		}
		if (off + tot + 4 > n) {
			snprintf(why, cap, "no TLV info header after the protected TLVs: the file ends");
			return SGT_ERR_VERDICT;
		}
		magic = get16(d + off + tot);
		tot = get16(d + off + tot + 2);
	} else if (im->prot_size != 0) {
		snprintf(why, cap, "the header announces %u bytes of protected TLVs, but there is no protected TLV info (0x6908) at offset %llu",
			 im->prot_size, off);
		return SGT_ERR_VERDICT;
	}
	if (magic != SGT_MCUBOOT_TLV_INFO) {
		snprintf(why, cap, "bad TLV info magic 0x%04x (bootutil wants 0x6907)", magic);
		return SGT_ERR_VERDICT;
	}
	prot_end = off + im->prot_size;
	tlv_end = prot_end + tot;
	if (tlv_end > n) {
		snprintf(why, cap, "the TLV area ends at %llu, past the end of the %zu-byte image", tlv_end, n);
		return SGT_ERR_VERDICT;
	}
	im->tlv_off = (size_t)off;
	im->tlv_end = (size_t)tlv_end;
	/* bootutil_tlv_iter_next over every TLV: later walks (sgt_mcuboot_next) cannot fail */
	for (tlv_off = off + 4; tlv_off < tlv_end;) {
		uint16_t len;

		if (im->prot_size > 0 && tlv_off == prot_end) {
			tlv_off += 4;
			continue;
		}
		if (tlv_off > tlv_end || 4 > tlv_end - tlv_off) {
			snprintf(why, cap, "a TLV header at %llu runs past the TLV area's end (%llu)", tlv_off, tlv_end);
			return SGT_ERR_VERDICT;
		}
		len = get16(d + tlv_off + 2);
		if (len > tlv_end - tlv_off - 4) {
			snprintf(why, cap, "TLV 0x%02x at %llu is %u bytes long, past the TLV area's end (%llu)",
				 get16(d + tlv_off), tlv_off, len, tlv_end);
			return SGT_ERR_VERDICT;
		}
		im->ntlv++;
		tlv_off += 4ULL + len;
	}
	return SGT_OK;
}

int sgt_mcuboot_next(const struct sgt_mcuboot_image *im, size_t *pos, struct sgt_mcuboot_tlv *t)
{
	size_t prot_end = im->tlv_off + im->prot_size;

	if (*pos == 0)
		*pos = im->tlv_off + 4;
	if (im->prot_size > 0 && *pos == prot_end)
		*pos += 4;
	if (*pos >= im->tlv_end)
		return 0;
	t->type = get16(im->d + *pos);
	t->len = get16(im->d + *pos + 2);
	t->off = *pos + 4;
	t->prot = *pos < prot_end;
	*pos += 4 + (size_t)t->len;
	return 1;
}

int sgt_mcuboot_find(const struct sgt_mcuboot_image *im, uint16_t type, struct sgt_mcuboot_tlv *t)
{
	size_t pos = 0;

	while (sgt_mcuboot_next(im, &pos, t))
		if (t->type == type)
			return 1;
	return 0;
}

/* bootutil_find_key: the key TLV names k when it is (a prefix of, as bootutil compares) k's hash, or k itself. */
static int tlv_names(const struct sgt_mcuboot_image *im, const struct sgt_mcuboot_tlv *t,
		     const struct sgt_mcuboot_key *k)
{
	unsigned char kh[EVP_MAX_MD_SIZE];
	unsigned int khlen = 0;

	if (t->type == SGT_MCUBOOT_PUBKEY)
		return t->len == k->derlen && memcmp(im->d + t->off, k->der, k->derlen) == 0;
	if (t->len > k->hash_len || !EVP_Digest(k->der, k->derlen, kh, &khlen, k->md, NULL))
		return 0;
	return memcmp(im->d + t->off, kh, t->len) == 0;
}

int sgt_mcuboot_names_key(const struct sgt_mcuboot_image *im, const struct sgt_mcuboot_key *k)
{
	struct sgt_mcuboot_tlv t;
	size_t pos = 0;

	while (sgt_mcuboot_next(im, &pos, &t))
		if ((t.type == SGT_MCUBOOT_KEYHASH || t.type == SGT_MCUBOOT_PUBKEY) && t.len > 0 && tlv_names(im, &t, k))
			return 1;
	return 0;
}

/*
 * Ed25519 over the image hash with OpenSSL: mbedTLS 2.28 has no Ed25519,
 * and MCUboot checks it with its own code (fiat-crypto or tinycrypt).
 */
static int ed25519_verify(const struct sgt_mcuboot_key *k, const unsigned char *hash, size_t hlen,
			  const unsigned char *sig, size_t siglen, char *why, size_t cap)
{
	const unsigned char *q = k->der;
	EVP_PKEY *pk = d2i_PUBKEY(NULL, &q, (long)k->derlen);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = pk != NULL && ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pk) == 1 &&
		 EVP_DigestVerify(ctx, sig, siglen, hash, hlen) == 1;

	if (!ok)
		snprintf(why, cap, "OpenSSL's Ed25519 check fails");
	ERR_clear_error();
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pk);
	return ok ? SGT_OK : SGT_ERR_VERDICT;
}

int sgt_mcuboot_judge(const struct sgt_mcuboot_image *im, const struct sgt_mcuboot_key *k, int *key_named, char *why,
		      size_t cap)
{
	unsigned char hash[EVP_MAX_MD_SIZE];
	unsigned int hlen = 0;
	int hash_ok = 0, key_ok = 0, named = 0, sigs = 0, valid = 0;
	const char *hname = k->hash_tlv == SGT_MCUBOOT_SHA384 ? "SHA-384" : "SHA-256";
	char last[200] = "";
	struct sgt_mcuboot_tlv tv, *t = &tv;
	size_t pos = 0;

	if (key_named)
		*key_named = 0;
	if (!EVP_Digest(im->d, im->hashed, hash, &hlen, k->md, NULL)) {
		snprintf(why, cap, "out of memory");
		return SGT_ERR_DATA;
	}
	while (sgt_mcuboot_next(im, &pos, t)) {
		if (t->type == k->hash_tlv) {
			if (t->len != hlen) {
				snprintf(why, cap, "the %s hash TLV is %u bytes, not %u", hname, t->len, hlen);
				return SGT_ERR_VERDICT;
			}
			if (memcmp(im->d + t->off, hash, hlen) != 0) {
				snprintf(why, cap, "the image hash (%s over header, body and protected TLVs) does not match its hash TLV: the image changed after it was signed",
					 hname);
				return SGT_ERR_VERDICT;
			}
			hash_ok = 1;
		} else if (t->type == SGT_MCUBOOT_KEYHASH || t->type == SGT_MCUBOOT_PUBKEY) {
			if (t->len > (t->type == SGT_MCUBOOT_KEYHASH ? k->hash_len : max_sig(k) + 24 + k->derlen)) {
				snprintf(why, cap, "the key TLV is %u bytes, more than bootutil reads", t->len);
				return SGT_ERR_VERDICT;
			}
			key_ok = tlv_names(im, t, k);
			named |= key_ok;
		} else if (t->type == k->sig_tlv) {
			sigs++;
			if (!key_ok)
				continue;	/* bootutil skips a signature whose key it does not hold */
			key_ok = 0;
			if (k->pss ? t->len != k->rsa_len : k->ed25519 ? t->len != 64 : t->len > 128) {
				snprintf(why, cap, "the signature TLV is %u bytes: bootutil wants %s", t->len,
					 k->pss ? (k->rsa_len == 256 ? "256" : "384") : k->ed25519 ? "64" : "at most 128");
				return SGT_ERR_VERDICT;
			}
			if (k->ed25519)
				valid = ed25519_verify(k, hash, hlen, im->d + t->off, t->len, last, sizeof(last)) == SGT_OK;
			else
				valid = sgt_device_verify_boot(k->der, k->derlen, k->hash_tlv == SGT_MCUBOOT_SHA384, k->pss, hash, hlen,
						       im->d + t->off, t->len, last, sizeof(last)) == SGT_OK;
		}
	}
	if (key_named)
		*key_named = named;
	if (!hash_ok) {
		snprintf(why, cap, "no %s hash TLV (0x%02x): bootutil requires one", hname, k->hash_tlv);
		return SGT_ERR_VERDICT;
	}
	if (valid)
		return SGT_OK;
	if (sigs == 0)
		snprintf(why, cap, "no %s signature TLV (0x%02x)", k->name, k->sig_tlv);
	else if (!named)
		snprintf(why, cap, "no key TLV names this %s key (key hash or key): the bootloader skips the signature", k->name);
	else
		snprintf(why, cap, "the %s signature does not verify with this key (%s)", k->name, last[0] ? last : "no signature after the key TLV");
	return SGT_ERR_VERDICT;
}

static int ends_with_hex(const char *path)
{
	size_t n = strlen(path);

	return n >= 4 && strcasecmp(path + n - 4, ".hex") == 0;
}

int sgt_mcuboot_load(const char *path, const unsigned char *d, size_t n, int force_hex, unsigned char **out,
		     size_t *outlen, unsigned long long *base, int *is_hex)
{
	struct sgt_image img;
	unsigned long long lo = ~0ULL, hi = 0;
	size_t i;
	int rc;

	*out = NULL;
	*outlen = 0;
	*base = 0;
	*is_hex = force_hex || ends_with_hex(path);
	if (!*is_hex) {
		if ((*out = malloc(n ? n : 1)) == NULL)
			return sgt_err(SGT_ERR_DATA, "out of memory");
		memcpy(*out, d, n);
		*outlen = n;
		return SGT_OK;
	}
	memset(&img, 0, sizeof(img));
	if (sgt_container_type(d, n) != SGT_CONT_IHEX)
		return sgt_err(SGT_ERR_DATA, "'%s': not an Intel HEX file (its name ends in .hex)", path);
	if ((rc = sgt_container_decode(path, d, n, &img)) != SGT_OK)
		return rc;
	for (i = 0; i < img.nchunks; i++) {
		if (img.chunks[i].addr < lo)
			lo = img.chunks[i].addr;
		if (img.chunks[i].addr + img.chunks[i].len > hi)
			hi = img.chunks[i].addr + img.chunks[i].len;
	}
	if (img.nchunks == 0 || hi <= lo) {
		sgt_image_release(&img);
		return sgt_err(SGT_ERR_DATA, "'%s': the Intel HEX file loads no bytes", path);
	}
	if (hi - lo > MAX_SPAN) {
		sgt_image_release(&img);
		return sgt_err(SGT_ERR_DATA, "'%s': the Intel HEX file spans 0x%llx..0x%llx, more than one slot can hold", path,
			       lo, hi);
	}
	if ((*out = malloc((size_t)(hi - lo))) == NULL) {
		sgt_image_release(&img);
		return sgt_err(SGT_ERR_DATA, "out of memory");
	}
	memset(*out, 0xff, (size_t)(hi - lo));
	for (i = 0; i < img.nchunks; i++)
		memcpy(*out + (img.chunks[i].addr - lo), img.data + img.chunks[i].off, img.chunks[i].len);
	*outlen = (size_t)(hi - lo);
	*base = lo;
	sgt_image_release(&img);
	return SGT_OK;
}
