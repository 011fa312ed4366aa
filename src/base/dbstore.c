/*
 * dbstore.c: a store kept in PostgreSQL (see dbstore.h).  It loads libpq,
 * creates and migrates the schema, keeps this host's copy of the store
 * (files and audit chain) in step with the database under the store lock,
 * and makes the one SQL transaction that is a command's commit point.  It
 * knows nothing of tokens: heads arrive signed, records arrive encoded.
 *
 * Tables (schema version 1, docs/store.md):
 *   signet_schema_version(version)
 *   signet_head(id = 1, seq, head)          the head row: locked by every writer
 *   signet_audit(seq, record, host, committed)  every record, exact bytes
 *   signet_heads(seq, head, host)           every head the store had (audit verify checks each signature)
 *   signet_files(path, content, seq, host)  store files, path relative to the store
 *   signet_hosts(name, joined, module, token)
 *
 * backup reads all of it under the head row's lock (sgt_db_snapshot);
 * restore --db writes it into an empty database in the transaction its
 * restore record commits (sgt_db_restore_begin).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "dbstore.h"
#include "hsmguard.h"
#include "pqload.h"

/* -- libpq, loaded on first use (pqload.h) ------------------------------------- */

static const struct sgt_pq *pq;

static int pq_load(void)
{
	const char *why;
	int k;

	if (pq != NULL)
		return SGT_OK;
	if ((k = sgt_pq_load(&pq, &why)) == SGT_PQ_NOLIB)
		return sgt_err(SGT_ERR_DATA, "a database-backed store needs libpq (Debian package libpq5): %s", why);
	if (k != 0)
		return sgt_err(SGT_ERR_DATA, "the libpq found lacks %s", why);
	return SGT_OK;
}

/* -- the connection of this process ---------------------------------------------- */

static struct {
	PGconn *conn;
	char *conninfo;
	char *dir;		/* the store directory this host keeps its copy in */
	char *host;
	char name[256];		/* postgresql:DB@HOST */
	int in_tx;		/* a transaction holding the head row is open */
	char *reg_module, *reg_token;	/* init: the host row goes in with its first record */
	int writer;		/* this session holds the writers' advisory lock */
} db;

/*
 * The writers' lock: a session-level advisory lock, taken with the head
 * row and held past COMMIT until this host has written its copy and kept
 * the new head on the shared token (sgt_db_done).  Without it, a host
 * slower between its COMMIT and its anchor could put an older head back on
 * the token after another host's newer one.
 */
#define WRITER_LOCK "SELECT pg_advisory_lock(7526683568129385844)"
#define WRITER_UNLOCK "SELECT pg_advisory_unlock(7526683568129385844)"

const char *sgt_db_name(void)
{
	return db.name;
}

const char *sgt_db_host(void)
{
	return db.conn != NULL || db.in_tx ? db.host : NULL;
}

static const char *first_line(const char *msg, char *out, size_t cap)
{
	size_t n = strcspn(msg, "\n");

	snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), msg);
	return out;
}

static void set_name(const char *conninfo)
{
	PQconninfoOption *opts = pq->conninfoParse(conninfo, NULL), *o;
	const char *dbname = NULL, *host = NULL, *user = NULL;

	for (o = opts; o != NULL && o->keyword != NULL; o++) {
		if (strcmp(o->keyword, "dbname") == 0)
			dbname = o->val;
		else if (strcmp(o->keyword, "host") == 0)
			host = o->val;
		else if (strcmp(o->keyword, "user") == 0)
			user = o->val;
	}
	snprintf(db.name, sizeof(db.name), "postgresql:%s@%s", dbname ? dbname : user ? user : "?",
		 host ? host : "localhost");
	if (opts != NULL)
		pq->conninfoFree(opts);
}

/* The server's notices (a shutdown's WARNING) are not signet's to print: the failure that follows says it. */
static void quiet_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static int connect_db(const char *conninfo)
{
	char msg[512];
	int rc;

	if (db.conn != NULL && db.conninfo != NULL && strcmp(db.conninfo, conninfo) == 0 &&
	    pq->status(db.conn) == CONNECTION_OK)
		return SGT_OK;
	if ((rc = pq_load()) != SGT_OK)
		return rc;
	if (db.conn != NULL)
		pq->finish(db.conn);
	db.conn = NULL;
	db.in_tx = 0;
	db.writer = 0;
	if (conninfo != db.conninfo) {	/* a reconnection passes db.conninfo itself */
		free(db.conninfo);
		if ((db.conninfo = strdup(conninfo)) == NULL)
			return sgt_err(SGT_ERR_DATA, "out of memory");
	}
	set_name(db.conninfo);
	db.conn = pq->connectdb(db.conninfo);
	if (db.conn == NULL || pq->status(db.conn) != CONNECTION_OK) {
		rc = sgt_err(SGT_ERR_DATA, "cannot reach the store's database %s: %s", db.name,
			     db.conn ? first_line(pq->errorMessage(db.conn), msg, sizeof(msg)) : "out of memory");
		if (db.conn != NULL)
			pq->finish(db.conn);
		db.conn = NULL;
		return rc;
	}
	pq->setNoticeProcessor(db.conn, quiet_notice, NULL);
	return SGT_OK;
}

/* One statement; params are text unless lens[i] >= 0 (binary); results binary when binary. *res NULL when not wanted. */
static int q(const char *sql, int n, const char *const *vals, const int *lens, int binary, PGresult **res,
	     int *retry)
{
	int fmts[8] = { 0 };
	PGresult *r;
	ExecStatusType s;
	int i;

	for (i = 0; i < n && i < 8; i++)
		fmts[i] = lens != NULL && lens[i] >= 0;
	if (retry != NULL)
		*retry = 0;
	/* without parameters, the simple protocol: a migration is several statements */
	r = n == 0 && !binary ? pq->exec(db.conn, sql) : pq->execParams(db.conn, sql, n, NULL, vals, lens, fmts, binary);
	s = r ? pq->resultStatus(r) : PGRES_FATAL_ERROR;
	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
		const char *state = r ? pq->resultErrorField(r, 'C') : NULL;	/* PG_DIAG_SQLSTATE */
		char msg[512];

		if (retry != NULL && state != NULL && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)) {
			*retry = 1;	/* serialization failure, deadlock: the caller starts again */
			pq->clear(r);
			return SGT_ERR_DATA;
		}
		first_line(r ? pq->resultErrorMessage(r) : pq->errorMessage(db.conn), msg, sizeof(msg));
		if (pq->status(db.conn) != CONNECTION_OK || strstr(msg, "server closed the connection") != NULL)
			sgt_err(SGT_ERR_DATA, "lost the store's database %s: %s", db.name, msg);
		else
			sgt_err(SGT_ERR_DATA, "database %s: %s", db.name, msg);
		if (r != NULL)
			pq->clear(r);
		return SGT_ERR_DATA;
	}
	if (res != NULL)
		*res = r;
	else
		pq->clear(r);
	return SGT_OK;
}

static int exec(const char *sql)
{
	return q(sql, 0, NULL, NULL, 0, NULL, NULL);
}

static void rollback(void)
{
	if (db.conn != NULL && pq->status(db.conn) == CONNECTION_OK) {
		sgt_silent++;
		(void)exec("ROLLBACK");
		sgt_silent--;
	}
	db.in_tx = 0;
}

/* -- schema ------------------------------------------------------------------------ */

/* Migrations in order: migrations[i] takes the schema from version i to i + 1. */
static const char *const migrations[] = {
	"CREATE TABLE signet_schema_version (version integer NOT NULL);"
	"INSERT INTO signet_schema_version VALUES (0);"
	"CREATE TABLE signet_head (id integer PRIMARY KEY CHECK (id = 1), seq bigint NOT NULL, head bytea NOT NULL);"
	"INSERT INTO signet_head VALUES (1, 0, ''::bytea);"
	"CREATE TABLE signet_audit (seq bigint PRIMARY KEY, record bytea NOT NULL, host text NOT NULL,"
	" committed timestamptz NOT NULL DEFAULT now());"
	"CREATE TABLE signet_heads (seq bigint PRIMARY KEY, head bytea NOT NULL, host text NOT NULL);"
	"CREATE TABLE signet_files (path text PRIMARY KEY, content bytea NOT NULL, seq bigint NOT NULL, host text NOT NULL);"
	"CREATE TABLE signet_hosts (name text PRIMARY KEY, joined timestamptz NOT NULL DEFAULT now(), module text, token text);",
};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* The schema's version: 0 when the database has no signet tables. */
static int schema_version(int *v)
{
	PGresult *r;
	int rc;

	if ((rc = q("SELECT to_regclass('signet_schema_version') IS NOT NULL", 0, NULL, NULL, 0, &r, NULL)) != SGT_OK)
		return rc;
	*v = strcmp(pq->getvalue(r, 0, 0), "t") == 0 ? -1 : 0;
	pq->clear(r);
	if (*v == 0)
		return SGT_OK;
	if ((rc = q("SELECT max(version) FROM signet_schema_version", 0, NULL, NULL, 0, &r, NULL)) != SGT_OK)
		return rc;
	*v = pq->getisnull(r, 0, 0) ? 0 : atoi(pq->getvalue(r, 0, 0));
	pq->clear(r);
	return SGT_OK;
}

