/*
 * fuzz_keyrec.c: libFuzzer harness for key records (keys/<label>.yaml,
 * sgt_keyrec_load and the listing that reads them all).
 */
#include "fuzz.h"
#include "keyrec.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sgt_store st;
	struct sgt_keyrec rec, *all = NULL;
	char keys[128];
	size_t n = 0;

	memset(&st, 0, sizeof(st));
	st.lock_fd = -1;
	st.dir = (char *)fuzz_dir();
	snprintf(keys, sizeof(keys), "%s/keys", st.dir);
	(void)mkdir(keys, 0700);
	fuzz_put("keys/fw.yaml", data, size);
	if (sgt_keyrec_load(&st, "fw", &rec) == SGT_OK) {
		if (strcmp(rec.label, "fw") != 0 || memchr(rec.id, '\0', sizeof(rec.id)) == NULL ||
		    memchr(rec.algorithm, '\0', sizeof(rec.algorithm)) == NULL)
			__builtin_trap();
	}
	if (sgt_keyrec_list(&st, &all, &n) == SGT_OK)
		free(all);
	return 0;
}
