/*
 * test_audit.c: unit tests for audit.c: the record format and hash chain
 * written by sgt_audit_write (unit_record in unit.h appends as tx.c does), sgt_audit_verify
 * on an intact log and on copies tampered in every way the header names
 * (edit, delete, reorder, truncate, head removed), append refusing a
 * broken chain without touching it, and sgt_audit_read's time filter.  Each test builds its store by
 * hand in its own mkdtemp directory.
 */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "audit.h"
#include "intent.h"
#include "sgt.h"
#include "store.h"
#include "tx.h"
#include "unit.h"

#define NREC 5
#define T0 1795493611L	/* 2026-11-24T04:13:31Z */
#define STEP 3600L

static const char zero_hash[] = "0000000000000000000000000000000000000000000000000000000000000000";

struct fixture {
	char dir[64];		/* the original store */
	char copy[64];		/* a scratch store for tampered copies */
	struct sgt_store st, cp;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (fx == NULL)
		return -1;
	strcpy(fx->dir, "/tmp/sgt-audit-XXXXXX");
	strcpy(fx->copy, "/tmp/sgt-auditcp-XXXXXX");
	if (mkdtemp(fx->dir) == NULL || mkdtemp(fx->copy) == NULL)
		return -1;
	fx->st.dir = fx->dir;
	fx->st.lock_fd = -1;
	fx->cp.dir = fx->copy;
	fx->cp.lock_fd = -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	int rc = unit_rm_tree(fx->dir);

	rc |= unit_rm_tree(fx->copy);
	free(fx);
	unsetenv("SIGNET_NOW");
	return rc;
}

static char *path_in(const char *dir, const char *name)
{
	char *p = malloc(strlen(dir) + strlen(name) + 2);

	assert_non_null(p);
	sprintf(p, "%s/%s", dir, name);
	return p;
}

static void read_all(const char *dir, const char *name, unsigned char **buf, size_t *len)
{
	char *p = path_in(dir, name);

	assert_int_equal(sgt_file_read(p, 1 << 20, buf, len), SGT_OK);
	free(p);
}

