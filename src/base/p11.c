/*
 * p11.c: raw PKCS#11 through the module's function list: initialising a
 * token, generating EC and RSA pairs with explicit custody attributes
 * (dropping the optional ones a module refuses), reading those attributes
 * back, importing a legacy key as a non-extractable object, finding
 * objects by CKA_ID, label or PKCS#11 URI (p11-kit's parser) with one
 * C_FindObjects, reopening a session that died, destroying objects.
 * Tokens are found by label or URI, because SoftHSM2 renumbers slots.
 * Every failing call is reported with its CKR_* name and what it means.
 * It does not sign: token.c does, on a session it opens here.
 */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <p11-kit/uri.h>

#include "hsmguard.h"
#include "p11.h"

#ifndef CKA_COPYABLE
#define CKA_COPYABLE 0x00000171UL
#endif

static const struct {
	enum sgt_alg alg;
	const char *name;
	const char *curve;	/* OpenSSL group name, NULL for RSA */
	CK_ULONG bits;
} algs[] = {
	{ SGT_ALG_P256, "ecdsa-p256", "prime256v1", 256 },
	{ SGT_ALG_P384, "ecdsa-p384", "secp384r1", 384 },
	{ SGT_ALG_RSA2048, "rsa-2048", NULL, 2048 },
	{ SGT_ALG_RSA3072, "rsa-3072", NULL, 3072 },
	{ SGT_ALG_RSA4096, "rsa-4096", NULL, 4096 },
	{ SGT_ALG_ED25519, "ed25519", "ED25519", 256 },	/* curve: the OID 1.3.101.112 for CKA_EC_PARAMS */
};
#define NALGS (sizeof(algs) / sizeof(algs[0]))

enum sgt_alg sgt_alg_from_name(const char *name)
{
	size_t i;

	for (i = 0; i < NALGS; i++)
		if (strcmp(algs[i].name, name) == 0)
			return algs[i].alg;
	return SGT_ALG_NONE;
}

const char *sgt_alg_name(enum sgt_alg alg)
{
	size_t i;

	for (i = 0; i < NALGS; i++)
		if (algs[i].alg == alg)
			return algs[i].name;
	return "unknown";
}

int sgt_alg_is_ec(enum sgt_alg alg)
{
	return alg == SGT_ALG_P256 || alg == SGT_ALG_P384;
}

enum sgt_alg sgt_alg_of_pkey(const EVP_PKEY *pk)
{
	char group[64];
	size_t i;

	if (EVP_PKEY_is_a(pk, "EC")) {
		if (!EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL))
			return SGT_ALG_NONE;
		for (i = 0; i < NALGS; i++)
			if (algs[i].curve && (strcmp(algs[i].curve, group) == 0 ||
					      OBJ_sn2nid(algs[i].curve) == OBJ_txt2nid(group)))
				return algs[i].alg;
		return SGT_ALG_NONE;
	}
	if (EVP_PKEY_is_a(pk, "ED25519"))
		return SGT_ALG_ED25519;
	if (EVP_PKEY_is_a(pk, "RSA"))
		for (i = 0; i < NALGS; i++)
			if (!algs[i].curve && (CK_ULONG)EVP_PKEY_get_bits(pk) == algs[i].bits)
				return algs[i].alg;
	return SGT_ALG_NONE;
}

static const struct {
	CK_RV rv;
	const char *name;
	const char *why;
} rvs[] = {
	{ CKR_OK, "CKR_OK", "success" },
	{ CKR_HOST_MEMORY, "CKR_HOST_MEMORY", "the module ran out of memory" },
	{ CKR_SLOT_ID_INVALID, "CKR_SLOT_ID_INVALID", "the slot does not exist" },
	{ CKR_GENERAL_ERROR, "CKR_GENERAL_ERROR", "the module failed" },
	{ CKR_FUNCTION_FAILED, "CKR_FUNCTION_FAILED", "the token could not do it" },
	{ CKR_ARGUMENTS_BAD, "CKR_ARGUMENTS_BAD", "bad arguments" },
	{ CKR_ATTRIBUTE_READ_ONLY, "CKR_ATTRIBUTE_READ_ONLY", "an attribute cannot be set" },
	{ CKR_ATTRIBUTE_SENSITIVE, "CKR_ATTRIBUTE_SENSITIVE", "the attribute is sensitive and cannot be read" },
	{ CKR_ATTRIBUTE_TYPE_INVALID, "CKR_ATTRIBUTE_TYPE_INVALID", "the token does not support an attribute" },
	{ CKR_ATTRIBUTE_VALUE_INVALID, "CKR_ATTRIBUTE_VALUE_INVALID", "an attribute value was refused" },
	{ CKR_DEVICE_ERROR, "CKR_DEVICE_ERROR", "the device failed" },
	{ CKR_DEVICE_MEMORY, "CKR_DEVICE_MEMORY", "the token is full" },
	{ CKR_DEVICE_REMOVED, "CKR_DEVICE_REMOVED", "the token was removed" },
	{ CKR_KEY_HANDLE_INVALID, "CKR_KEY_HANDLE_INVALID", "the key no longer exists" },
	{ CKR_KEY_TYPE_INCONSISTENT, "CKR_KEY_TYPE_INCONSISTENT", "wrong key type for the mechanism" },
	{ CKR_MECHANISM_INVALID, "CKR_MECHANISM_INVALID", "the token does not support this algorithm" },
	{ CKR_MECHANISM_PARAM_INVALID, "CKR_MECHANISM_PARAM_INVALID", "the token refused the algorithm parameters" },
	{ CKR_OBJECT_HANDLE_INVALID, "CKR_OBJECT_HANDLE_INVALID", "the object no longer exists" },
	{ CKR_PIN_INCORRECT, "CKR_PIN_INCORRECT", "wrong PIN" },
	{ CKR_PIN_INVALID, "CKR_PIN_INVALID", "the PIN has invalid characters" },
	{ CKR_PIN_LEN_RANGE, "CKR_PIN_LEN_RANGE", "the PIN is too short or too long" },
	{ CKR_PIN_EXPIRED, "CKR_PIN_EXPIRED", "the PIN has expired" },
	{ CKR_PIN_LOCKED, "CKR_PIN_LOCKED", "the PIN is locked after too many wrong tries" },
	{ CKR_SESSION_CLOSED, "CKR_SESSION_CLOSED", "the session was closed" },
	{ CKR_SESSION_HANDLE_INVALID, "CKR_SESSION_HANDLE_INVALID", "the session is gone" },
	{ CKR_SESSION_READ_ONLY, "CKR_SESSION_READ_ONLY", "the session is read-only" },
	{ CKR_SESSION_READ_ONLY_EXISTS, "CKR_SESSION_READ_ONLY_EXISTS", "a read-only session is open" },
	{ CKR_TEMPLATE_INCOMPLETE, "CKR_TEMPLATE_INCOMPLETE", "the token needs more attributes" },
	{ CKR_TEMPLATE_INCONSISTENT, "CKR_TEMPLATE_INCONSISTENT", "the token refused the attribute combination" },
	{ CKR_TOKEN_NOT_PRESENT, "CKR_TOKEN_NOT_PRESENT", "no token in the slot" },
	{ CKR_TOKEN_NOT_RECOGNIZED, "CKR_TOKEN_NOT_RECOGNIZED", "the token is not recognised" },
	{ CKR_TOKEN_WRITE_PROTECTED, "CKR_TOKEN_WRITE_PROTECTED", "the token is write-protected" },
	{ CKR_USER_ALREADY_LOGGED_IN, "CKR_USER_ALREADY_LOGGED_IN", "already logged in" },
	{ CKR_USER_NOT_LOGGED_IN, "CKR_USER_NOT_LOGGED_IN", "not logged in" },
	{ CKR_USER_PIN_NOT_INITIALIZED, "CKR_USER_PIN_NOT_INITIALIZED", "the token has no user PIN yet" },
	{ CKR_USER_TYPE_INVALID, "CKR_USER_TYPE_INVALID", "invalid user type" },
	{ CKR_CRYPTOKI_NOT_INITIALIZED, "CKR_CRYPTOKI_NOT_INITIALIZED", "the module is not initialised" },
	{ CKR_CRYPTOKI_ALREADY_INITIALIZED, "CKR_CRYPTOKI_ALREADY_INITIALIZED", "the module is already initialised" },
	{ CKR_FUNCTION_NOT_SUPPORTED, "CKR_FUNCTION_NOT_SUPPORTED", "the module does not implement this" },
};

