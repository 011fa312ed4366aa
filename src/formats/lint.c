/*
 * lint.c: checks a certificate against a signing policy and explains each
 * finding the way a release engineer would: what is wrong, and what AWS
 * Signer or the devices will do about it.  The sentences matter as much
 * as the checks, so the AWS wording ("Valid EKU values are CodeSigning or
 * ANY") is quoted where it applies.  Lint only reads the certificate.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "cert.h"
#include "lint.h"

#define AWS_EKU "AWS Signer refuses it with \"Invalid EKU in Certificate. Valid EKU values are CodeSigning or ANY\""

const char *sgt_lint_level_name(enum sgt_lint_level level)
{
	switch (level) {
	case SGT_LINT_ERROR:
		return "error";
	case SGT_LINT_WARNING:
		return "warning";
	default:
		return "info";
	}
}

static int add(struct sgt_lint *l, enum sgt_lint_level level, const char *code, const char *fmt, ...) SGT_PRINTF(4, 5);

static int add(struct sgt_lint *l, enum sgt_lint_level level, const char *code, const char *fmt, ...)
{
	struct sgt_finding *grown;
	char text[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if ((grown = realloc(l->items, (l->n + 1) * sizeof(*grown))) == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	l->items = grown;
	if ((grown[l->n].text = strdup(text)) == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	grown[l->n].level = level;
	grown[l->n].code = code;
	l->n++;
	if (level == SGT_LINT_ERROR)
		l->errors++;
	else if (level == SGT_LINT_WARNING)
		l->warnings++;
	return SGT_OK;
}

void sgt_lint_release(struct sgt_lint *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->items[i].text);
	free(l->items);
	memset(l, 0, sizeof(*l));
}

int sgt_lint_has(const struct sgt_lint *l, const char *code)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->items[i].code, code) == 0)
			return 1;
	return 0;
}

static const char *pol_name(const struct sgt_policy *pol)
{
	return pol != NULL ? pol->name : "signet's default";
}

static void day_str(time_t t, char out[32])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%d", &tm);
}

static int lint_eku(X509 *x, const struct sgt_policy *pol, struct sgt_lint *l)
{
	EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL);
	struct sgt_buf names = { 0 };
	int code = 0, any = 0, rc = SGT_OK;
	int i;

	if (eku == NULL) {
		rc = add(l, SGT_LINT_ERROR, "eku-missing",
			 "the certificate has no extended key usage; a code-signing certificate must say "
			 "CodeSigning, and " AWS_EKU);
		goto out;
	}
	for (i = 0; i < sk_ASN1_OBJECT_num(eku); i++) {
		ASN1_OBJECT *o = sk_ASN1_OBJECT_value(eku, i);
		int nid = OBJ_obj2nid(o);
		char txt[80];

		code |= nid == NID_code_sign;
		any |= nid == NID_anyExtendedKeyUsage;
		if (nid != NID_undef)
			snprintf(txt, sizeof(txt), "%s", sgt_policy_eku_name(nid));
		else
			OBJ_obj2txt(txt, sizeof(txt), o, 1);
		sgt_buf_printf(&names, "%s%s", i ? ", " : "", txt);
		if (pol != NULL) {
			size_t j;

			for (j = 0; j < pol->nforbid_eku; j++)
				if (pol->forbid_eku[j] == nid && rc == SGT_OK)
					rc = add(l, SGT_LINT_ERROR, "eku-forbidden",
						 "extended key usage includes %s, which policy %s forbids: a code-signing "
						 "certificate must not also be usable as a %s certificate",
						 txt, pol->name, nid == NID_server_auth ? "web server" :
						 nid == NID_client_auth ? "TLS client" : "non-code-signing");
		}
	}
	if (rc != SGT_OK)
		goto out;
	if (!code && !any) {
		rc = add(l, SGT_LINT_ERROR, "eku-not-codesigning",
			 "extended key usage is %s; AWS Signer needs CodeSigning or ANY (it refuses this one with "
			 "\"Invalid EKU in Certificate. Valid EKU values are CodeSigning or ANY\")",
			 names.p != NULL ? names.p : "empty");
	} else if (!code && pol != NULL) {
		size_t j;

		for (j = 0; j < pol->neku; j++)
			if (pol->eku[j] == NID_code_sign)
				rc = add(l, SGT_LINT_WARNING, "eku-any",
					 "extended key usage is anyExtendedKeyUsage: AWS Signer accepts it, but policy %s "
					 "asks for codeSigning, which limits the certificate to what it is for", pol->name);
	}
out:
	sgt_buf_free(&names);
	EXTENDED_KEY_USAGE_free(eku);
	return rc;
}

static int lint_ku(X509 *x, const struct sgt_policy *pol, int as_ca, struct sgt_lint *l)
{
	uint32_t ku = sgt_cert_key_usage(x);
	int idx = X509_get_ext_by_NID(x, NID_key_usage, -1);
	unsigned long want = pol != NULL ? pol->key_usage : X509v3_KU_DIGITAL_SIGNATURE;
	int rc = SGT_OK;

	if (as_ca)
		want = X509v3_KU_KEY_CERT_SIGN;
	if (idx < 0)
		return add(l, SGT_LINT_WARNING, "ku-missing",
			   "the certificate has no key usage extension; a code-signing certificate should "
			   "say digitalSignature (critical) so that it cannot be used for anything else");
	if (!as_ca && !(ku & X509v3_KU_DIGITAL_SIGNATURE))
		rc = add(l, SGT_LINT_ERROR, "ku-no-digital-signature",
			 "key usage does not include digitalSignature, so the key may not sign anything, "
			 "firmware included; verifiers that check key usage reject the signature");
	else if (as_ca && !(ku & X509v3_KU_KEY_CERT_SIGN))
		rc = add(l, SGT_LINT_ERROR, "ku-no-cert-sign",
			 "this CA certificate's key usage lacks keyCertSign, so certificates it signs do not verify");
	else if (!as_ca && (ku & X509v3_KU_KEY_CERT_SIGN))
		rc = add(l, SGT_LINT_ERROR, "ku-cert-sign-on-leaf",
			 "key usage includes keyCertSign on a code-signing (leaf) certificate: its key could sign "
			 "other certificates; a signing certificate must not, and strict verifiers reject it");
	else if ((ku & want) != want)
		rc = add(l, SGT_LINT_WARNING, "ku-policy",
			 "key usage lacks some of what policy %s asks for", pol_name(pol));
	if (rc == SGT_OK && !X509_EXTENSION_get_critical(X509_get_ext(x, idx)))
		rc = add(l, SGT_LINT_INFO, "ku-not-critical",
			 "key usage is not marked critical; RFC 5280 says it should be");
	return rc;
}

static int lint_key(X509 *x, const struct sgt_policy *pol, int as_ca, struct sgt_lint *l)
{
	EVP_PKEY *pk = X509_get0_pubkey(x);
	char alg[64];
	struct sgt_buf want = { 0 };
	size_t i;
	int rc;

	ERR_clear_error();
	if (pk == NULL)
		return add(l, SGT_LINT_ERROR, "key-unreadable", "the certificate's public key cannot be read");
	sgt_pkey_alg(pk, alg, sizeof(alg));
	if (pol == NULL || as_ca) {
		/* Without a policy only keys that are weak anywhere are refused. */
		if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_RSA && EVP_PKEY_get_bits(pk) < 2048)
			return add(l, SGT_LINT_ERROR, "key-type", "the key is %s, which is too weak; use at least rsa-2048 "
				   "or ecdsa-p256", alg);
		return SGT_OK;
	}
	if (sgt_policy_allows_alg(pol, alg))
		return SGT_OK;
	for (i = 0; i < pol->nalgorithms; i++)
		sgt_buf_printf(&want, "%s%s", i ? " or " : "", pol->algorithms[i]);
	rc = add(l, SGT_LINT_ERROR, "key-type",
		 "the key is %s, but policy %s needs %s; devices on this platform cannot verify signatures "
		 "made with this key", alg, pol->name, want.p != NULL ? want.p : "another algorithm");
	sgt_buf_free(&want);
	return rc;
}