static void write_all(const char *dir, const char *name, const void *data, size_t len)
{
	char *p = path_in(dir, name);
	FILE *f = fopen(p, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	free(p);
}

static void set_now(long t)
{
	char s[32];

	snprintf(s, sizeof(s), "%ld", t);
	assert_int_equal(setenv("SIGNET_NOW", s, 1), 0);
}

/* Appends NREC records at T0, T0+STEP, ...: with and without label, spki, details. */
static void append_five(const struct sgt_store *st)
{
	json_t *d2 = json_pack("{s:s}", "algorithm", "ecdsa-p256");
	json_t *d3 = json_pack("{s:i, s:s}", "bytes", 1024, "file", "fw \"x\".bin\n");
	json_t *d5 = json_pack("{s:[i,i], s:{s:b}}", "list", 1, 2, "nested", "flag", 1);

	assert_non_null(d2);
	assert_non_null(d3);
	assert_non_null(d5);
	set_now(T0);
	assert_int_equal(unit_record(st, "init", NULL, NULL, NULL, NULL), SGT_OK);
	set_now(T0 + STEP);
	assert_int_equal(unit_record(st, "key-generate", "fw", zero_hash, "ok", d2), SGT_OK);
	set_now(T0 + 2 * STEP);
	assert_int_equal(unit_record(st, "sign", "fw", NULL, "ok", d3), SGT_OK);
	set_now(T0 + 3 * STEP);
	assert_int_equal(unit_record(st, "sign", NULL, zero_hash, "failed", NULL), SGT_OK);
	set_now(T0 + 4 * STEP);
	assert_int_equal(unit_record(st, "key-destroy", "fw", NULL, "ok", d5), SGT_OK);
	/* details is borrowed: the caller's reference is still the only one. */
	assert_int_equal(d2->refcount, 1);
	assert_int_equal(d3->refcount, 1);
	assert_int_equal(d5->refcount, 1);
	json_decref(d2);
	json_decref(d3);
	json_decref(d5);
	unsetenv("SIGNET_NOW");
}

/* The log split into NUL-terminated lines (newlines dropped); returns the count. */
static size_t split_lines(unsigned char *buf, size_t len, char **line, size_t max)
{
	size_t n = 0, i, start = 0;

	for (i = 0; i < len; i++)
		if (buf[i] == '\n') {
			assert_true(n < max);
			buf[i] = '\0';
			line[n++] = (char *)buf + start;
			start = i + 1;
		}
	assert_int_equal(start, len);	/* every line terminated */
	return n;
}

struct log {
	unsigned char *buf;
	size_t len;
	char *line[NREC + 1];
	size_t n;
};

static void log_load(const char *dir, struct log *l)
{
	read_all(dir, "audit.log", &l->buf, &l->len);
	l->n = split_lines(l->buf, l->len, l->line, NREC + 1);
}

/* Writes lines (in the given order, each with its newline) as the copy's log. */
static void write_lines(const char *dir, char *const *line, size_t n, int terminate_last)
{
	struct sgt_buf b = { 0 };
	size_t i;

	assert_int_equal(sgt_buf_add(&b, "", 0), SGT_OK);
	for (i = 0; i < n; i++) {
		assert_int_equal(sgt_buf_add(&b, line[i], strlen(line[i])), SGT_OK);
		if (i + 1 < n || terminate_last)
			assert_int_equal(sgt_buf_add(&b, "\n", 1), SGT_OK);
	}
	write_all(dir, "audit.log", b.p, b.len);
	sgt_buf_free(&b);
}

static void copy_head(const char *from, const char *to)
{
	unsigned char *buf;
	size_t len;

	read_all(from, "audit.head", &buf, &len);
	write_all(to, "audit.head", buf, len);
	free(buf);
}

static void expect_verdict(const struct sgt_store *st, size_t bad)
{
	struct sgt_audit_result res;

	memset(&res, 0x5a, sizeof(res));
	assert_int_equal(sgt_audit_verify(st, &res), SGT_ERR_VERDICT);
	if (res.bad != bad)
		fail_msg("first bad record is %zu (%s), expected %zu", res.bad, res.why, bad);
	assert_true(strlen(res.why) > 0);
}

static void expect_intact(const struct sgt_store *st, size_t records)
{
	struct sgt_audit_result res;

	memset(&res, 0x5a, sizeof(res));
	if (sgt_audit_verify(st, &res) != SGT_OK)
		fail_msg("verify failed at %zu: %s", res.bad, res.why);
	assert_int_equal(res.records, records);
	assert_int_equal(res.bad, 0);
}

/* ---- intact log ---- */

static void test_append_and_verify(void **state)
{
	struct fixture *fx = *state;
	struct log l;
	unsigned char *head;
	size_t headlen, i;
	char expect[65];
	struct stat sb;
	char *p;

	append_five(&fx->st);
	expect_intact(&fx->st, NREC);

	/* The chain as the header describes it, recomputed independently. */
	log_load(fx->dir, &l);
	assert_int_equal(l.n, NREC);
	strcpy(expect, zero_hash);
	for (i = 0; i < l.n; i++) {
		json_error_t jerr;
		json_t *rec = json_loads(l.line[i], 0, &jerr);
		char when[32];

		assert_non_null(rec);
		assert_int_equal(json_integer_value(json_object_get(rec, "seq")), i + 1);
		assert_string_equal(json_string_value(json_object_get(rec, "prev")), expect);
		sgt_time_iso((time_t)(T0 + (long)i * STEP), when);
		assert_string_equal(json_string_value(json_object_get(rec, "time")), when);
		json_decref(rec);
		sgt_sha256_hex(l.line[i], strlen(l.line[i]), expect);
	}
	read_all(fx->dir, "audit.head", &head, &headlen);
	assert_int_equal(headlen, 65);
	assert_memory_equal(head, expect, 64);
	assert_int_equal(head[64], '\n');
	free(head);
	free(l.buf);

	p = path_in(fx->dir, "audit.log");
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_mode & 077, 0);
	free(p);
	p = path_in(fx->dir, "audit.head");
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	free(p);

	/* The chain goes on. */
	assert_int_equal(unit_record(&fx->st, "extra", NULL, NULL, NULL, NULL), SGT_OK);
	expect_intact(&fx->st, NREC + 1);
}

