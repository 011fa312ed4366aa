/*
 * hsmguard.c: the embedded SoftHSM2 token survives interruption (see
 * hsmguard.h for the rules), and SIGINT/SIGTERM/SIGHUP wait (fsio.c holds
 * them) while a module is loaded.  It reads and copies the token's files;
 * it never loads the module, never interprets a key and never writes the
 * audit log: it hands the repairs it made back to its caller.
 * Floor: base 2.  It may call base 0-1 (sgt.c, fsio.c) and store.c.
 */
#include <dirent.h>
#include <stdio.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "hsmguard.h"

/* ---- SoftHSM2 object files ---- */

static unsigned long long be64(const unsigned char *p)
{
	unsigned long long v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

int sgt_hsm_objfile_ok(const unsigned char *buf, size_t len)
{
	size_t i = 8;	/* the generation counter */

	if (len < 8 + 16)
		return 0;
	while (i < len) {
		unsigned long long kind, n;

		if (len - i < 16)
			return 0;
		kind = be64(buf + i + 8);
		i += 16;
		switch (kind) {
		case 1:	/* boolean */
			n = 1;
			break;
		case 2:	/* unsigned long */
			n = 8;
			break;
		case 3:	/* byte string: length, bytes */
		case 4:	/* attribute map: byte length, entries */
		case 5:	/* mechanism set: count, 8 bytes each */
			if (len - i < 8)
				return 0;
			n = be64(buf + i);
			i += 8;
			if (kind == 5) {
				if (n > (len - i) / 8)
					return 0;
				n *= 8;
			}
			break;
		default:
			return 0;
		}
		if (n > len - i)
			return 0;
		i += (size_t)n;
	}
	return 1;
}

/* ---- the guard ---- */

static int guard_fd = -1;
static int enter_depth;

static int is_guarded_name(const char *name)
{
	size_t n = strlen(name);

	if (name[0] == '.')
		return 0;
	if (strcmp(name, "generation") == 0)
		return 1;
	return n > 7 && strcmp(name + n - 7, ".object") == 0 && strchr(name, '.') == name + n - 7;
}

static int file_ok(const char *name, const unsigned char *b, size_t len)
{
	if (strcmp(name, "generation") == 0)
		return len == 8;
	return sgt_hsm_objfile_ok(b, len);
}

/* Reads a small token file; a missing one is *b == NULL. */
static int slurp(const char *path, unsigned char **b, size_t *len)
{
	struct stat sb;

	*b = NULL;
	*len = 0;
	if (lstat(path, &sb) != 0)
		return errno == ENOENT ? SGT_OK : sgt_err(SGT_ERR_DATA, "cannot read '%s': %s", path, strerror(errno));
	if (!S_ISREG(sb.st_mode))
		return sgt_err(SGT_ERR_DATA, "'%s' is not a regular file", path);
	return sgt_file_read(path, (size_t)64 << 20, b, len);
}

int sgt_hsm_embedded(const struct sgt_store *st)
{
	char path[PATH_MAX];
	struct stat sb;

	if (st->dir == NULL)
		return 0;
	snprintf(path, sizeof(path), "%s/hsm/tokens", st->dir);
	if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
		return 0;
	snprintf(path, sizeof(path), "%s/hsm/softhsm2.conf", st->dir);
	return stat(path, &sb) == 0;
}

/*
 * Repairs are audited, but not by the guard, and not while the guard lock
 * is held: a command with only a shared store lock cannot take the
 * exclusive one there without risking a deadlock with another process
 * waiting for the guard.  sgt_hsm_enter hands the repairs it made back to
 * its caller; sgt_hsm_repairs_due adds those an earlier command noted in
 * <store>/hsm/repairs.pending when it could not append.
 */
struct guard_walk {
	int *damaged_seen;	/* only count damaged files (another process has the module loaded) */
	json_t *repairs;	/* repairs made, NULL when only counting */
};

static void note_repair(json_t *repairs, const char *what, const char *file)
{
	char now[32];

	if (repairs == NULL)
		return;
	sgt_time_iso(time(NULL), now);
	json_array_append_new(repairs, json_pack("{s:s, s:s, s:s}", "repair", what, "file", file, "at", now));
}

static void pending_path(const struct sgt_store *st, char path[PATH_MAX])
{
	snprintf(path, PATH_MAX, "%s/hsm/repairs.pending", st->dir);
}

int sgt_hsm_repairs_due(const struct sgt_store *st, json_t *made, json_t **due)
{
	char path[PATH_MAX];
	json_t *saved = NULL;
	json_error_t jerr;
	struct stat sb;
	int rc = SGT_OK;

	*due = NULL;
	pending_path(st, path);
	if (st->lock_exclusive) {
		if ((*due = json_array()) == NULL)
			return sgt_err(SGT_ERR_DATA, "out of memory");
		if (lstat(path, &sb) == 0) {
			if ((saved = json_load_file(path, 0, &jerr)) == NULL || !json_is_array(saved))
				sgt_warn("'%s' is not readable (%s); the repairs it noted are not in the audit log", path,
					 jerr.text);
			else
				json_array_extend(*due, saved);
			json_decref(saved);
		}
		if (made != NULL)
			json_array_extend(*due, made);
		return SGT_OK;
	}
	if (made == NULL || json_array_size(made) == 0)
		return SGT_OK;
	{
		char *text;

		saved = lstat(path, &sb) == 0 ? json_load_file(path, 0, &jerr) : NULL;
		if (!json_is_array(saved)) {
			json_decref(saved);
			saved = json_array();
		}
		json_array_extend(saved, made);
		text = json_dumps(saved, JSON_COMPACT);
		rc = text ? sgt_atomic_write(path, text, strlen(text), 0) : sgt_err(SGT_ERR_DATA, "out of memory");
		free(text);
		json_decref(saved);
	}
	return rc;
}

void sgt_hsm_repairs_recorded(const struct sgt_store *st)
{
	char path[PATH_MAX];
	struct stat sb;

	pending_path(st, path);
	if (st->lock_exclusive && lstat(path, &sb) == 0)
		sgt_store_unlink(path);
}

static int move_aside(const struct sgt_store *st, const char *tokname, const char *name, const char *live)
{
	char qdir[PATH_MAX + 256], dst[PATH_MAX + 600];

	snprintf(qdir, sizeof(qdir), "%s/hsm/quarantine/%s", st->dir, tokname);
	if (sgt_mkdirs(qdir) != SGT_OK)
		return SGT_ERR_DATA;
	snprintf(dst, sizeof(dst), "%s/%s.%lld", qdir, name, (long long)time(NULL));
	if (rename(live, dst) != 0)
		return sgt_err(SGT_ERR_DATA, "cannot move '%s' aside: %s", live, strerror(errno));
	return SGT_OK;
}

/*
 * What the guard last found (hsm/good/<token>/.seen): for each live file it
 * knew good and equal to its good copy, the file's inode, size, and
 * modification and change times.  A live file whose lstat still gives all
 * of them has not been written since (every write moves ctime, which no
 * user can set), so it is not read again: on a token of 200 keys the guard
 * read 1600 files per command.  The list is only a cache: written without
 * a sync, trusted only in the boot that wrote it (a power cut can take a
 * file back to older content), and anything that does not match it is
 * read and checked in full.
 */
struct seen {
	char name[64];
	unsigned long long ino, size;
	long long ms, mns, cs, cns;
};

struct seen_set {
	struct seen *v;
	size_t n, cap;
};

static void boot_id(char out[40])
{
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");

	out[0] = '\0';
	if (f != NULL) {
		if (fgets(out, 40, f) == NULL)
			out[0] = '\0';
		out[strcspn(out, "\n")] = '\0';
		fclose(f);
	}
}

static int seen_cmp(const void *a, const void *b)
{
	return strcmp(((const struct seen *)a)->name, ((const struct seen *)b)->name);
}

static void seen_fill(struct seen *e, const char *name, const struct stat *sb)
{
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->ino = (unsigned long long)sb->st_ino;
	e->size = (unsigned long long)sb->st_size;
	e->ms = (long long)sb->st_mtim.tv_sec;
	e->mns = sb->st_mtim.tv_nsec;
	e->cs = (long long)sb->st_ctim.tv_sec;
	e->cns = sb->st_ctim.tv_nsec;
}

/* A new entry at the end, NULL when out of memory (a cache: without it, files are read). */
static struct seen *seen_push(struct seen_set *set)
{
	if (set->n == set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 64;
		struct seen *v = realloc(set->v, cap * sizeof(*v));

		if (v == NULL)
			return NULL;
		set->v = v;
		set->cap = cap;
	}
	return &set->v[set->n++];
}

static void seen_add(struct seen_set *set, const char *name, const struct stat *sb)
{
	struct seen *e;

	/* a name that is not SoftHSM2's is always checked in full */
	if (strlen(name) < sizeof(set->v->name) && (e = seen_push(set)) != NULL)
		seen_fill(e, name, sb);
}

/* Reads a list written in boot (sorted by name); one from another boot, or unreadable, is empty. */
static void seen_read(FILE *f, const char *boot, struct seen_set *set)
{
	char line[256], want[80];

	memset(set, 0, sizeof(*set));
	snprintf(want, sizeof(want), "signet-guard-seen 1 %s\n", boot);
	if (boot[0] != '\0' && fgets(line, sizeof(line), f) != NULL && strcmp(line, want) == 0) {
		struct seen e, *slot;

		while (fgets(line, sizeof(line), f) != NULL &&
		       sscanf(line, "%63s %llu %llu %lld %lld %lld %lld", e.name, &e.ino, &e.size, &e.ms, &e.mns, &e.cs,
			      &e.cns) == 7 &&
		       (slot = seen_push(set)) != NULL)
			*slot = e;
	}
	if (set->n > 0)
		qsort(set->v, set->n, sizeof(*set->v), seen_cmp);
}

static void seen_load(const char *good_dir, struct seen_set *set)
{
	char path[PATH_MAX + 16], boot[40];
	FILE *f;
	int fd;

	memset(set, 0, sizeof(*set));
	snprintf(path, sizeof(path), "%s/.seen", good_dir);
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0 || (f = fdopen(fd, "r")) == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	boot_id(boot);
	seen_read(f, boot, set);
	fclose(f);
}

/* 1 when name was seen good with exactly this stat. */
static int seen_match(const struct seen_set *set, const char *name, const struct stat *sb)
{
	struct seen key, *e;

	if (set->n == 0 || strlen(name) >= sizeof(key.name))
		return 0;
	seen_fill(&key, name, sb);
	e = bsearch(&key, set->v, set->n, sizeof(*set->v), seen_cmp);
	return e != NULL && e->ino == key.ino && e->size == key.size && e->ms == key.ms && e->mns == key.mns &&
	       e->cs == key.cs && e->cns == key.cns;
}

size_t sgt_hsm_seen_parse(const char *text, size_t len, const char *boot)
{
	struct seen_set set;
	struct stat sb;
	FILE *f = len > 0 ? fmemopen((void *)text, len, "r") : NULL;
	size_t n;

	if (f == NULL)
		return 0;
	seen_read(f, boot, &set);
	fclose(f);
	memset(&sb, 0, sizeof(sb));
	n = set.n;
	if (n > 0)
		(void)seen_match(&set, set.v[n / 2].name, &sb);
	free(set.v);
	return n;
}

/* Writes the list: temporary file and rename, no sync (see above). */
static void seen_save(const char *good_dir, const struct seen_set *set)
{
	char path[PATH_MAX + 16], tmp[PATH_MAX + 32], boot[40];
	size_t i;
	FILE *f;
	int fd, ok;

	boot_id(boot);
	if (boot[0] == '\0')
		return;
	snprintf(path, sizeof(path), "%s/.seen", good_dir);
	snprintf(tmp, sizeof(tmp), "%s/.seen.tmp", good_dir);
	/* never through a symlink planted in the store; mode 0600 like every store file */
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0)
		return;
	if ((f = fdopen(fd, "w")) == NULL) {
		close(fd);
		return;
	}
	ok = fprintf(f, "signet-guard-seen 1 %s\n", boot) > 0;
	for (i = 0; ok && i < set->n; i++)
		ok = fprintf(f, "%s %llu %llu %lld %lld %lld %lld\n", set->v[i].name, set->v[i].ino, set->v[i].size,
			     set->v[i].ms, set->v[i].mns, set->v[i].cs, set->v[i].cns) > 0;
	ok = fclose(f) == 0 && ok;
	if (!ok || rename(tmp, path) != 0)
		unlink(tmp);
}

