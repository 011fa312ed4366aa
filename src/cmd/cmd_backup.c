/*
 * cmd_backup.c: `signet backup FILE` and `signet restore FILE`.  backup
 * takes the store's lock, packs the whole store (the embedded token's
 * files and PINs included) and seals it with a passphrase or to a
 * recipient certificate, then, in a custody transaction (tx.h), stages
 * the archive next to FILE, queues a "backup" record with the archive's
 * SHA-256 and commits: the archive appears only with its record.  restore
 * authenticates and parses the whole archive before it writes a byte,
 * builds the store in a flocked staging directory next to the target
 * (one a killed restore left is removed by the next), records "restore"
 * there through a transaction that also points the embedded SoftHSM2
 * configuration at the new place, and renames it into place.  `restore
 * --check` is the drill: restore into a temporary store, sign and verify
 * with every key on the restored token, verify the audit chain, remove
 * it.  A database-backed store (dbstore.h) is backed up as the database
 * holds it, and restores into a directory (a file store) or, --db, into
 * an empty database.  Payload: backup.c; envelopes: backup_seal.c.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <dirent.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "audit.h"
#include "backup.h"
#include "cert.h"
#include "certstore.h"
#include "dbstore.h"
#include "intent.h"
#include "cmd.h"
#include "hsmguard.h"
#include "key.h"
#include "sign.h"
#include "token.h"
#include "tx.h"

static const char backup_help[] =
	"usage: signet backup FILE (--passphrase-file F | --passphrase-fd N | --recipient CERT)\n"
	"                     [--scrypt-n LOG2]\n\n"
	"Writes the whole store (signet.yaml, keys/, certs/, fleets, rotations/, the\n"
	"audit log and head, hsm/ with the embedded SoftHSM2 token's files and PINs)\n"
	"as one encrypted, integrity-protected archive FILE (outside the store), and\n"
	"records a 'backup' audit record with the archive's SHA-256.\n\n"
	"  --passphrase-file F  passphrase from the first line of F (at least 8 characters)\n"
	"  --passphrase-fd N    passphrase from file descriptor N\n"
	"                       (scrypt N=2^17 r=8 p=1, then AES-256-GCM)\n"
	"  --recipient CERT     encrypt to the certificate's key instead (RSA or EC):\n"
	"                       CMS AuthEnvelopedData with AES-256-GCM\n"
	"  --scrypt-n LOG2      scrypt cost N=2^LOG2, 15..20 (default 17)\n\n"
	"A store on another PKCS#11 module: the keys stay in that HSM and are not in\n"
	"the archive (back them up with the HSM vendor's tools); records,\n"
	"certificates and the audit log are.  A store in PostgreSQL: the store as\n"
	"the database holds it (every record, head, store file and host), read\n"
	"under the head row's lock, with this host's signet.yaml.  See docs/backup.md.\n";

static const char restore_help[] =
	"usage: signet restore FILE --store DIR [--db CONNINFO [--host NAME]]\n"
	"                      (--passphrase-file F | --passphrase-fd N | --recipient-key KEY)\n"
	"       signet restore FILE --check (...same key options)\n\n"
	"Decrypts FILE and checks the integrity of the whole archive before writing\n"
	"anything, then creates the store DIR (which must not exist or be empty):\n"
	"built in a temporary directory next to DIR and renamed into place, files\n"
	"0600, directories 0700, the embedded token's configuration pointed at DIR.\n"
	"A backup of a database-backed store restores as a file store.\n\n"
	"  --db CONNINFO        restore into that PostgreSQL database instead, which\n"
	"                       must hold no store (libpq conninfo or URI, as init\n"
	"                       --db); DIR is then this host's store directory\n"
	"  --host NAME          this host's name in the records (default: the\n"
	"                       machine's); not one the backup's store had\n"
	"  --recipient-key KEY  the backup recovery key (PEM or DER private key) for an\n"
	"                       archive made with --recipient; an encrypted PEM key is\n"
	"                       opened with --passphrase-file / --passphrase-fd\n"
	"  --check              a drill: restore into a temporary store, sign a test\n"
	"                       message with every key on the restored token and verify\n"
	"                       it with the key's recorded public key, verify the audit\n"
	"                       log, report, remove the temporary store.  Exit 0 only\n"
	"                       when every key signs and verifies and the log is intact,\n"
	"                       1 otherwise.\n\n"
	"Exit 3 for a wrong passphrase or a damaged archive (nothing is written).\n";

/* ---- helpers ---- */

static int parse_fd(const char *cmd, const char *arg, int *fd)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || *end || end == arg || v < 0 || v > 65535)
		return cmd_usage(cmd, "--passphrase-fd needs a file descriptor number, not '%s'", arg);
	*fd = (int)v;
	return SGT_OK;
}

/*
 * SIGINT, SIGTERM and SIGHUP are held (hsmguard.h, which nests with the
 * holds of store writes and token use) while a staged archive or a
 * half-built store exists, and honoured once it is in place or removed.
 */
static void release_signals(void)
{
	fflush(stdout);
	sgt_sig_release();
}

