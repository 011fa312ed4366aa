/*
 * lint.h: judging a certificate against a signing policy.  Every finding
 * has a level, a stable code (for scripts and tests) and a sentence a
 * newcomer understands, including what AWS Signer or the device would do
 * with the certificate.  Lint never changes anything and never prints;
 * the command layer prints the findings.
 */
#ifndef SGT_LINT_H
#define SGT_LINT_H

#include <stddef.h>
#include <time.h>

#include <openssl/x509.h>

#include "policy.h"

enum sgt_lint_level {
	SGT_LINT_INFO,
	SGT_LINT_WARNING,
	SGT_LINT_ERROR
};

struct sgt_finding {
	enum sgt_lint_level level;
	const char *code;	/* static: "eku-not-codesigning", ... */
	char *text;		/* malloc'd sentence */
};

struct sgt_lint {
	struct sgt_finding *items;
	size_t n;
	size_t errors, warnings;
};

/* The certificate is a CA certificate on purpose (signet's own --as-ca). */
#define SGT_LINT_AS_CA 1
/*
 * It is the current certificate of a key in custody, so `signet renew`
 * acts on it: only then does a finding say "run 'signet renew'".  Without
 * it the finding names what would act (`signet cert reissue`).
 */
#define SGT_LINT_CURRENT 2
/* With SGT_LINT_CURRENT: renew uses another policy unless told this one (--policy). */
#define SGT_LINT_RENEW_POLICY 4
/*
 * With SGT_LINT_CURRENT: an outside CA issued it (sgt_cert_issuer_held is
 * 0), so renew cannot reissue it: the finding names cert csr and import.
 */
#define SGT_LINT_FOREIGN_ISSUER 8
/*
 * With SGT_LINT_CURRENT: the key's policy asks for approvals (approve.h),
 * so renew leaves it: the finding names approve request and cert reissue.
 */
#define SGT_LINT_NEEDS_APPROVALS 16

/*
 * Lints x against pol (NULL: signet's built-in code-signing rules) at time
 * now.  Whether it is due for renewal (finding "expires-soon") is decided
 * by sgt_cert_renewal with pol's renew_before_days (the default without
 * pol), as renew decides it; flags (SGT_LINT_*) say what acts on it.
 * Findings are appended to out (zero it first).  Returns SGT_OK even when
 * there are error findings: the verdict is out->errors.
 */
int sgt_lint_cert(X509 *x, const struct sgt_policy *pol, time_t now, int flags, struct sgt_lint *out);
/*
 * Same on the bytes of a file, PEM or DER; input that is not a
 * certificate gives the error finding "malformed" rather than a failure.
 */
int sgt_lint_buf(const unsigned char *buf, size_t len, const struct sgt_policy *pol, time_t now, int flags,
		 struct sgt_lint *out);
void sgt_lint_release(struct sgt_lint *l);

/* "error", "warning", "info". */
const char *sgt_lint_level_name(enum sgt_lint_level level);
/* 1 when a finding with this code is present. */
int sgt_lint_has(const struct sgt_lint *l, const char *code);

#endif
