/*
 * pkey.h: facts about an OpenSSL public key (pkey.c).
 */
#ifndef SGT_PKEY_H
#define SGT_PKEY_H

#include <stddef.h>

#include <openssl/evp.h>

#include "sgt.h"

/* SHA-256 hex of the DER SubjectPublicKeyInfo of pk. */
int sgt_key_spki_sha256(EVP_PKEY *pk, char out[65]);
/*
 * *out read from the DER SubjectPublicKeyInfo der when it is exactly a
 * P-256 or P-384 key on its named curve with its point uncompressed,
 * without OpenSSL 3.0's decoder chain; 1 then.  0, *out NULL, for
 * anything else and for a point not on the curve: OpenSSL's own decoders
 * are then to read der, or refuse it.
 */
int sgt_pkey_spki_ec(const unsigned char *der, size_t len, EVP_PKEY **out);
/* Key algorithm in key-record spelling ("ecdsa-p256", "rsa-2048"), or a
 * description such as "ec secp256k1" / "rsa-1024" when it has no name. */
void sgt_pkey_alg(EVP_PKEY *pk, char *out, size_t cap);

#endif
