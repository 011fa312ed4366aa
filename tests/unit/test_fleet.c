/*
 * test_fleet.c: unit tests for fleet.c and fleet_source.c: the time
 * parser, the tally (known, unknown, the bounded "(other)"), the judgement
 * (every action and status, a build with a held and a lost key, a held key
 * without a signer certificate, thresholds), the inventory parser's file
 * and line in errors, and the CSV / search-index readers on small files
 * written here (RFC 4180 corners, error lines, strings that look like
 * structure).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fleet.h"
#include "unit.h"

#define DAY 86400
static char dir[] = "/tmp/signet-unit-fleet.XXXXXX";

static time_t t_of(const char *s)
{
	time_t t = 0;

	assert_int_equal(sgt_fleet_parse_time(s, strlen(s), &t), 0);
	return t;
}

static void test_parse_time(void **state)
{
	time_t t;

	(void)state;
	assert_int_equal(t_of("2026-01-01"), 1767225600);
	assert_int_equal(t_of("2026-01-01T00:00:00Z"), 1767225600);
	assert_int_equal(t_of("2026-01-01T02:00:00+02:00"), 1767225600);
	assert_int_equal(t_of("2025-12-31 19:00:00-05"), 1767225600);
	assert_int_equal(t_of("2026-01-01 00:00:00.123456+00"), 1767225600);	/* PostgreSQL text */
	assert_int_equal(t_of("2026-01-01T00:00Z"), 1767225600);
	assert_int_equal(t_of("1767225600"), 1767225600);
	assert_int_equal(t_of("1767225600123"), 1767225600);	/* AWS milliseconds */
	assert_int_equal(t_of("2024-02-29"), 1709164800);
	assert_int_equal(sgt_fleet_parse_time("2026-02-29", 10, &t), -1);
	assert_int_equal(sgt_fleet_parse_time("2026-13-01", 10, &t), -1);
	assert_int_equal(sgt_fleet_parse_time("2026-01-01T25:00Z", 17, &t), -1);
	assert_int_equal(sgt_fleet_parse_time("last tuesday", 12, &t), -1);
	assert_int_equal(sgt_fleet_parse_time("2026-01-01Tx", 12, &t), -1);
	assert_int_equal(sgt_fleet_parse_time("", 0, &t), -1);
}

static struct sgt_fleet *one_fleet(struct sgt_inventory *inv, const char *name)
{
	struct sgt_fleet *f = NULL;

	assert_int_equal(sgt_inventory_add_fleet(inv, name, &f), SGT_OK);
	return f;
}

static struct sgt_fleet_build *one_build(struct sgt_fleet *f, const char *v, long devices, size_t nkeys)
{
	struct sgt_fleet_build *b = NULL;

	assert_int_equal(sgt_fleet_build_new(f, v, &b), SGT_OK);
	b->devices = devices;
	b->keys = calloc(nkeys, sizeof(*b->keys));
	b->nkeys = nkeys;
	return b;
}

static void key_cert(struct sgt_fleet_key *k, char c, time_t not_after)
{
	memset(k->spki_sha256, c, 64);
	k->spki_sha256[64] = '\0';
	k->has_cert = 1;
	snprintf(k->serial, sizeof(k->serial), "0%c", c);
	snprintf(k->subject, sizeof(k->subject), "CN=%c", c);
	k->not_after = not_after;
}

static void test_tally(void **state)
{
	struct sgt_inventory inv = { 0 };
	struct sgt_fleet *f;
	char name[16];
	int i;

	(void)state;
	f = one_fleet(&inv, "f");
	one_build(f, "1.0", 5, 0);
	assert_int_equal(sgt_fleet_tally(f, "1.0xyz", 3, 2, 0), SGT_OK);
	assert_int_equal(sgt_fleet_tally(f, "1.0", 3, 1, 1), SGT_OK);
	assert_int_equal(sgt_fleet_tally(f, "1.", 2, 1, 0), SGT_OK);	/* a prefix is another build */
	assert_int_equal(sgt_fleet_tally(f, "", 0, 1, 0), SGT_OK);
	assert_int_equal(f->builds[0].devices, 7);
	assert_int_equal(f->builds[0].stale, 1);
	assert_int_equal(f->nunknown, 2);
	assert_string_equal(f->unknown[0].version, "1.");
	assert_string_equal(f->unknown[1].version, "(none)");
	/* Unknown names are bounded: the rest is summed, memory stays flat. */
	for (i = 0; i < SGT_FLEET_MAX_UNKNOWN + 50; i++) {
		snprintf(name, sizeof(name), "v%d", i);
		assert_int_equal(sgt_fleet_tally(f, name, strlen(name), 1, 0), SGT_OK);
	}
	assert_int_equal(f->nunknown, SGT_FLEET_MAX_UNKNOWN);
	assert_string_equal(f->unknown[SGT_FLEET_MAX_UNKNOWN - 1].version, "(other)");
	assert_int_equal(f->unknown[SGT_FLEET_MAX_UNKNOWN - 1].devices, 50 + 3);
	sgt_inventory_release(&inv);
}

