/*
 * certstore.h: the certificate part of the store, certs/<label>/ (ops floor).
 */
#ifndef SGT_CERTSTORE_H
#define SGT_CERTSTORE_H

#include <openssl/x509.h>

#include "store.h"

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
