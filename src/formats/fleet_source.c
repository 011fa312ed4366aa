/*
 * fleet_source.c: a fleet's population from a device source, streamed so
 * that memory grows with the number of builds, never with the number of
 * devices.  CSV (RFC 4180, parsed by libcsv: quotes, embedded commas and
 * line breaks, CRLF), JSON Lines and `aws iot search-index` output (one or
 * many concatenated pages; each thing is cut out of its page and parsed
 * alone with jansson, so a page of any size costs one thing), and
 * PostgreSQL through libpq, where the user's query does the grouping.
 * The AWS CLI does not follow nextToken for search-index: a page with a
 * nextToken says more devices exist, so an export whose last page has one
 * is refused rather than counted as the fleet.  A JSON fleet_field may
 * hold a list (thingGroupNames): the device belongs to every fleet named.
 * Every device lands in a known build or in "unknown"; none is dropped.
 * A malformed row stops the read with file:line (or the query); nothing
 * here prints to stdout or writes a file.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <csv.h>
#include <jansson.h>

#include "fleet.h"
#include "pqload.h"

#define DAY 86400
#define FIELD_MAX 256

/* -- tally ------------------------------------------------------------------ */

int sgt_fleet_tally(struct sgt_fleet *f, const char *build, size_t len, long n, int stale)
{
	struct sgt_fleet_unknown *u = NULL;
	size_t i;

	if (len == 0) {
		build = "(none)";
		len = 6;
	}
	for (i = 0; i < f->nbuilds; i++) {
		const char *v = f->builds[i].version;

		/* build may hold a NUL (a binary field): compare lengths, never read past v */
		if (strlen(v) == len && memcmp(v, build, len) == 0) {
			if (stale)
				f->builds[i].stale += n;
			else
				f->builds[i].devices += n;
			return SGT_OK;
		}
	}
	/* Unknown names are kept to 64 bytes: compare what was kept, or a long name would be new every time. */
	if (len > 64)
		len = 64;
	for (i = 0; i < f->nunknown; i++) {
		const char *v = f->unknown[i].version;

		if (strlen(v) == len && memcmp(v, build, len) == 0) {
			u = &f->unknown[i];
			break;
		}
	}
	if (u == NULL && f->nunknown >= SGT_FLEET_MAX_UNKNOWN) {
		/* The last slot sums the rest: memory stays bounded by builds, not devices. */
		u = &f->unknown[SGT_FLEET_MAX_UNKNOWN - 1];
		if (strcmp(u->version, "(other)") != 0) {
			char *other = strdup("(other)");

			if (other == NULL)
				return sgt_err(SGT_ERR_DATA, "out of memory");
			free(u->version);
			u->version = other;
		}
	}
	if (u == NULL) {
		struct sgt_fleet_unknown *grown = realloc(f->unknown, (f->nunknown + 1) * sizeof(*grown));

		if (grown == NULL)
			return sgt_err(SGT_ERR_DATA, "out of memory");
		f->unknown = grown;
		u = &f->unknown[f->nunknown];
		memset(u, 0, sizeof(*u));
		if ((u->version = strndup(build, len)) == NULL)
			return sgt_err(SGT_ERR_DATA, "out of memory");
		f->nunknown++;
	}
	if (stale)
		u->stale += n;
	else
		u->devices += n;
	return SGT_OK;
}

/* 1 when value (len bytes) names a fleet of the inventory. */
static int names_fleet(const struct sgt_inventory *inv, const char *value, size_t len)
{
	size_t i;

	for (i = 0; inv != NULL && i < inv->n; i++)
		if (strlen(inv->fleets[i].name) == len && memcmp(inv->fleets[i].name, value, len) == 0)
			return 1;
	return inv == NULL;
}

/* A row of another fleet: counted when it names no fleet at all, so that it is not dropped unseen. */
static void other_fleet(struct sgt_fleet *f, const char *value, size_t len)
{
	if (f->src.count_orphans && !names_fleet(f->src.inv, value, len))
		f->orphans++;
}

/* -- time ------------------------------------------------------------------- */

static long long days_from_civil(long long y, unsigned m, unsigned d)
{
	long long era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long long)doe - 719468;
}

static int digits(const char *s, size_t len, size_t *pos, size_t n, int *out)
{
	int v = 0;
	size_t i;

	if (*pos + n > len)
		return -1;
	for (i = 0; i < n; i++) {
		char c = s[*pos + i];

		if (c < '0' || c > '9')
			return -1;
		v = v * 10 + (c - '0');
	}
	*pos += n;
	*out = v;
	return 0;
}