static void test_record_fields(void **state)
{
	struct fixture *fx = *state;
	json_t *all = NULL, *r;

	append_five(&fx->st);
	assert_int_equal(sgt_audit_read(&fx->st, 0, &all), SGT_OK);
	assert_true(json_is_array(all));
	assert_int_equal(json_array_size(all), NREC);

	r = json_array_get(all, 0);
	assert_string_equal(json_string_value(json_object_get(r, "op")), "init");
	assert_string_equal(json_string_value(json_object_get(r, "result")), "ok");
	assert_null(json_string_value(json_object_get(r, "label")));
	assert_null(json_string_value(json_object_get(r, "spki_sha256")));
	assert_false(json_is_object(json_object_get(r, "details")));

	r = json_array_get(all, 1);
	assert_string_equal(json_string_value(json_object_get(r, "op")), "key-generate");
	assert_string_equal(json_string_value(json_object_get(r, "label")), "fw");
	assert_string_equal(json_string_value(json_object_get(r, "spki_sha256")), zero_hash);
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "details"), "algorithm")),
			    "ecdsa-p256");

	r = json_array_get(all, 2);
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "details"), "file")),
			    "fw \"x\".bin\n");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "details"), "bytes")), 1024);
	assert_null(json_string_value(json_object_get(r, "spki_sha256")));

	r = json_array_get(all, 3);
	assert_string_equal(json_string_value(json_object_get(r, "result")), "failed");
	assert_null(json_string_value(json_object_get(r, "label")));

	r = json_array_get(all, 4);
	assert_true(json_is_true(json_object_get(json_object_get(json_object_get(r, "details"), "nested"), "flag")));
	json_decref(all);
}

static void test_empty_store_is_intact(void **state)
{
	struct fixture *fx = *state;
	json_t *all = NULL;

	expect_intact(&fx->st, 0);
	assert_int_equal(sgt_audit_read(&fx->st, 0, &all), SGT_OK);
	assert_true(json_is_array(all));
	assert_int_equal(json_array_size(all), 0);
	json_decref(all);
}

/* ---- tampering, on copies ---- */

/* Builds the tampered copy from the original's lines; the head is copied unchanged. */
static void make_copy(void **state, char *const *line, size_t n)
{
	struct fixture *fx = *state;

	write_lines(fx->copy, line, n, 1);
	copy_head(fx->dir, fx->copy);
}

static void test_copy_unchanged_is_intact(void **state)
{
	struct fixture *fx = *state;
	struct log l;

	append_five(&fx->st);
	log_load(fx->dir, &l);
	make_copy(state, l.line, l.n);
	expect_intact(&fx->cp, NREC);
	free(l.buf);
}

static void test_modify_record_2(void **state)
{
	struct fixture *fx = *state;
	struct log l;
	char *op;

	append_five(&fx->st);
	log_load(fx->dir, &l);
	op = strstr(l.line[1], "\"op\":\"key-generate\"");
	assert_non_null(op);
	op[6] = 'K';	/* still well-formed JSON: record 3's prev no longer fits */
	make_copy(state, l.line, l.n);
	expect_verdict(&fx->cp, 3);
	free(l.buf);
}

static void test_modify_record_2_unparsable(void **state)
{
	struct fixture *fx = *state;
	struct log l;

	append_five(&fx->st);
	log_load(fx->dir, &l);
	assert_int_equal(l.line[1][0], '{');
	l.line[1][0] = '[';
	make_copy(state, l.line, l.n);
	expect_verdict(&fx->cp, 2);
	free(l.buf);
}

