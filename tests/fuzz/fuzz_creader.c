/*
 * fuzz_creader.c: libFuzzer harness for the C reader (sgt_creader_scan):
 * headers and sources firmware builds bake keys into.  Every piece it
 * hands out must lie inside the input and map back to it.
 */
#include "creader.h"
#include "fuzz.h"

static int piece(void *arg, const struct sgt_cpiece *p)
{
	size_t n = *(size_t *)arg, i;

	if (p->file_off > p->file_end || p->file_end > n || p->nsegs == 0 || p->segs[0].data_off != 0)
		__builtin_trap();
	for (i = 0; i < p->nsegs; i++)
		if (p->segs[i].file_off > n || (i > 0 && p->segs[i].data_off < p->segs[i - 1].data_off))
			__builtin_trap();
	if (p->symbol == NULL)
		__builtin_trap();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct sgt_cdefine defs[] = { { "USE_PROD", NULL, 0 }, { "LEGACY", NULL, 1 } };
	struct sgt_creader *r = NULL;
	size_t n = size;

	(void)fuzz_dir();
	if (sgt_creader_scan(data, size, piece, &n, &r) == SGT_OK) {
		(void)sgt_creader_state_at(r, size / 2);
		(void)sgt_creader_in_token(r, size / 2);
	}
	sgt_creader_free(r);
	r = NULL;
	(void)sgt_creader_scan_with(data, size, defs, 2, piece, &n, &r);
	sgt_creader_free(r);
	return 0;
}