int sgt_fleet_parse_time(const char *s, size_t len, time_t *out)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, mo, d, h = 0, mi = 0, sec = 0, oh = 0, om = 0;
	size_t p = 0, i;
	long long t;

	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if (len == 0)
		return -1;
	for (i = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++)
		;
	if (i == len && len <= 16) {
		/* Epoch seconds, or milliseconds as AWS fleet indexing's connectivity.timestamp. */
		long long v = 0;

		/* s is not NUL-terminated (a field of a source line): no strtoll */
		for (i = 0; i < len; i++)
			v = v * 10 + (s[i] - '0');
		*out = (time_t)(v > 100000000000LL ? v / 1000 : v);
		return 0;
	}
	if (digits(s, len, &p, 4, &y) || p >= len || s[p++] != '-' || digits(s, len, &p, 2, &mo) ||
	    p >= len || s[p++] != '-' || digits(s, len, &p, 2, &d))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
	    (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)))
		return -1;
	if (p < len && (s[p] == 'T' || s[p] == 't' || s[p] == ' ')) {
		p++;
		if (digits(s, len, &p, 2, &h) || p >= len || s[p++] != ':' || digits(s, len, &p, 2, &mi))
			return -1;
		if (p < len && s[p] == ':') {
			p++;
			if (digits(s, len, &p, 2, &sec))
				return -1;
			if (p < len && (s[p] == '.' || s[p] == ',')) {
				p++;
				if (p >= len || s[p] < '0' || s[p] > '9')
					return -1;
				while (p < len && s[p] >= '0' && s[p] <= '9')
					p++;
			}
		}
		if (h > 23 || mi > 59 || sec > 60)
			return -1;
		if (p < len && (s[p] == 'Z' || s[p] == 'z'))
			p++;
		else if (p < len && (s[p] == '+' || s[p] == '-')) {
			int sign = s[p++] == '-' ? -1 : 1;

			if (digits(s, len, &p, 2, &oh))
				return -1;
			if (p < len && s[p] == ':')
				p++;
			if (p < len && digits(s, len, &p, 2, &om))
				return -1;
			if (oh > 23 || om > 59)
				return -1;
			oh *= sign;
			om *= sign;
		}
	}
	if (p != len)
		return -1;
	t = days_from_civil(y, (unsigned)mo, (unsigned)d) * DAY + h * 3600LL + mi * 60LL + sec - oh * 3600LL - om * 60LL;
	*out = (time_t)t;
	return 0;
}

/* -- CSV -------------------------------------------------------------------- */

struct csv_state {
	struct sgt_fleet *f;
	const char *path;
	time_t cutoff;
	int rc;
	size_t line, row_line;	/* current input line; line where the current row began */
	int header_done;
	size_t ncols, field;
	long col_build, col_fleet, col_seen;
	char build[FIELD_MAX], fleetv[FIELD_MAX], seen[FIELD_MAX];
	size_t blen, flen, slen;
	int seen_set;
	int pending;		/* libcsv is inside a record */
};

static void csv_fail(struct csv_state *cs, const char *fmt, ...) SGT_PRINTF(2, 3);
static void csv_fail(struct csv_state *cs, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (cs->rc != SGT_OK)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cs->rc = sgt_err(SGT_ERR_DATA, "%s:%zu: %s", cs->path, cs->row_line, msg);
}

static void keep(char *dst, size_t *dlen, const void *s, size_t len)
{
	if (len >= FIELD_MAX)
		len = FIELD_MAX - 1;
	memcpy(dst, s, len);
	dst[len] = '\0';
	*dlen = len;
}

static void csv_field(void *s, size_t len, void *data)
{
	struct csv_state *cs = data;
	long i = (long)cs->field++;

	if (cs->rc != SGT_OK)
		return;
	if (!cs->header_done) {
		const struct sgt_fleet_source *src = &cs->f->src;

		if (strlen(src->build_field) == len && memcmp(s, src->build_field, len) == 0)
			cs->col_build = i;
		if (src->fleet_field && strlen(src->fleet_field) == len && memcmp(s, src->fleet_field, len) == 0)
			cs->col_fleet = i;
		if (src->last_seen_field && strlen(src->last_seen_field) == len &&
		    memcmp(s, src->last_seen_field, len) == 0)
			cs->col_seen = i;
		return;
	}
	if (i == cs->col_build)
		keep(cs->build, &cs->blen, s, len);
	else if (i == cs->col_fleet)
		keep(cs->fleetv, &cs->flen, s, len);
	else if (i == cs->col_seen) {
		keep(cs->seen, &cs->slen, s, len);
		cs->seen_set = 1;
	}
}