static int is_dir(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* The store's token lives in <store>/hsm (the embedded SoftHSM2 default). */
static int store_embedded(const struct sgt_store *st)
{
	char *tokens = sgt_store_path(st, "hsm/tokens");
	char *conf = sgt_store_path(st, "hsm/softhsm2.conf");
	int r = tokens && conf && is_dir(tokens) && access(conf, F_OK) == 0;

	free(tokens);
	free(conf);
	return r;
}

/* ---- backup ---- */

struct secret_opts {
	const char *pass_file;
	int pass_fd;
	const char *recipient;		/* backup: certificate; restore: private key */
};

static int read_pass(const struct secret_opts *o, struct sgt_pass *pass)
{
	if (o->pass_file != NULL)
		return sgt_backup_pass_file(o->pass_file, pass);
	return sgt_backup_pass_fd(o->pass_fd, pass);
}

/* FILE must not be inside the store: it would go into the next backup and be locked with it. */
static int outside_store(const struct sgt_store *st, const char *abs, const char *shown)
{
	size_t n = strlen(st->dir);

	if (strncmp(abs, st->dir, n) == 0 && (abs[n] == '/' || abs[n] == '\0'))
		return cmd_usage("backup", "'%s' is inside the store '%s'; write the backup elsewhere", shown, st->dir);
	return SGT_OK;
}

static json_t *manifest_new(const struct sgt_store *st, int embedded, const char *encryption)
{
	char now[32];
	json_t *m;

	sgt_time_iso(sgt_now(), now);
	m = json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:s}", "format", "signet-backup", "signet", SGT_VERSION,
		      "store", st->dir, "created", now, "embedded", embedded, "module", st->cfg.module, "token",
		      st->cfg.token, "encryption", encryption);
	/* a database-backed store: the store is the database's, signet.yaml and hsm/ this host's */
	if (m != NULL && st->cfg.db_conninfo != NULL &&
	    (json_object_set_new(m, "backend", json_string("postgresql")) != 0 ||
	     json_object_set_new(m, "database", json_string(sgt_db_name())) != 0 ||
	     json_object_set_new(m, "host", json_string(st->cfg.db_host)) != 0)) {
		json_decref(m);
		m = NULL;
	}
	return m;
}

/*
 * A database-backed store (locked: its head row is held): the store as
 * the database holds it (every store file, every record byte for byte,
 * the head, and signet-db/ with the heads, hosts and who wrote what),
 * with this host's signet.yaml and hsm/ (an embedded token) from its
 * directory.  The host's copies of the files are not taken: they are the
 * database's, read from it.
 */
static int pack_db(const struct sgt_store *st, json_t *manifest, unsigned char **payload, size_t *plen, size_t *nfiles,
		   long long *records)
{
	static const char *const keep[] = { "signet.yaml", "hsm", NULL };
	struct sgt_db_file *f = NULL;
	struct sgt_backup_entry *e = NULL;
	size_t n = 0, i;
	int rc;

	if ((rc = sgt_db_snapshot(&f, &n, records)) != SGT_OK)
		return rc;
	if ((e = calloc(n ? n : 1, sizeof(*e))) == NULL) {
		sgt_db_files_free(f, n);
		return sgt_err(SGT_ERR_DATA, "out of memory");
	}
	for (i = 0; i < n; i++) {
		e[i].path = f[i].path;
		e[i].type = SGT_ENTRY_FILE;
		e[i].mode = 0600;
		e[i].size = f[i].len;
		e[i].data = f[i].data;
	}
	json_object_set_new(manifest, "records", json_integer(*records));
	rc = sgt_backup_pack_with(st->dir, keep, e, n, manifest, payload, plen, nfiles);
	free(e);
	sgt_db_files_free(f, n);
	return rc;
}

/*
 * A key in custody signs and nothing else (no CKA_DECRYPT, never
 * extractable): an archive sealed to it could never be opened.
 */
static int recipient_not_custody(const struct sgt_store *st, X509 *cert, const char *path)
{
	struct sgt_keyrec *recs = NULL;
	const struct sgt_keyrec *r;
	size_t n = 0;
	char spki[65];
	int rc;

	if ((rc = sgt_cert_spki_sha256(cert, spki)) != SGT_OK || (rc = sgt_keyrec_list(st, &recs, &n)) != SGT_OK)
		return rc;
	if ((r = sgt_keyrec_by_spki(recs, n, spki)) != NULL) {
		rc = sgt_err(SGT_ERR_DATA, "recipient '%s' is key '%s' in custody, which can never decrypt: the backup "
			     "could not be restored", path, r->label);
		sgt_hint("use a separate recovery key pair kept offline (e.g. openssl req -x509 -newkey rsa:3072 ...)");
	}
	free(recs);
	return rc;
}

/* A backup is only as good as its restore: open what was sealed before writing it. */
static int reopen_check(const unsigned char *arch, size_t alen, const struct sgt_pass *pass,
			const unsigned char *payload, size_t plen)
{
	unsigned char *back = NULL;
	size_t blen = 0;
	char why[128];
	int rc = sgt_backup_open_pass(arch, alen, pass, &back, &blen, NULL, why);

	if (rc == SGT_OK && (blen != plen || CRYPTO_memcmp(back, payload, plen) != 0))
		rc = SGT_ERR_DATA;
	sgt_backup_secret_free(back, blen);
	if (rc != SGT_OK)
		return sgt_err(SGT_ERR_DATA, "the sealed archive does not open to the store it was made from; nothing written");
	return SGT_OK;
}

