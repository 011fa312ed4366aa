/*
 * fuzz_hsm_objfile.c: libFuzzer harness for the SoftHSM2 object-file
 * recogniser (sgt_hsm_objfile_ok), which the token guard runs on files
 * of the embedded token that anyone with write access could have changed.
 */
#include "fuzz.h"
#include "hsmguard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	(void)fuzz_dir();
	(void)sgt_hsm_objfile_ok(data, size);
	return 0;
}
