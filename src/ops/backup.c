/*
 * backup.c: the backup archive (format in docs/backup.md).  Packs a store
 * into a payload of (path, mode, size, bytes) entries, seals it with a
 * passphrase (scrypt, then AES-256-GCM with the header as additional
 * data) or to a recipient certificate (CMS AuthEnvelopedData with
 * AES-256-GCM), and on the way back authenticates the whole archive and
 * checks every entry before a caller writes a byte.  It never prints to
 * stdout, never talks to a token and never decides where a store goes:
 * that is cmd_backup.c's job.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/cms.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/ec.h>
#include <openssl/pem.h>

#include "backup.h"
#include "store.h"

#define HDR_FIXED 10		/* magic, version, kind */
#define SALT_LEN 16
#define NONCE_LEN 12
#define TAG_LEN 16
#define PASS_HDR_LEN (HDR_FIXED + 1 + 4 + 4 + SALT_LEN + NONCE_LEN)	/* 47 */
#define MANIFEST_MAX 65536

/* ---- passphrases ---- */

void sgt_backup_pass_wipe(struct sgt_pass *pass)
{
	OPENSSL_cleanse(pass, sizeof(*pass));
}

static int pass_read(int fd, const char *what, struct sgt_pass *pass)
{
	char c = 0;

	sgt_backup_pass_wipe(pass);
	for (;;) {
		ssize_t n = read(fd, &c, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			sgt_backup_pass_wipe(pass);
			return sgt_err(SGT_ERR_DATA, "cannot read the passphrase from %s: %s", what, strerror(errno));
		}
		if (n == 0 || c == '\n')
			break;
		if (pass->len >= SGT_BACKUP_PASS_MAX) {
			sgt_backup_pass_wipe(pass);
			return sgt_err(SGT_ERR_DATA, "the passphrase in %s is longer than %d bytes", what,
				       SGT_BACKUP_PASS_MAX);
		}
		pass->value[pass->len++] = c;
	}
	OPENSSL_cleanse(&c, sizeof(c));
	if (pass->len > 0 && pass->value[pass->len - 1] == '\r')
		pass->value[--pass->len] = '\0';
	if (pass->len == 0)
		return sgt_err(SGT_ERR_DATA, "the passphrase from %s is empty", what);
	return SGT_OK;
}

int sgt_backup_pass_file(const char *path, struct sgt_pass *pass)
{
	char what[4200];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc;

	if (fd < 0) {
		sgt_backup_pass_wipe(pass);
		return sgt_err(SGT_ERR_DATA, "cannot read passphrase file '%s': %s", path, strerror(errno));
	}
	snprintf(what, sizeof(what), "'%s'", path);
	rc = pass_read(fd, what, pass);
	close(fd);
	return rc;
}

int sgt_backup_pass_fd(int fd, struct sgt_pass *pass)
{
	char what[48];

	snprintf(what, sizeof(what), "file descriptor %d", fd);
	return pass_read(fd, what, pass);
}

void sgt_backup_secret_free(unsigned char *p, size_t len)
{
	if (p != NULL)
		OPENSSL_cleanse(p, len);
	free(p);
}

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

