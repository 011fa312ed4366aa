/*
 * audit.c: the hash-chained audit log.  A record is one compact JSON line
 * whose "prev" field is the SHA-256 (hex) of the previous line's bytes, so
 * changing, removing or reordering any line breaks the chain at the next
 * one; audit.head holds the hash of the last line, so cutting records off
 * the end is caught too.  Appends are fsync'ed before the head moves.
 * With an audit key on the token, each head is also signed there and kept
 * on the token (anchor.c), so rewriting log and head together is caught by
 * the signature (without the token) and by the token's anchor (with it).
 * Reading and verifying stream the log line by line.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "audit.h"
#include "dbstore.h"
#include "pkey.h"

static const char zero_hash[] =
	"0000000000000000000000000000000000000000000000000000000000000000";

size_t sgt_audit_head_message(long long seq, const char *hash, char *out, size_t cap)
{
	int n = snprintf(out, cap, "signet audit head v1\nseq %lld\nhash %s\n", seq, hash);

	return n < 0 ? 0 : (size_t)n >= cap ? cap - 1 : (size_t)n;
}

static int is_hash(const char *s, size_t n)
{
	size_t i;

	if (n != 64)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* "signed SEQ HASH SIG" (the line, without "signed ") into a. */
int sgt_audit_anchor_parse(const char *s, size_t n, struct sgt_audit_anchor *a)
{
	char buf[800];
	char *p, *q;
	long long seq;

	memset(a, 0, sizeof(*a));
	if (n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	seq = strtoll(buf, &p, 10);
	if (p == buf || *p != ' ' || seq < 1)
		return -1;
	p++;
	if ((q = strchr(p, ' ')) == NULL || !is_hash(p, (size_t)(q - p)))
		return -1;
	memcpy(a->hash, p, 64);
	a->hash[64] = '\0';
	q++;
	if (*q == '\0' || strlen(q) >= sizeof(a->sig_b64) || strspn(q, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") != strlen(q))
		return -1;
	strcpy(a->sig_b64, q);
	a->seq = seq;
	a->present = 1;
	return 0;
}

int sgt_audit_head_load(const struct sgt_store *st, struct sgt_audit_head *h)
{
	char *path = sgt_store_path(st, "audit.head");
	unsigned char *buf = NULL;
	size_t len = 0, n;
	struct stat sb;
	const char *p, *nl;
	int rc = SGT_OK;

	memset(h, 0, sizeof(*h));
	if (path == NULL)
		return SGT_ERR_DATA;
	if (lstat(path, &sb) != 0 && errno == ENOENT)
		goto out;
	if ((rc = sgt_file_read(path, 4096, &buf, &len)) != SGT_OK)
		goto out;
	h->present = 1;
	p = (const char *)buf;
	nl = memchr(p, '\n', len);
	n = nl ? (size_t)(nl - p) : len;
	while (n > 0 && p[n - 1] == ' ')
		n--;
	if (is_hash(p, n)) {
		memcpy(h->hash, p, 64);
		h->hash[64] = '\0';
	} else {
		strcpy(h->hash, "?");	/* cannot match any record */
	}
	if (nl != NULL && (size_t)(nl + 1 - p) < len) {
		const char *l2 = nl + 1, *e = memchr(l2, '\n', len - (size_t)(l2 - p));
		size_t n2 = e ? (size_t)(e - l2) : len - (size_t)(l2 - p);

		if (n2 > 7 && strncmp(l2, "signed ", 7) == 0 && sgt_audit_anchor_parse(l2 + 7, n2 - 7, &h->signed_) != 0)
			strcpy(h->hash, "?");	/* a damaged signature line is a damaged head */
	}
out:
	free(buf);
	free(path);
	return rc;
}

/*
 * Replaces the head.  *moved says whether the new head is in place even
 * when rc is an error: an atomic write fails after its rename when the
 * directory cannot be synced (EIO, or EACCES opening it), and then the
 * head already names the new records, which must therefore stay.  The
 * directory is synced as for every store file (SPEC); were a power cut to
 * undo the rename anyway, the log (synced first) is ahead of its head and
 * the next append completes the move (tail_repair).
 */
/* The bytes of audit.head naming hash, with the signed head a. */
static int head_text(struct sgt_buf *b, const char *hash, const struct sgt_audit_anchor *a)
{
	int rc = sgt_buf_printf(b, "%s\n", hash);

	if (rc == SGT_OK && a != NULL && a->present)
		rc = sgt_buf_printf(b, "signed %lld %s %s\n", a->seq, a->hash, a->sig_b64);
	return rc;
}

static char head_moved_why[512];	/* why a head that moved reported an error */

static int head_save(const char *path, const char *hash, const struct sgt_audit_anchor *a, int *moved)
{
	struct sgt_buf b = { 0 };
	int rc = head_text(&b, hash, a);

	*moved = 0;
	if (rc == SGT_OK) {
		sgt_silent++;	/* said below: as an error if the head stayed, in the caller's warning if it moved */
		rc = sgt_atomic_write(path, b.p, b.len, 0);
		if (rc == SGT_OK)
			*moved = 1;
		else {
			char why[512];
			unsigned char *now = NULL;
			size_t nlen = 0;

			snprintf(why, sizeof(why), "%s", sgt_last_error());
			*moved = sgt_file_read(path, 4096, &now, &nlen) == SGT_OK && nlen == b.len && memcmp(now, b.p, nlen) == 0;
			free(now);
			sgt_silent--;
			if (*moved)
				snprintf(head_moved_why, sizeof(head_moved_why), "%s", why);
			else
				rc = sgt_err(rc, "%s", why);
			sgt_silent++;
		}
		sgt_silent--;
	}
	sgt_buf_free(&b);
	return rc;
}

int sgt_audit_pub_load(const struct sgt_store *st, EVP_PKEY **out)
{
	char *path = sgt_store_path(st, "audit.pub");
	FILE *f;
	int rc = SGT_OK;

	*out = NULL;
	if (path == NULL)
		return SGT_ERR_DATA;
	if ((f = fopen(path, "r")) == NULL) {
		if (errno != ENOENT)
			rc = sgt_err(SGT_ERR_DATA, "cannot read '%s': %s", path, strerror(errno));
		free(path);
		return rc;
	}
	/*
	 * The usual audit.pub, one P-256 (or P-384) key: read from its exact
	 * SPKI (sgt_pkey_spki_ec, which refuses a point off the curve as the
	 * decoders do) instead of through OpenSSL 3.0's decoder chain, read at
	 * every command that logs in.  Anything else: as OpenSSL reads it.
	 */
	{
		BIO *b = BIO_new_fp(f, BIO_NOCLOSE);
		char *name = NULL, *header = NULL;
		unsigned char *der = NULL;
		long len = 0;

		if (b != NULL && PEM_read_bio(b, &name, &header, &der, &len) == 1 && strcmp(name, "PUBLIC KEY") == 0 &&
		    header[0] == '\0' && len > 0)
			(void)sgt_pkey_spki_ec(der, (size_t)len, out);
		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_free(der);
		BIO_free(b);
		ERR_clear_error();
	}
	if (*out == NULL) {
		rewind(f);
		if ((*out = PEM_read_PUBKEY(f, NULL, NULL, NULL)) == NULL)
			rc = sgt_err(SGT_ERR_DATA, "'%s' is not a public key (PEM): %s", path, sgt_ossl_why());
	}
	fclose(f);
	free(path);
	return rc;
}

static int anchor_verify(EVP_PKEY *pub, const struct sgt_audit_anchor *a)
{
	char msg[256];
	size_t mlen = sgt_audit_head_message(a->seq, a->hash, msg, sizeof(msg));
	unsigned char *sig = NULL;
	size_t siglen = 0;
	EVP_MD_CTX *md = NULL;
	int ok = 0;

	if (sgt_unbase64(a->sig_b64, strlen(a->sig_b64), &sig, &siglen) != SGT_OK)
		return 0;
	if ((md = EVP_MD_CTX_new()) != NULL && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub) == 1 &&
	    EVP_DigestVerify(md, sig, siglen, (const unsigned char *)msg, mlen) == 1)
		ok = 1;
	EVP_MD_CTX_free(md);
	free(sig);
	return ok;
}

/*
 * The last line of data[0..end) of the log without reading all of it, so
 * that appending stays constant-time however long the log grows.  *line is
 * malloc'd (NULL for an empty log); *unterminated says the file does not
 * end in a newline (a partial last line, from an interrupted write).
 */
static int tail_line(FILE *f, off_t end, char **line, size_t *len, int *unterminated)
{
	size_t chunk = 65536;

	*line = NULL;
	*len = 0;
	*unterminated = 0;
	if (end <= 0)
		return SGT_OK;
	for (;;) {
		size_t n = (size_t)end < chunk ? (size_t)end : chunk;
		char *buf = malloc(n + 1), *e, *start;

		if (buf == NULL)
			return sgt_err(SGT_ERR_DATA, "out of memory");
		if (fseeko(f, end - (off_t)n, SEEK_SET) != 0 || fread(buf, 1, n, f) != n) {
			free(buf);
			return sgt_err(SGT_ERR_DATA, "cannot read the audit log: %s", strerror(errno));
		}
		e = buf + n;
		if (e[-1] == '\n')
			e--;
		else
			*unterminated = 1;
		for (start = e; start > buf && start[-1] != '\n'; start--)
			;
		if (start == buf && n < (size_t)end) {
			free(buf);	/* a line longer than the chunk: read more */
			chunk *= 4;
			*unterminated = 0;
			continue;
		}
		*len = (size_t)(e - start);
		memmove(buf, start, *len);
		buf[*len] = '\0';
		*line = buf;
		return SGT_OK;
	}
}

/* What the end of the log says: the last complete record and what follows it. */
struct tail {
	off_t size;		/* bytes in the log */
	off_t partial;		/* bytes of an unterminated last line (0 when none) */
	char *last;		/* last complete line, malloc'd, NULL when none */
	size_t lastlen;
	char hash[65];		/* its hash, or zeros */
	long long seq;		/* its seq (0 when none) */
	char prev[65];		/* its prev field */
};

static void tail_free(struct tail *t)
{
	free(t->last);
	memset(t, 0, sizeof(*t));
}

static int tail_load(const char *logpath, struct tail *t)
{
	FILE *f;
	struct stat sb;
	char *line = NULL;
	size_t len = 0;
	int unterminated = 0, rc = SGT_OK;

	memset(t, 0, sizeof(*t));
	strcpy(t->hash, zero_hash);
	if ((f = fopen(logpath, "rb")) == NULL)
		return errno == ENOENT ? SGT_OK : sgt_err(SGT_ERR_DATA, "cannot read '%s': %s", logpath, strerror(errno));
	if (fstat(fileno(f), &sb) != 0) {
		fclose(f);
		return sgt_err(SGT_ERR_DATA, "cannot read '%s': %s", logpath, strerror(errno));
	}
	t->size = sb.st_size;
	if ((rc = tail_line(f, t->size, &line, &len, &unterminated)) != SGT_OK)
		goto out;
	if (unterminated) {
		t->partial = (off_t)len;
		free(line);
		line = NULL;
		if ((rc = tail_line(f, t->size - t->partial, &line, &len, &unterminated)) != SGT_OK)
			goto out;
	}
	if (line != NULL) {
		json_error_t jerr;
		json_t *rec = json_loadb(line, len, 0, &jerr);
		const char *prev = json_string_value(json_object_get(rec, "prev"));

		t->seq = json_integer_value(json_object_get(rec, "seq"));
		snprintf(t->prev, sizeof(t->prev), "%s", prev ? prev : "");
		json_decref(rec);
		sgt_sha256_hex(line, len, t->hash);
		t->last = line;
		t->lastlen = len;
		line = NULL;
	}
out:
	free(line);
	fclose(f);
	return rc;
}

static json_t *rec_list(const char *op, const char *label, const char *spki, const char *result, json_t *details);
static int append_recs(const char *logpath, const char *headpath, const struct tail *t,
		       const struct sgt_audit_head *head, json_t *recs, const struct sgt_audit_signer *signer);

/*
 * An append that an earlier command left half done: a partial last line
 * (killed inside write) is cut, a complete last record whose head never
 * moved gets its head.  Anything else that does not fit is refused.
 */
static int head_earlier(const char *logpath, const char *head, off_t end);

static int tail_repair(const struct sgt_store *st, const char *logpath, const char *headpath, struct tail *t,
		       struct sgt_audit_head *head, const struct sgt_audit_signer *signer)
{
	const char *h = head->present ? head->hash : (t->seq == 1 ? zero_hash : NULL);
	int cut = 0, moved = 0, rc;

	if (t->last == NULL && t->partial == 0 && !head->present)
		return SGT_OK;	/* a new log */
	if (h != NULL && strcmp(h, t->hash) == 0)
		;	/* the head names the last record */
	else if (h != NULL && t->last != NULL && t->seq >= 1 && strcmp(h, t->prev) == 0)
		moved = 1;	/* record written, head not moved */
	else if (h != NULL && t->last != NULL && head_earlier(logpath, h, t->size - t->partial))
		moved = 1;	/* a batch of records written, head not moved */
	else {
		rc = sgt_err(SGT_ERR_DATA, "audit log '%s' does not end where '%s' says; refusing to add to it", logpath, headpath);
		sgt_hint("run 'signet audit verify' to see what changed");
		return rc;
	}
	if (t->partial > 0) {
		if (truncate(logpath, t->size - t->partial) != 0)
			return sgt_err(SGT_ERR_DATA, "cannot cut the partial record off '%s': %s", logpath, strerror(errno));
		cut = 1;
		fprintf(stderr, "signet: recovered: the last audit append was interrupted mid-record; cut the partial line off '%s'\n", logpath);
	}
	if (moved) {
		int in_place;

		if ((rc = head_save(headpath, t->hash, &head->signed_, &in_place)) != SGT_OK && !in_place)
			return rc;
		fprintf(stderr, "signet: recovered: the last audit append was interrupted before '%s' moved; completed it\n", headpath);
		snprintf(head->hash, sizeof(head->hash), "%s", t->hash);
		head->present = 1;
	}
	if (cut || moved) {
		json_t *d = json_pack("{s:s}", "repair", moved ? "audit head moved to the last complete record"
							   : "partial audit record cut off");
		json_t *recs = rec_list("recovered", NULL, NULL, "ok", d);
		struct tail t2;

		json_decref(d);
		if (recs == NULL)
			return SGT_ERR_DATA;
		if ((rc = tail_load(logpath, &t2)) == SGT_OK)
			rc = append_recs(logpath, headpath, &t2, head, recs, signer);
		json_decref(recs);
		tail_free(&t2);
		if (rc != SGT_OK)
			return rc;
		tail_free(t);
		if ((rc = tail_load(logpath, t)) != SGT_OK || (rc = sgt_audit_head_load(st, head)) != SGT_OK)
			return rc;
	}
	return SGT_OK;
}

/* One record as the caller describes it: op, label, spki_sha256, result, details (borrowed), and an "intent" of its own. */
static json_t *rec_new(const char *op, const char *label, const char *spki, const char *result, json_t *details)
{
	return json_pack("{s:s, s:s?, s:s?, s:s, s:O?}", "op", op, "label", label, "spki_sha256", spki, "result",
			 result ? result : "ok", "details", details);
}

/* Signs the head seq/hash on the token into *a; a failure leaves *a at the older signed head. */
static void head_sign(const struct sgt_audit_signer *signer, long long seq, const char *hash, struct sgt_audit_anchor *a)
{
	char msg[256];
	size_t mlen = sgt_audit_head_message(seq, hash, msg, sizeof(msg));
	unsigned char *sig = NULL;
	size_t siglen = 0;
	char *b64;
	int signed_ok;

	/* A token that went away mid-command says so in the command's own error; verify reports the unsigned record. */
	sgt_silent++;
	signed_ok = signer->sign(signer->ctx, (const unsigned char *)msg, mlen, &sig, &siglen) == SGT_OK;
	sgt_silent--;
	if (signed_ok && (b64 = sgt_base64(sig, siglen)) != NULL) {
		if (strlen(b64) < sizeof(a->sig_b64)) {
			a->present = 1;
			a->seq = seq;
			strcpy(a->hash, hash);
			strcpy(a->sig_b64, b64);
		}
		free(b64);
	} else {
		sgt_verbose("the audit head could not be signed on the token (%s); it stays signed at record %lld",
			    sgt_last_error(), a->seq);
	}
	free(sig);
}

/*
 * Writes recs (a JSON array of rec_new objects) after the record t ends
 * with: chained lines in ONE write and ONE fsync, then the head moved once
 * and signed once.  The whole batch is undone if any step fails.
 */
static int append_recs(const char *logpath, const char *headpath, const struct tail *t,
		       const struct sgt_audit_head *head, json_t *recs, const struct sgt_audit_signer *signer)
{
	struct sgt_audit_anchor a = head->signed_;
	struct sgt_buf out = { 0 };
	char now[32], real[32], prev[65], hash[65];
	long long seq = t->seq;
	off_t oldsize;
	size_t i;
	json_t *r;
	int fd = -1, rc = SGT_OK, moved = 0;
	const char *host = sgt_db_host();	/* dbstore: a database-backed store's records name their host */
	int on_db = host != NULL;

	strcpy(prev, t->hash);
	sgt_time_iso(sgt_now(), now);
	sgt_time_iso(time(NULL), real);
	json_array_foreach(recs, i, r) {
		json_t *rec = json_pack("{s:I, s:s, s:O, s:O?, s:O?, s:O, s:O?, s:s}", "seq", (json_int_t)++seq, "time", now,
					"op", json_object_get(r, "op"), "label", json_object_get(r, "label"),
					"spki_sha256", json_object_get(r, "spki_sha256"), "result", json_object_get(r, "result"),
					"details", json_object_get(r, "details"), "prev", prev);
		char *line;

		/* The SIGNET_NOW test clock must never pass for the real one in the record. */
		if (rec != NULL && sgt_now() != time(NULL) && getenv("SIGNET_NOW") != NULL)
			json_object_set_new(rec, "real_time", json_string(real));
		if (rec != NULL && json_object_get(r, "intent") != NULL)
			json_object_set(rec, "intent", json_object_get(r, "intent"));
		if (rec != NULL && on_db)
			json_object_set_new(rec, "host", json_string(host));
		line = rec ? json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
		json_decref(rec);
		if (line == NULL) {
			free(line);
			rc = sgt_err(SGT_ERR_DATA, "cannot encode the audit record");
			goto out;
		}
		sgt_sha256_hex(line, strlen(line), prev);
		rc = sgt_buf_printf(&out, "%s\n", line);
		free(line);
		if (rc != SGT_OK)
			goto out;
	}
	strcpy(hash, prev);
	if (on_db) {
		/* dbstore: the commit point is the database's transaction; this host's copy follows it */
		struct sgt_buf hb = { 0 };

		if (signer != NULL)
			head_sign(signer, seq, hash, &a);
		rc = head_text(&hb, hash, &a);
		rc = rc ? rc : sgt_db_commit(out.p, out.len, t->seq + 1, hb.p, hb.len, recs);
		sgt_buf_free(&hb);
		if (rc != SGT_OK)
			goto out;
	}
	fd = open(logpath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		rc = sgt_err(SGT_ERR_DATA, "cannot open audit log '%s': %s", logpath, strerror(errno));
		if (on_db)
			goto local_behind;
		goto out;
	}
	oldsize = lseek(fd, 0, SEEK_END);
	if (write(fd, out.p, out.len) != (ssize_t)out.len || fsync(fd) != 0) {
		rc = sgt_err(SGT_ERR_DATA, "cannot write audit log '%s': %s", logpath, strerror(errno));
		if (ftruncate(fd, oldsize) != 0)
			sgt_warn("could not undo a partial write to '%s'", logpath);
		if (on_db)
			goto local_behind;
		goto out;
	}
	if (signer != NULL && !on_db)
		head_sign(signer, seq, hash, &a);
	if ((rc = head_save(headpath, hash, &a, &moved)) != SGT_OK) {
		if (moved) {
			/*
			 * The head names the new records: they stay, and the command
			 * goes on.  The records are durable (fsync'ed above); if a power
			 * loss undoes the head's rename, the next command finds the log
			 * ahead of its head and completes the move (tail_repair).
			 */
			sgt_warn("%s; the audit record is written and '%s' names it, but a power loss may undo the "
				 "head's move (the next command completes it)", head_moved_why, headpath);
			rc = SGT_OK;
		} else if (on_db) {
			goto local_behind;
		} else {
			/* Keep log and head consistent: the records did not happen. */
			if (ftruncate(fd, oldsize) != 0 || fsync(fd) != 0)
				sgt_warn("could not remove the unconfirmed records from '%s'", logpath);
			goto out;
		}
	}
	if (0) {
local_behind:
		/* dbstore: committed in the database; only this host's copy lags, and the next command's sync fills it */
		sgt_warn("the records are committed in database %s; this host's copy of the audit log catches up with "
			 "the next command", sgt_db_name());
		rc = SGT_OK;
	}
	if (signer != NULL && a.present && a.seq == seq && signer->anchor != NULL) {
		int kept;

		sgt_silent++;
		kept = signer->anchor(signer->ctx, a.seq, a.hash, a.sig_b64) == SGT_OK;
		sgt_silent--;
		/* The file carries the signature; the token's anchor stays at an older record, which verify accepts. */
		if (!kept)
			sgt_verbose("the signed audit head could not be kept on the token (%s)", sgt_last_error());
	}
out:
	if (fd >= 0)
		close(fd);
	sgt_buf_free(&out);
	if (on_db)
		sgt_db_done();	/* dbstore: copy written and head kept on the token: the next host's writer may go */
	return rc;
}

/* [one record], or NULL (reported) when out of memory. */
static json_t *rec_list(const char *op, const char *label, const char *spki, const char *result, json_t *details)
{
	json_t *recs = json_array(), *r = rec_new(op, label, spki, result, details);

	if (recs == NULL || r == NULL || json_array_append(recs, r) != 0) {
		json_decref(recs);
		recs = NULL;
		sgt_err(SGT_ERR_DATA, "out of memory");
	}
	json_decref(r);
	return recs;
}

/* Opens the tail, completes an interrupted append, refuses a broken or vanished chain. */
static int append_prepare(const struct sgt_store *st, const char *logpath, const char *headpath, struct tail *t,
			  struct sgt_audit_head *head, const struct sgt_audit_signer *signer)
{
	struct stat sb;
	int rc;

	if ((rc = tail_load(logpath, t)) != SGT_OK || (rc = sgt_audit_head_load(st, head)) != SGT_OK ||
	    (rc = tail_repair(st, logpath, headpath, t, head, signer)) != SGT_OK)
		return rc;
	/* A store with an audit key never starts its chain again. */
	if (t->last == NULL && !head->present) {
		char *pubpath = sgt_store_path(st, "audit.pub");

		if (pubpath != NULL && lstat(pubpath, &sb) == 0) {
			rc = sgt_err(SGT_ERR_DATA, "audit log '%s' is gone but '%s' shows the store had one; refusing to start a new chain",
				     logpath, pubpath);
			sgt_hint("restore audit.log and audit.head from a backup ('signet restore')");
		}
		free(pubpath);
	}
	return rc;
}

int sgt_audit_write(const struct sgt_store *st, json_t *recs, const struct sgt_audit_signer *signer)
{
	char *logpath, *headpath;
	struct sgt_audit_head head;
	struct tail t;
	int rc;

	if (json_array_size(recs) == 0)
		return SGT_OK;
	logpath = sgt_store_path(st, "audit.log");
	headpath = sgt_store_path(st, "audit.head");
	memset(&t, 0, sizeof(t));
	if (logpath == NULL || headpath == NULL)
		rc = SGT_ERR_DATA;
	else if ((rc = sgt_db_ready(st)) != SGT_OK)	/* dbstore: head row locked, copy current */
		;
	else if ((rc = append_prepare(st, logpath, headpath, &t, &head, signer)) == SGT_OK)
		rc = append_recs(logpath, headpath, &t, &head, recs, signer);
	tail_free(&t);
	free(logpath);
	free(headpath);
	return rc;
}

json_t *sgt_audit_rec(const char *op, const char *label, const char *spki_sha256, const char *result, json_t *details,
		      json_t *intent)
{
	json_t *r = rec_new(op, label, spki_sha256, result, details);

	if (r != NULL && intent != NULL)
		json_object_set(r, "intent", intent);
	return r;
}

static int bad(struct sgt_audit_result *res, size_t line, const char *why)
{
	res->bad = line;
	snprintf(res->why, sizeof(res->why), "%s", why);
	return SGT_ERR_VERDICT;
}

/* Streams the log: one line at a time, its hash chained to the one before. */
struct reader {
	FILE *f;
	char *line;
	size_t cap;
	size_t len;
	size_t n;		/* lines read */
	int unterminated;
};

static int reader_open(const char *path, struct reader *r)
{
	memset(r, 0, sizeof(*r));
	if ((r->f = fopen(path, "rb")) == NULL && errno != ENOENT)
		return sgt_err(SGT_ERR_DATA, "cannot read '%s': %s", path, strerror(errno));
	return SGT_OK;
}

/* 1: a line in r->line (without its newline), 0: the end, -1: read error. */
static int reader_next(struct reader *r)
{
	ssize_t n;

	if (r->f == NULL)
		return 0;
	n = getline(&r->line, &r->cap, r->f);
	if (n < 0)
		return ferror(r->f) ? -1 : 0;
	r->n++;
	if (n > 0 && r->line[n - 1] == '\n')
		r->line[--n] = '\0';
	else
		r->unterminated = 1;
	r->len = (size_t)n;
	return 1;
}

static void reader_close(struct reader *r)
{
	if (r->f != NULL)
		fclose(r->f);
	free(r->line);
	memset(r, 0, sizeof(*r));
}

/*
 * 1 when the head names a record before the last one of the first end
 * bytes of the log, and every record from the first to the last chains:
 * a batch append whose head never moved.  Streams the log (rare: recovery).
 */
static int head_earlier(const char *logpath, const char *head, off_t end)
{
	struct reader r;
	char expect[65];
	off_t pos = 0;
	int got, found = 0;

	if (reader_open(logpath, &r) != SGT_OK || r.f == NULL) {
		reader_close(&r);
		return 0;
	}
	strcpy(expect, zero_hash);
	while ((got = reader_next(&r)) == 1 && !r.unterminated && pos + (off_t)r.len + 1 <= end) {
		json_error_t jerr;
		json_t *rec = json_loadb(r.line, r.len, 0, &jerr);
		const char *prev = json_string_value(json_object_get(rec, "prev"));
		int chained = prev != NULL && strcmp(prev, expect) == 0 &&
			      json_integer_value(json_object_get(rec, "seq")) == (json_int_t)r.n;

		json_decref(rec);
		if (!chained) {
			found = 0;
			break;
		}
		pos += (off_t)r.len + 1;
		sgt_sha256_hex(r.line, r.len, expect);
		if (pos < end && strcmp(expect, head) == 0)
			found = 1;
	}
	reader_close(&r);
	return found && pos == end;
}

/*
 * seq and prev of a record as signet writes it ({"seq":N,... ,"prev":"<hex>"...}),
 * without parsing the JSON: verify then runs at the speed of hashing.
 * An unescaped ,"prev":" can only be a key (inside strings quotes are
 * escaped); 0 when it is not there exactly once, and the caller parses.
 * Whatever the line says, its bytes are what the chain hashes.
 */
static int fast_fields(const char *line, size_t len, json_int_t *seq, char prev[65])
{
	static const char key[] = ",\"prev\":\"";
	const char *p, *q, *end = line + len;
	json_int_t v = 0;
	size_t k = sizeof(key) - 1;

	if (len < 8 || memcmp(line, "{\"seq\":", 7) != 0)
		return 0;
	for (p = line + 7; p < end && *p >= '0' && *p <= '9' && v < ((json_int_t)1 << 50); p++)
		v = v * 10 + (*p - '0');
	if (p == line + 7 || p >= end || *p != ',')
		return 0;
	if ((q = memmem(line, len, key, k)) == NULL || memmem(q + 1, (size_t)(end - q - 1), key, k) != NULL)
		return 0;
	q += k;
	if (end - q < 65 || !is_hash(q, 64) || q[64] != '"')
		return 0;
	memcpy(prev, q, 64);
	prev[64] = '\0';
	*seq = v;
	return 1;
}

/*
 * The time a record was written: "real_time" when the record has one (a
 * record made under the SIGNET_NOW test clock), else "time".  signet
 * writes "time" second, after "seq", so its first unescaped occurrence is
 * the record's own.  -1 when neither reads.
 */
static time_t record_time(const char *line, size_t len)
{
	static const char rt[] = "\"real_time\":\"", t[] = "\"time\":\"";
	const char *p = memmem(line, len, rt, sizeof(rt) - 1);
	size_t klen = sizeof(rt) - 1;
	char buf[40];
	const char *end;
	time_t when;

	if (p == NULL) {
		p = memmem(line, len, t, sizeof(t) - 1);
		klen = sizeof(t) - 1;
	}
	if (p == NULL)
		return -1;
	p += klen;
	end = memchr(p, '"', len - (size_t)(p - line));
	if (end == NULL || (size_t)(end - p) >= sizeof(buf))
		return -1;
	memcpy(buf, p, (size_t)(end - p));
	buf[end - p] = '\0';
	return sgt_time_parse(buf, &when) == 0 ? when : -1;
}

int sgt_audit_verify_ex(const struct sgt_store *st, EVP_PKEY *pub, const struct sgt_audit_check *checks,
			size_t nchecks, struct sgt_audit_result *res)
{
	time_t last_time = -1;
	char *logpath = sgt_store_path(st, "audit.log");
	char expect[65], before[65], why[320], fastprev[65];
	struct sgt_audit_head head;
	struct reader r;
	int *matched = NULL, head_sig_ok = 0, rc, got;
	size_t head_at = (size_t)-1;
	size_t i;

	memset(res, 0, sizeof(*res));
	memset(&r, 0, sizeof(r));
	if (logpath == NULL || (nchecks > 0 && (matched = calloc(nchecks, sizeof(*matched))) == NULL)) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	if ((rc = reader_open(logpath, &r)) != SGT_OK || (rc = sgt_audit_head_load(st, &head)) != SGT_OK)
		goto out;
	if (pub != NULL && head.signed_.present)
		head_sig_ok = anchor_verify(pub, &head.signed_);
	strcpy(expect, zero_hash);
	strcpy(before, zero_hash);
	while ((got = reader_next(&r)) == 1) {
		json_error_t jerr;
		json_t *rec;
		const char *prev;
		json_int_t seq;

		if (r.unterminated)
			break;	/* judged below */
		rec = NULL;
		if (fast_fields(r.line, r.len, &seq, fastprev)) {
			prev = fastprev;
		} else {
			rec = json_loadb(r.line, r.len, 0, &jerr);
			prev = json_string_value(json_object_get(rec, "prev"));
			seq = json_integer_value(json_object_get(rec, "seq"));
		}
		if (prev == NULL) {
			json_decref(rec);
			rc = bad(res, r.n, "not a well-formed audit record (edited or damaged)");
			goto out;
		}
		if (strcmp(prev, expect) != 0) {
			json_decref(rec);
			rc = bad(res, r.n, r.n == 1
				 ? "the first record does not start the chain: records before it were removed"
				 : "its prev hash does not match the record before it: that record was modified, or records were removed or reordered");
			goto out;
		}
		json_decref(rec);
		if (seq != (json_int_t)r.n) {
			snprintf(why, sizeof(why), "it is numbered %lld but is record %zu: records were removed or reordered",
				 (long long)seq, r.n);
			rc = bad(res, r.n, why);
			goto out;
		}
		{
			time_t when = record_time(r.line, r.len);

			if (when >= 0 && last_time >= 0 && last_time - when > SGT_AUDIT_CLOCK_SLACK) {
				if (res->time_backs++ == 0)
					res->time_back_first = r.n;
				if ((long long)(last_time - when) > res->time_back_max)
					res->time_back_max = (long long)(last_time - when);
			}
			if (when >= 0)
				last_time = when;
		}
		strcpy(before, expect);
		if (head.present && r.n > 1 && strcmp(head.hash, expect) == 0)
			head_at = r.n - 1;	/* the head names the record before this one */
		sgt_sha256_hex(r.line, r.len, expect);
		if (head_sig_ok && (long long)r.n == head.signed_.seq && strcmp(expect, head.signed_.hash) != 0) {
			rc = bad(res, r.n, "it is not the record the signed audit head names: the log was rewritten");
			goto out;
		}
		for (i = 0; i < nchecks; i++) {
			if ((long long)r.n != checks[i].a->seq)
				continue;
			if (strcmp(expect, checks[i].a->hash) != 0) {
				snprintf(why, sizeof(why), "it is not the record %s names: the log was rewritten", checks[i].what);
				rc = bad(res, r.n, why);
				goto out;
			}
			matched[i] = 1;
		}
	}
	if (got < 0) {
		rc = sgt_err(SGT_ERR_DATA, "cannot read '%s': %s", logpath, strerror(errno));
		goto out;
	}
	res->records = r.n;
	if (r.unterminated) {
		rc = bad(res, r.n, "the last record is incomplete (an interrupted write or a truncated file)");
		goto out;
	}
	if (!head.present && r.n > 0) {
		rc = bad(res, r.n, "audit.head is missing, so the end of the log cannot be confirmed");
		goto out;
	}
	if (head.present && strcmp(head.hash, expect) != 0) {
		if (r.n > 0 && (strcmp(head.hash, before) == 0 || head_at != (size_t)-1)) {
			/* Complete records past the head, chained to it: an append cut short before the head moved. */
			res->interrupted = 1;
		} else {
			rc = bad(res, r.n ? r.n : 1, r.n == 0
				 ? "audit.head names a record but the log is empty: the log was truncated"
				 : "audit.head does not match the last record: the last record was modified or records were cut off the end");
			goto out;
		}
	}
	for (i = 0; i < nchecks; i++) {
		if (!matched[i]) {
			snprintf(why, sizeof(why), "%s names record %lld, but the log has only %zu: records were removed",
				 checks[i].what, checks[i].a->seq, r.n);
			rc = bad(res, r.n ? r.n : 1, why);
			goto out;
		}
	}
	if (pub != NULL) {
		if (!head.signed_.present) {
			rc = bad(res, r.n ? r.n : 1, "audit.head carries no signature although the store has an audit key: log and head were replaced");
			goto out;
		}
		if (!head_sig_ok) {
			rc = bad(res, r.n ? r.n : 1, "the signature on audit.head does not verify with the audit key: log and head were rewritten");
			goto out;
		}
		if (head.signed_.seq > (long long)r.n) {
			snprintf(why, sizeof(why), "the signed audit head names record %lld, but the log has only %zu: records were removed",
				 head.signed_.seq, r.n);
			rc = bad(res, r.n ? r.n : 1, why);
			goto out;
		}
		res->signed_seq = head.signed_.seq;
		res->unsigned_tail = r.n - (size_t)head.signed_.seq;
	}
	rc = SGT_OK;
out:
	reader_close(&r);
	free(matched);
	free(logpath);
	return rc;
}

int sgt_audit_verify(const struct sgt_store *st, struct sgt_audit_result *res)
{
	return sgt_audit_verify_ex(st, NULL, NULL, 0, res);
}

int sgt_audit_foreach(const struct sgt_store *st, time_t since, int (*fn)(void *ctx, json_t *rec), void *ctx)
{
	char *logpath = sgt_store_path(st, "audit.log");
	struct reader r;
	int rc, got;

	if (logpath == NULL)
		return SGT_ERR_DATA;
	if ((rc = reader_open(logpath, &r)) != SGT_OK) {
		free(logpath);
		return rc;
	}
	while (rc == SGT_OK && (got = reader_next(&r)) == 1) {
		json_error_t jerr;
		json_t *rec = json_loadb(r.line, r.len, 0, &jerr);
		const char *ts = json_string_value(json_object_get(rec, "time"));
		time_t t;

		if (rec == NULL || ts == NULL || sgt_time_parse(ts, &t) != 0) {
			json_decref(rec);
			if (r.unterminated)
				break;	/* a partial last line is not a record; verify says so */
			rc = sgt_err(SGT_ERR_DATA, "%s:%zu: not an audit record", logpath, r.n);
			sgt_hint("run 'signet audit verify'");
			break;
		}
		if (t >= since)
			rc = fn(ctx, rec);
		json_decref(rec);
	}
	reader_close(&r);
	free(logpath);
	return rc;
}

static int collect(void *ctx, json_t *rec)
{
	return json_array_append(ctx, rec) == 0 ? SGT_OK : sgt_err(SGT_ERR_DATA, "out of memory");
}

int sgt_audit_read(const struct sgt_store *st, time_t since, json_t **out)
{
	json_t *arr = json_array();
	int rc;

	*out = NULL;
	if (arr == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	if ((rc = sgt_audit_foreach(st, since, collect, arr)) != SGT_OK) {
		json_decref(arr);
		return rc;
	}
	*out = arr;
	return SGT_OK;
}

int sgt_audit_last_seq(const struct sgt_store *st, long long *seq)
{
	char *logpath = sgt_store_path(st, "audit.log");
	struct tail t;
	int rc;

	*seq = 0;
	if (logpath == NULL)
		return SGT_ERR_DATA;
	rc = tail_load(logpath, &t);
	*seq = t.seq;
	tail_free(&t);
	free(logpath);
	return rc;
}