const char *sgt_p11_rv_name(CK_RV rv)
{
	static char buf[64];
	size_t i;

	for (i = 0; i < sizeof(rvs) / sizeof(rvs[0]); i++)
		if (rvs[i].rv == rv)
			return rvs[i].name;
	snprintf(buf, sizeof(buf), "CKR_0x%08lx", (unsigned long)rv);
	return buf;
}

static const char *rv_why(CK_RV rv)
{
	size_t i;

	for (i = 0; i < sizeof(rvs) / sizeof(rvs[0]); i++)
		if (rvs[i].rv == rv)
			return rvs[i].why;
	return "unknown PKCS#11 error";
}

/* Reports "what: WHY (CKR_NAME)" and returns SGT_ERR_HSM. */
static int p11_fail(CK_RV rv, const char *fmt, ...) SGT_PRINTF(2, 3);
static int p11_fail(CK_RV rv, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return sgt_err(SGT_ERR_HSM, "%s: %s (%s)", what, rv_why(rv), sgt_p11_rv_name(rv));
}

const char *sgt_p11_rv_why(CK_RV rv)
{
	return rv_why(rv);
}

int sgt_p11_report(CK_RV rv, const char *what)
{
	return p11_fail(rv, "%s", what);
}

int sgt_p11_dead(CK_RV rv)
{
	return rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED || rv == CKR_DEVICE_ERROR ||
	       rv == CKR_TOKEN_NOT_PRESENT || rv == CKR_DEVICE_REMOVED;
}

