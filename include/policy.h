/*
 * policy.h: signing policies (SPEC.md section 6), YAML files that say which
 * keys, certificate profile and signature a device platform needs.  This
 * module finds and parses them strictly (an unknown or malformed field is
 * an error naming file, line and field, never a silent default); it does
 * not judge certificates (lint does) nor touch the store or the token.
 */
#ifndef SGT_POLICY_H
#define SGT_POLICY_H

#include <stddef.h>

#include "sgt.h"

#define SGT_POLICY_MAX_LIST 16

/* Built-in fallback when neither the environment nor the store names a directory. */
#ifndef SGT_POLICY_DIR
#define SGT_POLICY_DIR "/usr/local/share/signet/policies"
#endif

struct sgt_policy {
	char *name;
	char *description;
	char *path;		/* the file it came from */
	/* key: algorithm names as in key records ("ecdsa-p256", "rsa-2048") */
	char *algorithms[SGT_POLICY_MAX_LIST];
	size_t nalgorithms;
	char *custody[SGT_POLICY_MAX_LIST];	/* "sensitive", "never-extractable", ... */
	size_t ncustody;
	/* certificate */
	char *subject;		/* default subject DN, "CN=x,O=y" */
	long validity_days;
	long renew_before_days;
	unsigned long key_usage;	/* X509v3_KU_* bits */
	int eku[SGT_POLICY_MAX_LIST];	/* NIDs required */
	size_t neku;
	int forbid_eku[SGT_POLICY_MAX_LIST];	/* NIDs refused */
	size_t nforbid_eku;
	char *signature_hash;	/* "sha256", "sha1", ... */
	/* signing */
	char *signing_hash;
	char *ota_signature_field;	/* "sig-sha256-ecdsa", "sig-sha1-rsa", ... */
	/* approvals (the two-person rule); approvals_required 0: none asked */
	long approvals_required;
	char *approvals_allowed_signers;	/* OpenSSH allowed_signers file, relative to the store */
	char *approvals_namespace;		/* "signet-release" unless set */
	long approvals_max_age;			/* seconds a request lives; 72h unless set */
};

/* Parses a policy file; errors name file, line and field (SGT_ERR_DATA). */
int sgt_policy_load_file(const char *path, struct sgt_policy **out);
/* Parses a policy from memory; name is used in messages. */
int sgt_policy_parse(const char *name, const char *buf, size_t len, struct sgt_policy **out);
void sgt_policy_free(struct sgt_policy *pol);

/*
 * Directories searched for NAME.yaml, in order: $SIGNET_POLICY_DIR,
 * <store_dir>/policies (store_dir may be NULL), `policies` next to the
 * binary's parent directory, SGT_POLICY_DIR.  Fills at most max malloc'd
 * paths (existing directories only) and returns how many.
 */
size_t sgt_policy_dirs(const char *store_dir, char **dirs, size_t max);
void sgt_policy_dirs_free(char **dirs, size_t n);

/*
 * Finds and loads policy `name` (a plain name, not a path).  A missing
 * policy is SGT_ERR_DATA naming the directories searched.
 */
int sgt_policy_find(const char *store_dir, const char *name, struct sgt_policy **out);

/* Names of every policy found (first directory wins), sorted; malloc'd array of malloc'd names. */
int sgt_policy_names(const char *store_dir, char ***names, size_t *n);
void sgt_policy_names_free(char **names, size_t n);

/* Names for key usage bits and EKU NIDs as policies spell them. */
const char *sgt_policy_ku_name(unsigned long bit);
const char *sgt_policy_eku_name(int nid);
/* 1 when name is a hash a policy may ask for ("sha1", "sha256", "sha384", "sha512"). */
int sgt_policy_hash_ok(const char *name);
/* 1 when the policy allows this key algorithm name. */
int sgt_policy_allows_alg(const struct sgt_policy *pol, const char *alg);

#endif
