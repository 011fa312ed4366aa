/*
 * p11shim.c: a test-only PKCS#11 module that forwards every call to a real
 * module (SHIM_MODULE, default SoftHSM2) but lies where a real token never
 * would, to reach error paths: with SHIM_LIE=extractable it reports
 * CKA_EXTRACTABLE true for private keys; with SHIM_LIE=sensitive it
 * reports CKA_SENSITIVE false; with SHIM_LIE=init C_Initialize fails.
 * SHIM_REFUSE=usage makes C_GenerateKeyPair answer CKR_GENERAL_ERROR to a
 * template with any CKA_DECRYPT/UNWRAP/DERIVE on the private key or
 * CKA_ENCRYPT/WRAP on the public key, as tpm2-pkcs11 1.9 does.
 * SHIM_DIE=N makes the first N calls of C_Sign close the real session and
 * answer CKR_SESSION_HANDLE_INVALID, as a remote token whose server
 * restarted does ("always": every call).  SHIM_BADSIG=N corrupts the
 * signature the Nth C_Sign returns (one bit of its last byte), as a
 * failing token might.  SHIM_NOEC=1 makes it a token without elliptic
 * curves, as the opencryptoki soft token is: C_GetMechanismList leaves out
 * every EC mechanism, and C_GetMechanismInfo, C_GenerateKeyPair and
 * C_SignInit answer CKR_MECHANISM_INVALID for them; SHIM_NORSA=1 does the
 * same for RSA key generation and PKCS#1 signing.  SHIM_READONLY=1 makes
 * it a write-protected token: C_OpenSession answers a read-write request
 * with CKR_TOKEN_WRITE_PROTECTED.  SHIM_SIGN_WAIT=FILE makes the first
 * C_Sign create FILE.waiting, then wait (up to 60 s) until FILE exists: a
 * test lets another signer run in between.  SHIM_LABEL_MAX=N makes
 * C_CreateObject and C_SetAttributeValue answer CKR_ATTRIBUTE_VALUE_INVALID
 * to a CKA_LABEL longer than N bytes, as a token with short labels does.
 * Never built into signet.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST shim;
static CK_FUNCTION_LIST_PTR real;

static int has_attr(CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_ATTRIBUTE_TYPE a, CK_ATTRIBUTE_TYPE b, CK_ATTRIBUTE_TYPE c)
{
	CK_ULONG i;

	for (i = 0; i < n; i++)
		if (t[i].type == a || t[i].type == b || t[i].type == c)
			return 1;
	return 0;
}

static int set(const char *name)
{
	const char *e = getenv(name);

	return e != NULL && *e != '\0' && strcmp(e, "0") != 0;
}

/* SHIM_NOEC, SHIM_NORSA: the mechanisms this token pretends not to have. */
static int hidden(CK_MECHANISM_TYPE m)
{
	if (set("SHIM_NORSA") && (m == CKM_RSA_PKCS_KEY_PAIR_GEN || m == CKM_RSA_PKCS || m == CKM_RSA_X_509 ||
				  m == CKM_SHA256_RSA_PKCS || m == CKM_RSA_PKCS_PSS || m == CKM_SHA1_RSA_PKCS))
		return 1;
	if (!set("SHIM_NOEC"))
		return 0;
	return m == CKM_EC_KEY_PAIR_GEN || m == CKM_ECDSA || m == CKM_ECDSA_SHA1 || m == CKM_ECDSA_SHA224 ||
	       m == CKM_ECDSA_SHA256 || m == CKM_ECDSA_SHA384 || m == CKM_ECDSA_SHA512 || m == CKM_ECDH1_DERIVE ||
	       m == CKM_ECDH1_COFACTOR_DERIVE || m == CKM_ECMQV_DERIVE || m == CKM_EC_EDWARDS_KEY_PAIR_GEN ||
	       m == 0x1056UL /* CKM_EC_MONTGOMERY_KEY_PAIR_GEN */ || m == CKM_EDDSA;
}

static CK_RV shim_get_mechanism_list(CK_SLOT_ID slot, CK_MECHANISM_TYPE_PTR list, CK_ULONG_PTR n)
{
	CK_MECHANISM_TYPE all[512];
	CK_ULONG got = 512, i, kept = 0;
	CK_RV rv = real->C_GetMechanismList(slot, all, &got);

	if (rv != CKR_OK)
		return rv;
	for (i = 0; i < got; i++)
		if (!hidden(all[i])) {
			if (list != NULL && kept < *n)
				list[kept] = all[i];
			kept++;
		}
	rv = list != NULL && kept > *n ? CKR_BUFFER_TOO_SMALL : CKR_OK;
	*n = kept;
	return rv;
}

static CK_RV shim_get_mechanism_info(CK_SLOT_ID slot, CK_MECHANISM_TYPE m, CK_MECHANISM_INFO_PTR info)
{
	return hidden(m) ? CKR_MECHANISM_INVALID : real->C_GetMechanismInfo(slot, m, info);
}

static CK_RV shim_sign_init(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE key)
{
	return m != NULL && hidden(m->mechanism) ? CKR_MECHANISM_INVALID : real->C_SignInit(s, m, key);
}

static CK_RV shim_generate_key_pair(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR pubt, CK_ULONG npub,
				    CK_ATTRIBUTE_PTR privt, CK_ULONG npriv, CK_OBJECT_HANDLE_PTR pub, CK_OBJECT_HANDLE_PTR priv)
{
	const char *r = getenv("SHIM_REFUSE");

	if (m != NULL && hidden(m->mechanism))
		return CKR_MECHANISM_INVALID;

	if (r != NULL && strcmp(r, "usage") == 0 &&
	    (has_attr(privt, npriv, CKA_DECRYPT, CKA_UNWRAP, CKA_DERIVE) || has_attr(pubt, npub, CKA_ENCRYPT, CKA_WRAP, CKA_WRAP)))
		return CKR_GENERAL_ERROR;
	return real->C_GenerateKeyPair(s, m, pubt, npub, privt, npriv, pub, priv);
}