static void csv_row(int c, void *data)
{
	struct csv_state *cs = data;
	const struct sgt_fleet_source *src = &cs->f->src;
	size_t fields = cs->field;
	int stale = 0;
	time_t t;

	(void)c;
	cs->field = 0;
	cs->pending = 0;
	if (cs->rc != SGT_OK)
		return;
	if (!cs->header_done) {
		cs->header_done = 1;
		cs->ncols = fields;
		if (cs->col_build < 0)
			csv_fail(cs, "the header has no column '%s' (build_field)", src->build_field);
		else if (src->fleet_field && cs->col_fleet < 0)
			csv_fail(cs, "the header has no column '%s' (fleet_field)", src->fleet_field);
		else if (src->last_seen_field && cs->col_seen < 0)
			csv_fail(cs, "the header has no column '%s' (last_seen_field)", src->last_seen_field);
		cs->row_line = cs->line + 1;
		return;
	}
	if (fields != cs->ncols) {
		csv_fail(cs, "malformed row: %zu fields where the header has %zu", fields, cs->ncols);
		return;
	}
	cs->row_line = cs->line + 1;
	if (src->fleet_field && (strlen(cs->f->name) != cs->flen || memcmp(cs->fleetv, cs->f->name, cs->flen) != 0)) {
		other_fleet(cs->f, cs->fleetv, cs->flen);
		goto next;
	}
	if (src->last_seen_field) {
		if (cs->slen == 0)
			stale = 1;	/* never seen: on a shelf, as far as anyone knows */
		else if (sgt_fleet_parse_time(cs->seen, cs->slen, &t) != 0) {
			cs->row_line = cs->line;
			csv_fail(cs, "column '%s': '%s' is not an ISO 8601 time", src->last_seen_field, cs->seen);
			return;
		} else
			stale = t < cs->cutoff;
	}
	if ((cs->rc = sgt_fleet_tally(cs->f, cs->build, cs->blen, 1, stale)) != SGT_OK)
		return;
next:
	cs->blen = cs->flen = cs->slen = 0;
	cs->seen_set = 0;
}

/* A line reader over one large buffer: getline's per-call locking costs more than the parse. */
struct lines {
	FILE *fp;
	char *buf;
	size_t cap, start, end;
	int eof;
};

/* The next line with its '\n' (the last may lack one); 0 at the end, -1 on error. */
static int next_line(struct lines *l, const char **line, size_t *len)
{
	for (;;) {
		char *nl = l->end > l->start ? memchr(l->buf + l->start, '\n', l->end - l->start) : NULL;
		size_t got;

		if (nl != NULL || (l->eof && l->end > l->start)) {
			*line = l->buf + l->start;
			*len = nl ? (size_t)(nl - *line) + 1 : l->end - l->start;
			l->start += *len;
			return 1;
		}
		if (l->eof)
			return 0;
		if (l->start > 0) {
			memmove(l->buf, l->buf + l->start, l->end - l->start);
			l->end -= l->start;
			l->start = 0;
		}
		if (l->end == l->cap) {
			size_t ncap = l->cap ? l->cap * 2 : 1 << 20;
			char *grown = realloc(l->buf, ncap);

			if (grown == NULL)
				return -1;
			l->buf = grown;
			l->cap = ncap;
		}
		got = fread(l->buf + l->end, 1, l->cap - l->end, l->fp);
		l->end += got;
		if (got == 0) {
			if (ferror(l->fp))
				return -1;
			l->eof = 1;
		}
	}
}

/* RFC 4180 has no notion of padding: a space is part of the field. */
static int no_space(unsigned char c)
{
	(void)c;
	return 0;
}

/*
 * A line with no quote and no stray CR outside a quoted record has one
 * reading under RFC 4180: fields split at commas.  It is split here
 * without copying; every other line goes through libcsv.
 */
static int plain_line(const char *s, size_t n, size_t *body)
{
	size_t m = n;

	if (m > 0 && s[m - 1] == '\n')
		m--;
	if (m > 0 && s[m - 1] == '\r')
		m--;
	if (memchr(s, '"', m) != NULL || memchr(s, '\r', m) != NULL)
		return 0;
	*body = m;
	return 1;
}