int cmd_backup(struct sgt_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "passphrase-file", required_argument, NULL, 'f' },
		{ "passphrase-fd", required_argument, NULL, 'd' },
		{ "recipient", required_argument, NULL, 'r' },
		{ "scrypt-n", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct secret_opts so = { NULL, -1, NULL };
	struct sgt_scrypt kdf = SGT_SCRYPT_DEFAULT;
	struct sgt_store st = { NULL, { 0 }, -1, 0 };
	struct sgt_pass pass;
	struct sgt_tx *tx = NULL;
	X509 *rcert = NULL;
	unsigned char *payload = NULL, *arch = NULL;
	size_t plen = 0, alen = 0, nfiles = 0;
	long long dbrecords = 0;
	char abs[PATH_MAX], sha[65], encryption[96];
	json_t *manifest = NULL, *d = NULL;
	const char *file, *outputs[1];
	int started = 0, c, rc, embedded, nsrc, held = 0;

	sgt_backup_pass_wipe(&pass);
	while ((c = cmd_getopt("backup", argc, argv, "h", longopts, &started)) != -1) {
		switch (c) {
		case -2: return SGT_ERR_USAGE;
		case 'f': so.pass_file = optarg; break;
		case 'd':
			if ((rc = parse_fd("backup", optarg, &so.pass_fd)) != SGT_OK)
				return rc;
			break;
		case 'r': so.recipient = optarg; break;
		case 'n': {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (*end || end == optarg || v < SGT_SCRYPT_LOG2N_MIN || v > SGT_SCRYPT_LOG2N_MAX)
				return cmd_usage("backup", "--scrypt-n needs a number from %d to %d, not '%s'",
						 SGT_SCRYPT_LOG2N_MIN, SGT_SCRYPT_LOG2N_MAX, optarg);
			kdf.log2n = (unsigned)v;
			break;
		}
		case 'h': return cmd_help(backup_help);
		}
	}
	if (optind >= argc)
		return cmd_usage("backup", "missing the archive FILE to write");
	if (optind + 1 < argc)
		return cmd_usage("backup", "unexpected argument '%s'", argv[optind + 1]);
	file = argv[optind];
	nsrc = (so.pass_file != NULL) + (so.pass_fd >= 0) + (so.recipient != NULL);
	if (nsrc != 1)
		return cmd_usage("backup", "give exactly one of --passphrase-file, --passphrase-fd, --recipient");
	if ((rc = cmd_path_absolute(file, abs)) != SGT_OK)
		return rc;
	if (is_dir(abs))
		return sgt_err(SGT_ERR_DATA, "cannot write backup '%s': it is a directory", file);
	if (so.recipient != NULL) {
		if ((rc = sgt_cert_load(so.recipient, &rcert)) != SGT_OK)
			return rc;
		snprintf(encryption, sizeof(encryption), "cms-authenveloped-aes-256-gcm");
	} else {
		if ((rc = read_pass(&so, &pass)) != SGT_OK)
			goto out;
		if (pass.len < 8) {
			rc = sgt_err(SGT_ERR_DATA, "the backup passphrase is too short (%zu characters); use at least 8",
				     pass.len);
			goto out;
		}
		snprintf(encryption, sizeof(encryption), "scrypt-aes-256-gcm");
	}
	/* Exclusive: no command changes the store (or logs in to its token) while it is read. */
	if ((rc = cmd_store_open(ctx, &st, SGT_LOCK_EXCLUSIVE)) != SGT_OK)
		goto out;
	if ((rc = outside_store(&st, abs, file)) != SGT_OK)
		goto out;
	if (rcert != NULL && (rc = recipient_not_custody(&st, rcert, so.recipient)) != SGT_OK)
		goto out;
	embedded = store_embedded(&st);
	if ((manifest = manifest_new(&st, embedded, encryption)) == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	rc = st.cfg.db_conninfo != NULL ? pack_db(&st, manifest, &payload, &plen, &nfiles, &dbrecords)
					 : sgt_backup_pack(st.dir, manifest, &payload, &plen, &nfiles);
	if (rc != SGT_OK)
		goto out;
	rc = rcert ? sgt_backup_seal_cms(payload, plen, rcert, &arch, &alen)
		   : sgt_backup_seal_pass(payload, plen, &pass, &kdf, &arch, &alen);
	if (rc != SGT_OK)
		goto out;
	if (!rcert && (rc = reopen_check(arch, alen, &pass, payload, plen)) != SGT_OK)
		goto out;
	sgt_sha256_hex(arch, alen, sha);
	d = json_pack("{s:s, s:s, s:I, s:I, s:s, s:b}", "archive", abs, "archive_sha256", sha, "bytes", (json_int_t)alen,
		      "files", (json_int_t)nfiles, "encryption", encryption, "keys_included", embedded);
	if (d == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	if (!rcert)
		json_object_set_new(d, "scrypt_log2n", json_integer(kdf.log2n));
	if (st.cfg.db_conninfo != NULL) {
		json_object_set_new(d, "database", json_string(sgt_db_name()));
		json_object_set_new(d, "records", json_integer(dbrecords));
	}
	/*
	 * The archive is staged next to FILE (mode 0600: it holds every key and
	 * PIN) and appears only once its audit record is durable; a kill leaves
	 * the staged copy to the next command's recovery, which removes it.
	 * The store was packed before the transaction began, so its intent is
	 * not in the archive.
	 */
	sgt_sig_hold();
	held = 1;
	outputs[0] = abs;
	sgt_err_hold();
	if ((rc = sgt_tx_begin(&st, "backup", NULL, NULL, outputs, 1, &tx)) == SGT_OK &&
	    (rc = sgt_tx_stage(tx, abs, arch, alen, 0)) == SGT_OK &&
	    (rc = sgt_tx_record(tx, "backup", NULL, NULL, d)) == SGT_OK)
		rc = sgt_tx_commit(tx);
	if (rc != SGT_OK) {
		struct sgt_buf what = { 0 };

		if (sgt_tx_committed(tx))
			sgt_buf_printf(&what, "backup '%s' recorded, but not put in place (the next command completes it)",
				       file);
		else
			sgt_buf_printf(&what, "backup '%s' not written (no audit record)", file);
		rc = cmd_failed_because(rc, what.p ? what.p : "backup not written");
		sgt_buf_free(&what);
		goto out;
	}
	(void)sgt_err_release();
	if (!embedded)
		sgt_warn("the keys are not in this backup: they stay on token '%s' of module '%s'; back them up with "
			 "the HSM's own tools (records, certificates and the audit log are in the backup)",
			 st.cfg.token, st.cfg.module);
	if (ctx->json) {
		json_object_set_new(d, "store", json_string(st.dir));
		rc = cmd_json_print(json_incref(d));
	} else if (!sgt_quiet) {
		printf("wrote backup %s: %zu files, %zu bytes\n  sha256 %s\n", file, nfiles, alen, sha);
		if (st.cfg.db_conninfo != NULL)
			printf("  the store as database %s holds it: %lld records, every head and store file\n",
			       sgt_db_name(), dbrecords);
		if (rcert)
			printf("  encrypted to the recipient certificate (CMS AuthEnvelopedData, AES-256-GCM)\n");
		else
			printf("  encrypted with the passphrase (scrypt N=2^%u r=%u p=%u, AES-256-GCM)\n", kdf.log2n,
			       (unsigned)kdf.r, (unsigned)kdf.p);
		if (embedded)
			printf("  includes the embedded token (every key) and its PINs: keep the archive and its "
			       "passphrase or recovery key apart\n");
		else
			printf("  records, certificates and audit log only: the keys stay in the HSM\n");
		printf("next: signet restore %s --check\n", file);
	}
out:
	sgt_tx_free(tx);
	if (held)
		release_signals();
	sgt_backup_pass_wipe(&pass);
	sgt_backup_secret_free(payload, plen);
	free(arch);
	json_decref(manifest);
	json_decref(d);
	X509_free(rcert);
	sgt_store_release(&st);
	return rc;
}

/* ---- restore ---- */

struct opened {
	unsigned char *payload;
	size_t plen;
	struct sgt_backup_list list;
	char sha[65];
};

static void opened_release(struct opened *o)
{
	sgt_backup_list_release(&o->list);
	sgt_backup_secret_free(o->payload, o->plen);
	o->payload = NULL;
	o->plen = 0;
}

/* Reads, authenticates and parses the whole archive; nothing is written. */
static int open_archive(const char *file, const struct secret_opts *so, struct opened *o)
{
	unsigned char *arch = NULL;
	size_t alen = 0;
	struct sgt_pass pass;
	EVP_PKEY *key = NULL;
	char why[128] = "";
	int rc;

	memset(o, 0, sizeof(*o));
	sgt_backup_pass_wipe(&pass);
	if ((rc = sgt_file_read(file, SGT_BACKUP_MAX + (1 << 20), &arch, &alen)) != SGT_OK)
		return rc;
	sgt_sha256_hex(arch, alen, o->sha);
	if ((rc = sgt_backup_kind(arch, alen, why)) < 0) {
		rc = sgt_err(SGT_ERR_DATA, "cannot restore '%s': %s", file, why);
		goto out;
	}
	if ((so->pass_file != NULL || so->pass_fd >= 0) && (rc = read_pass(so, &pass)) != SGT_OK)
		goto out;
	if (so->recipient != NULL) {
		if ((rc = sgt_backup_load_key(so->recipient, pass.len ? &pass : NULL, &key)) != SGT_OK)
			goto out;
		rc = sgt_backup_open_cms(arch, alen, key, NULL, &o->payload, &o->plen, why);
	} else {
		rc = sgt_backup_open_pass(arch, alen, &pass, &o->payload, &o->plen, NULL, why);
	}
	if (rc != SGT_OK) {
		rc = sgt_err(rc, "cannot restore '%s': %s", file, why);
		goto out;
	}
	if ((rc = sgt_backup_parse(o->payload, o->plen, &o->list, why)) != SGT_OK) {
		rc = sgt_err(SGT_ERR_DATA, "cannot restore '%s': %s", file, why);
		goto out;
	}
	{
		const struct sgt_backup_entry *cfg = sgt_backup_find(&o->list, "signet.yaml");

		if (cfg == NULL || cfg->type != SGT_ENTRY_FILE)
			rc = sgt_err(SGT_ERR_DATA, "cannot restore '%s': the archive holds no signet.yaml", file);
	}
out:
	if (rc != SGT_OK)
		opened_release(o);
	sgt_backup_pass_wipe(&pass);
	EVP_PKEY_free(key);
	free(arch);
	return rc;
}

static const char *manifest_str(const struct opened *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o->list.manifest, key));

	return s ? s : "";
}

