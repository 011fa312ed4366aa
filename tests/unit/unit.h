/*
 * unit.h: fixtures shared by the cmocka unit tests: a throwaway
 * self-signed certificate made with a software key, and removal of a
 * temporary directory tree.  static inline so that a test file that uses
 * only one of them compiles without unused-function warnings.
 */
#ifndef SGT_UNIT_H
#define SGT_UNIT_H

#include <ftw.h>
#include <stdio.h>

#include <openssl/x509.h>

/* A self-signed certificate for k, valid for a day from now. */
static inline X509 *unit_make_cert(EVP_PKEY *k, const char *cn)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 0x1234);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, n);
	X509_set_pubkey(x, k);
	X509_sign(x, k, EVP_sha256());
	X509_NAME_free(n);
	return x;
}

static inline int unit_rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	return remove(path);
}

/* rm -rf dir; 0 on success. */
static inline int unit_rm_tree(const char *dir)
{
	return nftw(dir, unit_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#if defined(SGT_INTENT_H) && defined(SGT_AUDIT_H)
/*
 * One record appended as tx.c appends it (the unit tests' stand-in for the
 * old sgt_record, which tx.c keeps to itself): signals held; inside an
 * open intent the record names the files staged since the last one, made
 * durable first; unsigned head.
 */
static inline int unit_record(const struct sgt_store *st, const char *op, const char *label, const char *spki,
			      const char *result, json_t *details)
{
	json_t *recs = json_array(), *r = sgt_audit_rec(op, label, spki, result, details, NULL);
	int rc = SGT_OK, claimed = 0;

	if (recs == NULL || r == NULL) {
		json_decref(recs);
		json_decref(r);
		return SGT_ERR_DATA;
	}
	sgt_sig_hold();
	if (sgt_intent_nonce() != NULL) {
		json_object_set_new(r, "intent", sgt_intent_take_staged());
		claimed = 1;
		rc = sgt_intent_sync_staged();
	}
	json_array_append_new(recs, r);
	if (rc == SGT_OK)
		rc = sgt_audit_write(st, recs, NULL);
	if (claimed)
		sgt_intent_recorded(rc == SGT_OK);
	sgt_sig_release();
	json_decref(recs);
	return rc;
}
#endif

#endif