/*
 * One token directory: repair what is damaged, then bring the good copy up
 * to date (guard lock held exclusively).  With damaged set, only look and
 * count damaged files: another process has the module loaded.
 */
static int guard_token_dir(const struct sgt_store *st, const char *tokname, int *damaged_seen, json_t *repairs)
{
	char live_dir[PATH_MAX], good_dir[PATH_MAX], live[PATH_MAX + 256], good[PATH_MAX + 256];
	struct seen_set before, now = { NULL, 0, 0 };
	DIR *d;
	struct dirent *de;
	struct stat sb;
	int rc = SGT_OK, changed = 0;

	snprintf(live_dir, sizeof(live_dir), "%s/hsm/tokens/%s", st->dir, tokname);
	snprintf(good_dir, sizeof(good_dir), "%s/hsm/good/%s", st->dir, tokname);
	seen_load(good_dir, &before);

	/* Files that have a good copy: restore the damaged ones; forget destroyed ones. */
	if ((d = opendir(good_dir)) != NULL) {
		while (rc == SGT_OK && (de = readdir(d)) != NULL) {
			unsigned char *lb = NULL, *gb = NULL;
			size_t ll = 0, gl = 0;
			int damaged;

			if (!is_guarded_name(de->d_name))
				continue;
			snprintf(live, sizeof(live), "%s/%s", live_dir, de->d_name);
			snprintf(good, sizeof(good), "%s/%s", good_dir, de->d_name);
			if (lstat(live, &sb) == 0 && seen_match(&before, de->d_name, &sb))
				continue;	/* not written since it was found good */
			if ((rc = slurp(good, &gb, &gl)) != SGT_OK || (rc = slurp(live, &lb, &ll)) != SGT_OK) {
				free(gb);
				free(lb);
				break;
			}
			/* A missing live file was destroyed on purpose (C_DestroyObject unlinks): its copy goes too. */
			if (lb == NULL && damaged_seen == NULL && strcmp(de->d_name, "token.object") != 0)
				sgt_store_unlink(good);
			damaged = lb != NULL && gb != NULL && file_ok(de->d_name, gb, gl) &&
				  (!file_ok(de->d_name, lb, ll) || (ll < gl && memcmp(lb, gb, ll) == 0));
			if (damaged && damaged_seen != NULL) {
				(*damaged_seen)++;
			} else if (damaged) {
				char was[64];

				snprintf(was, sizeof(was), ll == 0 ? "empty" : "cut short or malformed (%zu bytes)", ll);
				if ((rc = sgt_atomic_write(live, gb, gl, 0)) == SGT_OK) {
					fprintf(stderr, "signet: recovered: token file '%s' was %s (an interrupted write by the module); "
						"restored it from the known-good copy\n", live, was);
					note_repair(repairs, "token file restored from the known-good copy", live);
				}
			}
			free(gb);
			free(lb);
		}
		closedir(d);
	}
	if (rc != SGT_OK || damaged_seen != NULL)
		goto out;

	/* Live files: quarantine empty orphans, copy good ones into the good copy. */
	if ((d = opendir(live_dir)) == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "cannot read token directory '%s': %s", live_dir, strerror(errno));
		goto out;
	}
	if ((rc = sgt_mkdirs(good_dir)) != SGT_OK) {
		closedir(d);
		goto out;
	}
	while (rc == SGT_OK && (de = readdir(d)) != NULL) {
		unsigned char *lb = NULL, *gb = NULL;
		size_t ll = 0, gl = 0;

		if (!is_guarded_name(de->d_name))
			continue;
		snprintf(live, sizeof(live), "%s/%s", live_dir, de->d_name);
		snprintf(good, sizeof(good), "%s/%s", good_dir, de->d_name);
		if (lstat(live, &sb) != 0)
			continue;	/* gone between readdir and now */
		if (seen_match(&before, de->d_name, &sb)) {
			seen_add(&now, de->d_name, &sb);
			continue;
		}
		changed = 1;
		if ((rc = slurp(live, &lb, &ll)) != SGT_OK || (rc = slurp(good, &gb, &gl)) != SGT_OK) {
			free(lb);
			break;
		}
		if (lb != NULL && file_ok(de->d_name, lb, ll)) {
			/*
			 * Every file starts with a generation counter that SoftHSM2 bumps on
			 * each rewrite (token.object: every login); a copy that differs only
			 * there restores the same token, so it is not rewritten (two fsyncs
			 * saved per command).
			 */
			if (gb == NULL || gl != ll || (ll > 8 && memcmp(gb + 8, lb + 8, ll - 8) != 0) ||
			    (ll <= 8 && memcmp(gb, lb, ll) != 0 && strcmp(de->d_name, "generation") != 0))
				rc = sgt_atomic_write(good, lb, ll, 0);
			/* the stat from before the read: no process has the module loaded, so nothing wrote since */
			if (rc == SGT_OK)
				seen_add(&now, de->d_name, &sb);
		} else if (lb != NULL && gb == NULL && ll == 0 && strcmp(de->d_name, "token.object") != 0) {
			/* An object file created empty by a generation that never finished holds nothing. */
			if ((rc = move_aside(st, tokname, de->d_name, live)) == SGT_OK)
				note_repair(repairs, "empty object file of an interrupted key generation moved to hsm/quarantine", live);
		} else if (lb != NULL) {
			sgt_warn("token file '%s' is damaged and has no known-good copy; 'signet restore' from a backup recovers it", live);
		}
		free(lb);
		free(gb);
	}
	closedir(d);
	if (rc == SGT_OK && (changed || now.n != before.n))
		seen_save(good_dir, &now);
