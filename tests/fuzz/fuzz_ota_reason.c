/*
 * fuzz_ota_reason.c: libFuzzer harness for `signet explain` input
 * (sgt_ota_parse): a reason code as a device prints it, a JSON job
 * document holding one, or a device log line (Msg: {json}, Error=(...),
 * OtaErr_t=, IngestResult_t, pre-v3 "Error (17:16766875) closing OTA file").
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
		if (memchr(r.word, '\0', sizeof(r.word)) == NULL || memchr(r.form, '\0', sizeof(r.form)) == NULL)
			__builtin_trap();
		/* what explain prints from: a known code's name, an ingest value's table */
		if (r.code != NULL && r.code->name == NULL)
			__builtin_trap();
	} else if (why == NULL) {
		__builtin_trap();
	}
	free(s);
	return 0;
}
