/*
 * container.c: Intel HEX, Motorola S-record and ELF (container.h).  HEX
 * and S-record are line formats: each record is parsed on its own with
 * its checksum, so a damaged line is named, and records whose addresses
 * follow each other are merged into one chunk so that a certificate split
 * across records is found whole.  ELF is read through its section headers
 * only (every field bounds-checked): the bytes are searched in place.
 */
#include <stdlib.h>
#include <string.h>

#include "container.h"
#include "sgt.h"


static int all_hex(const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (sgt_hexval(p[i]) < 0)
			return 0;
	return 1;
}

enum sgt_container_type sgt_container_type(const unsigned char *d, size_t n)
{
	size_t i = 0, e;

	if (n >= 4 && memcmp(d, "\x7f" "ELF", 4) == 0)
		return SGT_CONT_ELF;
	while (i < n && (d[i] == '\r' || d[i] == '\n'))
		i++;
	for (e = i; e < n && d[e] != '\r' && d[e] != '\n'; e++)
		;
	if (e - i >= 11 && d[i] == ':' && all_hex(d + i + 1, e - i - 1))
		return SGT_CONT_IHEX;
	if (e - i >= 10 && d[i] == 'S' && d[i + 1] >= '0' && d[i + 1] <= '9' && all_hex(d + i + 2, e - i - 2))
		return SGT_CONT_SREC;
	return SGT_CONT_RAW;
}

const char *sgt_container_name(enum sgt_container_type t)
{
	switch (t) {
	case SGT_CONT_IHEX: return "intel-hex";
	case SGT_CONT_SREC: return "s-record";
	case SGT_CONT_ELF: return "elf";
	default: return "raw";
	}
}

void sgt_image_release(struct sgt_image *img)
{
	free(img->data);
	free(img->chunks);
	memset(img, 0, sizeof(*img));
}

struct dec {
	struct sgt_image *img;
	size_t len, cap, capc;
	unsigned long long next;	/* address after the open chunk */
};

static int put(struct dec *dc, unsigned long long addr, const unsigned char *p, size_t n, size_t line)
{
	struct sgt_image *img = dc->img;

	if (n == 0)
		return SGT_OK;
	if (img->nchunks == 0 || addr != dc->next) {
		if (img->nchunks == dc->capc) {
			size_t c = dc->capc ? 2 * dc->capc : 16;
			void *v = realloc(img->chunks, c * sizeof(*img->chunks));

			if (v == NULL)
				return sgt_err(SGT_ERR_DATA, "out of memory");
			img->chunks = v;
			dc->capc = c;
		}
		img->chunks[img->nchunks].addr = addr;
		img->chunks[img->nchunks].off = dc->len;
		img->chunks[img->nchunks].len = 0;
		img->chunks[img->nchunks].line = line;
		img->nchunks++;
	}
	if (dc->len + n > dc->cap) {
		size_t c = dc->cap ? 2 * dc->cap : 4096;
		void *v;

		while (c < dc->len + n)
			c *= 2;
		if ((v = realloc(img->data, c)) == NULL)
			return sgt_err(SGT_ERR_DATA, "out of memory");
		img->data = v;
		dc->cap = c;
	}
	memcpy(img->data + dc->len, p, n);
	dc->len += n;
	img->chunks[img->nchunks - 1].len += n;
	dc->next = addr + n;
	return SGT_OK;
}

