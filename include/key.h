/*
 * key.h: keys in custody.  Generation and import on the token with the
 * custody attributes checked after the fact, the public key and its SPKI
 * hash, and the custody audit that compares token objects with records.
 * Every state change here is paired with its key record and audit record,
 * and undone on the token when either cannot be written.
 */
#ifndef SGT_KEY_H
#define SGT_KEY_H

#include <jansson.h>
#include <openssl/evp.h>

#include "pin.h"
#include "pkey.h"
#include "store.h"


/*
 * Generates a pair named label with algorithm alg ("ecdsa-p256", ...) on
 * the store's token, reads custody back, refuses (destroying the pair) a
 * token that did not honour it, writes the key record and the audit
 * record.  Caller holds the store's exclusive lock.
 */
int sgt_key_generate(struct sgt_store *st, const struct sgt_pin_opts *opts, const char *label,
		     const char *alg, const char *policy, struct sgt_keyrec *out);
/* Imports a legacy private key file into custody (origin: imported). */
int sgt_key_import(struct sgt_store *st, const struct sgt_pin_opts *opts, const char *label,
		   const char *keyfile, const char *policy, struct sgt_keyrec *out);
/*
 * Takes a key pair that already exists on the token into custody (origin
 * adopted): the private key named by idhex (hex CKA_ID) or uri (PKCS#11
 * URI), its custody attributes read back and judged against the policy,
 * its public key read from the public object with the same id (or from
 * the private key's attributes where the module keeps none).  An
 * extractable or non-sensitive key is refused (SGT_ERR_VERDICT, with a
 * "refused" audit record) unless accept_extractable, which is then said
 * loudly in the audit record.  approval (NULL when the policy asks for
 * none): what the two-person rule's gate counted (approve.h), put in the
 * record as it is.  Nothing on the token is changed.
 */
int sgt_key_adopt(struct sgt_store *st, const struct sgt_pin_opts *opts, const char *label, const char *idhex,
		  const char *uri, const char *policy, int accept_extractable, json_t *approval, struct sgt_keyrec *out);
/*
 * A key named by label or by PKCS#11 URI ("pkcs11:object=fw;type=private"):
 * a URI is resolved on the token (one match, else an error listing the
 * matches) and mapped to its record by CKA_ID.
 */
int sgt_key_lookup(const struct sgt_store *st, const struct sgt_pin_opts *opts, const char *name, struct sgt_keyrec *out);
/*
 * The token's public key for rec (no login needed); SGT_ERR_DATA when it
 * does not hash to the recorded spki_sha256.
 */
int sgt_key_pubkey(const struct sgt_store *st, const struct sgt_keyrec *rec, EVP_PKEY **out);
/*
 * The RFC 7512 PKCS#11 URI of each record's private key, built from what
 * the store's token reports (sgt_p11_key_uri; object= left out for an
 * adopted key, whose private label cannot be read without a login); one
 * module load, no login.
 * uris[i] is malloc'd; on error every uris[i] is NULL.
 */
int sgt_key_uris(const struct sgt_store *st, const struct sgt_keyrec *recs, size_t n, char **uris);
/* The record whose spki_sha256 equals spki, or SGT_ERR_VERDICT (quietly) when none. */
int sgt_key_find_spki(const struct sgt_store *st, const char *spki, struct sgt_keyrec *out);

/* Names of the custody properties held/not held, for display ("sensitive, local"). */
void sgt_key_custody_words(const struct sgt_custody *c, struct sgt_buf *held, struct sgt_buf *missing);
json_t *sgt_key_custody_json(const struct sgt_custody *c);

/*
 * Every private key on the token with its custody attributes, matched
 * with the key records: { "keys": [...], "problems": n }.  Problems are
 * keys without records, records without keys, and custody attributes that
 * fall short (generated keys must be sensitive, never extractable, always
 * sensitive and local; imported keys sensitive and not extractable).
 */
int sgt_key_custody_audit(const struct sgt_store *st, const struct sgt_pin_opts *opts, json_t **out);

#endif
