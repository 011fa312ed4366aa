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
#include <openssl/x509.h>

#include "pkey.h"

int sgt_key_spki_sha256(EVP_PKEY *pk, char out[65])
{
	unsigned char *der = NULL;
	int len = pk != NULL ? i2d_PUBKEY(pk, &der) : -1;

	out[0] = '\0';
	if (len <= 0)
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