static int lint_hash(X509 *x, const struct sgt_policy *pol, struct sgt_lint *l)
{
	int md = NID_undef, pk = NID_undef;
	const char *want = pol != NULL ? pol->signature_hash : "sha256";
	const char *have;

	if (!OBJ_find_sigid_algs(X509_get_signature_nid(x), &md, &pk) || md == NID_undef)
		return add(l, SGT_LINT_WARNING, "signature-hash-unknown",
			   "the certificate's signature algorithm is unknown to signet");
	have = OBJ_nid2sn(md);
	if (md == NID_md5 || md == NID_md2 || md == NID_md4 || (md == NID_sha1 && strcmp(want, "sha1") != 0))
		return add(l, SGT_LINT_ERROR, "weak-signature-hash",
			   "the certificate is signed with %s, which is broken for signatures; policy %s asks for "
			   "%s", have, pol_name(pol), want);
	if (md == NID_sha1)
		return add(l, SGT_LINT_INFO, "sha1-by-policy",
			   "the certificate is signed with SHA-1 because policy %s asks for it (the platform "
			   "needs it); SHA-1 is weak elsewhere", pol_name(pol));
	if (strcasecmp(have, want) != 0)
		return add(l, SGT_LINT_WARNING, "signature-hash-policy",
			   "the certificate is signed with %s; policy %s asks for %s", have, pol_name(pol), want);
	return SGT_OK;
}