static void test_modify_record_2_seq(void **state)
{
	struct fixture *fx = *state;
	struct log l;
	char *seq;

	append_five(&fx->st);
	log_load(fx->dir, &l);
	seq = strstr(l.line[1], "\"seq\":2");
	assert_non_null(seq);
	seq[6] = '7';
	make_copy(state, l.line, l.n);
	expect_verdict(&fx->cp, 2);
	free(l.buf);
}

static void test_modify_last_record(void **state)
{
	struct fixture *fx = *state;
	struct log l;
	char *op;

	append_five(&fx->st);
	log_load(fx->dir, &l);
	op = strstr(l.line[NREC - 1], "\"result\":\"ok\"");
	assert_non_null(op);
	op[10] = 'O';
	make_copy(state, l.line, l.n);
	expect_verdict(&fx->cp, NREC);
	free(l.buf);
}

static void test_delete_record_3(void **state)
{
	struct fixture *fx = *state;
	struct log l;
	char *kept[NREC];

	append_five(&fx->st);
	log_load(fx->dir, &l);
	kept[0] = l.line[0];
	kept[1] = l.line[1];
	kept[2] = l.line[3];
	kept[3] = l.line[4];
	make_copy(state, kept, NREC - 1);
	expect_verdict(&fx->cp, 3);
	free(l.buf);
}

static void test_delete_record_1(void **state)
{
	struct fixture *fx = *state;
	struct log l;

	append_five(&fx->st);
	log_load(fx->dir, &l);
	make_copy(state, l.line + 1, NREC - 1);
	expect_verdict(&fx->cp, 1);
	free(l.buf);
}

static void test_swap_records_2_and_3(void **state)
{
	struct fixture *fx = *state;
	struct log l;
	char *t;
	struct sgt_audit_result res;

	append_five(&fx->st);
	log_load(fx->dir, &l);
	t = l.line[1];
	l.line[1] = l.line[2];
	l.line[2] = t;
	make_copy(state, l.line, l.n);
	assert_int_equal(sgt_audit_verify(&fx->cp, &res), SGT_ERR_VERDICT);
	assert_true(res.bad == 2 || res.bad == 3);
	assert_int_equal(res.bad, 2);	/* the moved record 3 names record 2, not 1 */
	free(l.buf);
}

static void test_drop_last_record(void **state)
{
	struct fixture *fx = *state;
	struct log l;

	append_five(&fx->st);
	log_load(fx->dir, &l);
	make_copy(state, l.line, NREC - 1);
	expect_verdict(&fx->cp, NREC - 1);	/* head names a record that is gone */
	free(l.buf);
}

static void test_truncate_last_record(void **state)
{
	struct fixture *fx = *state;
	struct log l;

	append_five(&fx->st);
	log_load(fx->dir, &l);
	l.line[NREC - 1][strlen(l.line[NREC - 1]) - 10] = '\0';
	write_lines(fx->copy, l.line, l.n, 0);
	copy_head(fx->dir, fx->copy);
	expect_verdict(&fx->cp, NREC);
	free(l.buf);
}

static void test_last_newline_missing(void **state)
{
	struct fixture *fx = *state;
	struct log l;

	append_five(&fx->st);
	log_load(fx->dir, &l);
	write_lines(fx->copy, l.line, l.n, 0);
	copy_head(fx->dir, fx->copy);
	expect_verdict(&fx->cp, NREC);
	free(l.buf);
}

static void test_delete_head(void **state)
{
	struct fixture *fx = *state;
	struct log l;

	append_five(&fx->st);
	log_load(fx->dir, &l);
	write_lines(fx->copy, l.line, l.n, 1);
	expect_verdict(&fx->cp, NREC);
	free(l.buf);
}

