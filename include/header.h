/*
 * header.h: rendering a certificate or public key as the C header that
 * device firmware compiles in: ota-pal (the
 * otapalconfigCODE_SIGNING_CERTIFICATE macro of ota_demo_config.h),
 * codesigner (aws_ota_codesigner_certificate.h), der (certificate bytes),
 * pubkey (SubjectPublicKeyInfo bytes, for bootloaders), pubkey-pem (the
 * public key PEM as a C string macro: STM32U5, Renesas), mcuboot (extern
 * array + length in MCUboot's keys.c key form), and the plain files
 * cert-der / cert-pem (devices that load the signer certificate from a
 * file system, TI CC3220).  Output is a pure function of the certificate,
 * format and name: byte-for-byte deterministic, no timestamps.  Also:
 * replacing one definition inside an existing config file.  Writing
 * files is the caller's job.
 */
#ifndef SGT_HEADER_H
#define SGT_HEADER_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "sgt.h"

enum sgt_header_format {
	SGT_HEADER_OTA_PAL,
	SGT_HEADER_CODESIGNER,
	SGT_HEADER_DER,
	SGT_HEADER_PUBKEY,
	SGT_HEADER_PUBKEY_PEM,
	SGT_HEADER_MCUBOOT,
	SGT_HEADER_CERT_DER,
	SGT_HEADER_CERT_PEM
};

/* "ota-pal" ... into *out; SGT_ERR_USAGE (quiet) when unknown. */
int sgt_header_format_parse(const char *s, enum sgt_header_format *out);
const char *sgt_header_format_name(enum sgt_header_format f);
/* The identifier firmware expects for the format ("" for the plain files). */
const char *sgt_header_default_name(enum sgt_header_format f);
/* 1 when the format needs only a key (pubkey, pubkey-pem, mcuboot). */
int sgt_header_key_only(enum sgt_header_format f);
/* 1 when name is a valid C identifier of at most 100 characters. */
int sgt_header_name_ok(const char *name);

/*
 * Renders the header into out (appended).  cert may be NULL only for
 * SGT_HEADER_PUBKEY, then pub gives the key; otherwise pub may be NULL.
 * name NULL means the default.  SGT_ERR_USAGE when the format needs a
 * certificate and there is none; SGT_ERR_DATA on encoding failure.
 */
int sgt_header_render(enum sgt_header_format f, X509 *cert, EVP_PKEY *pub, const char *name, struct sgt_buf *out);

/*
 * The definition alone (no comment, no guard), as --update puts it in
 * place of an existing one.  Same arguments as sgt_header_render.
 */
int sgt_header_definition(enum sgt_header_format f, X509 *cert, EVP_PKEY *pub, const char *name, struct sgt_buf *out);

/*
 * Replaces in text[0..len) the one definition of name (a #define, or a
 * variable "name[...] = ...;") by def, keeping every other byte, into out.
 * SGT_ERR_DATA naming path when name is defined more than once or not at
 * all (comments and string literals are not definitions).
 */
int sgt_header_update(const char *path, const char *text, size_t len, const char *name, const struct sgt_buf *def,
		      struct sgt_buf *out);

#endif
