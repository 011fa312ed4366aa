/*
 * test_intent.c: staged writes appear only after their audit record, an
 * intent left behind is completed (committed files) or rolled back
 * (uncommitted ones), interrupted audit appends are repaired, the SoftHSM2
 * object-file recogniser accepts what the module writes and rejects cuts.
 * No token: these are the file-level halves of what the CLI campaign
 * (t1090) checks end to end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "audit.h"
#include "hsmguard.h"
#include "intent.h"
#include "tx.h"
#include "unit.h"

struct fx {
	char dir[64];
	struct sgt_store st;
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	strcpy(fx->dir, "/tmp/sgt-intent-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	fx->st.dir = fx->dir;
	fx->st.lock_fd = -1;
	fx->st.lock_exclusive = 1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	unit_rm_tree(fx->dir);
	free(fx);
	return 0;
}

static int exists(const char *dir, const char *name)
{
	char p[256];
	struct stat sb;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return lstat(p, &sb) == 0;
}

/* An intent file is there (the intents directory holds one). */
static int intent_open(const char *dir)
{
	char cmd[256];
	FILE *f;
	int n = 0;

	snprintf(cmd, sizeof(cmd), "ls %s/intents 2>/dev/null | grep -c json", dir);
	f = popen(cmd, "r");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%d", &n), 1);
	pclose(f);
	return n > 0;
}

static int count_tmp(const char *dir)
{
	char cmd[256];
	FILE *f;
	int n = 0;

	snprintf(cmd, sizeof(cmd), "find %s -name '*.tmp*' | wc -l", dir);
	f = popen(cmd, "r");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%d", &n), 1);
	pclose(f);
	return n;
}

static void test_staged_until_recorded(void **state)
{
	struct fx *fx = *state;
	char path[128];

	snprintf(path, sizeof(path), "%s/out.sig", fx->dir);
	assert_int_equal(sgt_intent_begin(&fx->st, "sign", "fw", NULL, NULL, 0), SGT_OK);
	assert_true(intent_open(fx->dir));
	assert_int_equal(sgt_put(path, "sig\n", 4, 0), SGT_OK);
	assert_false(exists(fx->dir, "out.sig"));	/* not before its record */
	assert_int_equal(sgt_record(&fx->st, "sign", "fw", NULL, "ok", NULL), SGT_OK);
	assert_false(exists(fx->dir, "out.sig"));
	assert_int_equal(sgt_intent_end(&fx->st), SGT_OK);
	assert_true(exists(fx->dir, "out.sig"));
	assert_false(intent_open(fx->dir));
	assert_int_equal(count_tmp(fx->dir), 0);
}

static void test_abort_leaves_nothing(void **state)
{
	struct fx *fx = *state;
	char path[128];

	snprintf(path, sizeof(path), "%s/keys/k.yaml", fx->dir);
	assert_int_equal(sgt_mkdirs(strcat(strcpy(path, fx->dir), "/keys")), SGT_OK);
	snprintf(path, sizeof(path), "%s/keys/k.yaml", fx->dir);
	assert_int_equal(sgt_intent_begin(&fx->st, "key.generate", "k", NULL, NULL, 0), SGT_OK);
	assert_int_equal(sgt_put(path, "x", 1, 1), SGT_OK);
	sgt_intent_abort(&fx->st);
	assert_false(exists(fx->dir, "keys/k.yaml"));
	assert_false(intent_open(fx->dir));
	assert_int_equal(count_tmp(fx->dir), 0);
}