static const struct sgt_fleet_row *row_of(const struct sgt_fleet_report *rep, const char *fleet, const char *build,
					  char key)
{
	size_t i;

	for (i = 0; i < rep->n; i++) {
		const struct sgt_fleet_row *r = &rep->rows[i];

		if (strcmp(r->fleet->name, fleet) == 0 && (r->build ? strcmp(r->build->version, build) == 0
							   : strcmp(build, "unknown") == 0) &&
		    (key == 0 || (r->key && r->key->spki_sha256[0] == key)))
			return r;
	}
	fail_msg("no row %s/%s/%c", fleet, build, key);
	return NULL;
}

static void test_judge(void **state)
{
	struct sgt_inventory inv = { 0 };
	struct sgt_fleet_custody cust[2];
	struct sgt_fleet_report rep;
	struct sgt_fleet *f;
	struct sgt_fleet_build *b;
	const struct sgt_fleet_row *r;
	time_t now = t_of("2026-12-05"), exp = t_of("2027-01-01");

	(void)state;
	memset(cust, 0, sizeof(cust));
	snprintf(cust[0].label, sizeof(cust[0].label), "fw");
	memset(cust[0].spki_sha256, 'a', 64);
	cust[0].has_signer = 1;
	cust[0].not_after = exp;
	cust[0].renew_before_days = 30;
	snprintf(cust[1].label, sizeof(cust[1].label), "nocert");
	memset(cust[1].spki_sha256, 'c', 64);
	cust[1].renew_before_days = 30;

	f = one_fleet(&inv, "plain");	/* checks_expiry false: only the signer certificate matters */
	b = one_build(f, "1", 10, 1);
	key_cert(&b->keys[0], 'a', exp);
	f = one_fleet(&inv, "strict");
	f->checks_expiry = 1;
	f->rollout_days = 21;
	b = one_build(f, "2", 20, 1);
	key_cert(&b->keys[0], 'a', exp);
	f = one_fleet(&inv, "lost");
	b = one_build(f, "3", 30, 1);
	key_cert(&b->keys[0], 'b', exp);
	f = one_fleet(&inv, "mixed");	/* one key held, one lost: not stranded */
	b = one_build(f, "4", 40, 2);
	key_cert(&b->keys[0], 'b', exp);
	key_cert(&b->keys[1], 'a', exp);
	f = one_fleet(&inv, "bare");	/* held key without a certificate in the store */
	b = one_build(f, "5", 50, 1);
	memset(b->keys[0].spki_sha256, 'c', 64);
	assert_int_equal(sgt_fleet_tally(f, "9", 1, 3, 0), SGT_OK);

	assert_int_equal(sgt_fleet_judge(&inv, cust, 2, now, 30, 14, NULL, 0, &rep), SGT_OK);
	r = row_of(&rep, "plain", "1", 'a');
	assert_int_equal(r->action, SGT_FLEET_RENEW);
	assert_int_equal(r->status, SGT_FLEET_ST_DUE);
	/* The renew deadline is the date sgt_cert_renewal says it falls due: 30 days before expiry. */
	assert_int_equal(r->deadline, exp - 30 * DAY);
	assert_string_equal(r->command, "signet renew");
	r = row_of(&rep, "strict", "2", 'a');
	assert_int_equal(r->action, SGT_FLEET_REBUILD);
	assert_int_equal(r->status, SGT_FLEET_ST_OVERDUE);
	assert_int_equal(r->deadline, exp - 51 * DAY);
	r = row_of(&rep, "lost", "3", 'b');
	assert_int_equal(r->action, SGT_FLEET_STRANDED);
	assert_int_equal(r->status, SGT_FLEET_ST_STRANDED);
	assert_null(r->custody);
	r = row_of(&rep, "mixed", "4", 'b');
	assert_int_equal(r->action, SGT_FLEET_OK);
	assert_non_null(strstr(r->sentence, "also trust 'fw'"));
	r = row_of(&rep, "mixed", "4", 'a');
	assert_int_equal(r->action, SGT_FLEET_RENEW);
	r = row_of(&rep, "bare", "5", 'c');
	assert_int_equal(r->action, SGT_FLEET_RENEW);
	assert_int_equal(r->status, SGT_FLEET_ST_OVERDUE);
	assert_string_equal(r->command, "signet cert issue nocert");
	r = row_of(&rep, "bare", "unknown", 0);
	assert_int_equal(r->status, SGT_FLEET_ST_UNKNOWN);
	assert_int_equal(r->devices, 3);
	/* Worst first: stranded, then overdue. */
	assert_int_equal(rep.rows[0].status, SGT_FLEET_ST_STRANDED);
	assert_int_equal(rep.rows[1].status, SGT_FLEET_ST_OVERDUE);
	assert_int_equal(rep.fleet_status[0], SGT_FLEET_ST_DUE);
	assert_int_equal(rep.fleet_status[1], SGT_FLEET_ST_OVERDUE);
	assert_int_equal(rep.fleet_status[2], SGT_FLEET_ST_STRANDED);
	assert_int_equal(rep.fleet_status[3], SGT_FLEET_ST_DUE);
	sgt_fleet_report_release(&rep);

	/* Half a year earlier everything held is ok, with the next date that matters. */
	assert_int_equal(sgt_fleet_judge(&inv, cust, 2, t_of("2026-06-01"), 30, 14, NULL, 0, &rep), SGT_OK);
	r = row_of(&rep, "strict", "2", 'a');
	assert_int_equal(r->action, SGT_FLEET_OK);
	assert_int_equal(r->deadline_for, SGT_FLEET_REBUILD);
	assert_int_equal(r->deadline, exp - 51 * DAY);
	r = row_of(&rep, "plain", "1", 'a');
	assert_int_equal(r->status, SGT_FLEET_ST_OK);
	assert_non_null(strstr(r->sentence, "is due for renewal on 2026-12-02"));
	/* Renew would not act yet: no command advises it. */
	assert_string_equal(r->command, "");
	sgt_fleet_report_release(&rep);

	/*
	 * A 20-day signer certificate with 19 days left, under a 30-day window:
	 * renew would not act (a third of its lifetime is its window), so the
	 * fleet is ok even with warn-days 30; with 5 days left it is due.
	 */
	cust[0].not_before = now - DAY;
	cust[0].not_after = now + 19 * DAY;
	assert_int_equal(sgt_fleet_judge(&inv, cust, 2, now, 30, 3, NULL, 0, &rep), SGT_OK);
	r = row_of(&rep, "plain", "1", 'a');
	assert_int_equal(r->status, SGT_FLEET_ST_OK);
	assert_int_equal(r->deadline, now + 19 * DAY - (20 * DAY) / 3);
	assert_non_null(strstr(r->sentence, "a third of its 20-day lifetime"));
	sgt_fleet_report_release(&rep);
	assert_int_equal(sgt_fleet_judge(&inv, cust, 2, now + 14 * DAY, 30, 3, NULL, 0, &rep), SGT_OK);
	r = row_of(&rep, "plain", "1", 'a');
	assert_int_equal(r->action, SGT_FLEET_RENEW);
	assert_int_equal(r->status, SGT_FLEET_ST_DUE);
	assert_string_equal(r->command, "signet renew");
	sgt_fleet_report_release(&rep);
	cust[0].not_before = 0;
	cust[0].not_after = exp;

	/* Only the fleets asked for; an unknown name is an error. */
	{
		char lost[] = "lost", nope[] = "nope";
		char *names[] = { lost }, *bad[] = { nope };

		assert_int_equal(sgt_fleet_judge(&inv, cust, 2, now, 30, 14, names, 1, &rep), SGT_OK);
		assert_int_equal(rep.n, 1);
		sgt_fleet_report_release(&rep);
		assert_int_equal(sgt_fleet_judge(&inv, cust, 2, now, 30, 14, bad, 1, &rep), SGT_ERR_DATA);
	}
	sgt_inventory_release(&inv);
}

