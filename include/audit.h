/*
 * audit.h: the tamper-evident log.  Each state-changing operation (and
 * each refused attempt) appends one JSON line to <store>/audit.log carrying
 * the SHA-256 of the previous line; <store>/audit.head holds the hash of the
 * last line and, when a token session is open, a signature over the head
 * (count and hash) made by the store's audit key on the token, which is
 * also kept on the token as a data object (anchor.h).  Verification
 * streams the log, recomputes the chain and names the first record that
 * does not fit.  Appending fails closed: if the record cannot be written,
 * the operation must be undone by the caller.
 *
 * audit.head:  line 1  "<hash of the last record>"
 *              line 2  "signed <seq> <hash> <base64 DER ECDSA signature>"  (optional)
 * The signed message is sgt_audit_head_message(seq, hash).
 */
#ifndef SGT_AUDIT_H
#define SGT_AUDIT_H

#include <stddef.h>

#include <jansson.h>

#include "store.h"

struct sgt_audit_signer;
/*
 * Appends recs, a JSON array of sgt_audit_rec objects, as consecutive
 * records {seq, time, op, label, spki_sha256, result, details, prev, and
 * the "intent" a rec carries} in one write with one fsync; the head moves
 * once, signed with signer when it is not NULL.  All or none.  Caller
 * holds the store's exclusive lock (and holds signals:
 * tx.c does both).  An append that an earlier command left half done
 * (the record written, the head not moved; or a partial last line) is
 * completed or cut first, with a "recovered" record and one line on
 * stderr.  It knows nothing of intents or of the token: what the records
 * name is the caller's to make durable first.
 */
int sgt_audit_write(const struct sgt_store *st, json_t *recs, const struct sgt_audit_signer *signer);
/* One record of a batch; details and intent (from sgt_intent_claim, may be NULL) are borrowed. */
json_t *sgt_audit_rec(const char *op, const char *label, const char *spki_sha256, const char *result, json_t *details,
		      json_t *intent);

/*
 * Signs audit heads, while a token session is logged in (anchor.c hands
 * one out).  sign returns a malloc'd DER signature of msg; anchor keeps
 * the signed head on the token.
 */
struct sgt_audit_signer {
	int (*sign)(void *ctx, const unsigned char *msg, size_t len, unsigned char **sig, size_t *siglen);
	int (*anchor)(void *ctx, long long seq, const char *hash, const char *sig_b64);
	void *ctx;
};

/* "signet audit head v1\nseq <seq>\nhash <hash>\n" into out; returns its length. */
size_t sgt_audit_head_message(long long seq, const char *hash, char *out, size_t cap);

/* A signed head: from audit.head, from the token, or from a copy (`audit head`). */
struct sgt_audit_anchor {
	int present;
	long long seq;
	char hash[65];
	char sig_b64[700];	/* up to an RSA-4096 signature (684 characters) */
};

struct sgt_audit_head {
	int present;
	char hash[65];
	struct sgt_audit_anchor signed_;
};

int sgt_audit_head_load(const struct sgt_store *st, struct sgt_audit_head *h);
/* "SEQ HASH BASE64SIG" (a head line without its "signed " prefix); 0 or -1. */
int sgt_audit_anchor_parse(const char *s, size_t n, struct sgt_audit_anchor *a);

struct sgt_audit_result {
	size_t records;		/* lines read */
	size_t bad;		/* 1-based line of the first bad record, 0 when intact */
	char why[320];		/* what is wrong with it */
	int interrupted;	/* one complete record past the head: an append that was cut short */
	long long signed_seq;	/* the newest record covered by a verified signature, 0 when none */
	size_t unsigned_tail;	/* records after it (refused attempts made without a session) */
	/*
	 * Record times that go back (a host clock stepped back, or a record
	 * written on another host with a wrong clock): the chain is intact,
	 * but the dates of what it says happened are not in order.  A step
	 * back of more than SGT_AUDIT_CLOCK_SLACK seconds counts.
	 */
	size_t time_backs;	/* how many records are earlier than the one before */
	size_t time_back_first;	/* 1-based line of the first, 0 when none */
	long long time_back_max;	/* the largest step back, in seconds */
};
#define SGT_AUDIT_CLOCK_SLACK 60

/*
 * Recomputes the chain, streaming.  pub (may be NULL) is the audit public
 * key: with it the head's signature must verify and cover a record of the
 * log.  checks (n of them, may be 0) are further signed heads (the token's
 * anchor, a copy given to `audit verify --head`) that the log must
 * contain; what names each is used in the reason.  SGT_OK when intact,
 * SGT_ERR_VERDICT when not.
 */
struct sgt_audit_check {
	const struct sgt_audit_anchor *a;
	const char *what;	/* "the token's anchor", "the head copy 'F'" */
};
struct evp_pkey_st;
int sgt_audit_verify_ex(const struct sgt_store *st, struct evp_pkey_st *pub, const struct sgt_audit_check *checks,
			size_t n, struct sgt_audit_result *res);
/* The chain and the head alone (no key, no anchors). */
int sgt_audit_verify(const struct sgt_store *st, struct sgt_audit_result *res);

/*
 * Calls fn for every record (parsed) whose time is at or after since (0 =
 * all), reading the log line by line: memory does not grow with the log.
 * fn returns SGT_OK to go on.  The record is borrowed.
 */
int sgt_audit_foreach(const struct sgt_store *st, time_t since, int (*fn)(void *ctx, json_t *rec), void *ctx);
/* All records (parsed) since `since` (0 = all), as a new JSON array. */
int sgt_audit_read(const struct sgt_store *st, time_t since, json_t **out);

/* seq of the last record (0 for an empty log), read from the log's tail. */
int sgt_audit_last_seq(const struct sgt_store *st, long long *seq);

/* The audit public key kept in <store>/audit.pub, or NULL (quietly) when there is none. */
int sgt_audit_pub_load(const struct sgt_store *st, struct evp_pkey_st **out);

#endif
