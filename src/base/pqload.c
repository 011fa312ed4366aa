/*
 * pqload.c: the one libpq loader (pqload.h): dlopen of libpq.so.5 and a
 * dlsym per function, the first time a caller needs PostgreSQL.
 * Floor: base.  It calls nothing of signet's.
 */
#include <dlfcn.h>
#include <stddef.h>

#include "pqload.h"

static struct sgt_pq pq;
static void *pq_dl;

/* One pointer from dlsym (POSIX: a function pointer travels as void *); the symbol's name on failure. */
#define PQ_BIND(field, sym) ((*(void **)&pq.field = dlsym(dl, sym)) != NULL || ((missing = sym), 0))

int sgt_pq_load(const struct sgt_pq **out, const char **why)
{
	const char *missing = NULL;
	void *dl;

	*out = NULL;
	*why = NULL;
	if (pq_dl != NULL) {
		*out = &pq;
		return 0;
	}
	if ((dl = dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL)) == NULL) {
		*why = dlerror();
		return SGT_PQ_NOLIB;
	}
	if (!(PQ_BIND(conninfoParse, "PQconninfoParse") && PQ_BIND(conninfoFree, "PQconninfoFree") &&
	      PQ_BIND(freemem, "PQfreemem") && PQ_BIND(connectdb, "PQconnectdb") && PQ_BIND(status, "PQstatus") &&
	      PQ_BIND(errorMessage, "PQerrorMessage") && PQ_BIND(finish, "PQfinish") && PQ_BIND(exec, "PQexec") &&
	      PQ_BIND(execParams, "PQexecParams") && PQ_BIND(resultStatus, "PQresultStatus") &&
	      PQ_BIND(resultErrorMessage, "PQresultErrorMessage") && PQ_BIND(resultErrorField, "PQresultErrorField") &&
	      PQ_BIND(nfields, "PQnfields") && PQ_BIND(ntuples, "PQntuples") && PQ_BIND(getisnull, "PQgetisnull") &&
	      PQ_BIND(getvalue, "PQgetvalue") && PQ_BIND(getlength, "PQgetlength") && PQ_BIND(clear, "PQclear") &&
	      PQ_BIND(setNoticeProcessor, "PQsetNoticeProcessor"))) {
		dlclose(dl);
		*why = missing;
		return SGT_PQ_LACKS;
	}
	pq_dl = dl;
	*out = &pq;
	return 0;
}
