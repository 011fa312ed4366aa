/*
 * mcubootverify.c: an independent MCUboot image check for the tests,
 * written from the format (bootutil image.h / tlv.c / image_validate.c)
 * on mbedTLS alone; it shares no code with signet.
 *
 *   mcubootverify IMAGE PUBKEY.pem
 *
 * IMAGE is raw, or Intel HEX when its name ends in .hex (read from its
 * lowest address, gaps 0xff).  The key is what keys.c bakes: the SPKI DER
 * of an EC key, the PKCS#1 RSAPublicKey of an RSA key; its SHA-256
 * (SHA-384 for P-384) is the key hash.  Prints "OK" and exits 0 when the
 * bootloader would boot the image, else prints the reason and exits 1
 * (2 for usage or unreadable files).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/rsa.h>

static unsigned char *img;
static size_t imglen;
static mbedtls_pk_context pk;

static int bad(const char *why)
{
	printf("refused: %s\n", why);
	return 1;
}

static unsigned rd16(size_t o)
{
	return (unsigned)img[o] | (unsigned)img[o + 1] << 8;
}

static unsigned long rd32(size_t o)
{
	return (unsigned long)rd16(o) | (unsigned long)rd16(o + 2) << 16;
}

static int hexv(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Intel HEX into img: two passes, first for the address range. */
static int read_hex(const char *text)
{
	unsigned long long lo = ~0ULL, hi = 0, upper = 0;
	int pass;

	for (pass = 0; pass < 2; pass++) {
		const char *p = text;

		upper = 0;
		while ((p = strchr(p, ':')) != NULL) {
			unsigned char rec[300];
			int n = 0, i, sum = 0;

			p++;
			while (hexv(p[2 * n]) >= 0 && hexv(p[2 * n + 1]) >= 0 && n < 300) {
				rec[n] = (unsigned char)(hexv(p[2 * n]) << 4 | hexv(p[2 * n + 1]));
				n++;
			}
			if (n < 5 || n != rec[0] + 5)
				return -1;
			for (i = 0; i < n; i++)
				sum += rec[i];
			if (sum & 0xff)
				return -1;
			if (rec[3] == 0) {
				unsigned long long a = upper + ((unsigned)rec[1] << 8 | rec[2]);

				if (pass == 0) {
					lo = a < lo ? a : lo;
					hi = a + rec[0] > hi ? a + rec[0] : hi;
				} else {
					memcpy(img + (a - lo), rec + 4, rec[0]);
				}
			} else if (rec[3] == 4 && rec[0] == 2) {
				upper = (unsigned long long)(rec[4] << 8 | rec[5]) << 16;
			} else if (rec[3] == 1) {
				break;
			}
			p += 2 * n;
		}
		if (pass == 0) {
			if (hi <= lo || hi - lo > (64u << 20))
				return -1;
			imglen = (size_t)(hi - lo);
			img = malloc(imglen);
			memset(img, 0xff, imglen);
		}
	}
	return 0;
}

static unsigned char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	unsigned char *b;
	long len;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
		return NULL;
	b = malloc((size_t)len + 1);
	if (b == NULL || fread(b, 1, (size_t)len, f) != (size_t)len)
		return NULL;
	b[len] = 0;
	*n = (size_t)len;
	fclose(f);
	return b;
}