/* o's softhsm2.conf with its token directory at <root>/hsm/tokens. */
static int conf_for(const struct sgt_backup_entry *conf, const char *root, struct sgt_buf *out)
{
	char tokendir[PATH_MAX + 64];

	sgt_buf_free(out);
	if ((size_t)snprintf(tokendir, sizeof(tokendir), "%s/hsm/tokens", root) >= sizeof(tokendir))
		return sgt_err(SGT_ERR_DATA, "path too long: '%s'", root);
	return sgt_backup_softhsm_conf(conf->data, (size_t)conf->size, tokendir, out);
}

/*
 * A staging directory (a restore's ".DIR.restoreXXXXXX", a drill's
 * "signet-drill.XXXXXX") is flocked while its command runs.  One a kill
 * left behind (a whole store's keys and PINs) is removed by the next
 * restore or drill that stages in the same directory: it is ours, its name
 * has the form, and nobody holds its lock.
 */
static int stage_name_is(const char *name, const char *prefix, const char *infix)
{
	size_t np = strlen(prefix), ni = strlen(infix), n = strlen(name), i;

	/* prefix, then (only when there is an infix) a name, the infix, and mkdtemp's six characters */
	if (ni > 0 ? n <= np + ni + 6 : n != np + 6)
		return 0;
	if (strncmp(name, prefix, np) != 0 || strncmp(name + n - 6 - ni, infix, ni) != 0)
		return 0;
	for (i = n - 6; i < n; i++)
		if (!isalnum((unsigned char)name[i]))
			return 0;
	return 1;
}

static void stage_sweep(const char *parent, const char *prefix, const char *infix, const char *what)
{
	DIR *d = opendir(parent);
	struct dirent *de;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		char path[PATH_MAX];
		struct stat sb;
		int fd;

		if (!stage_name_is(de->d_name, prefix, infix) ||
		    (size_t)snprintf(path, sizeof(path), "%s/%s", parent, de->d_name) >= sizeof(path))
			continue;
		if (lstat(path, &sb) != 0 || !S_ISDIR(sb.st_mode) || sb.st_uid != geteuid())
			continue;
		if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			cmd_rm_tree(path);
			fprintf(stderr, "signet: removed '%s', left by an interrupted %s\n", path, what);
		}
		close(fd);
	}
	closedir(d);
}

