/*
 * fuzz_audit_anchor.c: libFuzzer harness for signed head lines
 * (sgt_audit_anchor_parse): audit.head's "signed" line, the token's
 * anchor object and the copies given to `audit verify --head`.
 */
#include "audit.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sgt_audit_anchor a;

	(void)fuzz_dir();
	memset(&a, 0, sizeof(a));
	if (sgt_audit_anchor_parse((const char *)data, size, &a) == 0) {
		if (memchr(a.hash, '\0', sizeof(a.hash)) == NULL || memchr(a.sig_b64, '\0', sizeof(a.sig_b64)) == NULL)
			__builtin_trap();
	}
	return 0;
}