out:
	free(before.v);
	free(now.v);
	return rc;
}

/* Calls fn(st, token directory name, ctx) for every token of the embedded store, stopping at the first failure. */
static int for_each_token(const struct sgt_store *st, int (*fn)(const struct sgt_store *st, const char *tok, void *ctx),
			  void *ctx)
{
	char dir[PATH_MAX];
	DIR *d;
	struct dirent *de;
	int rc = SGT_OK;

	snprintf(dir, sizeof(dir), "%s/hsm/tokens", st->dir);
	if ((d = opendir(dir)) == NULL)
		return sgt_err(SGT_ERR_DATA, "cannot read token directory '%s': %s", dir, strerror(errno));
	while (rc == SGT_OK && (de = readdir(d)) != NULL) {
		char sub[PATH_MAX + 256];
		struct stat sb;

		if (de->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
		if (lstat(sub, &sb) == 0 && S_ISDIR(sb.st_mode))
			rc = fn(st, de->d_name, ctx);
	}
	closedir(d);
	return rc;
}

static int guard_one(const struct sgt_store *st, const char *tok, void *ctx)
{
	struct guard_walk *w = ctx;

	return guard_token_dir(st, tok, w->damaged_seen, w->repairs);
}

/* Repairs every token directory (noting each repair in repairs) and refreshes the good copy; with damaged_seen, only counts. */
static int guard_tokens(const struct sgt_store *st, int *damaged_seen, json_t *repairs)
{
	struct guard_walk w = { damaged_seen, repairs };

	return for_each_token(st, guard_one, &w);
}

/*
 * A read-only store mounted elsewhere than where it was written (an
 * archive's bind mount): its softhsm2.conf cannot be rewritten, and the
 * directory it names may be the live store's.  The module gets the
 * corrected configuration from memory instead, through
 * /proc/self/fd (SoftHSM2 reads it once, in C_Initialize).
 */
static int conf_fd = -1;

static int conf_in_memory(const struct sgt_store *st, const struct sgt_buf *text)
{
	char name[64];

	if (conf_fd >= 0)
		close(conf_fd);
	conf_fd = memfd_create("softhsm2.conf", MFD_CLOEXEC);
	if (conf_fd < 0 || write(conf_fd, text->p, text->len) != (ssize_t)text->len) {
		int e = errno;

		if (conf_fd >= 0)
			close(conf_fd);
		conf_fd = -1;
		return sgt_err(SGT_ERR_DATA, "store '%s' is read-only and its softhsm2.conf names another token directory; "
			       "cannot hand the module a corrected one: %s", st->dir, strerror(e));
	}
	snprintf(name, sizeof(name), "/proc/self/fd/%d", conf_fd);
	if (setenv("SOFTHSM2_CONF", name, 1) != 0)
		return sgt_err(SGT_ERR_DATA, "cannot set SOFTHSM2_CONF: %s", strerror(errno));
	sgt_verbose("store '%s' is read-only and was written elsewhere: the module reads a corrected softhsm2.conf from memory",
		    st->dir);
	return SGT_OK;
}

/* softhsm2.conf names the token directory absolutely: follow a moved store. */
static int relocate_conf(const struct sgt_store *st, int readonly)
{
	char path[PATH_MAX], want[PATH_MAX + 64];
	unsigned char *buf = NULL;
	size_t len = 0;
	struct sgt_buf out = { 0 };
	const char *p, *end;
	int rc, changed = 0;

	snprintf(path, sizeof(path), "%s/hsm/softhsm2.conf", st->dir);
	snprintf(want, sizeof(want), "directories.tokendir = %s/hsm/tokens", st->dir);
	if ((rc = sgt_file_read(path, 1 << 16, &buf, &len)) != SGT_OK)
		return rc;
	for (p = (const char *)buf; rc == SGT_OK && p < (const char *)buf + len; p = end + 1) {
		size_t n;

		end = memchr(p, '\n', (size_t)((const char *)buf + len - p));
		if (end == NULL)
			end = (const char *)buf + len;
		n = (size_t)(end - p);
		if (n >= 19 && strncmp(p, "directories.tokendir", 20) == 0 && (n != strlen(want) || memcmp(p, want, n) != 0)) {
			rc = sgt_buf_printf(&out, "%s\n", want);
			changed = 1;
		} else {
			rc = sgt_buf_add(&out, p, n);
			rc = rc ? rc : sgt_buf_add(&out, "\n", 1);
		}
	}
	if (rc == SGT_OK && changed && readonly) {
		rc = conf_in_memory(st, &out);
	} else if (rc == SGT_OK && changed) {
		rc = sgt_atomic_write(path, out.p, out.len, 0);
		if (rc == SGT_OK)
			fprintf(stderr, "signet: the store moved: '%s' now names its token directory '%s/hsm/tokens'\n", path, st->dir);
	}
	sgt_buf_free(&out);
	free(buf);
	return rc;
}

static int open_guard(const struct sgt_store *st, int readonly)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/hsm/guard.lock", st->dir);
	/* flock needs no write access: a read-only store's lock is shared with its writable mounts all the same */
	guard_fd = open(path, readonly ? O_RDONLY | O_CLOEXEC | O_NOFOLLOW : O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (guard_fd < 0)
		return sgt_err(SGT_ERR_DATA, "cannot open '%s': %s", path, strerror(errno));
	return SGT_OK;
}

static int guard_lock(int how)
{
	while (flock(guard_fd, how) != 0)
		if (errno != EINTR)
			return sgt_err(SGT_ERR_DATA, "cannot lock the token guard: %s", strerror(errno));
	return SGT_OK;
}

/*
 * Other processes have the module loaded (a batch signer holds it for its
 * whole batch): waiting for them to finish would serialise signers, and
 * could deadlock with one waiting for the store lock this command holds.
 * So look without touching; a file that stays damaged for a moment (not
 * just another process's login rewriting token.object) is an error.
 */
static int busy_check(const struct sgt_store *st)
{
	int tries, rc = SGT_OK;

	if ((rc = guard_lock(LOCK_SH)) != SGT_OK)
		return rc;
	for (tries = 0; tries < 10; tries++) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		int damaged = 0;

		rc = guard_tokens(st, &damaged, NULL);
		if (rc != SGT_OK || damaged == 0)
			return rc;
		nanosleep(&ts, NULL);
	}
	rc = sgt_err(SGT_ERR_HSM, "a file of the token in '%s/hsm/tokens' is damaged and another signet process is using the token",
		     st->dir);
	sgt_hint("run the command again when the other one has finished: it restores the file from the known-good copy");
	return rc;
}