/* atomic-write temporaries: NAME.tmpXXXXXX */
static int is_temporary(const char *name)
{
	size_t len = strlen(name);

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

int sgt_backup_pack(const char *storedir, json_t *manifest, unsigned char **out, size_t *outlen, size_t *nfiles)
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
		if ((rc = read_exact(storedir, e->path, buf + pos, e->size)) != SGT_OK)
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

/* ---- envelopes ---- */

int sgt_backup_kind(const unsigned char *arch, size_t len, char why[128])
{
	why[0] = '\0';
	if (len < HDR_FIXED || memcmp(arch, SGT_BACKUP_MAGIC, 8) != 0) {
		snprintf(why, 128, "not a signet backup (no '%s' header)", SGT_BACKUP_MAGIC);
		return SGT_ERR_DATA;
	}
	if (arch[8] != SGT_BACKUP_VERSION) {
		snprintf(why, 128, "backup format version %u is not supported (this signet reads %d)", arch[8],
			 SGT_BACKUP_VERSION);
		return SGT_ERR_DATA;
	}
	if (arch[9] == SGT_BACKUP_KIND_SCRYPT && len < PASS_HDR_LEN + TAG_LEN) {
		snprintf(why, 128, "the archive is truncated (%zu bytes)", len);
		return SGT_ERR_DATA;
	}
	if (arch[9] != SGT_BACKUP_KIND_SCRYPT && arch[9] != SGT_BACKUP_KIND_CMS) {
		snprintf(why, 128, "unknown encryption kind %u", arch[9]);
		return SGT_ERR_DATA;
	}
	return arch[9];
}

static int kdf_check(const struct sgt_scrypt *k, char why[128])
{
	uint64_t n, mem;

	if (k->log2n < SGT_SCRYPT_LOG2N_MIN || k->log2n > SGT_SCRYPT_LOG2N_MAX || k->r < 1 || k->r > 32 || k->p < 1 ||
	    k->p > 16) {
		snprintf(why, 128, "scrypt parameters N=2^%u r=%u p=%u are outside what signet accepts", k->log2n,
			 (unsigned)k->r, (unsigned)k->p);
		return SGT_ERR_DATA;
	}
	n = (uint64_t)1 << k->log2n;
	mem = 128ULL * k->r * (n + 2) + 128ULL * k->r * k->p;
	if (mem > SGT_SCRYPT_MAXMEM) {
		snprintf(why, 128, "scrypt parameters N=2^%u r=%u p=%u need more than %lu MiB", k->log2n,
			 (unsigned)k->r, (unsigned)k->p, SGT_SCRYPT_MAXMEM >> 20);
		return SGT_ERR_DATA;
	}
	return SGT_OK;
}

static int derive(const struct sgt_pass *pass, const unsigned char *salt, const struct sgt_scrypt *k,
		  unsigned char key[32])
{
	/* The one slow step of a backup or restore (about 3 s at the default cost): -v says so before it. */
	sgt_verbose("deriving the archive key (scrypt N=2^%u, a few seconds)...", k->log2n);
	if (EVP_PBE_scrypt(pass->value, pass->len, salt, SALT_LEN, (uint64_t)1 << k->log2n, k->r, k->p,
			   SGT_SCRYPT_MAXMEM + (1UL << 20), key, 32) != 1)
		return SGT_ERR_DATA;
	return SGT_OK;
}

/* AES-256-GCM over in with aad; enc=1 writes the tag to tag, enc=0 checks it. */
static int gcm(int enc, const unsigned char key[32], const unsigned char *nonce, const unsigned char *aad,
	       size_t aadlen, const unsigned char *in, size_t len, unsigned char *out, unsigned char *tag)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	size_t done = 0;
	int n, ok = c != NULL;

	ok = ok && EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) == 1;
	ok = ok && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) == 1;
	ok = ok && EVP_CipherInit_ex(c, NULL, NULL, key, nonce, enc) == 1;
	ok = ok && EVP_CipherUpdate(c, NULL, &n, aad, (int)aadlen) == 1;
	while (ok && done < len) {
		int chunk = len - done > (1U << 30) ? (1 << 30) : (int)(len - done);

		ok = EVP_CipherUpdate(c, out + done, &n, in + done, chunk) == 1 && n == chunk;
		done += (size_t)chunk;
	}
	if (ok && !enc)
		ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) == 1;
	ok = ok && EVP_CipherFinal_ex(c, out + done, &n) == 1;
	if (ok && enc)
		ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) == 1;
	EVP_CIPHER_CTX_free(c);
	return ok ? SGT_OK : SGT_ERR_DATA;
}