int sgt_p11_load(struct sgt_p11 *p, const char *module)
{
	CK_C_GetFunctionList getlist;
	CK_C_INITIALIZE_ARGS args;
	CK_RV rv;

	memset(p, 0, sizeof(*p));
	p->session = CK_INVALID_HANDLE;
	if ((p->module = strdup(module)) == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	/*
	 * RTLD_NODELETE: modules are not unloaded at release.  Several modules
	 * (tpm2-pkcs11, network HSM clients) keep threads or state that do not
	 * survive an unload and reload in one process, and a leak report can
	 * then still name the module it came from.
	 */
	p->dl = dlopen(module, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
	if (p->dl == NULL) {
		int rc = sgt_err(SGT_ERR_HSM, "cannot load PKCS#11 module '%s': %s", module, dlerror());

		sgt_hint("check hsm.module in signet.yaml (SoftHSM2: /usr/lib/softhsm/libsofthsm2.so)");
		return rc;
	}
	*(void **)&getlist = dlsym(p->dl, "C_GetFunctionList");
	if (getlist == NULL || getlist(&p->f) != CKR_OK || p->f == NULL)
		return sgt_err(SGT_ERR_HSM, "'%s' is not a PKCS#11 module (no C_GetFunctionList)", module);
	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	rv = p->f->C_Initialize(&args);
	if (rv == CKR_OK)
		p->initialized = 1;
	else if (rv != CKR_CRYPTOKI_ALREADY_INITIALIZED)
		return p11_fail(rv, "cannot initialise PKCS#11 module '%s'", module);
	return SGT_OK;
}

void sgt_p11_release(struct sgt_p11 *p)
{
	/*
	 * C_Finalize ends every session of the application and its login (no
	 * C_Logout or C_CloseSession first: a round trip each to a network
	 * HSM); a module another part of the process initialised is left
	 * initialised, so its session is closed here.
	 */
	if (p->f != NULL && p->session != CK_INVALID_HANDLE && !p->initialized)
		p->f->C_CloseSession(p->session);
	if (p->f != NULL && p->initialized)
		p->f->C_Finalize(NULL);
	if (p->dl != NULL)
		dlclose(p->dl);
	free(p->module);
	memset(p, 0, sizeof(*p));
	p->session = CK_INVALID_HANDLE;
}

static void label_of(const CK_UTF8CHAR *padded, size_t n, char *out)
{
	while (n > 0 && padded[n - 1] == ' ')
		n--;
	memcpy(out, padded, n);
	out[n] = '\0';
}

static void pad_label(const char *label, CK_UTF8CHAR out[32])
{
	size_t n = strlen(label);

	memset(out, ' ', 32);
	memcpy(out, label, n > 32 ? 32 : n);
}

/* The module's slot list (with a token present only, or all); *slots malloc'd. */
static int list_slots(struct sgt_p11 *p, CK_BBOOL present, CK_SLOT_ID **slots, CK_ULONG *n)
{
	CK_RV rv;

	*slots = NULL;
	*n = 16;
	/* One call for the usual few slots (a network HSM pays a round trip per call); asks the count when they are more. */
	if ((*slots = calloc(*n, sizeof(**slots))) == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	rv = p->f->C_GetSlotList(present, *slots, n);
	if (rv == CKR_OK)
		return SGT_OK;
	free(*slots);
	*slots = NULL;
	*n = 0;
	if (rv == CKR_BUFFER_TOO_SMALL)
		rv = p->f->C_GetSlotList(present, NULL, n);
	if (rv == CKR_OK && *n > 0) {
		if ((*slots = calloc(*n, sizeof(**slots))) == NULL)
			return sgt_err(SGT_ERR_DATA, "out of memory");
		rv = p->f->C_GetSlotList(present, *slots, n);
	}
	if (rv != CKR_OK) {
		free(*slots);
		*slots = NULL;
		return p11_fail(rv, "cannot list the slots of '%s'", p->module);
	}
	return SGT_OK;
}

int sgt_p11_is_uri(const char *s)
{
	return s != NULL && strncasecmp(s, "pkcs11:", 7) == 0;
}

int sgt_p11_uri_parse(const char *s, void **out)
{
	P11KitUri *uri = p11_kit_uri_new();
	int r;

	*out = NULL;
	if (uri == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	if ((r = p11_kit_uri_parse(s, P11_KIT_URI_FOR_ANY, uri)) != P11_KIT_URI_OK) {
		p11_kit_uri_free(uri);
		return sgt_err(SGT_ERR_USAGE, "'%s' is not a PKCS#11 URI: %s", s, p11_kit_uri_message(r));
	}
	if (p11_kit_uri_any_unrecognized(uri)) {
		p11_kit_uri_free(uri);
		sgt_err(SGT_ERR_USAGE, "PKCS#11 URI '%s' has attributes signet does not know", s);
		sgt_hint("known: token, manufacturer, serial, model, library-*, slot-*, object, id, type (RFC 7512)");
		return SGT_ERR_USAGE;
	}
	/*
	 * p11-kit parses these query attributes, so they are not "unrecognized",
	 * but signet does not honour them: the PIN comes from --pin-file,
	 * --pin-fd or pin_source only (never the command line), the module from
	 * signet.yaml only.  Refused rather than silently ignored.
	 */
	{
		const char *q = p11_kit_uri_get_pin_value(uri) ? "pin-value"
			: p11_kit_uri_get_pin_source(uri) ? "pin-source"
			: p11_kit_uri_get_module_path(uri) ? "module-path"
			: p11_kit_uri_get_module_name(uri) ? "module-name" : NULL;

		if (q != NULL) {
			int pin = q[0] == 'p';

			p11_kit_uri_free(uri);
			sgt_err(SGT_ERR_USAGE, "PKCS#11 URI: query attribute '%s' is not honoured by signet; %s", q,
				pin ? "the PIN comes from --pin-file, --pin-fd or the store's pin_source"
				    : "the module is the one in the store's signet.yaml");
			sgt_hint("drop the '?...' part of the URI");
			return SGT_ERR_USAGE;
		}
	}
	*out = uri;
	return SGT_OK;
}

void sgt_p11_uri_free(void *uri)
{
	if (uri != NULL)
		p11_kit_uri_free(uri);
}

int sgt_p11_mechanisms(struct sgt_p11 *p, const CK_MECHANISM_TYPE *want, size_t n)
{
	CK_MECHANISM_TYPE *list = NULL;
	CK_ULONG count = 0, i;
	size_t j, found = 0;
	CK_RV rv = p->f->C_GetMechanismList(p->slot, NULL, &count);

	if (rv == CKR_OK && count > 0) {
		if ((list = calloc(count, sizeof(*list))) == NULL)
			return -1;
		rv = p->f->C_GetMechanismList(p->slot, list, &count);
	}
	if (rv != CKR_OK) {
		free(list);
		return -1;
	}
	for (j = 0; j < n; j++)
		for (i = 0; i < count; i++)
			if (list[i] == want[j]) {
				found++;
				break;
			}
	free(list);
	return found == n;
}

int sgt_p11_key_uri(struct sgt_p11 *p, const unsigned char *id, size_t idlen, int with_label, char **out)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE a;
	CK_TOKEN_INFO ti, *uti;
	CK_RV rv;
	struct sgt_p11_obj *pubs = NULL;
	size_t npub = 0;
	P11KitUri *uri = NULL;
	char *str = NULL;
	int rc;

	*out = NULL;
	/* As read when the token was found: label, manufacturer, model and serial do not change. */
	if (p->have_info)
		ti = p->info;
	else if ((rv = p->f->C_GetTokenInfo(p->slot, &ti)) != CKR_OK)
		return p11_fail(rv, "cannot read the token information of '%s'", p->token);
	/* The public half is readable without a login and carries the pair's label. */
	if ((rc = sgt_p11_find(p, CKO_PUBLIC_KEY, id, idlen, &pubs, &npub)) != SGT_OK)
		return rc;
	/* A pair signet labelled keeps its public half: without one the key is not there to name. */
	if (with_label && npub == 0)
		goto out;
	if ((uri = p11_kit_uri_new()) == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	/* Token part: the four fields as C_GetTokenInfo reports them (blank-padded, as the URI format wants). */
	uti = p11_kit_uri_get_token_info(uri);
	memcpy(uti->label, ti.label, sizeof(ti.label));
	memcpy(uti->manufacturerID, ti.manufacturerID, sizeof(ti.manufacturerID));
	memcpy(uti->model, ti.model, sizeof(ti.model));
	memcpy(uti->serialNumber, ti.serialNumber, sizeof(ti.serialNumber));
	a = (CK_ATTRIBUTE){ CKA_CLASS, &cls, sizeof(cls) };
	rc = p11_kit_uri_set_attribute(uri, &a);
	a = (CK_ATTRIBUTE){ CKA_ID, (void *)id, idlen };
	if (rc == P11_KIT_URI_OK)
		rc = p11_kit_uri_set_attribute(uri, &a);
	if (rc == P11_KIT_URI_OK && with_label && npub == 1 && pubs[0].label[0] != '\0') {
		a = (CK_ATTRIBUTE){ CKA_LABEL, pubs[0].label, strlen(pubs[0].label) };
		rc = p11_kit_uri_set_attribute(uri, &a);
	}
	if (rc == P11_KIT_URI_OK)
		rc = p11_kit_uri_format(uri, P11_KIT_URI_FOR_OBJECT_ON_TOKEN, &str);
	if (rc != P11_KIT_URI_OK) {
		rc = sgt_err(SGT_ERR_DATA, "cannot write the PKCS#11 URI of a key on token '%s': %s", p->token,
			     p11_kit_uri_message(rc));
		goto out;
	}
	*out = str;
	rc = SGT_OK;
out:
	p11_kit_uri_free(uri);
	free(pubs);
	return rc;
}

/* Does the token in slot match name: a label, or a PKCS#11 URI's module/slot/token parts? */
static int token_matches(struct sgt_p11 *p, CK_SLOT_ID slot, const CK_TOKEN_INFO *ti, const char *label,
			 P11KitUri *uri)
{
	CK_SLOT_INFO si;
	CK_INFO mi;

	(void)label;
	if (!p11_kit_uri_match_token_info(uri, ti))
		return 0;
	if (p11_kit_uri_get_slot_id(uri) != (CK_SLOT_ID)-1 && p11_kit_uri_get_slot_id(uri) != slot)
		return 0;
	if (p->f->C_GetSlotInfo(slot, &si) == CKR_OK && !p11_kit_uri_match_slot_info(uri, &si))
		return 0;
	if (p->f->C_GetInfo(&mi) == CKR_OK && !p11_kit_uri_match_module_info(uri, &mi))
		return 0;
	return 1;
}

/* Finds the slot whose initialised token has this label, or matches this PKCS#11 URI. */
static int find_slot(struct sgt_p11 *p, const char *label, CK_SLOT_ID *slot)
{
	CK_SLOT_ID *slots = NULL;
	CK_ULONG n = 0, i;
	struct sgt_buf seen = { 0 }, matched = { 0 };
	void *uri = NULL;
	int found = 0, rc;

	if (sgt_p11_is_uri(label) && (rc = sgt_p11_uri_parse(label, &uri)) != SGT_OK)
		return rc;
	if ((rc = list_slots(p, CK_TRUE, &slots, &n)) != SGT_OK)
		goto out;
	for (i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;
		char l[33], serial[17];
		int hit;

		if (p->f->C_GetTokenInfo(slots[i], &ti) != CKR_OK || !(ti.flags & CKF_TOKEN_INITIALIZED))
			continue;
		label_of(ti.label, sizeof(ti.label), l);
		label_of(ti.serialNumber, sizeof(ti.serialNumber), serial);
		sgt_buf_printf(&seen, "%s'%s'", seen.len ? ", " : "", l);
		hit = uri != NULL ? token_matches(p, slots[i], &ti, l, uri) : strcmp(l, label) == 0;
		if (!hit)
			continue;
		sgt_buf_printf(&matched, "%s'%s' (serial %s)", matched.len ? ", " : "", l, serial);
		if (found++ == 0) {
			*slot = slots[i];
			snprintf(p->token, sizeof(p->token), "%s", l);
			p->info = ti;
			p->have_info = 1;
		}
		/*
		 * The embedded token, whose directory holds no other: no slot after it
		 * can hold another token labelled so (SoftHSM2 shows one empty slot
		 * more, whose token info a network HSM would charge a round trip for).
		 */
		if (uri == NULL && found == 1 && sgt_hsm_sole_token(ti.label, ti.serialNumber))
			break;
	}
	if (found > 1) {
		rc = uri != NULL ? sgt_err(SGT_ERR_HSM, "PKCS#11 URI '%s' matches %d tokens in '%s': %s", label, found,
					   p->module, matched.p)
				 : sgt_err(SGT_ERR_HSM, "more than one token is labelled '%s' in '%s': %s", label,
					   p->module, matched.p);
		sgt_hint("name the token by PKCS#11 URI with its serial: 'pkcs11:token=LABEL;serial=SERIAL'");
		goto out;
	}
	if (!found) {
		rc = sgt_err(SGT_ERR_HSM, "no token %s '%s' in '%s' (tokens present: %s)", uri ? "matches" : "labelled",
			     label, p->module, seen.len ? seen.p : "none");
		goto out;
	}
	rc = SGT_OK;
out:
	sgt_p11_uri_free(uri);
	sgt_buf_free(&seen);
	sgt_buf_free(&matched);
	free(slots);
	return rc;
}

int sgt_p11_open(struct sgt_p11 *p, const char *token, int rw)
{
	CK_RV rv;
	int rc;

	if ((rc = find_slot(p, token, &p->slot)) != SGT_OK)
		return rc;
	p->rw = rw != 0;
	rv = p->f->C_OpenSession(p->slot, CKF_SERIAL_SESSION | (rw ? CKF_RW_SESSION : 0), NULL, NULL, &p->session);
	if (rv == CKR_TOKEN_WRITE_PROTECTED && rw == 2) {
		p->rw = 0;
		rv = p->f->C_OpenSession(p->slot, CKF_SERIAL_SESSION, NULL, NULL, &p->session);
	}
	if (rv != CKR_OK) {
		p->session = CK_INVALID_HANDLE;
		return p11_fail(rv, "cannot open a session on token '%s'", token);
	}
	return SGT_OK;
}

int sgt_p11_login(struct sgt_p11 *p, const struct sgt_pin *pin)
{
	CK_RV rv = p->f->C_Login(p->session, CKU_USER, (CK_UTF8CHAR_PTR)pin->value, pin->len);
	int rc;

	p->login_rv = rv;
	if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN)
		return SGT_OK;
	if (rv == CKR_PIN_INCORRECT) {
		CK_TOKEN_INFO ti;

		rc = sgt_err(SGT_ERR_HSM, "login to token '%s' failed: wrong PIN (CKR_PIN_INCORRECT)", p->token);
		if (p->f->C_GetTokenInfo(p->slot, &ti) == CKR_OK && (ti.flags & CKF_USER_PIN_FINAL_TRY))
			sgt_hint("one more wrong PIN locks the token");
		return rc;
	}
	if (rv == CKR_PIN_LOCKED) {
		rc = sgt_err(SGT_ERR_HSM, "login to token '%s' failed: the user PIN is locked (CKR_PIN_LOCKED)", p->token);
		sgt_hint("the security officer must unlock it (SoftHSM2: softhsm2-util has no unlock; re-init the PIN with the SO PIN via pkcs11-tool --init-pin)");
		return rc;
	}
	return p11_fail(rv, "login to token '%s' failed", p->token);
}

CK_RV sgt_p11_reopen(struct sgt_p11 *p, const struct sgt_pin *pin)
{
	CK_SLOT_ID slots[64];
	CK_ULONG n = 64, i;
	CK_RV rv;

	p->reopens++;	/* object handles found on the old session may name other objects now */
	if (p->session != CK_INVALID_HANDLE)
		p->f->C_CloseSession(p->session);	/* usually fails: it is already gone */
	p->session = CK_INVALID_HANDLE;
	/* A token that was removed or a server that restarted may sit in another slot now. */
	if ((rv = p->f->C_GetSlotList(CK_TRUE, slots, &n)) != CKR_OK)
		return rv;
	for (i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;
		char l[33];

		if (p->f->C_GetTokenInfo(slots[i], &ti) != CKR_OK || !(ti.flags & CKF_TOKEN_INITIALIZED))
			continue;
		label_of(ti.label, sizeof(ti.label), l);
		if (strcmp(l, p->token) == 0) {
			p->info = ti;
			p->have_info = 1;
			break;
		}
	}
	if (i == n)
		return CKR_TOKEN_NOT_PRESENT;
	p->slot = slots[i];
	rv = p->f->C_OpenSession(p->slot, CKF_SERIAL_SESSION | (p->rw ? CKF_RW_SESSION : 0), NULL, NULL, &p->session);
	if (rv != CKR_OK) {
		p->session = CK_INVALID_HANDLE;
		return rv;
	}
	rv = p->f->C_Login(p->session, CKU_USER, (CK_UTF8CHAR_PTR)pin->value, pin->len);
	return rv == CKR_USER_ALREADY_LOGGED_IN ? CKR_OK : rv;
}

int sgt_p11_init_token(struct sgt_p11 *p, const char *label, const struct sgt_pin *so, const struct sgt_pin *user)
{
	CK_SLOT_ID *slots = NULL, slot = 0;
	CK_ULONG n = 0, i;
	CK_UTF8CHAR padded[32];
	CK_SESSION_HANDLE s;
	int found = 0, rc;
	CK_RV rv;

	if ((rc = list_slots(p, CK_FALSE, &slots, &n)) != SGT_OK)
		return rc;
	for (i = 0; i < n && !found; i++) {
		CK_TOKEN_INFO ti;

		if (p->f->C_GetTokenInfo(slots[i], &ti) == CKR_OK && !(ti.flags & CKF_TOKEN_INITIALIZED)) {
			slot = slots[i];
			found = 1;
		}
	}
	free(slots);
	if (!found)
		return sgt_err(SGT_ERR_HSM, "no free slot to initialise a token in '%s'", p->module);
	pad_label(label, padded);
	rv = p->f->C_InitToken(slot, (CK_UTF8CHAR_PTR)so->value, so->len, padded);
	if (rv != CKR_OK)
		return p11_fail(rv, "cannot initialise token '%s'", label);
	/* SoftHSM2 gives the new token a new slot id: look it up by label again. */
	if ((rc = find_slot(p, label, &p->slot)) != SGT_OK)
		return rc;
	rv = p->f->C_OpenSession(p->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s);
	if (rv != CKR_OK)
		return p11_fail(rv, "cannot open a session on token '%s'", label);
	rv = p->f->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)so->value, so->len);
	if (rv == CKR_OK) {
		rv = p->f->C_InitPIN(s, (CK_UTF8CHAR_PTR)user->value, user->len);
		p->f->C_Logout(s);
	}
	p->f->C_CloseSession(s);
	if (rv != CKR_OK)
		return p11_fail(rv, "cannot set the user PIN of token '%s'", label);
	return SGT_OK;
}

/*
 * What modules answer when they refuse an attribute in a template: the
 * standard codes, and CKR_GENERAL_ERROR / CKR_FUNCTION_FAILED from modules
 * (tpm2-pkcs11 1.9) that do not say which.
 */
static int template_refused(CK_RV rv)
{
	return rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_VALUE_INVALID || rv == CKR_TEMPLATE_INCONSISTENT ||
	       rv == CKR_GENERAL_ERROR || rv == CKR_FUNCTION_FAILED;
}

/* Does the module's manufacturerID start with prefix? */
static int module_is(struct sgt_p11 *p, const char *prefix)
{
	CK_INFO info;

	return p->f->C_GetInfo(&info) == CKR_OK && strncmp((const char *)info.manufacturerID, prefix, strlen(prefix)) == 0;
}

/* DER of the curve's OID, as CKA_EC_PARAMS wants it. */
static int curve_der(const char *curve, unsigned char **der, int *len)
{
	ASN1_OBJECT *obj = OBJ_txt2obj(curve, 0);

	*der = NULL;
	*len = obj ? i2d_ASN1_OBJECT(obj, der) : -1;
	ASN1_OBJECT_free(obj);
	if (*len <= 0)
		return sgt_err(SGT_ERR_DATA, "cannot encode curve %s", curve);
	return SGT_OK;
}

int sgt_p11_generate(struct sgt_p11 *p, enum sgt_alg alg, const char *label,
		     const unsigned char *id, size_t idlen, CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv)
{
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_BYTE exponent[] = { 0x01, 0x00, 0x01 };
	CK_MECHANISM mech = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_ULONG bits = 0;
	unsigned char *params = NULL;
	int plen = 0, rc;
	size_t i;
	CK_RV rv;
	/*
	 * A signing key does nothing else: no decrypt, unwrap or derive (nor
	 * their public twins).  Those, and CKA_COPYABLE, come last so they can
	 * be dropped for modules that refuse them (tpm2-pkcs11 1.9 answers an
	 * explicit CKA_DECRYPT false with CKR_GENERAL_ERROR); custody is judged
	 * by what is read back, never by the template.  They are left out only
	 * when the module refuses the template with them.
	 */
	CK_ATTRIBUTE pubt[10] = {
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &no, sizeof(no) },
		{ CKA_VERIFY, &yes, sizeof(yes) },
		{ CKA_LABEL, (void *)label, strlen(label) },
		{ CKA_ID, (void *)id, idlen },
	};
	CK_ULONG npub = 5;
	CK_ATTRIBUTE privt[] = {
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) },
		{ CKA_EXTRACTABLE, &no, sizeof(no) },
		{ CKA_SIGN, &yes, sizeof(yes) },
		{ CKA_LABEL, (void *)label, strlen(label) },
		{ CKA_ID, (void *)id, idlen },
		{ CKA_DECRYPT, &no, sizeof(no) },	/* optional from here on */
		{ CKA_UNWRAP, &no, sizeof(no) },
		{ CKA_DERIVE, &no, sizeof(no) },
		{ CKA_COPYABLE, &no, sizeof(no) },
	};
	CK_ULONG npriv = sizeof(privt) / sizeof(privt[0]);
	/* Templates tried in turn: everything; without CKA_COPYABLE; without the usage attributes; without both. */
	static const struct {
		int copyable, usage;
		const char *why;
	} steps[] = {
		{ 1, 1, NULL },
		{ 0, 1, "CKA_COPYABLE" },
		{ 1, 0, "explicit CKA_DECRYPT/UNWRAP/DERIVE and CKA_ENCRYPT/WRAP false" },
		{ 0, 0, "CKA_COPYABLE and the explicit usage attributes" },
	};
	CK_ATTRIBUTE tpriv[sizeof(privt) / sizeof(privt[0])], tpub[10];
	CK_ULONG ntpriv, ntpub, j;
	size_t first;

	for (i = 0; i < NALGS && algs[i].alg != alg; i++)
		;
	if (i == NALGS)
		return sgt_err(SGT_ERR_USAGE, "unknown key algorithm");
	if (algs[i].curve != NULL) {
		if ((rc = curve_der(algs[i].curve, &params, &plen)) != SGT_OK)
			return rc;
		pubt[npub++] = (CK_ATTRIBUTE){ CKA_EC_PARAMS, params, (CK_ULONG)plen };
		if (alg == SGT_ALG_ED25519)
			mech.mechanism = CKM_EC_EDWARDS_KEY_PAIR_GEN;	/* PKCS#11 3.0 */
	} else {
		mech.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
		bits = algs[i].bits;
		pubt[npub++] = (CK_ATTRIBUTE){ CKA_MODULUS_BITS, &bits, sizeof(bits) };
		pubt[npub++] = (CK_ATTRIBUTE){ CKA_PUBLIC_EXPONENT, exponent, sizeof(exponent) };
	}
	pubt[npub++] = (CK_ATTRIBUTE){ CKA_ENCRYPT, &no, sizeof(no) };	/* optional */
	pubt[npub++] = (CK_ATTRIBUTE){ CKA_WRAP, &no, sizeof(no) };
	sgt_verbose("generating a %s key pair on token '%s'", algs[i].name, p->token);
	rv = CKR_GENERAL_ERROR;
	/*
	 * tpm2-pkcs11 refuses the full template only after it has made the
	 * object in the TPM, and does not flush it: without a resource manager
	 * (swtpm, a bare /dev/tpm0) the TPM's few transient slots are then
	 * full and every later attempt fails.  Start it at the template it takes.
	 */
	first = module_is(p, "tpm2-software") ? 2 : 0;
	for (i = first; i < sizeof(steps) / sizeof(steps[0]); i++) {
		if (i > first) {
			if (!template_refused(rv))
				break;
			sgt_verbose("token '%s' refused the key template (%s); trying again without %s", p->token,
				    sgt_p11_rv_name(rv), steps[i].why);
		}
		for (j = ntpriv = 0; j < npriv; j++)
			if ((steps[i].copyable || privt[j].type != CKA_COPYABLE) &&
			    (steps[i].usage || (privt[j].type != CKA_DECRYPT && privt[j].type != CKA_UNWRAP &&
						privt[j].type != CKA_DERIVE)))
				tpriv[ntpriv++] = privt[j];
		for (j = ntpub = 0; j < npub; j++)
			if (steps[i].usage || (pubt[j].type != CKA_ENCRYPT && pubt[j].type != CKA_WRAP))
				tpub[ntpub++] = pubt[j];
		rv = p->f->C_GenerateKeyPair(p->session, &mech, tpub, ntpub, tpriv, ntpriv, pub, priv);
		if (rv == CKR_OK)
			break;
	}
	OPENSSL_free(params);
	if (rv != CKR_OK)
		return p11_fail(rv, "cannot generate a key pair on token '%s'", p->token);
	return SGT_OK;
}

