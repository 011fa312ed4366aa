/*
 * container.h: firmware containers.  Intel HEX and Motorola S-record
 * files are decoded into the bytes they load (contiguous records merged
 * into chunks, each with its load address and the file line it starts
 * on); ELF files are searched as they are, and a file offset is named by
 * the load address and section it falls in.  A raw binary is its own
 * single chunk at address 0.  Decoding checks every record's checksum and
 * names the line that is wrong.  Memory is at most the decoded bytes
 * (half the text size); nothing here prints except errors.
 */
#ifndef SGT_CONTAINER_H
#define SGT_CONTAINER_H

#include <stddef.h>

enum sgt_container_type { SGT_CONT_RAW, SGT_CONT_IHEX, SGT_CONT_SREC, SGT_CONT_ELF };

struct sgt_chunk {
	unsigned long long addr;	/* load address of data[0] */
	size_t off, len;		/* in the image's data */
	size_t line;			/* line of the record it starts on */
};

struct sgt_image {
	enum sgt_container_type type;
	unsigned char *data;		/* decoded bytes (HEX, S-record) */
	struct sgt_chunk *chunks;
	size_t nchunks;
};

/* What d[0..n) is, by its first bytes. */
enum sgt_container_type sgt_container_type(const unsigned char *d, size_t n);
const char *sgt_container_name(enum sgt_container_type t);
/* Decodes an Intel HEX or S-record file; errors name path and line. */
int sgt_container_decode(const char *path, const unsigned char *d, size_t n, struct sgt_image *img);
void sgt_image_release(struct sgt_image *img);
/*
 * For an ELF file: the load address and section name of file offset off.
 * 1 when off lies in a loaded section, else 0.
 */
int sgt_container_elf_addr(const unsigned char *d, size_t n, size_t off, unsigned long long *addr, char *section,
			   size_t cap);

#endif
