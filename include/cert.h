/*
 * cert.h: X.509 code-signing certificates with OpenSSL: building a new
 * certificate, reissuing one for the SAME public key, PKCS#10 requests,
 * SPKI fingerprints, and the certificate part of the store
 * (certs/<label>/<SERIAL>.pem never overwritten, current.pem replaced
 * atomically).  The signer is any EVP_PKEY, normally one from token.h whose
 * private operations run on the token; this module never sees key
 * material, never opens a token and never prints to stdout.
 */
#ifndef SGT_CERT_H
#define SGT_CERT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "policy.h"
#include "store.h"
#include "pkey.h"

/* Largest certificate or request file read (a certificate is a few KiB). */
#define SGT_CERT_MAX_FILE (1 << 20)

/*
 * Parses one certificate from PEM (the first CERTIFICATE block) or DER;
 * NULL when it is neither.  Quiet: callers decide how to report it.
 */
X509 *sgt_cert_parse(const unsigned char *buf, size_t len);
/* Reads and parses a certificate file; errors name the file (SGT_ERR_DATA). */
int sgt_cert_load(const char *path, X509 **out);

/* SHA-256 hex of the certificate's DER SubjectPublicKeyInfo (sgt_key_spki_sha256 for a key). */
int sgt_cert_spki_sha256(X509 *x, char out[65]);

/* Upper-case hex serial (a '-' prefix for the invalid negative ones). */
void sgt_cert_serial_hex(X509 *x, char *out, size_t cap);
/* Subject or issuer as "CN=x, O=y" (RFC 2253 order reversed as openssl prints). */
void sgt_cert_name(X509_NAME *n, char *out, size_t cap);
/* notBefore/notAfter as time_t; SGT_ERR_DATA when unreadable. */
int sgt_cert_times(X509 *x, time_t *not_before, time_t *not_after);
/*
 * Whether a certificate is due for renewal: the ONE rule that renew, renew
 * --check, cert list/show/lint and fleet report/check all use, so that no
 * command advises `signet renew` for a certificate renew would not renew.
 * window_days is the policy's renew_before_days (SGT_RENEW_DEFAULT_DAYS
 * without a policy).  A certificate that lives no longer than the window
 * (a 20-day certificate under a 30-day window) would be inside it again
 * the moment it is reissued, so renewing it would never end: it is due
 * when a third of its lifetime is left instead, as ACME clients do.  An
 * expired certificate is due.
 */
#define SGT_RENEW_DEFAULT_DAYS 30
struct sgt_renewal {
	int due;		/* now >= due_at: renew reissues it */
	time_t due_at;		/* from when it is due (the "renew by" date) */
	long window_days;	/* the policy's window, as given */
	int short_life;		/* lifetime <= window: due at a third of it left */
	long life_days;		/* whole days from notBefore to notAfter */
};
void sgt_cert_renewal(time_t not_before, time_t not_after, long window_days, time_t now, struct sgt_renewal *out);
/*
 * Why it falls due when it does, for sentences: "policy NAME's 30-day
 * renewal window", "signet's default 30-day renewal window" (policy NULL)
 * or "a third of its 20-day lifetime".
 */
void sgt_renewal_why(const struct sgt_renewal *r, const char *policy, char *out, size_t cap);
/* The same from a certificate; SGT_ERR_DATA (quiet) when its dates are unreadable. */
int sgt_cert_renewal_of(X509 *x, long window_days, time_t now, struct sgt_renewal *out);
/* PEM encoding into b. */
int sgt_cert_pem(X509 *x, struct sgt_buf *b);
/* 1 when x is signed by its own key (a self-signed certificate). */
int sgt_cert_self_signed(X509 *x);
/*
 * Key usage bits (X509v3_KU_*) read from the extension itself:
 * X509_get_key_usage() relies on a cache that OpenSSL does not fill for a
 * certificate still being built.  UINT32_MAX when the extension is absent.
 */
uint32_t sgt_cert_key_usage(X509 *x);
/* 1 when basicConstraints says CA:TRUE. */
int sgt_cert_is_ca(X509 *x);