/* One CK_BBOOL attribute: 1/0, or -1 when the token does not know it. */
static int get_bool(struct sgt_p11 *p, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type)
{
	CK_BBOOL v = CK_FALSE;
	CK_ATTRIBUTE a = { type, &v, sizeof(v) };

	if (p->f->C_GetAttributeValue(p->session, h, &a, 1) != CKR_OK || a.ulValueLen != sizeof(v))
		return -1;
	return v ? 1 : 0;
}

int sgt_p11_custody(struct sgt_p11 *p, CK_OBJECT_HANDLE priv, struct sgt_custody *out)
{
	static const CK_ATTRIBUTE_TYPE type[9] = { CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, CKA_EXTRACTABLE,
						   CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE, CKA_LOCAL,
						   CKA_COPYABLE, CKA_MODIFIABLE };
	int *field[9] = { &out->token, &out->private_, &out->sensitive, &out->extractable, &out->always_sensitive,
			  &out->never_extractable, &out->local, &out->copyable, &out->modifiable };
	CK_BBOOL v[9];
	CK_ATTRIBUTE t[9];
	CK_RV rv;
	size_t i;

	/*
	 * All nine in ONE call (a network HSM pays a round trip per call): an
	 * attribute the module does not have comes back unavailable while the
	 * others are filled (PKCS#11 2.40).  One the module left untouched (the
	 * 0xa5 mark still there) is asked alone, as before, and read back as
	 * the module says.
	 */
	for (i = 0; i < 9; i++) {
		v[i] = 0xa5;
		t[i] = (CK_ATTRIBUTE){ type[i], &v[i], sizeof(v[i]) };
	}
	rv = p->f->C_GetAttributeValue(p->session, priv, t, 9);
	for (i = 0; i < 9; i++) {
		int answered = rv == CKR_OK || rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_SENSITIVE ||
			       rv == CKR_BUFFER_TOO_SMALL;

		if (answered && t[i].ulValueLen == CK_UNAVAILABLE_INFORMATION)
			*field[i] = -1;
		else if (answered && t[i].ulValueLen == sizeof(v[i]) && v[i] != 0xa5)
			*field[i] = v[i] ? 1 : 0;
		else
			*field[i] = get_bool(p, priv, type[i]);
	}
	if (out->sensitive < 0 || out->extractable < 0)
		return sgt_err(SGT_ERR_HSM, "token '%s' does not report CKA_SENSITIVE/CKA_EXTRACTABLE of the key", p->token);
	return SGT_OK;
}

