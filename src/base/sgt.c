/*
 * sgt.c: error reporting and the small helpers every module shares
 * (buffers, whole-file reads, hex, base64, SHA-256, time).  It knows
 * nothing about tokens, certificates or the store layout.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "sgt.h"

int sgt_quiet;
int sgt_verbose_flag;
int sgt_silent;
static char last_error[512];
static int holding;
static char held_hint[512];

void sgt_err_hold(void)
{
	holding = 1;
	held_hint[0] = '\0';
}

const char *sgt_err_release(void)
{
	holding = 0;
	return held_hint[0] ? held_hint : NULL;
}

const char *sgt_last_error(void)
{
	return last_error;
}

static void vreport(const char *prefix, const char *fmt, va_list ap)
{
	if (strcmp(prefix, "signet: ") == 0) {
		va_list cp;

		va_copy(cp, ap);
		vsnprintf(last_error, sizeof(last_error), fmt, cp);
		va_end(cp);
	}
	if (holding && strcmp(prefix, "hint: ") == 0) {
		vsnprintf(held_hint, sizeof(held_hint), fmt, ap);
		return;
	}
	if (sgt_silent || (holding && strcmp(prefix, "signet: ") == 0))
		return;
	fputs(prefix, stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

int sgt_err(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport("signet: ", fmt, ap);
	va_end(ap);
	return code;
}

void sgt_hint(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport("hint: ", fmt, ap);
	va_end(ap);
}

void sgt_warn(const char *fmt, ...)
{
	va_list ap;

	if (sgt_quiet)
		return;
	va_start(ap, fmt);
	vreport("signet: warning: ", fmt, ap);
	va_end(ap);
}

void sgt_verbose(const char *fmt, ...)
{
	va_list ap;

	if (!sgt_verbose_flag)
		return;
	va_start(ap, fmt);
	vreport("signet: ", fmt, ap);
	va_end(ap);
}

const char *sgt_ossl_why(void)
{
	static char why[256];
	unsigned long e, last = 0;
	const char *r;

	/* The innermost reason is usually the first queued, the most specific. */
	while ((e = ERR_get_error()) != 0)
		if (last == 0)
			last = e;
	if (last == 0)
		return "unknown OpenSSL error";
	r = ERR_reason_error_string(last);
	if (r == NULL) {
		snprintf(why, sizeof(why), "OpenSSL error %lx", last);
		return why;
	}
	snprintf(why, sizeof(why), "%s", r);
	return why;
}