/*
 * A read-only store (an archived copy on read-only media): the token is
 * only looked at.  A damaged file cannot be restored there, so it is an
 * error, and the good copy is not refreshed.
 */
static int readonly_check(const struct sgt_store *st)
{
	int damaged = 0, rc = guard_tokens(st, &damaged, NULL);

	if (rc == SGT_OK && damaged > 0) {
		rc = sgt_err(SGT_ERR_HSM, "a file of the token in '%s/hsm/tokens' is damaged and the store is read-only: "
			     "it cannot be restored from the known-good copy here", st->dir);
		sgt_hint("run any signet command on a writable copy of the store: it restores the file");
	}
	return rc;
}

int sgt_store_readonly(const struct sgt_store *st)
{
	struct statvfs vfs;

	return st->dir != NULL && statvfs(st->dir, &vfs) == 0 && (vfs.f_flag & ST_RDONLY) != 0;
}

int sgt_hsm_enter(const struct sgt_store *st, json_t **repairs)
{
	json_t *made = NULL;
	int rc = SGT_OK, readonly;

	if (repairs != NULL)
		*repairs = NULL;
	sgt_sig_hold();
	if (enter_depth++ > 0 || !sgt_hsm_embedded(st))
		return SGT_OK;
	if ((made = json_array()) == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto fail;
	}
	readonly = sgt_store_readonly(st);
	if ((rc = open_guard(st, readonly)) != SGT_OK)
		goto fail;
	if (flock(guard_fd, LOCK_EX | LOCK_NB) == 0) {
		rc = relocate_conf(st, readonly);
		rc = rc ? rc : readonly ? readonly_check(st) : guard_tokens(st, NULL, made);
		if (rc != SGT_OK)
			goto fail;
	} else if ((rc = busy_check(st)) != SGT_OK || (readonly && (rc = relocate_conf(st, 1)) != SGT_OK)) {
		/* read-only: the module must not reach the token through the place the store was written at */
		goto fail;
	}
	/* Shared while the module is loaded: repairs wait for every user to finish. */
	if ((rc = guard_lock(LOCK_SH)) != SGT_OK)
		goto fail;
	/* The repairs made here are recorded by the caller (session.c), not by the guard. */
	if (repairs != NULL && json_array_size(made) > 0)
		*repairs = json_incref(made);
	json_decref(made);
	return SGT_OK;
fail:
	json_decref(made);
	if (guard_fd >= 0)
		close(guard_fd);
	guard_fd = -1;
	enter_depth--;
	sgt_sig_release();
	return rc;
}

