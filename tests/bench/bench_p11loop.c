/*
 * bench_p11loop: the floor for batch signing, a bare PKCS#11 loop in one
 * process: load the module, find the token by label, log in, find the key
 * by CKA_ID once, then per image read it, SHA-256 it and C_Sign the digest
 * (CKM_ECDSA).  No verification, no files written, no audit: what signet's
 * `sign IMAGE...` is compared with in `make bench`.  With -w it also
 * writes each signature, base64, to IMAGE.sig (fopen, fwrite, fclose; no
 * sync): the least any signer that leaves signature files must do.
 *
 *   bench_p11loop [-w] MODULE TOKEN PINFILE IDHEX IMAGE...
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <p11-kit/pkcs11.h>

static void die(const char *what, CK_RV rv)
{
	fprintf(stderr, "bench_p11loop: %s failed (0x%lx)\n", what, (unsigned long)rv);
	exit(1);
}

int main(int argc, char **argv)
{
	CK_C_GetFunctionList getlist;
	CK_FUNCTION_LIST_PTR f;
	CK_SLOT_ID slots[16];
	CK_ULONG nslots = 16, i, got = 0;
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_OBJECT_HANDLE key;
	CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };
	unsigned char id[64], sig[512], dgst[32], *buf;
	char pin[128];
	size_t idlen = 0, len;
	void *dl;
	FILE *fp;
	int a, write_sigs = argc > 1 && strcmp(argv[1], "-w") == 0;
	CK_RV rv;

	argc -= write_sigs;
	argv += write_sigs;
	if (argc < 6) {
		fprintf(stderr, "usage: bench_p11loop [-w] MODULE TOKEN PINFILE IDHEX IMAGE...\n");
		return 2;
	}
	if ((dl = dlopen(argv[1], RTLD_NOW)) == NULL || (*(void **)&getlist = dlsym(dl, "C_GetFunctionList")) == NULL ||
	    getlist(&f) != CKR_OK)
		die("loading the module", 0);
	if ((rv = f->C_Initialize(NULL)) != CKR_OK)
		die("C_Initialize", rv);
	if ((rv = f->C_GetSlotList(CK_TRUE, slots, &nslots)) != CKR_OK)
		die("C_GetSlotList", rv);
	for (i = 0; i < nslots && s == CK_INVALID_HANDLE; i++) {
		CK_TOKEN_INFO ti;
		char label[33];
		size_t n = strlen(argv[2]);

		if (f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		memcpy(label, ti.label, 32);
		label[32] = '\0';
		if (strncmp(label, argv[2], n) == 0 && (n == 32 || label[n] == ' ') &&
		    (rv = f->C_OpenSession(slots[i], CKF_SERIAL_SESSION, NULL, NULL, &s)) != CKR_OK)
			die("C_OpenSession", rv);
	}
	if (s == CK_INVALID_HANDLE)
		die("finding the token", 0);
	if ((fp = fopen(argv[3], "r")) == NULL || fgets(pin, sizeof(pin), fp) == NULL)
		die("reading the PIN", 0);
	fclose(fp);
	pin[strcspn(pin, "\r\n")] = '\0';
	if ((rv = f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin))) != CKR_OK)
		die("C_Login", rv);
	for (len = 0; argv[4][2 * len] && argv[4][2 * len + 1] && idlen < sizeof(id); len++)
		sscanf(argv[4] + 2 * len, "%2hhx", &id[idlen++]);
	{
		CK_ATTRIBUTE t[2] = { { CKA_CLASS, &cls, sizeof(cls) }, { CKA_ID, id, idlen } };

		if ((rv = f->C_FindObjectsInit(s, t, 2)) != CKR_OK || (rv = f->C_FindObjects(s, &key, 1, &got)) != CKR_OK || got != 1)
			die("finding the key", rv);
		f->C_FindObjectsFinal(s);
	}
	for (a = 5; a < argc; a++) {
		CK_ULONG siglen = sizeof(sig);

		if ((fp = fopen(argv[a], "rb")) == NULL)
			die("opening an image", 0);
		fseek(fp, 0, SEEK_END);
		len = (size_t)ftell(fp);
		rewind(fp);
		if ((buf = malloc(len + 1)) == NULL || fread(buf, 1, len, fp) != len)
			die("reading an image", 0);
		fclose(fp);
		EVP_Digest(buf, len, dgst, NULL, EVP_sha256(), NULL);
		free(buf);
		if ((rv = f->C_SignInit(s, &mech, key)) != CKR_OK || (rv = f->C_Sign(s, dgst, sizeof(dgst), sig, &siglen)) != CKR_OK)
			die("C_Sign", rv);
		if (write_sigs) {
			unsigned char b64[1024];
			char path[4096];
			int n = EVP_EncodeBlock(b64, sig, (int)siglen);

			snprintf(path, sizeof(path), "%s.sig", argv[a]);
			if ((fp = fopen(path, "w")) == NULL || fwrite(b64, 1, (size_t)n, fp) != (size_t)n || fputc('\n', fp) == EOF ||
			    fclose(fp) != 0)
				die("writing a signature", 0);
		}
	}
	f->C_Logout(s);
	f->C_CloseSession(s);
	f->C_Finalize(NULL);
	return 0;
}
