/*
 * fsio.h: file primitives every store and output write goes through:
 * atomic replacement, user outputs, directory fsync, mkdir -p, rollback
 * unlink, and holding SIGINT/SIGTERM/SIGHUP around a write.
 */
#ifndef SGT_FSIO_H
#define SGT_FSIO_H

#include <stddef.h>

#include "sgt.h"

/*
 * Writes data to path atomically: a temp file in the same directory,
 * fsync, rename, fsync of the directory.  Creates missing parent
 * directories (mode 0700).  flags: SGT_WRITE_EXCL refuses to replace an
 * existing file (SGT_ERR_DATA); SGT_WRITE_NO_DIRSYNC leaves out the
 * directory's fsync, for a file whose rename a power cut may undo because
 * the caller's own durable log redoes it (audit.head: docs/store.md).
 */
#define SGT_WRITE_EXCL 1
#define SGT_WRITE_NO_DIRSYNC 2
int sgt_atomic_write(const char *path, const void *data, size_t len, int flags);
/*
 * User outputs (--out and the like), as opposed to the store's own files.
 * sgt_out_special: 1 when path is an existing device node, FIFO or other
 * non-regular file (after symlinks): it is written through, never renamed
 * over.  sgt_out_check: SGT_OK when path can be written: its directory
 * exists (never created for the user) and it is not a directory.
 * sgt_out_write: sgt_out_check, then a write-through for a special target
 * or an atomic replacement otherwise, created with mode 0666 & ~umask of
 * the user (sgt_user_umask): outputs are not secrets, and another user (a
 * node_exporter scraping a report) may need to read them.  Store files
 * stay 0600 in 0700 directories.  sgt_put (intent.h) bypasses its staging
 * for special targets too.
 */
/* The umask signet was started with (main sets 077 for everything else); 077 until main records it. */
extern unsigned sgt_user_umask;
int sgt_out_special(const char *path);
int sgt_out_check(const char *path);
int sgt_out_write(const char *path, const void *data, size_t len);
/* fsync of a directory (after a rename into it); errors name it. */
int sgt_fsync_dir(const char *dir);
/* mkdir -p with mode 0700; reports errors naming the path. */
int sgt_mkdirs(const char *path);
/* Removes a file the current command wrote, for rollback; quiet on ENOENT. */
void sgt_store_unlink(const char *path);

/*
 * Signals.  hold blocks SIGINT, SIGTERM and SIGHUP (nesting); release
 * unblocks them at the outermost level, when a held one is delivered and
 * ends the process as it would have.  pending says whether one is waiting.
 */
void sgt_sig_hold(void);
void sgt_sig_release(void);
int sgt_sig_pending(void);

/*
 * Around a read that may block for ever (a PIN FIFO, an image from a pipe)
 * while signals are held: window_open lets SIGINT/SIGTERM/SIGHUP in, caught
 * so that the read fails with EINTR; window_close holds them again, and one
 * that was caught stays pending (sgt_sig_pending) and ends the process at
 * the outermost release.  window_caught: one arrived during the window.
 * Without a hold they do nothing (the signal acts as usual).
 */
void sgt_sig_window_open(void);
void sgt_sig_window_close(void);
int sgt_sig_window_caught(void);

/*
 * One line of a secret (a PIN, a passphrase) from fd into buf (cap bytes,
 * its NUL included), the newline and one trailing CR left out, its length
 * in *len.  what names the source and noun the secret in messages ("PIN",
 * "the passphrase").  A FIFO or terminal may never answer: Ctrl-C and
 * SIGTERM get through even while signals are held (one window around the
 * whole read).  On failure buf is wiped; an empty secret is refused.
 */
int sgt_secret_line(int fd, const char *what, const char *noun, char *buf, size_t cap, size_t *len);

#endif
