/*
 * token.c: the only user of libp11.  It turns a key in custody into an
 * OpenSSL EVP_PKEY whose private operations run on the token, so that
 * certificate, CSR and image signing use ordinary OpenSSL calls while the
 * key material never leaves the HSM.  It finds the token by label and the
 * key by CKA_ID from the key record; it never creates or changes objects.
 */
#include <stdlib.h>
#include <string.h>

#include <libp11.h>
#include <openssl/err.h>

#include "anchor.h"
#include "audit.h"
#include "hsmguard.h"
#include "p11.h"
#include "token.h"

struct sgt_token {
	PKCS11_CTX *ctx;
	PKCS11_SLOT *slots;
	unsigned int nslots;
	PKCS11_SLOT *slot;
	char label[33];
	int loaded;
	int guarded;	/* sgt_store_apply_env entered the token guard */
};

/* libp11 puts the CK_RV in the OpenSSL error queue as the reason. */
static const char *libp11_why(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *name = e ? sgt_p11_rv_name((CK_RV)ERR_GET_REASON(e)) : "no detail";

	ERR_clear_error();
	return name;
}

void sgt_token_free(struct sgt_token *t)
{
	if (t == NULL)
		return;
	if (t->slots != NULL)
		PKCS11_release_all_slots(t->ctx, t->slots, t->nslots);
	if (t->loaded)
		PKCS11_CTX_unload(t->ctx);
	if (t->ctx != NULL)
		PKCS11_CTX_free(t->ctx);
	if (t->guarded)
		sgt_hsm_leave();
	free(t);
}

int sgt_token_open(const struct sgt_store *st, const struct sgt_pin_opts *opts, struct sgt_token **out)
{
	struct sgt_token *t = calloc(1, sizeof(*t));
	struct sgt_pin pin;
	unsigned int i;
	int rc;

	*out = NULL;
	sgt_pin_wipe(&pin);
	if (t == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	snprintf(t->label, sizeof(t->label), "%s", st->cfg.token);
	if ((rc = sgt_store_apply_env(st)) != SGT_OK)
		goto fail;
	t->guarded = 1;
	if ((t->ctx = PKCS11_CTX_new()) == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto fail;
	}
	if (PKCS11_CTX_load(t->ctx, st->cfg.module) != 0) {
		rc = sgt_err(SGT_ERR_HSM, "cannot load PKCS#11 module '%s' (%s)", st->cfg.module, libp11_why());
		sgt_hint("check hsm.module in signet.yaml (SoftHSM2: /usr/lib/softhsm/libsofthsm2.so)");
		goto fail;
	}
	t->loaded = 1;
	if (PKCS11_enumerate_slots(t->ctx, &t->slots, &t->nslots) != 0) {
		rc = sgt_err(SGT_ERR_HSM, "cannot list the slots of '%s' (%s)", st->cfg.module, libp11_why());
		goto fail;
	}
	for (i = 0; i < t->nslots; i++) {
		PKCS11_TOKEN *tok = t->slots[i].token;

		if (tok != NULL && tok->initialized && strcmp(tok->label, st->cfg.token) == 0) {
			t->slot = &t->slots[i];
			break;
		}
	}
	if (t->slot == NULL) {
		rc = sgt_err(SGT_ERR_HSM, "no token labelled '%s' in '%s'", st->cfg.token, st->cfg.module);
		goto fail;
	}
	if ((rc = sgt_pin_get(st, opts, st->cfg.token, &pin)) != SGT_OK)
		goto fail;
	if (PKCS11_login(t->slot, 0, pin.value) != 0) {
		const char *why = libp11_why();

		rc = strcmp(why, "CKR_PIN_INCORRECT") == 0
			? sgt_err(SGT_ERR_HSM, "login to token '%s' failed: wrong PIN (CKR_PIN_INCORRECT)", t->label)
			: sgt_err(SGT_ERR_HSM, "login to token '%s' failed (%s)", t->label, why);
		if (strcmp(why, "CKR_PIN_INCORRECT") == 0 || strcmp(why, "CKR_PIN_LOCKED") == 0)
			sgt_audit_refused(st, "login", NULL, NULL, why);
		goto fail;
	}
	sgt_pin_wipe(&pin);
	sgt_anchor_activate(st);	/* audit heads are signed from here on */
	*out = t;
	return SGT_OK;
fail:
	sgt_pin_wipe(&pin);
	sgt_token_free(t);
	return rc;
}

int sgt_token_key(struct sgt_token *t, const struct sgt_keyrec *rec, EVP_PKEY **priv, EVP_PKEY **pub)
{
	PKCS11_KEY *keys = NULL;
	unsigned int n = 0, i;
	unsigned char id[32];
	long idlen = sgt_unhex(rec->id, id, sizeof(id));

	*priv = NULL;
	if (pub != NULL)
		*pub = NULL;
	if (idlen <= 0)
		return sgt_err(SGT_ERR_DATA, "key record '%s' has a malformed id '%s'", rec->label, rec->id);
	if (PKCS11_enumerate_keys(t->slot->token, &keys, &n) != 0)
		return sgt_err(SGT_ERR_HSM, "cannot list the keys on token '%s' (%s)", t->label, libp11_why());
	for (i = 0; i < n; i++) {
		if (keys[i].id_len != (size_t)idlen || memcmp(keys[i].id, id, (size_t)idlen) != 0)
			continue;
		*priv = PKCS11_get_private_key(&keys[i]);
		if (pub != NULL)
			*pub = PKCS11_get_public_key(&keys[i]);
		if (*priv == NULL || (pub != NULL && *pub == NULL)) {
			EVP_PKEY_free(*priv);
			*priv = NULL;
			if (pub != NULL) {
				EVP_PKEY_free(*pub);
				*pub = NULL;
			}
			return sgt_err(SGT_ERR_HSM, "cannot use key '%s' on token '%s' (%s)", rec->label, t->label, libp11_why());
		}
		return SGT_OK;
	}
	sgt_err(SGT_ERR_VERDICT, "token '%s' no longer holds key '%s' (id %s)", t->label, rec->label, rec->id);
	sgt_hint("'signet audit custody' compares the token with the key records");
	return SGT_ERR_VERDICT;
}