/*
 * Inside a transaction: the schema's version (0: none) and whether it
 * holds no store yet (*fresh: a schema without a record is what an init
 * killed before its first record left).
 */
static int schema_state(int *v, int *fresh)
{
	PGresult *r;
	int rc;

	*fresh = 0;
	if ((rc = schema_version(v)) != SGT_OK || *v == 0 || *v > SCHEMA_VERSION)
		return rc;
	if ((rc = q("SELECT (SELECT seq FROM signet_head) = 0 AND NOT EXISTS (SELECT 1 FROM signet_hosts)", 0, NULL, NULL,
		    0, &r, NULL)) != SGT_OK)
		return rc;
	*fresh = strcmp(pq->getvalue(r, 0, 0), "t") == 0;
	pq->clear(r);
	return SGT_OK;
}

/* Inside a transaction: brings the schema to SCHEMA_VERSION from v (0: none). */
static int migrate_schema(int v)
{
	char sql[96];
	int rc, i;

	if (v > SCHEMA_VERSION)
		return sgt_err(SGT_ERR_DATA, "database %s holds a signet store of schema version %d; this signet knows %d: "
			       "upgrade signet on this host", db.name, v, SCHEMA_VERSION);
	for (i = v; i < SCHEMA_VERSION; i++) {
		if ((rc = exec(migrations[i])) != SGT_OK)
			return rc;
		snprintf(sql, sizeof(sql), "UPDATE signet_schema_version SET version = %d", i + 1);
		if ((rc = exec(sql)) != SGT_OK)
			return rc;
	}
	return SGT_OK;
}

/* -- config ------------------------------------------------------------------------- */

int sgt_db_config_parse(const char *path, const struct sgt_yaml *map, char **conninfo, char **host)
{
	static const char *const keys[] = { "backend", "conninfo", "host", NULL };
	const char *backend = NULL, *ci = NULL, *h = NULL;
	int rc;

	if (map == NULL)
		return SGT_OK;
	if (map->kind != SGT_YAML_MAP)
		return sgt_err(SGT_ERR_DATA, "%s:%d: field 'store' must be a mapping", path, map->line);
	if ((rc = sgt_yaml_check_keys(path, map, "'store'", keys)) != SGT_OK ||
	    (rc = sgt_yaml_get_str(path, map, "backend", 1, &backend)) != SGT_OK ||
	    (rc = sgt_yaml_get_str(path, map, "conninfo", 1, &ci)) != SGT_OK ||
	    (rc = sgt_yaml_get_str(path, map, "host", 1, &h)) != SGT_OK)
		return rc;
	if (strcmp(backend, "postgresql") != 0)
		return sgt_err(SGT_ERR_DATA, "%s:%d: store backend '%s' is not known (postgresql is)", path,
			       sgt_yaml_get(map, "backend")->line, backend);
	if (*h == '\0' || strlen(h) > 64)
		return sgt_err(SGT_ERR_DATA, "%s:%d: store host must be 1 to 64 characters", path, sgt_yaml_get(map, "host")->line);
	if ((*conninfo = strdup(ci)) == NULL || (*host = strdup(h)) == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	return SGT_OK;
}

/* this host's record of the files people write as it last took them from the database (shared_sync) */
#define SHARED_MANIFEST "shared.sha256"

/* -- this host's copy -------------------------------------------------------------------- */

/* Files each host keeps for itself, never in the database. */
static int host_local(const char *rel)
{
	static const char *const names[] = { "signet.yaml", "lock", "audit.log", "audit.head", "audit.keyid", SHARED_MANIFEST,
					      NULL };
	static const char *const dirs[] = { "hsm/", "intents/", NULL };
	size_t i;

	for (i = 0; names[i] != NULL; i++)
		if (strcmp(rel, names[i]) == 0)
			return 1;
	for (i = 0; dirs[i] != NULL; i++)
		if (strncmp(rel, dirs[i], strlen(dirs[i])) == 0)
			return 1;
	return rel[0] == '.' || strstr(rel, "/.") != NULL || strstr(rel, "..") != NULL ||
	       (strlen(rel) > 4 && strcmp(rel + strlen(rel) - 4, ".tmp") == 0);
}

static char *path_in(const char *dir, const char *rel)
{
	char *p = malloc(strlen(dir) + strlen(rel) + 2);

	if (p == NULL)
		sgt_err(SGT_ERR_DATA, "out of memory");
	else
		sprintf(p, "%s/%s", dir, rel);
	return p;
}

/*
 * The last complete record of the host's audit.log: its seq (0 for none)
 * and its bytes.  A partial last line (a write cut short on this host) is
 * cut off: the database has the record if it was committed.
 */
static int local_tail(const char *dir, long long *seq, char **last, size_t *lastlen)
{
	char *path = path_in(dir, "audit.log");
	unsigned char *buf = NULL;
	size_t chunk = 65536, n = 0, endl, start;
	off_t size, off;
	struct stat sb;
	json_t *j;
	int fd, rc = SGT_OK;

	*seq = 0;
	*last = NULL;
	*lastlen = 0;
	if (path == NULL)
		return SGT_ERR_DATA;
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		rc = errno == ENOENT ? SGT_OK : sgt_err(SGT_ERR_DATA, "cannot read '%s': %s", path, strerror(errno));
		free(path);
		return rc;	/* none yet: a new copy */
	}
	if (fstat(fd, &sb) != 0) {
		rc = sgt_err(SGT_ERR_DATA, "cannot read '%s': %s", path, strerror(errno));
		goto out;
	}
	size = sb.st_size;
	/* Only the end is read, so that taking the lock stays constant-time however long the log grows. */
	for (;;) {
		unsigned char *nb;

		off = size > (off_t)chunk ? size - (off_t)chunk : 0;
		n = (size_t)(size - off);
		if ((nb = realloc(buf, n + 1)) == NULL) {
			rc = sgt_err(SGT_ERR_DATA, "out of memory");
			goto out;
		}
		buf = nb;
		if (pread(fd, buf, n, off) != (ssize_t)n) {
			rc = sgt_err(SGT_ERR_DATA, "cannot read '%s': %s", path, strerror(errno));
			goto out;
		}
		endl = n;
		while (endl > 0 && buf[endl - 1] != '\n')
			endl--;
		start = endl > 0 ? endl - 1 : 0;
		while (start > 0 && buf[start - 1] != '\n')
			start--;
		if (off == 0 || (endl > 0 && start > 0))
			break;
		chunk *= 4;
	}
	if (off + (off_t)endl < size && truncate(path, off + (off_t)endl) != 0) {
		rc = sgt_err(SGT_ERR_DATA, "cannot cut the partial record off '%s': %s", path, strerror(errno));
		goto out;
	}
	if (endl == 0)
		goto out;
	*lastlen = endl - 1 - start;
	if ((*last = malloc(*lastlen + 1)) == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	memcpy(*last, buf + start, *lastlen);
	(*last)[*lastlen] = '\0';
	j = json_loadb(*last, *lastlen, 0, NULL);
	if (j == NULL || !json_is_integer(json_object_get(j, "seq"))) {
		rc = sgt_err(SGT_ERR_DATA, "the last record of '%s' is not a record; refusing to go on", path);
		json_decref(j);
		goto out;
	}
	*seq = (long long)json_integer_value(json_object_get(j, "seq"));
	json_decref(j);
out:
	close(fd);
	free(buf);
	free(path);
	return rc;
}

static int append_local(const char *dir, const struct sgt_buf *b)
{
	char *path = path_in(dir, "audit.log");
	int fd, rc = SGT_OK, e;

	if (path == NULL)
		return SGT_ERR_DATA;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || (e = sgt_write_all(fd, b->p, b->len)) != 0 || fsync(fd) != 0)
		rc = sgt_err(SGT_ERR_DATA, "cannot write '%s': %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	free(path);
	return rc;
}

static char *llstr(long long v, char *buf)
{
	sprintf(buf, "%lld", v);
	return buf;
}

/* A bigint column of a binary-format result (big-endian int8). */
static long long col_int8(PGresult *r, int row, int col)
{
	const char *p = pq->getvalue(r, row, col);
	unsigned long long v = 0;
	size_t i;

	for (i = 0; i < 8; i++)
		v = v << 8 | (unsigned char)p[i];
	return (long long)v;
}

/*
 * Brings the copy in dir up to the database's head (seq, head bytes):
 * files committed after the copy's last record first, then the records,
 * then audit.head.  A copy that does not continue the database's chain is
 * refused: the hosts would no longer share one chain.
 *
 * fresh: dir is a new file store (migrate --to-dir), not a host's copy:
 * every file is written, those people write too, each once
 * (SGT_WRITE_EXCL), host-local names passed over rather than refused, and
 * the log written whole like any other file.
 */
static int sync_copy(const char *dir, long long dbseq, const char *head, size_t headlen, int fresh)
{
	char *last = NULL, sbuf[32], *hpath = NULL;
	const char *vals[1];
	unsigned char *cur = NULL;
	size_t lastlen, curlen = 0;
	long long seq;
	struct sgt_buf b = { 0 };
	PGresult *r = NULL;
	int rc, i, n;

	if ((rc = local_tail(dir, &seq, &last, &lastlen)) != SGT_OK)
		return rc;
	if (seq > dbseq) {
		rc = sgt_err(SGT_ERR_DATA, "this host's copy of the audit log in '%s' ends at record %lld but database %s at "
			     "record %lld: records committed before are missing from the database; refusing to go on",
			     dir, seq, db.name, dbseq);
		sgt_hint("was the database restored, or a standby promoted without synchronous replication? see docs/multi-host.md");
		goto out;
	}
	vals[0] = llstr(seq, sbuf);
	if (seq > 0) {
		if ((rc = q("SELECT record FROM signet_audit WHERE seq = $1::bigint", 1, vals, NULL, 1, &r, NULL)) != SGT_OK)
			goto out;
		if (pq->ntuples(r) != 1 || (size_t)pq->getlength(r, 0, 0) != lastlen ||
		    memcmp(pq->getvalue(r, 0, 0), last, lastlen) != 0) {
			rc = sgt_err(SGT_ERR_DATA, "record %lld of this host's audit log in '%s' is not record %lld of database %s: "
				     "the chains differ; refusing to go on", seq, dir, seq, db.name);
			goto out;
		}
		pq->clear(r);
		r = NULL;
	}
	if (seq < dbseq) {
		if ((rc = q("SELECT path, content FROM signet_files WHERE seq > $1::bigint ORDER BY seq, path", 1, vals, NULL,
			    1, &r, NULL)) != SGT_OK)
			goto out;
		n = pq->ntuples(r);
		for (i = 0; i < n && rc == SGT_OK; i++) {
			char rel[PATH_MAX], *p;

			snprintf(rel, sizeof(rel), "%.*s", pq->getlength(r, i, 0), pq->getvalue(r, i, 0));
			if (fresh && host_local(rel))
				continue;
			if (host_local(rel) || rel[0] == '/') {
				rc = sgt_err(SGT_ERR_DATA, "database %s names a store file '%s' that no host takes from it", db.name, rel);
				break;
			}
			if (!fresh && sgt_store_file_kind(rel) == SGT_FILE_PEOPLE)
				continue;	/* shared_sync's: never over a local edit */
			if ((p = path_in(dir, rel)) == NULL)
				rc = SGT_ERR_DATA;
			else
				rc = sgt_atomic_write(p, pq->getvalue(r, i, 1), (size_t)pq->getlength(r, i, 1),
						      fresh ? SGT_WRITE_EXCL : 0);
			free(p);
		}
		pq->clear(r);
		r = NULL;
		if (rc != SGT_OK)
			goto out;
		if ((rc = q("SELECT record FROM signet_audit WHERE seq > $1::bigint ORDER BY seq", 1, vals, NULL, 1, &r,
			    NULL)) != SGT_OK)
			goto out;
		n = pq->ntuples(r);
		if ((long long)n != dbseq - seq) {
			rc = sgt_err(SGT_ERR_DATA, "database %s has %d records after record %lld, not %lld", db.name, n, seq,
				     dbseq - seq);
			goto out;
		}
		for (i = 0; i < n && rc == SGT_OK; i++) {
			rc = sgt_buf_add(&b, pq->getvalue(r, i, 0), (size_t)pq->getlength(r, i, 0));
			rc = rc ? rc : sgt_buf_add(&b, "\n", 1);
		}
		if (rc == SGT_OK && fresh) {
			char *lpath = path_in(dir, "audit.log");

			rc = lpath ? sgt_atomic_write(lpath, b.p, b.len, SGT_WRITE_EXCL) : SGT_ERR_DATA;
			free(lpath);
		} else if (rc == SGT_OK)
			rc = append_local(dir, &b);
		if (rc != SGT_OK)
			goto out;
	}
	/* audit.head as the database has it (also after this host was cut off between its commit and its copy) */
	if ((hpath = path_in(dir, "audit.head")) == NULL) {
		rc = SGT_ERR_DATA;
		goto out;
	}
	if (fresh)
		rc = sgt_atomic_write(hpath, head, headlen, SGT_WRITE_EXCL);
	else if (headlen > 0) {
		sgt_silent++;
		if (sgt_file_read(hpath, 65536, &cur, &curlen) != SGT_OK)
			curlen = (size_t)-1;
		sgt_silent--;
		if (curlen != headlen || memcmp(cur, head, headlen) != 0)
			rc = sgt_atomic_write(hpath, head, headlen, 0);
	}
out:
	if (r != NULL)
		pq->clear(r);
	sgt_buf_free(&b);
	free(cur);
	free(hpath);
	free(last);
	return rc;
}

/* -- files people write, shared through the database (docs/multi-host.md) ---------------- */

int sgt_store_file_kind(const char *rel)
{
	static const char *const dirs[] = { "keys/", "certs/", "fleets/", "rotations/", "audit.", NULL };
	size_t i;

	if (host_local(rel))
		return SGT_FILE_HOST;
	for (i = 0; dirs[i] != NULL; i++)
		if (strncmp(rel, dirs[i], strlen(dirs[i])) == 0)
			return SGT_FILE_COMMAND;
	return SGT_FILE_PEOPLE;
}

struct shared {
	char *path;
	char hex[65];
};

/* The manifest this process last wrote (after its sync), and the files `store put` is sharing. */
static struct {
	struct shared *v;
	size_t n;
	char **keep;
	size_t nkeep;
	struct shared *pushed;	/* files people write this command's transaction carries */
	size_t npushed;
} sh;

static void shared_free(struct shared *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i].path);
	free(v);
}

