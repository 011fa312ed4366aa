/*
 * fuzz_cert.c: libFuzzer harness for certificates as signet reads them
 * from files (`cert lint`, sgt_lint_buf: PEM or DER, then every check of
 * the built-in code-signing rules), and the certificate helpers the
 * commands use on whatever parsed.
 */
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cert.h"
#include "fuzz.h"
#include "lint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sgt_lint l;
	const unsigned char *p = data;
	X509 *x;

	(void)fuzz_dir();
	memset(&l, 0, sizeof(l));
	(void)sgt_lint_buf(data, size, NULL, (time_t)1780000000, 0, &l);
	sgt_lint_release(&l);
	memset(&l, 0, sizeof(l));
	(void)sgt_lint_buf(data, size, NULL, (time_t)1780000000, SGT_LINT_AS_CA, &l);
	sgt_lint_release(&l);
	x = d2i_X509(NULL, &p, (long)size);
	if (x != NULL) {
		char buf[256], spki[65];
		time_t nb, na;
		struct sgt_buf pem = { 0 };

		sgt_cert_name(X509_get_subject_name(x), buf, sizeof(buf));
		sgt_cert_serial_hex(x, buf, sizeof(buf));
		(void)sgt_cert_spki_sha256(x, spki);
		(void)sgt_cert_times(x, &nb, &na);
		(void)sgt_cert_self_signed(x);
		(void)sgt_cert_is_ca(x);
		(void)sgt_cert_pem(x, &pem);
		sgt_buf_free(&pem);
		X509_free(x);
	}
	return 0;
}
