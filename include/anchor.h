/*
 * anchor.h: the audit log's anchor on the token.  Each store has a
 * dedicated audit key pair on its token (label "signet-audit", P-256, or
 * RSA-2048 on a token without EC mechanisms; sensitive, never extractable,
 * used for nothing else; a token with neither is said once and recorded as
 * "audit.key" "unavailable"), made at init or,
 * for an older store, by its next state-changing command.  While a token
 * session is logged in, every new audit head is signed with it, and the
 * signed head (count, hash, signature) is kept on the token as a public
 * data object (label "signet-audit-head").  The public key is also kept in
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

/*
 * Call right after a successful login to the store's token on handle (which
 * must outlive the signing; its release forgets it): makes the audit
 * key if the store has none yet (only under the exclusive lock; recorded as
 * "audit.key"), and signs audit heads from now until the module is
 * unloaded.  Never fails the caller: a problem is a warning, and `audit
 * verify` reports what it means.
 */
struct sgt_p11;
void sgt_anchor_activate(const struct sgt_store *st, struct sgt_p11 *handle);
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