int sgt_buf_add(struct sgt_buf *b, const void *data, size_t len)
{
	if (b->len + len + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *p;

		while (cap < b->len + len + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (p == NULL)
			return sgt_err(SGT_ERR_DATA, "out of memory");
		b->p = p;
		b->cap = cap;
	}
	if (len)
		memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = '\0';
	return SGT_OK;
}

int sgt_buf_json(struct sgt_buf *b, json_t *j, size_t flags)
{
	char *s = j ? json_dumps(j, flags) : NULL;
	int rc;

	json_decref(j);
	if (s == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	rc = sgt_buf_add(b, s, strlen(s));
	rc = rc ? rc : sgt_buf_add(b, "\n", 1);
	free(s);
	return rc;
}

int sgt_buf_printf(struct sgt_buf *b, const char *fmt, ...)
{
	va_list ap;
	char small[512];
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return sgt_err(SGT_ERR_DATA, "formatting failed");
	if ((size_t)n < sizeof(small))
		return sgt_buf_add(b, small, (size_t)n);
	{
		char *big = malloc((size_t)n + 1);
		int rc;

		if (big == NULL)
			return sgt_err(SGT_ERR_DATA, "out of memory");
		va_start(ap, fmt);
		vsnprintf(big, (size_t)n + 1, fmt, ap);
		va_end(ap);
		rc = sgt_buf_add(b, big, (size_t)n);
		free(big);
		return rc;
	}
}

void sgt_buf_free(struct sgt_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/*
 * Whatever it reads may be a private key: no stdio buffer, no stack chunk,
 * and no realloc that would free an unwiped copy; every copy it drops is
 * wiped first (callers wipe the buffer they get).
 */
int sgt_file_read(const char *path, size_t max, unsigned char **out, size_t *len)
{
	unsigned char *buf = NULL, *grown;
	size_t n = 0, cap = 0;
	struct stat sb;
	int fd, rc = SGT_OK;

	*out = NULL;
	*len = 0;
	fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return sgt_err(SGT_ERR_DATA, "cannot read '%s': %s", path, strerror(errno));
	/* a regular file's size is the first guess, so that a key file is read into one buffer */
	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size >= 0 && (size_t)sb.st_size <= max)
		cap = (size_t)sb.st_size + 2;	/* room for the NUL and for seeing EOF */
	for (;;) {
		ssize_t r;

		if (buf == NULL || n + 1 >= cap) {
			size_t ncap = buf == NULL && cap > 0 ? cap : cap < 4096 ? 4096 : cap * 2;

			if (ncap > max + 2)
				ncap = max + 2;
			if (ncap <= n + 1) {
				rc = sgt_err(SGT_ERR_DATA, "'%s' is larger than %zu bytes", path, max);
				break;
			}
			if ((grown = malloc(ncap)) == NULL) {
				rc = sgt_err(SGT_ERR_DATA, "out of memory");
				break;
			}
			if (buf != NULL) {
				memcpy(grown, buf, n);
				OPENSSL_cleanse(buf, cap);
				free(buf);
			}
			buf = grown;
			cap = ncap;
		}
		r = read(fd, buf + n, cap - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = sgt_err(SGT_ERR_DATA, "cannot read '%s': %s", path, strerror(errno));
			break;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			rc = sgt_err(SGT_ERR_DATA, "'%s' is larger than %zu bytes", path, max);
			break;
		}
	}
	if (fd != STDIN_FILENO)
		close(fd);
	if (rc != SGT_OK) {
		if (buf != NULL)
			OPENSSL_cleanse(buf, cap);
		free(buf);
		return rc;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return SGT_OK;
}

void sgt_hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

int sgt_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long sgt_unhex(const char *hex, unsigned char *out, size_t max)
{
	size_t len = strlen(hex), i;

	if (len % 2 || len / 2 > max)
		return -1;
	for (i = 0; i < len / 2; i++) {
		int hi = sgt_hexval((unsigned char)hex[2 * i]);
		int lo = sgt_hexval((unsigned char)hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return (long)(len / 2);
}

void sgt_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = sizeof(md);

	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	sgt_hex(md, sizeof(md), out);
}

char *sgt_base64(const unsigned char *in, size_t len)
{
	size_t outlen = 4 * ((len + 2) / 3) + 1;
	char *out = malloc(outlen);

	if (out == NULL)
		return NULL;
	EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	return out;
}

int sgt_unbase64(const char *in, size_t inlen, unsigned char **out, size_t *outlen)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *clean = malloc(inlen + 1);
	unsigned char *dec = NULL;
	size_t n = 0, i, pad = 0;
	int r;

	*out = NULL;
	*outlen = 0;
	if (clean == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	for (i = 0; i < inlen; i++)
		if (!isspace((unsigned char)in[i]))
			clean[n++] = in[i];
	clean[n] = '\0';
	if (n == 0 || n % 4 != 0)
		goto bad;
	/* EVP_DecodeBlock reads '=' anywhere as zero bits and skips junk: check strictly first. */
	if (clean[n - 1] == '=')
		pad = clean[n - 2] == '=' ? 2 : 1;
	for (i = 0; i < n - pad; i++)
		if (clean[i] == '\0' || strchr(alphabet, clean[i]) == NULL)
			goto bad;
	dec = malloc(n / 4 * 3 + 1);
	if (dec == NULL) {
		free(clean);
		return sgt_err(SGT_ERR_DATA, "out of memory");
	}
	r = EVP_DecodeBlock(dec, (unsigned char *)clean, (int)n);
	if (r < 0 || (size_t)r < pad)
		goto bad;
	free(clean);
	*out = dec;
	*outlen = (size_t)r - pad;	/* EVP_DecodeBlock counts '=' as zero bytes */
	return SGT_OK;
bad:
	free(clean);
	free(dec);
	return SGT_ERR_DATA;
}

void sgt_time_iso(time_t t, char out[32])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int sgt_time_parse(const char *s, time_t *out)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (end == NULL || *end != '\0') {
		memset(&tm, 0, sizeof(tm));
		end = strptime(s, "%Y-%m-%d", &tm);
		if (end == NULL || *end != '\0')
			return -1;
	}
	{
		struct tm want = tm, got;
		time_t t = timegm(&tm);

		/* strptime takes 2026-02-30; timegm would roll it into March. */
		if (gmtime_r(&t, &got) == NULL || got.tm_year != want.tm_year || got.tm_mon != want.tm_mon ||
		    got.tm_mday != want.tm_mday || got.tm_hour != want.tm_hour || got.tm_min != want.tm_min ||
		    got.tm_sec != want.tm_sec)
			return -1;
		*out = t;
	}
	return 0;
}

time_t sgt_now(void)
{
	const char *fake = getenv("SIGNET_NOW");
	time_t t;

	if (fake != NULL && *fake != '\0') {
		char *end;
		long long v = strtoll(fake, &end, 10);

		if (*end == '\0')
			return (time_t)v;
		if (sgt_time_parse(fake, &t) == 0)
			return t;
	}
	return time(NULL);
}

int sgt_random(unsigned char *out, size_t n)
{
	if (RAND_bytes(out, (int)n) != 1)
		return sgt_err(SGT_ERR_DATA, "random number generator failed: %s", sgt_ossl_why());
	return SGT_OK;
}

int sgt_label_ok(const char *label)
{
	size_t i, n = strlen(label);

	if (n == 0 || n > 64 || label[0] == '.' || label[0] == '-')
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)label[i];

		/* Not isalnum(): the locale must not widen what names a file. */
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

int sgt_label_check(const char *label)
{
	if (sgt_label_ok(label))
		return SGT_OK;
	return sgt_err(SGT_ERR_USAGE, "invalid key label '%s': use 1 to 64 of A-Z a-z 0-9 . _ - (not starting with . or -)", label);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void sgt_names_free(char **names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int sgt_dir_names(const char *dir, const char *suffix, char ***names, size_t *n)
{
	size_t slen = strlen(suffix), count = 0;
	char **list = NULL;
	struct dirent *de;
	DIR *d;
	int rc = SGT_OK;

	*names = NULL;
	*n = 0;
	if ((d = opendir(dir)) == NULL)
		return errno == ENOENT ? SGT_OK : sgt_err(SGT_ERR_DATA, "cannot read '%s': %s", dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		char **grown, *name;

		if (len <= slen || de->d_name[0] == '.' || strcmp(de->d_name + len - slen, suffix) != 0)
			continue;
		if ((name = strndup(de->d_name, len - slen)) == NULL ||
		    (grown = realloc(list, (count + 1) * sizeof(*list))) == NULL) {
			free(name);
			rc = sgt_err(SGT_ERR_DATA, "out of memory");
			break;
		}
		list = grown;
		list[count++] = name;
	}
	closedir(d);
	if (rc != SGT_OK) {
		sgt_names_free(list, count);
		return rc;
	}
	if (count > 0)
		qsort(list, count, sizeof(*list), cmp_name);
	*names = list;
	*n = count;
	return SGT_OK;
}

/*
 * OpenSSL's own buffers (the PEM and DER decoders' copies of a key file,
 * for one) are freed without being wiped in the OpenSSL this runs on, so
 * every block OpenSSL frees or moves is wiped first.
 */
static void *wiping_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return malloc(n);
}

static void wiping_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	if (p != NULL) {
		OPENSSL_cleanse(p, malloc_usable_size(p));
		free(p);
	}
}

static void *wiping_realloc(void *p, size_t n, const char *file, int line)
{
	size_t old;
	void *q;

	if (p == NULL)
		return wiping_malloc(n, file, line);
	if (n == 0) {
		wiping_free(p, file, line);
		return NULL;
	}
	old = malloc_usable_size(p);
	if ((q = malloc(n)) == NULL)
		return NULL;
	memcpy(q, p, old < n ? old : n);
	wiping_free(p, file, line);
	return q;
}

int sgt_secrets_protect(void)
{
	struct rlimit none = { 0, 0 };
	int rc = SGT_OK;

	/* fails (harmlessly) once OpenSSL has allocated: main calls this first */
	if (!CRYPTO_set_mem_functions(wiping_malloc, wiping_realloc, wiping_free))
		rc = SGT_ERR_DATA;

	/* a core of a run that held a PIN or key material would hold them too */
	if (setrlimit(RLIMIT_CORE, &none) != 0)
		rc = SGT_ERR_DATA;
	/* nor may a debugger of the same user read them out of the running process */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		rc = SGT_ERR_DATA;
	return rc;
}

int sgt_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(fd, p + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno ? errno : EIO;
		done += (size_t)n;
	}
	return 0;
}
