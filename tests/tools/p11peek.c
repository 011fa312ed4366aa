/*
 * p11peek.c: an independent peer for the custody tests.  Talks to a
 * PKCS#11 module directly (no signet code), logs in, finds the private key
 * with a label and tries to read its secret value (CKA_VALUE for EC,
 * CKA_PRIVATE_EXPONENT for RSA).  Exit 0 when the token refuses, 1 when
 * the secret could be read, 2 on any other failure.
 *   p11peek MODULE TOKEN-LABEL PIN-FILE KEY-LABEL
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include <p11-kit/pkcs11.h>

int main(int argc, char **argv)
{
	CK_C_GetFunctionList get;
	CK_FUNCTION_LIST_PTR f;
	CK_SLOT_ID slots[32];
	CK_ULONG n = 32, i, found = 0;
	CK_SESSION_HANDLE s;
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_OBJECT_HANDLE key;
	CK_KEY_TYPE kt = 0;
	char pin[256] = "";
	FILE *pf;
	void *dl;

	if (argc != 5)
		return fprintf(stderr, "usage: p11peek MODULE TOKEN PIN-FILE KEY-LABEL\n"), 2;
	if ((pf = fopen(argv[3], "r")) == NULL || fgets(pin, sizeof(pin), pf) == NULL)
		return fprintf(stderr, "p11peek: cannot read %s\n", argv[3]), 2;
	fclose(pf);
	pin[strcspn(pin, "\n")] = '\0';
	if ((dl = dlopen(argv[1], RTLD_NOW)) == NULL)
		return fprintf(stderr, "p11peek: %s\n", dlerror()), 2;
	*(void **)&get = dlsym(dl, "C_GetFunctionList");
	if (get == NULL || get(&f) != CKR_OK || f->C_Initialize(NULL) != CKR_OK ||
	    f->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
		return fprintf(stderr, "p11peek: module failed\n"), 2;
	for (i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;
		char label[33];
		size_t l = 32;

		if (f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		memcpy(label, ti.label, 32);
		while (l > 0 && label[l - 1] == ' ')
			l--;
		label[l] = '\0';
		if (strcmp(label, argv[2]) == 0)
			break;
	}
	if (i == n || f->C_OpenSession(slots[i], CKF_SERIAL_SESSION, NULL, NULL, &s) != CKR_OK ||
	    f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)) != CKR_OK)
		return fprintf(stderr, "p11peek: cannot log in to token %s\n", argv[2]), 2;
	{
		CK_ATTRIBUTE t[2] = { { CKA_CLASS, &cls, sizeof(cls) }, { CKA_LABEL, argv[4], strlen(argv[4]) } };

		if (f->C_FindObjectsInit(s, t, 2) != CKR_OK || f->C_FindObjects(s, &key, 1, &found) != CKR_OK)
			return fprintf(stderr, "p11peek: search failed\n"), 2;
		f->C_FindObjectsFinal(s);
	}
	if (found == 0)
		return fprintf(stderr, "p11peek: no private key labelled %s\n", argv[4]), 2;
	{
		CK_ATTRIBUTE a = { CKA_KEY_TYPE, &kt, sizeof(kt) };
		unsigned char buf[1024];
		CK_ATTRIBUTE v = { CKA_VALUE, buf, sizeof(buf) };
		CK_RV rv;

		f->C_GetAttributeValue(s, key, &a, 1);
		if (kt == CKK_RSA)
			v.type = CKA_PRIVATE_EXPONENT;
		rv = f->C_GetAttributeValue(s, key, &v, 1);
		if (rv == CKR_OK && v.ulValueLen != CK_UNAVAILABLE_INFORMATION) {
			printf("secret value READABLE (%lu bytes)\n", (unsigned long)v.ulValueLen);
			return 1;
		}
		printf("secret value refused: rv=0x%lx%s\n", (unsigned long)rv,
		       rv == CKR_ATTRIBUTE_SENSITIVE ? " (CKR_ATTRIBUTE_SENSITIVE)" : "");
	}
	f->C_CloseSession(s);
	f->C_Finalize(NULL);
	return 0;
}
