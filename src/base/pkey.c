/*
 * pkey.c: facts about an OpenSSL public key that the audit key, key
 * records and certificates all need: its SPKI hash and its algorithm name.
 * Floor: base 1.  It may call sgt.c only.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/params.h>
#include <openssl/x509.h>

#include "pkey.h"

/*
 * The DER SubjectPublicKeyInfo of an EC key on P-256 or P-384 with its
 * point uncompressed (every key signet makes or takes) up to the point:
 * id-ecPublicKey, the curve's OID, the BIT STRING's header.
 */
static const unsigned char spki_p256[] = { 0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d,
					   0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01,
					   0x07, 0x03, 0x42, 0x00 };
static const unsigned char spki_p384[] = { 0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02,
					   0x01, 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22, 0x03, 0x62, 0x00 };

/*
 * pk's SPKI written straight from its encoded point when it is one of the
 * above on a named curve: the same bytes as i2d_PUBKEY, without OpenSSL 3.0
 * enumerating every provider's encoders for it (a sign hashes the key it
 * signs with and the audit key).  0 when pk is anything else, for
 * i2d_PUBKEY to say.
 */
static size_t spki_ec_named(EVP_PKEY *pk, unsigned char *der, size_t cap)
{
	const unsigned char *prefix;
	char group[32], enc[32], form[32];
	size_t plen, glen = 0, elen = 0, flen = 0, n = 0;

	/* how i2d_PUBKEY writes the curve and the point, which the encoded point alone does not say */
	if (EVP_PKEY_get_base_id(pk) != EVP_PKEY_EC ||
	    !EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &glen) ||
	    !EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_EC_ENCODING, enc, sizeof(enc), &elen) ||
	    strcmp(enc, OSSL_PKEY_EC_ENCODING_GROUP) != 0 ||
	    !EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, form, sizeof(form), &flen) ||
	    strcmp(form, OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_UNCOMPRESSED) != 0) {
		ERR_clear_error();
		return 0;
	}
	if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0) {
		prefix = spki_p256;
		plen = sizeof(spki_p256);
	} else if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0) {
		prefix = spki_p384;
		plen = sizeof(spki_p384);
	} else {
		return 0;
	}
	/* the BIT STRING's length byte, less its unused-bits byte, is the point's: 65 or 97 */
	if (cap < plen + prefix[plen - 2] - 1 ||
	    !EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, der + plen, cap - plen, &n) ||
	    n != (size_t)prefix[plen - 2] - 1 || der[plen] != 0x04) {
		ERR_clear_error();
		return 0;
	}
	memcpy(der, prefix, plen);
	return plen + n;
}

int sgt_pkey_spki_ec(const unsigned char *der, size_t len, EVP_PKEY **out)
{
	const char *group = NULL;
	size_t plen = 0;
	OSSL_PARAM params[3];
	EVP_PKEY_CTX *ctx;
	int ok;

	*out = NULL;
	if (len == sizeof(spki_p256) + 65 && memcmp(der, spki_p256, sizeof(spki_p256)) == 0) {
		group = "prime256v1";
		plen = sizeof(spki_p256);
	} else if (len == sizeof(spki_p384) + 97 && memcmp(der, spki_p384, sizeof(spki_p384)) == 0) {
		group = "secp384r1";
		plen = sizeof(spki_p384);
	}
	if (group == NULL || der[plen] != 0x04)
		return 0;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)(der + plen), len - plen);
	params[2] = OSSL_PARAM_construct_end();
	/* the point is refused here when it is not on the curve, as the decoders refuse it */
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	ok = ctx != NULL && EVP_PKEY_fromdata_init(ctx) == 1 && EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) == 1;
	EVP_PKEY_CTX_free(ctx);
	if (!ok) {
		EVP_PKEY_free(*out);
		*out = NULL;
		ERR_clear_error();
	}
	return ok;
}

int sgt_key_spki_sha256(EVP_PKEY *pk, char out[65])
{
	unsigned char buf[128], *der = NULL;
	size_t n = pk != NULL ? spki_ec_named(pk, buf, sizeof(buf)) : 0;
	int len;

	out[0] = '\0';
	if (n > 0) {
		sgt_sha256_hex(buf, n, out);
		return SGT_OK;
	}
	if ((len = pk != NULL ? i2d_PUBKEY(pk, &der) : -1) <= 0)
		return sgt_err(SGT_ERR_DATA, "cannot encode a public key: %s", sgt_ossl_why());
	sgt_sha256_hex(der, (size_t)len, out);
	OPENSSL_free(der);
	return SGT_OK;
}

void sgt_pkey_alg(EVP_PKEY *pk, char *out, size_t cap)
{
	char group[64] = "";
	size_t glen = 0;

	if (pk == NULL) {
		snprintf(out, cap, "unknown");
		return;
	}
	switch (EVP_PKEY_get_base_id(pk)) {
	case EVP_PKEY_EC:
		if (!EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &glen))
			snprintf(group, sizeof(group), "unknown curve");
		ERR_clear_error();
		if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)
			snprintf(out, cap, "ecdsa-p256");
		else if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
			snprintf(out, cap, "ecdsa-p384");
		else
			snprintf(out, cap, "ec %s", group);
		break;
	case EVP_PKEY_RSA:
		snprintf(out, cap, "rsa-%d", EVP_PKEY_get_bits(pk));
		break;
	default:
		snprintf(out, cap, "%s", OBJ_nid2sn(EVP_PKEY_get_base_id(pk)));
		break;
	}
}