/* Creates tmp (a mkdtemp template) and locks it for as long as *fd stays open. */
static int stage_make(char *tmp, int *fd, const char *shown)
{
	struct stat a, b;

	*fd = -1;
	if (mkdtemp(tmp) == NULL)
		return sgt_err(SGT_ERR_DATA, "cannot create store '%s': %s", shown, strerror(errno));
	if ((*fd = open(tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0 || flock(*fd, LOCK_EX | LOCK_NB) != 0 ||
	    fstat(*fd, &a) != 0 || lstat(tmp, &b) != 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
		/* another restore swept it between mkdtemp and flock */
		int rc = sgt_err(SGT_ERR_DATA, "cannot create store '%s': its staging directory '%s' was taken away",
				 shown, tmp);

		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		return rc;
	}
	return SGT_OK;
}

/* The archive is of a database-backed store (its manifest says so). */
static int db_archive(const struct opened *o)
{
	return strcmp(manifest_str(o, "backend"), "postgresql") == 0;
}

/*
 * What of o becomes the store's tree (*tree: borrows o's entries; all but
 * a database backup's signet-db/), and the signet-db/ files (*meta).
 */
static int split_db(const struct opened *o, struct sgt_backup_list *tree, struct sgt_db_file **meta, size_t *nmeta)
{
	size_t i;

	memset(tree, 0, sizeof(*tree));
	*meta = NULL;
	*nmeta = 0;
	if ((tree->v = calloc(o->list.n ? o->list.n : 1, sizeof(*tree->v))) == NULL ||
	    (*meta = calloc(o->list.n ? o->list.n : 1, sizeof(**meta))) == NULL) {
		free(tree->v);
		tree->v = NULL;
		return sgt_err(SGT_ERR_DATA, "out of memory");
	}
	for (i = 0; i < o->list.n; i++) {
		const struct sgt_backup_entry *e = &o->list.v[i];

		if (strncmp(e->path, "signet-db", 9) == 0 && (e->path[9] == '\0' || e->path[9] == '/')) {
			if (e->type == SGT_ENTRY_FILE) {
				(*meta)[*nmeta].path = e->path;
				(*meta)[*nmeta].data = (unsigned char *)e->data;
				(*meta)[(*nmeta)++].len = (size_t)e->size;
			}
			continue;
		}
		tree->v[tree->n++] = *e;
	}
	return SGT_OK;
}

/*
 * signet.yaml of the staged store for where it goes: naming dbinfo's
 * database as host (restore --db), or, from a database backup into a
 * directory, none (a file store, as 'store migrate --to DIR' makes).
 */
static int config_for(const char *tmp, const char *dbinfo, const char *host)
{
	struct sgt_store st = { NULL, { 0 }, -1, 0 };
	char path[PATH_MAX + 32];
	int rc;

	if ((rc = sgt_store_open(&st, tmp)) != SGT_OK)
		return rc;
	free(st.cfg.db_conninfo);
	free(st.cfg.db_host);
	st.cfg.db_conninfo = dbinfo ? strdup(dbinfo) : NULL;
	st.cfg.db_host = dbinfo ? strdup(host) : NULL;
	snprintf(path, sizeof(path), "%s/signet.yaml", tmp);
	if (dbinfo != NULL && (st.cfg.db_conninfo == NULL || st.cfg.db_host == NULL))
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
	else if (unlink(path) != 0)	/* the archive's, in the staging directory nobody else uses */
		rc = sgt_err(SGT_ERR_DATA, "cannot replace '%s': %s", path, strerror(errno));
	else
		rc = sgt_config_save(path, &st.cfg);
	sgt_store_release(&st);
	return rc;
}

/*
 * Creates the store at final (absolute) from o: a staging directory next
 * to it (flocked, see stage_sweep), the tree, then a custody transaction
 * in the staged store: the "restore" record, and the SoftHSM2
 * configuration naming the final place staged with it (while the record
 * is written, it names the staging directory, as in init: an anchored
 * audit log signs on the token).  Then one rename.  With dbinfo (--db),
 * the staged store is host's directory of a database store, and the
 * database is filled in the transaction the restore record commits.
 */
static int restore_to(const char *file, const struct opened *o, const char *final, const char *shown,
		      const char *dbinfo, const char *host, long long *done_seq)
{
	const struct sgt_backup_entry *conf = sgt_backup_find(&o->list, "hsm/softhsm2.conf");
	char tmp[PATH_MAX + 32] = "", confpath[PATH_MAX + 64], parent[PATH_MAX];
	struct sgt_buf newconf = { 0 };
	struct sgt_store st = { NULL, { 0 }, -1, 0 };
	struct sgt_backup_list tree;
	struct sgt_db_file *meta = NULL;
	size_t nmeta = 0;
	struct sgt_tx *tx = NULL;
	const char *slash = strrchr(final, '/');
	json_t *d = NULL;
	int rc, lockfd = -1, fd;

	if (conf != NULL && conf->type != SGT_ENTRY_FILE)
		conf = NULL;
	if ((rc = split_db(o, &tree, &meta, &nmeta)) != SGT_OK)
		return rc;
	if ((rc = cmd_dir_free(final, shown, "restore into")) != SGT_OK)
		goto out;
	snprintf(parent, sizeof(parent), "%.*s", (int)(slash - final), slash == final ? "/" : final);
	stage_sweep(parent, ".", ".restore", "restore");
	snprintf(tmp, sizeof(tmp), "%s/.%s.restoreXXXXXX", strcmp(parent, "/") ? parent : "", slash + 1);
	if ((rc = stage_make(tmp, &lockfd, shown)) != SGT_OK) {
		tmp[0] = '\0';
		goto out;
	}
	if (conf != NULL && (rc = conf_for(conf, tmp, &newconf)) != SGT_OK)
		goto out;
	if ((rc = sgt_backup_write_tree(&tree, tmp, conf ? "hsm/softhsm2.conf" : NULL, newconf.p, newconf.len)) != SGT_OK)
		goto out;
	if ((dbinfo != NULL || db_archive(o)) && (rc = config_for(tmp, dbinfo, host)) != SGT_OK)
		goto out;
	if ((rc = sgt_store_open(&st, tmp)) != SGT_OK)
		goto out;
	/*
	 * --db: the database gets the store in a transaction the restore record
	 * commits (dbstore.h).  Run again after a kill that came between that
	 * commit and the rename, it finds its restore record there and only
	 * makes this host's directory, a copy of the database's store.
	 */
	*done_seq = 0;
	if (dbinfo != NULL && (rc = sgt_db_restored(dbinfo, host, o->sha, done_seq)) != SGT_OK)
		goto out;
	if (*done_seq > 0) {
		if (conf != NULL) {
			snprintf(confpath, sizeof(confpath), "%s/hsm/softhsm2.conf", tmp);
			if ((rc = conf_for(conf, final, &newconf)) != SGT_OK ||
			    (rc = sgt_atomic_write(confpath, newconf.p, newconf.len, 0)) != SGT_OK)
				goto out;
		}
		if ((rc = sgt_store_lock(&st, 1)) != SGT_OK)	/* brings the copy up to the database's head */
			goto out;
		goto place;
	}
	if (dbinfo != NULL &&
	    (rc = sgt_db_restore_begin(dbinfo, tmp, host, st.cfg.module, st.cfg.token, meta, nmeta)) != SGT_OK)
		goto out;
	if ((rc = sgt_store_lock(&st, 1)) != SGT_OK)
		goto out;
	d = json_pack("{s:s, s:s, s:s, s:s}", "archive", file, "archive_sha256", o->sha, "from_store",
		      manifest_str(o, "store"), "backup_created", manifest_str(o, "created"));
	if (d == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	if (db_archive(o))
		json_object_set_new(d, "from_database", json_string(manifest_str(o, "database")));
	if (dbinfo != NULL)
		json_object_set_new(d, "database", json_string(sgt_db_name()));
	if (conf != NULL) {
		snprintf(confpath, sizeof(confpath), "%s/hsm/softhsm2.conf", tmp);
		if ((rc = conf_for(conf, final, &newconf)) != SGT_OK)
			goto out;
	}
	sgt_err_hold();
	if ((rc = sgt_tx_begin(&st, "restore", NULL, NULL, NULL, 0, &tx)) == SGT_OK &&
	    (conf == NULL || (rc = sgt_tx_stage(tx, confpath, newconf.p, newconf.len, 0)) == SGT_OK) &&
	    (rc = sgt_tx_record(tx, "restore", NULL, NULL, d)) == SGT_OK)
		rc = sgt_tx_commit(tx);
	if (rc != SGT_OK) {
		struct sgt_buf what = { 0 };

		sgt_buf_printf(&what, "store '%s' not restored (no audit record)", shown);
		rc = cmd_failed_because(rc, what.p ? what.p : "store not restored");
		sgt_buf_free(&what);
		goto out;
	}
	(void)sgt_err_release();
	sgt_tx_free(tx);
	tx = NULL;
place:
	sgt_store_release(&st);
	if (rename(tmp, final) != 0) {
		rc = sgt_err(SGT_ERR_DATA, "cannot create store '%s': %s", shown, strerror(errno));
		goto out;
	}
	tmp[0] = '\0';
	if ((fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		if (fsync(fd) != 0)
			sgt_warn("cannot sync directory '%s': %s", parent, strerror(errno));
		close(fd);
	}
out:
	sgt_tx_free(tx);
	sgt_store_release(&st);
	if (dbinfo != NULL)
		sgt_db_unlock();	/* an uncommitted restore leaves the database as it was */
	if (tmp[0])
		cmd_rm_tree(tmp);
	if (lockfd >= 0)
		close(lockfd);
	sgt_buf_free(&newconf);
	json_decref(d);
	free(tree.v);
	free(meta);
	return rc;
}

/* Signs a test message with the key on the restored token and verifies it. */
static int drill_key(const struct sgt_store *st, struct sgt_token *tok, const struct sgt_keyrec *rec,
		     char *why, size_t cap)
{
	EVP_PKEY *priv = NULL, *pub = NULL;
	X509 *cert = NULL;
	unsigned char rnd[16], dgst[32], *sig = NULL;
	size_t siglen = 0;
	char msg[160], spki[65], hex[33];
	int rc;

	if ((rc = sgt_token_key(tok, rec, &priv, &pub)) != SGT_OK) {
		snprintf(why, cap, "the restored token does not hold the key (id %s)", rec->id);
		goto out;
	}
	if ((rc = sgt_key_spki_sha256(pub, spki)) != SGT_OK || strcmp(spki, rec->spki_sha256) != 0) {
		snprintf(why, cap, "the token's public key (SPKI %.16s...) is not the recorded one (%.16s...)", spki,
			 rec->spki_sha256);
		rc = SGT_ERR_VERDICT;
		goto out;
	}
	if ((rc = sgt_random(rnd, sizeof(rnd))) != SGT_OK)
		goto out;
	sgt_hex(rnd, sizeof(rnd), hex);
	snprintf(msg, sizeof(msg), "signet backup drill: key %s, nonce %s", rec->label, hex);
	SHA256((const unsigned char *)msg, strlen(msg), dgst);
	if (EVP_PKEY_is_a(pub, "ED25519")) {	/* MCUboot's way: pure Ed25519 over the hash */
		EVP_MD_CTX *vc = EVP_MD_CTX_new();
		int ok;

		siglen = 64;
		if ((sig = malloc(siglen)) == NULL || (rc = sgt_token_sign_eddsa(priv, dgst, sizeof(dgst), sig, &siglen)) != SGT_OK) {
			EVP_MD_CTX_free(vc);
			rc = sig == NULL ? sgt_err(SGT_ERR_DATA, "out of memory") : rc;
			snprintf(why, cap, "signing on the restored token failed");
			goto out;
		}
		ok = vc != NULL && EVP_DigestVerifyInit(vc, NULL, NULL, NULL, pub) == 1 &&
		     EVP_DigestVerify(vc, sig, siglen, dgst, sizeof(dgst)) == 1;
		EVP_MD_CTX_free(vc);
		if (!ok) {
			snprintf(why, cap, "the signature does not verify with the recorded public key");
			rc = SGT_ERR_VERDICT;
			goto out;
		}
		snprintf(why, cap, "signed and verified (recorded SPKI)");
		rc = SGT_OK;
		goto out;
	}
	if ((rc = sgt_sign_digest(priv, rec->label, EVP_sha256(), dgst, sizeof(dgst), &sig, &siglen)) != SGT_OK) {
		snprintf(why, cap, "signing on the restored token failed");
		goto out;
	}
	if (sgt_sign_verify_digest(pub, EVP_sha256(), dgst, sizeof(dgst), sig, siglen) != SGT_OK) {
		snprintf(why, cap, "the signature does not verify with the recorded public key");
		rc = SGT_ERR_VERDICT;
		goto out;
	}
	/* The current certificate is what devices hold: the signature must verify with it too. */
	if ((rc = sgt_cert_store_current(st, rec->label, &cert)) != SGT_OK) {
		snprintf(why, cap, "its current certificate cannot be read");
		goto out;
	}
	if (cert != NULL && sgt_sign_verify_digest(X509_get0_pubkey(cert), EVP_sha256(), dgst, sizeof(dgst), sig,
						    siglen) != SGT_OK) {
		snprintf(why, cap, "the signature does not verify with the key's current certificate");
		rc = SGT_ERR_VERDICT;
		goto out;
	}
	snprintf(why, cap, "signed and verified%s", cert ? " (recorded SPKI and current certificate)"
							   : " (recorded SPKI)");
	rc = SGT_OK;
out:
	X509_free(cert);
	free(sig);
	EVP_PKEY_free(priv);
	EVP_PKEY_free(pub);
	return rc;
}

/* The drill on a restored store at dir: fills report; SGT_ERR_VERDICT when anything failed. */
static int drill(const char *dir, json_t *report)
{
	struct sgt_store st = { NULL, { 0 }, -1, 0 };
	struct sgt_audit_result ares;
	struct sgt_keyrec *recs = NULL;
	struct sgt_token *tok = NULL;
	size_t n = 0, i, ok = 0;
	json_t *keys = json_array();
	int rc, embedded, tokrc = SGT_OK, failed = 0;

	if (keys == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	json_object_set_new(report, "keys", keys);
	if ((rc = sgt_store_open(&st, dir)) != SGT_OK || (rc = sgt_keyrec_list(&st, &recs, &n)) != SGT_OK)
		goto out;
	embedded = store_embedded(&st);
	json_object_set_new(report, "keys_included", json_boolean(embedded));
	if (embedded && n > 0) {
		struct sgt_pin_opts opts = SGT_PIN_OPTS_INIT;

		tokrc = sgt_token_open(&st, &opts, &tok);
	}
	for (i = 0; i < n; i++) {
		char why[200];
		const char *result;

		if (!embedded) {
			result = "not-included";
			snprintf(why, sizeof(why), "held by token '%s' of module '%s', not by the backup",
				 st.cfg.token, st.cfg.module);
		} else if (tokrc != SGT_OK) {
			result = "failed";
			snprintf(why, sizeof(why), "the restored token cannot be opened");
			failed = 1;
		} else if (drill_key(&st, tok, &recs[i], why, sizeof(why)) == SGT_OK) {
			result = "ok";
			ok++;
		} else {
			result = "failed";
			failed = 1;
		}
		json_array_append_new(keys, json_pack("{s:s, s:s, s:s, s:s}", "label", recs[i].label, "spki_sha256",
						      recs[i].spki_sha256, "result", result, "detail", why));
	}
	sgt_token_free(tok);
	tok = NULL;
	memset(&ares, 0, sizeof(ares));
	rc = sgt_audit_verify(&st, &ares);
	json_object_set_new(report, "audit", json_pack("{s:s, s:I, s:s}", "result", rc == SGT_OK ? "intact" : "broken",
						       "records", (json_int_t)ares.records, "detail",
						       rc == SGT_OK ? "" : ares.why));
	if (rc != SGT_OK && rc != SGT_ERR_VERDICT)
		goto out;
	if (rc != SGT_OK)
		failed = 1;
	json_object_set_new(report, "keys_ok", json_integer((json_int_t)ok));
	rc = failed ? SGT_ERR_VERDICT : SGT_OK;
out:
	sgt_token_free(tok);
	free(recs);
	sgt_store_release(&st);
	return rc;
}

static void drill_print(const char *file, json_t *report, int rc)
{
	json_t *keys = json_object_get(report, "keys"), *k, *a = json_object_get(report, "audit");
	size_t i;

	printf("backup drill of %s (from %s, made %s)\n", file,
	       json_string_value(json_object_get(report, "from_store")),
	       json_string_value(json_object_get(report, "backup_created")));
	if (json_array_size(keys) == 0)
		printf("  no keys in custody\n");
	json_array_foreach(keys, i, k)
		printf("  key %-16s %-12s %s\n", json_string_value(json_object_get(k, "label")),
		       json_string_value(json_object_get(k, "result")), json_string_value(json_object_get(k, "detail")));
	if (a != NULL)
		printf("  audit log        %-12s %lld records%s%s\n", json_string_value(json_object_get(a, "result")),
		       (long long)json_integer_value(json_object_get(a, "records")),
		       *json_string_value(json_object_get(a, "detail")) ? ": " : "",
		       json_string_value(json_object_get(a, "detail")));
	printf("%s\n", rc == SGT_OK ? "drill passed: the backup restores and every key signs"
				    : "drill FAILED: this backup would not bring every key back");
}

int cmd_restore(struct sgt_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "passphrase-file", required_argument, NULL, 'f' },
		{ "passphrase-fd", required_argument, NULL, 'd' },
		{ "recipient-key", required_argument, NULL, 'k' },
		{ "check", no_argument, NULL, 'c' },
		{ "db", required_argument, NULL, 'D' },
		{ "host", required_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct secret_opts so = { NULL, -1, NULL };
	struct opened o;
	const char *file, *target = ctx->store_opt, *dbinfo = NULL, *host = NULL;
	char final[PATH_MAX], drilldir[PATH_MAX] = "", absfile[PATH_MAX], hostbuf[256];
	json_t *report = NULL;
	long long done_seq = 0;
	int started = 0, c, rc, check = 0, drillfd = -1;

	memset(&o, 0, sizeof(o));
	while ((c = cmd_getopt("restore", argc, argv, "h", longopts, &started)) != -1) {
		switch (c) {
		case -2: return SGT_ERR_USAGE;
		case 's': target = optarg; break;
		case 'f': so.pass_file = optarg; break;
		case 'd':
			if ((rc = parse_fd("restore", optarg, &so.pass_fd)) != SGT_OK)
				return rc;
			break;
		case 'k': so.recipient = optarg; break;
		case 'c': check = 1; break;
		case 'D': dbinfo = optarg; break;
		case 'H': host = optarg; break;
		case 'h': return cmd_help(restore_help);
		}
	}
	if (optind >= argc)
		return cmd_usage("restore", "missing the archive FILE");
	if (optind + 1 < argc)
		return cmd_usage("restore", "unexpected argument '%s'", argv[optind + 1]);
	file = argv[optind];
	if (so.pass_file != NULL && so.pass_fd >= 0)
		return cmd_usage("restore", "give either --passphrase-file or --passphrase-fd");
	if (so.recipient == NULL && so.pass_file == NULL && so.pass_fd < 0)
		return cmd_usage("restore", "give --passphrase-file, --passphrase-fd or --recipient-key");
	if (check && target != NULL)
		return cmd_usage("restore", "--check restores into a temporary store; leave out --store");
	if (check && dbinfo != NULL)
		return cmd_usage("restore", "--check restores into a temporary directory; leave out --db");
	if (dbinfo == NULL && host != NULL)
		return cmd_usage("restore", "--host goes with --db");
	if (dbinfo != NULL && host == NULL) {
		if (gethostname(hostbuf, sizeof(hostbuf)) != 0)
			return sgt_err(SGT_ERR_DATA, "cannot read this host's name: %s", strerror(errno));
		hostbuf[sizeof(hostbuf) - 1] = '\0';
		host = hostbuf;
	}
	if (host != NULL && (host[0] == '\0' || strlen(host) > 64 ||
			     strspn(host, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-_") != strlen(host)))
		return cmd_usage("restore", "--host '%s' is not 1 to 64 of A-Z a-z 0-9 . - _", host);
	if (!check && (target == NULL || *target == '\0'))
		return cmd_usage("restore", "say where the store goes with --store DIR (or run a drill with --check)");
	if (!check && ((rc = cmd_path_absolute(target, final)) != SGT_OK || (rc = cmd_dir_free(final, target, "restore into")) != SGT_OK))
		return rc;
	/* Everything is authenticated and parsed before the first byte is written. */
	if ((rc = open_archive(file, &so, &o)) != SGT_OK)
		return rc;
	sgt_sig_hold();
	if (check) {
		const char *tmpdir = getenv("TMPDIR");

		stage_sweep(tmpdir && *tmpdir ? tmpdir : "/tmp", "signet-drill.", "", "backup drill");
		snprintf(drilldir, sizeof(drilldir), "%s/signet-drill.XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
		if ((rc = stage_make(drilldir, &drillfd, "a temporary store for the drill")) != SGT_OK) {
			drilldir[0] = '\0';
			goto out;
		}
		snprintf(final, sizeof(final), "%s/store", drilldir);
	}
	if (realpath(file, absfile) == NULL)
		snprintf(absfile, sizeof(absfile), "%s", file);
	if ((rc = restore_to(absfile, &o, final, check ? final : target, dbinfo, host, &done_seq)) != SGT_OK)
		goto out;
	report = json_pack("{s:s, s:s, s:s, s:s}", "archive", file, "archive_sha256", o.sha, "from_store",
			   manifest_str(&o, "store"), "backup_created", manifest_str(&o, "created"));
	if (report == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	if (check) {
		rc = drill(final, report);
		if (rc != SGT_OK && rc != SGT_ERR_VERDICT)
			goto out;
		json_object_set_new(report, "result", json_string(rc == SGT_OK ? "passed" : "failed"));
		if (!json_is_true(json_object_get(report, "keys_included")))
			sgt_warn("the keys are not in this backup: they stay in the HSM of module '%s'; the drill checked "
				 "records and the audit log only", json_string_value(json_object_get(o.list.manifest, "module"))
				 ? json_string_value(json_object_get(o.list.manifest, "module")) : "?");
		if (ctx->json)
			cmd_json_print(json_incref(report));
		else if (!sgt_quiet || rc != SGT_OK)
			drill_print(file, report, rc);
		goto out;
	}
	json_object_set_new(report, "store", json_string(final));
	if (db_archive(&o))
		json_object_set_new(report, "from_database", json_string(manifest_str(&o, "database")));
	if (dbinfo != NULL)
		json_object_set_new(report, "database", json_pack("{s:s, s:s, s:b}", "name", sgt_db_name(), "host", host,
								   "completed", done_seq > 0));
	if (ctx->json)
		rc = cmd_json_print(json_incref(report));
	else if (!sgt_quiet) {
		printf("restored store %s from %s (backup of %s made %s)\n", final, file, manifest_str(&o, "store"),
		       manifest_str(&o, "created"));
		if (dbinfo != NULL && done_seq > 0)
			printf("  completed: database %s had this restore already (record %lld, by host '%s'); %s is "
			       "that host's store directory\n", sgt_db_name(), done_seq, host, final);
		else if (dbinfo != NULL)
			printf("  into database %s, with %s as the store directory of host '%s'\n", sgt_db_name(), final,
			       host);
		else if (db_archive(&o))
			printf("  as a file store (the backup is of database %s)\n", manifest_str(&o, "database"));
		printf("next: signet --store %s audit verify; signet --store %s audit custody\n", target, target);
		if (dbinfo != NULL)
			printf("  other hosts: signet --store DIR init --db CONNINFO --join --module PATH --token LABEL "
			       "--host NAME\n");
	}
out:
	if (drilldir[0])
		cmd_rm_tree(drilldir);
	if (drillfd >= 0)
		close(drillfd);
	json_decref(report);
	opened_release(&o);
	release_signals();
	return rc;
}
