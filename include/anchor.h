/*
 * anchor.h: the audit log's anchor on the token.  Each store has a
 * dedicated audit key pair on its token (label "signet-audit", P-256, or
 * RSA-2048 on a token without EC mechanisms; sensitive, never extractable,
 * used for nothing else; a token with neither is said once and recorded as
 * "audit.key" "unavailable"), made at init or,
 * for an older store, by its next state-changing command.  While a token
 * session is logged in, every new audit head is signed with it, and the
 * signed head (count, hash, signature) is kept on the token in the chain's
 * anchor, a public data object whose CKA_APPLICATION names the chain
 * ("signet-audit-head-<audit key's CKA_ID in hex>") and whose label, rewritten
 * in place at every head, holds it (docs/audit.md).  The public key is also kept in
 * <store>/audit.pub, so anyone can check a head without the token:
 *
 *   printf 'signet audit head v1\nseq %s\nhash %s\n' SEQ HASH |
 *     openssl dgst -sha256 -verify audit.pub -signature head.sig
 */
#ifndef SGT_ANCHOR_H
#define SGT_ANCHOR_H

#include <openssl/evp.h>

#include "audit.h"
#include "store.h"

#define SGT_AUDIT_KEY_LABEL "signet-audit"
#define SGT_AUDIT_HEAD_LABEL "signet-audit-head"
/* The store's cache of its audit key's CKA_ID (anchor.c; docs/store.md): never trusted. */
#define SGT_AUDIT_KEYID_FILE "audit.keyid"

/*
 * Call right after a successful login to the store's token on handle (which
 * must outlive the signing; its release forgets it).  Returns
 * SGT_ANCHOR_SIGNING when audit heads are signed with the token's audit key
 * from now until the module is unloaded.  Under the exclusive lock it
 * reports a missing audit key instead of making one: SGT_ANCHOR_MAKE (no
 * key: tx.c's sgt_tx_anchor makes it), SGT_ANCHOR_COMPLETE (a cut-off run
 * made the key but not audit.pub), SGT_ANCHOR_UNAVAILABLE (the token can
 * hold none: sgt_anchor_said_unavailable, then the caller records it).  SGT_ANCHOR_OFF otherwise.
 * Never fails the caller: a problem is a warning, and `audit verify`
 * reports what it means.
 */
#define SGT_ANCHOR_OFF         0
#define SGT_ANCHOR_SIGNING     1
#define SGT_ANCHOR_MAKE        2
#define SGT_ANCHOR_COMPLETE    3
#define SGT_ANCHOR_UNAVAILABLE 4
#define SGT_ANCHOR_MIGRATE     5	/* for sgt_tx_anchor: record that the next append names the store's unnamed anchor */
struct sgt_p11;
int sgt_anchor_activate(const struct sgt_store *st, struct sgt_p11 *handle);
/*
 * Makes the audit key pair on the token of handle with CKA_ID id (P-256, or
 * RSA-2048 without EC), or with id NULL returns the key a cut-off run left
 * there; *pub (new reference) is its public key.  Writes nothing in the store.
 */
int sgt_anchor_make(struct sgt_p11 *handle, const unsigned char *id, size_t idlen, EVP_PKEY **pub);
/* Destroys the audit key pair sgt_anchor_make just made, when what follows it failed. */
void sgt_anchor_unmake(struct sgt_p11 *handle);
/* audit.pub's contents (PEM SubjectPublicKeyInfo) for pk, appended to out. */
int sgt_anchor_pub_pem(EVP_PKEY *pk, struct sgt_buf *out);
/*
 * For SGT_ANCHOR_UNAVAILABLE: 1 when the audit log already says so;
 * otherwise says it once on stderr and returns 0 (the caller records it).
 */
int sgt_anchor_said_unavailable(const struct sgt_store *st);
/*
 * Signs audit heads with handle's audit key from now on (after
 * sgt_anchor_make); spki is its public key's SPKI SHA-256 (st's
 * audit.pub-to-be): its CKA_ID is cached in st (SGT_AUDIT_KEYID_FILE) when
 * it signs its first head.
 */
void sgt_anchor_start(struct sgt_p11 *handle, const struct sgt_store *st, const char *spki);
/*
 * 1 when the last head was kept in the unnamed anchor of a store from
 * before chains had names: the caller records "audit.anchor" (state
 * SGT_ANCHOR_MIGRATE), and that record's own append replaces it by the
 * named one.  Found when a head is kept, under the store lock, so a sign
 * searches the token for its chain's anchor once.
 */
int sgt_anchor_migration_due(void);
/* The name of the store's chain and anchor (signet-audit-head-<its audit key's CKA_ID>), once activated. */
void sgt_anchor_name(char out[64]);
/* handle is being closed: stop signing with it (sgt_session_close calls this). */
void sgt_anchor_forget(const struct sgt_p11 *handle);
/* The signer of audit heads while a session is logged in (sgt_anchor_activate), else NULL. */
const struct sgt_audit_signer *sgt_anchor_signer(void);

/*
 * What the token open in p says (no login needed): its audit public key
 * (*pub, NULL when it has none) and the signed head kept there (a->present
 * 0 when none).  *keyable is 0 when the token offers neither EC nor RSA key
 * generation, so it can hold no audit key.  The caller opens the session
 * (session.h): anchor.c opens no token of its own.
 */
int sgt_anchor_read(const struct sgt_store *st, struct sgt_p11 *p, EVP_PKEY **pub, struct sgt_audit_anchor *a,
		    int *keyable);

#endif
