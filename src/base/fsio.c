/*
 * fsio.c: the file primitives under the store (fsio.h): atomic writes
 * (temp file in the same directory, fsync, rename, fsync of the
 * directory), user outputs, mkdir -p, and holding signals while a write is
 * half-way through.  Signals are held process-wide, as a lock is: only
 * this file touches the hold depth.
 * Floor: base 1.  It may call sgt.c only.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "fsio.h"

/* ---- signals ---- */

static int hold_depth;

static void sig_set(int how)
{
	sigset_t s;

	sigemptyset(&s);
	sigaddset(&s, SIGINT);
	sigaddset(&s, SIGTERM);
	sigaddset(&s, SIGHUP);
	sigprocmask(how, &s, NULL);
}

void sgt_sig_hold(void)
{
	if (hold_depth++ == 0)
		sig_set(SIG_BLOCK);
}

void sgt_sig_release(void)
{
	if (hold_depth > 0 && --hold_depth == 0)
		sig_set(SIG_UNBLOCK);	/* a held signal is delivered here */
}

/*
 * A read that may block for ever (a PIN from a FIFO, an image from a pipe)
 * while signals are held: they are let in for the read only, caught (no
 * SA_RESTART, so the read returns EINTR), and kept pending for release,
 * so the caller stops at once and the process still ends by the signal
 * once what must not be cut is done.  Without a hold, signals act as
 * they always do and these calls do nothing.
 */
static volatile sig_atomic_t caught;
static struct sigaction saved_act[3];
static const int held_sigs[3] = { SIGINT, SIGTERM, SIGHUP };
static int window_open;

static void on_held_signal(int signo)
{
	caught = signo;
}

void sgt_sig_window_open(void)
{
	struct sigaction sa;
	int i;

	if (hold_depth == 0 || window_open)
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_held_signal;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < 3; i++)
		sigaction(held_sigs[i], &sa, &saved_act[i]);
	window_open = 1;
	sig_set(SIG_UNBLOCK);	/* one already pending is caught here */
}

void sgt_sig_window_close(void)
{
	int i;

	if (!window_open)
		return;
	sig_set(SIG_BLOCK);
	for (i = 0; i < 3; i++)
		sigaction(held_sigs[i], &saved_act[i], NULL);
	window_open = 0;
	if (caught != 0) {
		int s = caught;

		caught = 0;
		raise(s);	/* blocked: pending until the outermost release */
	}
}

int sgt_sig_window_caught(void)
{
	return caught != 0;
}

int sgt_sig_pending(void)
{
	sigset_t s;

	if (sigpending(&s) != 0)
		return 0;
	return sigismember(&s, SIGINT) == 1 || sigismember(&s, SIGTERM) == 1 || sigismember(&s, SIGHUP) == 1;
}

int sgt_secret_line(int fd, const char *what, const char *noun, char *buf, size_t cap, size_t *len)
{
	char c = 0;
	int rc = SGT_OK;

	OPENSSL_cleanse(buf, cap);
	*len = 0;
	sgt_sig_window_open();
	for (;;) {
		ssize_t n = read(fd, &c, 1);

		if (sgt_sig_window_caught()) {
			rc = sgt_err(SGT_ERR_DATA, "interrupted while reading %s from %s", noun, what);
			break;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = sgt_err(SGT_ERR_DATA, "cannot read %s from %s: %s", noun, what, strerror(errno));
			break;
		}
		if (n == 0 || c == '\n')
			break;
		if (*len + 1 >= cap) {
			rc = sgt_err(SGT_ERR_DATA, "%s in %s is longer than %zu bytes", noun, what, cap - 1);
			break;
		}
		buf[(*len)++] = c;
	}
	sgt_sig_window_close();
	OPENSSL_cleanse(&c, sizeof(c));
	if (rc == SGT_OK && sgt_sig_pending())
		rc = sgt_err(SGT_ERR_DATA, "interrupted while reading %s from %s", noun, what);
	if (rc == SGT_OK && *len > 0 && buf[*len - 1] == '\r')
		buf[--(*len)] = '\0';
	if (rc == SGT_OK && *len == 0)
		rc = sgt_err(SGT_ERR_DATA, "%s from %s is empty", noun, what);
	if (rc != SGT_OK) {
		OPENSSL_cleanse(buf, cap);
		*len = 0;
	}
	return rc;
}

int sgt_mkdirs(const char *path)
{
	char tmp[PATH_MAX];
	char *p;

	if (strlen(path) >= sizeof(tmp))
		return sgt_err(SGT_ERR_DATA, "path too long: '%s'", path);
	if (path[0] == '\0')
		return SGT_OK;
	strcpy(tmp, path);
	for (p = tmp + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;

			*p = '\0';
			if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
				return sgt_err(SGT_ERR_DATA, "cannot create directory '%s': %s", tmp, strerror(errno));
			*p = c;
			if (c == '\0')
				break;
		}
	}
	return SGT_OK;
}

int sgt_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	int rc = SGT_OK;

	if (fd < 0)
		return sgt_err(SGT_ERR_DATA, "cannot open directory '%s': %s", dir, strerror(errno));
	if (fsync(fd) != 0)
		rc = sgt_err(SGT_ERR_DATA, "cannot sync directory '%s': %s", dir, strerror(errno));
	close(fd);
	return rc;
}

unsigned sgt_user_umask = 077;

static int atomic_write(const char *path, const void *data, size_t len, int flags, int mkparents, mode_t mode);