static void test_bad_head(void **state)
{
	struct fixture *fx = *state;
	struct log l;

	append_five(&fx->st);
	log_load(fx->dir, &l);
	write_lines(fx->copy, l.line, l.n, 1);
	write_all(fx->copy, "audit.head", "short\n", 6);
	expect_verdict(&fx->cp, NREC);
	write_all(fx->copy, "audit.head", zero_hash, 64);
	expect_verdict(&fx->cp, NREC);
	free(l.buf);
}

static void test_log_emptied(void **state)
{
	struct fixture *fx = *state;

	append_five(&fx->st);
	write_all(fx->copy, "audit.log", "", 0);
	copy_head(fx->dir, fx->copy);
	expect_verdict(&fx->cp, 1);
}

/* ---- append refuses a broken chain ---- */

struct snapshot {
	unsigned char *log, *head;
	size_t loglen, headlen;
	int has_log, has_head;
};

static void snap(const char *dir, struct snapshot *s)
{
	char *lp = path_in(dir, "audit.log"), *hp = path_in(dir, "audit.head");

	memset(s, 0, sizeof(*s));
	s->has_log = access(lp, F_OK) == 0;
	s->has_head = access(hp, F_OK) == 0;
	if (s->has_log)
		read_all(dir, "audit.log", &s->log, &s->loglen);
	if (s->has_head)
		read_all(dir, "audit.head", &s->head, &s->headlen);
	free(lp);
	free(hp);
}

static void expect_same_snap(const struct snapshot *a, const struct snapshot *b)
{
	assert_int_equal(a->has_log, b->has_log);
	assert_int_equal(a->has_head, b->has_head);
	assert_int_equal(a->loglen, b->loglen);
	assert_int_equal(a->headlen, b->headlen);
	if (a->has_log)
		assert_memory_equal(a->log, b->log, a->loglen);
	if (a->has_head)
		assert_memory_equal(a->head, b->head, a->headlen);
}

static void snap_free(struct snapshot *s)
{
	free(s->log);
	free(s->head);
}

static void expect_append_refused(const struct sgt_store *cp)
{
	struct snapshot before, after;
	json_t *d = json_pack("{s:s}", "k", "v");

	assert_non_null(d);
	snap(cp->dir, &before);
	assert_int_equal(unit_record(cp, "sign", "fw", NULL, "ok", d), SGT_ERR_DATA);
	snap(cp->dir, &after);
	expect_same_snap(&before, &after);
	assert_int_equal(d->refcount, 1);
	json_decref(d);
	snap_free(&before);
	snap_free(&after);
}

static void test_append_refuses_head_mismatch(void **state)
{
	struct fixture *fx = *state;
	struct log l;

	append_five(&fx->st);
	log_load(fx->dir, &l);
	/* Last record edited. */
	l.line[NREC - 1][2] ^= 1;
	make_copy(state, l.line, l.n);
	expect_append_refused(&fx->cp);
	free(l.buf);
	/* Last record dropped. */
	log_load(fx->dir, &l);
	make_copy(state, l.line, NREC - 1);
	expect_append_refused(&fx->cp);
	free(l.buf);
}

static void test_append_refuses_missing_head(void **state)
{
	struct fixture *fx = *state;
	struct log l;

	append_five(&fx->st);
	log_load(fx->dir, &l);
	write_lines(fx->copy, l.line, l.n, 1);	/* no audit.head */
	expect_append_refused(&fx->cp);
	free(l.buf);
}

static void test_append_refuses_unterminated(void **state)
{
	struct fixture *fx = *state;
	struct log l;

	append_five(&fx->st);
	log_load(fx->dir, &l);
	write_lines(fx->copy, l.line, l.n, 0);
	copy_head(fx->dir, fx->copy);
	expect_append_refused(&fx->cp);
	free(l.buf);
}

