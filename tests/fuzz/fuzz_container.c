/*
 * fuzz_container.c: libFuzzer harness for firmware containers: Intel HEX
 * and S-record decoding (sgt_container_decode) and ELF offsets
 * (sgt_container_elf_addr).  Decoded chunks must lie inside the decoded
 * data.
 */
#include "container.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sgt_image img;
	unsigned long long addr;
	char section[64];
	size_t i, total = 0;

	(void)fuzz_dir();
	memset(&img, 0, sizeof(img));
	switch (sgt_container_type(data, size)) {
	case SGT_CONT_IHEX:
	case SGT_CONT_SREC:
		if (sgt_container_decode("fuzz.hex", data, size, &img) == SGT_OK) {
			for (i = 0; i < img.nchunks; i++) {
				if (img.chunks[i].off + img.chunks[i].len < img.chunks[i].off)
					__builtin_trap();
				if (img.chunks[i].off + img.chunks[i].len > total)
					total = img.chunks[i].off + img.chunks[i].len;
			}
			if (total > size)	/* decoded bytes are at most half the text */
				__builtin_trap();
			if (total > 0 && img.data != NULL)
				(void)img.data[total - 1];	/* ASan: the chunks' bytes exist */
		}
		sgt_image_release(&img);
		break;
	case SGT_CONT_ELF:
		for (i = 0; i < size; i += 1 + size / 8)
			(void)sgt_container_elf_addr(data, size, i, &addr, section, sizeof(section));
		break;
	default:
		break;
	}
	return 0;
}
