/*
 * fleet.h: which devices depend on which key, and by when something must
 * be done so that every device in the field stays updatable (SPEC.md
 * section 5, fleet).  The model is an inventory of fleets, each with
 * builds (what a firmware version bakes in, read from its own artefact by
 * the extract reader) and a population (counts, or a streamed device
 * source).  Judging needs only the inventory and a custody list (keys in
 * custody with their usable signer certificate and renewal window), so it
 * is pure and testable; reading the store for custody is a separate call.
 * Nothing here prints to stdout.
 *
 * Ownership: an inventory owns its fleets, builds, keys and strings; a
 * report borrows the inventory and custody list it was judged from and
 * owns only its rows.
 */
#ifndef SGT_FLEET_H
#define SGT_FLEET_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "sgt.h"
#include "store.h"

#define SGT_FLEET_ROLLOUT_DAYS 30
#define SGT_FLEET_MARGIN_DAYS 30
#define SGT_FLEET_STALE_DAYS 90
#define SGT_FLEET_WARN_DAYS 30
#define SGT_FLEET_CRITICAL_DAYS 14
/* Distinct unknown build names kept by name; beyond that they are summed as "other". */
#define SGT_FLEET_MAX_UNKNOWN 256

enum sgt_fleet_format {
	SGT_FLEET_SRC_NONE,
	SGT_FLEET_SRC_CSV,
	SGT_FLEET_SRC_JSONL,
	SGT_FLEET_SRC_AWS,	/* aws iot search-index output, one or many pages */
	SGT_FLEET_SRC_PG	/* PostgreSQL: a query returning (build, devices[, last_seen]) */
};

struct sgt_fleet_source {
	enum sgt_fleet_format format;
	char *source;		/* file path (resolved against the inventory) or libpq conninfo */
	char *name;		/* how messages and metrics name it: path, or "postgresql:DB" (never a password) */
	char *query;		/* postgresql only */
	char *build_field;	/* column name or dotted JSON path */
	char *fleet_field;	/* optional: rows of other fleets are skipped */
	char *last_seen_field;	/* optional */
	long stale_days;
	int line;		/* line of the devices: block in the inventory */
	char *where;		/* "fleets.yaml:12", for messages about the query */
	/* Set by sgt_fleet_count: rows naming no fleet of inv are counted once per source. */
	const struct sgt_inventory *inv;
	int count_orphans;
};

/* A key a build's devices trust, as read from the artefact. */
struct sgt_fleet_key {
	char spki_sha256[65];
	char alg[32];
	int has_cert;		/* baked as a certificate (else a bare public key) */
	char subject[256];
	char serial[80];
	time_t not_before, not_after;	/* the baked certificate's validity */
	/*
	 * A certificate without the code-signing extended key usage (which AWS
	 * Signer needs): "a CA certificate" (a TLS root, say) or "a certificate
	 * for other uses" (its extended key usage leaves code signing out: a
	 * device's TLS certificate, say); "" otherwise.  Said beside the key,
	 * never taken to mean the devices do not trust it.
	 */
	char usage[40];
};

/* The values of sgt_fleet_key.usage, as recorded (and the only ones a record may hold). */
#define SGT_FLEET_USAGE_CA "a CA certificate"
#define SGT_FLEET_USAGE_OTHER "a certificate for other uses"

struct sgt_fleet_build {
	char *version;
	char *artefact;		/* resolved path, or NULL */
	char artefact_sha256[65];
	char recorded_at[32];	/* "" unless recorded with `fleet build add` */
	long devices;		/* devices seen within stale_days (all of them for counts) */
	long stale;		/* devices not seen for stale_days */
	int line;		/* inventory line, 0 for a recorded build */
	struct sgt_fleet_key *keys;
	size_t nkeys;
};

/* Devices reporting a build the inventory does not know. */
struct sgt_fleet_unknown {
	char *version;
	long devices, stale;
};

struct sgt_fleet {
	char *name;
	long rollout_days, margin_days;
	int checks_expiry;
	int line;		/* 0 when the fleet exists only through recorded builds */
	struct sgt_fleet_build *builds;
	size_t nbuilds;
	struct sgt_fleet_unknown *unknown;
	size_t nunknown;
	int has_source;
	struct sgt_fleet_source src;
	time_t source_time;	/* when the population was last updated (file mtime / query time) */
	long orphans;		/* rows of its source whose fleet_field names no fleet in the inventory */
};

struct sgt_inventory {
	char *path;		/* NULL when there is no inventory file */
	time_t mtime;
	struct sgt_fleet *fleets;
	size_t n;
};

/*
 * Parses the inventory (SPEC fleets.yaml) at path.  A missing file is an
 * empty inventory unless required.  Errors name file, line and field.
 * Artefacts are not read here (sgt_fleet_read_artefacts does that).
 */
int sgt_inventory_load(const char *path, int required, struct sgt_inventory *inv);
void sgt_inventory_release(struct sgt_inventory *inv);
/* The fleet named name, or NULL. */
struct sgt_fleet *sgt_inventory_fleet(struct sgt_inventory *inv, const char *name);
/* Adds an empty fleet with the defaults (for builds recorded for a fleet not in the inventory). */
int sgt_inventory_add_fleet(struct sgt_inventory *inv, const char *name, struct sgt_fleet **out);
/* The build of f named version, or NULL. */
struct sgt_fleet_build *sgt_fleet_build_find(struct sgt_fleet *f, const char *version);
int sgt_fleet_build_new(struct sgt_fleet *f, const char *version, struct sgt_fleet_build **out);
/* Frees what b holds and zeroes it (b itself is not freed). */
void sgt_fleet_build_release(struct sgt_fleet_build *b);