int sgt_hsm_busy(void)
{
	return enter_depth > 0;
}

void sgt_hsm_leave(void)
{
	if (enter_depth <= 0)
		return;
	if (--enter_depth == 0) {
		/* The module is gone (sgt_session_close stopped the head signer before unloading it). */
		if (guard_fd >= 0) {
			close(guard_fd);
			guard_fd = -1;
		}
	}
	sgt_sig_release();
}

struct object_walk {
	int (*fn)(const struct sgt_store *st, const char *tok, const char *name, void *ctx);
	void *ctx;
};

static int objects_of(const struct sgt_store *st, const char *tok, void *ctx)
{
	const struct object_walk *w = ctx;
	char sub[PATH_MAX + 256];
	struct dirent *te;
	DIR *t;
	int rc = SGT_OK;

	snprintf(sub, sizeof(sub), "%s/hsm/tokens/%s", st->dir, tok);
	if ((t = opendir(sub)) == NULL)
		return SGT_OK;
	while (rc == SGT_OK && (te = readdir(t)) != NULL)
		if (is_guarded_name(te->d_name) && strcmp(te->d_name, "token.object") != 0 &&
		    strcmp(te->d_name, "generation") != 0)
			rc = w->fn(st, tok, te->d_name, w->ctx);
	closedir(t);
	return rc;
}

