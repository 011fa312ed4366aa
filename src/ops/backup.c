/*
 * backup.c: the backup archive's payload (format in docs/backup.md): packs
 * a store into (path, mode, size, bytes) entries behind a JSON manifest,
 * parses and checks a payload before a caller writes a byte, and writes a
 * restored tree.  The envelopes that seal a payload are backup_seal.c's.
 * Floor: ops.  It never prints to stdout, never talks to a token, never
 * records and never decides where a store or an archive goes: cmd_backup.c
 * does, through a custody transaction (tx.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup.h"
#include "store.h"

#define MANIFEST_MAX 65536

/* ---- big-endian fields ---- */

static void put16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static void put64(unsigned char *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static unsigned get16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const unsigned char *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

/* ---- paths and the payload list ---- */

int sgt_backup_path_ok(const char *rel)
{
	static const char allowed[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-+=@,:~";
	const char *p = rel, *slash;
	size_t len = strlen(rel), n;

	if (len == 0 || len > SGT_BACKUP_MAX_PATH)
		return 0;
	for (;;) {
		slash = strchr(p, '/');
		n = slash ? (size_t)(slash - p) : strlen(p);
		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
		if (strspn(p, allowed) < n)
			return 0;
		if (slash == NULL)
			return 1;
		p = slash + 1;
	}
}

/* Path order in which a directory's contents follow it directly: '/' sorts first. */
static int path_cmp(const char *a, const char *b)
{
	for (;; a++, b++) {
		unsigned ca = *a == '/' ? 1 : (unsigned char)*a;
		unsigned cb = *b == '/' ? 1 : (unsigned char)*b;

		if (ca != cb || ca == 0)
			return (int)ca - (int)cb;
	}
}

static int entry_cmp(const void *a, const void *b)
{
	return path_cmp(((const struct sgt_backup_entry *)a)->path, ((const struct sgt_backup_entry *)b)->path);
}

void sgt_backup_list_release(struct sgt_backup_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i].path);
	free(l->v);
	json_decref(l->manifest);
	memset(l, 0, sizeof(*l));
}

const struct sgt_backup_entry *sgt_backup_find(const struct sgt_backup_list *l, const char *path)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i].path, path) == 0)
			return &l->v[i];
	return NULL;
}

/* Sorts, then refuses duplicates and entries below a file. */
static int list_check(struct sgt_backup_list *l, char why[128])
{
	size_t i;

	qsort(l->v, l->n, sizeof(l->v[0]), entry_cmp);
	for (i = 0; i + 1 < l->n; i++) {
		const struct sgt_backup_entry *a = &l->v[i], *b = &l->v[i + 1];
		size_t alen = strlen(a->path);

		if (strcmp(a->path, b->path) == 0) {
			snprintf(why, 128, "'%.80s' appears twice", a->path);
			return SGT_ERR_DATA;
		}
		if (a->type == SGT_ENTRY_FILE && strncmp(a->path, b->path, alen) == 0 && b->path[alen] == '/') {
			snprintf(why, 128, "'%.60s' is below the file '%.30s'", b->path, a->path);
			return SGT_ERR_DATA;
		}
	}
	return SGT_OK;
}

