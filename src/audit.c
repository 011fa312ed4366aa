/*
 * audit.c: the hash-chained audit log.  A record is one compact JSON line
 * whose "prev" field is the SHA-256 (hex) of the previous line's bytes, so
 * changing, removing or reordering any line breaks the chain at the next
 * one; audit.head holds the hash of the last line, so cutting records off
 * the end is caught too.  Appends are fsync'ed before the head moves.
 * What it cannot stop: someone able to rewrite both files consistently;
 * copying audit.head elsewhere (a ticket, a build log) anchors it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"

static const char zero_hash[] =
	"0000000000000000000000000000000000000000000000000000000000000000";

/* The log split into lines (no newlines), pointing into buf. */
struct lines {
	unsigned char *buf;
	size_t len;
	char **line;
	size_t *linelen;
	size_t n;
	int unterminated;	/* last line lacks its newline */
};

static void lines_free(struct lines *l)
{
	free(l->buf);
	free(l->line);
	free(l->linelen);
	memset(l, 0, sizeof(*l));
}

static int lines_load(const char *path, struct lines *l)
{
	size_t i, start = 0;
	struct stat sb;
	int rc;

	memset(l, 0, sizeof(*l));
	if (stat(path, &sb) != 0 && errno == ENOENT)
		return SGT_OK;
	if ((rc = sgt_file_read(path, (size_t)1 << 31, &l->buf, &l->len)) != SGT_OK)
		return rc;
	for (i = 0; i <= l->len; i++) {
		if (i < l->len && l->buf[i] != '\n')
			continue;
		if (i == l->len && start == l->len)
			break;
		if (i == l->len)
			l->unterminated = 1;
		{
			char **ln = realloc(l->line, (l->n + 1) * sizeof(*ln));
			size_t *ll = realloc(l->linelen, (l->n + 1) * sizeof(*ll));

			if (ln != NULL)
				l->line = ln;
			if (ll != NULL)
				l->linelen = ll;
			if (ln == NULL || ll == NULL) {
				lines_free(l);
				return sgt_err(SGT_ERR_DATA, "out of memory");
			}
		}
		l->line[l->n] = (char *)l->buf + start;
		l->linelen[l->n] = i - start;
		l->n++;
		start = i + 1;
	}
	return SGT_OK;
}

static int read_head(const char *path, char out[65], int *present)
{
	unsigned char *buf;
	size_t len;
	struct stat sb;
	int rc;

	*present = 0;
	out[0] = '\0';
	if (stat(path, &sb) != 0 && errno == ENOENT)
		return SGT_OK;
	if ((rc = sgt_file_read(path, 4096, &buf, &len)) != SGT_OK)
		return rc;
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
		len--;
	*present = 1;
	snprintf(out, 65, "%.*s", (int)(len > 64 ? 64 : len), buf);
	if (len != 64)
		out[0] = '?';	/* cannot match any hash */
	free(buf);
	return SGT_OK;
}

/*
 * The last line of the log without reading all of it, so that appending
 * stays constant-time however long the log grows.  *line is malloc'd
 * (NULL for an empty or missing log).
 */
static int last_line(const char *path, char **line, size_t *len, int *unterminated)
{
	size_t chunk = 65536;
	struct stat sb;
	FILE *f;
	int rc = SGT_OK;

	*line = NULL;
	*len = 0;
	*unterminated = 0;
	if ((f = fopen(path, "rb")) == NULL)
		return errno == ENOENT ? SGT_OK : sgt_err(SGT_ERR_DATA, "cannot read '%s': %s", path, strerror(errno));
	if (fstat(fileno(f), &sb) != 0 || sb.st_size == 0)
		goto out;
	for (;;) {
		size_t n = (size_t)sb.st_size < chunk ? (size_t)sb.st_size : chunk;
		char *buf = malloc(n + 1), *end, *start;

		if (buf == NULL) {
			rc = sgt_err(SGT_ERR_DATA, "out of memory");
			break;
		}
		if (fseeko(f, sb.st_size - (off_t)n, SEEK_SET) != 0 || fread(buf, 1, n, f) != n) {
			free(buf);
			rc = sgt_err(SGT_ERR_DATA, "cannot read '%s': %s", path, strerror(errno));
			break;
		}
		end = buf + n;
		if (end[-1] == '\n')
			end--;
		else
			*unterminated = 1;
		for (start = end; start > buf && start[-1] != '\n'; start--)
			;
		if (start == buf && n < (size_t)sb.st_size) {
			free(buf);	/* a line longer than the chunk: read more */
			chunk *= 4;
			continue;
		}
		*len = (size_t)(end - start);
		memmove(buf, start, *len);
		buf[*len] = '\0';
		*line = buf;
		break;
	}
out:
	fclose(f);
	return rc;
}

