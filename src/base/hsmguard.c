/*
 * hsmguard.c: the SoftHSM2 tokens a store uses survive interruption (see
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

#include <p11-kit/uri.h>

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
static int guard_embedded;	/* the token directories entered are the embedded token's (<store>/hsm/tokens) */

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
 * A token directory the guard keeps whole: the embedded token's
 * (<store>/hsm/tokens/<name>), or an external SoftHSM2 token's, found
 * through its softhsm2.conf.  Its known-good copy and quarantine are in
 * the store (hsm/good/<name>, hsm/quarantine/<name>).
 */
struct tokdir {
	char name[256];
	char live[PATH_MAX];
	char good[PATH_MAX];
	char qdir[PATH_MAX];
};

/* The token directories this process entered the guard for (enter_depth > 0), and the lock file. */
static struct tokdir *tds;
static size_t ntds;
static char lock_path[PATH_MAX + 32];

static int open_guard(const char *path, int readonly);

/* The value of attribute type in a well-formed SoftHSM2 object file; 0 when absent. */
static int obj_attr(const unsigned char *b, size_t len, unsigned long long type, const unsigned char **val,
		    size_t *vlen, unsigned long long *kind)
{
	size_t i = 8;

	if (!sgt_hsm_objfile_ok(b, len))
		return 0;
	while (i + 16 <= len) {
		unsigned long long t = be64(b + i), k = be64(b + i + 8), n;

		i += 16;
		if (k == 1 || k == 2) {
			n = k == 1 ? 1 : 8;
		} else {
			n = be64(b + i);
			i += 8;
			if (k == 5)
				n *= 8;
		}
		if (t == type) {
			*val = b + i;
			*vlen = (size_t)n;
			*kind = k;
			return 1;
		}
		i += (size_t)n;
	}
	return 0;
}

/*
 * CKA_CLASS of an object file (SoftHSM2 encrypts the byte strings of a
 * private object, never its unsigned longs: the class is plain), or -1.
 */
static long obj_class(const unsigned char *b, size_t len)
{
	const unsigned char *v;
	unsigned long long kind;
	size_t n;

	if (!obj_attr(b, len, 0 /* CKA_CLASS */, &v, &n, &kind) || kind != 2 || n != 8)
		return -1;
	return (long)be64(v);
}

/* 1 when byte-string attribute type of token.object b is want (n bytes, blank-padded); an all-zero want matches any. */
static int token_field_is(const unsigned char *b, size_t len, unsigned long long type, const unsigned char *want,
			  size_t wn)
{
	const unsigned char *v;
	unsigned long long kind;
	size_t n, i;

	for (i = 0; i < wn && want[i] == 0; i++)
		;
	if (i == wn)
		return 1;
	while (wn > 0 && want[wn - 1] == ' ')
		wn--;
	if (!obj_attr(b, len, type, &v, &n, &kind) || kind != 3 || wn > n || memcmp(v, want, wn) != 0)
		return 0;
	for (i = wn; i < n; i++)
		if (v[i] != ' ')
			return 0;
	return 1;
}

/*
 * 1 when the token.object in b is the token named (a label, or a PKCS#11
 * URI: its token label and serial).  SoftHSM2 keeps both blank-padded.
 */
static int token_label_is(const unsigned char *b, size_t len, const char *token)
{
	P11KitUri *uri;
	CK_TOKEN_INFO *ti;
	int yes;

	if (strncmp(token, "pkcs11:", 7) != 0)
		return token_field_is(b, len, 0x80005349ULL /* label */, (const unsigned char *)token, strlen(token)) &&
		       token[0] != '\0';
	if ((uri = p11_kit_uri_new()) == NULL)
		return 0;
	yes = p11_kit_uri_parse(token, P11_KIT_URI_FOR_TOKEN, uri) == P11_KIT_URI_OK &&
	      (ti = p11_kit_uri_get_token_info(uri)) != NULL &&
	      token_field_is(b, len, 0x80005349ULL /* label */, ti->label, sizeof(ti->label)) &&
	      token_field_is(b, len, 0x8000534aULL /* serial */, ti->serialNumber, sizeof(ti->serialNumber));
	p11_kit_uri_free(uri);
	return yes;
}

/*
 * Object files signet destroyed on purpose (<token dir>/.signet-destroyed,
 * one name a line, shared by every store on the token): the only key
 * objects whose known-good copy may go when their live file is missing.
 */