int sgt_atomic_write(const char *path, const void *data, size_t len, int flags)
{
	int rc;

	sgt_sig_hold();
	rc = atomic_write(path, data, len, flags, 1, 0);
	sgt_sig_release();
	return rc;
}

/* mode 0: the 0600 of mkstemp (store files); else the mode the file gets before it is renamed into place. */
static int atomic_write(const char *path, const void *data, size_t len, int flags, int mkparents, mode_t mode)
{
	char dir[PATH_MAX], tmp[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd, rc, e;

	if (strlen(path) + 16 >= sizeof(tmp) || (slash != NULL && (size_t)(slash - path) >= sizeof(dir)))
		return sgt_err(SGT_ERR_DATA, "path too long: '%s'", path);
	if (slash == NULL)
		strcpy(dir, ".");	/* a bare file name (an --out argument) is in the current directory */
	else if (slash == path)
		strcpy(dir, "/");
	else {
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
	}
	if (mkparents && (rc = sgt_mkdirs(dir)) != SGT_OK)
		return rc;
	snprintf(tmp, sizeof(tmp), "%s.tmpXXXXXX", path);
	fd = mkstemp(tmp);
	if (fd < 0)
		return sgt_err(SGT_ERR_DATA, "cannot create '%s': %s", tmp, strerror(errno));
	if (mode != 0 && fchmod(fd, mode) != 0) {
		rc = sgt_err(SGT_ERR_DATA, "cannot set the mode of '%s': %s", tmp, strerror(errno));
		goto fail;
	}
	if ((e = sgt_write_all(fd, data, len)) != 0) {
		rc = sgt_err(SGT_ERR_DATA, "cannot write '%s': %s", path, strerror(e));
		goto fail;
	}
	if (fsync(fd) != 0) {
		rc = sgt_err(SGT_ERR_DATA, "cannot sync '%s': %s", path, strerror(errno));
		goto fail;
	}
	if (close(fd) != 0) {
		fd = -1;
		rc = sgt_err(SGT_ERR_DATA, "cannot write '%s': %s", path, strerror(errno));
		goto fail;
	}
	fd = -1;
	if (flags & SGT_WRITE_EXCL) {
		/* link() fails if the name exists, so no record is ever replaced. */
		if (link(tmp, path) != 0) {
			rc = errno == EEXIST
				? sgt_err(SGT_ERR_DATA, "'%s' already exists; not replacing it", path)
				: sgt_err(SGT_ERR_DATA, "cannot create '%s': %s", path, strerror(errno));
			goto fail;
		}
		unlink(tmp);
	} else if (rename(tmp, path) != 0) {
		rc = sgt_err(SGT_ERR_DATA, "cannot replace '%s': %s", path, strerror(errno));
		goto fail;
	}
	return flags & SGT_WRITE_NO_DIRSYNC ? SGT_OK : sgt_fsync_dir(dir);
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return rc;
}

/* -- user outputs (--out) ------------------------------------------------ */

int sgt_out_special(const char *path)
{
	struct stat sb;

	/* stat, not lstat: /dev/stdout is a symlink to whatever fd 1 is */
	return stat(path, &sb) == 0 && !S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode);
}

int sgt_out_check(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	struct stat sb;

	if (sgt_out_special(path))
		return SGT_OK;
	if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
		return sgt_err(SGT_ERR_DATA, "cannot write '%s': it is a directory", path);
	if (slash == NULL)
		return SGT_OK;
	if (slash == path)
		return SGT_OK;
	if ((size_t)(slash - path) >= sizeof(dir))
		return sgt_err(SGT_ERR_DATA, "path too long: '%s'", path);
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	if (stat(dir, &sb) != 0)
		return sgt_err(SGT_ERR_DATA, "cannot write '%s': directory '%s': %s", path, dir, strerror(errno));
	if (!S_ISDIR(sb.st_mode))
		return sgt_err(SGT_ERR_DATA, "cannot write '%s': '%s' is not a directory", path, dir);
	return SGT_OK;
}

/* Writes through an existing device node, FIFO or socket-free special file. */
static int write_through(const char *path, const void *data, size_t len)
{
	int e;
	int fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC);

	if (fd < 0)
		return sgt_err(SGT_ERR_DATA, "cannot open '%s': %s", path, strerror(errno));
	if ((e = sgt_write_all(fd, data, len)) != 0) {
		close(fd);
		return sgt_err(SGT_ERR_DATA, "cannot write '%s': %s", path, strerror(e));
	}
	if (close(fd) != 0)
		return sgt_err(SGT_ERR_DATA, "cannot write '%s': %s", path, strerror(errno));
	return SGT_OK;
}

int sgt_out_write(const char *path, const void *data, size_t len)
{
	int rc;

	if (sgt_out_special(path))
		return write_through(path, data, len);
	if ((rc = sgt_out_check(path)) != SGT_OK)
		return rc;
	sgt_sig_hold();
	/* Not a secret: readable as the user's umask says, as any Unix tool's output (a scraper runs as another user). */
	rc = atomic_write(path, data, len, 0, 0, (mode_t)(0666 & ~sgt_user_umask));
	sgt_sig_release();
	return rc;
}

void sgt_store_unlink(const char *path)
{
	if (path != NULL && unlink(path) != 0 && errno != ENOENT)
		sgt_warn("cannot remove '%s' while undoing a failed command: %s", path, strerror(errno));
}