static const char *shared_find(const struct shared *v, size_t n, const char *rel)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i].path, rel) == 0)
			return v[i].hex;
	return NULL;
}

static int shared_kept(const char *rel)
{
	size_t i;

	for (i = 0; i < sh.nkeep; i++)
		if (strcmp(sh.keep[i], rel) == 0)
			return 1;
	return 0;
}

void sgt_db_share_keep(char *const *rels, size_t n)
{
	sh.keep = (char **)rels;
	sh.nkeep = n;
}

static int shared_add(struct shared **v, size_t *n, const char *rel, const char *hex)
{
	struct shared *nv = realloc(*v, (*n + 1) * sizeof(**v));

	if (nv == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	*v = nv;
	if ((nv[*n].path = strdup(rel)) == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	snprintf(nv[*n].hex, sizeof(nv[*n].hex), "%s", hex);
	(*n)++;
	return SGT_OK;
}

/* SHARED_MANIFEST: "HEX  PATH" lines, as sha256sum writes them.  Missing: none yet. */
static int manifest_load(const char *dir, struct shared **v, size_t *n, struct sgt_buf *raw)
{
	char *path = path_in(dir, SHARED_MANIFEST), *p, *end;
	unsigned char *buf = NULL;
	size_t len = 0;
	int rc = SGT_OK;

	*v = NULL;
	*n = 0;
	if (path == NULL)
		return SGT_ERR_DATA;
	if (access(path, F_OK) != 0) {
		free(path);
		return SGT_OK;
	}
	if ((rc = sgt_file_read(path, 1 << 24, &buf, &len)) != SGT_OK) {
		free(path);
		return rc;
	}
	rc = sgt_buf_add(raw, buf, len);
	for (p = (char *)buf, end = p + len; rc == SGT_OK && p < end;) {
		char *nl = memchr(p, '\n', (size_t)(end - p)), rel[PATH_MAX];

		if (nl == NULL || nl - p < 67 || nl - p - 66 >= PATH_MAX || p[64] != ' ' || p[65] != ' ') {
			rc = sgt_err(SGT_ERR_DATA, "'%s' is not a list of SHA-256 sums and paths; remove it to take the "
				     "store's files again", path);
			break;
		}
		snprintf(rel, sizeof(rel), "%.*s", (int)(nl - p - 66), p + 66);
		p[64] = '\0';
		rc = shared_add(v, n, rel, p);
		p = nl + 1;
	}
	free(buf);
	free(path);
	return rc;
}

static int local_sha256(const char *dir, const char *rel, char hex[65], int *present)
{
	char *path = path_in(dir, rel);
	unsigned char *buf = NULL;
	size_t len = 0;
	struct stat sb;
	int rc;

	*present = 0;
	if (path == NULL)
		return SGT_ERR_DATA;
	if (lstat(path, &sb) != 0 && errno == ENOENT) {
		free(path);
		return SGT_OK;
	}
	if ((rc = sgt_file_read(path, (size_t)1 << 30, &buf, &len)) == SGT_OK) {
		sgt_sha256_hex(buf, len, hex);
		*present = 1;
	}
	free(buf);
	free(path);
	return rc;
}

/*
 * After the copy is current: each file people write that the database
 * holds.  The host's copy is the database's (noted in the manifest), or
 * unchanged since this host took an older one (another host shared a new
 * one: taken now), or missing (taken); else it was edited here and not
 * shared: refused in one line, never overwritten and never used.  Files
 * `store put` is sharing are left as they are.
 */
static int shared_sync(const char *dir, int *retry)
{
	static const char sql[] = "SELECT path, encode(sha256(content), 'hex') FROM signet_files WHERE path NOT LIKE "
				  "'keys/%' AND path NOT LIKE 'certs/%' AND path NOT LIKE 'fleets/%' AND path NOT LIKE "
				  "'rotations/%' AND path NOT LIKE 'audit.%' ORDER BY path";
	struct shared *old = NULL, *cur = NULL;
	size_t nold = 0, ncur = 0, i;
	struct sgt_buf raw = { 0 }, out = { 0 };
	PGresult *r = NULL;
	int rc, n;

	if ((rc = manifest_load(dir, &old, &nold, &raw)) != SGT_OK)
		goto out;
	if ((rc = q(sql, 0, NULL, NULL, 0, &r, retry)) != SGT_OK)
		goto out;
	n = pq->ntuples(r);
	for (i = 0; i < (size_t)n && rc == SGT_OK; i++) {
		const char *rel = pq->getvalue(r, (int)i, 0), *dbhex = pq->getvalue(r, (int)i, 1);
		const char *was = shared_find(old, nold, rel);
		char hex[65];
		int present;

		if (sgt_store_file_kind(rel) != SGT_FILE_PEOPLE)
			continue;
		if ((rc = local_sha256(dir, rel, hex, &present)) != SGT_OK)
			break;
		if (shared_kept(rel)) {
			/* put over a newer version another host shared than the one this host edited: it would undo it */
			if (was != NULL && strcmp(was, dbhex) != 0 && present && strcmp(hex, dbhex) != 0) {
				rc = sgt_err(SGT_ERR_DATA, "%s was shared by another host since this host took it; putting this "
					     "host's edit would undo that: move it aside, run any command to take the store's, "
					     "merge, then put it", rel);
				break;
			}
			if (was != NULL)
				rc = shared_add(&cur, &ncur, rel, was);
			continue;
		}
		if (present && strcmp(hex, dbhex) != 0 && (was == NULL || strcmp(hex, was) != 0)) {
			rc = sgt_err(SGT_ERR_DATA, "%s on this host was edited but not shared: 'signet store put %s' shares "
				     "it with every host (or remove it to take the store's)", rel, rel);
			break;
		}
		if (!present || strcmp(hex, dbhex) != 0) {	/* missing, or another host shared a newer one */
			const char *vals[1] = { rel };
			PGresult *c = NULL;
			char *p;

			if ((rc = q("SELECT content FROM signet_files WHERE path = $1", 1, vals, NULL, 1, &c, retry)) != SGT_OK)
				break;
			if (pq->ntuples(c) != 1 || (p = path_in(dir, rel)) == NULL) {
				pq->clear(c);
				rc = sgt_err(SGT_ERR_DATA, "database %s lost '%s' while it was read", db.name, rel);
				break;
			}
			rc = sgt_atomic_write(p, pq->getvalue(c, 0, 0), (size_t)pq->getlength(c, 0, 0), 0);
			free(p);
			pq->clear(c);
			if (rc != SGT_OK)
				break;
		}
		rc = shared_add(&cur, &ncur, rel, dbhex);
	}
	for (i = 0; i < ncur && rc == SGT_OK; i++)
		rc = sgt_buf_printf(&out, "%s  %s\n", cur[i].hex, cur[i].path);
	if (rc == SGT_OK && (out.len != raw.len || (out.len > 0 && memcmp(out.p, raw.p, out.len) != 0))) {
		char *mp = path_in(dir, SHARED_MANIFEST);

		rc = mp == NULL ? SGT_ERR_DATA : sgt_atomic_write(mp, out.p ? out.p : "", out.len, 0);
		free(mp);
	}
	if (rc == SGT_OK) {
		shared_free(sh.v, sh.n);
		sh.v = cur;
		sh.n = ncur;
		cur = NULL;
		ncur = 0;
	}
out:
	if (r != NULL)
		pq->clear(r);
	shared_free(old, nold);
	shared_free(cur, ncur);
	sgt_buf_free(&raw);
	sgt_buf_free(&out);
	return rc;
}

/*
 * After a COMMIT that carried files people write (store put): this host's
 * copies of them are the database's now, so the manifest says so; were
 * this not written (cut off here), the next sync finds them equal to the
 * database's and notes them then.
 */
static void shared_committed(void)
{
	struct sgt_buf out = { 0 };
	size_t i, j;
	char *mp;
	int rc = SGT_OK;

	if (sh.npushed == 0 || db.dir == NULL)
		return;
	for (i = 0; i < sh.npushed && rc == SGT_OK; i++) {
		for (j = 0; j < sh.n && strcmp(sh.v[j].path, sh.pushed[i].path) != 0; j++)
			;
		if (j < sh.n)
			memcpy(sh.v[j].hex, sh.pushed[i].hex, sizeof(sh.v[j].hex));
		else
			rc = shared_add(&sh.v, &sh.n, sh.pushed[i].path, sh.pushed[i].hex);
	}
	for (i = 0; i < sh.n && rc == SGT_OK; i++)
		rc = sgt_buf_printf(&out, "%s  %s\n", sh.v[i].hex, sh.v[i].path);
	if (rc == SGT_OK && (mp = path_in(db.dir, SHARED_MANIFEST)) != NULL) {
		if (sgt_atomic_write(mp, out.p ? out.p : "", out.len, 0) != SGT_OK)
			sgt_warn("the shared files were committed; this host notes them at its next command");
		free(mp);
	}
	sgt_buf_free(&out);
}

int sgt_db_shared_read(const char *path)
{
	size_t dl;
	const char *rel;

	if (db.dir == NULL || db.conn == NULL)
		return SGT_OK;	/* a file store: each file is the store's */
	dl = strlen(db.dir);
	if (strncmp(path, db.dir, dl) != 0 || path[dl] != '/')
		return SGT_OK;
	rel = path + dl + 1;
	if (sgt_store_file_kind(rel) != SGT_FILE_PEOPLE || shared_find(sh.v, sh.n, rel) != NULL || shared_kept(rel) ||
	    access(path, F_OK) != 0)
		return SGT_OK;
	return sgt_err(SGT_ERR_DATA, "%s on this host was never shared: 'signet store put %s' shares it with every "
		       "host (or remove it)", rel, rel);
}

/* BEGIN; the head row (locked when exclusive); the copy synced.  Retried on serialization failures. */
static int begin_and_sync(const char *dir, int exclusive)
{
	int attempt, rc = SGT_ERR_DATA, retry = 0;

	for (attempt = 0; attempt < 20; attempt++) {
		PGresult *r = NULL;
		int v;

		const char *begin = exclusive ? "BEGIN ISOLATION LEVEL READ COMMITTED" : "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

		/* A connection that died between transactions (the server restarted, a standby promoted) is made again once. */
		sgt_silent++;
		rc = exclusive && !db.writer ? q(WRITER_LOCK, 0, NULL, NULL, 0, NULL, &retry) : SGT_OK;
		rc = rc ? rc : q(begin, 0, NULL, NULL, 0, NULL, &retry);
		sgt_silent--;
		if (rc != SGT_OK && !retry) {
			/* libpq may still call a connection the server closed good: a new one, in any case */
			pq->finish(db.conn);
			db.conn = NULL;
			if ((rc = connect_db(db.conninfo)) != SGT_OK)
				return rc;
			rc = exclusive ? q(WRITER_LOCK, 0, NULL, NULL, 0, NULL, &retry) : SGT_OK;
			rc = rc ? rc : q(begin, 0, NULL, NULL, 0, NULL, &retry);
		}
		if (rc == SGT_OK && exclusive)
			db.writer = 1;
		if (rc == SGT_OK && (rc = schema_version(&v)) == SGT_OK && v != SCHEMA_VERSION) {
			if (v == 0)
				rc = sgt_err(SGT_ERR_DATA, "database %s holds no signet store", db.name);
			else if (v > SCHEMA_VERSION || exclusive)
				rc = migrate_schema(v);	/* refuses a newer one; a writer brings an older one up */
			else
				rc = sgt_err(SGT_ERR_DATA, "database %s holds schema version %d; the next state-changing command "
					     "migrates it to %d", db.name, v, SCHEMA_VERSION);
		}
		if (rc == SGT_OK)
			rc = q(exclusive ? "SELECT seq, head FROM signet_head WHERE id = 1 FOR UPDATE"
					 : "SELECT seq, head FROM signet_head WHERE id = 1",
			       0, NULL, NULL, 1, &r, &retry);
		if (rc == SGT_OK) {
			rc = sync_copy(dir, col_int8(r, 0, 0), pq->getvalue(r, 0, 1), (size_t)pq->getlength(r, 0, 1), 0);
			pq->clear(r);
			rc = rc ? rc : shared_sync(dir, &retry);
		}
		if (rc == SGT_OK) {
			db.in_tx = 1;
			return SGT_OK;
		}
		rollback();
		if (!retry)
			return rc;
	}
	return sgt_err(SGT_ERR_DATA, "database %s: gave up after %d serialization failures", db.name, attempt);
}

int sgt_db_lock(struct sgt_store *st, int exclusive)
{
	int rc;

	if (db.in_tx)
		return SGT_OK;
	free(db.dir);
	free(db.host);
	db.dir = strdup(st->dir);
	db.host = strdup(st->cfg.db_host);
	if (db.dir == NULL || db.host == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	if ((rc = connect_db(st->cfg.db_conninfo)) != SGT_OK)
		return rc;
	if (exclusive)
		return begin_and_sync(st->dir, 1);
	/* A reader: the copy is written under a brief exclusive flock, then the lock is lowered again. */
	if (st->lock_fd < 0) {	/* a read-only store without a lock file: its copy can only be read */
		rc = begin_and_sync(st->dir, 0);
		rollback();
		return rc;
	}
	while (flock(st->lock_fd, LOCK_EX) != 0)
		if (errno != EINTR)
			return sgt_err(SGT_ERR_DATA, "cannot lock the store '%s': %s", st->dir, strerror(errno));
	rc = begin_and_sync(st->dir, 0);
	rollback();
	while (flock(st->lock_fd, LOCK_SH) != 0)
		if (errno != EINTR)
			return sgt_err(SGT_ERR_DATA, "cannot lock the store '%s': %s", st->dir, strerror(errno));
	return rc;
}

void sgt_db_unlock(void)
{
	if (db.in_tx)
		rollback();
	sgt_db_done();
}

void sgt_db_done(void)
{
	if (db.writer && !db.in_tx && db.conn != NULL) {
		sgt_silent++;
		(void)exec(WRITER_UNLOCK);
		sgt_silent--;
	}
	db.writer = 0;
}

int sgt_db_ready(const struct sgt_store *st)
{
	if (st->cfg.db_conninfo == NULL || db.in_tx)
		return SGT_OK;
	if (db.dir == NULL || strcmp(db.dir, st->dir) != 0)
		return sgt_err(SGT_ERR_DATA, "internal error: store '%s' is not locked in its database", st->dir);
	return begin_and_sync(st->dir, 1);
}

/* The store files rec's intent names: rel path and staged (or final) content, upserted at seq. */
static int push_files(json_t *rec, long long seq)
{
	json_t *intent = json_object_get(rec, "intent"), *files = json_object_get(intent, "files"), *f;
	const char *id = json_string_value(json_object_get(intent, "id"));
	size_t i, dl = strlen(db.dir);
	char sbuf[32];
	int rc = SGT_OK;

	json_array_foreach(files, i, f) {
		const char *final = json_string_value(f);
		const char *rel, *vals[4];
		int lens[4] = { -1, 0, -1, -1 };
		char tmp[PATH_MAX];
		unsigned char *data = NULL;
		size_t len = 0;

		if (final == NULL || strncmp(final, db.dir, dl) != 0 || final[dl] != '/')
			continue;	/* a user output, this host's alone */
		rel = final + dl + 1;
		if (host_local(rel))
			continue;
		snprintf(tmp, sizeof(tmp), "%s.signet-%s.tmp", final, id ? id : "");
		if (id == NULL || access(tmp, F_OK) != 0)
			snprintf(tmp, sizeof(tmp), "%s", final);
		if ((rc = sgt_file_read(tmp, (size_t)1 << 30, &data, &len)) != SGT_OK)
			break;
		vals[0] = rel;
		vals[1] = (const char *)data;
		lens[1] = (int)len;
		vals[2] = llstr(seq, sbuf);
		vals[3] = db.host;
		rc = q("INSERT INTO signet_files (path, content, seq, host) VALUES ($1, $2, $3::bigint, $4) "
		       "ON CONFLICT (path) DO UPDATE SET content = EXCLUDED.content, seq = EXCLUDED.seq, host = EXCLUDED.host",
		       4, vals, lens, 0, NULL, NULL);
		if (rc == SGT_OK && sgt_store_file_kind(rel) == SGT_FILE_PEOPLE) {
			char hex[65];

			sgt_sha256_hex(data, len, hex);
			rc = shared_add(&sh.pushed, &sh.npushed, rel, hex);	/* this host's copy is the database's once committed */
		}
		free(data);
		if (rc != SGT_OK)
			break;
	}
	return rc;
}

int sgt_db_commit(const char *lines, size_t len, long long first, const char *head, size_t headlen, json_t *recs)
{
	const char *p = lines, *end = lines + len, *vals[3];
	int lens[3] = { -1, 0, -1 };
	char sbuf[32];
	long long seq = first;
	size_t i = 0;
	int rc = SGT_OK;

	if (!db.in_tx)
		return sgt_err(SGT_ERR_DATA, "internal error: no database transaction holds the audit head");
	sgt_sig_hold();
	while (p < end && rc == SGT_OK) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

		vals[0] = llstr(seq, sbuf);
		vals[1] = p;
		lens[1] = (int)n;
		vals[2] = db.host;
		rc = q("INSERT INTO signet_audit (seq, record, host) VALUES ($1::bigint, $2, $3)", 3, vals, lens, 0, NULL, NULL);
		if (rc == SGT_OK)
			rc = push_files(json_array_get(recs, i), seq);
		p += n + 1;
		seq++;
		i++;
	}
	seq--;
	if (rc == SGT_OK) {
		vals[0] = llstr(seq, sbuf);
		vals[1] = head;
		lens[1] = (int)headlen;
		rc = q("UPDATE signet_head SET seq = $1::bigint, head = $2 WHERE id = 1", 2, vals, lens, 0, NULL, NULL);
	}
	if (rc == SGT_OK)
		rc = q("INSERT INTO signet_heads (seq, head, host) VALUES ($1::bigint, $2, $3)", 3, vals, lens, 0, NULL, NULL);
	if (rc == SGT_OK && db.reg_module != NULL) {
		const char *hv[3] = { db.host, db.reg_module, db.reg_token };

		rc = q("INSERT INTO signet_hosts (name, module, token) VALUES ($1, $2, $3)", 3, hv, NULL, 0, NULL, NULL);
	}
	if (rc == SGT_OK)
		rc = exec("COMMIT");
	if (rc == SGT_OK)
		shared_committed();
	shared_free(sh.pushed, sh.npushed);
	sh.pushed = NULL;
	sh.npushed = 0;
	if (rc == SGT_OK && db.reg_module != NULL) {
		free(db.reg_module);
		free(db.reg_token);
		db.reg_module = db.reg_token = NULL;
	}
	/*
	 * A COMMIT whose answer was lost may or may not have happened; the next
	 * command's copy tells (it is refused as ahead of the database only if
	 * the records were lost, and this host wrote none of them).
	 */
	if (rc != SGT_OK) {
		rollback();
		sgt_hint("nothing of this command was recorded; its outputs were not put in place");
	}
	db.in_tx = 0;
	sgt_sig_release();
	return rc;
}

/* -- init --db, --join ---------------------------------------------------------------------- */

int sgt_db_create(const char *conninfo, const char *host, const char *module, const char *token, int join)
{
	const char *vals[1] = { host };
	PGresult *r;
	int rc, v, fresh = 0;

	if ((rc = connect_db(conninfo)) != SGT_OK)
		return rc;
	if ((rc = exec("BEGIN ISOLATION LEVEL SERIALIZABLE")) != SGT_OK)
		return rc;
	if ((rc = schema_state(&v, &fresh)) != SGT_OK)
		goto out;
	if (!join && v != 0 && !fresh) {
		rc = sgt_err(SGT_ERR_DATA, "database %s holds a signet store already; refusing to make another", db.name);
		sgt_hint("'signet init --db CONNINFO --join' attaches this host to it");
		goto out;
	}
	if (join && (v == 0 || fresh)) {
		rc = sgt_err(SGT_ERR_DATA, "database %s holds no signet store to join", db.name);
		sgt_hint("'signet init --db CONNINFO' without --join creates one");
		goto out;
	}
	if ((rc = migrate_schema(v)) != SGT_OK)
		goto out;
	if ((rc = q("SELECT 1 FROM signet_hosts WHERE name = $1", 1, vals, NULL, 0, &r, NULL)) != SGT_OK)
		goto out;
	v = pq->ntuples(r);
	pq->clear(r);
	if (v > 0) {
		rc = sgt_err(SGT_ERR_DATA, "host '%s' is in database %s already; each host needs a name of its own", host,
			     db.name);
		sgt_hint("--host NAME names this host");
		goto out;
	}
	rc = exec("COMMIT");
	/* the host is registered by the commit of its first record (init or host.join) */
	free(db.reg_module);
	free(db.reg_token);
	db.reg_module = strdup(module);
	db.reg_token = strdup(token);
	if (rc == SGT_OK && (db.reg_module == NULL || db.reg_token == NULL))
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
out:
	if (rc != SGT_OK)
		rollback();
	return rc;
}

/* -- audit verify: every head --------------------------------------------------------------- */

int sgt_db_verify_heads(void *pub_evp, long long *n)
{
	EVP_PKEY *pub = pub_evp;
	PGresult *r;
	int rc, i, rows;

	*n = 0;
	if (db.conn == NULL)
		return SGT_OK;
	if ((rc = q("SELECT seq, head, encode(sha256(a.record), 'hex') FROM signet_heads h JOIN signet_audit a USING (seq) "
		    "ORDER BY seq", 0, NULL, NULL, 0, &r, NULL)) != SGT_OK)
		return rc;
	rows = pq->ntuples(r);
	for (i = 0; i < rows && rc == SGT_OK; i++) {
		const char *seq = pq->getvalue(r, i, 0), *hex = pq->getvalue(r, i, 1), *rech = pq->getvalue(r, i, 2);
		unsigned char *head = NULL;
		size_t hl = strlen(hex) / 2 - 1, k;
		char *text, *l2, hash[65], sig[800], msg[256];
		long long sseq;

		/* bytea in text form: \x... */
		if ((head = malloc(hl + 1)) == NULL)
			return sgt_err(SGT_ERR_DATA, "out of memory");
		for (k = 0; k < hl; k++)
			sscanf(hex + 2 + 2 * k, "%2hhx", &head[k]);
		head[hl] = '\0';
		text = (char *)head;
		if (strncmp(text, rech, 64) != 0) {
			rc = sgt_err(SGT_ERR_VERDICT, "database %s: the head kept at record %s does not name that record", db.name, seq);
		} else if ((l2 = strchr(text, '\n')) != NULL && sscanf(l2 + 1, "signed %lld %64s %799s", &sseq, hash, sig) == 3) {
			unsigned char *s = NULL;
			size_t sl = 0, ml = 0;
			EVP_MD_CTX *md = EVP_MD_CTX_new();
			int ok = 0;

			ml = (size_t)snprintf(msg, sizeof(msg), "signet audit head v1\nseq %lld\nhash %s\n", sseq, hash);
			if (sgt_unbase64(sig, strlen(sig), &s, &sl) == SGT_OK && md != NULL &&
			    EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub) == 1 &&
			    EVP_DigestVerify(md, s, sl, (const unsigned char *)msg, ml) == 1)
				ok = 1;
			EVP_MD_CTX_free(md);
			free(s);
			if (!ok)
				rc = sgt_err(SGT_ERR_VERDICT, "database %s: the head signature kept at record %s does not verify "
					     "with audit.pub", db.name, seq);
			else
				(*n)++;
		}
		free(head);
	}
	pq->clear(r);
	return rc;
}

/* -- store migrate ---------------------------------------------------------------------------- */

/*
 * Every store file of dir (host-local ones aside) into signet_files, in
 * the open SQL transaction: at seq and with no host, or, for a file files
 * names (a backup's signet-db/files.jsonl: path -> {seq, host}), as it was.
 */
struct walk {
	const char *dir;
	json_t *files;
	long long seq;
	int rc;
};
static struct walk *walking;

static int walk_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	const char *rel = path + strlen(walking->dir) + 1, *vals[4];
	int lens[4] = { -1, 0, -1, -1 };
	unsigned char *data = NULL;
	size_t len = 0;
	char sbuf[32];
	json_t *f, *fseq;

	(void)sb;
	(void)ftw;
	if (type != FTW_F || strlen(path) <= strlen(walking->dir) || host_local(rel))
		return 0;
	if ((walking->rc = sgt_file_read(path, (size_t)1 << 30, &data, &len)) != SGT_OK)
		return 1;
	f = walking->files ? json_object_get(walking->files, rel) : NULL;
	fseq = json_object_get(f, "seq");
	vals[0] = rel;
	vals[1] = (const char *)data;
	lens[1] = (int)len;
	vals[2] = llstr(json_is_integer(fseq) ? (long long)json_integer_value(fseq) : walking->seq, sbuf);
	vals[3] = json_string_value(json_object_get(f, "host")) ? json_string_value(json_object_get(f, "host")) : "";
	walking->rc = q("INSERT INTO signet_files (path, content, seq, host) VALUES ($1, $2, $3::bigint, $4)", 4, vals, lens,
			0, NULL, NULL);
	free(data);
	return walking->rc != SGT_OK;
}

