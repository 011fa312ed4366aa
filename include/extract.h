/*
 * extract.h: finding the certificates and public keys that firmware bakes
 * in, and saying whether the device really holds them.  C sources and
 * headers are read as the compiler reads them (creader.h): a find in a
 * comment, an inactive or undecidable #if branch, or a macro definition
 * overridden later is reported with that state and is not "baked".
 * Binary images (raw, ELF, Intel HEX, S-record: container.h) are searched
 * for PEM text and DER at any offset; every key form firmware uses is
 * recognised (keyform.h).  Broken material (PEM that does not decode, is
 * truncated, or is a placeholder) is a find of its own kind with a reason.
 * Each baked candidate is also handed to mbedTLS exactly as compiled
 * (device.h): a constant the device cannot parse is not baked either.
 * Time is linear in the input and memory bounded (see sgt_extract_buf).
 * Nothing here prints or needs a store: custody is the caller's business
 * (spki_sha256 is the key).
 */
#ifndef SGT_EXTRACT_H
#define SGT_EXTRACT_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "creader.h"
#include "device.h"
#include "store.h"

struct sgt_ctx;

/* SGT_FOUND_BROKEN: material that is meant to be a certificate or key but is not usable (pub NULL). */
enum sgt_found_kind { SGT_FOUND_CERT, SGT_FOUND_PUBKEY, SGT_FOUND_BROKEN };

#define SGT_EXTRACT_MAX_FINDS 4096	/* distinct finds kept per input */

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
	EVP_PKEY *pub;		/* owned; NULL for BROKEN and for a certificate whose key type OpenSSL cannot load */
	struct sgt_keyinfo info;
	/* added for the device view */
	enum sgt_cstate state;	/* ACTIVE for binaries and plain files */
	char symbol[128];	/* the macro or variable it belongs to, "" if unknown */
	const char *form;	/* "certificate", "spki", "pkcs1", "ec-point", "ed25519-raw", "pem" (broken) */
	char reason[384];	/* why it is not baked (state, broken material, device parse), "" when baked */
	int device_parses;	/* 1 mbedTLS parses it as compiled, 0 it does not, -1 not applicable */
	char device_err[160];	/* mbedTLS's error when device_parses == 0 */
	enum sgt_device_form device_form;
	unsigned char *device_bytes;	/* the constant as compiled (owned), for the device's verify */
	size_t device_len;
	int has_addr;		/* container address known (ELF, Intel HEX, S-record) */
	unsigned long long addr;
	char section[32];	/* ELF section, "" if none */
};

struct sgt_found_list {
	struct sgt_found *v;
	size_t n, cap;
	int binary;		/* the input held NUL bytes: locations are offsets */
	const char *container;	/* "c", "text", "raw", "elf", "intel-hex", "s-record" */
	int limited;		/* the scan hit a bound (SGT_EXTRACT_MAX_FINDS or the DER budget) */
};

/*
 * Everything found in data[0..len), sorted by offset, duplicates (the
 * same DER in the same state found twice) reported once at their first
 * location.  Appends to out.  SGT_OK even when nothing was found;
 * SGT_ERR_DATA on out-of-memory or a damaged HEX/S-record line.
 * Bounds: every byte is looked at a constant number of times by the PEM
 * and C scanners; the bytes handed to the DER parser are capped at
 * 4 x len + 1 MiB (beyond that, only candidates outside earlier failed
 * ones are tried, which adds at most len), each at most 64 KiB; memory is
 * the input (mapped) plus at most SGT_EXTRACT_MAX_FINDS distinct finds
 * plus one 4 MiB literal run.  Duplicates are dropped as they are found.
 */
int sgt_extract_buf(const unsigned char *data, size_t len, struct sgt_found_list *out);
/* The same for a file (mapped read-only; "-" reads stdin); errors name path. */
int sgt_extract_file(const char *path, struct sgt_found_list *out);
/* How C sources are read: the build's -D / -U, so that #if on them is decided. */
struct sgt_extract_opts {
	const struct sgt_cdefine *defines;
	size_t ndefines;
};
/* sgt_extract_file with options (NULL: none). */
int sgt_extract_file_opts(const char *path, const struct sgt_extract_opts *o, struct sgt_found_list *out);
/* The same, with the path for error messages (container decoding). */
int sgt_extract_named(const char *path, const unsigned char *data, size_t len, struct sgt_found_list *out);
/* "certificate", "public key" or "broken". */
const char *sgt_found_kind_name(enum sgt_found_kind k);
/* Where the find's consequence for a device is said in words, e.g. for verify's listing. */
const char *sgt_found_state_text(const struct sgt_found *f);
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
