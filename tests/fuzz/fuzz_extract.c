/*
 * fuzz_extract.c: libFuzzer harness for `signet extract` on whatever a
 * build hands it (sgt_extract_named: C text, PEM, DER, raw, ELF, HEX,
 * S-record): the first byte picks the file name the input is read as.
 */
#include "extract.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "fw.h", "fw.c", "fw.bin", "fw.pem", "fw.hex", "fw.srec", "fw.elf",
					     "fw.der" };
	struct sgt_found_list l;

	(void)fuzz_dir();
	if (size == 0)
		return 0;
	memset(&l, 0, sizeof(l));
	if (sgt_extract_named(names[data[0] % 8], data + 1, size - 1, &l) == SGT_OK)
		sgt_found_list_release(&l);
	return 0;
}