static int files_from_dir(const char *dir, json_t *files, long long seq)
{
	struct walk w = { dir, files, seq, SGT_OK };

	walking = &w;
	if (nftw(dir, walk_one, 16, FTW_PHYS) != 0 && w.rc == SGT_OK)
		w.rc = sgt_err(SGT_ERR_DATA, "cannot read '%s': %s", dir, strerror(errno));
	walking = NULL;
	return w.rc;
}

int sgt_db_migrate_to_db(const struct sgt_store *st, const char *conninfo, const char *host)
{
	char *logp = path_in(st->dir, "audit.log"), *headp = path_in(st->dir, "audit.head");
	unsigned char *log = NULL, *head = NULL;
	size_t loglen = 0, headlen = 0, off = 0;
	long long seq = 0;
	char sbuf[32];
	const char *vals[3];
	int lens[3] = { -1, 0, -1 };
	int rc, v;

	(void)host;
	if (logp == NULL || headp == NULL) {
		rc = SGT_ERR_DATA;
		goto done;
	}
	if ((rc = sgt_file_read(logp, (size_t)1 << 32, &log, &loglen)) != SGT_OK ||
	    (rc = sgt_file_read(headp, 65536, &head, &headlen)) != SGT_OK)
		goto done;
	if ((rc = connect_db(conninfo)) != SGT_OK || (rc = exec("BEGIN ISOLATION LEVEL SERIALIZABLE")) != SGT_OK)
		goto done;
	if ((rc = schema_version(&v)) != SGT_OK)
		goto out;
	if (v != 0) {
		rc = sgt_err(SGT_ERR_DATA, "database %s holds a signet store already; refusing to move '%s' into it", db.name,
			     st->dir);
		goto out;
	}
	if ((rc = migrate_schema(0)) != SGT_OK)
		goto out;
	/* every record, byte for byte, at its own seq */
	while (off < loglen && rc == SGT_OK) {
		const unsigned char *nl = memchr(log + off, '\n', loglen - off);
		size_t n = nl ? (size_t)(nl - (log + off)) : loglen - off;
		json_t *j = json_loadb((const char *)log + off, n, 0, NULL);

		if (nl == NULL || j == NULL || !json_is_integer(json_object_get(j, "seq")) ||
		    json_integer_value(json_object_get(j, "seq")) != seq + 1) {
			json_decref(j);
			rc = sgt_err(SGT_ERR_DATA, "'%s': record %lld is not a complete record in sequence; run 'signet audit verify'",
				     logp, seq + 1);
			break;
		}
		json_decref(j);
		seq++;
		vals[0] = llstr(seq, sbuf);
		vals[1] = (const char *)log + off;
		lens[1] = (int)n;
		vals[2] = "";
		rc = q("INSERT INTO signet_audit (seq, record, host) VALUES ($1::bigint, $2, $3)", 3, vals, lens, 0, NULL, NULL);
		off += n + 1;
	}
	if (rc != SGT_OK)
		goto out;
	vals[0] = llstr(seq, sbuf);
	vals[1] = (const char *)head;
	lens[1] = (int)headlen;
	vals[2] = "";
	if ((rc = q("UPDATE signet_head SET seq = $1::bigint, head = $2 WHERE id = 1", 2, vals, lens, 0, NULL, NULL)) != SGT_OK ||
	    (rc = q("INSERT INTO signet_heads (seq, head, host) VALUES ($1::bigint, $2, $3)", 3, vals, lens, 0, NULL, NULL)) !=
		    SGT_OK)
		goto out;
	if ((rc = files_from_dir(st->dir, NULL, seq)) != SGT_OK)
		goto out;
	rc = exec("COMMIT");
out:
	if (rc != SGT_OK)
		rollback();
done:
	free(log);
	free(head);
	free(logp);
	free(headp);
	return rc;
}

