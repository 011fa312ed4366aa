/*
 * session.h: the one way signet opens a store's token.  The store's
 * environment is set and the token guard entered (hsmguard.h) before the
 * module is loaded, the configured token is found and a session opened;
 * with SGT_SESSION_LOGIN the store's PIN is read (pin.h) and the user
 * logged in: a wrong or locked PIN leaves a `refused` audit record, a
 * good one starts signing audit heads on the token (anchor.h), and a
 * store without an audit key gets one (tx.h's sgt_tx_anchor).
 * sgt_session_close undoes all of it, in the reverse order, and leaves the
 * guard, so a refusal deferred while the module was loaded is written.
 * p11.c below it is raw PKCS#11 and knows nothing of stores.
 */
#ifndef SGT_SESSION_H
#define SGT_SESSION_H

#include "p11.h"
#include "pin.h"
#include "store.h"

#define SGT_SESSION_RW    1u	/* a read-write session: objects are made or destroyed */
#define SGT_SESSION_LOGIN 2u	/* log in as user with the store's PIN */
#define SGT_SESSION_QUIET 4u	/* a module or token that cannot be reached is the caller's note, not an error line */
#define SGT_SESSION_NO_ANCHOR 8u	/* a recovery's session: never sign heads with, adopt or make the audit key */

/*
 * Opens the store's token on p (zeroed first): guard, environment, module,
 * token, session, and with SGT_SESSION_LOGIN the login (PIN from opts,
 * pin_source or a prompt).  keep (may be NULL) receives the PIN, for a
 * caller that logs in again after a session dies; it is wiped otherwise.
 * On failure p still needs sgt_session_close.
 */
int sgt_session_open(struct sgt_p11 *p, const struct sgt_store *st, const struct sgt_pin_opts *opts, unsigned flags,
		     struct sgt_pin *keep);
/*
 * Logs in on a session that sgt_session_open opened: as sgt_p11_login, plus
 * the `refused` record of a wrong or locked PIN and the audit head signer.
 */
int sgt_session_login(struct sgt_p11 *p, const struct sgt_store *st, const struct sgt_pin *pin);
/* Stops signing audit heads with p, closes it, unloads the module, leaves the guard.  Safe on a zeroed p. */
void sgt_session_close(struct sgt_p11 *p);

#endif
