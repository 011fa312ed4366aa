/*
 * fuzz_codec.c: libFuzzer harness for the small decoders: hex (CKA_ID,
 * SPKI hashes), base64 (signatures, audit anchors), RFC 3339 times
 * (SIGNET_NOW, --not-after, records) and the fleet sources' ISO 8601 /
 * epoch times.  The first byte picks the decoder.
 */
#include "fleet.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char out[64], *b = NULL;
	size_t blen = 0;
	time_t t;
	char *s;
	long n;

	(void)fuzz_dir();
	if (size == 0)
		return 0;
	s = fuzz_str(data + 1, size - 1);
	switch (data[0] % 4) {
	case 0:
		n = sgt_unhex(s, out, sizeof(out));
		if (n > (long)sizeof(out))
			__builtin_trap();
		break;
	case 1:
		if (sgt_unbase64(s, size - 1, &b, &blen) == SGT_OK) {
			char *again = sgt_base64(b, blen);

			/* what decodes re-encodes to no more than the input's length */
			if (again == NULL || strlen(again) > size - 1 + 3)
				__builtin_trap();
			free(again);
			free(b);
		}
		break;
	case 2:
		if (sgt_time_parse(s, &t) == 0) {
			char iso[32];

			sgt_time_iso(t, iso);
		}
		break;
	default:
		(void)sgt_fleet_parse_time((const char *)data + 1, size - 1, &t);
		break;
	}
	free(s);
	return 0;
}