int sgt_backup_seal_pass(const unsigned char *payload, size_t len, const struct sgt_pass *pass,
			 const struct sgt_scrypt *kdf, unsigned char **out, size_t *outlen)
{
	unsigned char key[32], *buf;
	char why[128];
	size_t total = PASS_HDR_LEN + len + TAG_LEN;
	int rc;

	*out = NULL;
	*outlen = 0;
	if (kdf_check(kdf, why) != SGT_OK)
		return sgt_err(SGT_ERR_USAGE, "%s", why);
	if (len > SGT_BACKUP_MAX || (buf = malloc(total)) == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	memcpy(buf, SGT_BACKUP_MAGIC, 8);
	buf[8] = SGT_BACKUP_VERSION;
	buf[9] = SGT_BACKUP_KIND_SCRYPT;
	buf[10] = (unsigned char)kdf->log2n;
	put32(buf + 11, kdf->r);
	put32(buf + 15, kdf->p);
	if ((rc = sgt_random(buf + 19, SALT_LEN + NONCE_LEN)) != SGT_OK) {
		free(buf);
		return rc;
	}
	if (derive(pass, buf + 19, kdf, key) != SGT_OK) {
		rc = sgt_err(SGT_ERR_DATA, "cannot derive the backup key with scrypt: %s", sgt_ossl_why());
		goto out;
	}
	if (gcm(1, key, buf + 19 + SALT_LEN, buf, PASS_HDR_LEN, payload, len, buf + PASS_HDR_LEN,
		buf + PASS_HDR_LEN + len) != SGT_OK) {
		rc = sgt_err(SGT_ERR_DATA, "cannot encrypt the backup: %s", sgt_ossl_why());
		goto out;
	}
	*out = buf;
	*outlen = total;
	buf = NULL;
out:
	OPENSSL_cleanse(key, sizeof(key));
	free(buf);
	return rc;
}

int sgt_backup_open_pass(const unsigned char *arch, size_t len, const struct sgt_pass *pass,
			 unsigned char **payload, size_t *plen, struct sgt_scrypt *kdf, char why[128])
{
	struct sgt_scrypt k;
	unsigned char key[32], tag[TAG_LEN], *buf = NULL;
	size_t clen;
	int rc;

	*payload = NULL;
	*plen = 0;
	if ((rc = sgt_backup_kind(arch, len, why)) < 0)
		return rc;
	if (rc != SGT_BACKUP_KIND_SCRYPT) {
		snprintf(why, 128, "the archive is encrypted to a recipient certificate; restore it with --recipient-key");
		return SGT_ERR_USAGE;
	}
	k.log2n = arch[10];
	k.r = get32(arch + 11);
	k.p = get32(arch + 15);
	if (kdf != NULL)
		*kdf = k;
	if (kdf_check(&k, why) != SGT_OK)
		return SGT_ERR_DATA;
	clen = len - PASS_HDR_LEN - TAG_LEN;
	if ((buf = malloc(clen ? clen : 1)) == NULL) {
		snprintf(why, 128, "out of memory");
		return SGT_ERR_DATA;
	}
	if (derive(pass, arch + 19, &k, key) != SGT_OK) {
		snprintf(why, 128, "scrypt failed: %s", sgt_ossl_why());
		rc = SGT_ERR_DATA;
		goto out;
	}
	memcpy(tag, arch + len - TAG_LEN, TAG_LEN);
	if (gcm(0, key, arch + 19 + SALT_LEN, arch, PASS_HDR_LEN, arch + PASS_HDR_LEN, clen, buf, tag) != SGT_OK) {
		ERR_clear_error();
		snprintf(why, 128, "wrong passphrase, or the archive is damaged (authentication failed)");
		rc = SGT_ERR_DATA;
		goto out;
	}
	*payload = buf;
	*plen = clen;
	buf = NULL;
	rc = SGT_OK;
out:
	OPENSSL_cleanse(key, sizeof(key));
	sgt_backup_secret_free(buf, clen);
	return rc;
}

/* RSA recipients get OAEP with SHA-256, EC recipients an X9.63 KDF with SHA-256. */
static int recipient_params(CMS_RecipientInfo *ri, X509 *cert)
{
	EVP_PKEY_CTX *pctx = CMS_RecipientInfo_get0_pkey_ctx(ri);
	EVP_PKEY *pk = X509_get0_pubkey(cert);

	if (pctx == NULL || pk == NULL)
		return SGT_ERR_DATA;
	if (EVP_PKEY_is_a(pk, "RSA"))
		return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) > 0 &&
		       EVP_PKEY_CTX_set_rsa_oaep_md(pctx, EVP_sha256()) > 0 ? SGT_OK : SGT_ERR_DATA;
	if (EVP_PKEY_is_a(pk, "EC"))
		return EVP_PKEY_CTX_set_ecdh_kdf_md(pctx, EVP_sha256()) > 0 ? SGT_OK : SGT_ERR_DATA;
	return SGT_OK;
}

