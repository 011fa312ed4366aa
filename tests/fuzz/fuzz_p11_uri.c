/*
 * fuzz_p11_uri.c: libFuzzer harness for PKCS#11 URIs as users give them
 * (--key, key show, key adopt --uri, init --token): sgt_p11_uri_parse,
 * p11-kit's parser plus signet's refusal of unknown attributes and of the
 * queries it does not honour (pin-value, pin-source, module-path,
 * module-name).  A URI that is accepted must carry none of those.
 */
#include <p11-kit/uri.h>

#include "fuzz.h"
#include "p11.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	void *uri = NULL;
	char *s;
	int rc;

	(void)fuzz_dir();
	s = fuzz_str(data, size);
	rc = sgt_p11_uri_parse(s, &uri);
	if (rc == SGT_OK) {
		if (uri == NULL || p11_kit_uri_get_pin_value(uri) != NULL || p11_kit_uri_get_pin_source(uri) != NULL ||
		    p11_kit_uri_get_module_path(uri) != NULL || p11_kit_uri_get_module_name(uri) != NULL)
			__builtin_trap();
	} else if (rc != SGT_ERR_USAGE || uri != NULL) {
		__builtin_trap();
	}
	sgt_p11_uri_free(uri);
	free(s);
	return 0;
}