int sgt_backup_parse(const unsigned char *buf, size_t len, struct sgt_backup_list *l, char why[128])
{
	size_t pos = 0, mlen, count, i;
	json_error_t jerr;

	memset(l, 0, sizeof(*l));
	why[0] = '\0';
	if (len < 8 + 1 + 4 || memcmp(buf, SGT_BACKUP_PAYLOAD_MAGIC, 8) != 0) {
		snprintf(why, 128, "the decrypted content is not a signet store payload");
		return SGT_ERR_DATA;
	}
	if (buf[8] != SGT_BACKUP_VERSION) {
		snprintf(why, 128, "payload version %u is not supported (this signet reads %d)", buf[8], SGT_BACKUP_VERSION);
		return SGT_ERR_DATA;
	}
	mlen = get32(buf + 9);
	pos = 13;
	if (mlen > MANIFEST_MAX || mlen > len - pos) {
		snprintf(why, 128, "the manifest is truncated or too large");
		return SGT_ERR_DATA;
	}
	l->manifest = json_loadb((const char *)buf + pos, mlen, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(l->manifest)) {
		snprintf(why, 128, "the manifest is not a JSON object");
		goto bad;
	}
	pos += mlen;
	if (len - pos < 4) {
		snprintf(why, 128, "the entry count is missing");
		goto bad;
	}
	count = get32(buf + pos);
	pos += 4;
	/* The smallest entry (a one-letter directory) is 6 bytes: never allocate for more than the buffer holds. */
	if (count > SGT_BACKUP_MAX_ENTRIES || count > (len - pos) / 6) {
		snprintf(why, 128, "%zu entries cannot fit in the payload", count);
		goto bad;
	}
	if (count > 0 && (l->v = calloc(count, sizeof(*l->v))) == NULL) {
		snprintf(why, 128, "out of memory");
		goto bad;
	}
	for (i = 0; i < count; i++) {
		struct sgt_backup_entry *e = &l->v[i];
		size_t plen;

		if (len - pos < 5) {
			snprintf(why, 128, "entry %zu is truncated", i + 1);
			goto bad;
		}
		e->type = buf[pos];
		e->mode = get16(buf + pos + 1);
		plen = get16(buf + pos + 3);
		pos += 5;
		if (e->type != SGT_ENTRY_FILE && e->type != SGT_ENTRY_DIR) {
			snprintf(why, 128, "entry %zu has an unknown type 0x%02x", i + 1, (unsigned)e->type);
			goto bad;
		}
		if (e->mode > 07777) {
			snprintf(why, 128, "entry %zu has an impossible mode", i + 1);
			goto bad;
		}
		if (plen == 0 || plen > SGT_BACKUP_MAX_PATH || plen > len - pos) {
			snprintf(why, 128, "entry %zu has a bad path length", i + 1);
			goto bad;
		}
		if (memchr(buf + pos, '\0', plen) != NULL || (e->path = strndup((const char *)buf + pos, plen)) == NULL) {
			snprintf(why, 128, "entry %zu has a bad path", i + 1);
			goto bad;
		}
		l->n = i + 1;
		pos += plen;
		if (!sgt_backup_path_ok(e->path)) {
			snprintf(why, 128, "entry %zu has a path signet does not restore: '%.60s'", i + 1, e->path);
			goto bad;
		}
		if (e->type == SGT_ENTRY_DIR)
			continue;
		if (len - pos < 8) {
			snprintf(why, 128, "entry '%.80s' is truncated", e->path);
			goto bad;
		}
		e->size = get64(buf + pos);
		pos += 8;
		if (e->size > len - pos) {
			snprintf(why, 128, "entry '%.80s' is truncated", e->path);
			goto bad;
		}
		e->data = buf + pos;
		pos += (size_t)e->size;
	}
	if (pos != len) {
		snprintf(why, 128, "%zu bytes follow the last entry", len - pos);
		goto bad;
	}
	if (list_check(l, why) != SGT_OK)
		goto bad;
	return SGT_OK;
bad:
	sgt_backup_list_release(l);
	return SGT_ERR_DATA;
}

/* ---- packing a store ---- */

struct walk {
	const char *root;
	struct sgt_backup_entry *v;
	size_t n, cap;
};

/*
 * Atomic-write temporaries (NAME.tmpXXXXXX), and files a transaction has
 * staged (NAME.signet-<id>.tmp): a signer that let go of the store lock
 * around its slow work may have some, and they are not the store's yet.
 */
static int is_temporary(const char *name)
{
	size_t len = strlen(name);
	const char *p = strstr(name, ".signet-");

	if (p != NULL && strlen(p) == 8 + 32 + 4 && strcmp(p + 8 + 32, ".tmp") == 0)
		return 1;
	return len > 10 && memcmp(name + len - 10, ".tmp", 4) == 0;
}

static int names_cmp(const void *a, const void *b)
{
	return path_cmp(*(char *const *)a, *(char *const *)b);
}