/* Writes the database's files and chain as a file store's into dir (which exists, empty, ours): sync_copy from seq 0. */
int sgt_db_migrate_to_dir(const struct sgt_store *st, const char *dir)
{
	PGresult *r = NULL;
	int rc;

	if ((rc = connect_db(st->cfg.db_conninfo)) != SGT_OK)
		return rc;
	if (!db.in_tx && (rc = begin_and_sync(st->dir, 1)) != SGT_OK)
		return rc;
	if ((rc = q("SELECT seq, head FROM signet_head WHERE id = 1", 0, NULL, NULL, 1, &r, NULL)) != SGT_OK)
		return rc;
	rc = sync_copy(dir, col_int8(r, 0, 0), pq->getvalue(r, 0, 1), (size_t)pq->getlength(r, 0, 1), 1);
	pq->clear(r);
	return rc;
}

/* -- backup and restore ----------------------------------------------------------------------- */

static int snap_add(struct sgt_db_file **v, size_t *n, size_t *cap, const char *path, size_t plen, const void *data,
		    size_t len)
{
	struct sgt_db_file *f;

	if (*n == *cap) {
		size_t nc = *cap ? 2 * *cap : 64;
		struct sgt_db_file *nv = realloc(*v, nc * sizeof(**v));

		if (nv == NULL)
			return sgt_err(SGT_ERR_DATA, "out of memory");
		*v = nv;
		*cap = nc;
	}
	f = &(*v)[*n];
	f->path = strndup(path, plen);
	f->data = malloc(len ? len : 1);
	f->len = len;
	if (f->path == NULL || f->data == NULL) {
		free(f->path);
		free(f->data);
		return sgt_err(SGT_ERR_DATA, "out of memory");
	}
	memcpy(f->data, data, len);
	(*n)++;
	return SGT_OK;
}