/* Reads a variable-length attribute into a malloc'd buffer. */
static int get_bytes(struct sgt_p11 *p, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type, unsigned char **out, CK_ULONG *len)
{
	CK_ATTRIBUTE a = { type, NULL, 0 };
	CK_RV rv = p->f->C_GetAttributeValue(p->session, h, &a, 1);

	*out = NULL;
	if (rv != CKR_OK || a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
		return p11_fail(rv == CKR_OK ? CKR_ATTRIBUTE_TYPE_INVALID : rv, "cannot read a key attribute on token '%s'", p->token);
	if ((a.pValue = malloc(a.ulValueLen ? a.ulValueLen : 1)) == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	rv = p->f->C_GetAttributeValue(p->session, h, &a, 1);
	if (rv != CKR_OK) {
		free(a.pValue);
		return p11_fail(rv, "cannot read a key attribute on token '%s'", p->token);
	}
	*out = a.pValue;
	*len = a.ulValueLen;
	return SGT_OK;
}

static int pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld, EVP_PKEY **out)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	int ok = params && ctx && EVP_PKEY_fromdata_init(ctx) == 1 &&
		 EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) == 1;

	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	if (!ok)
		return sgt_err(SGT_ERR_HSM, "the token's public key is malformed: %s", sgt_ossl_why());
	return SGT_OK;
}