/* 1 when a fleet name or version can name a file in the store. */
int sgt_fleet_name_ok(const char *s);

/*
 * What an artefact bakes in: the keys of every find the device really
 * holds (baked, decodable), deduplicated by SPKI, and the artefact's
 * SHA-256.  The one place fleet reads artefacts.  No key found is
 * SGT_ERR_DATA naming the file.
 */
int sgt_fleet_artefact_keys(const char *path, struct sgt_fleet_key **keys, size_t *n, char sha256[65]);

/* k's usage said for a sentence (" ('SUBJECT': a CA certificate, without the code-signing usage)"), or "". */
const char *sgt_fleet_key_note(const struct sgt_fleet_key *k, char *buf, size_t cap);

/* Reads the artefacts of the inventory's builds that have one and no recorded keys. */
int sgt_fleet_read_artefacts(struct sgt_inventory *inv);


/*
 * Population.  sgt_fleet_count streams the device source of every fleet
 * named (all when nnames is 0) that has one (counts from the inventory
 * stay otherwise).  Memory grows
 * with builds, never with devices.  A malformed row is SGT_ERR_DATA
 * naming file:line (or the query).
 */
int sgt_fleet_count(struct sgt_inventory *inv, char **names, size_t nnames, time_t now);
int sgt_fleet_source_read(struct sgt_fleet *f, time_t now);
/* Adds n devices of build (len bytes, not NUL-terminated) to f: a known build or "unknown". */
int sgt_fleet_tally(struct sgt_fleet *f, const char *build, size_t len, long n, int stale);
/* Parses an ISO 8601 time (date, or date-time with Z / offset / fraction) or epoch s/ms; 0 or -1. */
int sgt_fleet_parse_time(const char *s, size_t len, time_t *out);

/* -- judgement ----------------------------------------------------------- */

/* A key in custody, as the judgement needs it. */
struct sgt_fleet_custody {
	char label[65];
	char spki_sha256[65];
	int has_signer;		/* certs/<label>/current.pem exists */
	char serial[80];
	char subject_cn[128];
	time_t not_before, not_after;	/* of the current certificate */
	long renew_before_days;		/* its policy's window (SGT_RENEW_DEFAULT_DAYS without one) */
	char policy[65];		/* that policy's name, "" for none */
	int foreign_issuer;		/* an outside CA issued it: renew cannot reissue it */
	int needs_approvals;		/* its policy asks for approvals: renew leaves it to cert reissue */
};


enum sgt_fleet_action {
	SGT_FLEET_OK,
	SGT_FLEET_RENEW,
	SGT_FLEET_REBUILD,
	SGT_FLEET_STRANDED,
	SGT_FLEET_UNKNOWN	/* devices on a build signet has no record of */
};

enum sgt_fleet_status {
	SGT_FLEET_ST_OK,
	SGT_FLEET_ST_DUE,
	SGT_FLEET_ST_OVERDUE,
	SGT_FLEET_ST_STRANDED,
	SGT_FLEET_ST_UNKNOWN
};

/* One fleet x build x key (or one "unknown" row per fleet with such devices). */
struct sgt_fleet_row {
	const struct sgt_fleet *fleet;
	const struct sgt_fleet_build *build;	/* NULL on the unknown row */
	const struct sgt_fleet_key *key;	/* NULL on the unknown row */
	const struct sgt_fleet_custody *custody;	/* NULL: not held */
	long devices, stale;
	enum sgt_fleet_action action;
	enum sgt_fleet_action deadline_for;	/* RENEW or REBUILD; OK when there is no deadline */
	enum sgt_fleet_status status;
	time_t deadline;	/* 0: none */
	char keyname[65];	/* custody label, else "spki:" + 12 hex digits */
	char sentence[768];
	char command[256];
};

struct sgt_fleet_report {
	time_t now;
	long warn_days, critical_days;
	const struct sgt_inventory *inv;
	const struct sgt_fleet_custody *custody;
	size_t ncustody;
	struct sgt_fleet_row *rows;	/* sorted: stranded, overdue, due, unknown, ok; soonest first */
	size_t n;
	enum sgt_fleet_status *fleet_status;	/* parallel to inv->fleets */
	int *selected;		/* parallel to inv->fleets: 1 when reported */
};

/*
 * Judges every selected fleet (names NULL / nnames 0: all).  A name not in
 * the inventory is SGT_ERR_DATA.
 */
int sgt_fleet_judge(const struct sgt_inventory *inv, const struct sgt_fleet_custody *custody, size_t ncustody,
		    time_t now, long warn_days, long critical_days, char **names, size_t nnames,
		    struct sgt_fleet_report *rep);
void sgt_fleet_report_release(struct sgt_fleet_report *rep);

const char *sgt_fleet_action_name(enum sgt_fleet_action a);
const char *sgt_fleet_status_name(enum sgt_fleet_status s);

/* -- formats (fleet_report.c) -------------------------------------------- */

enum sgt_fleet_fmt {
	SGT_FLEET_FMT_TABLE,
	SGT_FLEET_FMT_JSON,
	SGT_FLEET_FMT_CSV,
	SGT_FLEET_FMT_PROMETHEUS,
	SGT_FLEET_FMT_HTML,
	SGT_FLEET_FMT_ICS
};

/* Parses a --format name; -1 when unknown. */
int sgt_fleet_fmt_parse(const char *name);
/* The report in fmt appended to out. */
int sgt_fleet_render(const struct sgt_fleet_report *rep, enum sgt_fleet_fmt fmt, struct sgt_buf *out);
/* The report as JSON: { generated, summary, fleets[], rows[] }. */
json_t *sgt_fleet_report_json(const struct sgt_fleet_report *rep);

#endif
