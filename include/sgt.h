/*
 * sgt.h: what every part of signet shares: the error codes (which are also
 * the process exit codes, negated), error reporting to stderr, and small
 * helpers for files, hex, base64, hashing and time.  Nothing here talks to
 * a token or knows the store layout.
 */
#ifndef SGT_H
#define SGT_H

#include <stddef.h>
#include <stdio.h>
#include <time.h>

#define SGT_VERSION "0.1.0"

/*
 * Error codes.  They are part of the interface: -code is the exit status
 * (SPEC.md section 3), so they are never renumbered.
 */
enum sgt_status {
	SGT_OK = 0,
	SGT_ERR_VERDICT = -1,	/* negative verdict: invalid, lint failed, due */
	SGT_ERR_USAGE = -2,	/* unknown command/flag, missing argument */
	SGT_ERR_DATA = -3,	/* malformed input, I/O, policy error */
	SGT_ERR_HSM = -4	/* module, token, login, PIN */
};

#if defined(__GNUC__)
#define SGT_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define SGT_PRINTF(a, b)
#endif

/* Prints "signet: <message>" on stderr and returns code. */
int sgt_err(int code, const char *fmt, ...) SGT_PRINTF(2, 3);
/* The message of the last sgt_err (without "signet: "), for refused-attempt records. */
const char *sgt_last_error(void);
/*
 * Holds errors and hints back (warnings still print) until sgt_err_release,
 * which returns the last held hint or NULL: a command that adds what the
 * failure meant ("'fw.bin' not signed: <why>") prints one line, not two.
 * The held error's text is sgt_last_error().
 */
void sgt_err_hold(void);
const char *sgt_err_release(void);
/* Prints "hint: <message>" on stderr. */
void sgt_hint(const char *fmt, ...) SGT_PRINTF(1, 2);
/* Prints "signet: warning: <message>" on stderr unless quiet. */
void sgt_warn(const char *fmt, ...) SGT_PRINTF(1, 2);
/* Prints a progress line on stderr only with --verbose. */
void sgt_verbose(const char *fmt, ...) SGT_PRINTF(1, 2);
extern int sgt_quiet;
/* While set, errors, hints and warnings are not printed (probing whether something works). */
extern int sgt_silent;
extern int sgt_verbose_flag;

/*
 * The last OpenSSL error as a sentence fragment ("bad decrypt"), or
 * "unknown OpenSSL error"; clears the OpenSSL error queue.  The returned
 * string is a static buffer valid until the next call.
 */
const char *sgt_ossl_why(void);

/* Growable byte buffer; buf_free on a zeroed struct is a no-op. */
struct sgt_buf {
	char *p;
	size_t len;
	size_t cap;
};
int sgt_buf_add(struct sgt_buf *b, const void *data, size_t len);
int sgt_buf_printf(struct sgt_buf *b, const char *fmt, ...) SGT_PRINTF(2, 3);
void sgt_buf_free(struct sgt_buf *b);
/* j as json_dumps writes it (flags) and a newline, added to b; j is taken (NULL: out of memory). */
struct json_t;
int sgt_buf_json(struct sgt_buf *b, struct json_t *j, size_t flags);

/*
 * Reads a whole file (at most max bytes, else SGT_ERR_DATA) into a
 * malloc'd buffer that is NUL-terminated one past len.  Errors are
 * reported naming path.  "-" reads stdin.
 */
int sgt_file_read(const char *path, size_t max, unsigned char **out, size_t *len);

/*
 * Names (the suffix removed) of the files in dir that end in suffix, not
 * starting with '.', sorted; a missing dir has none.  *names is malloc'd:
 * free with sgt_names_free.  Errors name the directory.
 */
int sgt_dir_names(const char *dir, const char *suffix, char ***names, size_t *n);
void sgt_names_free(char **names, size_t n);

/* write(2) until all of data is written (EINTR retried); 0, or the errno that stopped it. */
int sgt_write_all(int fd, const void *data, size_t len);
/* Lower-case hex of n bytes into out (2n+1 bytes). */
void sgt_hex(const unsigned char *in, size_t n, char *out);
/* Parses hex into out (at most max bytes); returns bytes or -1. */
long sgt_unhex(const char *hex, unsigned char *out, size_t max);
/* The value of one hex digit (either case), -1 for any other byte. */
int sgt_hexval(unsigned char c);
/* SHA-256 of data as 64 hex chars + NUL. */
void sgt_sha256_hex(const void *data, size_t len, char out[65]);
/* Base64 without line breaks; malloc'd, NUL-terminated. NULL on failure. */
char *sgt_base64(const unsigned char *in, size_t len);
/* Decodes base64 (whitespace ignored); malloc'd. Returns SGT_OK or SGT_ERR_DATA. */
int sgt_unbase64(const char *in, size_t inlen, unsigned char **out, size_t *outlen);
/* RFC 3339 UTC time "2026-11-24T04:13:31Z" (21 bytes). */
void sgt_time_iso(time_t t, char out[32]);
/* Current time; SIGNET_NOW (RFC 3339 or epoch seconds) overrides it for tests. */
time_t sgt_now(void);
/* Parses "YYYY-MM-DD" or RFC 3339 UTC; returns 0 or -1. */
int sgt_time_parse(const char *s, time_t *out);
/*
 * No core dumps (RLIMIT_CORE 0) and no ptrace by the same user
 * (PR_SET_DUMPABLE 0) for this process: main calls it before any command,
 * since most handle a PIN or key material.  SGT_ERR_DATA (unreported) when
 * the kernel refused either.
 */
int sgt_secrets_protect(void);
/* Random bytes from OpenSSL's DRBG; SGT_OK or SGT_ERR_DATA. */
int sgt_random(unsigned char *out, size_t n);

/*
 * A label names a key in custody and a directory in the store, so it is
 * restricted to [A-Za-z0-9._-], 1..64 chars, not starting with '.' or '-'.
 * Returns SGT_OK or reports and returns SGT_ERR_USAGE.
 */
int sgt_label_check(const char *label);
/* The same rule without a message: 1 when label is acceptable. */
int sgt_label_ok(const char *label);

#endif