/*
 * Calls fn(st, token dir name, file name, ctx) for every key object file
 * of the embedded token (not token.object, not generation), stopping at
 * the first failure.
 */
static int for_each_object(const struct sgt_store *st,
			   int (*fn)(const struct sgt_store *st, const char *tok, const char *name, void *ctx), void *ctx)
{
	struct object_walk w = { fn, ctx };

	return for_each_token(st, objects_of, &w);
}

/* An object file with no good copy yet gets one (it is complete: the module just wrote it). */
static int snapshot_one(const struct sgt_store *st, const char *tok, const char *name, void *ctx)
{
	char live[PATH_MAX + 600], good[PATH_MAX + 600];
	unsigned char *lb = NULL;
	size_t ll = 0;
	struct stat sb;
	int rc;

	(void)ctx;
	snprintf(good, sizeof(good), "%s/hsm/good/%s/%s", st->dir, tok, name);
	if (lstat(good, &sb) == 0)
		return SGT_OK;
	snprintf(live, sizeof(live), "%s/hsm/tokens/%s/%s", st->dir, tok, name);
	if ((rc = slurp(live, &lb, &ll)) == SGT_OK && lb != NULL && file_ok(name, lb, ll))
		rc = sgt_atomic_write(good, lb, ll, 1);
	free(lb);
	return rc;
}

