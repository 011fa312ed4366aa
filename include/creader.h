/*
 * creader.h: reading a C source or header as the compiler does, far
 * enough to say what a firmware build bakes in.  Comments, backslash
 * line splices, adjacent string literals (concatenated), escapes, and the
 * conditionals #if/#ifdef/#ifndef/#elif/#else/#endif are understood; #if
 * expressions are evaluated as the preprocessor does (integer literals with
 * suffixes, defined, every C operator, ?:, object-like macros the same file
 * defines, expanded recursively); what cannot be decided (a macro from
 * another file) is "conditional", never "compiled in".  The reader hands out
 * pieces (a decoded literal run, a run of 0xNN byte values, a comment's
 * text) with their state and the symbol they belong to.  It keeps no copy
 * of the file: memory is one literal run (capped) plus the macro table.
 */
#ifndef SGT_CREADER_H
#define SGT_CREADER_H

#include <stddef.h>

enum sgt_cstate {
	SGT_C_ACTIVE,		/* compiled in */
	SGT_C_COMMENT,		/* inside a comment */
	SGT_C_INACTIVE,		/* in an #if branch that is not compiled */
	SGT_C_CONDITIONAL,	/* in an #if branch the reader cannot decide */
	SGT_C_SUPERSEDED	/* a macro definition later #undef'd or redefined */
};

enum sgt_cpiece_kind { SGT_CPIECE_STRING, SGT_CPIECE_BYTES, SGT_CPIECE_COMMENT };

/* Maps an offset in a piece's data back to the file. */
struct sgt_cseg {
	size_t data_off, file_off;
};

struct sgt_cpiece {
	enum sgt_cpiece_kind kind;
	const unsigned char *data;	/* decoded bytes (no implied NUL), or comment text */
	size_t len;
	const struct sgt_cseg *segs;	/* sorted by data_off; segs[0].data_off == 0 */
	size_t nsegs;
	size_t file_off, file_end;	/* where the piece lies in the file */
	enum sgt_cstate state;
	const char *symbol;		/* macro or variable it belongs to, "" if none */
	unsigned def_id;		/* nonzero: the #define it is part of */
};

/* Called for each piece in file order; a negative return stops the scan and is returned. */
typedef int (*sgt_cpiece_fn)(void *arg, const struct sgt_cpiece *p);

struct sgt_creader;

/* A macro the build defines (-D NAME[=VALUE]) or leaves undefined (-U NAME). */
struct sgt_cdefine {
	const char *name;
	const char *value;	/* NULL: defined as 1; ignored when undefined */
	int undefined;
};

/*
 * Reads d[0..n) and calls fn for each piece.  *out (freed with
 * sgt_creader_free) answers questions about the whole file afterwards.
 * SGT_OK, fn's error, or SGT_ERR_DATA on out-of-memory.
 */
int sgt_creader_scan(const unsigned char *d, size_t n, sgt_cpiece_fn fn, void *arg, struct sgt_creader **out);
/* The same, with the build's -D / -U known first, so conditionals on them are decided. */
int sgt_creader_scan_with(const unsigned char *d, size_t n, const struct sgt_cdefine *defs, size_t ndefs,
			  sgt_cpiece_fn fn, void *arg, struct sgt_creader **out);
/* 1 when the definition def_id of macro symbol is still the one in force at the end of the file. */
int sgt_creader_def_live(const struct sgt_creader *r, const char *symbol, unsigned def_id);
/* The conditional state (ACTIVE, INACTIVE or CONDITIONAL) of the code at file offset off. */
enum sgt_cstate sgt_creader_state_at(const struct sgt_creader *r, size_t off);
/* 1 when off lies inside a string literal or comment the reader saw. */
int sgt_creader_in_token(const struct sgt_creader *r, size_t off);
void sgt_creader_free(struct sgt_creader *r);

const char *sgt_cstate_name(enum sgt_cstate s);

#endif