/*
 * Parses "CN=a,O=b", "CN=a, O=b" or "/CN=a/O=b" into a name.  SGT_ERR_USAGE
 * with the reason when it is not a DN.
 */
int sgt_cert_parse_dn(const char *dn, X509_NAME **out);

/* What to build.  Unset pointers mean "none". */
struct sgt_cert_spec {
	EVP_PKEY *pub;		/* subject public key (the token's) */
	EVP_PKEY *signer;	/* signs: the subject key, or the CA key */
	X509 *issuer;		/* CA certificate, NULL = self-signed */
	const struct sgt_policy *pol;	/* extensions and hash; NULL = defaults */
	const char *subject;	/* DN; NULL = the policy's, else "CN=<label>" */
	const char *label;	/* for the fallback subject */
	long days;		/* 0 = the policy's validity_days (365 without one) */
	time_t now;
	int is_ca;		/* CA certificate: CA:TRUE, keyCertSign|cRLSign, no EKU */
};

/* Notes produced while reissuing ("added the codeSigning EKU ..."). */
struct sgt_notes {
	char *text[16];
	size_t n;
};
void sgt_notes_release(struct sgt_notes *notes);

/* A new certificate per spec: random positive 16-byte serial, SKI, AKI. */
int sgt_cert_issue(const struct sgt_cert_spec *spec, X509 **out);

/*
 * A new certificate for the same key as old: subject and extensions carried
 * over (SKI/AKI recomputed), then the policy applied (missing key usages
 * and EKUs added, forbidden EKUs removed, each said in notes), new serial
 * and validity.  spec->subject is ignored; spec->pub must be old's key.
 */
int sgt_cert_reissue(X509 *old, const struct sgt_cert_spec *spec, X509 **out, struct sgt_notes *notes);

/*
 * Checks what must hold before a reissued certificate is written: SPKI of
 * new == SPKI of old == SPKI of token_pub, and new verifies with the
 * issuer's key.  SGT_ERR_VERDICT with the reason otherwise.
 */
int sgt_cert_check_same_key(X509 *old, X509 *new_cert, EVP_PKEY *token_pub, EVP_PKEY *issuer_pub);

/*
 * PKCS#10 request for pub, signed by signer (the same key, on the token),
 * asking for the policy's key usage and EKU; subject NULL = the policy's.
 */
int sgt_cert_csr(EVP_PKEY *pub, EVP_PKEY *signer, const char *subject, const char *label,
		 const struct sgt_policy *pol, X509_REQ **out);

/* -- the certificate part of the store ---------------------------------- */

/* What sgt_cert_store_save wrote, so that it can be undone. */
struct sgt_cert_saved {
	char *path;		/* certs/<label>/<SERIAL>.pem */
	char *current;		/* certs/<label>/current.pem */
	unsigned char *prev;	/* previous current.pem, NULL when there was none */
	size_t prevlen;
};

/*
 * Writes certs/<label>/<SERIAL>.pem (refusing to replace one) and then
 * replaces current.pem atomically.  On failure nothing is left behind.
 */
int sgt_cert_store_save(const struct sgt_store *st, const char *label, X509 *x, struct sgt_cert_saved *saved);
void sgt_cert_saved_release(struct sgt_cert_saved *saved);

/*
 * 1 when signet can sign a new certificate like x, as renew and cert
 * reissue do: x is self-signed, or its issuer is the current CA
 * certificate of a key in custody (and x verifies with it).  0 when an
 * outside CA issued it: only a request (cert csr) signed by that CA, then
 * cert import, renews it.  Quiet; needs no token.
 */
int sgt_cert_issuer_held(const struct sgt_store *st, X509 *x);

/* certs/<label>/current.pem, or NULL in *out (SGT_OK) when there is none. */
int sgt_cert_store_current(const struct sgt_store *st, const char *label, X509 **out);
/* Paths of every certificate kept for label (not current.pem), sorted. */
int sgt_cert_store_list(const struct sgt_store *st, const char *label, char ***paths, size_t *n);
void sgt_cert_paths_free(char **paths, size_t n);

#endif
