/*
 * pqload.h: libpq, loaded (dlopen) the first time signet speaks to
 * PostgreSQL: a database-backed store (dbstore.c) or a PostgreSQL fleet
 * source (fleet_source.c).  Linked in, libpq and the eighteen libraries it
 * pulls in (Kerberos, LDAP, SASL, GnuTLS...) were loaded by every command,
 * and every symbol the PKCS#11 module resolved when it was loaded was
 * looked up in all of them: a fifth of a one-image `signet sign`.  Without
 * libpq installed, only what needs PostgreSQL fails, and says so.
 * Floor: base (formats may use it).
 */
#ifndef SGT_PQLOAD_H
#define SGT_PQLOAD_H

#include <libpq-fe.h>

/* The libpq functions signet calls, each found by dlsym. */
struct sgt_pq {
	PQconninfoOption *(*conninfoParse)(const char *, char **);
	void (*conninfoFree)(PQconninfoOption *);
	void (*freemem)(void *);
	PGconn *(*connectdb)(const char *);
	ConnStatusType (*status)(const PGconn *);
	char *(*errorMessage)(const PGconn *);
	void (*finish)(PGconn *);
	PGresult *(*exec)(PGconn *, const char *);
	PGresult *(*execParams)(PGconn *, const char *, int, const Oid *, const char *const *, const int *,
				const int *, int);
	ExecStatusType (*resultStatus)(const PGresult *);
	char *(*resultErrorMessage)(const PGresult *);
	char *(*resultErrorField)(const PGresult *, int);
	int (*nfields)(const PGresult *);
	int (*ntuples)(const PGresult *);
	int (*getisnull)(const PGresult *, int, int);
	char *(*getvalue)(const PGresult *, int, int);
	int (*getlength)(const PGresult *, int, int);
	void (*clear)(PGresult *);
	PQnoticeProcessor (*setNoticeProcessor)(PGconn *, PQnoticeProcessor, void *);
};

#define SGT_PQ_NOLIB 1		/* libpq.so.5 could not be loaded: *why is dlerror()'s text */
#define SGT_PQ_LACKS 2		/* the libpq found lacks a function: *why is its name */

/*
 * *out: libpq's functions, loaded on the first call (once per process);
 * 0, or SGT_PQ_NOLIB / SGT_PQ_LACKS with *why (static text).  Reports
 * nothing itself: each caller names what needed PostgreSQL.
 */
int sgt_pq_load(const struct sgt_pq **out, const char **why);

#endif