static int walk_add(struct walk *w, const char *rel, int type, unsigned mode, uint64_t size)
{
	if (w->n == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 64;
		struct sgt_backup_entry *v;

		if (cap > SGT_BACKUP_MAX_ENTRIES)
			return sgt_err(SGT_ERR_DATA, "the store at '%s' has more than %d files", w->root,
				       SGT_BACKUP_MAX_ENTRIES);
		if ((v = realloc(w->v, cap * sizeof(*v))) == NULL)
			return sgt_err(SGT_ERR_DATA, "out of memory");
		w->v = v;
		w->cap = cap;
	}
	memset(&w->v[w->n], 0, sizeof(w->v[0]));
	if ((w->v[w->n].path = strdup(rel)) == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	w->v[w->n].type = type;
	w->v[w->n].mode = mode & 07777;
	w->v[w->n].size = size;
	w->n++;
	return SGT_OK;
}

/* Adds the contents of <root>/<rel> (rel "" for the root), depth first, sorted. */
static int walk_dir(struct walk *w, const char *rel, int depth)
{
	char path[PATH_MAX], sub[PATH_MAX];
	char **names = NULL;
	size_t n = 0, cap = 0, i;
	struct dirent *de;
	DIR *d;
	int rc = SGT_OK;

	if (depth > 32)
		return sgt_err(SGT_ERR_DATA, "the store at '%s' is nested too deeply at '%s'", w->root, rel);
	snprintf(path, sizeof(path), "%s%s%s", w->root, *rel ? "/" : "", rel);
	if ((d = opendir(path)) == NULL)
		return sgt_err(SGT_ERR_DATA, "cannot read directory '%s': %s", path, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if ((*rel == '\0' && strcmp(de->d_name, "lock") == 0) || is_temporary(de->d_name))
			continue;
		/* a module store's hsm/ is the guard's copy of an external SoftHSM2 token: the HSM's to back up */
		if (*rel == '\0' && strcmp(de->d_name, "hsm") == 0) {
			struct stat tb;

			snprintf(sub, sizeof(sub), "%s/hsm/tokens", w->root);
			if (lstat(sub, &tb) != 0)
				continue;
		}
		if (n == cap) {
			char **nn = realloc(names, (cap = cap ? 2 * cap : 32) * sizeof(*names));

			if (nn == NULL) {
				rc = sgt_err(SGT_ERR_DATA, "out of memory");
				goto out;
			}
			names = nn;
		}
		if ((names[n] = strdup(de->d_name)) == NULL) {
			rc = sgt_err(SGT_ERR_DATA, "out of memory");
			goto out;
		}
		n++;
	}
	if (n > 0)	/* qsort(NULL, 0) is undefined */
		qsort(names, n, sizeof(*names), names_cmp);
	for (i = 0; i < n && rc == SGT_OK; i++) {
		struct stat sb;
		int len = snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "", names[i]);

		if (len < 0 || (size_t)len >= sizeof(sub) || !sgt_backup_path_ok(sub)) {
			rc = sgt_err(SGT_ERR_DATA, "cannot back up '%s/%s': signet archives only plain names "
				     "([A-Za-z0-9._-+=@,:~])", path, names[i]);
			break;
		}
		snprintf(path, sizeof(path), "%s/%s", w->root, sub);
		if (lstat(path, &sb) != 0) {
			rc = sgt_err(SGT_ERR_DATA, "cannot read '%s': %s", path, strerror(errno));
		} else if (S_ISDIR(sb.st_mode)) {
			if ((rc = walk_add(w, sub, SGT_ENTRY_DIR, sb.st_mode, 0)) == SGT_OK)
				rc = walk_dir(w, sub, depth + 1);
		} else if (S_ISREG(sb.st_mode)) {
			rc = walk_add(w, sub, SGT_ENTRY_FILE, sb.st_mode, (uint64_t)sb.st_size);
		} else {
			rc = sgt_err(SGT_ERR_DATA, "cannot back up '%s': %s in the store", path,
				     S_ISLNK(sb.st_mode) ? "a symbolic link has no place" : "not a regular file or directory");
		}
	}
out:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return rc;
}

/* Reads exactly size bytes of root/rel into dst, refusing a file that changed. */
static int read_exact(const char *root, const char *rel, unsigned char *dst, uint64_t size)
{
	char path[PATH_MAX];
	uint64_t done = 0;
	struct stat sb;
	char extra;
	int fd, rc = SGT_OK;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return sgt_err(SGT_ERR_DATA, "cannot read '%s': %s", path, strerror(errno));
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size != size) {
		rc = sgt_err(SGT_ERR_DATA, "cannot back up '%s': it changed while the store was being read", path);
		goto out;
	}
	while (done < size) {
		ssize_t n = read(fd, dst + done, (size_t)(size - done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? sgt_err(SGT_ERR_DATA, "cannot read '%s': %s", path, strerror(errno))
				   : sgt_err(SGT_ERR_DATA, "cannot back up '%s': it shrank while being read", path);
			goto out;
		}
		done += (uint64_t)n;
	}
	if (read(fd, &extra, 1) != 0)
		rc = sgt_err(SGT_ERR_DATA, "cannot back up '%s': it grew while being read", path);
out:
	close(fd);
	return rc;
}

