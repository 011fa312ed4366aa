/*
 * header.h: rendering a certificate or public key as the C header that
 * device firmware compiles in.  Four forms: ota-pal (the
 * otapalconfigCODE_SIGNING_CERTIFICATE macro of ota_demo_config.h),
 * codesigner (aws_ota_codesigner_certificate.h), der (certificate bytes)
 * and pubkey (SubjectPublicKeyInfo bytes, for bootloaders).  Output is a
 * pure function of the certificate, format and name: byte-for-byte
 * deterministic, no timestamps.  Writing files is the caller's job.
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
	SGT_HEADER_PUBKEY
};

/* "ota-pal" ... into *out; SGT_ERR_USAGE (quiet) when unknown. */
int sgt_header_format_parse(const char *s, enum sgt_header_format *out);
const char *sgt_header_format_name(enum sgt_header_format f);
/* The identifier firmware expects for the format. */
const char *sgt_header_default_name(enum sgt_header_format f);
/* 1 when name is a valid C identifier of at most 100 characters. */
int sgt_header_name_ok(const char *name);

/*
 * Renders the header into out (appended).  cert may be NULL only for
 * SGT_HEADER_PUBKEY, then pub gives the key; otherwise pub may be NULL.
 * name NULL means the default.  SGT_ERR_USAGE when the format needs a
 * certificate and there is none; SGT_ERR_DATA on encoding failure.
 */
int sgt_header_render(enum sgt_header_format f, X509 *cert, EVP_PKEY *pub, const char *name, struct sgt_buf *out);

#endif
