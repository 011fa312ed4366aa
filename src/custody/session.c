/*
 * session.c: the one opener of a store's token (session.h).  It is the
 * only file that enters the token guard around a module load, reads the
 * store's PIN for a login, records a refused login and starts the audit
 * head signer; so a command or operation cannot open the token without
 * the guard, or forget to leave it.
 * Floor: custody 4 (beside anchor.c).  It may call anchor, audit and base;
 * what it must put on record (a refused login, the guard's repairs, the
 * audit key) it hands up through the recorder the floor above installed
 * (sgt_session_recorder_set), never by calling up.
 */
#include <string.h>

#include "anchor.h"
#include "audit.h"
#include "hsmguard.h"
#include "session.h"

/* Installed once by the transaction floor (tx.c's sgt_tx_install, from main); NULL records nothing. */
static const struct sgt_session_recorder *recorder;

void sgt_session_recorder_set(const struct sgt_session_recorder *r)
{
	recorder = r;
}

static int login(struct sgt_p11 *p, const struct sgt_store *st, const struct sgt_pin *pin, unsigned flags)
{
	int rc;

	sgt_verbose("logging in to token '%s'", p->token);
	rc = sgt_p11_login(p, pin);
	/* A turned-down login is on record; the store changes in no other way. */
	if (p->login_rv == CKR_PIN_INCORRECT || p->login_rv == CKR_PIN_LOCKED)
		if (recorder != NULL)
			recorder->refused(st, "login", NULL, NULL, sgt_p11_rv_name(p->login_rv));
	/* Audit heads are signed from here on; a missing audit key is made in a transaction of its own. */
	if (rc == SGT_OK && !(flags & SGT_SESSION_NO_ANCHOR)) {
		int state = sgt_anchor_activate(st, p);

		if (recorder != NULL)
			recorder->anchor(st, p, state);
	}
	return rc;
}

int sgt_session_login(struct sgt_p11 *p, const struct sgt_store *st, const struct sgt_pin *pin)
{
	return login(p, st, pin, 0);
}

int sgt_session_open(struct sgt_p11 *p, const struct sgt_store *st, const struct sgt_pin_opts *opts, unsigned flags,
		     struct sgt_pin *keep)
{
	struct sgt_pin pin;
	json_t *repairs = NULL;
	int rc, first;

	memset(p, 0, sizeof(*p));
	p->session = CK_INVALID_HANDLE;
	if (keep != NULL)
		memset(keep, 0, sizeof(*keep));
	sgt_verbose("loading PKCS#11 module '%s'", st->cfg.module);
	first = !sgt_hsm_busy();
	if ((rc = sgt_store_apply_env(st)) != SGT_OK || (rc = sgt_hsm_enter(st, &repairs)) != SGT_OK)
		return rc;
	/* Entering the guard may have repaired the embedded token's files: on record before the module loads. */
	if (first && sgt_hsm_guarding() && recorder != NULL && recorder->repairs(st, repairs) != SGT_OK)
		sgt_warn("a token repair could not be recorded in the audit log");
	json_decref(repairs);
	if (flags & SGT_SESSION_QUIET)
		sgt_silent++;
	rc = sgt_p11_load(p, st->cfg.module);	/* zeroes p first */
	p->guarded = 1;	/* the guard was entered: sgt_session_close leaves it */
	if (rc == SGT_OK)
		rc = sgt_p11_open(p, st->cfg.token, (flags & SGT_SESSION_RW) ? 1 : (flags & SGT_SESSION_RW_IF_ABLE) ? 2 : 0);
	if (flags & SGT_SESSION_QUIET)
		sgt_silent--;
	if (rc != SGT_OK || !(flags & SGT_SESSION_LOGIN))
		return rc;
	memset(&pin, 0, sizeof(pin));
	if ((rc = sgt_pin_get(st, opts, st->cfg.token, &pin)) == SGT_OK)
		rc = login(p, st, &pin, flags);
	if (rc == SGT_OK && keep != NULL)
		*keep = pin;
	sgt_pin_wipe(&pin);
	return rc;
}

void sgt_session_close(struct sgt_p11 *p)
{
	int guarded = p->guarded;

	sgt_anchor_forget(p);
	sgt_p11_release(p);
	if (guarded) {
		sgt_hsm_leave();
		/* The module is unloaded: refusals held back while it was loaded are written now. */
		if (!sgt_hsm_busy() && recorder != NULL)
			recorder->flush_refused();
	}
}
