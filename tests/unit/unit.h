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

#endif