/* What acts on an expired or due certificate, for the end of a finding. */
static void renew_hint(const struct sgt_policy *rpol, int flags, char *out, size_t cap)
{
	if (!(flags & SGT_LINT_CURRENT))
		snprintf(out, cap, "reissue it with 'signet cert reissue' (for the same key, if signet holds it; "
			 "'signet renew' acts only on the current certificate of a key in custody, which this is not)");
	else if (flags & SGT_LINT_FOREIGN_ISSUER)
		snprintf(out, cap, "its issuer's key is not in custody, so 'signet renew' cannot reissue it: make a "
			 "request with 'signet cert csr', have that CA sign it, then 'signet cert import'");
	else if (flags & SGT_LINT_NEEDS_APPROVALS)
		snprintf(out, cap, "its key's policy asks for approvals, so 'signet renew' does not reissue it: have "
			 "'signet approve request --op cert.reissue' approved, then 'signet cert reissue --approvals DIR'");
	else if ((flags & SGT_LINT_RENEW_POLICY) && rpol != NULL)
		snprintf(out, cap, "run 'signet renew --policy %s', which reissues it for the same key", rpol->name);
	else
		snprintf(out, cap, "run 'signet renew', which reissues it for the same key");
}

/*
 * pol: the rules (NULL for a CA); rpol: the policy whose renewal window
 * applies (the key's, even for a CA, as renew uses it).
 */
static int lint_time(X509 *x, const struct sgt_policy *pol, const struct sgt_policy *rpol, time_t now, int flags,
		     struct sgt_lint *l)
{
	struct sgt_renewal ren;
	time_t nb, na;
	char d1[32], d2[32], d3[32], why[160], hint[256];
	long life;
	int rc = SGT_OK;

