/*
 * fuzz_mcuboot.c: libFuzzer harness for the MCUboot image decoder
 * (sgt_mcuboot_parse, and sgt_mcuboot_judge on what it accepts, with a
 * fixed P-256 key) and the Intel HEX loading in front of it
 * (sgt_mcuboot_load).  Every TLV the decoder hands out must lie inside
 * the image's TLV area; the bytes hashed inside the image.
 */
#include <openssl/ec.h>

#include "fuzz.h"
#include "mcuboot.h"

static void check(const unsigned char *d, size_t n, const struct sgt_mcuboot_key *k)
{
	struct sgt_mcuboot_image im;
	char why[300];
	struct sgt_mcuboot_tlv t;
	size_t pos = 0, count = 0;
	int named;

	if (sgt_mcuboot_parse(d, n, &im, why, sizeof(why)) != SGT_OK)
		return;
	if (im.hashed > n || im.tlv_end > n)
		__builtin_trap();
	while (sgt_mcuboot_next(&im, &pos, &t)) {
		if (t.off + t.len > im.tlv_end || ++count > im.ntlv)
			__builtin_trap();
	}
	if (count != im.ntlv)
		__builtin_trap();
	(void)sgt_mcuboot_judge(&im, k, &named, why, sizeof(why));
	(void)sgt_mcuboot_names_key(&im, k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sgt_mcuboot_key k;
	static int ready;
	unsigned char *body = NULL;
	unsigned long long base;
	size_t len;
	int hex;

	(void)fuzz_dir();
	if (!ready) {
		EVP_PKEY *pk = EVP_EC_gen("P-256");
		const char *why;

		if (pk == NULL || sgt_mcuboot_key_of(pk, &k, &why) != SGT_OK)
			__builtin_trap();
		EVP_PKEY_free(pk);
		ready = 1;
	}
	check(data, size, &k);
	if (size > 0 && data[0] == ':' && sgt_mcuboot_load("fuzz", data, size, 1, &body, &len, &base, &hex) == SGT_OK)
		check(body, len, &k);
	free(body);
	return 0;
}