static char *write_file(const char *name, const char *text)
{
	static char path[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "wb");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	return path;
}

static void test_inventory_errors(void **state)
{
	struct sgt_inventory inv;
	char *p;

	(void)state;
	p = write_file("inv.yaml", "fleets:\n  - name: a\n    builds:\n      - { version: 1.0, artefact: x.bin, devices: 3 }\n"
			"    devices: { source: d.csv, format: csv, build_field: fw }\n");
	assert_int_equal(sgt_inventory_load(p, 1, &inv), SGT_OK);
	assert_int_equal(inv.n, 1);
	assert_int_equal(inv.fleets[0].rollout_days, 30);
	assert_int_equal(inv.fleets[0].src.stale_days, 90);
	assert_int_equal(inv.fleets[0].builds[0].devices, 3);
	assert_true(strstr(inv.fleets[0].builds[0].artefact, "/signet-unit-fleet.") != NULL);	/* relative to the file */
	assert_string_equal(inv.fleets[0].src.source + strlen(inv.fleets[0].src.source) - 6, "/d.csv");
	sgt_inventory_release(&inv);
	p = write_file("inv.yaml", "fleets:\n  - name: a\n    devices: { source: d.csv, format: xml, build_field: fw }\n");
	assert_int_equal(sgt_inventory_load(p, 1, &inv), SGT_ERR_DATA);
	p = write_file("inv.yaml", "fleets:\n  - name: a\n  - name: a\n");
	assert_int_equal(sgt_inventory_load(p, 1, &inv), SGT_ERR_DATA);
	p = write_file("inv.yaml", "fleets:\n  - name: a\n    devices: { source: 'postgresql://x', format: postgresql }\n");
	assert_int_equal(sgt_inventory_load(p, 1, &inv), SGT_ERR_DATA);	/* no query */
	assert_int_equal(sgt_inventory_load("/nonexistent/fleets.yaml", 0, &inv), SGT_OK);
	assert_int_equal(inv.n, 0);
	assert_int_equal(sgt_inventory_load("/nonexistent/fleets.yaml", 1, &inv), SGT_ERR_DATA);
}