/* 1 when rel is one of keep's paths or below one. */
static int kept(const char *const *keep, const char *rel)
{
	size_t i, n;

	for (i = 0; keep[i] != NULL; i++) {
		n = strlen(keep[i]);
		if (strncmp(rel, keep[i], n) == 0 && (rel[n] == '\0' || rel[n] == '/'))
			return 1;
	}
	return 0;
}

int sgt_backup_pack(const char *storedir, json_t *manifest, unsigned char **out, size_t *outlen, size_t *nfiles)
{
	return sgt_backup_pack_with(storedir, NULL, NULL, 0, manifest, out, outlen, nfiles);
}

int sgt_backup_pack_with(const char *storedir, const char *const *keep, const struct sgt_backup_entry *extra,
			 size_t nextra, json_t *manifest, unsigned char **out, size_t *outlen, size_t *nfiles)
{
	struct walk w = { storedir, NULL, 0, 0 };
	struct sgt_backup_list l;
	char *mtext = NULL;
	unsigned char *buf = NULL;
	size_t total, mlen, i, pos, files = 0;
	char why[128];
	int rc;

	*out = NULL;
	*outlen = 0;
	if ((rc = walk_dir(&w, "", 0)) != SGT_OK)
		goto out;
	if (keep != NULL) {
		size_t k = 0;

		for (i = 0; i < w.n; i++) {
			if (kept(keep, w.v[i].path))
				w.v[k++] = w.v[i];
			else
				free(w.v[i].path);
		}
		w.n = k;
	}
	/* Entries given in memory (data never NULL), then the whole list in the payload's order. */
	for (i = 0; i < nextra && rc == SGT_OK; i++) {
		if (!sgt_backup_path_ok(extra[i].path)) {
			rc = sgt_err(SGT_ERR_DATA, "cannot back up '%s': signet archives only plain names "
				     "([A-Za-z0-9._-+=@,:~])", extra[i].path);
			break;
		}
		if ((rc = walk_add(&w, extra[i].path, extra[i].type, extra[i].mode, extra[i].size)) == SGT_OK)
			w.v[w.n - 1].data = extra[i].data ? extra[i].data : (const unsigned char *)"";
	}
	if (rc != SGT_OK)
		goto out;
	if (nextra > 0)
		qsort(w.v, w.n, sizeof(w.v[0]), entry_cmp);
	{
		json_t *m = manifest ? json_incref(manifest) : json_object();

		mtext = m ? json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		json_decref(m);
	}
	if (mtext == NULL || (mlen = strlen(mtext)) > MANIFEST_MAX) {
		rc = sgt_err(SGT_ERR_DATA, "cannot encode the backup manifest");
		goto out;
	}
	total = 13 + mlen + 4;
	for (i = 0; i < w.n; i++) {
		size_t add = 5 + strlen(w.v[i].path) + (w.v[i].type == SGT_ENTRY_FILE ? 8 : 0);

		if (w.v[i].size > SGT_BACKUP_MAX || total + add + w.v[i].size > SGT_BACKUP_MAX) {
			rc = sgt_err(SGT_ERR_DATA, "the store at '%s' is larger than a backup may be (%lu MiB)", storedir,
				     SGT_BACKUP_MAX >> 20);
			goto out;
		}
		total += add + (size_t)w.v[i].size;
	}
	/* One allocation of the final size: the secrets inside are never left behind in a realloc. */
	if ((buf = malloc(total)) == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	memcpy(buf, SGT_BACKUP_PAYLOAD_MAGIC, 8);
	buf[8] = SGT_BACKUP_VERSION;
	put32(buf + 9, (uint32_t)mlen);
	memcpy(buf + 13, mtext, mlen);
	pos = 13 + mlen;
	put32(buf + pos, (uint32_t)w.n);
	pos += 4;
	for (i = 0; i < w.n; i++) {
		const struct sgt_backup_entry *e = &w.v[i];
		size_t plen = strlen(e->path);

		buf[pos] = (unsigned char)e->type;
		put16(buf + pos + 1, e->mode);
		put16(buf + pos + 3, (unsigned)plen);
		memcpy(buf + pos + 5, e->path, plen);
		pos += 5 + plen;
		if (e->type == SGT_ENTRY_DIR)
			continue;
		put64(buf + pos, e->size);
		pos += 8;
		if (e->data != NULL)
			memcpy(buf + pos, e->data, (size_t)e->size);
		else if ((rc = read_exact(storedir, e->path, buf + pos, e->size)) != SGT_OK)
			goto out;
		pos += (size_t)e->size;
		files++;
	}
	/* What was written must read back: the restore side runs the same parser. */
	if (sgt_backup_parse(buf, total, &l, why) != SGT_OK) {
		rc = sgt_err(SGT_ERR_DATA, "cannot back up '%s': %s", storedir, why);
		goto out;
	}
	sgt_backup_list_release(&l);
	*out = buf;
	*outlen = total;
	buf = NULL;
	if (nfiles != NULL)
		*nfiles = files;
out:
	sgt_backup_secret_free(buf, buf ? total : 0);
	free(mtext);
	for (i = 0; i < w.n; i++)
		free(w.v[i].path);
	free(w.v);
	return rc;
}

/* ---- writing a restored tree ---- */

int sgt_backup_softhsm_conf(const unsigned char *conf, size_t len, const char *tokendir, struct sgt_buf *out)
{
	const char *p = (const char *)conf, *end = p + len;
	int found = 0, rc = SGT_OK;

	if (strchr(tokendir, '\n') != NULL)
		return sgt_err(SGT_ERR_DATA, "token directory '%s' has a line break in its name", tokendir);
	while (p < end && rc == SGT_OK) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl + 1 : end;
		const char *q = p;

		while (q < eol && (*q == ' ' || *q == '\t'))
			q++;
		if ((size_t)(eol - q) >= 20 && memcmp(q, "directories.tokendir", 20) == 0 &&
		    (q + 20 == eol || q[20] == ' ' || q[20] == '\t' || q[20] == '=')) {
			rc = sgt_buf_printf(out, "directories.tokendir = %s\n", tokendir);
			found = 1;
		} else {
			rc = sgt_buf_add(out, p, (size_t)(eol - p));
			if (rc == SGT_OK && nl == NULL && eol > p)
				rc = sgt_buf_add(out, "\n", 1);
		}
		p = eol;
	}
	if (rc == SGT_OK && !found)
		rc = sgt_buf_printf(out, "directories.tokendir = %s\n", tokendir);
	return rc;
}

