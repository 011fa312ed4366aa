/*
 * intent.c: staged writes, the intent record and recovery after an
 * interrupted command (see intent.h for the protocol).  It writes files
 * and reads the audit log; the only token work it does is destroying a key
 * pair that an interrupted generation left without a record.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "anchor.h"
#include "audit.h"
#include "hsmguard.h"
#include "intent.h"
#include "keyrec.h"
#include "p11.h"
#include "session.h"
#include "tx.h"

/* Far beyond any batch; only keeps the array's size from overflowing. */
#define MAX_STAGED ((size_t)1 << 24)

struct staged {
	char *final;
	char *tmp;
	int exclusive;
	int synced;		/* durable, with its directory entry */
	int claimed;		/* named by an audit record being written */
	int committed;		/* that record is on disk */
	int published;
};

static struct {
	int open;
	char id[33];
	char *path;		/* <store>/intents/<id>.json */
	int lock_fd;		/* flock()ed while this process lives: recovery leaves a live intent alone */
	struct staged *v;
	size_t n, cap;
} in;

const char *sgt_intent_nonce(void)
{
	return in.open ? in.id : NULL;
}

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

int sgt_intent_begin(const struct sgt_store *st, const char *op, const char *label, const char *key_id,
		     const char *const *outputs, size_t noutputs)
{
	unsigned char raw[16];
	long long seq = 0;
	json_t *j = NULL, *jd;
	char *text = NULL, now[32];
	size_t i;
	int rc;

	if (in.open)
		return sgt_err(SGT_ERR_DATA, "internal error: an intent is already open");
	if ((rc = sgt_random(raw, sizeof(raw))) != SGT_OK || (rc = sgt_audit_last_seq(st, &seq)) != SGT_OK)
		return rc;
	sgt_hex(raw, sizeof(raw), in.id);
	sgt_time_iso(time(NULL), now);
	/* Recovery sweeps the directories the outputs go to, each named once. */
	jd = json_array();
	for (i = 0; jd != NULL && i < noutputs; i++) {
		char abs[PATH_MAX], *d = outputs[i] ? dir_of(outputs[i]) : NULL;
		const char *name = d && realpath(d, abs) ? abs : d;
		size_t k;
		json_t *v;
		int seen = 0;

		json_array_foreach(jd, k, v)
			seen |= name != NULL && strcmp(json_string_value(v), name) == 0;
		if (name != NULL && !seen)
			json_array_append_new(jd, json_string(name));
		free(d);
	}
	j = json_pack("{s:s, s:s, s:s?, s:s?, s:o, s:I, s:s, s:i}", "id", in.id, "op", op, "label", label,
		      "key_id", key_id, "dirs", jd, "audit_seq", (json_int_t)seq, "started", now, "pid", (int)getpid());
	/* The token's objects before a key is made: whatever appears after it is this command's. */
	if (j != NULL && key_id != NULL) {
		json_t *objs = NULL;

		if ((rc = sgt_hsm_objects(st, &objs)) != SGT_OK) {
			json_decref(j);
			return rc;
		}
		if (objs != NULL)
			json_object_set_new(j, "token_objects", objs);
	}
	if (j == NULL || (text = json_dumps(j, JSON_COMPACT)) == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	{
		struct sgt_buf b = { 0 };

		if (sgt_buf_printf(&b, "%s/intents/%s.json", st->dir, in.id) != SGT_OK) {
			rc = SGT_ERR_DATA;
			goto out;
		}
		in.path = b.p;
	}
	if ((rc = sgt_atomic_write(in.path, text, strlen(text), 1)) != SGT_OK)
		goto out;
	/* Held until the intent ends: while it is, this command is alive and its intent is not a leftover. */
	if ((in.lock_fd = open(in.path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0 || flock(in.lock_fd, LOCK_EX) != 0) {
		rc = sgt_err(SGT_ERR_DATA, "cannot lock '%s': %s", in.path, strerror(errno));
		if (in.lock_fd >= 0)
			close(in.lock_fd);
		in.lock_fd = -1;
		unlink(in.path);
		goto out;
	}
	in.open = 1;
out:
	if (rc != SGT_OK) {
		free(in.path);
		in.path = NULL;
	}
	json_decref(j);
	free(text);
	return rc;
}

/*
 * A staged file: its name is already temporary; sgt_intent_sync_staged makes
 * it durable with the others.  mode: a user output's (0: a store file, 0600).
 */
static int write_unsynced(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd, e;

	sgt_sig_hold();
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 && errno == ENOENT) {
		/* a store directory made on first use (certs/<label>/, ...); outputs were checked to have theirs */
		char *d = dir_of(path);

		if (d != NULL && sgt_mkdirs(d) == SGT_OK)
			fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
		free(d);
	}
	if (fd < 0) {
		sgt_sig_release();
		return sgt_err(SGT_ERR_DATA, "cannot create '%s': %s", path, strerror(errno));
	}
	if (mode != 0 && fchmod(fd, mode) != 0) {
		int rc = sgt_err(SGT_ERR_DATA, "cannot set the mode of '%s': %s", path, strerror(errno));

		close(fd);
		unlink(path);
		sgt_sig_release();
		return rc;
	}
	if ((e = sgt_write_all(fd, data, len)) != 0) {
		int rc = sgt_err(SGT_ERR_DATA, "cannot write '%s': %s", path, strerror(e));

		close(fd);
		unlink(path);
		sgt_sig_release();
		return rc;
	}
	close(fd);
	sgt_sig_release();
	return SGT_OK;
}

static int put(const char *path, const void *data, size_t len, int exclusive, mode_t mode)
{
	struct staged *s;
	struct stat sb;
	int rc;

	/* a device node or FIFO named as output is written through, never staged and renamed over */
	if (!exclusive && sgt_out_special(path))
		return sgt_out_write(path, data, len);
	if (!in.open)
		return mode != 0 && !exclusive ? sgt_out_write(path, data, len) : sgt_atomic_write(path, data, len, exclusive);
	if (exclusive && lstat(path, &sb) == 0)
		return sgt_err(SGT_ERR_DATA, "'%s' already exists; not replacing it", path);
	if (in.n == in.cap) {
		size_t cap = in.cap ? in.cap * 2 : 8;
		struct staged *v;

		if (cap > MAX_STAGED || (v = realloc(in.v, cap * sizeof(*v))) == NULL)
			return sgt_err(SGT_ERR_DATA, "out of memory");
		in.v = v;
		in.cap = cap;
	}
	s = &in.v[in.n];
	memset(s, 0, sizeof(*s));
	if ((s->final = strdup(path)) == NULL || (s->tmp = malloc(strlen(path) + 48)) == NULL) {
		free(s->final);
		return sgt_err(SGT_ERR_DATA, "out of memory");
	}
	sprintf(s->tmp, "%s.signet-%s.tmp", path, in.id);
	s->exclusive = exclusive;
	if ((rc = write_unsynced(s->tmp, data, len, mode)) != SGT_OK) {
		free(s->final);
		free(s->tmp);
		return rc;
	}
	in.n++;
	return SGT_OK;
}

int sgt_put(const char *path, const void *data, size_t len, int exclusive)
{
	return put(path, data, len, exclusive, 0);
}

int sgt_put_out(const char *path, const void *data, size_t len)
{
	return put(path, data, len, 0, (mode_t)(0666 & ~sgt_user_umask));
}

json_t *sgt_intent_take_staged(void)
{
	json_t *files = json_array();
	size_t i;

	for (i = 0; i < in.n; i++) {
		if (in.v[i].claimed || in.v[i].committed)
			continue;
		json_array_append_new(files, json_string(in.v[i].final));
		in.v[i].claimed = 1;
	}
	return json_pack("{s:s, s:o}", "id", in.id, "files", files);
}

json_t *sgt_intent_claim(const char *const *finals, size_t n)
{
	json_t *files = json_array();
	size_t i, j;

	/* From the newest: a batch claims the files it has just staged, so this stays linear in the batch. */
	for (j = 0; j < n; j++)
		for (i = in.n; i-- > 0;)
			if (finals[j] != NULL && !in.v[i].claimed && !in.v[i].committed && strcmp(in.v[i].final, finals[j]) == 0) {
				json_array_append_new(files, json_string(in.v[i].final));
				in.v[i].claimed = 1;
				break;
			}
	return json_pack("{s:s, s:o}", "id", in.id, "files", files);
}

void sgt_intent_recorded(int ok)
{
	size_t i;

	for (i = 0; i < in.n; i++) {
		if (!in.v[i].claimed)
			continue;
		in.v[i].claimed = 0;
		in.v[i].committed = ok;
	}
}

/* Few staged files are each fsync'ed; more than this, their file systems are synced whole. */
#define SYNC_EACH_MAX 8

/* Adds d (taken) to the set dirs[*n] unless it is there; frees it then. */
static void dir_set_add(char **dirs, size_t *n, char *d)
{
	size_t j;

	for (j = 0; j < *n && strcmp(dirs[j], d) != 0; j++)
		;
	if (j < *n)
		free(d);
	else
		dirs[(*n)++] = d;
}

int sgt_intent_sync_staged(void)
{
	char **dirs = NULL;
	size_t i, j, nd = 0, todo = 0;
	dev_t synced[8];
	size_t ns = 0;
	int rc = SGT_OK;

	for (i = 0; i < in.n; i++)
		todo += !in.v[i].synced && in.v[i].tmp != NULL;
	if (todo == 0)
		return SGT_OK;
	if ((dirs = calloc(in.n, sizeof(*dirs))) == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	for (i = 0; i < in.n && rc == SGT_OK; i++) {
		struct staged *s = &in.v[i];
		struct stat sb;
		int fd;
		char *d;

		if (s->synced || s->tmp == NULL)
			continue;
		if (todo <= SYNC_EACH_MAX) {
			if ((fd = open(s->tmp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0 || fsync(fd) != 0)
				rc = sgt_err(SGT_ERR_DATA, "cannot sync '%s': %s", s->tmp, strerror(errno));
			else if ((d = dir_of(s->tmp)) != NULL)
				dir_set_add(dirs, &nd, d);
			if (fd >= 0)
				close(fd);
		} else if (lstat(s->tmp, &sb) != 0) {
			rc = sgt_err(SGT_ERR_DATA, "cannot sync '%s': %s", s->tmp, strerror(errno));
		} else {
			for (j = 0; j < ns && synced[j] != sb.st_dev; j++)
				;
			/* one syncfs covers every file and directory entry on that file system */
			if (j == ns) {
				if ((fd = open(s->tmp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0 || syncfs(fd) != 0)
					rc = sgt_err(SGT_ERR_DATA, "cannot sync '%s': %s", s->tmp, strerror(errno));
				else if (ns < sizeof(synced) / sizeof(synced[0]))
					synced[ns++] = sb.st_dev;
				if (fd >= 0)
					close(fd);
			}
		}
		s->synced = rc == SGT_OK;
	}
	for (j = 0; j < nd; j++) {
		if (rc == SGT_OK && sgt_fsync_dir(dirs[j]) != SGT_OK)
			rc = SGT_ERR_DATA;
		free(dirs[j]);
	}
	free(dirs);
	return rc;
}

/* Puts one staged file in place; link() for files that must never be replaced. */
static int place(const char *tmp, const char *final, int exclusive)
{
	if (exclusive) {
		if (link(tmp, final) != 0 && errno != EEXIST)
			return sgt_err(SGT_ERR_DATA, "cannot create '%s': %s", final, strerror(errno));
		unlink(tmp);
		return SGT_OK;
	}
	if (rename(tmp, final) != 0)
		return sgt_err(SGT_ERR_DATA, "cannot put '%s' in place: %s", final, strerror(errno));
	return SGT_OK;
}

int sgt_intent_publish(void)
{
	char **dirs = NULL;
	size_t i, j, nd = 0;
	int rc = SGT_OK;

	sgt_sig_hold();
	if (in.n > 0 && (dirs = calloc(in.n, sizeof(*dirs))) == NULL) {
		sgt_sig_release();
		return sgt_err(SGT_ERR_DATA, "out of memory");
	}
	for (i = 0; i < in.n; i++) {
		struct staged *s = &in.v[i];
		char *d;

		if (!s->committed || s->published)
			continue;
		if (place(s->tmp, s->final, s->exclusive) != SGT_OK) {
			rc = SGT_ERR_DATA;
			continue;
		}
		s->published = 1;
		free(s->tmp);
		s->tmp = NULL;
		/* One sync per directory, not per file. */
		if ((d = dir_of(s->final)) != NULL)
			dir_set_add(dirs, &nd, d);
	}
	for (j = 0; j < nd; j++) {
		if (sgt_fsync_dir(dirs[j]) != SGT_OK)
			rc = SGT_ERR_DATA;
		free(dirs[j]);
	}
	free(dirs);
	sgt_sig_release();
	return rc;
}

void sgt_intent_discard(void)
{
	size_t i;

	for (i = 0; i < in.n; i++) {
		if (in.v[i].committed || in.v[i].claimed || in.v[i].tmp == NULL)
			continue;
		sgt_store_unlink(in.v[i].tmp);
		free(in.v[i].tmp);
		in.v[i].tmp = NULL;
		in.v[i].committed = 1;
		in.v[i].published = 1;	/* nothing more to do with it */
	}
}

static void intent_close(void)
{
	size_t i;

	for (i = 0; i < in.n; i++) {
		free(in.v[i].final);
		free(in.v[i].tmp);
	}
	free(in.v);
	free(in.path);
	if (in.lock_fd > 0)
		close(in.lock_fd);
	memset(&in, 0, sizeof(in));
}

int sgt_intent_end(const struct sgt_store *st)
{
	int rc;

	if (!in.open)
		return SGT_OK;
	sgt_intent_discard();
	rc = sgt_intent_publish();
	/*
	 * A file that could not be put in place stays staged: recovery
	 * completes it.  The intent's removal is not synced: the files are in
	 * place (their directories synced above), so an intent that a power
	 * cut brings back finds its records and nothing left to do, as after a
	 * kill just before the unlink (docs/store.md).
	 */
	if (rc == SGT_OK)
		sgt_store_unlink(in.path);
	(void)st;
	intent_close();
	return rc;
}

void sgt_intent_abort(const struct sgt_store *st)
{
	if (!in.open)
		return;
	sgt_intent_discard();
	/* Committed ones have their record: put them in place rather than lose them. */
	(void)sgt_intent_end(st);
}

void sgt_intent_leave(void)
{
	if (!in.open)
		return;
	sgt_intent_discard();
	intent_close();	/* the intent file stays: the next command's recovery finishes the job */
}

/* ---- recovery ---- */

static int is_atomic_tmp(const char *name)
{
	size_t n = strlen(name);

	/* sgt_atomic_write's mkstemp names: "<file>.tmpXXXXXX" */
	return n > 10 && memcmp(name + n - 10, ".tmp", 4) == 0;
}

/* "<file>.signet-<id>.tmp", or the temporary of its own atomic write ("...tmp.tmpXXXXXX"). */
static int is_stage_tmp(const char *name, const char *id)
{
	const char *p = strstr(name, ".signet-"), *rest;

	if (p == NULL || strlen(p) < 8 + 32 + 4)
		return 0;
	if (id != NULL && strncmp(p + 8, id, 32) != 0)
		return 0;
	rest = p + 8 + 32;
	return strcmp(rest, ".tmp") == 0 || (strncmp(rest, ".tmp.tmp", 8) == 0 && strlen(rest) == 14);
}

/*
 * Intents of commands that are still running (their files must stay); more
 * than fit: all staged files stay.  One per sgt_intent_recover call.
 */
struct live {
	char id[64][33];
	size_t n;
	int overflow;
};

static int is_live(const struct live *lv, const char *name)
{
	const char *p = strstr(name, ".signet-");
	size_t i;

	if (p != NULL && lv->overflow)
		return 1;
	for (i = 0; p != NULL && i < lv->n; i++)
		if (strncmp(p + 8, lv->id[i], 32) == 0)
			return 1;
	return 0;
}

/* Removes leftovers in dir (and below it, for the store), never following symlinks. */
static void sweep(const struct live *lv, const char *dir, const char *id, int depth, int *removed)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		char path[PATH_MAX];
		struct stat sb;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path) || lstat(path, &sb) != 0)
			continue;
		if (S_ISDIR(sb.st_mode)) {
			/* SoftHSM2's own files are the token guard's business. */
			if (depth > 0 && strcmp(de->d_name, "tokens") != 0 && strcmp(de->d_name, "quarantine") != 0)
				sweep(lv, path, id, depth - 1, removed);
			continue;
		}
		if (!S_ISREG(sb.st_mode))
			continue;
		if (is_live(lv, de->d_name))
			continue;
		if ((depth >= 0 && is_atomic_tmp(de->d_name)) || is_stage_tmp(de->d_name, id)) {
			if (unlink(path) == 0)
				(*removed)++;
		}
	}
	closedir(d);
}

struct scan {
	const char *id;
	long long after;
	json_t *files;	/* committed files */
	int records;
};

static int scan_rec(void *ctx, json_t *rec)
{
	struct scan *s = ctx;
	json_t *it = json_object_get(rec, "intent");
	const char *id = json_string_value(json_object_get(it, "id"));

	if (json_integer_value(json_object_get(rec, "seq")) <= s->after || id == NULL || strcmp(id, s->id) != 0)
		return SGT_OK;
	s->records++;
	json_array_extend(s->files, json_object_get(it, "files"));
	return SGT_OK;
}

/* A key pair generated under the intent but never recorded: destroyed, unless a record names it. */
static int destroy_orphan(const struct sgt_store *st, const struct sgt_pin_opts *opts, const char *key_id,
			  json_t *known, json_t *report)
{
	struct sgt_pin_opts none = SGT_PIN_OPTS_INIT;
	struct sgt_keyrec *recs = NULL;
	unsigned char id[64];
	long idlen = sgt_unhex(key_id, id, sizeof(id));
	size_t nrec = 0, i, destroyed = 0;
	CK_OBJECT_CLASS cls[2] = { CKO_PRIVATE_KEY, CKO_PUBLIC_KEY };
	struct sgt_p11 p;
	int rc, c;

	memset(&p, 0, sizeof(p));
	if (idlen <= 0)
		return SGT_OK;
	if ((rc = sgt_keyrec_list(st, &recs, &nrec)) != SGT_OK)
		return rc;
	for (i = 0; i < nrec; i++)
		if (strcmp(recs[i].id, key_id) == 0) {
			free(recs);
			return SGT_OK;	/* recorded after all: it is a key in custody */
		}
	free(recs);
	if ((rc = sgt_session_open(&p, st, opts ? opts : &none, SGT_SESSION_RW | SGT_SESSION_LOGIN | SGT_SESSION_NO_ANCHOR, NULL)) != SGT_OK)
		goto out;
	for (c = 0; c < 2 && rc == SGT_OK; c++) {
		struct sgt_p11_obj *objs = NULL;
		size_t n = 0;

		if ((rc = sgt_p11_find(&p, cls[c], id, (size_t)idlen, &objs, &n)) != SGT_OK)
			break;
		for (i = 0; i < n && rc == SGT_OK; i++)
			if ((rc = sgt_p11_destroy(&p, objs[i].h)) == SGT_OK)
				destroyed++;
		free(objs);
	}
	json_object_set_new(report, "key_objects_destroyed", json_integer((json_int_t)destroyed));
out:
	sgt_session_close(&p);
	/* Objects the module had not finished (no CKA_ID yet) are found by their files. */
	if (rc == SGT_OK && known != NULL) {
		int moved = 0;

		if ((rc = sgt_hsm_quarantine_new(st, known, &moved)) == SGT_OK && moved > 0)
			json_object_set_new(report, "token_files_quarantined", json_integer(moved));
		/* rc 1: another process uses the token; this intent waits for a later command. */
	}
	return rc;
}

/* One intent left by a command that is gone: complete or roll back what it did. */
static int recover_one(const struct live *lv, const struct sgt_store *st, const struct sgt_pin_opts *opts, char *path)
{
	json_t *j = NULL, *report = NULL, *done = NULL, *dirs;
	json_error_t jerr;
	struct scan sc;
	struct stat sb;
	const char *id, *op, *label, *key_id;
	size_t i;
	int rc = SGT_OK, removed = 0;

	memset(&sc, 0, sizeof(sc));
	if ((j = json_load_file(path, 0, &jerr)) == NULL || (id = json_string_value(json_object_get(j, "id"))) == NULL ||
	    strlen(id) != 32) {
		/* An intent file cut short was never acted on: nothing was staged under it. */
		sgt_store_unlink(path);
		fprintf(stderr, "signet: recovered: removed an incomplete intent record '%s'\n", path);
		goto out;
	}
	op = json_string_value(json_object_get(j, "op"));
	label = json_string_value(json_object_get(j, "label"));
	key_id = json_string_value(json_object_get(j, "key_id"));
	sc.id = id;
	sc.after = json_integer_value(json_object_get(j, "audit_seq"));
	sc.files = json_array();
	report = json_pack("{s:s, s:s?, s:s}", "interrupted", op ? op : "?", "intent", id, "started",
			   json_string_value(json_object_get(j, "started")) ? json_string_value(json_object_get(j, "started")) : "?");
	done = json_array();
	if (sc.files == NULL || report == NULL || done == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	if ((rc = sgt_audit_foreach(st, 0, scan_rec, &sc)) != SGT_OK)
		goto out;
	/* Committed: the record is durable, so the files it names are put in place. */
	for (i = 0; i < json_array_size(sc.files); i++) {
		const char *final = json_string_value(json_array_get(sc.files, i));
		char tmp[PATH_MAX];

		if (final == NULL || snprintf(tmp, sizeof(tmp), "%s.signet-%s.tmp", final, id) >= (int)sizeof(tmp))
			continue;
		if (lstat(tmp, &sb) == 0 && place(tmp, final, 0) == SGT_OK) {
			char *d = dir_of(final);

			if (d != NULL)
				sgt_fsync_dir(d);
			free(d);
			json_array_append_new(done, json_string(final));
		}
	}
	json_object_set_new(report, "completed", done);
	done = NULL;
	/* Not committed: staged files go. */
	sweep(lv, st->dir, id, 3, &removed);
	dirs = json_object_get(j, "dirs");
	for (i = 0; i < json_array_size(dirs); i++)
		if (json_string_value(json_array_get(dirs, i)) != NULL)
			sweep(lv, json_string_value(json_array_get(dirs, i)), id, -1, &removed);
	json_object_set_new(report, "staged_files_removed", json_integer(removed));
	if (key_id != NULL && sc.records == 0 &&
	    (rc = destroy_orphan(st, opts, key_id, json_object_get(j, "token_objects"), report)) != SGT_OK) {
		if (rc > 0) {
			fprintf(stderr, "signet: an interrupted '%s' is rolled back once no other signet process uses the token\n",
				op ? op : "?");
			rc = SGT_OK;
		} else {
			sgt_err(rc, "an interrupted '%s' left a key pair (id %s) on the token that could not be removed; will try again",
				op ? op : "?", key_id);
		}
		goto out;
	}
	if ((rc = sgt_tx_recovered(st, label, report)) != SGT_OK)
		goto out;
	sgt_store_unlink(path);
	{
		char *d = dir_of(path);

		if (d != NULL)
			sgt_fsync_dir(d);
		free(d);
	}
	fprintf(stderr, "signet: recovered: '%s'%s%s was interrupted; %s (recorded in the audit log)\n", op ? op : "?",
		label ? " of " : "", label ? label : "",
		sc.records > 0 ? "completed what its audit record names" : "rolled it back");
out:
	json_decref(j);
	json_decref(report);
	json_decref(done);
	json_decref(sc.files);
	return rc;
}

/* Every intent left behind: the one of older versions (intent.json) and those in <store>/intents. */
static int recovering;

int sgt_intent_recovering(void)
{
	return recovering;
}

int sgt_intent_recover(const struct sgt_store *st, const struct sgt_pin_opts *opts)
{
	char dir[PATH_MAX], path[PATH_MAX + 300];
	DIR *d;
	struct dirent *de;
	int rc = SGT_OK, removed = 0, fd;

	struct live lv;

	lv.n = 0;
	lv.overflow = 0;
	recovering = 1;
	snprintf(path, sizeof(path), "%s/intent.json", st->dir);
	if (access(path, F_OK) == 0)
		rc = recover_one(&lv, st, opts, path);
	snprintf(dir, sizeof(dir), "%s/intents", st->dir);
	if (rc == SGT_OK && (d = opendir(dir)) != NULL) {
		while (rc == SGT_OK && (de = readdir(d)) != NULL) {
			size_t n = strlen(de->d_name);

			if (n != 32 + 5 || strcmp(de->d_name + 32, ".json") != 0)
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
				continue;
			if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
				/* Its command is still running (a signer works without the store lock). */
				if (lv.n < sizeof(lv.id) / sizeof(lv.id[0]))
					snprintf(lv.id[lv.n++], sizeof(lv.id[0]), "%.32s", de->d_name);
				else
					lv.overflow = 1;
				close(fd);
				continue;
			}
			rc = recover_one(&lv, st, opts, path);
			close(fd);
		}
		closedir(d);
	}
	/* Temporaries of interrupted atomic writes and stages of intents that are gone. */
	if (rc == SGT_OK) {
		sweep(&lv, st->dir, NULL, 3, &removed);
		if (removed > 0)
			sgt_verbose("removed %d temporary files left by an interrupted write", removed);
	}
	recovering = 0;
	return rc;
}
