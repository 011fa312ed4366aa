/*
 * p11.h: raw PKCS#11 through the module's function list (p11-kit's
 * pkcs11.h): token initialisation, EC and RSA key generation with custody
 * attributes, reading those attributes back, importing a legacy key,
 * finding objects by id, label or PKCS#11 URI, reopening a dead session,
 * destroying a pair.  Tokens are chosen by label or URI, never by slot
 * number.  Every failing call is reported with the CKR_* name and a
 * sentence.
 */
#ifndef SGT_P11_H
#define SGT_P11_H

#include <stddef.h>

#include <p11-kit/pkcs11.h>
#include <openssl/evp.h>

#include "pin.h"
#include "store.h"	/* struct sgt_custody */

struct sgt_p11 {
	void *dl;
	CK_FUNCTION_LIST_PTR f;
	int initialized;	/* we called C_Initialize successfully */
	char *module;
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE session;	/* CK_INVALID_HANDLE when none */
	int rw;			/* the session is read-write (sgt_p11_reopen keeps it so) */
	char token[33];
	CK_RV login_rv;	/* the last C_Login's answer (session.c records a refused one) */
	int guarded;	/* session.c entered the token guard for this load; p11.c never reads it */
	unsigned reopens;	/* sessions reopened by sgt_p11_reopen: handles found before may be stale */
	CK_TOKEN_INFO info;	/* the token's, as read when it was found (have_info) */
	int have_info;
};

enum sgt_alg {
	SGT_ALG_NONE = 0,
	SGT_ALG_P256,
	SGT_ALG_P384,
	SGT_ALG_RSA2048,
	SGT_ALG_RSA3072,
	SGT_ALG_RSA4096,
	SGT_ALG_ED25519		/* MCUboot images only (CKM_EDDSA) */
};

/* "ecdsa-p256" ... ; SGT_ALG_NONE when unknown. */
enum sgt_alg sgt_alg_from_name(const char *name);
const char *sgt_alg_name(enum sgt_alg alg);
/* Algorithm of an OpenSSL key (P-256/P-384/RSA 2048/3072/4096), else NONE. */
enum sgt_alg sgt_alg_of_pkey(const EVP_PKEY *pk);
int sgt_alg_is_ec(enum sgt_alg alg);

/* CKR_PIN_INCORRECT etc.; "CKR_0x..." for unknown values (static buffer). */
const char *sgt_p11_rv_name(CK_RV rv);

/* What rv means, as words ("wrong PIN"). */
const char *sgt_p11_rv_why(CK_RV rv);
/* Reports "what: WHY (CKR_NAME)" and returns SGT_ERR_HSM. */
int sgt_p11_report(CK_RV rv, const char *what);
/*
 * 1 when rv says the session or the token went away under us
 * (CKR_SESSION_HANDLE_INVALID, CKR_SESSION_CLOSED, CKR_DEVICE_ERROR,
 * CKR_TOKEN_NOT_PRESENT, CKR_DEVICE_REMOVED): worth reopening.
 */
int sgt_p11_dead(CK_RV rv);
/*
 * Closes what is left of the session, finds the token by label again,
 * opens a session like the last one and logs in with pin.  One attempt, quiet
 * (returns the failing CK_RV); callers bound the retries and report.
 */
CK_RV sgt_p11_reopen(struct sgt_p11 *p, const struct sgt_pin *pin);

/* dlopen()s the module and C_Initialize()s it.  Errors are SGT_ERR_HSM. */
int sgt_p11_load(struct sgt_p11 *p, const char *module);
/* Closes the session, C_Finalize, dlclose.  Safe on a zeroed struct.  A store's token is closed with sgt_session_close. */
void sgt_p11_release(struct sgt_p11 *p);

/*
 * Opens a session on the token with this label (SGT_ERR_HSM naming the
 * token and listing the labels present when it is missing).  rw: 0
 * read-only, 1 read-write, 2 read-write unless the token is write-protected
 * (then read-only); p->rw says which it is.
 */
int sgt_p11_open(struct sgt_p11 *p, const char *token, int rw);
/* C_Login as user; wrong PIN / locked PIN are SGT_ERR_HSM with a sentence. */
int sgt_p11_login(struct sgt_p11 *p, const struct sgt_pin *pin);

/* Initialises a fresh token in the first free slot with label, SO and user PIN. */
int sgt_p11_init_token(struct sgt_p11 *p, const char *label, const struct sgt_pin *so, const struct sgt_pin *user);