int sgt_audit_append(const struct sgt_store *st, const char *op, const char *label,
		     const char *spki_sha256, const char *result, json_t *details)
{
	char *logpath = sgt_store_path(st, "audit.log");
	char *headpath = sgt_store_path(st, "audit.head");
	char prev[65], head[65], now[32], hash[65];
	json_t *rec = NULL, *lastrec = NULL;
	char *line = NULL, *last = NULL;
	size_t lastlen = 0;
	json_int_t seq = 1;
	off_t oldsize = 0;
	int fd = -1, present, unterminated, rc;

	if (logpath == NULL || headpath == NULL) {
		rc = SGT_ERR_DATA;
		goto out;
	}
	if ((rc = last_line(logpath, &last, &lastlen, &unterminated)) != SGT_OK ||
	    (rc = read_head(headpath, head, &present)) != SGT_OK)
		goto out;
	if (last != NULL) {
		json_error_t jerr;

		sgt_sha256_hex(last, lastlen, prev);
		lastrec = json_loadb(last, lastlen, 0, &jerr);
		seq = json_integer_value(json_object_get(lastrec, "seq")) + 1;
	} else {
		strcpy(prev, zero_hash);
	}
	/* Never extend a chain that is already broken at its end: that would hide it. */
	if (unterminated || (last != NULL && seq < 2) || (present ? strcmp(head, prev) != 0 : last != NULL)) {
		rc = sgt_err(SGT_ERR_DATA, "audit log '%s' does not end where '%s' says; refusing to add to it", logpath, headpath);
		sgt_hint("run 'signet audit verify' to see what changed");
		goto out;
	}
	sgt_time_iso(sgt_now(), now);
	rec = json_pack("{s:I, s:s, s:s, s:s?, s:s?, s:s, s:O?, s:s}",
			"seq", seq, "time", now, "op", op, "label", label,
			"spki_sha256", spki_sha256, "result", result ? result : "ok", "details", details,
			"prev", prev);
	/* The SIGNET_NOW test clock must never pass for the real one in the record. */
	if (rec != NULL && sgt_now() != time(NULL) && getenv("SIGNET_NOW") != NULL) {
		char real[32];

		sgt_time_iso(time(NULL), real);
		json_object_set_new(rec, "real_time", json_string(real));
	}
	if (rec == NULL || (line = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "cannot encode the audit record");
		goto out;
	}
	fd = open(logpath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = sgt_err(SGT_ERR_DATA, "cannot open audit log '%s': %s", logpath, strerror(errno));
		goto out;
	}
	oldsize = lseek(fd, 0, SEEK_END);
	{
		size_t n = strlen(line);

		line[n] = '\n';	/* json_dumps' NUL becomes the newline; written length n + 1 */
		if (write(fd, line, n + 1) != (ssize_t)(n + 1) || fsync(fd) != 0) {
			rc = sgt_err(SGT_ERR_DATA, "cannot write audit log '%s': %s", logpath, strerror(errno));
			if (ftruncate(fd, oldsize) != 0)
				sgt_warn("could not undo a partial write to '%s'", logpath);
			goto out;
		}
		sgt_sha256_hex(line, n, hash);
	}
	hash[64] = '\n';
	if ((rc = sgt_atomic_write(headpath, hash, 65, 0)) != SGT_OK) {
		/* Keep log and head consistent: the record did not happen. */
		if (ftruncate(fd, oldsize) != 0 || fsync(fd) != 0)
			sgt_warn("could not remove the unconfirmed record from '%s'", logpath);
	}
out:
	if (fd >= 0)
		close(fd);
	free(line);
	free(last);
	json_decref(rec);
	json_decref(lastrec);
	free(logpath);
	free(headpath);
	return rc;
}

