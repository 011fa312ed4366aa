/*
 * fuzz_audit_log.c: libFuzzer harness for the audit log and its head file:
 * the chain verifier, the record reader and the tail reader
 * (sgt_audit_verify, sgt_audit_foreach, sgt_audit_last_seq,
 * sgt_audit_head_load).  The input is audit.log, then optionally a line
 * "\n--head--\n" and audit.head.
 */
#include "audit.h"
#include "fuzz.h"
#include "store.h"

static int count(void *ctx, json_t *rec)
{
	(void)rec;
	++*(size_t *)ctx;
	return SGT_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char sep[] = "\n--head--\n";
	struct sgt_store st;
	struct sgt_audit_result res;
	struct sgt_audit_head h;
	const uint8_t *head = NULL;
	size_t logn = size, i, seen = 0;
	long long seq;

	for (i = 0; i + sizeof(sep) - 1 <= size; i++)
		if (memcmp(data + i, sep, sizeof(sep) - 1) == 0) {
			logn = i + 1;
			head = data + i + sizeof(sep) - 1;
			break;
		}
	memset(&st, 0, sizeof(st));
	st.lock_fd = -1;
	st.dir = (char *)fuzz_dir();
	fuzz_put("audit.log", data, logn);
	if (head != NULL)
		fuzz_put("audit.head", head, (size_t)(data + size - head));
	else
		fuzz_put("audit.head", "", 0);
	memset(&res, 0, sizeof(res));
	(void)sgt_audit_verify(&st, &res);
	if (memchr(res.why, '\0', sizeof(res.why)) == NULL)
		__builtin_trap();
	(void)sgt_audit_foreach(&st, 0, count, &seen);
	(void)sgt_audit_last_seq(&st, &seq);
	(void)sgt_audit_head_load(&st, &h);
	return 0;
}