/* A key object on the token. */
struct sgt_p11_obj {
	CK_OBJECT_HANDLE h;
	CK_OBJECT_CLASS cls;	/* as read back; (CK_OBJECT_CLASS)-1 when unreadable */
	unsigned char id[64];
	size_t idlen;
	char label[65];
};

/*
 * Generates a pair on the token: CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE
 * true, CKA_EXTRACTABLE false, CKA_COPYABLE false where supported.
 */
int sgt_p11_generate(struct sgt_p11 *p, enum sgt_alg alg, const char *label,
		     const unsigned char *id, size_t idlen, CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv);
/* Creates a private and public key object from a legacy key, non-extractable. */
int sgt_p11_import(struct sgt_p11 *p, EVP_PKEY *key, const char *label,
		   const unsigned char *id, size_t idlen, CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv);
/* Reads the custody attributes of a private key object. */
int sgt_p11_custody(struct sgt_p11 *p, CK_OBJECT_HANDLE priv, struct sgt_custody *out);
/* Builds an OpenSSL public key from a public key object (EC point or modulus). */
int sgt_p11_pubkey(struct sgt_p11 *p, CK_OBJECT_HANDLE pub, EVP_PKEY **out);
/*
 * An object's class and, for a key, its public key, asked in ONE
 * C_GetAttributeValue where the module answers as PKCS#11 says (a network
 * HSM pays a round trip per call): rsa picks CKA_MODULUS and
 * CKA_PUBLIC_EXPONENT, else CKA_EC_PARAMS and CKA_EC_POINT (EC, Ed25519).
 * A module that answers otherwise is asked the class alone.  *pub is NULL
 * when this answer does not give it (a private EC key on SoftHSM2, a key
 * of the other kind, a malformed key): sgt_p11_pubkey then reads it and
 * says what is wrong.  Quiet: returns the failing CK_RV.
 */
CK_RV sgt_p11_object(struct sgt_p11 *p, CK_OBJECT_HANDLE h, int rsa, CK_OBJECT_CLASS *cls, EVP_PKEY **pub);
/* Lists key objects of a class (CKO_PRIVATE_KEY/CKO_PUBLIC_KEY), only those with this id when id != NULL: one C_FindObjects. */
int sgt_p11_find(struct sgt_p11 *p, CK_OBJECT_CLASS cls, const unsigned char *id, size_t idlen,
		 struct sgt_p11_obj **out, size_t *n);
int sgt_p11_destroy(struct sgt_p11 *p, CK_OBJECT_HANDLE h);
/* Objects of any class whose CKA_LABEL is label. */
int sgt_p11_find_label(struct sgt_p11 *p, const char *label, struct sgt_p11_obj **out, size_t *n);

/*
 * PKCS#11 URIs (RFC 7512), parsed by p11-kit.  sgt_p11_open() and
 * sgt_session_open() accept a token URI wherever a token label goes
 * (token, manufacturer, serial, model, library-*, slot-*); two matching
 * tokens are an error listing both.
 */
int sgt_p11_is_uri(const char *s);
/* Parses s (SGT_ERR_USAGE with p11-kit's reason when malformed); *uri is a P11KitUri. */
int sgt_p11_uri_parse(const char *s, void **uri);
void sgt_p11_uri_free(void *uri);
/*
 * Objects on the open token matching the URI's object part (object, id,
 * type; class cls when the URI has no type, or always when force_cls);
 * the URI's token part must
 * match the open token.  One C_FindObjects with the URI's attributes.
 */
int sgt_p11_find_uri(struct sgt_p11 *p, const char *uri, CK_OBJECT_CLASS cls, int force_cls,
		     struct sgt_p11_obj **out, size_t *n);

/*
 * 1 when the open token's slot lists every mechanism in want, 0 when it
 * lacks one, -1 when the list cannot be read (quietly: callers decide).
 */
int sgt_p11_mechanisms(struct sgt_p11 *p, const CK_MECHANISM_TYPE *want, size_t n);
/*
 * The RFC 7512 URI of the private key with this CKA_ID on the open token
 * (no login needed): token, manufacturer, model and serial as
 * C_GetTokenInfo reports them, object when with_label (the label of the
 * public key with that id, when the token keeps exactly one: a caller that
 * knows both halves carry one label), id and type=private, percent-encoded
 * by p11-kit.  *out is malloc'd; NULL (and SGT_OK) when with_label and the
 * token holds no public key with that id.
 */
int sgt_p11_key_uri(struct sgt_p11 *p, const unsigned char *id, size_t idlen, int with_label, char **out);

#endif