int sgt_backup_seal_cms(const unsigned char *payload, size_t len, X509 *recipient, unsigned char **out,
			size_t *outlen)
{
	CMS_ContentInfo *cms = NULL;
	CMS_RecipientInfo *ri;
	BIO *in = NULL;
	unsigned char *der = NULL, *p, *buf = NULL;
	int dlen, rc = SGT_ERR_DATA;

	*out = NULL;
	*outlen = 0;
	if (len > INT_MAX)
		return sgt_err(SGT_ERR_DATA, "the store is too large for a CMS backup");
	/* AES-256-GCM makes CMS_encrypt build AuthEnvelopedData (RFC 5083): the tag covers every byte. */
	if ((in = BIO_new_mem_buf(payload, (int)len)) == NULL ||
	    (cms = CMS_encrypt(NULL, NULL, EVP_aes_256_gcm(), CMS_BINARY | CMS_PARTIAL)) == NULL ||
	    (ri = CMS_add1_recipient_cert(cms, recipient, CMS_KEY_PARAM)) == NULL) {
		sgt_err(SGT_ERR_DATA, "cannot encrypt the backup to the recipient certificate: %s", sgt_ossl_why());
		goto out;
	}
	if (recipient_params(ri, recipient) != SGT_OK) {
		sgt_err(SGT_ERR_DATA, "cannot set up key transport to the recipient certificate: %s", sgt_ossl_why());
		goto out;
	}
	if (CMS_final(cms, in, NULL, CMS_BINARY) != 1 || (dlen = i2d_CMS_ContentInfo(cms, &der)) <= 0) {
		sgt_err(SGT_ERR_DATA, "cannot encrypt the backup to the recipient certificate: %s", sgt_ossl_why());
		goto out;
	}
	if ((buf = malloc(HDR_FIXED + (size_t)dlen)) == NULL) {
		sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	memcpy(buf, SGT_BACKUP_MAGIC, 8);
	buf[8] = SGT_BACKUP_VERSION;
	buf[9] = SGT_BACKUP_KIND_CMS;
	p = buf + HDR_FIXED;
	memcpy(p, der, (size_t)dlen);
	*out = buf;
	*outlen = HDR_FIXED + (size_t)dlen;
	rc = SGT_OK;
out:
	OPENSSL_free(der);
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	return rc;
}

int sgt_backup_open_cms(const unsigned char *arch, size_t len, EVP_PKEY *key, X509 *cert, unsigned char **payload,
			size_t *plen, char why[128])
{
	const unsigned char *p;
	CMS_ContentInfo *cms = NULL;
	BIO *out = NULL;
	BUF_MEM *mem = NULL;
	int rc;

	*payload = NULL;
	*plen = 0;
	if ((rc = sgt_backup_kind(arch, len, why)) < 0)
		return rc;
	if (rc != SGT_BACKUP_KIND_CMS) {
		snprintf(why, 128, "the archive is encrypted with a passphrase; restore it with --passphrase-file or --passphrase-fd");
		return SGT_ERR_USAGE;
	}
	rc = SGT_ERR_DATA;
	p = arch + HDR_FIXED;
	if (len - HDR_FIXED > LONG_MAX || (cms = d2i_CMS_ContentInfo(NULL, &p, (long)(len - HDR_FIXED))) == NULL ||
	    p != arch + len) {
		ERR_clear_error();
		snprintf(why, 128, "the archive is damaged (its CMS structure does not parse)");
		goto out;
	}
	/* Plain EnvelopedData has no integrity tag: only AuthEnvelopedData is accepted. */
	if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_id_smime_ct_authEnvelopedData) {
		snprintf(why, 128, "the archive is not CMS AuthEnvelopedData, so its integrity cannot be checked");
		goto out;
	}
	/* A secure-heap BIO: the decrypted store (PINs, token files) is wiped when freed. */
	if ((out = BIO_new(BIO_s_secmem())) == NULL) {
		snprintf(why, 128, "out of memory");
		goto out;
	}
	if (CMS_decrypt(cms, key, cert, NULL, out, CMS_BINARY) != 1) {
		ERR_clear_error();
		snprintf(why, 128, "the recipient key does not open it, or the archive is damaged (authentication failed)");
		goto out;
	}
	BIO_get_mem_ptr(out, &mem);
	if (mem == NULL || (*payload = malloc(mem->length ? mem->length : 1)) == NULL) {
		snprintf(why, 128, "out of memory");
		goto out;
	}
	memcpy(*payload, mem->data, mem->length);
	*plen = mem->length;
	rc = SGT_OK;
out:
	BIO_free(out);
	CMS_ContentInfo_free(cms);
	return rc;
}

