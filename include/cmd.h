/*
 * cmd.h: what command files share: the global options, the command entry
 * points, and helpers for option parsing, help text, opening the store
 * and printing JSON.  Command files parse arguments, call modules and
 * print; they never talk PKCS#11 or ASN.1 directly.
 */
#ifndef SGT_CMD_H
#define SGT_CMD_H

#include <getopt.h>
#include <limits.h>
#include <jansson.h>
#include <openssl/x509.h>

#include "creader.h"
#include "keyrec.h"
#include "pin.h"
#include "store.h"

struct sgt_ctx {
	const char *store_opt;	/* --store, or NULL */
	int json;		/* --json */
};

enum { SGT_LOCK_NONE, SGT_LOCK_SHARED, SGT_LOCK_EXCLUSIVE };

/* Every top-level command: argv[0] is the command name. */
int cmd_init(struct sgt_ctx *ctx, int argc, char **argv);
int cmd_key(struct sgt_ctx *ctx, int argc, char **argv);
int cmd_cert(struct sgt_ctx *ctx, int argc, char **argv);
int cmd_renew(struct sgt_ctx *ctx, int argc, char **argv);
int cmd_header(struct sgt_ctx *ctx, int argc, char **argv);
int cmd_extract(struct sgt_ctx *ctx, int argc, char **argv);
int cmd_sign(struct sgt_ctx *ctx, int argc, char **argv);
int cmd_verify(struct sgt_ctx *ctx, int argc, char **argv);
int cmd_explain(struct sgt_ctx *ctx, int argc, char **argv);
int cmd_audit(struct sgt_ctx *ctx, int argc, char **argv);
int cmd_policy(struct sgt_ctx *ctx, int argc, char **argv);
int cmd_backup(struct sgt_ctx *ctx, int argc, char **argv);
int cmd_restore(struct sgt_ctx *ctx, int argc, char **argv);
int cmd_fleet(struct sgt_ctx *ctx, int argc, char **argv);
int cmd_rotate(struct sgt_ctx *ctx, int argc, char **argv);
int cmd_approve(struct sgt_ctx *ctx, int argc, char **argv);
/* sign / verify --format mcuboot (cmd_mcuboot.c); cmd_mcuboot_wanted: argv has --format. */
int cmd_mcuboot_wanted(int argc, char **argv);
int cmd_sign_mcuboot(struct sgt_ctx *ctx, int argc, char **argv);
int cmd_verify_mcuboot(struct sgt_ctx *ctx, int argc, char **argv);
/*
 * For extract and key match: when path is an MCUboot image (raw, or Intel
 * HEX with the image at its base), line says which key in custody signed
 * it (its key TLV names the key and the signature verifies): 1 such a key,
 * 0 none (line says why), -1 not an MCUboot image (line empty).
 */
int cmd_mcuboot_signer(struct sgt_ctx *ctx, const char *path, char *line, size_t cap);

/*
 * getopt_long wrapper: resets getopt, never lets it print, and turns an
 * unknown option or a missing argument into
 * "signet: <cmd>: unknown option '--x'" + a usage hint (returns -2 then;
 * SGT_ERR_USAGE).  Returns the option character, or -1 at the end.
 * Call with *started = 0 the first time.
 */
int cmd_getopt(const char *cmd, int argc, char **argv, const char *shortopts,
	       const struct option *longopts, int *started);
/* Prints the usage error and a hint to run `signet help <cmd>`; returns SGT_ERR_USAGE. */
int cmd_usage(const char *cmd, const char *fmt, ...) SGT_PRINTF(2, 3);
/* Prints help text to stdout; returns SGT_OK. */
int cmd_help(const char *text);

/*
 * Opens the store (ctx->store_opt) and takes the lock; a --pin-file or
 * --pin-fd the command parsed (cmd_pin_opt) is read first (sgt_pin_preread).
 */
int cmd_store_open(struct sgt_ctx *ctx, struct sgt_store *st, int lock);

/*
 * For commands that also work without a store: opens it only when
 * signet.yaml exists.  No store is *have = 0 and SGT_OK.
 */
int cmd_store_open_optional(struct sgt_ctx *ctx, struct sgt_store *st, int lock, int *have);
/* The key records of the store, when there is one (*have says so). */
int cmd_custody_records(struct sgt_ctx *ctx, struct sgt_keyrec **recs, size_t *n, int *have);
/* Label of the key in custody whose SPKI hash is spki, or NULL. */
const char *cmd_custody_label(const struct sgt_keyrec *recs, size_t n, const char *spki);

/* rm -rf dir (a half-built store); a warning when it cannot. */
void cmd_rm_tree(const char *dir);
/* Absolute form of a directory path whose parent exists (the path itself may not). */
int cmd_path_absolute(const char *given, char out[PATH_MAX]);
/*
 * A target for a new store may be missing or an empty directory, nothing
 * else: "cannot <verb> 'shown': ..." or "a store already exists at ...".
 */
int cmd_dir_free(const char *path, const char *shown, const char *verb);

/* Prints j as one JSON document on stdout and releases it. */
int cmd_json_print(json_t *j);
/*
 * An argument that may name a key in custody or a file: 1 file, 0 label,
 * SGT_ERR_USAGE (reported, naming both) when it is both.  "./x", any path
 * with a slash, or force_file (--file) always mean the file; st may be
 * NULL (no store: no labels).
 */
int cmd_label_or_file(const struct sgt_store *st, const char *arg, int force_file);

/* -D NAME[=VALUE] / -U NAME for the commands that read C (extract, verify, key match). */
struct cmd_defines {
	struct sgt_cdefine v[64];
	char names[64][128];
	size_t n;
};
/* Adds one; SGT_ERR_USAGE (reported) for a bad name or too many. */
int cmd_define_opt(const char *cmd, int undefine, const char *arg, struct cmd_defines *d);

/* Common PIN options: --pin-file F, --pin-fd N; returns 1 when opt was one of them. */
#define CMD_PIN_LONGOPTS { "pin-file", required_argument, NULL, 0x100 }, { "pin-fd", required_argument, NULL, 0x101 }
int cmd_pin_opt(const char *cmd, int c, const char *arg, struct sgt_pin_opts *opts, int *rc);
/* The command accepted PIN options it never uses: cmd_store_open reads nothing ahead. */
void cmd_pin_unused(void);

/*
 * After sgt_err_hold() and a module call that returned rc: SGT_OK, or one
 * error line "<what>: <the module's reason>" (and its hint); returns rc.
 */
int cmd_failed_because(int rc, const char *what);

#endif
