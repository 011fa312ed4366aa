/*
 * mcuboot.h: MCUboot images, written and judged from the format itself
 * (mcu-tools/mcuboot docs/design.md, bootutil image.h, tlv.c and
 * image_validate.c): the 32-byte little-endian image header (magic
 * 0x96f3b83d), the body, the protected TLV area (info 0x6908, the
 * security counter) and the unprotected one (info 0x6907: hash of header,
 * body and protected TLVs, key hash or full key, signature), and the
 * trailer at the end of the slot (swap state, image_ok, boot magic).
 * Encoding here makes the bytes to sign and then the image; the token
 * signs in between (the caller's business).  Decoding walks the TLVs with
 * the bounds bootutil checks, and judging repeats bootutil's decision
 * (hash, key, signature); the signature itself is checked with mbedTLS
 * through device.h, an Ed25519 one with OpenSSL (mbedTLS 2.28 has none).  Nothing here prints.
 */
#ifndef SGT_MCUBOOT_H
#define SGT_MCUBOOT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "sgt.h"

#define SGT_MCUBOOT_MAGIC 0x96f3b83dU
#define SGT_MCUBOOT_HDR 32
#define SGT_MCUBOOT_TLV_INFO 0x6907
#define SGT_MCUBOOT_TLV_PROT_INFO 0x6908
#define SGT_MCUBOOT_KEYHASH 0x01
#define SGT_MCUBOOT_PUBKEY 0x02
#define SGT_MCUBOOT_SHA256 0x10
#define SGT_MCUBOOT_SHA384 0x11
#define SGT_MCUBOOT_RSA2048_PSS 0x20
#define SGT_MCUBOOT_ECDSA_SIG 0x22
#define SGT_MCUBOOT_RSA3072_PSS 0x23
#define SGT_MCUBOOT_ED25519 0x24
#define SGT_MCUBOOT_SEC_CNT 0x50
#define SGT_MCUBOOT_F_RAM_LOAD 0x20

/* ih_ver: X.Y.Z+B within u8.u8.u16+u32. */
struct sgt_mcuboot_ver {
	uint8_t major, minor;
	uint16_t revision;
	uint32_t build;
};

/* Parses "X[.Y[.Z]][+B]"; SGT_ERR_USAGE (quiet) when it does not fit. */
int sgt_mcuboot_version_parse(const char *s, struct sgt_mcuboot_ver *v);

/* What a key is to MCUboot: the signature TLV, the hash it goes with, the key's bytes as keys.c bakes them. */
struct sgt_mcuboot_key {
	uint16_t sig_tlv;		/* SGT_MCUBOOT_ECDSA_SIG, _RSA2048_PSS, ... */
	uint16_t hash_tlv;		/* SGT_MCUBOOT_SHA256 or _SHA384 */
	size_t hash_len;		/* 32 or 48 */
	const EVP_MD *md;
	int pss;			/* RSA-PSS (MGF1 SHA-256, salt 32) */
	int ed25519;			/* Ed25519 over the SHA-256 image hash (64-byte signature) */
	size_t rsa_len;			/* signature bytes for RSA */
	unsigned char *der;		/* SubjectPublicKeyInfo (EC, Ed25519), PKCS#1 RSAPublicKey (RSA); malloc'd */
	size_t derlen;
	char name[24];			/* "ecdsa-p256", "rsa-3072", ... */
};

/*
 * Fills k for pub; SGT_ERR_DATA with why (static text) for a key MCUboot
 * does not verify (RSA other than 2048/3072, other curves).
 */
int sgt_mcuboot_key_of(EVP_PKEY *pub, struct sgt_mcuboot_key *k, const char **why);
void sgt_mcuboot_key_release(struct sgt_mcuboot_key *k);

/* Options of `signet sign --format mcuboot`, as imgtool sign takes them. */
struct sgt_mcuboot_opts {
	struct sgt_mcuboot_ver ver;
	unsigned hdr_size;		/* >= 32 */
	int pad_header;			/* prepend hdr_size bytes (0xff) instead of requiring zeros */
	unsigned align;			/* flash write size: 1, 2, 4, 8, 16, 32 */
	unsigned long long slot_size;	/* 0: unknown */
	int pad;			/* raw: pad to slot_size with a trailer */
	int confirm;			/* image_ok = 0x01 in the trailer */
	int full_key;			/* PUBKEY TLV instead of KEYHASH */
	int have_sec_cnt;
	uint32_t sec_cnt;
	uint32_t load_addr;		/* ih_load_addr; non-zero sets IMAGE_F_RAM_LOAD */
};

/*
 * An image being made: img holds header, body and protected TLVs (the
 * hashed part), digest their hash; after _finish it also holds the
 * unprotected TLVs.
 */