void sgt_db_files_free(struct sgt_db_file *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(v[i].path);
		free(v[i].data);
	}
	free(v);
}

/* One JSON line (compact, keys in order) appended to b; j is taken. */
static int jsonl_add(struct sgt_buf *b, json_t *j)
{
	return sgt_buf_json(b, j, JSON_COMPACT | JSON_PRESERVE_ORDER);
}

/* A text column of a binary-format result, as a JSON string (NULL: null). */
static json_t *col_str(PGresult *r, int row, int col)
{
	return pq->getisnull(r, row, col) ? json_null()
					 : json_stringn(pq->getvalue(r, row, col), (size_t)pq->getlength(r, row, col));
}

int sgt_db_snapshot(struct sgt_db_file **out, size_t *nout, long long *records)
{
	struct sgt_buf log = { 0 }, meta[4] = { { 0 } };
	static const char *const metaname[4] = { "signet-db/audit.jsonl", "signet-db/heads.jsonl", "signet-db/files.jsonl",
						 "signet-db/hosts.jsonl" };
	struct sgt_db_file *v = NULL;
	size_t n = 0, cap = 0;
	PGresult *r = NULL;
	int rc, i, rows, k;

	*out = NULL;
	*nout = 0;
	*records = 0;
	if (!db.in_tx)
		return sgt_err(SGT_ERR_DATA, "internal error: the database's store is read for a backup without its head row");
	/* the head row is locked (every writer locks it first): these reads see one state of the store */
	if ((rc = q("SELECT path, content, seq::text, host FROM signet_files ORDER BY path", 0, NULL, NULL, 1, &r, NULL)) !=
	    SGT_OK)
		goto out;
	rows = pq->ntuples(r);
	for (i = 0; i < rows && rc == SGT_OK; i++) {
		char rel[PATH_MAX];

		snprintf(rel, sizeof(rel), "%.*s", pq->getlength(r, i, 0), pq->getvalue(r, i, 0));
		if (host_local(rel) || rel[0] == '/') {
			rc = sgt_err(SGT_ERR_DATA, "database %s names a store file '%s' that no host takes from it", db.name, rel);
			break;
		}
		rc = snap_add(&v, &n, &cap, rel, strlen(rel), pq->getvalue(r, i, 1), (size_t)pq->getlength(r, i, 1));
		rc = rc ? rc
			: jsonl_add(&meta[2], json_pack("{s:o, s:I, s:o}", "path", col_str(r, i, 0), "seq",
						       (json_int_t)strtoll(pq->getvalue(r, i, 2), NULL, 10), "host",
						       col_str(r, i, 3)));
	}
	pq->clear(r);
	r = NULL;
	if (rc != SGT_OK)
		goto out;
	if ((rc = q("SELECT record, seq::text, host, committed::text FROM signet_audit a ORDER BY a.seq", 0, NULL, NULL, 1, &r,
		    NULL)) != SGT_OK)
		goto out;
	rows = pq->ntuples(r);
	for (i = 0; i < rows && rc == SGT_OK; i++) {
		long long seq = strtoll(pq->getvalue(r, i, 1), NULL, 10);

		if (seq != (long long)i + 1) {
			rc = sgt_err(SGT_ERR_DATA, "database %s: record %lld follows record %d; refusing to back up a broken chain",
				     db.name, seq, i);
			break;
		}
		rc = sgt_buf_add(&log, pq->getvalue(r, i, 0), (size_t)pq->getlength(r, i, 0));
		rc = rc ? rc : sgt_buf_add(&log, "\n", 1);
		rc = rc ? rc
			: jsonl_add(&meta[0], json_pack("{s:I, s:o, s:o}", "seq", (json_int_t)seq, "host", col_str(r, i, 2),
						       "committed", col_str(r, i, 3)));
	}
	*records = rows;
	pq->clear(r);
	r = NULL;
	if (rc != SGT_OK || (rc = snap_add(&v, &n, &cap, "audit.log", 9, log.p ? log.p : "", log.len)) != SGT_OK)
		goto out;
	if ((rc = q("SELECT seq::text, head, host FROM signet_heads h ORDER BY h.seq", 0, NULL, NULL, 1, &r, NULL)) != SGT_OK)
		goto out;
	rows = pq->ntuples(r);
	for (i = 0; i < rows && rc == SGT_OK; i++) {
		size_t hl = (size_t)pq->getlength(r, i, 1);
		char *hex = malloc(2 * hl + 1);

		if (hex == NULL) {
			rc = sgt_err(SGT_ERR_DATA, "out of memory");
			break;
		}
		sgt_hex((const unsigned char *)pq->getvalue(r, i, 1), hl, hex);
		rc = jsonl_add(&meta[1], json_pack("{s:I, s:s, s:o}", "seq", (json_int_t)strtoll(pq->getvalue(r, i, 0), NULL, 10),
						   "head", hex, "host", col_str(r, i, 2)));
		free(hex);
	}
	pq->clear(r);
	r = NULL;
	if (rc != SGT_OK)
		goto out;
	if ((rc = q("SELECT name, joined::text, module, token FROM signet_hosts ORDER BY name", 0, NULL, NULL, 1, &r, NULL)) !=
	    SGT_OK)
		goto out;
	rows = pq->ntuples(r);
	for (i = 0; i < rows && rc == SGT_OK; i++)
		rc = jsonl_add(&meta[3], json_pack("{s:o, s:o, s:o, s:o}", "name", col_str(r, i, 0), "joined", col_str(r, i, 1),
						   "module", col_str(r, i, 2), "token", col_str(r, i, 3)));
	pq->clear(r);
	r = NULL;
	if (rc != SGT_OK)
		goto out;
	if ((rc = q("SELECT head FROM signet_head WHERE id = 1", 0, NULL, NULL, 1, &r, NULL)) != SGT_OK)
		goto out;
	rc = snap_add(&v, &n, &cap, "audit.head", 10, pq->getvalue(r, 0, 0), (size_t)pq->getlength(r, 0, 0));
	pq->clear(r);
	r = NULL;
	for (k = 0; k < 4 && rc == SGT_OK; k++)
		rc = snap_add(&v, &n, &cap, metaname[k], strlen(metaname[k]), meta[k].p ? meta[k].p : "", meta[k].len);
out:
	if (r != NULL)
		pq->clear(r);
	sgt_buf_free(&log);
	for (k = 0; k < 4; k++)
		sgt_buf_free(&meta[k]);
	if (rc != SGT_OK) {
		sgt_db_files_free(v, n);
		return rc;
	}
	*out = v;
	*nout = n;
	return SGT_OK;
}