static int read_csv(struct sgt_fleet *f, time_t now)
{
	struct csv_state cs;
	struct csv_parser p;
	struct lines l = { 0 };
	const char *line;
	size_t n, body;
	int rc, more, pending = 0;

	memset(&cs, 0, sizeof(cs));
	cs.f = f;
	cs.path = f->src.source;
	cs.cutoff = now - (time_t)f->src.stale_days * DAY;
	cs.col_build = cs.col_fleet = cs.col_seen = -1;
	cs.row_line = 1;
	if ((l.fp = fopen(cs.path, "r")) == NULL)
		return sgt_err(SGT_ERR_DATA, "cannot read device source '%s': %s", cs.path, strerror(errno));
	if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0) {
		fclose(l.fp);
		return sgt_err(SGT_ERR_DATA, "out of memory");
	}
	csv_set_space_func(&p, no_space);
	/* A line at a time, so that an error can name the line it is on. */
	while (cs.rc == SGT_OK && (more = next_line(&l, &line, &n)) > 0) {
		cs.line++;
		/* Spreadsheet exports often start with a UTF-8 byte order mark: it is not part of the first name. */
		if (cs.line == 1 && n >= 3 && memcmp(line, "\xef\xbb\xbf", 3) == 0) {
			line += 3;
			n -= 3;
		}
		if (!pending && plain_line(line, n, &body)) {
			const char *q = line, *end = line + body, *comma;

			if (body == 0)
				continue;	/* libcsv skips empty lines too */
			while ((comma = memchr(q, ',', (size_t)(end - q))) != NULL) {
				csv_field((void *)(uintptr_t)q, (size_t)(comma - q), &cs);
				q = comma + 1;
			}
			csv_field((void *)(uintptr_t)q, (size_t)(end - q), &cs);
			csv_row('\n', &cs);
			continue;
		}
		/* libcsv calls csv_row at the record's end: until then the record spans lines. */
		cs.pending = 1;
		if (csv_parse(&p, line, n, csv_field, csv_row, &cs) != n && cs.rc == SGT_OK)
			cs.rc = sgt_err(SGT_ERR_DATA, "%s:%zu: malformed CSV: %s (RFC 4180: a field with quotes, "
					"commas or line breaks is enclosed in double quotes, inner quotes doubled)",
					cs.path, cs.line, csv_strerror(csv_error(&p)));
		pending = cs.pending;
	}
	if (cs.rc == SGT_OK && more < 0)
		cs.rc = sgt_err(SGT_ERR_DATA, "cannot read device source '%s': %s", cs.path,
				ferror(l.fp) ? strerror(errno) : "out of memory");
	if (cs.rc == SGT_OK && csv_fini(&p, csv_field, csv_row, &cs) != 0 && cs.rc == SGT_OK)
		cs.rc = sgt_err(SGT_ERR_DATA, "%s:%zu: malformed CSV: %s (a quoted field is not closed)", cs.path,
				cs.row_line, csv_strerror(csv_error(&p)));
	if (cs.rc == SGT_OK && !cs.header_done)
		cs.rc = sgt_err(SGT_ERR_DATA, "%s: empty: a CSV device source starts with a header row", cs.path);
	rc = cs.rc;
	csv_free(&p);
	free(l.buf);
	fclose(l.fp);
	return rc;
}

/* -- JSON (JSON Lines and aws iot search-index) ------------------------------ */

struct json_state {
	struct sgt_fleet *f;
	const char *path;
	time_t cutoff;
	json_t *owned[8];	/* shadow documents parsed while following paths */
	size_t nowned;
};

/*
 * Follows a dotted path; a string met with segments left is parsed as
 * JSON, as AWS fleet indexing stores the shadow.  NULL when absent.
 */
static json_t *path_get(struct json_state *js, json_t *v, const char *path)
{
	char seg[FIELD_MAX];

	while (v != NULL && *path) {
		const char *dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);

		if (json_is_string(v)) {
			json_t *inner;

			if (js->nowned == sizeof(js->owned) / sizeof(js->owned[0]))
				return NULL;
			inner = json_loadb(json_string_value(v), json_string_length(v), 0, NULL);
			if (inner == NULL)
				return NULL;
			js->owned[js->nowned++] = inner;
			v = inner;
		}
		if (!json_is_object(v) || n >= sizeof(seg))
			return NULL;
		memcpy(seg, path, n);
		seg[n] = '\0';
		v = json_object_get(v, seg);
		path += n + (dot != NULL);
	}
	return v;
}

static void owned_release(struct json_state *js)
{
	while (js->nowned > 0)
		json_decref(js->owned[--js->nowned]);
}