static int read_source(enum sgt_fleet_format fmt, const char *path, const char *field, struct sgt_inventory *inv)
{
	struct sgt_fleet *f;

	memset(inv, 0, sizeof(*inv));
	f = one_fleet(inv, "f");
	one_build(f, "1.0", 0, 0);
	f->has_source = 1;
	f->src.format = fmt;
	f->src.source = strdup(path);
	f->src.build_field = strdup(field);
	f->src.stale_days = 90;
	return sgt_fleet_source_read(f, t_of("2026-06-01"));
}

static void test_csv(void **state)
{
	struct sgt_inventory inv;
	char *p;

	(void)state;
	p = write_file("d.csv", "id,note,fw\r\n1,\"a, b\",1.0\r\n2,\"multi\r\nline \"\"x\"\"\",1.0\r\n3,,2.0\r\n\r\n4,x,\"1.0\"");
	assert_int_equal(read_source(SGT_FLEET_SRC_CSV, p, "fw", &inv), SGT_OK);
	assert_int_equal(inv.fleets[0].builds[0].devices, 3);
	assert_int_equal(inv.fleets[0].nunknown, 1);
	assert_int_equal(inv.fleets[0].unknown[0].devices, 1);
	sgt_inventory_release(&inv);
	/* A byte order mark is not part of the first column's name; long unknown names stay one entry. */
	p = write_file("d.csv", "\xef\xbb\xbf" "fw,id\n1.0,1\n"
			"x123456789x123456789x123456789x123456789x123456789x123456789x123456789,2\n"
			"x123456789x123456789x123456789x123456789x123456789x123456789x123456789,3\n");
	assert_int_equal(read_source(SGT_FLEET_SRC_CSV, p, "fw", &inv), SGT_OK);
	assert_int_equal(inv.fleets[0].builds[0].devices, 1);
	assert_int_equal(inv.fleets[0].nunknown, 1);
	assert_int_equal(inv.fleets[0].unknown[0].devices, 2);
	assert_int_equal(strlen(inv.fleets[0].unknown[0].version), 64);
	sgt_inventory_release(&inv);
	/* Plain lines (split without libcsv) and quoted ones (libcsv) read the same: spaces are data. */
	p = write_file("d.csv", "id,fw\n1,1.0\n\"2\",\"1.0\"\n3, 1.0\n\"4\", 1.0\n");
	assert_int_equal(read_source(SGT_FLEET_SRC_CSV, p, "fw", &inv), SGT_OK);
	assert_int_equal(inv.fleets[0].builds[0].devices, 2);
	assert_int_equal(inv.fleets[0].nunknown, 1);
	assert_string_equal(inv.fleets[0].unknown[0].version, " 1.0");
	assert_int_equal(inv.fleets[0].unknown[0].devices, 2);
	sgt_inventory_release(&inv);
	p = write_file("d.csv", "id,fw\n1,1.0\n2,\"1.0\"x\n");
	assert_int_equal(read_source(SGT_FLEET_SRC_CSV, p, "fw", &inv), SGT_ERR_DATA);
	sgt_inventory_release(&inv);
	p = write_file("d.csv", "id,fw\n1,\"1.0\n");
	assert_int_equal(read_source(SGT_FLEET_SRC_CSV, p, "fw", &inv), SGT_ERR_DATA);	/* unclosed quote */
	sgt_inventory_release(&inv);
	p = write_file("d.csv", "id,version\n1,1.0\n");
	assert_int_equal(read_source(SGT_FLEET_SRC_CSV, p, "fw", &inv), SGT_ERR_DATA);	/* no such column */
	sgt_inventory_release(&inv);
	p = write_file("d.csv", "");
	assert_int_equal(read_source(SGT_FLEET_SRC_CSV, p, "fw", &inv), SGT_ERR_DATA);
	sgt_inventory_release(&inv);
}