/* A command "killed" after its record: the next one puts its file in place. */
static void test_recover_committed(void **state)
{
	struct fx *fx = *state;
	char path[128];
	pid_t pid;
	int status;
	struct sgt_audit_result res;

	snprintf(path, sizeof(path), "%s/cert.pem", fx->dir);
	pid = fork();
	if (pid == 0) {
		if (sgt_intent_begin(&fx->st, "cert.issue", "fw", NULL, NULL, 0) != SGT_OK ||
		    sgt_put(path, "pem\n", 4, 0) != SGT_OK ||
		    sgt_record(&fx->st, "cert.issue", "fw", NULL, "ok", NULL) != SGT_OK)
			_exit(1);
		_exit(0);	/* dies before publishing */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_false(exists(fx->dir, "cert.pem"));
	assert_true(intent_open(fx->dir));
	assert_int_equal(sgt_intent_recover(&fx->st, NULL), SGT_OK);
	assert_true(exists(fx->dir, "cert.pem"));
	assert_false(intent_open(fx->dir));
	assert_int_equal(count_tmp(fx->dir), 0);
	assert_int_equal(sgt_audit_verify(&fx->st, &res), SGT_OK);
	assert_int_equal(res.records, 2);	/* the operation and the recovery */
}

/* Killed before its record: the staged file goes, and so does a stray atomic-write temporary. */
static void test_recover_uncommitted(void **state)
{
	struct fx *fx = *state;
	char path[128];
	pid_t pid;
	int status;
	FILE *f;

	snprintf(path, sizeof(path), "%s/cert.pem", fx->dir);
	pid = fork();
	if (pid == 0) {
		if (sgt_intent_begin(&fx->st, "cert.issue", "fw", NULL, NULL, 0) != SGT_OK || sgt_put(path, "pem\n", 4, 0) != SGT_OK)
			_exit(1);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(WEXITSTATUS(status), 0);
	snprintf(path, sizeof(path), "%s/signet.yaml.tmpAbC123", fx->dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(count_tmp(fx->dir), 2);
	assert_int_equal(sgt_intent_recover(&fx->st, NULL), SGT_OK);
	assert_false(exists(fx->dir, "cert.pem"));
	assert_int_equal(count_tmp(fx->dir), 0);
	assert_false(intent_open(fx->dir));
}

/* Record written, head not moved: verify says interrupted, the next append completes it. */
static void test_interrupted_append(void **state)
{
	struct fx *fx = *state;
	char path[128];
	unsigned char *head = NULL;
	size_t len = 0;
	struct sgt_audit_result res;
	FILE *f;

	assert_int_equal(sgt_record(&fx->st, "a", NULL, NULL, "ok", NULL), SGT_OK);
	snprintf(path, sizeof(path), "%s/audit.head", fx->dir);
	assert_int_equal(sgt_file_read(path, 4096, &head, &len), SGT_OK);
	assert_int_equal(sgt_record(&fx->st, "b", NULL, NULL, "ok", NULL), SGT_OK);
	f = fopen(path, "w");	/* the head as it was before "b" */
	assert_non_null(f);
	fwrite(head, 1, len, f);
	fclose(f);
	free(head);
	assert_int_equal(sgt_audit_verify(&fx->st, &res), SGT_OK);
	assert_true(res.interrupted);
	assert_int_equal(sgt_record(&fx->st, "c", NULL, NULL, "ok", NULL), SGT_OK);
	assert_int_equal(sgt_audit_verify(&fx->st, &res), SGT_OK);
	assert_false(res.interrupted);
	assert_int_equal(res.records, 4);	/* a, b, recovered, c */

	/* A partial last line is cut, not chained onto. */
	snprintf(path, sizeof(path), "%s/audit.log", fx->dir);
	f = fopen(path, "a");
	assert_non_null(f);
	fputs("{\"seq\":5,\"ti", f);
	fclose(f);
	assert_int_equal(sgt_audit_verify(&fx->st, &res), SGT_ERR_VERDICT);
	assert_int_equal(sgt_record(&fx->st, "d", NULL, NULL, "ok", NULL), SGT_OK);
	assert_int_equal(sgt_audit_verify(&fx->st, &res), SGT_OK);
	assert_int_equal(res.records, 6);
}

static void test_head_anchor_parse(void **state)
{
	struct sgt_audit_anchor a;
	const char *h = "7 c87920335bf2f267dd36d08cfed07c5b214f7743402807861ae102d942b77ca1 MEUCIQ==";
	char msg[256];

	(void)state;
	assert_int_equal(sgt_audit_anchor_parse(h, strlen(h), &a), 0);
	assert_int_equal(a.seq, 7);
	assert_string_equal(a.sig_b64, "MEUCIQ==");
	assert_int_equal(sgt_audit_anchor_parse("0 c879 x", 8, &a), -1);
	assert_int_equal(sgt_audit_anchor_parse("7 C87920335bf2f267dd36d08cfed07c5b214f7743402807861ae102d942b77ca1 x", 68, &a), -1);
	assert_int_equal(sgt_audit_anchor_parse("7 c87920335bf2f267dd36d08cfed07c5b214f7743402807861ae102d942b77ca1 a b", 70, &a), -1);
	sgt_audit_head_message(7, "ab", msg, sizeof(msg));
	assert_string_equal(msg, "signet audit head v1\nseq 7\nhash ab\n");
}

static void put64(unsigned char *p, unsigned long long v)
{
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static void test_objfile(void **state)
{
	unsigned char b[128];
	size_t n = 0, i;

	(void)state;
	put64(b, 3);	/* generation */
	n = 8;
	put64(b + n, 0x0), put64(b + n + 8, 2), put64(b + n + 16, 3);	/* CKA_CLASS ulong 3 */
	n += 24;
	put64(b + n, 0x1), put64(b + n + 8, 1), b[n + 16] = 0xff;	/* CKA_TOKEN bool */
	n += 17;
	put64(b + n, 0x3), put64(b + n + 8, 3), put64(b + n + 16, 2), b[n + 24] = 'f', b[n + 25] = 'w';	/* label */
	n += 26;
	put64(b + n, 0x210), put64(b + n + 8, 5), put64(b + n + 16, 1), put64(b + n + 24, 0x1041);	/* mechanism set */
	n += 32;
	assert_int_equal(sgt_hsm_objfile_ok(b, n), 1);
	/* Every cut short of the end is recognised. */
	for (i = 0; i < n; i++)
		if (i != 8 + 24 && i != 8 + 24 + 17 && i != 8 + 24 + 17 + 26)
			assert_int_equal(sgt_hsm_objfile_ok(b, i), 0);
	/* An unknown kind, or a length past the end. */
	put64(b + 8 + 8, 9);
	assert_int_equal(sgt_hsm_objfile_ok(b, n), 0);
	put64(b + 8 + 8, 2);
	put64(b + 8 + 24 + 17 + 16, 1000);
	assert_int_equal(sgt_hsm_objfile_ok(b, n), 0);
}

/* The audit log's records, one JSON object per line (new reference). */
static json_t *log_records(const char *dir)
{
	char p[256], line[8192];
	json_t *a = json_array();
	FILE *f;

	snprintf(p, sizeof(p), "%s/audit.log", dir);
	if ((f = fopen(p, "r")) == NULL)
		return a;
	while (fgets(line, sizeof(line), f) != NULL)
		json_array_append_new(a, json_loads(line, 0, NULL));
	fclose(f);
	return a;
}

static const char *rec_file(json_t *recs, size_t i, size_t j)
{
	return json_string_value(json_array_get(json_object_get(json_object_get(json_array_get(recs, i), "intent"), "files"), j));
}

/* A transaction: nothing visible or recorded before the commit; each record names the files staged before it. */
static void test_tx_commit(void **state)
{
	struct fx *fx = *state;
	struct sgt_tx *tx = NULL;
	char a[128], b[128];
	json_t *recs;

	snprintf(a, sizeof(a), "%s/a.sig", fx->dir);
	snprintf(b, sizeof(b), "%s/b.sig", fx->dir);
	assert_int_equal(sgt_tx_begin(&fx->st, "sign", "fw", NULL, NULL, 0, &tx), SGT_OK);
	assert_true(intent_open(fx->dir));
	assert_int_equal(sgt_tx_stage(tx, a, "a\n", 2, SGT_TX_OUT), SGT_OK);
	assert_int_equal(sgt_tx_record(tx, "sign", "fw", NULL, NULL), SGT_OK);
	assert_int_equal(sgt_tx_stage(tx, b, "b\n", 2, SGT_TX_EXCL), SGT_OK);
	assert_int_equal(sgt_tx_record(tx, "sign", "fw", NULL, NULL), SGT_OK);
	recs = log_records(fx->dir);
	assert_int_equal(json_array_size(recs), 0);	/* queued, not written */
	json_decref(recs);
	assert_false(exists(fx->dir, "a.sig"));
	assert_false(sgt_tx_committed(tx));
	assert_int_equal(sgt_tx_commit(tx), SGT_OK);
	assert_true(sgt_tx_committed(tx));
	sgt_tx_free(tx);
	assert_true(exists(fx->dir, "a.sig"));
	assert_true(exists(fx->dir, "b.sig"));
	assert_false(intent_open(fx->dir));
	assert_int_equal(count_tmp(fx->dir), 0);
	recs = log_records(fx->dir);
	assert_int_equal(json_array_size(recs), 2);
	assert_string_equal(rec_file(recs, 0, 0), a);
	assert_null(rec_file(recs, 0, 1));
	assert_string_equal(rec_file(recs, 1, 0), b);
	assert_string_equal(json_string_value(json_object_get(json_array_get(recs, 1), "result")), "ok");
	json_decref(recs);
}

/* Freed without a commit: nothing in place, nothing recorded but the refusal, no intent left. */
static void test_tx_free_rolls_back(void **state)
{
	struct fx *fx = *state;
	struct sgt_tx *tx = NULL;
	char a[128];
	json_t *recs;

	snprintf(a, sizeof(a), "%s/a.sig", fx->dir);
	assert_int_equal(sgt_tx_begin(&fx->st, "sign", "fw", NULL, NULL, 0, &tx), SGT_OK);
	assert_int_equal(sgt_tx_stage(tx, a, "a\n", 2, 0), SGT_OK);
	assert_int_equal(sgt_tx_record(tx, "sign", "fw", NULL, NULL), SGT_OK);
	sgt_tx_refused(tx, "sign", "fw", NULL, "the fleet gate said no");
	sgt_tx_free(tx);
	assert_false(exists(fx->dir, "a.sig"));
	assert_false(intent_open(fx->dir));
	assert_int_equal(count_tmp(fx->dir), 0);
	recs = log_records(fx->dir);
	assert_int_equal(json_array_size(recs), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(recs, 0), "result")), "refused");
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(recs, 0), "details"), "reason")),
			    "the fleet gate said no");
	json_decref(recs);
}