/* Hex pairs of one record into bytes; -1 on a non-hex digit or odd count. */
static long bytes_of(const unsigned char *p, size_t n, unsigned char *out, size_t max)
{
	size_t i;

	if (n % 2 != 0 || n / 2 > max)
		return -1;
	for (i = 0; i < n / 2; i++) {
		int hi = sgt_hexval(p[2 * i]), lo = sgt_hexval(p[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return (long)(n / 2);
}

static int ihex_record(struct dec *dc, const char *path, const unsigned char *p, size_t n, size_t line,
		       unsigned long long *base, int *done)
{
	unsigned char b[300];
	long k = bytes_of(p + 1, n - 1, b, sizeof(b));
	unsigned sum = 0;
	long i;

	if (p[0] != ':' || k < 5 || k != 5 + b[0])
		return sgt_err(SGT_ERR_DATA, "'%s' line %zu: not an Intel HEX record", path, line);
	for (i = 0; i < k; i++)
		sum += b[i];
	if ((sum & 0xff) != 0)
		return sgt_err(SGT_ERR_DATA, "'%s' line %zu: Intel HEX checksum is wrong", path, line);
	switch (b[3]) {
	case 0x00:
		return put(dc, *base + ((unsigned)b[1] << 8 | b[2]), b + 4, b[0], line);
	case 0x01:
		*done = 1;
		return SGT_OK;
	case 0x02:
		if (b[0] != 2)
			break;
		*base = (unsigned long long)((unsigned)b[4] << 8 | b[5]) << 4;
		return SGT_OK;
	case 0x04:
		if (b[0] != 2)
			break;
		*base = (unsigned long long)((unsigned)b[4] << 8 | b[5]) << 16;
		return SGT_OK;
	case 0x03:
	case 0x05:
		return SGT_OK;	/* start address: nothing loaded */
	}
	return sgt_err(SGT_ERR_DATA, "'%s' line %zu: unknown Intel HEX record type %02x", path, line, b[3]);
}

static int srec_record(struct dec *dc, const char *path, const unsigned char *p, size_t n, size_t line)
{
	unsigned char b[300];
	long k;
	unsigned sum = 0, alen;
	unsigned long long addr = 0;
	long i;

	if (n < 4 || p[0] != 'S' || (k = bytes_of(p + 2, n - 2, b, sizeof(b))) < 1 || k != 1 + b[0])
		return sgt_err(SGT_ERR_DATA, "'%s' line %zu: not an S-record", path, line);
	for (i = 0; i < k; i++)
		sum += b[i];
	if ((sum & 0xff) != 0xff)
		return sgt_err(SGT_ERR_DATA, "'%s' line %zu: S-record checksum is wrong", path, line);
	switch (p[1]) {
	case '1': alen = 2; break;
	case '2': alen = 3; break;
	case '3': alen = 4; break;
	case '0': case '4': case '5': case '6': case '7': case '8': case '9':
		return SGT_OK;	/* header, count, start address */
	default:
		return sgt_err(SGT_ERR_DATA, "'%s' line %zu: unknown S-record type S%c", path, line, p[1]);
	}
	if ((unsigned)b[0] < alen + 1)
		return sgt_err(SGT_ERR_DATA, "'%s' line %zu: S-record too short", path, line);
	for (i = 0; i < (long)alen; i++)
		addr = addr << 8 | b[1 + i];
	return put(dc, addr, b + 1 + alen, (size_t)b[0] - alen - 1, line);
}

int sgt_container_decode(const char *path, const unsigned char *d, size_t n, struct sgt_image *img)
{
	struct dec dc;
	unsigned long long base = 0;
	size_t i = 0, line = 0;
	int rc = SGT_OK, done = 0;

	memset(img, 0, sizeof(*img));
	memset(&dc, 0, sizeof(dc));
	dc.img = img;
	img->type = sgt_container_type(d, n);
	while (i < n && rc == SGT_OK && !done) {
		size_t e = i;

		while (e < n && d[e] != '\n')
			e++;
		line++;
		{
			size_t end = e;

			while (end > i && (d[end - 1] == '\r' || d[end - 1] == ' ' || d[end - 1] == '\t'))
				end--;
			if (end > i) {
				if (img->type == SGT_CONT_IHEX)
					rc = ihex_record(&dc, path, d + i, end - i, line, &base, &done);
				else
					rc = srec_record(&dc, path, d + i, end - i, line);
			}
		}
		i = e + 1;
	}
	if (rc != SGT_OK)
		sgt_image_release(img);
	return rc;
}

/* ---- ELF ---- */

static unsigned long long rd(const unsigned char *p, int size, int le)
{
	unsigned long long v = 0;
	int i;

	for (i = 0; i < size; i++)
		v |= (unsigned long long)p[le ? i : size - 1 - i] << (8 * i);
	return v;
}

int sgt_container_elf_addr(const unsigned char *d, size_t n, size_t off, unsigned long long *addr, char *section,
			   size_t cap)
{
	int is64, le;
	unsigned long long shoff, shnum, shentsize, shstrndx, stroff = 0, strsize = 0, k;

	if (n < 52 || memcmp(d, "\x7f" "ELF", 4) != 0 || (d[4] != 1 && d[4] != 2) || (d[5] != 1 && d[5] != 2))
		return 0;
	is64 = d[4] == 2;
	le = d[5] == 1;
	if (is64 && n < 64)
		return 0;
	shoff = rd(d + (is64 ? 0x28 : 0x20), is64 ? 8 : 4, le);
	shentsize = rd(d + (is64 ? 0x3a : 0x2e), 2, le);
	shnum = rd(d + (is64 ? 0x3c : 0x30), 2, le);
	shstrndx = rd(d + (is64 ? 0x3e : 0x32), 2, le);
	if (shentsize < (is64 ? 64u : 40u) || shoff > n || shnum > (n - shoff) / shentsize)
		return 0;
	if (shstrndx < shnum) {
		const unsigned char *s = d + shoff + shstrndx * shentsize;

		stroff = rd(s + (is64 ? 0x18 : 0x10), is64 ? 8 : 4, le);
		strsize = rd(s + (is64 ? 0x20 : 0x14), is64 ? 8 : 4, le);
		if (stroff > n || strsize > n - stroff)
			stroff = strsize = 0;
	}
	for (k = 0; k < shnum; k++) {
		const unsigned char *s = d + shoff + k * shentsize;
		unsigned long long type = rd(s + 4, 4, le), flags = rd(s + 8, is64 ? 8 : 4, le);
		unsigned long long a = rd(s + (is64 ? 0x10 : 0x0c), is64 ? 8 : 4, le);
		unsigned long long o = rd(s + (is64 ? 0x18 : 0x10), is64 ? 8 : 4, le);
		unsigned long long sz = rd(s + (is64 ? 0x20 : 0x14), is64 ? 8 : 4, le);
		unsigned long long nm = rd(s, 4, le);

		if (type == 8 /* SHT_NOBITS */ || !(flags & 2 /* SHF_ALLOC */) || off < o || off - o >= sz)
			continue;
		*addr = a + (off - o);
		section[0] = '\0';
		if (strsize > 0 && nm < strsize) {
			const char *name = (const char *)d + stroff + nm;
			size_t max = (size_t)(strsize - nm), len = strnlen(name, max);

			snprintf(section, cap, "%.*s", (int)(len < 31 ? len : 31), name);
		}
		return 1;
	}
	return 0;
}
