/*
 * rotate.h: moving devices from one signing key (OLD) to another (NEW)
 * without stranding any (SPEC.md section 5, rotate).  A rotation is a
 * record <store>/rotations/<old>.yaml and a lineage statement "OLD vouches
 * for NEW": canonical JSON (<old>.lineage.json) with a detached signature
 * by OLD made on the token (<old>.lineage.sig, DER ECDSA or PKCS#1 v1.5
 * over SHA-256 of the JSON's exact bytes), so anyone with OLD's
 * certificate checks it with `openssl dgst -sha256 -verify`.
 *
 * The fleet side reads the fleet module's inventory (builds, the keys each
 * bakes, populations) and counts, per fleet, devices that trust a key;
 * a build that bakes several keys trusts each.  It decides whether a key
 * may sign for a fleet (sign --fleet) and whether a rotation may finish.
 * Nothing here prints to stdout; refusals are reported with sgt_err.
 */
#ifndef SGT_ROTATE_H
#define SGT_ROTATE_H

#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>

#include "fleet.h"
#include "store.h"

#define SGT_LINEAGE_TYPE "signet-lineage-v1"

struct sgt_rotation {
	char old[65], new_[65];		/* labels */
	char old_spki[65], new_spki[65];
	char old_alg[16], new_alg[16];
	char started[32];
	char finished[32];		/* "" while in progress */
	char reason[256];
};

/* Paths in the store: rotations/<old>.yaml, .lineage.json, .lineage.sig (malloc'd; NULL on OOM). */
char *sgt_rotation_path(const struct sgt_store *st, const char *old, const char *suffix);

/* Loads rotations/<old>.yaml; none is SGT_ERR_VERDICT with a hint. */
int sgt_rotation_load(const struct sgt_store *st, const char *old, struct sgt_rotation *r);
/* Every rotation, sorted by old label; *out malloc'd (free()). */
int sgt_rotation_list(const struct sgt_store *st, struct sgt_rotation **out, size_t *n);
/* The record's YAML text appended to b. */
int sgt_rotation_format(const struct sgt_rotation *r, struct sgt_buf *b);

/*
 * The lineage statement: {"new":{...},"old":{...},"reason","time","type"}
 * with sorted keys, no whitespace, no trailing newline: the bytes signed.
 * *out malloc'd.
 */
int sgt_lineage_statement(const struct sgt_rotation *r, char **out, size_t *len);
/* Signs data (SHA-256) with priv and checks the signature with pub before returning it. */
int sgt_lineage_sign(EVP_PKEY *priv, EVP_PKEY *pub, const char *label, const void *data, size_t len,
		     unsigned char **sig, size_t *siglen);
/*
 * Checks a statement: the signature with pub, the bytes are the canonical
 * form, and (when expect is not NULL) it names expect's keys.  SGT_OK, or
 * SGT_ERR_VERDICT with why filled.
 */
int sgt_lineage_verify(EVP_PKEY *pub, const void *data, size_t len, const unsigned char *sig, size_t siglen,
		       const struct sgt_rotation *expect, char *why, size_t whycap);

/* -- fleets --------------------------------------------------------------- */

/* Devices of one fleet by what they trust. */
struct sgt_trust_count {
	long trusting, trusting_stale;		/* on builds that bake the key */
	long not_trusting, not_trusting_stale;	/* on builds that do not */
	long unknown, unknown_stale;		/* on builds signet has no record of */
	char builds[512];	/* "build 1.4.2: 120000 devices, ...": active devices that do not trust it */
};

/* Counts f's devices for the key with SPKI hash spki (pure). */
void sgt_rotate_trust(const struct sgt_fleet *f, const char *spki, struct sgt_trust_count *c);

/* One fleet's progress in a rotation. */
struct sgt_rotate_progress {
	const struct sgt_fleet *fleet;
	long only_old, only_old_stale;		/* builds baking OLD, not NEW */
	long with_new, with_new_stale;		/* builds baking NEW (alone or with OLD) */
	long unknown, unknown_stale;
	char only_old_builds[512];
	const char *stone;			/* first build baking NEW (the stepping stone), or NULL */
	time_t expected;			/* stone's recording (else the start) + rollout_days; 0 without a stone */
};

/*
 * The fleets of inv that trust OLD or NEW, with their progress (pure).
 * *out malloc'd (free()); it borrows inv.
 */
int sgt_rotate_progress(const struct sgt_inventory *inv, const struct sgt_rotation *r,
			struct sgt_rotate_progress **out, size_t *n);

/*
 * The store's inventory as the fleet commands read it: fleets.yaml,
 * recorded builds, artefacts, and the populations of the fleets named
 * (all when nnames is 0).
 */
int sgt_rotate_inventory(const struct sgt_store *st, char **names, size_t nnames, time_t now,
			 struct sgt_inventory *inv);

/*
 * May rec sign now?  Without a fleet: not when it is retired.  With one:
 * only when every active device of the fleet trusts it (devices on builds
 * signet does not know count as not trusting).  SGT_ERR_VERDICT (reported,
 * naming how many devices on which builds) when not; SGT_ERR_DATA when the
 * fleet is not in the inventory.
 */
int sgt_rotate_sign_allowed(const struct sgt_store *st, const struct sgt_keyrec *rec, const char *fleet);

#endif