static int destroyed_on_purpose(const struct tokdir *td, const char *name)
{
	char path[PATH_MAX + 32], line[300];
	FILE *f;
	int found = 0;

	snprintf(path, sizeof(path), "%s/.signet-destroyed", td->live);
	if ((f = fopen(path, "re")) == NULL)
		return 0;
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		found = strcmp(line, name) == 0;
	}
	fclose(f);
	return found;
}

/*
 * Repairs are audited, but not by the guard, and not while the guard lock
 * is held: a command with only a shared store lock cannot take the
 * exclusive one there without risking a deadlock with another process
 * waiting for the guard.  sgt_hsm_enter hands the repairs it made back to
 * its caller; sgt_hsm_repairs_due adds those an earlier command noted in
 * <store>/hsm/repairs.pending when it could not append.
 */
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

static int move_aside(const struct tokdir *td, const char *name, const char *live)
{
	char dst[PATH_MAX + 600];
	unsigned char *b = NULL;
	size_t len = 0;
	int rc;

	if (sgt_mkdirs(td->qdir) != SGT_OK)
		return SGT_ERR_DATA;
	snprintf(dst, sizeof(dst), "%s/%s.%lld", td->qdir, name, (long long)time(NULL));
	if (rename(live, dst) == 0)
		return SGT_OK;
	if (errno != EXDEV)
		return sgt_err(SGT_ERR_DATA, "cannot move '%s' aside: %s", live, strerror(errno));
	/* an external token on another file system: a copy, then the file goes */
	if ((rc = sgt_file_read(live, (size_t)64 << 20, &b, &len)) == SGT_OK &&
	    (rc = sgt_atomic_write(dst, b, len, 1)) == SGT_OK && unlink(live) != 0)
		rc = sgt_err(SGT_ERR_DATA, "cannot move '%s' aside: %s", live, strerror(errno));
	free(b);
	return rc;
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
 * A live file missing while its good copy remains: SoftHSM2 unlinks an
 * object's file when the object is destroyed, but a power cut can also
 * take back a new file's directory entry (SoftHSM2 syncs nothing).  Only
 * data objects (the audit head signet replaces on every signed append)
 * and objects signet recorded destroying lose their copy; any other object
 * (a key a record may name) is brought back.
 */
static int missing_live(const struct tokdir *td, const char *name, const char *live, const char *good,
			const unsigned char *gb, size_t gl, json_t *repairs)
{
	long cls = strcmp(name, "generation") == 0 ? -1 : obj_class(gb, gl);
	int rc;

	if (strcmp(name, "generation") == 0 || cls == 0 /* CKO_DATA */ || !file_ok(name, gb, gl) ||
	    destroyed_on_purpose(td, name)) {
		sgt_store_unlink(good);
		return SGT_OK;
	}
	if ((rc = sgt_atomic_write(live, gb, gl, 1)) != SGT_OK)
		return rc;
	fprintf(stderr, "signet: recovered: token file '%s' was missing and signet did not destroy it; "
		"restored it from the known-good copy\n", live);
	note_repair(repairs, "missing token object file restored from the known-good copy", live);
	return SGT_OK;
}

/*
 * One token directory: repair what is damaged, then bring the good copy up
 * to date (guard lock held exclusively).  With damaged set, only look and
 * count damaged files: another process has the module loaded.
 */
static int guard_token_dir(const struct tokdir *td, int *damaged_seen, json_t *repairs)
{
	const char *live_dir = td->live, *good_dir = td->good;
	char live[PATH_MAX + 256], good[PATH_MAX + 256];
	struct seen_set before, now = { NULL, 0, 0 };
	DIR *d;
	struct dirent *de;
	struct stat sb;
	int rc = SGT_OK, changed = 0;

	seen_load(good_dir, &before);

	/* Files that have a good copy: restore the damaged and lost ones; forget destroyed ones. */
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
			if (lb == NULL && gb != NULL && damaged_seen == NULL && strcmp(de->d_name, "token.object") != 0)
				rc = missing_live(td, de->d_name, live, good, gb, gl, repairs);
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
	/* which directory the copy is of: a dead init's copy (sgt_hsm_rescue) has nothing else to say it */
	snprintf(good, sizeof(good), "%s/.live", good_dir);
	if (lstat(good, &sb) != 0 && (rc = sgt_atomic_write(good, live_dir, strlen(live_dir), 0)) != SGT_OK) {
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
		if ((rc = slurp(live, &lb, &ll)) != SGT_OK || (rc = slurp(good, &gb, &gl)) != SGT_OK) {
			free(lb);
			break;
		}
		if (lb != NULL && file_ok(de->d_name, lb, ll)) {
			int same = gb != NULL && gl == ll && memcmp(gb, lb, ll) == 0;
			/*
			 * The good copy stays as it is when it restores the same thing.
			 * Every file starts with a generation counter that SoftHSM2 bumps
			 * on each rewrite (token.object: every login): a copy that differs
			 * only there restores the same token (two fsyncs saved per
			 * command).  A data object rewritten in place (the chain's anchor:
			 * its label holds the signed head, rewritten at every signed
			 * append) keeps the well-formed copy made when it was made:
			 * restored after an interrupted rewrite, it gives back an older
			 * head, which audit verify accepts and the next signed head
			 * replaces (two fsyncs saved per command after a sign).
			 */
			int keep = same ||
				   (gb != NULL && gl == ll &&
				    (ll > 8 ? memcmp(gb + 8, lb + 8, ll - 8) == 0 : strcmp(de->d_name, "generation") == 0)) ||
				   (gb != NULL && file_ok(de->d_name, gb, gl) && obj_class(lb, ll) == 0 /* CKO_DATA */ &&
				    obj_class(gb, gl) == 0);

			if (!keep)
				rc = sgt_atomic_write(good, lb, ll, 0);
			/*
			 * The list holds files equal to their good copy, by the stat from
			 * before the read (no process has the module loaded, so nothing
			 * wrote since).  One whose copy was left as it is though it
			 * differs (token.object and generation, rewritten at every login
			 * and object made; the anchor, at every signed head) is read at
			 * every command instead: a few hundred bytes, where keeping it
			 * listed rewrote the list (a file made and renamed) at every
			 * command.
			 */
			if (rc == SGT_OK && (same || !keep)) {
				seen_add(&now, de->d_name, &sb);
				changed = 1;
			}
		} else if (lb != NULL && gb == NULL && ll == 0 && strcmp(de->d_name, "token.object") != 0) {
			/* An object file created empty by a generation that never finished holds nothing. */
			changed = 1;
			if ((rc = move_aside(td, de->d_name, live)) == SGT_OK)
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

static void tokdir_set(struct tokdir *td, const char *store, const char *live_root, const char *name)
{
	snprintf(td->name, sizeof(td->name), "%s", name);
	snprintf(td->live, sizeof(td->live), "%s/%s", live_root, name);
	snprintf(td->good, sizeof(td->good), "%s/hsm/good/%s", store, name);
	snprintf(td->qdir, sizeof(td->qdir), "%s/hsm/quarantine/%s", store, name);
}

static int tokdir_push(struct tokdir **v, size_t *n, const char *store, const char *live_root, const char *name)
{
	struct tokdir *nv = realloc(*v, (*n + 1) * sizeof(**v));

	if (nv == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	*v = nv;
	tokdir_set(&nv[(*n)++], store, live_root, name);
	return SGT_OK;
}

/* Every token directory of the embedded store. */
static int embedded_dirs(const struct sgt_store *st, struct tokdir **v, size_t *n)
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
			rc = tokdir_push(v, n, st->dir, dir, de->d_name);
	}
	closedir(d);
	return rc;
}

/* 1 when module is SoftHSM2 (its library's name: the guard runs before the module is loaded). */
static int is_softhsm(const char *module)
{
	char real[PATH_MAX];
	const char *base;

	if (module == NULL)
		return 0;
	base = realpath(module, real) != NULL ? real : module;
	base = strrchr(base, '/') ? strrchr(base, '/') + 1 : base;
	return strstr(base, "softhsm") != NULL;
}

/* The value of "key = value" in a softhsm2.conf (comments start with '#'); out "" when absent. */
static void conf_value(const char *text, const char *key, char *out, size_t outlen)
{
	const char *p = text;
	size_t kl = strlen(key);

	out[0] = '\0';
	while (p != NULL && *p) {
		const char *q = p + strspn(p, " \t"), *end = strchr(q, '\n');
		size_t n = end ? (size_t)(end - q) : strlen(q);

		if (n > kl && strncmp(q, key, kl) == 0 && strchr(" \t=", q[kl]) != NULL) {
			const char *v = q + kl + strspn(q + kl, " \t");

			if (*v == '=') {
				size_t vl;

				v++;
				v += strspn(v, " \t");
				vl = (size_t)(q + n - v);
				while (vl > 0 && strchr(" \t\r", v[vl - 1]) != NULL)
					vl--;
				snprintf(out, outlen, "%.*s", (int)vl, v);
			}
		}
		p = end ? end + 1 : NULL;
	}
}

/* 1 when file (a token.object) is readable, well-formed and labelled label. */
static int file_labelled(const char *file, const char *label)
{
	unsigned char *b = NULL;
	size_t len = 0;
	int yes;

	sgt_silent++;
	yes = slurp(file, &b, &len) == SGT_OK && b != NULL && token_label_is(b, len, label);
	sgt_silent--;
	free(b);
	return yes;
}

/*
 * An external SoftHSM2 token: its directory is the one under the
 * configuration's directories.tokendir whose token.object (or, when that
 * is damaged, its known-good copy in this store) carries the token's
 * label.  What cannot be found or read is refused: the module would
 * rewrite token.object unguarded.
 */
static int external_dirs(const struct sgt_store *st, struct tokdir **v, size_t *n)
{
	const char *env = getenv("SOFTHSM2_CONF"), *conf = env && *env ? env : "/etc/softhsm/softhsm2.conf";
	const char *label = st->cfg.token;
	char root[PATH_MAX], backend[64], found[2][256];
	unsigned char *text = NULL;
	size_t len = 0, nfound = 0;
	struct dirent *de;
	DIR *d;
	int rc;

	sgt_silent++;
	rc = sgt_file_read(conf, 1 << 20, &text, &len);
	sgt_silent--;
	if (rc != SGT_OK) {
		rc = sgt_err(SGT_ERR_HSM, "cannot guard SoftHSM2 token '%s': cannot read its configuration '%s' (%s)", label, conf,
			     errno ? strerror(errno) : "unreadable");
		sgt_hint("set SOFTHSM2_CONF to the softhsm2.conf that holds the token (docs/custody.md)");
		return rc;
	}
	text = realloc(text, len + 1);
	if (text == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	text[len] = '\0';
	conf_value((char *)text, "directories.tokendir", root, sizeof(root));
	conf_value((char *)text, "objectstore.backend", backend, sizeof(backend));
	free(text);
	if (backend[0] != '\0' && strcmp(backend, "file") != 0) {
		rc = sgt_err(SGT_ERR_HSM, "cannot guard SoftHSM2 token '%s': '%s' keeps tokens in objectstore.backend = %s, "
			     "which signet cannot keep a known-good copy of", label, conf, backend);
		sgt_hint("use objectstore.backend = file (SoftHSM2's default) for a token signet uses (docs/custody.md)");
		return rc;
	}
	if (root[0] == '\0') {
		rc = sgt_err(SGT_ERR_HSM, "cannot guard SoftHSM2 token '%s': '%s' names no directories.tokendir", label, conf);
		sgt_hint("set directories.tokendir in '%s' (docs/custody.md)", conf);
		return rc;
	}
	while (strlen(root) > 1 && root[strlen(root) - 1] == '/')
		root[strlen(root) - 1] = '\0';
	if ((d = opendir(root)) == NULL) {
		rc = sgt_err(SGT_ERR_HSM, "cannot guard SoftHSM2 token '%s': cannot read token directory '%s' (%s)", label, root,
			     strerror(errno));
		sgt_hint("signet needs to read and write the token's directory to keep a known-good copy (docs/custody.md)");
		return rc;
	}
	while ((de = readdir(d)) != NULL) {
		char sub[PATH_MAX + 300];
		struct stat sb;

		if (de->d_name[0] == '.' || strlen(de->d_name) >= sizeof(found[0]))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", root, de->d_name);
		if (lstat(sub, &sb) != 0 || !S_ISDIR(sb.st_mode))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s/token.object", root, de->d_name);
		if (!file_labelled(sub, label)) {
			snprintf(sub, sizeof(sub), "%s/hsm/good/%s/token.object", st->dir, de->d_name);
			if (!file_labelled(sub, label))
				continue;
		}
		if (nfound < 2)
			snprintf(found[nfound], sizeof(found[0]), "%s", de->d_name);
		nfound++;
	}
	closedir(d);
	/*
	 * No such token, or two with the label: the module says so (naming the
	 * tokens it has, or their serials) before anything is written.
	 */
	return nfound == 1 ? tokdir_push(v, n, st->dir, root, found[0]) : SGT_OK;
}

/* The token directories the guard keeps for st (none for a module that keeps its own state). */
static int find_dirs(const struct sgt_store *st, struct tokdir **v, size_t *n, int *embedded)
{
	int rc;

	*v = NULL;
	*n = 0;
	*embedded = sgt_hsm_embedded(st);
	if (*embedded)
		rc = embedded_dirs(st, v, n);
	else if (st->dir != NULL && is_softhsm(st->cfg.module) && st->cfg.token != NULL)
		rc = external_dirs(st, v, n);
	else
		return SGT_OK;
	if (rc != SGT_OK) {
		free(*v);
		*v = NULL;
		*n = 0;
	}
	return rc;
}

/* Repairs every token directory entered (noting each repair in repairs) and refreshes the good copy; with damaged_seen, only counts. */
static int guard_tokens(int *damaged_seen, json_t *repairs)
{
	size_t i;
	int rc = SGT_OK;

	for (i = 0; rc == SGT_OK && i < ntds; i++)
		rc = guard_token_dir(&tds[i], damaged_seen, repairs);
	return rc;
}

void sgt_hsm_rescue(const char *dead)
{
	char gdir[PATH_MAX], path[PATH_MAX + 600];
	struct dirent *de;
	DIR *d;

	snprintf(gdir, sizeof(gdir), "%s/hsm/good", dead);
	if (enter_depth > 0 || (d = opendir(gdir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		struct tokdir td;
		unsigned char *live = NULL;
		size_t len = 0;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/.live", gdir, de->d_name);
		sgt_silent++;
		if (sgt_file_read(path, PATH_MAX - 1, &live, &len) != SGT_OK || live == NULL || len == 0 || live[0] != '/' ||
		    memchr(live, '\0', len) != NULL) {
			sgt_silent--;
			free(live);
			continue;
		}
		sgt_silent--;
		memset(&td, 0, sizeof(td));
		snprintf(td.name, sizeof(td.name), "%s", de->d_name);
		snprintf(td.live, sizeof(td.live), "%.*s", (int)len, (char *)live);
		free(live);
		if (snprintf(td.good, sizeof(td.good), "%s/%s", gdir, de->d_name) >= (int)sizeof(td.good) ||
		    snprintf(td.qdir, sizeof(td.qdir), "%s/hsm/quarantine/%s", dead, de->d_name) >= (int)sizeof(td.qdir))
			continue;
		/* only a token directory outside the dead store, which goes with it otherwise */
		if (strncmp(td.live, dead, strlen(dead)) == 0)
			continue;
		snprintf(path, sizeof(path), "%s/.signet-guard.lock", td.live);
		if (open_guard(path, 0) != SGT_OK)
			continue;
		if (flock(guard_fd, LOCK_EX | LOCK_NB) == 0)
			(void)guard_token_dir(&td, NULL, NULL);	/* the dead store's log goes with it; the lines on stderr say */
		close(guard_fd);
		guard_fd = -1;
	}
	closedir(d);
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

static int open_guard(const char *path, int readonly)
{
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

		rc = guard_tokens(&damaged, NULL);
		if (rc != SGT_OK || damaged == 0)
			return rc;
		nanosleep(&ts, NULL);
	}
	rc = sgt_err(SGT_ERR_HSM, "a file of the token in '%s' is damaged and another signet process is using the token",
		     ntds > 0 ? tds[0].live : st->dir);
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
	int damaged = 0, rc = guard_tokens(&damaged, NULL);

	if (rc == SGT_OK && damaged > 0) {
		rc = sgt_err(SGT_ERR_HSM, "a file of the token in '%s' is damaged and the store '%s' is read-only: "
			     "it cannot be restored from the known-good copy here", ntds > 0 ? tds[0].live : "?", st->dir);
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
	int rc = SGT_OK, embedded = 0, readonly;

	if (repairs != NULL)
		*repairs = NULL;
	sgt_sig_hold();
	if (enter_depth++ > 0)
		return SGT_OK;
	if ((rc = find_dirs(st, &tds, &ntds, &embedded)) != SGT_OK)
		goto fail;
	guard_embedded = embedded;
	if (ntds == 0 && !embedded)
		return SGT_OK;	/* a module that keeps its own state */
	if ((made = json_array()) == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto fail;
	}
	/* The embedded token's lock is the store's; an external token's is in its directory, for every store using it. */
	if (embedded)
		snprintf(lock_path, sizeof(lock_path), "%s/hsm/guard.lock", st->dir);
	else
		snprintf(lock_path, sizeof(lock_path), "%s/.signet-guard.lock", tds[0].live);
	readonly = sgt_store_readonly(st);
	if ((rc = open_guard(lock_path, readonly && embedded)) != SGT_OK)
		goto fail;
	if (flock(guard_fd, LOCK_EX | LOCK_NB) == 0) {
		rc = embedded ? relocate_conf(st, readonly) : SGT_OK;
		rc = rc ? rc : readonly ? readonly_check(st) : guard_tokens(NULL, made);
		if (rc != SGT_OK)
			goto fail;
	} else if ((rc = busy_check(st)) != SGT_OK || (readonly && embedded && (rc = relocate_conf(st, 1)) != SGT_OK)) {
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
	free(tds);
	tds = NULL;
	ntds = 0;
	guard_embedded = 0;
	enter_depth--;
	sgt_sig_release();
	return rc;
}

int sgt_hsm_guarding(void)
{
	return enter_depth > 0 && guard_fd >= 0;
}

int sgt_hsm_sole_token(const unsigned char label[32], const unsigned char serial[16])
{
	char path[PATH_MAX + 32];
	unsigned char *b = NULL;
	size_t len = 0;
	int yes, rc;

	if (!sgt_hsm_guarding() || !guard_embedded || ntds != 1 || label[0] == 0 || serial[0] == 0)
		return 0;
	snprintf(path, sizeof(path), "%s/token.object", tds[0].live);
	sgt_silent++;
	rc = slurp(path, &b, &len);
	sgt_silent--;
	yes = rc == SGT_OK && b != NULL && token_field_is(b, len, 0x80005349ULL /* label */, label, 32) &&
	      token_field_is(b, len, 0x8000534aULL /* serial */, serial, 16);
	free(b);
	return yes;
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
		free(tds);
		tds = NULL;
		ntds = 0;
		guard_embedded = 0;
	}
	sgt_sig_release();
}

/*
 * Calls fn(td, file name, ctx) for every key object file of the token
 * directories v (not token.object, not generation), stopping at the
 * first failure.
 */
static int for_each_object(const struct tokdir *v, size_t n,
			   int (*fn)(const struct tokdir *td, const char *name, void *ctx), void *ctx)
{
	size_t i;
	int rc = SGT_OK;

	for (i = 0; rc == SGT_OK && i < n; i++) {
		struct dirent *te;
		DIR *t;

		if ((t = opendir(v[i].live)) == NULL)
			continue;
		while (rc == SGT_OK && (te = readdir(t)) != NULL)
			if (is_guarded_name(te->d_name) && strcmp(te->d_name, "token.object") != 0 &&
			    strcmp(te->d_name, "generation") != 0)
				rc = fn(&v[i], te->d_name, ctx);
		closedir(t);
	}
	return rc;
}

/* Syncs a file or directory by name (open read-only, fsync: the module never syncs what it writes). */
static int sync_path(const char *path, int dir)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | (dir ? O_DIRECTORY : 0)), rc = SGT_OK;

	if (fd < 0)
		return sgt_err(SGT_ERR_DATA, "cannot open '%s': %s", path, strerror(errno));
	if (fsync(fd) != 0)
		rc = sgt_err(SGT_ERR_DATA, "cannot sync '%s': %s", path, strerror(errno));
	close(fd);
	return rc;
}

struct snap {
	json_t *names;	/* "<index>/<file>" of the new objects */
	const struct tokdir *base;
};

/* An object file with no good copy yet: made durable where the module wrote it, then copied. */
static int snapshot_find(const struct tokdir *td, const char *name, void *ctx)
{
	struct snap *sn = ctx;
	char live[PATH_MAX + 300], good[PATH_MAX + 300], key[320];
	unsigned char *lb = NULL;
	size_t ll = 0;
	struct stat sb;
	int rc;

	snprintf(good, sizeof(good), "%s/%s", td->good, name);
	if (lstat(good, &sb) == 0)
		return SGT_OK;
	snprintf(live, sizeof(live), "%s/%s", td->live, name);
	if ((rc = slurp(live, &lb, &ll)) == SGT_OK && lb != NULL && file_ok(name, lb, ll) &&
	    (rc = sync_path(live, 0)) == SGT_OK) {
		snprintf(key, sizeof(key), "%zu/%s", (size_t)(td - sn->base), name);
		rc = json_array_append_new(sn->names, json_string(key)) == 0 ? SGT_OK : sgt_err(SGT_ERR_DATA, "out of memory");
	}
	free(lb);
	return rc;
}

int sgt_hsm_snapshot_new(const struct sgt_store *st)
{
	struct tokdir *v = tds, *own = NULL;
	size_t n = ntds, i, k;
	struct snap sn = { NULL, NULL };
	json_t *e;
	int rc, embedded;

	if (enter_depth == 0 || guard_fd < 0) {
		if ((rc = find_dirs(st, &own, &n, &embedded)) != SGT_OK)
			return rc;
		v = own;
	}
	sn.base = v;
	if ((sn.names = json_array()) == NULL) {
		free(own);
		return sgt_err(SGT_ERR_DATA, "out of memory");
	}
	/*
	 * Before a record names a new object, its files and directory entry are
	 * durable where the module wrote them (SoftHSM2 syncs neither: after a
	 * power cut the directory could come back without them), and so is its
	 * known-good copy (written and synced, file and directory).
	 */
	rc = for_each_object(v, n, snapshot_find, &sn);
	for (i = 0; rc == SGT_OK && i < n; i++) {
		int any = 0;

		json_array_foreach(sn.names, k, e)
			any |= (size_t)atol(json_string_value(e)) == i;
		if (any)
			rc = sync_path(v[i].live, 1);
	}
	json_array_foreach(sn.names, k, e) {
		const char *key = json_string_value(e), *name = strchr(key, '/') + 1;
		const struct tokdir *td = &v[atol(key)];
		char live[PATH_MAX + 300], good[PATH_MAX + 300], parent[PATH_MAX + 16];
		unsigned char *lb = NULL;
		size_t ll = 0;

		if (rc != SGT_OK)
			break;
		snprintf(live, sizeof(live), "%s/%s", td->live, name);
		snprintf(good, sizeof(good), "%s/%s", td->good, name);
		if ((rc = slurp(live, &lb, &ll)) == SGT_OK && lb != NULL)
			rc = sgt_atomic_write(good, lb, ll, 1);
		free(lb);
		/* the copy's directory itself, made by an earlier guard without a sync (once) */
		snprintf(parent, sizeof(parent), "%s/..", td->good);
		if (rc == SGT_OK && k == 0)
			rc = sync_path(parent, 1);
	}
	json_decref(sn.names);
	free(own);
	return rc;
}

/*
 * Destroying an object on a guarded token: the names of the object files
 * before (mark), and after the module's C_DestroyObject the ones gone
 * (note): written to <token dir>/.signet-destroyed, synced with the
 * directory, so no guard brings them back from a good copy.
 */
static int name_one(const struct tokdir *td, const char *name, void *ctx)
{
	char key[320];

	snprintf(key, sizeof(key), "%zu/%s", (size_t)(td - tds), name);
	return json_array_append_new(ctx, json_string(key)) == 0 ? SGT_OK : sgt_err(SGT_ERR_DATA, "out of memory");
}

/* name (gone from td on purpose) joins td's .signet-destroyed, durably. */
static int note_destroyed(const struct tokdir *td, const char *name)
{
	char path[PATH_MAX + 32], line[300];
	int fd, rc = SGT_OK;

	snprintf(path, sizeof(path), "%s/.signet-destroyed", td->live);
	snprintf(line, sizeof(line), "%s\n", name);
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0)
		return sgt_err(SGT_ERR_DATA, "cannot open '%s': %s", path, strerror(errno));
	if (sgt_write_all(fd, line, strlen(line)) != 0 || fsync(fd) != 0)
		rc = sgt_err(SGT_ERR_DATA, "cannot write '%s': %s", path, strerror(errno));
	close(fd);
	return rc ? rc : sync_path(td->live, 1);
}

json_t *sgt_hsm_destroy_mark(void)
{
	json_t *m;

	if (!sgt_hsm_guarding() || ntds == 0 || (m = json_array()) == NULL)
		return NULL;
	if (for_each_object(tds, ntds, name_one, m) != SGT_OK) {
		json_decref(m);
		return NULL;
	}
	return m;
}

int sgt_hsm_destroy_note(json_t *mark)
{
	json_t *now = NULL, *e;
	size_t i;
	int rc = SGT_OK;

	if (mark == NULL)
		return SGT_OK;
	if (!sgt_hsm_guarding() || (now = json_array()) == NULL || (rc = for_each_object(tds, ntds, name_one, now)) != SGT_OK)
		goto out;
	json_array_foreach(mark, i, e) {
		const char *key = json_string_value(e);
		const struct tokdir *td = &tds[atol(key)];
		size_t j;
		int gone = 1;

		for (j = 0; gone && j < json_array_size(now); j++)
			gone = strcmp(json_string_value(json_array_get(now, j)), key) != 0;
		if (!gone || (size_t)atol(key) >= ntds)
			continue;
		if ((rc = note_destroyed(td, strchr(key, '/') + 1)) != SGT_OK)
			break;
	}
out:
	json_decref(now);
	json_decref(mark);
	return rc;
}

static int list_one(const struct tokdir *td, const char *name, void *ctx)
{
	char full[600];

	snprintf(full, sizeof(full), "%s/%s", td->name, name);
	return json_array_append_new(ctx, json_string(full)) == 0 ? SGT_OK : sgt_err(SGT_ERR_DATA, "out of memory");
}

/* "<token dir>/<file>" of every object file of the embedded token, into arr. */
static int list_objects(const struct sgt_store *st, json_t *arr)
{
	struct tokdir *v = NULL;
	size_t n = 0;
	int rc = embedded_dirs(st, &v, &n);

	rc = rc ? rc : for_each_object(v, n, list_one, arr);
	free(v);
	return rc;
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
	struct tokdir *dirs = NULL;
	size_t i, j, ndirs = 0;
	int rc, opened = 0;

	*moved = 0;
	if (!sgt_hsm_embedded(st) || !json_is_array(known))
		return SGT_OK;
	if (guard_fd < 0) {
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/hsm/guard.lock", st->dir);
		if ((rc = open_guard(path, 0)) != SGT_OK)
			return rc;
		opened = 1;
	}
	sgt_sig_hold();
	/* Never wait here: a signer holding the guard may be waiting for the store lock this command holds. */
	if (flock(guard_fd, LOCK_EX | LOCK_NB) != 0) {
		rc = errno == EWOULDBLOCK ? 1 : sgt_err(SGT_ERR_DATA, "cannot lock the token guard: %s", strerror(errno));
		goto out;
	}
	if ((rc = embedded_dirs(st, &dirs, &ndirs)) != SGT_OK || (now = json_array()) == NULL ||
	    (rc = for_each_object(dirs, ndirs, list_one, now)) != SGT_OK)
		goto out;
	json_array_foreach(now, i, v) {
		const char *name = json_string_value(v), *slash = strchr(name, '/');
		const struct tokdir *td = NULL;
		char live[PATH_MAX + 300];
		int seen = 0;

		for (j = 0; j < json_array_size(known) && !seen; j++)
			seen = json_string_value(json_array_get(known, j)) != NULL &&
			       strcmp(json_string_value(json_array_get(known, j)), name) == 0;
		for (j = 0; slash != NULL && j < ndirs && td == NULL; j++)
			if (strlen(dirs[j].name) == (size_t)(slash - name) && strncmp(dirs[j].name, name, (size_t)(slash - name)) == 0)
				td = &dirs[j];
		if (seen || td == NULL)
			continue;
		snprintf(live, sizeof(live), "%s/%s", td->live, slash + 1);
		/* moved aside on purpose: a known-good copy a snapshot made of it must not bring it back */
		if ((rc = move_aside(td, slash + 1, live)) != SGT_OK || (rc = note_destroyed(td, slash + 1)) != SGT_OK)
			break;
		(*moved)++;
	}
out:
	json_decref(now);
	free(dirs);
	if (opened) {
		close(guard_fd);
		guard_fd = -1;
	} else if (guard_fd >= 0) {
		guard_lock(LOCK_SH);
	}
	sgt_sig_release();
	return rc;
}
