/*
 * fuzz_sshsig.c: libFuzzer harness for the two parsers of approvals:
 * armored SSH signatures (sgt_sshsig_parse, then a verification over a
 * fixed message so that the wire readers of every key type run) and
 * allowed_signers files (sgt_signers_parse, then a lookup of each key).
 * The first byte picks the parser.
 */
#include "sshsig.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[128];

	(void)fuzz_dir();
	if (size < 1)
		return 0;
	if (data[0] & 1) {
		struct sgt_signers s;
		size_t i;

		if (sgt_signers_parse((const char *)data + 1, size - 1, "fuzz", &s) == 0) {
			for (i = 0; i < s.n; i++) {
				if (s.v[i].principals == NULL || s.v[i].key == NULL ||
				    sgt_signers_find(&s, s.v[i].key, s.v[i].keylen, "signet-release", 0) == NULL)
					if (s.v[i].namespaces == NULL && s.v[i].valid_after == 0 && s.v[i].valid_before == 0)
						__builtin_trap();
				(void)sgt_signers_principal_match(s.v[i].principals, "alice@example.com");
			}
			sgt_signers_release(&s);
		}
	} else {
		struct sgt_sshsig g;

		if (sgt_sshsig_parse((const char *)data + 1, size - 1, &g, why, sizeof(why)) == 0) {
			char fp[64];

			if (g.pub == NULL || g.ns == NULL || g.hash_alg == NULL || g.sig == NULL)
				__builtin_trap();
			sgt_sshsig_fingerprint(g.pub, g.publen, fp);
			(void)sgt_sshsig_verify(&g, g.ns, (const unsigned char *)"request", 7, why, sizeof(why));
			sgt_sshsig_release(&g);
		}
	}
	return 0;
}