/* One JSON line of a signet-db/ JSON lines text: the next, or NULL at the end (*pos moves on). */
static json_t *jsonl_next(const char *text, size_t len, size_t *pos)
{
	const char *p, *nl;
	json_t *j;

	while (*pos < len) {
		p = text + *pos;
		nl = memchr(p, '\n', len - *pos);
		*pos = nl ? (size_t)(nl - text) + 1 : len;
		if ((j = json_loadb(p, nl ? (size_t)(nl - p) : (size_t)(text + len - p), 0, NULL)) != NULL)
			return j;
	}
	return NULL;
}

int sgt_db_restore_begin(const char *conninfo, const char *dir, const char *host, const char *module, const char *token,
			 const struct sgt_db_file *meta, size_t nmeta)
{
	char *logp = path_in(dir, "audit.log"), *headp = path_in(dir, "audit.head"), sbuf[32];
	unsigned char *log = NULL, *head = NULL;
	size_t loglen = 0, headlen = 0, off = 0, pos, i;
	const struct sgt_db_file *m_audit = NULL, *m_heads = NULL, *m_files = NULL, *m_hosts = NULL;
	json_t *files = json_object(), *j = NULL;
	long long seq = 0;
	const char *vals[4];
	int lens[4] = { -1, 0, -1, -1 }, rc, v, fresh = 0;
	PGresult *r;

	for (i = 0; i < nmeta; i++) {
		if (strcmp(meta[i].path, "signet-db/audit.jsonl") == 0)
			m_audit = &meta[i];
		else if (strcmp(meta[i].path, "signet-db/heads.jsonl") == 0)
			m_heads = &meta[i];
		else if (strcmp(meta[i].path, "signet-db/files.jsonl") == 0)
			m_files = &meta[i];
		else if (strcmp(meta[i].path, "signet-db/hosts.jsonl") == 0)
			m_hosts = &meta[i];
	}
	if (logp == NULL || headp == NULL || files == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto done;
	}
	if ((rc = sgt_file_read(logp, (size_t)1 << 32, &log, &loglen)) != SGT_OK ||
	    (rc = sgt_file_read(headp, 65536, &head, &headlen)) != SGT_OK)
		goto done;
	if ((rc = connect_db(conninfo)) != SGT_OK || (rc = exec("BEGIN ISOLATION LEVEL SERIALIZABLE")) != SGT_OK)
		goto done;
	if ((rc = schema_state(&v, &fresh)) != SGT_OK)
		goto out;
	if (v != 0 && !fresh) {
		rc = sgt_err(SGT_ERR_DATA, "database %s holds a signet store already; refusing to restore into it", db.name);
		sgt_hint("restore into an empty database (CREATE DATABASE ...), or into a directory without --db");
		goto out;
	}
	if ((rc = migrate_schema(v)) != SGT_OK)
		goto out;
	/* every record, byte for byte, at its own seq, with the host and time it was committed at */
	pos = 0;
	j = m_audit ? jsonl_next((const char *)m_audit->data, m_audit->len, &pos) : NULL;
	while (off < loglen && rc == SGT_OK) {
		const unsigned char *nl = memchr(log + off, '\n', loglen - off);
		size_t n = nl ? (size_t)(nl - (log + off)) : loglen - off;
		json_t *rec = json_loadb((const char *)log + off, n, 0, NULL);

		if (nl == NULL || rec == NULL || !json_is_integer(json_object_get(rec, "seq")) ||
		    json_integer_value(json_object_get(rec, "seq")) != seq + 1) {
			json_decref(rec);
			rc = sgt_err(SGT_ERR_DATA, "'%s': record %lld is not a complete record in sequence", logp, seq + 1);
			break;
		}
		json_decref(rec);
		seq++;
		while (j != NULL && json_integer_value(json_object_get(j, "seq")) < seq) {
			json_decref(j);
			j = m_audit ? jsonl_next((const char *)m_audit->data, m_audit->len, &pos) : NULL;
		}
		vals[0] = llstr(seq, sbuf);
		vals[1] = (const char *)log + off;
		lens[1] = (int)n;
		vals[2] = "";
		vals[3] = NULL;
		if (j != NULL && json_integer_value(json_object_get(j, "seq")) == seq) {
			if (json_string_value(json_object_get(j, "host")) != NULL)
				vals[2] = json_string_value(json_object_get(j, "host"));
			vals[3] = json_string_value(json_object_get(j, "committed"));
		}
		rc = q("INSERT INTO signet_audit (seq, record, host, committed) VALUES ($1::bigint, $2, $3, "
		       "coalesce($4::timestamptz, now()))", 4, vals, lens, 0, NULL, NULL);
		off += n + 1;
	}
	json_decref(j);
	j = NULL;
	if (rc != SGT_OK)
		goto out;
	/* the head; every head the database kept (audit verify checks each signature) */
	vals[0] = llstr(seq, sbuf);
	vals[1] = (const char *)head;
	lens[1] = (int)headlen;
	vals[2] = "";
	if ((rc = q("UPDATE signet_head SET seq = $1::bigint, head = $2 WHERE id = 1", 2, vals, lens, 0, NULL, NULL)) != SGT_OK)
		goto out;
	pos = 0;
	while (m_heads != NULL && rc == SGT_OK && (j = jsonl_next((const char *)m_heads->data, m_heads->len, &pos)) != NULL) {
		const char *hex = json_string_value(json_object_get(j, "head"));
		long long hs = json_integer_value(json_object_get(j, "seq"));
		unsigned char *hb;
		long hl;
		char hsb[32];

		if (hex == NULL || hs < 1 || hs > seq || (hb = malloc(strlen(hex) / 2 + 1)) == NULL) {
			json_decref(j);
			continue;	/* not one of the restored records' heads */
		}
		if ((hl = sgt_unhex(hex, hb, strlen(hex) / 2 + 1)) >= 0) {
			const char *hv[3] = { llstr(hs, hsb), (const char *)hb,
					      json_string_value(json_object_get(j, "host")) ? json_string_value(json_object_get(j, "host")) : "" };
			int hlen[3] = { -1, (int)hl, -1 };

			rc = q("INSERT INTO signet_heads (seq, head, host) VALUES ($1::bigint, $2, $3)", 3, hv, hlen, 0, NULL, NULL);
		}
		free(hb);
		json_decref(j);
	}
	j = NULL;
	if (rc != SGT_OK || (rc = q("INSERT INTO signet_heads (seq, head, host) VALUES ($1::bigint, $2, $3) ON CONFLICT (seq) "
				    "DO NOTHING", 3, vals, lens, 0, NULL, NULL)) != SGT_OK)
		goto out;
	/* the store files, each at the record and host that last wrote it */
	pos = 0;
	while (m_files != NULL && (j = jsonl_next((const char *)m_files->data, m_files->len, &pos)) != NULL) {
		if (json_string_value(json_object_get(j, "path")) != NULL)
			json_object_set(files, json_string_value(json_object_get(j, "path")), j);
		json_decref(j);
	}
	j = NULL;
	if ((rc = files_from_dir(dir, files, seq)) != SGT_OK)
		goto out;
	/* the hosts the store had: their names stay taken */
	pos = 0;
	while (m_hosts != NULL && rc == SGT_OK && (j = jsonl_next((const char *)m_hosts->data, m_hosts->len, &pos)) != NULL) {
		const char *hv[4] = { json_string_value(json_object_get(j, "name")), json_string_value(json_object_get(j, "joined")),
				      json_string_value(json_object_get(j, "module")), json_string_value(json_object_get(j, "token")) };

		if (hv[0] != NULL)
			rc = q("INSERT INTO signet_hosts (name, joined, module, token) VALUES ($1, coalesce($2::timestamptz, now()), "
			       "$3, $4)", 4, hv, NULL, 0, NULL, NULL);
		json_decref(j);
	}
	j = NULL;
	if (rc != SGT_OK)
		goto out;
	vals[0] = host;
	if ((rc = q("SELECT 1 FROM signet_hosts WHERE name = $1", 1, vals, NULL, 0, &r, NULL)) != SGT_OK)
		goto out;
	v = pq->ntuples(r);
	pq->clear(r);
	if (v > 0) {
		rc = sgt_err(SGT_ERR_DATA, "host '%s' is in the backup's store already; each host needs a name of its own", host);
		sgt_hint("--host NAME names this host");
		goto out;
	}
	/* The transaction stays open: the restore record commits with everything restored (sgt_db_commit). */
	free(db.dir);
	free(db.host);
	free(db.reg_module);
	free(db.reg_token);
	db.dir = strdup(dir);
	db.host = strdup(host);
	db.reg_module = strdup(module);
	db.reg_token = strdup(token);
	if (db.dir == NULL || db.host == NULL || db.reg_module == NULL || db.reg_token == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	db.in_tx = 1;
out:
	if (rc != SGT_OK)
		rollback();
done:
	json_decref(j);
	json_decref(files);
	free(log);
	free(head);
	free(logp);
	free(headp);
	return rc;
}

int sgt_db_restored(const char *conninfo, const char *host, const char *sha, long long *seq)
{
	const char *vals[2] = { host, sha };
	PGresult *r;
	int rc, v;

	*seq = 0;
	if ((rc = connect_db(conninfo)) != SGT_OK)
		return rc;
	if ((rc = schema_version(&v)) != SGT_OK || v == 0)
		return rc;
	if ((rc = q("SELECT seq::text FROM signet_audit WHERE host = $1 AND convert_from(record, 'UTF8')::json->>'op' = 'restore' "
		    "AND convert_from(record, 'UTF8')::json->'details'->>'archive_sha256' = $2 ORDER BY signet_audit.seq LIMIT 1",
		    2, vals, NULL, 0, &r, NULL)) != SGT_OK)
		return rc;
	if (pq->ntuples(r) == 1)
		*seq = strtoll(pq->getvalue(r, 0, 0), NULL, 10);
	pq->clear(r);
	return SGT_OK;
}