static void test_append_refuses_head_without_log(void **state)
{
	struct fixture *fx = *state;

	append_five(&fx->st);
	copy_head(fx->dir, fx->copy);	/* no audit.log */
	expect_append_refused(&fx->cp);
}

/* Records longer than the chunk append reads from the end of the log. */
static void test_append_long_records(void **state)
{
	struct fixture *fx = *state;
	size_t sizes[] = { 200000, 10, 70000, 65536, 5 };
	json_t *arr = NULL;
	size_t i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char *big = malloc(sizes[i] + 1);
		json_t *d;

		assert_non_null(big);
		memset(big, 'a' + (int)i, sizes[i]);
		big[sizes[i]] = '\0';
		d = json_pack("{s:s}", "blob", big);
		assert_non_null(d);
		assert_int_equal(unit_record(&fx->st, "import", "fw", NULL, "ok", d), SGT_OK);
		json_decref(d);
		free(big);
	}
	expect_intact(&fx->st, 5);
	assert_int_equal(sgt_audit_read(&fx->st, 0, &arr), SGT_OK);
	assert_int_equal(json_array_size(arr), 5);
	for (i = 0; i < 5; i++) {
		json_t *r = json_array_get(arr, i);

		assert_int_equal(json_integer_value(json_object_get(r, "seq")), i + 1);
		assert_int_equal(strlen(json_string_value(json_object_get(json_object_get(r, "details"), "blob"))),
				 sizes[i]);
	}
	json_decref(arr);
}

/* ---- read with since ---- */

static void test_read_since(void **state)
{
	struct fixture *fx = *state;
	json_t *arr = NULL;
	struct {
		long since;
		size_t n;
		json_int_t first_seq;
	} cases[] = {
		{ 0, NREC, 1 },
		{ T0, NREC, 1 },
		{ T0 + 1, NREC - 1, 2 },
		{ T0 + 2 * STEP, 3, 3 },
		{ T0 + 2 * STEP + 1, 2, 4 },
		{ T0 + 4 * STEP, 1, 5 },
		{ T0 + 4 * STEP + 1, 0, 0 },
	};
	size_t i;

	append_five(&fx->st);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t j;

		assert_int_equal(sgt_audit_read(&fx->st, (time_t)cases[i].since, &arr), SGT_OK);
		assert_true(json_is_array(arr));
		if (json_array_size(arr) != cases[i].n)
			fail_msg("since %ld: %zu records, expected %zu", cases[i].since,
				 json_array_size(arr), cases[i].n);
		for (j = 0; j < cases[i].n; j++)
			assert_int_equal(json_integer_value(json_object_get(json_array_get(arr, j), "seq")),
					 cases[i].first_seq + (json_int_t)j);
		json_decref(arr);
		arr = NULL;
	}
}

static void test_read_refuses_garbage(void **state)
{
	struct fixture *fx = *state;
	json_t *arr = (json_t *)&arr;

	write_all(fx->copy, "audit.log", "{\"seq\":1}\nnot json\n", 19);
	assert_int_equal(sgt_audit_read(&fx->cp, 0, &arr), SGT_ERR_DATA);
	assert_null(arr);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_append_and_verify),
		T(test_record_fields),
		T(test_empty_store_is_intact),
		T(test_copy_unchanged_is_intact),
		T(test_modify_record_2),
		T(test_modify_record_2_unparsable),
		T(test_modify_record_2_seq),
		T(test_modify_last_record),
		T(test_delete_record_3),
		T(test_delete_record_1),
		T(test_swap_records_2_and_3),
		T(test_drop_last_record),
		T(test_truncate_last_record),
		T(test_last_newline_missing),
		T(test_delete_head),
		T(test_bad_head),
		T(test_log_emptied),
		T(test_append_refuses_head_mismatch),
		T(test_append_refuses_missing_head),
		T(test_append_refuses_unterminated),
		T(test_append_refuses_head_without_log),
		T(test_append_long_records),
		T(test_read_since),
		T(test_read_refuses_garbage),
	};

	umask(077);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
