/*
 * pin.c: obtains the token PIN from --pin-file, --pin-fd, the store's
 * pin_source or a terminal prompt with echo off, in that order.  A PIN is
 * never taken from argv or the environment, never logged, and is kept in
 * a fixed buffer wiped with OPENSSL_cleanse on every path.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "hsmguard.h"
#include "pin.h"
#include "store.h"

void sgt_pin_wipe(struct sgt_pin *pin)
{
	OPENSSL_cleanse(pin, sizeof(*pin));
}

/*
 * Reads up to the first newline or EOF from fd into pin.  A FIFO or
 * terminal may never answer: Ctrl-C and SIGTERM get through even while
 * signals are held (one window around the whole read, not one per byte).
 */
static int read_fd(int fd, const char *what, struct sgt_pin *pin)
{
	char c;
	int rc = SGT_OK;

	sgt_pin_wipe(pin);
	sgt_sig_window_open();
	for (;;) {
		ssize_t n = read(fd, &c, 1);

		if (sgt_sig_window_caught()) {
			rc = sgt_err(SGT_ERR_DATA, "interrupted while reading the PIN from %s", what);
			break;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = sgt_err(SGT_ERR_DATA, "cannot read PIN from %s: %s", what, strerror(errno));
			break;
		}
		if (n == 0 || c == '\n')
			break;
		if (pin->len >= SGT_PIN_MAX) {
			rc = sgt_err(SGT_ERR_DATA, "PIN in %s is longer than %d bytes", what, SGT_PIN_MAX);
			break;
		}
		pin->value[pin->len++] = c;
	}
	sgt_sig_window_close();
	OPENSSL_cleanse(&c, sizeof(c));
	if (rc == SGT_OK && sgt_sig_pending())
		rc = sgt_err(SGT_ERR_DATA, "interrupted while reading the PIN from %s", what);
	if (rc != SGT_OK) {
		sgt_pin_wipe(pin);
		return rc;
	}
	if (pin->len > 0 && pin->value[pin->len - 1] == '\r')
		pin->value[--pin->len] = '\0';
	if (pin->len == 0)
		return sgt_err(SGT_ERR_DATA, "PIN from %s is empty", what);
	return SGT_OK;
}

int sgt_pin_read_file(const char *path, struct sgt_pin *pin)
{
	char what[4200];
	struct stat sb;
	int fd, rc;

	/* Opening a FIFO waits for its writer: interruptible, as the read is. */
	sgt_sig_window_open();
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	sgt_sig_window_close();
	if (fd < 0 && errno == EINTR && sgt_sig_pending())
		return sgt_err(SGT_ERR_DATA, "interrupted while opening PIN file '%s'", path);
	if (fd < 0)
		return sgt_err(SGT_ERR_DATA, "cannot read PIN file '%s': %s", path, strerror(errno));
	/*
	 * A PIN file someone else owns or may write could hold a PIN chosen to
	 * lock the token or to probe it: refused (a pipe or terminal is not a file).
	 */
	if (fstat(fd, &sb) != 0) {
		rc = sgt_err(SGT_ERR_DATA, "cannot read PIN file '%s': %s", path, strerror(errno));
		close(fd);
		return rc;
	}
	if (S_ISREG(sb.st_mode) && (sb.st_uid != geteuid() || (sb.st_mode & (S_IWGRP | S_IWOTH)))) {
		rc = sb.st_uid != geteuid()
			? sgt_err(SGT_ERR_DATA, "refusing PIN file '%s': owned by uid %lu, not by the user running signet (uid %lu)",
				  path, (unsigned long)sb.st_uid, (unsigned long)geteuid())
			: sgt_err(SGT_ERR_DATA, "refusing PIN file '%s': writable by %s (mode %03o)", path,
				  sb.st_mode & S_IWOTH ? "others" : "its group", (unsigned)(sb.st_mode & 07777));
		close(fd);
		return rc;
	}
	/*
	 * Readable by others is a leak, not a planted PIN: warned about (once a
	 * run) rather than refused, as for the store's own files, so that a
	 * shared build account is told the fix without its pipeline stopping.
	 */
	if (S_ISREG(sb.st_mode) && (sb.st_mode & (S_IRGRP | S_IROTH))) {
		static int warned;

		if (!warned++)
			sgt_warn("PIN file '%s' is readable by %s (mode %03o): anyone who can read it can use the token; "
				 "chmod 600 '%s'", path, sb.st_mode & S_IROTH ? "others" : "its group",
				 (unsigned)(sb.st_mode & 07777), path);
	}
	snprintf(what, sizeof(what), "'%s'", path);
	rc = read_fd(fd, what, pin);
	close(fd);
	return rc;
}

