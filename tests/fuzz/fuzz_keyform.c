/*
 * fuzz_keyform.c: libFuzzer harness for the key forms firmware holds
 * (keyform.h): the structural DER check, the DER and whole-array parsers
 * and the PEM labels.  A candidate's length never exceeds the input.
 */
#include "fuzz.h"
#include "keyform.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sgt_keyform k;
	size_t len;

	(void)fuzz_dir();
	len = sgt_keyform_candidate(data, size);
	if (len > size)
		__builtin_trap();
	memset(&k, 0, sizeof(k));
	if (len > 0 && sgt_keyform_der(data, len, &k) == 0) {
		if (k.len > size || k.form == NULL)
			__builtin_trap();
	}
	sgt_keyform_release(&k);
	memset(&k, 0, sizeof(k));
	(void)sgt_keyform_array(data, size, size % 2 ? "ec_p256_key" : "ed25519_pub", &k);
	sgt_keyform_release(&k);
	memset(&k, 0, sizeof(k));
	(void)sgt_keyform_pem_der("RSA PUBLIC KEY", data, size, &k);
	sgt_keyform_release(&k);
	(void)sgt_keyform_pem_label((const char *)data, size);
	return 0;
}
