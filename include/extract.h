/*
 * extract.h: finding the certificates and public keys that firmware bakes
 * in.  Text sources and headers are searched for PEM (plain, inside
 * comments, or split across C string literals with or without "\n",
 * macro continuations and comments between) and for hex byte arrays;
 * binary images for PEM text, DER certificates and DER
 * SubjectPublicKeyInfo at any offset.  Scanning is linear in the input,
 * memory is bounded by the file (mapped, not copied), and garbage of any
 * size gives "nothing found", never a crash.  Nothing here prints or needs
 * a store: custody is the caller's business (spki_sha256 is the key).
 */
#ifndef SGT_EXTRACT_H
#define SGT_EXTRACT_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "store.h"

struct sgt_ctx;

enum sgt_found_kind { SGT_FOUND_CERT, SGT_FOUND_PUBKEY };

/* How a find was encoded where it was found. */
enum sgt_found_enc {
	SGT_ENC_PEM,		/* PEM text (plain, in a comment, in a binary) */
	SGT_ENC_C_STRING,	/* PEM inside C string literals */
	SGT_ENC_DER,		/* raw DER in a binary */
	SGT_ENC_C_BYTES		/* DER in a C hex byte array */
};

/* Display facts about a certificate or key. */
struct sgt_keyinfo {
	char subject[256];	/* "" for a bare public key */
	char issuer[256];
	char serial[80];	/* upper-case hex, "" for a bare public key */
	time_t not_before, not_after;	/* 0 for a bare public key */
	char spki_sha256[65];
	char alg[32];		/* "ecdsa-p256", "rsa-2048", ... */
};

struct sgt_found {
	enum sgt_found_kind kind;
	enum sgt_found_enc enc;
	size_t offset;		/* byte offset in the file where it starts */
	size_t line;		/* 1-based line for text files, 0 for binaries */
	/*
	 * 1 when the find is what the device really holds: compiled in (not
	 * in a comment or an inactive #if branch) and decodable.  verify, key
	 * match and fleet use only finds with baked set.
	 */
	int baked;
	X509 *cert;		/* SGT_FOUND_CERT only; owned */
	EVP_PKEY *pub;		/* always; owned */
	struct sgt_keyinfo info;
};

struct sgt_found_list {
	struct sgt_found *v;
	size_t n, cap;
	int binary;		/* the input held NUL bytes: locations are offsets */
};

/*
 * Everything found in data[0..len), sorted by offset, duplicates (the
 * same DER found twice) reported once at their first location.  Appends
 * to out.  SGT_OK even when nothing was found; SGT_ERR_DATA only on
 * out-of-memory.
 */
int sgt_extract_buf(const unsigned char *data, size_t len, struct sgt_found_list *out);
/* The same for a file (mapped read-only; "-" reads stdin); errors name path. */
int sgt_extract_file(const char *path, struct sgt_found_list *out);
void sgt_found_list_release(struct sgt_found_list *l);

/*
 * "offset 0x1f3" or "line 12" into out; compact gives "12" for a line, to
 * follow "file:" as compilers print locations.
 */
void sgt_found_where(const struct sgt_found_list *l, const struct sgt_found *f, int compact, char *out, size_t cap);
const char *sgt_found_enc_name(enum sgt_found_enc enc);

/* Fills info from a certificate (cert may be NULL: pub alone). */
int sgt_keyinfo_get(X509 *cert, EVP_PKEY *pub, struct sgt_keyinfo *info);

/* A find as a JSON object (stable snake_case fields); custody NULL = not held / unknown. */
json_t *sgt_found_json(const struct sgt_found_list *l, const struct sgt_found *f, const char *custody, int have_store);
/* A find as indented text lines on stdout-bound buffer b. */
int sgt_found_text(struct sgt_buf *b, const struct sgt_found *f, const char *custody, int have_store);

/* `signet key match FILE...` (argv[0] = "match"); dispatched by cmd_key.c. */
int cmd_key_match(struct sgt_ctx *ctx, int argc, char **argv);

#endif
