/*
 * fuzz_ota_reason.c: libFuzzer harness for `signet explain` input
 * (sgt_ota_parse): a reason code as a device prints it, or a JSON job
 * document holding one.
 */
#include "fuzz.h"
#include "ota.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sgt_ota_reason r;
	const char *why = NULL;
	char *s;

	(void)fuzz_dir();
	s = fuzz_str(data, size);
	memset(&r, 0, sizeof(r));
	if (sgt_ota_parse(s, &r, &why) == SGT_OK) {
		if (memchr(r.word, '\0', sizeof(r.word)) == NULL)
			__builtin_trap();
	} else if (why == NULL) {
		__builtin_trap();
	}
	free(s);
	return 0;
}