static int prompt(const char *token, struct sgt_pin *pin)
{
	struct termios old, quiet;
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
	int rc;

	if (fd < 0) {
		rc = sgt_err(SGT_ERR_HSM, "no PIN for token '%s': no --pin-file, --pin-fd or pin_source, and no terminal to ask on", token);
		sgt_hint("give the user PIN with --pin-file FILE or --pin-fd N");
		return rc;
	}
	if (tcgetattr(fd, &old) != 0) {
		close(fd);
		return sgt_err(SGT_ERR_HSM, "cannot prompt for the PIN of token '%s': %s", token, strerror(errno));
	}
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	quiet.c_lflag |= ECHONL;
	dprintf(fd, "PIN for token '%s': ", token);
	tcsetattr(fd, TCSANOW, &quiet);	/* TCSAFLUSH would drop a PIN typed ahead or pasted */
	rc = read_fd(fd, "the terminal", pin);
	tcsetattr(fd, TCSANOW, &old);
	close(fd);
	return rc;
}

/*
 * The PIN of --pin-file or --pin-fd, read once before the store is locked
 * and the module loaded (sgt_pin_preread), until sgt_pin_forget.
 */
static struct sgt_pin pre;
static char pre_file[4096];
static int pre_fd = -1, pre_valid;

void sgt_pin_forget(void)
{
	sgt_pin_wipe(&pre);
	pre_file[0] = '\0';
	pre_fd = -1;
	pre_valid = 0;
}

static int read_given(const struct sgt_pin_opts *opts, struct sgt_pin *pin)
{
	char what[32];

	if (opts->file != NULL)
		return sgt_pin_read_file(opts->file, pin);
	snprintf(what, sizeof(what), "file descriptor %d", opts->fd);
	return read_fd(opts->fd, what, pin);
}

int sgt_pin_preread(const struct sgt_pin_opts *opts)
{
	int rc;

	if (opts == NULL || (opts->file == NULL && opts->fd < 0) || pre_valid)
		return SGT_OK;
	if (opts->file != NULL && strlen(opts->file) >= sizeof(pre_file))
		return sgt_err(SGT_ERR_DATA, "cannot read PIN file '%s': name too long", opts->file);
	if ((rc = read_given(opts, &pre)) != SGT_OK) {
		sgt_pin_forget();
		return rc;
	}
	if (opts->file != NULL)
		strcpy(pre_file, opts->file);
	else
		pre_fd = opts->fd;
	pre_valid = 1;
	return SGT_OK;
}

int sgt_pin_get(const struct sgt_store *st, const struct sgt_pin_opts *opts, const char *token, struct sgt_pin *pin)
{
	sgt_pin_wipe(pin);
	if (opts != NULL && pre_valid &&
	    ((opts->file != NULL && strcmp(opts->file, pre_file) == 0) || (opts->file == NULL && opts->fd >= 0 && opts->fd == pre_fd))) {
		*pin = pre;
		return SGT_OK;
	}
	if (opts != NULL && (opts->file != NULL || opts->fd >= 0))
		return read_given(opts, pin);
	if (st != NULL && st->cfg.pin_source != NULL) {
		const char *p = st->cfg.pin_source + 5;	/* after "file:" */
		char *abs = p[0] == '/' ? strdup(p) : sgt_store_path(st, p);
		int rc;

		if (abs == NULL)
			return sgt_err(SGT_ERR_DATA, "out of memory");
		rc = sgt_pin_read_file(abs, pin);
		free(abs);
		return rc;
	}
	return prompt(token, pin);
}