int sgt_hsm_snapshot_new(const struct sgt_store *st)
{
	return sgt_hsm_embedded(st) ? for_each_object(st, snapshot_one, NULL) : SGT_OK;
}

static int list_one(const struct sgt_store *st, const char *tok, const char *name, void *ctx)
{
	char full[600];

	(void)st;
	snprintf(full, sizeof(full), "%s/%s", tok, name);
	return json_array_append_new(ctx, json_string(full)) == 0 ? SGT_OK : sgt_err(SGT_ERR_DATA, "out of memory");
}

/* "<token dir>/<file>" of every object file of the embedded token, into arr. */
static int list_objects(const struct sgt_store *st, json_t *arr)
{
	return for_each_object(st, list_one, arr);
}

int sgt_hsm_objects(const struct sgt_store *st, json_t **out)
{
	int rc;

	*out = NULL;
	if (!sgt_hsm_embedded(st))
		return SGT_OK;
	if ((*out = json_array()) == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	if ((rc = list_objects(st, *out)) != SGT_OK) {
		json_decref(*out);
		*out = NULL;
	}
	return rc;
}

int sgt_hsm_quarantine_new(const struct sgt_store *st, json_t *known, int *moved)
{
	json_t *now = NULL, *v;
	size_t i, j;
	int rc, opened = 0;

	*moved = 0;
	if (!sgt_hsm_embedded(st) || !json_is_array(known))
		return SGT_OK;
	if (guard_fd < 0) {
		if ((rc = open_guard(st, 0)) != SGT_OK)
			return rc;
		opened = 1;
	}
	sgt_sig_hold();
	/* Never wait here: a signer holding the guard may be waiting for the store lock this command holds. */
	if (flock(guard_fd, LOCK_EX | LOCK_NB) != 0) {
		rc = errno == EWOULDBLOCK ? 1 : sgt_err(SGT_ERR_DATA, "cannot lock the token guard: %s", strerror(errno));
		goto out;
	}
	if ((now = json_array()) == NULL || (rc = list_objects(st, now)) != SGT_OK)
		goto out;
	json_array_foreach(now, i, v) {
		const char *name = json_string_value(v), *slash = strchr(name, '/');
		char live[PATH_MAX], tok[300];
		int seen = 0;

		for (j = 0; j < json_array_size(known) && !seen; j++)
			seen = json_string_value(json_array_get(known, j)) != NULL &&
			       strcmp(json_string_value(json_array_get(known, j)), name) == 0;
		if (seen || slash == NULL || (size_t)(slash - name) >= sizeof(tok))
			continue;
		snprintf(tok, sizeof(tok), "%.*s", (int)(slash - name), name);
		snprintf(live, sizeof(live), "%s/hsm/tokens/%s", st->dir, name);
		if ((rc = move_aside(st, tok, slash + 1, live)) != SGT_OK)
			break;
		(*moved)++;
	}
out:
	json_decref(now);
	if (opened) {
		close(guard_fd);
		guard_fd = -1;
	} else if (guard_fd >= 0) {
		guard_lock(LOCK_SH);
	}
	sgt_sig_release();
	return rc;
}
