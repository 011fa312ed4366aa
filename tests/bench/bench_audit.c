/*
 * bench_audit.c: appends N audit records to a scratch store and prints the
 * mean cost of an append for the first and the last 1000 records (an
 * append must not grow with the log), then times one full verify.
 *   bench_audit DIR N
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "audit.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct sgt_store st = { 0 };
	struct sgt_audit_result res;
	long n, i;
	double t0, first = 0, last = 0, tv;
	json_t *d = json_pack("{s:s, s:s}", "image_sha256",
			      "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "serial", "0A1B2C3D");

	if (argc != 3 || (n = atol(argv[2])) < 2000)
		return fprintf(stderr, "usage: bench_audit DIR N (N >= 2000)\n"), 2;
	st.dir = argv[1];
	st.lock_fd = -1;
	for (i = 0; i < n; i++) {
		t0 = now();
		json_t *recs = json_array();
		int rc;

		json_array_append_new(recs, sgt_audit_rec("sign", "fw",
			"f2d743a5cd7c1e3b6b2919f18e9236a9ee97a22f71a477062cdc71c14aad585c", "ok", d, NULL));
		rc = sgt_audit_write(&st, recs, NULL);	/* no token: an unsigned head, the append alone */
		json_decref(recs);
		if (rc != SGT_OK)
			return 1;
		if (i < 1000)
			first += now() - t0;
		else if (i >= n - 1000)
			last += now() - t0;
	}
	t0 = now();
	if (sgt_audit_verify(&st, &res) != SGT_OK)
		return 1;
	tv = now() - t0;
	printf("append_first_1000_us %.1f\nappend_last_1000_us %.1f\nverify_records %zu\nverify_s %.3f\n",
	       first / 1000 * 1e6, last / 1000 * 1e6, res.records, tv);
	json_decref(d);
	return 0;
}