/* Scalar text of v into out; 0, or -1 when v is not a scalar. */
static int scalar_text(json_t *v, char *out, size_t cap, size_t *len)
{
	int n;

	if (v == NULL || json_is_null(v))
		n = snprintf(out, cap, "%s", "");
	else if (json_is_string(v))
		n = snprintf(out, cap, "%s", json_string_value(v));
	else if (json_is_integer(v))
		n = snprintf(out, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else if (json_is_real(v))
		n = snprintf(out, cap, "%.17g", json_real_value(v));
	else
		return -1;
	*len = n < 0 ? 0 : (size_t)n >= cap ? cap - 1 : (size_t)n;
	return 0;
}

static int json_device(struct json_state *js, json_t *obj, size_t line)
{
	const struct sgt_fleet_source *src = &js->f->src;
	char build[FIELD_MAX], fleet[FIELD_MAX], seen[FIELD_MAX];
	size_t blen, flen, slen;
	int stale = 0, rc = SGT_OK;
	time_t t;

	if (!json_is_object(obj))
		return sgt_err(SGT_ERR_DATA, "%s:%zu: a device is a JSON object", js->path, line);
	if (scalar_text(path_get(js, obj, src->build_field), build, sizeof(build), &blen) != 0) {
		rc = sgt_err(SGT_ERR_DATA, "%s:%zu: field '%s' is not a string or number", js->path, line,
			     src->build_field);
		goto out;
	}
	if (src->fleet_field) {
		json_t *fv = path_get(js, obj, src->fleet_field);

		if (json_is_array(fv)) {
			/* A device in several groups (thingGroupNames) belongs to every fleet its list names. */
			int mine = 0, known = 0;
			json_t *e;
			size_t idx;

			json_array_foreach(fv, idx, e) {
				if (!json_is_string(e) || scalar_text(e, fleet, sizeof(fleet), &flen) != 0) {
					rc = sgt_err(SGT_ERR_DATA, "%s:%zu: field '%s' is a list holding something other than "
						     "strings", js->path, line, src->fleet_field);
					goto out;
				}
				if (strcmp(fleet, js->f->name) == 0)
					mine = 1;
				else if (names_fleet(src->inv, fleet, flen))
					known = 1;
			}
			if (!mine) {
				if (src->count_orphans && !known)
					js->f->orphans++;
				goto out;
			}
		} else if (scalar_text(fv, fleet, sizeof(fleet), &flen) != 0) {
			rc = sgt_err(SGT_ERR_DATA, "%s:%zu: field '%s' is not a string or a list of strings", js->path, line,
				     src->fleet_field);
			goto out;
		} else if (strcmp(fleet, js->f->name) != 0) {
			other_fleet(js->f, fleet, flen);
			goto out;
		}
	}
	if (src->last_seen_field) {
		if (scalar_text(path_get(js, obj, src->last_seen_field), seen, sizeof(seen), &slen) != 0 ||
		    (slen > 0 && sgt_fleet_parse_time(seen, slen, &t) != 0)) {
			rc = sgt_err(SGT_ERR_DATA, "%s:%zu: field '%s' is not an ISO 8601 time or epoch", js->path, line,
				     src->last_seen_field);
			goto out;
		}
		stale = slen == 0 || t < js->cutoff;
	}
	rc = sgt_fleet_tally(js->f, build, blen, 1, stale);
out:
	owned_release(js);
	return rc;
}

static int read_jsonl(struct sgt_fleet *f, time_t now)
{
	struct json_state js = { f, f->src.source, now - (time_t)f->src.stale_days * DAY, { NULL }, 0 };
	FILE *fp = fopen(js.path, "r");
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t n;
	int rc = SGT_OK;

	if (fp == NULL)
		return sgt_err(SGT_ERR_DATA, "cannot read device source '%s': %s", js.path, strerror(errno));
	while (rc == SGT_OK && (n = getline(&line, &cap, fp)) > 0) {
		json_error_t err;
		json_t *obj;

		lineno++;
		if (strspn(line, " \t\r\n") == (size_t)n)
			continue;
		if ((obj = json_loadb(line, (size_t)n, 0, &err)) == NULL) {
			rc = sgt_err(SGT_ERR_DATA, "%s:%zu: bad JSON: %s", js.path, lineno, err.text);
			break;
		}
		rc = json_device(&js, obj, lineno);
		json_decref(obj);
	}
	if (rc == SGT_OK && ferror(fp))
		rc = sgt_err(SGT_ERR_DATA, "cannot read device source '%s': %s", js.path, strerror(errno));
	free(line);
	fclose(fp);
	return rc;
}

/*
 * `aws iot search-index` pages: {"things":[{...},...],"nextToken":...}
 * concatenated, as a loop over --next-token appends them (the AWS CLI has
 * no paginator for search-index: one call writes one page).  A byte
 * scanner tracks strings and nesting; each element of a page's "things"
 * array is cut out and parsed alone, so a page of any size never sits in
 * memory.  Every page but the last has a nextToken: a last page with one
 * means the file holds part of the fleet, and a page after one without
 * means two exports, whose devices would be counted twice; both are
 * refused.
 */
struct aws_scan {
	struct json_state js;
	char stack[64];
	size_t depth;
	int in_str, esc;
	char key[16];		/* last string at depth 1 (truncated) */
	size_t klen;
	int key_done, after_colon;
	int in_things;		/* the '[' of "things" is stack[1] */
	struct sgt_buf thing;	/* bytes of the thing being cut out */
	int capturing;
	size_t thing_line, line;
	size_t pages, page_line;	/* pages ended so far; line where the current page began */
	int page_token;		/* the current page has a (non-null) nextToken */
	int last_token;		/* the last page ended had one */
};

static int aws_fail(struct aws_scan *a, const char *why)
{
	return sgt_err(SGT_ERR_DATA, "%s:%zu: not aws iot search-index output: %s", a->js.path, a->line, why);
}

static int aws_thing(struct aws_scan *a)
{
	json_error_t err;
	json_t *obj = json_loadb(a->thing.p, a->thing.len, 0, &err);
	int rc;

	if (obj == NULL)
		return sgt_err(SGT_ERR_DATA, "%s:%zu: bad JSON: %s", a->js.path, a->thing_line + (size_t)err.line - 1,
			       err.text);
	rc = json_device(&a->js, obj, a->thing_line);
	json_decref(obj);
	return rc;
}

static int aws_byte(struct aws_scan *a, char c)
{
	int rc;

	if (c == '\n')
		a->line++;
	if (a->capturing && sgt_buf_add(&a->thing, &c, 1) != SGT_OK)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	if (a->in_str) {
		if (a->esc)
			a->esc = 0;
		else if (c == '\\')
			a->esc = 1;
		else if (c == '"') {
			a->in_str = 0;
			if (a->depth == 1)
				a->key_done = 1;
		} else if (a->depth == 1 && a->klen < sizeof(a->key) - 1)
			a->key[a->klen++] = c;
		return SGT_OK;
	}
	switch (c) {
	case ' ': case '\t': case '\r': case '\n':
		return SGT_OK;
	case '"':
		if (a->depth == 0)
			return aws_fail(a, "expected a page object {\"things\":[...]}");
		if (a->depth == 2 && a->in_things)
			return aws_fail(a, "an element of \"things\" is not an object");
		a->in_str = 1;
		if (a->depth == 1 && a->after_colon && strcmp(a->key, "nextToken") == 0)
			a->page_token = 1;	/* a string; null means the last page */
		if (a->depth == 1 && !a->after_colon) {
			a->klen = 0;
			a->key_done = 0;
		}
		return SGT_OK;
	case ':':
		if (a->depth == 1) {
			a->key[a->klen] = '\0';
			a->after_colon = 1;
		}
		return SGT_OK;
	case ',':
		if (a->depth == 1)
			a->after_colon = 0;
		return SGT_OK;
	case '{': case '[':
		if (a->depth == 0 && c != '{')
			return aws_fail(a, "expected a page object {\"things\":[...]}");
		if (a->depth == sizeof(a->stack))
			return aws_fail(a, "nested too deeply");
		if (a->depth == 1 && c == '[' && a->after_colon && strcmp(a->key, "things") == 0)
			a->in_things = 1;
		if (a->depth == 0) {
			if (a->pages > 0 && !a->last_token)
				return sgt_err(SGT_ERR_DATA, "%s:%zu: two aws iot search-index exports in one file: page %zu "
					       "has no nextToken, so the export ended there, but another page follows (its "
					       "devices would be counted twice); keep one export, its pages in order",
					       a->js.path, a->line, a->pages);
			a->page_token = 0;
			a->page_line = a->line;
		}
		if (a->depth == 2 && a->in_things) {
			if (c != '{')
				return aws_fail(a, "an element of \"things\" is not an object");
			a->capturing = 1;
			a->thing.len = 0;
			a->thing_line = a->line;
			if (sgt_buf_add(&a->thing, &c, 1) != SGT_OK)
				return sgt_err(SGT_ERR_DATA, "out of memory");
		}
		a->stack[a->depth++] = c;
		if (a->depth == 1) {
			a->after_colon = 0;
			a->klen = 0;
		}
		return SGT_OK;
	case '}': case ']':
		if (a->depth == 0 || (c == '}') != (a->stack[a->depth - 1] == '{'))
			return aws_fail(a, "unbalanced brackets");
		a->depth--;
		if (a->depth == 2 && a->in_things && a->capturing) {
			a->capturing = 0;
			if ((rc = aws_thing(a)) != SGT_OK)
				return rc;
		}
		if (a->depth == 1) {
			a->in_things = 0;
			a->after_colon = 0;
		}
		if (a->depth == 0) {
			a->pages++;
			a->last_token = a->page_token;
		}
		return SGT_OK;
	default:
		if (a->depth == 0)
			return aws_fail(a, "expected a page object {\"things\":[...]}");
		if (a->depth == 2 && a->in_things)
			return aws_fail(a, "an element of \"things\" is not an object");
		return SGT_OK;
	}
}

static int read_aws(struct sgt_fleet *f, time_t now)
{
	struct aws_scan a;
	char buf[65536];
	FILE *fp;
	size_t n, i;
	int rc = SGT_OK;

	memset(&a, 0, sizeof(a));
	a.js.f = f;
	a.js.path = f->src.source;
	a.js.cutoff = now - (time_t)f->src.stale_days * DAY;
	a.line = 1;
	if ((fp = fopen(a.js.path, "r")) == NULL)
		return sgt_err(SGT_ERR_DATA, "cannot read device source '%s': %s", a.js.path, strerror(errno));
	while (rc == SGT_OK && (n = fread(buf, 1, sizeof(buf), fp)) > 0)
		for (i = 0; i < n && rc == SGT_OK; i++)
			rc = aws_byte(&a, buf[i]);
	if (rc == SGT_OK && ferror(fp))
		rc = sgt_err(SGT_ERR_DATA, "cannot read device source '%s': %s", a.js.path, strerror(errno));
	if (rc == SGT_OK && (a.depth != 0 || a.in_str))
		rc = aws_fail(&a, "the input ends inside a page (truncated?)");
	if (rc == SGT_OK && a.last_token)
		rc = sgt_err(SGT_ERR_DATA, "%s: incomplete aws iot search-index export: its last page (line %zu) has a "
			     "nextToken, so devices are missing; the AWS CLI does not follow it for search-index: export "
			     "every page, calling again with --next-token and appending, until a page has none "
			     "(docs/fleet.md)", a.js.path, a.page_line);
	sgt_buf_free(&a.thing);
	fclose(fp);
	return rc;
}

/* -- PostgreSQL --------------------------------------------------------------- */

/* libpq is loaded the first time a fleet reads PostgreSQL, not when signet starts (pqload.h). */
static const struct sgt_pq *pq;

#define PQconninfoParse pq->conninfoParse
#define PQconninfoFree pq->conninfoFree
#define PQfreemem pq->freemem
#define PQconnectdb pq->connectdb
#define PQstatus pq->status
#define PQerrorMessage pq->errorMessage
#define PQfinish pq->finish
#define PQexec pq->exec
#define PQresultStatus pq->resultStatus
#define PQresultErrorMessage pq->resultErrorMessage
#define PQnfields pq->nfields
#define PQntuples pq->ntuples
#define PQgetisnull pq->getisnull
#define PQgetvalue pq->getvalue
#define PQclear pq->clear

static int pq_load(const struct sgt_fleet *f)
{
	const char *why;
	int k;

	if (pq != NULL)
		return SGT_OK;
	if ((k = sgt_pq_load(&pq, &why)) == SGT_PQ_NOLIB)
		return sgt_err(SGT_ERR_DATA, "%s: fleet '%s': PostgreSQL sources need libpq (Debian package libpq5): %s",
			       f->src.where, f->name, why);
	if (k != 0)
		return sgt_err(SGT_ERR_DATA, "%s: fleet '%s': the libpq found lacks %s", f->src.where, f->name, why);
	return SGT_OK;
}

/* First line of a libpq message, without the trailing newline. */
static const char *pq_first_line(const char *msg, char *out, size_t cap)
{
	size_t n = strcspn(msg, "\n");

	snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), msg);
	return out;
}