static int pem_pass_cb(char *buf, int size, int rwflag, void *u)
{
	const struct sgt_pass *pass = u;

	(void)rwflag;
	if (pass == NULL || pass->len > (size_t)size)
		return -1;
	memcpy(buf, pass->value, pass->len);
	return (int)pass->len;
}

int sgt_backup_load_key(const char *path, const struct sgt_pass *pass, EVP_PKEY **out)
{
	unsigned char *data = NULL;
	size_t len = 0;
	BIO *bio = NULL;
	int rc;

	*out = NULL;
	if ((rc = sgt_file_read(path, 1 << 20, &data, &len)) != SGT_OK)
		return rc;
	if ((bio = BIO_new_mem_buf(data, (int)len)) != NULL)
		*out = PEM_read_bio_PrivateKey(bio, NULL, pem_pass_cb, (void *)pass);
	if (*out == NULL && bio != NULL) {
		const unsigned char *p = data;

		ERR_clear_error();
		*out = d2i_AutoPrivateKey(NULL, &p, (long)len);
	}
	if (*out == NULL)
		rc = sgt_err(SGT_ERR_DATA, "cannot read private key '%s': %s", path,
			     pass ? "not a PEM or DER private key, or the passphrase does not open it"
				  : "not a PEM or DER private key (an encrypted one needs --passphrase-file)");
	ERR_clear_error();
	BIO_free(bio);
	sgt_backup_secret_free(data, len);
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

/* ---- staged write of the archive file ---- */

int sgt_backup_stage(struct sgt_stage *s, const char *path, const void *data, size_t len)
{
	int fd, e;

	memset(s, 0, sizeof(*s));
	if (strlen(path) >= sizeof(s->path))
		return sgt_err(SGT_ERR_DATA, "path too long: '%s'", path);
	strcpy(s->path, path);
	snprintf(s->tmp, sizeof(s->tmp), "%s.tmpXXXXXX", path);
	if ((fd = mkstemp(s->tmp)) < 0)
		return sgt_err(SGT_ERR_DATA, "cannot create '%s': %s", s->tmp, strerror(errno));
	s->active = 1;
	if ((e = sgt_write_all(fd, data, len)) != 0) {
		close(fd);
		sgt_backup_stage_abort(s);
		return sgt_err(SGT_ERR_DATA, "cannot write '%s': %s", path, strerror(e));
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		e = errno;
		sgt_backup_stage_abort(s);
		return sgt_err(SGT_ERR_DATA, "cannot write '%s': %s", path, strerror(e));
	}
	return SGT_OK;
}

int sgt_backup_stage_commit(struct sgt_stage *s)
{
	char dir[sizeof(s->path)];
	char *slash;

	if (!s->active)
		return SGT_ERR_DATA;
	if (rename(s->tmp, s->path) != 0) {
		int e = errno;

		sgt_backup_stage_abort(s);
		return sgt_err(SGT_ERR_DATA, "cannot write '%s': %s", s->path, strerror(e));
	}
	s->active = 0;
	strcpy(dir, s->path);
	if ((slash = strrchr(dir, '/')) == NULL)
		strcpy(dir, ".");
	else if (slash == dir)
		strcpy(dir, "/");
	else
		*slash = '\0';
	return fsync_path(dir);
}

void sgt_backup_stage_abort(struct sgt_stage *s)
{
	if (s->active && unlink(s->tmp) != 0 && errno != ENOENT)
		sgt_warn("cannot remove '%s': %s", s->tmp, strerror(errno));
	s->active = 0;
}