/*
 * The public key of type kt from its attributes: x is CKA_EC_PARAMS or
 * CKA_MODULUS, y CKA_EC_POINT or CKA_PUBLIC_EXPONENT (Edwards: y only).
 */
static int pub_build(struct sgt_p11 *p, CK_KEY_TYPE kt, const unsigned char *x, CK_ULONG xl, const unsigned char *y,
		     CK_ULONG yl, EVP_PKEY **out)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	BIGNUM *n = NULL, *e = NULL;
	int rc;

	*out = NULL;
	if (bld == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	if (kt == CKK_EC) {
		const unsigned char *q;
		ASN1_OBJECT *oid = NULL;
		ASN1_OCTET_STRING *os = NULL;
		const unsigned char *point;
		size_t plen;

		q = x;
		oid = d2i_ASN1_OBJECT(NULL, &q, (long)xl);
		if (oid == NULL || OBJ_obj2nid(oid) == NID_undef) {
			ASN1_OBJECT_free(oid);
			rc = sgt_err(SGT_ERR_HSM, "token '%s' holds an EC key on a curve signet does not know", p->token);
			goto out;
		}
		/* CKA_EC_POINT is a DER OCTET STRING per the standard; some modules give the raw point. */
		q = y;
		os = d2i_ASN1_OCTET_STRING(NULL, &q, (long)yl);
		if (os != NULL && q == y + yl) {
			point = ASN1_STRING_get0_data(os);
			plen = (size_t)ASN1_STRING_length(os);
		} else {
			point = y;
			plen = yl;
		}
		rc = OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, OBJ_nid2sn(OBJ_obj2nid(oid)), 0) &&
		     OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, plen)
			     ? pkey_fromdata("EC", bld, out)
			     : sgt_err(SGT_ERR_DATA, "out of memory");
		ASN1_OBJECT_free(oid);
		ASN1_OCTET_STRING_free(os);
	} else if (kt == CKK_EC_EDWARDS) {
		const unsigned char *q;
		ASN1_OCTET_STRING *os = NULL;

		/* CKA_EC_POINT: an OCTET STRING holding the 32-byte key (PKCS#11 3.0), or the bare 32 bytes. */
		q = y;
		os = d2i_ASN1_OCTET_STRING(NULL, &q, (long)yl);
		if (os != NULL && q == y + yl && ASN1_STRING_length(os) == 32)
			*out = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, ASN1_STRING_get0_data(os), 32);
		else if (yl == 32)
			*out = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, y, 32);
		ASN1_OCTET_STRING_free(os);
		rc = *out != NULL ? SGT_OK
				  : sgt_err(SGT_ERR_HSM, "token '%s' holds an Edwards-curve key that is not Ed25519", p->token);
	} else if (kt == CKK_RSA) {
		n = BN_bin2bn(x, (int)xl, NULL);
		e = BN_bin2bn(y, (int)yl, NULL);
		rc = n && e && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) &&
		     OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e)
			     ? pkey_fromdata("RSA", bld, out)
			     : sgt_err(SGT_ERR_DATA, "out of memory");
	} else {
		rc = sgt_err(SGT_ERR_HSM, "token '%s' holds a key of a type signet does not use (CKK 0x%lx)", p->token,
			     (unsigned long)kt);
	}
out:
	BN_free(n);
	BN_free(e);
	OSSL_PARAM_BLD_free(bld);
	return rc;
}

int sgt_p11_pubkey(struct sgt_p11 *p, CK_OBJECT_HANDLE pub, EVP_PKEY **out)
{
	CK_KEY_TYPE kt = 0;
	CK_ATTRIBUTE a = { CKA_KEY_TYPE, &kt, sizeof(kt) };
	unsigned char *x = NULL, *y = NULL;
	CK_ULONG xl = 0, yl = 0;
	int rc;
	CK_RV rv;

	*out = NULL;
	if ((rv = p->f->C_GetAttributeValue(p->session, pub, &a, 1)) != CKR_OK)
		return p11_fail(rv, "cannot read the key type on token '%s'", p->token);
	if (kt == CKK_EC)
		rc = get_bytes(p, pub, CKA_EC_PARAMS, &x, &xl);
	else if (kt == CKK_RSA)
		rc = get_bytes(p, pub, CKA_MODULUS, &x, &xl);
	else
		rc = SGT_OK;
	if (rc == SGT_OK && (kt == CKK_EC || kt == CKK_EC_EDWARDS))
		rc = get_bytes(p, pub, CKA_EC_POINT, &y, &yl);
	else if (rc == SGT_OK && kt == CKK_RSA)
		rc = get_bytes(p, pub, CKA_PUBLIC_EXPONENT, &y, &yl);
	if (rc == SGT_OK)
		rc = pub_build(p, kt, x, xl, y, yl, out);
	free(x);
	free(y);
	return rc;
}

CK_RV sgt_p11_object(struct sgt_p11 *p, CK_OBJECT_HANDLE h, int rsa, CK_OBJECT_CLASS *cls, EVP_PKEY **pub)
{
	CK_OBJECT_CLASS c = (CK_OBJECT_CLASS)-1;	/* stays so if the module did not fill it */
	CK_KEY_TYPE kt = (CK_KEY_TYPE)-1;
	unsigned char x[1024], y[256];
	CK_ATTRIBUTE t[4] = {
		{ CKA_CLASS, &c, sizeof(c) }, { CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ rsa ? CKA_MODULUS : CKA_EC_PARAMS, x, sizeof(x) }, { rsa ? CKA_PUBLIC_EXPONENT : CKA_EC_POINT, y, sizeof(y) },
	};
	CK_RV rv = p->f->C_GetAttributeValue(p->session, h, t, 4);

	*cls = (CK_OBJECT_CLASS)-1;
	*pub = NULL;
	/*
	 * CKR_ATTRIBUTE_TYPE_INVALID (a private EC key has no CKA_EC_POINT),
	 * _SENSITIVE and _BUFFER_TOO_SMALL still fill every other attribute
	 * (PKCS#11 2.40, C_GetAttributeValue): the class is taken from such an
	 * answer when the module did fill it, the public key only from a full
	 * answer.  Otherwise the class is asked alone.
	 */
	if (sgt_p11_dead(rv))
		return rv;
	if ((rv != CKR_OK && rv != CKR_ATTRIBUTE_TYPE_INVALID && rv != CKR_ATTRIBUTE_SENSITIVE &&
	     rv != CKR_BUFFER_TOO_SMALL) || c == (CK_OBJECT_CLASS)-1 || t[0].ulValueLen != sizeof(c)) {
		CK_ATTRIBUTE ca = { CKA_CLASS, &c, sizeof(c) };
		CK_RV crv;

		c = (CK_OBJECT_CLASS)-1;
		if ((crv = p->f->C_GetAttributeValue(p->session, h, &ca, 1)) != CKR_OK)
			return crv;
		rv = CKR_GENERAL_ERROR;	/* no public key from this answer */
	}
	*cls = c;
	if (rv == CKR_OK && (c == CKO_PUBLIC_KEY || c == CKO_PRIVATE_KEY) && (kt == CKK_RSA) == (rsa != 0)) {
		/* A malformed one is left to sgt_p11_pubkey, which says what is wrong with it. */
		sgt_silent++;
		if (pub_build(p, kt, x, t[2].ulValueLen, y, t[3].ulValueLen, pub) != SGT_OK)
			*pub = NULL;
		sgt_silent--;
	}
	return CKR_OK;
}