static int check(int argc, char **argv)
{
	unsigned char keybuf[2048], *key, hash[64], kh[64];
	unsigned char *kb;
	size_t kblen, klen, hlen, off, size, prot_end, tlv_end, t;
	unsigned hdr_size, prot_size, magic, tot;
	unsigned long img_size;
	int ec384 = 0, rsa = 0, ret, key_ok = 0, hash_ok = 0, sig_ok = 0, nsig = 0;
	unsigned want_hash, want_sig;
	mbedtls_md_type_t md;
	size_t plen = strlen(argc > 1 ? argv[1] : "");

	if (argc != 3)
		return fprintf(stderr, "usage: mcubootverify IMAGE PUBKEY.pem\n"), 2;
	if ((kb = slurp(argv[1], &kblen)) == NULL)
		return fprintf(stderr, "cannot read %s\n", argv[1]), 2;
	if (plen > 4 && strcmp(argv[1] + plen - 4, ".hex") == 0) {
		int bad_hex = read_hex((const char *)kb) != 0;

		free(kb);
		if (bad_hex)
			return fprintf(stderr, "%s: bad Intel HEX\n", argv[1]), 2;
	} else {
		img = kb;
		imglen = kblen;
	}
	mbedtls_pk_init(&pk);
	if ((kb = slurp(argv[2], &kblen)) == NULL || mbedtls_pk_parse_public_key(&pk, kb, kblen + 1) != 0)
		return fprintf(stderr, "cannot read the public key %s\n", argv[2]), 2;
	free(kb);
	rsa = mbedtls_pk_get_type(&pk) == MBEDTLS_PK_RSA;
	if (rsa) {
		ret = mbedtls_pk_write_pubkey(&(unsigned char *){ keybuf + sizeof(keybuf) }, keybuf, &pk);
		want_sig = mbedtls_pk_get_bitlen(&pk) == 2048 ? 0x20 : 0x23;
	} else {
		ret = mbedtls_pk_write_pubkey_der(&pk, keybuf, sizeof(keybuf));
		ec384 = mbedtls_pk_get_bitlen(&pk) == 384;
		want_sig = 0x22;
	}
	if (ret <= 0)
		return fprintf(stderr, "cannot encode the key\n"), 2;
	klen = (size_t)ret;
	key = keybuf + sizeof(keybuf) - klen;
	md = ec384 ? MBEDTLS_MD_SHA384 : MBEDTLS_MD_SHA256;
	want_hash = ec384 ? 0x11 : 0x10;
	hlen = ec384 ? 48 : 32;
	mbedtls_md(mbedtls_md_info_from_type(md), key, klen, kh);

	if (imglen < 32)
		return bad("shorter than the header");
	if (rd32(0) != 0x96f3b83dUL)
		return bad("image magic");
	hdr_size = rd16(8);
	prot_size = rd16(10);
	img_size = rd32(12);
	off = (size_t)hdr_size + img_size;
	size = off + prot_size;
	if (hdr_size < 32 || size >= imglen || off + 4 > imglen)
		return bad("header sizes past the image");
	magic = rd16(off);
	tot = rd16(off + 2);
	if (magic == 0x6908) {
		if (tot != prot_size || off + tot + 4 > imglen)
			return bad("protected TLV size");
		magic = rd16(off + tot);
		tot = rd16(off + tot + 2);
	} else if (prot_size != 0) {
		return bad("protected TLV info missing");
	}
	if (magic != 0x6907)
		return bad("TLV info magic");
	prot_end = off + prot_size;
	tlv_end = prot_end + tot;
	if (tlv_end > imglen)
		return bad("TLV area past the image");
	mbedtls_md(mbedtls_md_info_from_type(md), img, size, hash);
	for (t = off + 4; t < tlv_end;) {
		unsigned type, len;

		if (prot_size > 0 && t == prot_end) {
			t += 4;
			continue;
		}
		if (tlv_end - t < 4)
			return bad("TLV header past the area");
		type = rd16(t);
		len = rd16(t + 2);
		if (len > tlv_end - t - 4)
			return bad("TLV length past the area");
		if (type == want_hash) {
			if (len != hlen || memcmp(img + t + 4, hash, hlen) != 0)
				return bad("hash mismatch");
			hash_ok = 1;
		} else if (type == 0x01) {
			key_ok = len == hlen && memcmp(img + t + 4, kh, hlen) == 0;
		} else if (type == 0x02) {
			key_ok = len == klen && memcmp(img + t + 4, key, klen) == 0;
		} else if (type == want_sig) {
			nsig++;
			if (key_ok) {
				if (rsa) {
					mbedtls_rsa_context *r = mbedtls_pk_rsa(pk);

					mbedtls_rsa_set_padding(r, MBEDTLS_RSA_PKCS_V21, MBEDTLS_MD_SHA256);
					ret = len == mbedtls_rsa_get_len(r)
						      ? mbedtls_rsa_rsassa_pss_verify_ext(r, NULL, NULL, MBEDTLS_RSA_PUBLIC,
											  MBEDTLS_MD_SHA256, 32, hash,
											  MBEDTLS_MD_SHA256, 32, img + t + 4)
						      : -1;
				} else {
					ret = mbedtls_pk_verify(&pk, md, hash, hlen, img + t + 4, len);
				}
				sig_ok = ret == 0;
			}
			key_ok = 0;
		}
		t += 4 + (size_t)len;
	}
	if (!hash_ok)
		return bad("no hash TLV");
	if (nsig == 0)
		return bad("no signature TLV");
	if (!sig_ok)
		return bad("signature (or key) does not match");
	printf("OK\n");
	return 0;
}

int main(int argc, char **argv)
{
	int rc = check(argc, argv);

	mbedtls_pk_free(&pk);
	free(img);
	return rc;
}