/* "postgresql:DB@HOST" from the conninfo: what messages and metrics may show (never a password). */
static int pg_name(struct sgt_fleet *f)
{
	PQconninfoOption *opts, *o;
	const char *db = NULL, *host = NULL;
	struct sgt_buf b = { 0 };
	char *err = NULL;
	int rc;

	if ((rc = pq_load(f)) != SGT_OK)
		return rc;
	opts = PQconninfoParse(f->src.source, &err);
	PQfreemem(err);
	if (opts == NULL)
		return sgt_err(SGT_ERR_DATA, "%s: fleet '%s': the postgresql source is not a valid libpq connection string",
			       f->src.where, f->name);
	for (o = opts; o->keyword; o++) {
		if (strcmp(o->keyword, "dbname") == 0 && o->val && *o->val)
			db = o->val;
		if (strcmp(o->keyword, "host") == 0 && o->val && *o->val)
			host = o->val;
	}
	sgt_buf_printf(&b, "postgresql:%s%s%s", db ? db : "", host ? "@" : "", host ? host : "");
	PQconninfoFree(opts);
	if (b.p == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	free(f->src.name);
	f->src.name = b.p;
	return SGT_OK;
}

static int read_pg(struct sgt_fleet *f, time_t now)
{
	time_t cutoff = now - (time_t)f->src.stale_days * DAY;
	char msg[512];
	PGconn *conn;
	PGresult *res = NULL;
	int rc, i, rows;

	if ((rc = pg_name(f)) != SGT_OK)
		return rc;
	conn = PQconnectdb(f->src.source);
	if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
		rc = sgt_err(SGT_ERR_DATA, "fleet '%s': cannot connect to %s: %s", f->name, f->src.name,
			     conn ? pq_first_line(PQerrorMessage(conn), msg, sizeof(msg)) : "out of memory");
		PQfinish(conn);
		return rc;
	}
	res = PQexec(conn, f->src.query);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		rc = sgt_err(SGT_ERR_DATA, "%s: fleet '%s': the query failed on %s: %s", f->src.where, f->name,
			     f->src.name, pq_first_line(PQresultErrorMessage(res), msg, sizeof(msg)));
		goto out;
	}
	if (PQnfields(res) < 2 || PQnfields(res) > 3) {
		rc = sgt_err(SGT_ERR_DATA, "%s: fleet '%s': the query returns %d columns, not (build, devices[, last_seen])",
			     f->src.where, f->name, PQnfields(res));
		goto out;
	}
	rows = PQntuples(res);
	for (i = 0; i < rows && rc == SGT_OK; i++) {
		const char *build = PQgetisnull(res, i, 0) ? "" : PQgetvalue(res, i, 0);
		const char *count = PQgetvalue(res, i, 1);
		char *end;
		long n;
		int stale = 0;
		time_t t;

		errno = 0;
		n = strtol(count, &end, 10);
		if (PQgetisnull(res, i, 1) || errno || end == count || *end || n < 0) {
			rc = sgt_err(SGT_ERR_DATA, "%s: fleet '%s': row %d of the query: devices '%s' is not a count",
				     f->src.where, f->name, i + 1, count);
			break;
		}
		if (PQnfields(res) == 3) {
			const char *seen = PQgetvalue(res, i, 2);

			if (PQgetisnull(res, i, 2))
				stale = 1;
			else if (sgt_fleet_parse_time(seen, strlen(seen), &t) != 0) {
				rc = sgt_err(SGT_ERR_DATA, "%s: fleet '%s': row %d of the query: last_seen '%s' is not a time",
					     f->src.where, f->name, i + 1, seen);
				break;
			} else
				stale = t < cutoff;
		}
		rc = sgt_fleet_tally(f, build, strlen(build), n, stale);
	}