/* Big number as fixed-width big-endian bytes into a wiped-on-free buffer. */
static unsigned char *bn_bytes(const EVP_PKEY *k, const char *name, size_t width, size_t *len)
{
	BIGNUM *bn = NULL;
	unsigned char *b = NULL;
	size_t n;

	if (!EVP_PKEY_get_bn_param(k, name, &bn))
		return NULL;
	n = width ? width : (size_t)BN_num_bytes(bn);
	if ((b = OPENSSL_secure_malloc(n ? n : 1)) != NULL && BN_bn2binpad(bn, b, (int)n) < 0) {
		OPENSSL_secure_clear_free(b, n);
		b = NULL;
	}
	BN_clear_free(bn);
	*len = n;
	return b;
}

int sgt_p11_import(struct sgt_p11 *p, EVP_PKEY *key, const char *label,
		   const unsigned char *id, size_t idlen, CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv)
{
	static const char *const rsa_parts[] = {
		OSSL_PKEY_PARAM_RSA_N, OSSL_PKEY_PARAM_RSA_E, OSSL_PKEY_PARAM_RSA_D,
		OSSL_PKEY_PARAM_RSA_FACTOR1, OSSL_PKEY_PARAM_RSA_FACTOR2, OSSL_PKEY_PARAM_RSA_EXPONENT1,
		OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1
	};
	static const CK_ATTRIBUTE_TYPE rsa_attrs[] = {
		CKA_MODULUS, CKA_PUBLIC_EXPONENT, CKA_PRIVATE_EXPONENT, CKA_PRIME_1, CKA_PRIME_2,
		CKA_EXPONENT_1, CKA_EXPONENT_2, CKA_COEFFICIENT
	};
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_OBJECT_CLASS privc = CKO_PRIVATE_KEY, pubc = CKO_PUBLIC_KEY;
	enum sgt_alg alg = sgt_alg_of_pkey(key);
	CK_KEY_TYPE kt = sgt_alg_is_ec(alg) ? CKK_EC : CKK_RSA;
	unsigned char *parts[8] = { 0 };
	size_t lens[8] = { 0 }, nparts = 0, i;
	unsigned char *params = NULL, *point = NULL;
	int plen = 0, pointlen = 0, rc = SGT_OK;
	CK_ATTRIBUTE privt[28], pubt[16];
	CK_ULONG nprivt = 0, npubt = 0;
	CK_RV rv;

	if (alg == SGT_ALG_NONE || alg == SGT_ALG_ED25519)
		return sgt_err(SGT_ERR_DATA, "key type is not one signet imports (ecdsa-p256, ecdsa-p384, rsa-2048/3072/4096)");
#define ATTR(t, a, v, l) (t[n##t++] = (CK_ATTRIBUTE){ (a), (void *)(v), (CK_ULONG)(l) })
	ATTR(privt, CKA_CLASS, &privc, sizeof(privc));
	ATTR(privt, CKA_KEY_TYPE, &kt, sizeof(kt));
	ATTR(privt, CKA_TOKEN, &yes, sizeof(yes));
	ATTR(privt, CKA_PRIVATE, &yes, sizeof(yes));
	ATTR(privt, CKA_SENSITIVE, &yes, sizeof(yes));
	ATTR(privt, CKA_EXTRACTABLE, &no, sizeof(no));
	ATTR(privt, CKA_SIGN, &yes, sizeof(yes));
	ATTR(privt, CKA_DECRYPT, &no, sizeof(no));
	ATTR(privt, CKA_UNWRAP, &no, sizeof(no));
	ATTR(privt, CKA_DERIVE, &no, sizeof(no));
	ATTR(privt, CKA_LABEL, label, strlen(label));
	ATTR(privt, CKA_ID, id, idlen);
	ATTR(privt, CKA_COPYABLE, &no, sizeof(no));	/* first: dropped if unsupported */
	ATTR(pubt, CKA_CLASS, &pubc, sizeof(pubc));
	ATTR(pubt, CKA_KEY_TYPE, &kt, sizeof(kt));
	ATTR(pubt, CKA_TOKEN, &yes, sizeof(yes));
	ATTR(pubt, CKA_PRIVATE, &no, sizeof(no));
	ATTR(pubt, CKA_VERIFY, &yes, sizeof(yes));
	ATTR(pubt, CKA_ENCRYPT, &no, sizeof(no));
	ATTR(pubt, CKA_WRAP, &no, sizeof(no));
	ATTR(pubt, CKA_LABEL, label, strlen(label));
	ATTR(pubt, CKA_ID, id, idlen);
	if (kt == CKK_EC) {
		unsigned char raw[200];
		size_t rawlen = 0;
		ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();

		rc = curve_der(alg == SGT_ALG_P256 ? "prime256v1" : "secp384r1", &params, &plen);
		if (rc == SGT_OK && (os == NULL ||
				     !EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, raw, sizeof(raw), &rawlen) ||
				     !ASN1_OCTET_STRING_set(os, raw, (int)rawlen) ||
				     (pointlen = i2d_ASN1_OCTET_STRING(os, &point)) <= 0))
			rc = sgt_err(SGT_ERR_DATA, "cannot encode the public point: %s", sgt_ossl_why());
		ASN1_OCTET_STRING_free(os);
		parts[0] = bn_bytes(key, OSSL_PKEY_PARAM_PRIV_KEY, alg == SGT_ALG_P256 ? 32 : 48, &lens[0]);
		nparts = 1;
		if (rc == SGT_OK && parts[0] == NULL)
			rc = sgt_err(SGT_ERR_DATA, "the key file holds no private scalar");
		if (rc != SGT_OK)
			goto out;
		ATTR(privt, CKA_EC_PARAMS, params, plen);
		ATTR(privt, CKA_VALUE, parts[0], lens[0]);
		ATTR(pubt, CKA_EC_PARAMS, params, plen);
		ATTR(pubt, CKA_EC_POINT, point, pointlen);
	} else {
		for (nparts = 0; nparts < 8; nparts++) {
			parts[nparts] = bn_bytes(key, rsa_parts[nparts], 0, &lens[nparts]);
			if (parts[nparts] == NULL) {
				rc = sgt_err(SGT_ERR_DATA, "the RSA key lacks its CRT parameters");
				goto out;
			}
			ATTR(privt, rsa_attrs[nparts], parts[nparts], lens[nparts]);
		}
		ATTR(pubt, CKA_MODULUS, parts[0], lens[0]);
		ATTR(pubt, CKA_PUBLIC_EXPONENT, parts[1], lens[1]);
	}
