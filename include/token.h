/*
 * token.h: the one bridge from a key in custody to OpenSSL: an EVP_PKEY
 * whose private operations run on the token (C_Sign on a session this
 * module holds), so X509_sign, X509_REQ_sign and EVP_PKEY_sign work
 * unchanged while the key material stays inside.  Keys are found by
 * CKA_ID; a session that dies is reopened and logged in again, bounded.
 */
#ifndef SGT_TOKEN_H
#define SGT_TOKEN_H

#include <openssl/evp.h>

#include "pin.h"
#include "store.h"

struct sgt_token;

/* Loads the store's module, finds its token by label (or URI) and logs in; keeps the PIN (wiped in _free) for re-login. */
int sgt_token_open(const struct sgt_store *st, const struct sgt_pin_opts *opts, struct sgt_token **out);
/*
 * The key pair recorded in rec: *priv signs on the token, *pub is the
 * token's public key.  Both are owned by the caller (EVP_PKEY_free), and
 * must be freed before sgt_token_free.  SGT_ERR_VERDICT when the token no
 * longer holds the key.
 */
int sgt_token_key(struct sgt_token *t, const struct sgt_keyrec *rec, EVP_PKEY **priv, EVP_PKEY **pub);
/*
 * As sgt_token_key, for a caller that holds the record's public key
 * already (known: the current certificate's; refused here unless its SPKI
 * and algorithm are the record's) and checks EVERY signature it makes
 * with it before anything is written: then the token is asked only for
 * the private key (one search, no attribute read; a network HSM pays a
 * round trip per call), and another key stored under the record's id
 * shows as a signature that does not verify.  *pub is known, referenced
 * again.
 */
int sgt_token_key_known(struct sgt_token *t, const struct sgt_keyrec *rec, EVP_PKEY *known, EVP_PKEY **priv,
			EVP_PKEY **pub);
/*
 * RSA-PSS on the token (CKM_RSA_PKCS_PSS: SHA-256, MGF1 SHA-256, salt 32,
 * as MCUboot verifies) over a SHA-256 digest, for a priv from
 * sgt_token_key.  *siglen: the room in sig, then the length.  The token's
 * error is reported (SGT_ERR_HSM).
 */
int sgt_token_sign_pss(EVP_PKEY *priv, const unsigned char *dgst, size_t dlen, unsigned char *sig, size_t *siglen);
/*
 * Pure Ed25519 (CKM_EDDSA) over msg with an Ed25519 key from
 * sgt_token_key; *siglen: the room in sig (64), then the length.
 */
int sgt_token_sign_eddsa(EVP_PKEY *priv, const unsigned char *msg, size_t mlen, unsigned char *sig, size_t *siglen);
void sgt_token_free(struct sgt_token *t);

#endif
