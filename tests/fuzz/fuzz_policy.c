/*
 * fuzz_policy.c: libFuzzer harness for policy files (sgt_policy_parse),
 * read from the store's policies/ and from --policy paths.
 */
#include "fuzz.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sgt_policy *pol = NULL;

	(void)fuzz_dir();
	if (sgt_policy_parse("fuzz.yaml", (const char *)data, size, &pol) == SGT_OK) {
		(void)sgt_policy_allows_alg(pol, "ecdsa-p256");
		(void)sgt_policy_allows_alg(pol, "rsa-2048");
		sgt_policy_free(pol);
	}
	return 0;
}
