/*
 * fuzz_store_config.c: libFuzzer harness for a store's signet.yaml
 * (sgt_store_open) -- the file every command reads first.
 */
#include "fuzz.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sgt_store st;

	fuzz_put("signet.yaml", data, size);
	if (sgt_store_open(&st, fuzz_dir()) == SGT_OK) {
		if (st.cfg.module == NULL || st.cfg.nenv > SGT_MAX_ENV)
			__builtin_trap();
		sgt_store_release(&st);
	}
	return 0;
}