static void test_search_index(void **state)
{
	struct sgt_inventory inv;
	char *p;

	(void)state;
	p = write_file("t.json",
		       "{\"things\":[{\"thingName\":\"}]{[\\\"\",\"attributes\":{\"fw\":\"1.0\"}},\n"
		       "{\"attributes\":{\"fw\":10}}],\"nextToken\":\"[[\"}"
		       "{\"other\":{\"things\":[1,2]},\"things\":[{\"attributes\":{\"fw\":\"1.0\"}}]}\n");
	assert_int_equal(read_source(SGT_FLEET_SRC_AWS, p, "attributes.fw", &inv), SGT_OK);
	assert_int_equal(inv.fleets[0].builds[0].devices, 2);
	assert_int_equal(inv.fleets[0].nunknown, 1);
	assert_string_equal(inv.fleets[0].unknown[0].version, "10");
	sgt_inventory_release(&inv);
	p = write_file("t.json", "{\"things\":[1]}");
	assert_int_equal(read_source(SGT_FLEET_SRC_AWS, p, "attributes.fw", &inv), SGT_ERR_DATA);
	sgt_inventory_release(&inv);
	p = write_file("t.json", "[{\"things\":[]}]");
	assert_int_equal(read_source(SGT_FLEET_SRC_AWS, p, "attributes.fw", &inv), SGT_ERR_DATA);
	sgt_inventory_release(&inv);
	p = write_file("t.json", "{\"things\":[{\"a\":1,}]}");
	assert_int_equal(read_source(SGT_FLEET_SRC_AWS, p, "attributes.fw", &inv), SGT_ERR_DATA);
	sgt_inventory_release(&inv);
	/* The last page has a nextToken: part of the fleet, refused. */
	p = write_file("t.json", "{\"things\":[{\"attributes\":{\"fw\":\"1.0\"}}],\"nextToken\":\"AQAB\"}\n");
	assert_int_equal(read_source(SGT_FLEET_SRC_AWS, p, "attributes.fw", &inv), SGT_ERR_DATA);
	assert_non_null(strstr(sgt_last_error(), "incomplete aws iot search-index export"));
	sgt_inventory_release(&inv);
	/* null is no token; "nextToken" as a value or inside a thing is not the page's key. */
	p = write_file("t.json", "{\"k\":\"nextToken\",\"things\":[{\"nextToken\":\"x\",\"attributes\":{\"fw\":\"1.0\"}}],"
		       "\"nextToken\":null}");
	assert_int_equal(read_source(SGT_FLEET_SRC_AWS, p, "attributes.fw", &inv), SGT_OK);
	assert_int_equal(inv.fleets[0].builds[0].devices, 1);
	sgt_inventory_release(&inv);
	/* A page after one without a token: a second export. */
	p = write_file("t.json", "{\"things\":[]}{\"things\":[]}");
	assert_int_equal(read_source(SGT_FLEET_SRC_AWS, p, "attributes.fw", &inv), SGT_ERR_DATA);
	assert_non_null(strstr(sgt_last_error(), "two aws iot search-index exports"));
	sgt_inventory_release(&inv);
	/* The shadow is a JSON string: the path continues inside it. */
	p = write_file("t.jsonl", "{\"shadow\":\"{\\\"reported\\\":{\\\"fw\\\":\\\"1.0\\\"}}\"}\n");
	assert_int_equal(read_source(SGT_FLEET_SRC_JSONL, p, "shadow.reported.fw", &inv), SGT_OK);
	assert_int_equal(inv.fleets[0].builds[0].devices, 1);
	sgt_inventory_release(&inv);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	return unit_rm_tree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_time),
		cmocka_unit_test(test_tally),
		cmocka_unit_test(test_judge),
		cmocka_unit_test(test_inventory_errors),
		cmocka_unit_test(test_csv),
		cmocka_unit_test(test_search_index),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
