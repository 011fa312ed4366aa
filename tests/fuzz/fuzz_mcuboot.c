/*
 * fuzz_mcuboot.c: libFuzzer harness for the MCUboot image decoder
 * (sgt_mcuboot_parse, and sgt_mcuboot_judge on what it accepts, with a
 * fixed P-256 key and a fixed Ed25519 key) and the Intel HEX loading in front of it
 * (sgt_mcuboot_load).  Every TLV the decoder hands out must lie inside
 * the image's TLV area; the bytes hashed inside the image.
 */
#include <openssl/ec.h>

#include "fuzz.h"
#include "mcuboot.h"

static void check(const unsigned char *d, size_t n, const struct sgt_mcuboot_key *k, const struct sgt_mcuboot_key *ked)
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
	(void)sgt_mcuboot_judge(&im, ked, &named, why, sizeof(why));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sgt_mcuboot_key k, ked;
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
		/* The key that signed the ed25519*.bin seeds, so they reach the signature check. */
		static const unsigned char edpub[32] = {
			0x29, 0x1d, 0xee, 0xb9, 0xdb, 0x39, 0xd6, 0x54, 0x1c, 0x5c, 0xa5, 0x68, 0xa7, 0x02, 0xae, 0x40,
			0xc9, 0x83, 0x34, 0xda, 0x80, 0x68, 0x18, 0x02, 0xcc, 0x44, 0x7d, 0xc9, 0x5d, 0x36, 0xb1, 0xd3,
		};

		if ((pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, edpub, sizeof(edpub))) == NULL ||
		    sgt_mcuboot_key_of(pk, &ked, &why) != SGT_OK)
			__builtin_trap();
		EVP_PKEY_free(pk);
		ready = 1;
	}
	check(data, size, &k, &ked);
	if (size > 0 && data[0] == ':' && sgt_mcuboot_load("fuzz", data, size, 1, &body, &len, &base, &hex) == SGT_OK)
		check(body, len, &k, &ked);
	free(body);
	return 0;
}