	if (sgt_cert_times(x, &nb, &na) != SGT_OK)
		return add(l, SGT_LINT_ERROR, "validity-unreadable", "the certificate's validity dates cannot be read");
	day_str(nb, d1);
	day_str(na, d2);
	if (nb > na)
		return add(l, SGT_LINT_ERROR, "validity-inverted",
			   "the certificate's notBefore (%s) is after its notAfter (%s): it is never valid, so AWS "
			   "refuses it whatever the date; the tool that made it swapped or miscomputed the dates", d1, d2);
	/* The one rule renew uses (sgt_cert_renewal), so lint never advises a renew that would not happen. */
	sgt_cert_renewal(nb, na, rpol != NULL ? rpol->renew_before_days : SGT_RENEW_DEFAULT_DAYS, now, &ren);
	sgt_renewal_why(&ren, rpol != NULL ? rpol->name : NULL, why, sizeof(why));
	day_str(ren.due_at, d3);
	renew_hint(rpol, flags, hint, sizeof(hint));
	if (na < now)
		rc = add(l, SGT_LINT_ERROR, "expired",
			 "the certificate expired on %s (%ld days ago); AWS Signer and IoT refuse it for new OTA "
			 "jobs, though devices that only use its public key still accept images signed with the "
			 "same key: %s", d2, (long)((now - na) / 86400), hint);
	else if (nb > now)
		rc = add(l, SGT_LINT_ERROR, "not-yet-valid",
			 "the certificate is not valid before %s; AWS refuses it until then (is a clock wrong?)", d1);
	else if (ren.due)
		rc = add(l, SGT_LINT_WARNING, "expires-soon",
			 "the certificate expires on %s, in %ld days, and has been due for renewal since %s (%s): %s",
			 d2, (long)((na - now) / 86400), d3, why, hint);
	if (rc != SGT_OK)
		return rc;
	life = (long)((na - nb) / 86400);
	/* One day of slack for certificates made with a day-rounding tool. */
	if (pol != NULL && life > pol->validity_days + 1)
		rc = add(l, SGT_LINT_ERROR, "validity-too-long",
			 "the certificate is valid for %ld days (%s to %s); policy %s allows at most %ld",
			 life, d1, d2, pol->name, pol->validity_days);
	return rc;
}

int sgt_lint_cert(X509 *x, const struct sgt_policy *pol, time_t now, int flags, struct sgt_lint *out)
{
	int as_ca = (flags & SGT_LINT_AS_CA) != 0;
	int rc = SGT_OK;

	if (X509_get_version(x) != 2)
		rc = add(out, SGT_LINT_WARNING, "not-v3",
			 "the certificate is X.509 version %ld, not 3, so it cannot carry the extensions code "
			 "signing needs", X509_get_version(x) + 1);
	if (rc == SGT_OK && sgt_cert_is_ca(x) && !as_ca)
		rc = add(out, SGT_LINT_ERROR, "ca-on-leaf",
			 "basicConstraints says CA:TRUE: this signing certificate could issue other "
			 "certificates; a code-signing certificate must be CA:FALSE");
	if (rc == SGT_OK && !as_ca)
		rc = lint_eku(x, pol, out);
	rc = rc ? rc : lint_ku(x, pol, as_ca, out);
	rc = rc ? rc : lint_key(x, pol, as_ca, out);
	rc = rc ? rc : lint_hash(x, as_ca ? NULL : pol, out);
	rc = rc ? rc : lint_time(x, as_ca ? NULL : pol, pol, now, flags, out);
	if (rc == SGT_OK && X509_get_ext_by_NID(x, NID_subject_key_identifier, -1) < 0)
		rc = add(out, SGT_LINT_INFO, "ski-missing",
			 "no subject key identifier; tools that build chains find the certificate less easily");
	if (rc == SGT_OK && X509_get_ext_by_NID(x, NID_authority_key_identifier, -1) < 0)
		rc = add(out, SGT_LINT_INFO, "aki-missing",
			 "no authority key identifier; tools that build chains find the issuer less easily");
	ERR_clear_error();
	return rc;
}

int sgt_lint_buf(const unsigned char *buf, size_t len, const struct sgt_policy *pol, time_t now, int flags,
		 struct sgt_lint *out)
{
	X509 *x = sgt_cert_parse(buf, len);
	int rc;

	if (x == NULL)
		return add(out, SGT_LINT_ERROR, "malformed",
			   "this is not a readable X.509 certificate (neither PEM nor DER); AWS would refuse it, and "
			   "an ESP32 that bakes it in fails every update with 0xe3 (signature check failed)");
	rc = sgt_lint_cert(x, pol, now, flags, out);
	X509_free(x);
	return rc;
}
