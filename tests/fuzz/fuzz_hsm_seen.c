/*
 * fuzz_hsm_seen.c: libFuzzer harness for the token guard's list of files
 * it last found good (hsm/good/<token>/.seen), a store file that decides
 * which token files are read and checked.  The first line of the input is
 * taken as the current boot id, the rest as the list.
 */
#include "fuzz.h"
#include "hsmguard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data, *nl = memchr(text, '\n', size);
	char boot[40];
	size_t n;

	(void)fuzz_dir();
	if (nl == NULL)
		return 0;
	n = (size_t)(nl - text) < sizeof(boot) - 1 ? (size_t)(nl - text) : sizeof(boot) - 1;
	memcpy(boot, text, n);
	boot[n] = '\0';
	(void)sgt_hsm_seen_parse(nl + 1, size - (size_t)(nl + 1 - text), boot);
	return 0;
}
