/*
 * reissue.h: certificates for keys in custody, the operation under
 * `signet cert issue|reissue|import` and `signet renew`.  A new
 * certificate is built, its public key proven to be the token's (and, on
 * reissue, the old certificate's), linted, then staged and recorded in one
 * intent (intent.h): it is never current before its audit record.  The
 * commands parse, open the store and token, call these, and print; no
 * command calls into another.
 */
#ifndef SGT_REISSUE_H
#define SGT_REISSUE_H

#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "cert.h"
#include "policy.h"
#include "store.h"

struct sgt_token;

/* --policy (opt), else the key's policy, else the store's default; *pol NULL when none is named. */
int sgt_cert_policy_for(const struct sgt_store *st, const char *opt, const struct sgt_keyrec *rec,
			struct sgt_policy **pol);
/* SGT_ERR_VERDICT when x fails lint under pol, listing the errors on stderr; "nothing written". */
int sgt_cert_lint_gate(X509 *x, const struct sgt_policy *pol, time_t now, int flags, const char *label);
/* SGT_ERR_DATA for a key signet makes no certificates for (Ed25519: MCUboot images only). */
int sgt_cert_key_ok(const struct sgt_keyrec *rec);

/*
 * A host clock more than SGT_CLOCK_SLACK seconds behind the newest audit
 * record (a host whose clock went back: it would make an expired
 * certificate current) refuses certificate issue, reissue and import: one
 * line naming both times, SGT_ERR_VERDICT, and with record set a refused
 * record.  The real clock is compared (now, possibly SIGNET_NOW, is not),
 * with each record's real_time where SIGNET_NOW moved its time.
 */
#define SGT_CLOCK_SLACK 300
int sgt_cert_clock_check(const struct sgt_store *st, time_t now, const char *op, const char *label, const char *spki,
			 int record);
/* SGT_ERR_HSM when pub (the token's public key) is not the one recorded in rec. */
int sgt_cert_pubkey_matches(EVP_PKEY *pub, const struct sgt_keyrec *rec);

/* A CA in custody: its record, its current (CA) certificate, its key on the token. */
struct sgt_ca {
	struct sgt_keyrec rec;
	X509 *cert;
	EVP_PKEY *priv, *pub;
};
/* Loads the CA key label (its CA certificate must be current and for its key). */
int sgt_ca_load(const struct sgt_store *st, struct sgt_token *tok, const char *label, struct sgt_ca *ca);
void sgt_ca_release(struct sgt_ca *ca);

/* A certificate's subject, issuer, serial, SPKI and validity for output (new reference). */
json_t *sgt_cert_json(X509 *x, time_t now);
json_t *sgt_notes_json(const struct sgt_notes *notes);

/*
 * Makes x the current certificate of label and records it (op), in one
 * transaction (tx.h); refused when x is not valid at now.  Adds "path" to report.
 * The store is as before when anything fails (fail closed).
 */
int sgt_cert_commit(struct sgt_store *st, const char *label, X509 *x, const char *op, time_t now, json_t *report);

/*
 * Reissues certificate old for the key in rec on an open token: builds,
 * checks the SPKI three ways, lints, writes, audits (op "cert.reissue" or
 * "renew"; a verdict is recorded as refused).  Fills report (a JSON
 * object) with label, serial, path, not_after and notes.  The store is
 * unchanged on failure.
 */
int sgt_reissue(struct sgt_store *st, struct sgt_token *tok, const struct sgt_keyrec *rec, X509 *old,
		const char *policy_name, long days, const char *op, json_t *report);

#endif