/* Under a reader's (shared) lock there is no transaction. */
static void test_tx_needs_lock(void **state)
{
	struct fx *fx = *state;
	struct sgt_tx *tx = (struct sgt_tx *)1;

	assert_int_equal(sgt_store_lock(&fx->st, 0), SGT_OK);
	assert_int_equal(sgt_tx_begin(&fx->st, "sign", "fw", NULL, NULL, 0, &tx), SGT_ERR_DATA);
	assert_null(tx);
	assert_false(intent_open(fx->dir));
	close(fx->st.lock_fd);
}

/*
 * Recovery inside begin: on a store not locked yet, begin takes the
 * exclusive lock and first completes what a killed command recorded, as
 * SQLite rolls back a hot journal when it takes its lock.
 */
static void test_tx_begin_recovers(void **state)
{
	struct fx *fx = *state;
	char path[128];
	pid_t pid;
	int status;
	struct sgt_tx *tx = NULL;
	struct sgt_audit_result res;

	snprintf(path, sizeof(path), "%s/cert.pem", fx->dir);
	pid = fork();
	if (pid == 0) {
		if (sgt_intent_begin(&fx->st, "cert.issue", "fw", NULL, NULL, 0) != SGT_OK ||
		    sgt_put(path, "pem\n", 4, 0) != SGT_OK ||
		    sgt_record(&fx->st, "cert.issue", "fw", NULL, "ok", NULL) != SGT_OK)
			_exit(1);
		_exit(0);	/* dies before publishing */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_false(exists(fx->dir, "cert.pem"));
	fx->st.lock_exclusive = 0;
	assert_int_equal(sgt_tx_begin(&fx->st, "sign", "fw", NULL, NULL, 0, &tx), SGT_OK);
	assert_true(fx->st.lock_fd >= 0);
	assert_true(fx->st.lock_exclusive);
	assert_true(exists(fx->dir, "cert.pem"));
	assert_int_equal(sgt_tx_record(tx, "sign", "fw", NULL, NULL), SGT_OK);
	assert_int_equal(sgt_tx_commit(tx), SGT_OK);
	sgt_tx_free(tx);
	assert_false(intent_open(fx->dir));
	assert_int_equal(sgt_audit_verify(&fx->st, &res), SGT_OK);
	assert_int_equal(res.records, 3);	/* the operation, the recovery and this one */
	close(fx->st.lock_fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_staged_until_recorded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort_leaves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_free_rolls_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_needs_lock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_begin_recovers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recover_committed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recover_uncommitted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interrupted_append, setup, teardown),
		cmocka_unit_test(test_head_anchor_parse),
		cmocka_unit_test(test_objfile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