struct sgt_mcuboot_build {
	struct sgt_buf img;
	unsigned char digest[64];
	size_t dlen;
	size_t hashed;			/* bytes covered by the hash */
};

/* Bytes of the trailer at the end of the slot for align (imgtool: 128 sectors, swap status included). */
unsigned long long sgt_mcuboot_trailer_size(unsigned align);

/*
 * Header, body and protected TLVs for body[0..n) and the digest to sign.
 * SGT_ERR_DATA (quiet, why set) when the body is already an MCUboot image,
 * does not begin with hdr_size zero bytes (without pad_header), or is too
 * large for the header's fields.
 */
int sgt_mcuboot_prepare(const unsigned char *body, size_t n, const struct sgt_mcuboot_opts *o,
			const struct sgt_mcuboot_key *k, struct sgt_mcuboot_build *b, char *why, size_t cap);
/*
 * Appends the unprotected TLVs (hash, key hash or key, signature).
 * SGT_ERR_DATA (quiet, why set) when the image with its trailer does not
 * fit slot_size.
 */
int sgt_mcuboot_finish(struct sgt_mcuboot_build *b, const struct sgt_mcuboot_opts *o, const struct sgt_mcuboot_key *k,
		       const unsigned char *sig, size_t siglen, char *why, size_t cap);
/*
 * The file: raw (padded to the slot with the trailer when o->pad) or
 * Intel HEX at base (trailer at base + slot_size).
 */
int sgt_mcuboot_render(const struct sgt_mcuboot_build *b, const struct sgt_mcuboot_opts *o, int hex,
		       unsigned long long base, struct sgt_buf *out);
void sgt_mcuboot_build_release(struct sgt_mcuboot_build *b);

/* One TLV as the iteration finds it. */
struct sgt_mcuboot_tlv {
	uint16_t type, len;
	size_t off;			/* of the value, in the image */
	int prot;
};

/* A decoded image: pointers into the caller's bytes. */
struct sgt_mcuboot_image {
	const unsigned char *d;
	size_t n;
	uint32_t load_addr, img_size, flags;
	uint16_t hdr_size, prot_size;
	struct sgt_mcuboot_ver ver;
	size_t hashed;			/* hdr_size + img_size + prot_size */
	size_t tlv_off;			/* the first TLV info header: hdr_size + img_size */
	size_t tlv_end;
	size_t ntlv;			/* TLVs in both areas */
};

/* 1 when d starts with the image magic. */
int sgt_mcuboot_is_image(const unsigned char *d, size_t n);
/*
 * Decodes d[0..n) as bootutil reads a slot: magic, sizes within the file,
 * TLV info magics and totals, every TLV inside its area.  SGT_ERR_VERDICT
 * with the bootloader's reason in why when it would refuse the image.
 */
int sgt_mcuboot_parse(const unsigned char *d, size_t n, struct sgt_mcuboot_image *im, char *why, size_t cap);
/*
 * The TLVs of a parsed image in bootutil's order, protected then
 * unprotected: *pos starts at 0; 1 and *t filled while there is one, then 0.
 */
int sgt_mcuboot_next(const struct sgt_mcuboot_image *im, size_t *pos, struct sgt_mcuboot_tlv *t);
/* The first TLV of type into *t: 1, or 0 when there is none. */
int sgt_mcuboot_find(const struct sgt_mcuboot_image *im, uint16_t type, struct sgt_mcuboot_tlv *t);
/*
 * bootutil_img_validate for a bootloader built for key k (its signature
 * type and hash): the hash TLV must equal the hash of header, body and
 * protected TLVs; a signature counts only after a key TLV naming k (key
 * hash over k->der, or the full key), and must verify (mbedTLS; OpenSSL for
 * Ed25519).  SGT_OK,
 * or SGT_ERR_VERDICT with the reason in why.  *key_named (may be NULL)
 * says whether a key TLV named k.
 */
int sgt_mcuboot_judge(const struct sgt_mcuboot_image *im, const struct sgt_mcuboot_key *k, int *key_named, char *why,
		      size_t cap);
/* 1 when the image carries a key TLV naming k (key hash with k's hash, or the full key). */
int sgt_mcuboot_names_key(const struct sgt_mcuboot_image *im, const struct sgt_mcuboot_key *k);
/*
 * The bytes a file loads for an MCUboot check: a raw file as it is; an
 * Intel HEX file (a name ending in .hex, or any name when force_hex) from
 * its lowest address, gaps 0xff (*base its address).  *out malloc'd.
 * Errors name path.
 */
int sgt_mcuboot_load(const char *path, const unsigned char *d, size_t n, int force_hex, unsigned char **out,
		     size_t *outlen, unsigned long long *base, int *is_hex);

#endif