static int fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = SGT_OK;

	if (fd < 0 || fsync(fd) != 0)
		rc = sgt_err(SGT_ERR_DATA, "cannot sync directory '%s': %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	return rc;
}

static int write_file(const char *path, const unsigned char *data, size_t len)
{
	int e;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0)
		return sgt_err(SGT_ERR_DATA, "cannot create '%s': %s", path, strerror(errno));
	if ((e = sgt_write_all(fd, data, len)) != 0) {
		close(fd);
		return sgt_err(SGT_ERR_DATA, "cannot write '%s': %s", path, strerror(e));
	}
	if (fsync(fd) != 0 || close(fd) != 0)
		return sgt_err(SGT_ERR_DATA, "cannot write '%s': %s", path, strerror(errno));
	return SGT_OK;
}

int sgt_backup_write_tree(const struct sgt_backup_list *l, const char *dir, const char *override_path,
			  const void *override, size_t override_len)
{
	char path[PATH_MAX];
	size_t i;
	int rc = SGT_OK;

	for (i = 0; i < l->n && rc == SGT_OK; i++) {
		const struct sgt_backup_entry *e = &l->v[i];

		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->path) >= sizeof(path))
			return sgt_err(SGT_ERR_DATA, "path too long: '%s/%s'", dir, e->path);
		if (e->type == SGT_ENTRY_DIR) {
			if (mkdir(path, 0700) != 0)
				rc = sgt_err(SGT_ERR_DATA, "cannot create directory '%s': %s", path, strerror(errno));
			continue;
		}
		/* An archive need not list every directory: make missing parents. */
		{
			char parent[PATH_MAX];
			char *slash;

			strcpy(parent, path);
			slash = strrchr(parent, '/');
			*slash = '\0';
			if ((rc = sgt_mkdirs(parent)) != SGT_OK)
				break;
		}
		if (override_path != NULL && strcmp(e->path, override_path) == 0)
			rc = write_file(path, override, override_len);
		else
			rc = write_file(path, e->data, (size_t)e->size);
	}
	/* Deepest first, so each directory's entry in its parent is synced after its own contents. */
	for (i = l->n; rc == SGT_OK && i-- > 0;)
		if (l->v[i].type == SGT_ENTRY_DIR) {
			snprintf(path, sizeof(path), "%s/%s", dir, l->v[i].path);
			rc = fsync_path(path);
		}
	if (rc == SGT_OK)
		rc = fsync_path(dir);
	return rc;
}