out:
	PQclear(res);
	PQfinish(conn);
	return rc;
}

/* -- dispatch -------------------------------------------------------------------- */

int sgt_fleet_source_read(struct sgt_fleet *f, time_t now)
{
	struct stat sb;
	size_t i;
	int rc;

	/* A source gives the population: counts written in the inventory no longer apply. */
	for (i = 0; i < f->nbuilds; i++)
		f->builds[i].devices = f->builds[i].stale = 0;
	f->orphans = 0;
	switch (f->src.format) {
	case SGT_FLEET_SRC_CSV:
		rc = read_csv(f, now);
		break;
	case SGT_FLEET_SRC_JSONL:
		rc = read_jsonl(f, now);
		break;
	case SGT_FLEET_SRC_AWS:
		rc = read_aws(f, now);
		break;
	case SGT_FLEET_SRC_PG:
		rc = read_pg(f, now);
		f->source_time = now;
		return rc;
	default:
		return SGT_OK;
	}
	if (rc == SGT_OK && stat(f->src.source, &sb) == 0)
		f->source_time = sb.st_mtime;
	return rc;
}

int sgt_fleet_count(struct sgt_inventory *inv, char **names, size_t nnames, time_t now)
{
	size_t i, j;
	int rc;

	for (i = 0; i < inv->n; i++) {
		struct sgt_fleet *f = &inv->fleets[i];
		int want = nnames == 0;

		/* Only the fleets asked for: another fleet's unreachable source must not block this report. */
		for (j = 0; j < nnames; j++)
			want |= strcmp(names[j], f->name) == 0;
		if (!want || !f->has_source)
			continue;
		f->src.inv = inv;
		f->src.count_orphans = f->src.fleet_field != NULL;
		for (j = 0; j < i && f->src.count_orphans; j++)
			if (inv->fleets[j].has_source && inv->fleets[j].src.fleet_field &&
			    strcmp(inv->fleets[j].src.source, f->src.source) == 0)
				f->src.count_orphans = 0;	/* an earlier fleet counts this source's strays */
		sgt_verbose("fleet '%s': reading devices from %s", f->name,
			    f->src.format == SGT_FLEET_SRC_PG ? "postgresql" : f->src.source);
		if ((rc = sgt_fleet_source_read(f, now)) != SGT_OK)
			return rc;
		if (f->orphans > 0)
			sgt_warn("%ld devices in %s name a fleet that is not in the inventory (field '%s'): they are not "
				 "judged", f->orphans, f->src.name ? f->src.name : f->src.source, f->src.fleet_field);
	}
	return SGT_OK;
}