#undef ATTR
	rv = p->f->C_CreateObject(p->session, privt, nprivt, priv);
	if (rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_TEMPLATE_INCONSISTENT) {
		/* Pre-2.40 tokens do not know CKA_COPYABLE: move it out of the template. */
		for (i = 0; i < nprivt && privt[i].type != CKA_COPYABLE; i++)
			;
		if (i < nprivt) {
			privt[i] = privt[--nprivt];
			rv = p->f->C_CreateObject(p->session, privt, nprivt, priv);
		}
	}
	if (rv != CKR_OK) {
		rc = p11_fail(rv, "cannot create the private key on token '%s'", p->token);
		goto out;
	}
	rv = p->f->C_CreateObject(p->session, pubt, npubt, pub);
	if (rv != CKR_OK) {
		p->f->C_DestroyObject(p->session, *priv);
		rc = p11_fail(rv, "cannot create the public key on token '%s'", p->token);
	}
out:
	for (i = 0; i < nparts; i++)
		if (parts[i] != NULL)
			OPENSSL_secure_clear_free(parts[i], lens[i]);
	OPENSSL_free(params);
	OPENSSL_free(point);
	return rc;
}

static int find_tmpl(struct sgt_p11 *p, CK_ATTRIBUTE *t, CK_ULONG nt, struct sgt_p11_obj **out, size_t *n);

int sgt_p11_find(struct sgt_p11 *p, CK_OBJECT_CLASS cls, const unsigned char *id, size_t idlen,
		 struct sgt_p11_obj **out, size_t *n)
{
	CK_ATTRIBUTE t[2] = { { CKA_CLASS, &cls, sizeof(cls) }, { CKA_ID, (void *)id, idlen } };

	return find_tmpl(p, t, id != NULL ? 2 : 1, out, n);
}

int sgt_p11_find_label(struct sgt_p11 *p, const char *label, struct sgt_p11_obj **out, size_t *n)
{
	CK_ATTRIBUTE t[1] = { { CKA_LABEL, (void *)label, strlen(label) } };

	return find_tmpl(p, t, 1, out, n);
}

int sgt_p11_find_uri(struct sgt_p11 *p, const char *uristr, CK_OBJECT_CLASS cls, int force_cls,
		     struct sgt_p11_obj **out, size_t *n)
{
	CK_ATTRIBUTE t[8], *attrs;
	CK_ULONG na = 0, nt = 0, i;
	CK_TOKEN_INFO ti;
	void *uri = NULL;
	int rc, has_class = 0;

	*out = NULL;
	*n = 0;
	if ((rc = sgt_p11_uri_parse(uristr, &uri)) != SGT_OK)
		return rc;
	/* The URI's token part must name the store's token: a key is only ever used where it is kept. */
	if (p->f->C_GetTokenInfo(p->slot, &ti) == CKR_OK && !token_matches(p, p->slot, &ti, p->token, uri)) {
		rc = sgt_err(SGT_ERR_DATA, "PKCS#11 URI '%s' names another token than the store's ('%s')", uristr, p->token);
		goto out;
	}
	attrs = p11_kit_uri_get_attributes(uri, &na);
	for (i = 0; i < na && nt < 7; i++) {
		if (attrs[i].type == CKA_CLASS && force_cls)
			continue;
		if (attrs[i].type == CKA_CLASS)
			has_class = 1;
		t[nt++] = attrs[i];
	}
	if (!has_class)
		t[nt++] = (CK_ATTRIBUTE){ CKA_CLASS, &cls, sizeof(cls) };
	rc = find_tmpl(p, t, nt, out, n);
out:
	sgt_p11_uri_free(uri);
	return rc;
}

static int find_tmpl(struct sgt_p11 *p, CK_ATTRIBUTE *t, CK_ULONG nt, struct sgt_p11_obj **out, size_t *n)
{
	CK_OBJECT_HANDLE hs[64];
	CK_ULONG got = 0, i;
	struct sgt_p11_obj *objs = NULL;
	size_t count = 0;
	int rc = SGT_OK;
	CK_RV rv;

	*out = NULL;
	*n = 0;
	rv = p->f->C_FindObjectsInit(p->session, t, nt);
	if (rv != CKR_OK)
		return p11_fail(rv, "cannot search token '%s'", p->token);
	do {
		rv = p->f->C_FindObjects(p->session, hs, 64, &got);
		if (rv != CKR_OK) {
			rc = p11_fail(rv, "cannot search token '%s'", p->token);
			break;
		}
		for (i = 0; i < got; i++) {
			struct sgt_p11_obj *grown = realloc(objs, (count + 1) * sizeof(*objs));
			CK_ATTRIBUTE a[3];

			if (grown == NULL) {
				rc = sgt_err(SGT_ERR_DATA, "out of memory");
				break;
			}
			objs = grown;
			memset(&objs[count], 0, sizeof(objs[count]));
			objs[count].h = hs[i];
			/* Class, id and label in one call (a network HSM pays a round trip per call); one at a time otherwise. */
			a[0] = (CK_ATTRIBUTE){ CKA_CLASS, &objs[count].cls, sizeof(objs[count].cls) };
			a[1] = (CK_ATTRIBUTE){ CKA_ID, objs[count].id, sizeof(objs[count].id) };
			a[2] = (CK_ATTRIBUTE){ CKA_LABEL, objs[count].label, sizeof(objs[count].label) - 1 };
			if (p->f->C_GetAttributeValue(p->session, hs[i], a, 3) == CKR_OK) {
				objs[count].idlen = a[1].ulValueLen;
				objs[count].label[a[2].ulValueLen] = '\0';
				count++;
				continue;
			}
			memset(&objs[count], 0, sizeof(objs[count]));
			objs[count].h = hs[i];
			if (p->f->C_GetAttributeValue(p->session, hs[i], &a[0], 1) != CKR_OK)
				objs[count].cls = (CK_OBJECT_CLASS)-1;
			a[1] = (CK_ATTRIBUTE){ CKA_ID, objs[count].id, sizeof(objs[count].id) };
			a[2] = (CK_ATTRIBUTE){ CKA_LABEL, objs[count].label, sizeof(objs[count].label) - 1 };
			if (p->f->C_GetAttributeValue(p->session, hs[i], &a[1], 1) == CKR_OK)
				objs[count].idlen = a[1].ulValueLen;
			if (p->f->C_GetAttributeValue(p->session, hs[i], &a[2], 1) == CKR_OK &&
			    a[2].ulValueLen < sizeof(objs[count].label))
				objs[count].label[a[2].ulValueLen] = '\0';
			else
				objs[count].label[0] = '\0';
			count++;
		}
	} while (rc == SGT_OK && got == 64);
	p->f->C_FindObjectsFinal(p->session);
	if (rc != SGT_OK) {
		free(objs);
		return rc;
	}
	*out = objs;
	*n = count;
	return SGT_OK;
}

int sgt_p11_destroy(struct sgt_p11 *p, CK_OBJECT_HANDLE h)
{
	json_t *mark = sgt_hsm_destroy_mark();	/* a guarded SoftHSM2 token: its object files before */
	CK_RV rv = p->f->C_DestroyObject(p->session, h);

	/* the files it removed are gone on purpose: no guard brings them back from a good copy */
	if (rv == CKR_OK && sgt_hsm_destroy_note(mark) != SGT_OK)
		sgt_warn("token '%s': a destroyed object was not noted as such; a later command may restore it", p->token);
	else if (rv != CKR_OK)
		json_decref(mark);

	/* An object the token no longer has is destroyed (SoftHSM2 drops one it failed to write). */
	if (rv != CKR_OK && rv != CKR_OBJECT_HANDLE_INVALID)
		return p11_fail(rv, "cannot destroy an object on token '%s'", p->token);
	return SGT_OK;
}