static int bad(struct sgt_audit_result *res, size_t line, const char *why)
{
	res->bad = line;
	snprintf(res->why, sizeof(res->why), "%s", why);
	return SGT_ERR_VERDICT;
}

int sgt_audit_verify(const struct sgt_store *st, struct sgt_audit_result *res)
{
	char *logpath = sgt_store_path(st, "audit.log");
	char *headpath = sgt_store_path(st, "audit.head");
	char expect[65], head[65];
	struct lines l;
	size_t i;
	int present, rc;

	memset(res, 0, sizeof(*res));
	memset(&l, 0, sizeof(l));
	if (logpath == NULL || headpath == NULL) {
		rc = SGT_ERR_DATA;
		goto out;
	}
	if ((rc = lines_load(logpath, &l)) != SGT_OK || (rc = read_head(headpath, head, &present)) != SGT_OK)
		goto out;
	res->records = l.n;
	strcpy(expect, zero_hash);
	for (i = 0; i < l.n; i++) {
		json_error_t jerr;
		json_t *rec = json_loadb(l.line[i], l.linelen[i], 0, &jerr);
		const char *prev = json_string_value(json_object_get(rec, "prev"));
		json_int_t seq = json_integer_value(json_object_get(rec, "seq"));
		char why[200];

		if (rec == NULL || prev == NULL) {
			json_decref(rec);
			rc = bad(res, i + 1, "not a well-formed audit record (edited or damaged)");
			goto out;
		}
		if (strcmp(prev, expect) != 0) {
			json_decref(rec);
			rc = bad(res, i + 1, i == 0
				 ? "the first record does not start the chain: records before it were removed"
				 : "its prev hash does not match the record before it: that record was modified, or records were removed or reordered");
			goto out;
		}
		if (seq != (json_int_t)(i + 1)) {
			snprintf(why, sizeof(why), "it is numbered %lld but is record %zu: records were removed or reordered",
				 (long long)seq, i + 1);
			json_decref(rec);
			rc = bad(res, i + 1, why);
			goto out;
		}
		json_decref(rec);
		sgt_sha256_hex(l.line[i], l.linelen[i], expect);
	}
	if (l.unterminated)
		rc = bad(res, l.n, "the last record is incomplete (an interrupted write or a truncated file)");
	else if (!present && l.n > 0)
		rc = bad(res, l.n, "audit.head is missing, so the end of the log cannot be confirmed");
	else if (present && strcmp(head, expect) != 0)
		rc = bad(res, l.n ? l.n : 1, l.n == 0
			 ? "audit.head names a record but the log is empty: the log was truncated"
			 : "audit.head does not match the last record: the last record was modified or records were cut off the end");
	else
		rc = SGT_OK;
out:
	lines_free(&l);
	free(logpath);
	free(headpath);
	return rc;
}

int sgt_audit_read(const struct sgt_store *st, time_t since, json_t **out)
{
	char *logpath = sgt_store_path(st, "audit.log");
	json_t *arr = json_array();
	struct lines l;
	size_t i;
	int rc;

	*out = NULL;
	if (logpath == NULL || arr == NULL) {
		free(logpath);
		json_decref(arr);
		return sgt_err(SGT_ERR_DATA, "out of memory");
	}
	if ((rc = lines_load(logpath, &l)) != SGT_OK)
		goto out;
	for (i = 0; i < l.n; i++) {
		json_error_t jerr;
		json_t *rec = json_loadb(l.line[i], l.linelen[i], 0, &jerr);
		const char *ts = json_string_value(json_object_get(rec, "time"));
		time_t t;

		if (rec == NULL || ts == NULL || sgt_time_parse(ts, &t) != 0) {
			json_decref(rec);
			rc = sgt_err(SGT_ERR_DATA, "%s:%zu: not an audit record", logpath, i + 1);
			sgt_hint("run 'signet audit verify'");
			goto out;
		}
		if (t >= since)
			json_array_append_new(arr, rec);
		else
			json_decref(rec);
	}
	*out = arr;
	arr = NULL;
out:
	json_decref(arr);
	lines_free(&l);
	free(logpath);
	return rc;
}
