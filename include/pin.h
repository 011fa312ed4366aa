/*
 * pin.h: getting a token PIN without it ever being on the command line:
 * --pin-file, --pin-fd, the store's pin_source, or a prompt on the
 * terminal with echo off.  PINs live in a fixed-size struct that is wiped
 * with OPENSSL_cleanse on every path.
 */
#ifndef SGT_PIN_H
#define SGT_PIN_H

#include <stddef.h>

struct sgt_store;

#define SGT_PIN_MAX 128

struct sgt_pin {
	char value[SGT_PIN_MAX + 1];
	size_t len;
};

/* Where a PIN may come from, as given on the command line. */
struct sgt_pin_opts {
	const char *file;	/* --pin-file */
	int fd;			/* --pin-fd, -1 when absent */
};

#define SGT_PIN_OPTS_INIT { NULL, -1 }

/*
 * Fills pin from the first source that is set: opts->file, opts->fd, the
 * store's pin_source (relative to the store), else a prompt on /dev/tty.
 * One trailing newline is stripped.  Errors name the source.
 */
int sgt_pin_get(const struct sgt_store *st, const struct sgt_pin_opts *opts, const char *token, struct sgt_pin *pin);
/*
 * Reads the PIN of opts->file or opts->fd now, for the command's logins
 * later (sgt_pin_get with the same file or descriptor returns it): called
 * before the store is locked and the module loaded, so that a PIN FIFO
 * nobody writes blocks nothing and SIGINT/SIGTERM end the wait at once,
 * and so that --pin-fd serves several logins.  Nothing to do without
 * either, or when already read.  sgt_pin_forget wipes the copy.
 */
int sgt_pin_preread(const struct sgt_pin_opts *opts);
void sgt_pin_forget(void);
/* Reads a PIN from a file (used by init for --pin-file/--so-pin-file). */
int sgt_pin_read_file(const char *path, struct sgt_pin *pin);
/* Wipes the PIN. */
void sgt_pin_wipe(struct sgt_pin *pin);

#endif
