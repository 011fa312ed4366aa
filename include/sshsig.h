/*
 * sshsig.h: OpenSSH signatures (PROTOCOL.sshsig) and allowed_signers files
 * (ssh-keygen(1) ALLOWED SIGNERS), verified in-process with OpenSSL.  This
 * is how approvers sign off a release request with the SSH keys they
 * already have: ssh-ed25519, ecdsa-sha2-nistp256/384, RSA with
 * rsa-sha2-256/512 (never SHA-1), and the FIDO forms
 * sk-ssh-ed25519@openssh.com and sk-ecdsa-sha2-nistp256@openssh.com
 * (PROTOCOL.u2f; user presence required).
 *
 * Ownership: sgt_sshsig and sgt_signers own their buffers; _release frees
 * them and leaves the struct zeroed; _release of a zeroed struct is a no-op.
 */
#ifndef SGT_SSHSIG_H
#define SGT_SSHSIG_H

#include <stddef.h>
#include <time.h>

/* A parsed SSH signature: what the armored file says, not yet verified. */
struct sgt_sshsig {
	unsigned char *pub;	/* the signer's public key blob (SSH wire form) */
	size_t publen;
	char *ns;		/* namespace */
	char *hash_alg;		/* "sha256" or "sha512" */
	unsigned char *sig;	/* the signature string: type, blob[, flags, counter] */
	size_t siglen;
};

/*
 * Parses an armored signature (-----BEGIN SSH SIGNATURE-----).  Checks
 * the magic, version 1, an empty reserved field, a known hash algorithm
 * and a public key of a supported type.  SGT_OK, or SGT_ERR_DATA with the
 * reason in why (unreported: the caller names the file).
 */
int sgt_sshsig_parse(const char *text, size_t len, struct sgt_sshsig *out, char *why, size_t whycap);
void sgt_sshsig_release(struct sgt_sshsig *s);

/*
 * Verifies s over msg in namespace ns: rebuilds the signed blob and checks
 * the signature with the embedded key.  SGT_OK, SGT_ERR_VERDICT with the
 * reason in why (wrong namespace, bad signature, user presence missing),
 * or SGT_ERR_DATA for malformed parts.
 */
int sgt_sshsig_verify(const struct sgt_sshsig *s, const char *ns, const unsigned char *msg, size_t msglen,
		      char *why, size_t whycap);

/* "SHA256:<base64 without padding>" of a key blob, as ssh-keygen -l prints it. */
void sgt_sshsig_fingerprint(const unsigned char *blob, size_t len, char out[64]);

/* The key type name at the start of a key blob; NULL when unsupported or malformed. */
const char *sgt_sshsig_key_type(const unsigned char *blob, size_t len);

/* One line of an allowed_signers file. */
struct sgt_signer {
	char *principals;	/* comma-separated patterns (*, ?, leading ! negates) */
	char *namespaces;	/* NULL: any namespace */
	time_t valid_after;	/* 0: no bound */
	time_t valid_before;	/* 0: no bound */
	unsigned char *key;	/* key blob */
	size_t keylen;
	int line;
};

struct sgt_signers {
	struct sgt_signer *v;
	size_t n;
};

/*
 * Parses an allowed_signers file's text.  Blank lines and # comments are
 * skipped; cert-authority lines are refused (signet takes plain keys
 * only).  SGT_OK, or reports "signet: PATH:LINE: ..." and SGT_ERR_DATA.
 */
int sgt_signers_parse(const char *text, size_t len, const char *path, struct sgt_signers *out);
void sgt_signers_release(struct sgt_signers *s);

/* 1 when name matches the pattern list (OpenSSH match-list rules), else 0. */
int sgt_signers_principal_match(const char *patterns, const char *name);

/*
 * The first line whose key equals key, whose namespaces allow ns and whose
 * validity covers now; NULL when none does.
 */
const struct sgt_signer *sgt_signers_find(const struct sgt_signers *s, const unsigned char *key, size_t keylen,
					  const char *ns, time_t now);

#endif