static int deaths;

static int signs;

static CK_RV shim_sign(CK_SESSION_HANDLE s, CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR sig, CK_ULONG_PTR siglen)
{
	const char *d = getenv("SHIM_DIE"), *bad = getenv("SHIM_BADSIG"), *wait = getenv("SHIM_SIGN_WAIT");
	static int waited;
	CK_RV rv;

	if (wait != NULL && *wait != '\0' && !waited++) {
		char path[4096];
		FILE *f;
		int i;

		snprintf(path, sizeof(path), "%s.waiting", wait);
		if ((f = fopen(path, "w")) != NULL)
			fclose(f);
		for (i = 0; i < 6000 && access(wait, F_OK) != 0; i++) {
			struct timespec ts = { 0, 10 * 1000 * 1000 };

			nanosleep(&ts, NULL);
		}
	}

	if (d != NULL && *d != '\0' && (strcmp(d, "always") == 0 || deaths < atoi(d))) {
		deaths++;
		real->C_CloseSession(s);
		return CKR_SESSION_HANDLE_INVALID;
	}
	rv = real->C_Sign(s, data, len, sig, siglen);
	if (rv == CKR_OK && sig != NULL && *siglen > 0 && bad != NULL && ++signs == atoi(bad))
		sig[*siglen - 1] ^= 1;
	return rv;
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list);


static const char *lie(void)
{
	const char *l = getenv("SHIM_LIE");

	return l ? l : "";
}

static CK_RV shim_initialize(CK_VOID_PTR args)
{
	if (strcmp(lie(), "init") == 0)
		return CKR_DEVICE_ERROR;
	return real->C_Initialize(args);
}

static CK_RV shim_get_attribute_value(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t, CK_ULONG n)
{
	CK_RV rv = real->C_GetAttributeValue(s, o, t, n);
	CK_OBJECT_CLASS cls = 0;
	CK_ATTRIBUTE c = { CKA_CLASS, &cls, sizeof(cls) };
	CK_ULONG i;

	if (rv != CKR_OK || real->C_GetAttributeValue(s, o, &c, 1) != CKR_OK || cls != CKO_PRIVATE_KEY)
		return rv;
	for (i = 0; i < n; i++) {
		if (t[i].pValue == NULL || t[i].ulValueLen != sizeof(CK_BBOOL))
			continue;
		if (t[i].type == CKA_EXTRACTABLE && strcmp(lie(), "extractable") == 0)
			*(CK_BBOOL *)t[i].pValue = CK_TRUE;
		if (t[i].type == CKA_SENSITIVE && strcmp(lie(), "sensitive") == 0)
			*(CK_BBOOL *)t[i].pValue = CK_FALSE;
	}
	return rv;
}

/* SHIM_LABEL_MAX: a label longer than the token takes. */
static int label_too_long(CK_ATTRIBUTE_PTR t, CK_ULONG n)
{
	const char *m = getenv("SHIM_LABEL_MAX");
	CK_ULONG i;

	for (i = 0; m != NULL && i < n; i++)
		if (t[i].type == CKA_LABEL && t[i].ulValueLen > strtoul(m, NULL, 10))
			return 1;
	return 0;
}

static CK_RV shim_create_object(CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR o)
{
	if (label_too_long(t, n))
		return CKR_ATTRIBUTE_VALUE_INVALID;
	return real->C_CreateObject(s, t, n, o);
}

static CK_RV shim_set_attribute_value(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t, CK_ULONG n)
{
	if (label_too_long(t, n))
		return CKR_ATTRIBUTE_VALUE_INVALID;
	return real->C_SetAttributeValue(s, o, t, n);
}

static CK_RV shim_open_session(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app, CK_NOTIFY notify,
				CK_SESSION_HANDLE_PTR session)
{
	if (set("SHIM_READONLY") && (flags & CKF_RW_SESSION))
		return CKR_TOKEN_WRITE_PROTECTED;
	return real->C_OpenSession(slot, flags, app, notify, session);
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
	const char *path = getenv("SHIM_MODULE");
	CK_C_GetFunctionList get;
	void *dl;
	CK_RV rv;

	dl = dlopen(path ? path : "/usr/lib/softhsm/libsofthsm2.so", RTLD_NOW | RTLD_LOCAL);
	if (dl == NULL)
		return CKR_GENERAL_ERROR;
	*(void **)&get = dlsym(dl, "C_GetFunctionList");
	if (get == NULL || (rv = get(&real)) != CKR_OK)
		return CKR_GENERAL_ERROR;
	shim = *real;
	shim.C_Initialize = shim_initialize;
	shim.C_GetAttributeValue = shim_get_attribute_value;
	shim.C_GenerateKeyPair = shim_generate_key_pair;
	shim.C_Sign = shim_sign;
	shim.C_SignInit = shim_sign_init;
	shim.C_GetMechanismList = shim_get_mechanism_list;
	shim.C_GetMechanismInfo = shim_get_mechanism_info;
	shim.C_OpenSession = shim_open_session;
	shim.C_CreateObject = shim_create_object;
	shim.C_SetAttributeValue = shim_set_attribute_value;
	*list = &shim;
	return CKR_OK;
}
