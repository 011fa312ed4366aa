/*
 * p11shim.c: a test-only PKCS#11 module that forwards every call to a real
 * module (SHIM_MODULE, default SoftHSM2) but lies where a real token never
 * would, to reach error paths: with SHIM_LIE=extractable it reports
 * CKA_EXTRACTABLE true for private keys; with SHIM_LIE=sensitive it
 * reports CKA_SENSITIVE false; with SHIM_LIE=init C_Initialize fails.
 * Never built into signet.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/pkcs11.h>

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list);

static CK_FUNCTION_LIST shim;
static CK_FUNCTION_LIST_PTR real;

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
	*list = &shim;
	return CKR_OK;
}
