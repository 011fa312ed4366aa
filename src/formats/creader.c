/*
 * creader.c: a forward-only reader of C text, enough of translation
 * phases 1-4 to tell what a build bakes in: splices, comments, string
 * and character literals, 0xNN byte runs, and the conditional directives
 * with a three-valued evaluator (true, false, cannot tell).  #if lines are
 * macro-expanded and evaluated as the preprocessor does (below), over the
 * object-like macros this file defines; it does not follow #include: a
 * condition on something defined elsewhere is "conditional".  One idiom is
 * decided: "#ifndef X" immediately followed by "#define X" (include guards,
 * and stock configs' "default unless defined" blocks) is taken as compiled
 * in, as it is on a first inclusion.  Each byte is looked at a bounded
 * number of times, and #if expansion has a budget for the whole file, so
 * time is linear in the file.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "creader.h"
#include "sgt.h"

#define RUN_MAX (4u * 1024u * 1024u)	/* literal run / byte run cap */
#define DIRECTIVE_MAX 4096		/* directive text kept for #if */
#define COND_MAX 256			/* nesting beyond this: conditional */
#define IDENT_MAX 128

struct macro {
	char *name;
	unsigned def_id;	/* definition in force, 0 when #undef'd */
	int unknown;		/* (re)defined or #undef'd in an undecided branch: not this file's to tell */
	int func;		/* function-like */
	char *body;		/* object-like replacement text, comments out; NULL when too long */
};

struct range {
	size_t a, b;
};

struct trans {
	size_t off;
	enum sgt_cstate st;
};

struct sgt_creader {
	struct macro *m;	/* open addressing, cap a power of two */
	size_t nm, capm;
	struct range *r;	/* literals/comments holding "-----BEGIN" */
	size_t nr, capr;
	struct trans *t;	/* effective conditional state changes */
	size_t nt, capt;
	size_t budget;		/* bytes #if expansion may still produce */
};

struct cond {
	signed char state;	/* 1 compiled, 0 not, -1 cannot tell */
	signed char taken;	/* a branch was taken: 1 yes, 0 no, -1 maybe, 2 surely (which one unknown) */
};

struct rd {
	const unsigned char *d;
	size_t n, i;
	struct sgt_creader *cr;
	sgt_cpiece_fn fn;
	void *arg;
	int rc;
	struct cond cs[COND_MAX];
	size_t depth, overflow;
	enum sgt_cstate eff;
	unsigned next_def;
	/* the current #define, if any */
	int in_define;
	char def_name[IDENT_MAX];
	unsigned def_id;
	/* declaration tracking */
	char cand[IDENT_MAX], decl[IDENT_MAX];
	int locked;
	long brace, lock_brace;
	/* open string run */
	struct sgt_buf run;
	struct sgt_cseg *segs;
	size_t nsegs, capsegs, run_off, run_end;
	enum sgt_cstate run_state;
	/* open byte run */
	struct sgt_buf bytes;
	size_t bytes_off, bytes_end;
	int bytes_comma;	/* last token was a comma */
};

const char *sgt_cstate_name(enum sgt_cstate s)
{
	switch (s) {
	case SGT_C_ACTIVE: return "compiled in";
	case SGT_C_COMMENT: return "in a comment: not compiled in";
	case SGT_C_INACTIVE: return "in an inactive #if branch: not compiled in";
	case SGT_C_CONDITIONAL: return "conditional: depends on a macro defined elsewhere";
	default: return "superseded: the macro is redefined or #undef'd later";
	}
}

/* ---- tables ---- */

static uint64_t hash_name(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

static struct macro *macro_find(const struct sgt_creader *cr, const char *name)
{
	size_t i;

	if (cr->capm == 0)
		return NULL;
	for (i = hash_name(name) & (cr->capm - 1); cr->m[i].name != NULL; i = (i + 1) & (cr->capm - 1))
		if (strcmp(cr->m[i].name, name) == 0)
			return &cr->m[i];
	return NULL;
}

static struct macro *macro_get(struct sgt_creader *cr, const char *name)
{
	struct macro *mc = macro_find(cr, name);
	size_t i;

	if (mc != NULL)
		return mc;
	if (2 * (cr->nm + 1) > cr->capm) {
		size_t cap = cr->capm ? 2 * cr->capm : 64, j;
		struct macro *nmv = calloc(cap, sizeof(*nmv));

		if (nmv == NULL)
			return NULL;
		for (j = 0; j < cr->capm; j++) {
			if (cr->m[j].name == NULL)
				continue;
			for (i = hash_name(cr->m[j].name) & (cap - 1); nmv[i].name != NULL; i = (i + 1) & (cap - 1))
				;
			nmv[i] = cr->m[j];
		}
		free(cr->m);
		cr->m = nmv;
		cr->capm = cap;
	}
	for (i = hash_name(name) & (cr->capm - 1); cr->m[i].name != NULL; i = (i + 1) & (cr->capm - 1))
		;
	if ((cr->m[i].name = strdup(name)) == NULL)
		return NULL;
	cr->nm++;
	return &cr->m[i];
}

static int grow(void **v, size_t *cap, size_t n, size_t size)
{
	void *nv;
	size_t c;

	if (n < *cap)
		return 0;
	c = *cap ? 2 * *cap : 16;
	if ((nv = realloc(*v, c * size)) == NULL)
		return -1;
	*v = nv;
	*cap = c;
	return 0;
}

static void oom(struct rd *r)
{
	if (r->rc == SGT_OK)
		r->rc = sgt_err(SGT_ERR_DATA, "out of memory");
}

/* Remembers a token range that holds PEM, so a plain-text scan can tell it was in a literal or comment. */
static void note_range(struct rd *r, size_t a, size_t b)
{
	struct sgt_creader *cr = r->cr;

	if (b - a < 11 || memmem(r->d + a, b - a, "-----BEGIN", 10) == NULL)
		return;
	if (grow((void **)&cr->r, &cr->capr, cr->nr, sizeof(*cr->r)) != 0) {
		oom(r);
		return;
	}
	cr->r[cr->nr].a = a;
	cr->r[cr->nr].b = b;
	cr->nr++;
}

static void set_eff(struct rd *r)
{
	enum sgt_cstate st = SGT_C_ACTIVE;
	size_t k;

	if (r->overflow)
		st = SGT_C_CONDITIONAL;
	for (k = 0; k < r->depth; k++) {
		if (r->cs[k].state == 0) {
			st = SGT_C_INACTIVE;
			break;
		}
		if (r->cs[k].state < 0)
			st = SGT_C_CONDITIONAL;
	}
	if (st == r->eff)
		return;
	r->eff = st;
	if (grow((void **)&r->cr->t, &r->cr->capt, r->cr->nt, sizeof(*r->cr->t)) != 0) {
		oom(r);
		return;
	}
	r->cr->t[r->cr->nt].off = r->i;
	r->cr->t[r->cr->nt].st = st;
	r->cr->nt++;
}

/* ---- pieces ---- */

static void emit(struct rd *r, struct sgt_cpiece *p)
{
	int rc;

	if (r->rc != SGT_OK)
		return;
	rc = r->fn(r->arg, p);
	if (rc < 0)
		r->rc = rc;
}

static const char *symbol(struct rd *r)
{
	return r->in_define ? r->def_name : r->decl;
}

static void flush_run(struct rd *r)
{
	struct sgt_cpiece p;

	if (r->nsegs == 0)
		return;
	memset(&p, 0, sizeof(p));
	p.kind = SGT_CPIECE_STRING;
	p.data = (const unsigned char *)r->run.p;
	p.len = r->run.len;
	p.segs = r->segs;
	p.nsegs = r->nsegs;
	p.file_off = r->run_off;
	p.file_end = r->run_end;
	p.state = r->run_state;
	p.symbol = symbol(r);
	p.def_id = r->in_define ? r->def_id : 0;
	emit(r, &p);
	r->run.len = 0;
	r->nsegs = 0;
}

static void flush_bytes(struct rd *r)
{
	struct sgt_cpiece p;
	struct sgt_cseg seg;

	if (r->bytes.len < 4) {
		r->bytes.len = 0;	/* "#define ON 1", "{ 0, 0 }": not key material */
		r->bytes_comma = 0;
		return;
	}
	memset(&p, 0, sizeof(p));
	seg.data_off = 0;
	seg.file_off = r->bytes_off;
	p.kind = SGT_CPIECE_BYTES;
	p.data = (const unsigned char *)r->bytes.p;
	p.len = r->bytes.len;
	p.segs = &seg;
	p.nsegs = 1;
	p.file_off = r->bytes_off;
	p.file_end = r->bytes_end;
	p.state = r->eff;
	p.symbol = symbol(r);
	p.def_id = r->in_define ? r->def_id : 0;
	emit(r, &p);
	r->bytes.len = 0;
	r->bytes_comma = 0;
}

static void flush(struct rd *r)
{
	flush_run(r);
	flush_bytes(r);
}

/* ---- lexing helpers ---- */

static int is_ident(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}


/* Length of a backslash-newline splice at i, or 0. */
static size_t splice(const unsigned char *d, size_t n, size_t i)
{
	if (i + 1 < n && d[i] == '\\' && d[i + 1] == '\n')
		return 2;
	if (i + 2 < n && d[i] == '\\' && d[i + 1] == '\r' && d[i + 2] == '\n')
		return 3;
	return 0;
}

/* Skips a block comment starting at i ("/" "*"); returns the index after it. */
static size_t block_comment(struct rd *r, size_t i, int report)
{
	const unsigned char *e = memmem(r->d + i + 2, r->n - i - 2, "*/", 2);
	size_t end = e ? (size_t)(e - r->d) + 2 : r->n;

	if (report) {
		struct sgt_cpiece p;
		struct sgt_cseg seg = { 0, i + 2 };

		memset(&p, 0, sizeof(p));
		p.kind = SGT_CPIECE_COMMENT;
		p.data = r->d + i + 2;
		p.len = (e ? end - 2 : end) - (i + 2);
		p.segs = &seg;
		p.nsegs = 1;
		p.file_off = i;
		p.file_end = end;
		p.state = SGT_C_COMMENT;
		p.symbol = "";
		note_range(r, i, end);
		emit(r, &p);
	}
	return end;
}

/*
 * A line comment at i; ends at a newline that is not spliced.  With
 * report, a block of "//" lines (only blanks between) is one piece, as
 * people comment out a PEM block line by line.
 */
static size_t line_comment(struct rd *r, size_t i, int report)
{
	size_t j = i + 2, s, k;

	for (;;) {
		while (j < r->n && r->d[j] != '\n') {
			if ((s = splice(r->d, r->n, j)) != 0)
				j += s;
			else
				j++;
		}
		if (!report)
			break;
		for (k = j; k < r->n && (r->d[k] == ' ' || r->d[k] == '\t' || r->d[k] == '\r' || r->d[k] == '\n'); k++)
			;
		if (k + 1 < r->n && r->d[k] == '/' && r->d[k + 1] == '/' && !r->in_define)
			j = k + 2;
		else
			break;
	}
	if (report) {
		struct sgt_cpiece p;
		struct sgt_cseg seg = { 0, i + 2 };

		memset(&p, 0, sizeof(p));
		p.kind = SGT_CPIECE_COMMENT;
		p.data = r->d + i + 2;
		p.len = j - (i + 2);
		p.segs = &seg;
		p.nsegs = 1;
		p.file_off = i;
		p.file_end = j;
		p.state = SGT_C_COMMENT;
		p.symbol = "";
		note_range(r, i, j);
		emit(r, &p);
	}
	return j;	/* the newline itself is left for the caller */
}

/* Decodes the literal whose quote is at q into the open run; returns the index after it. */
static size_t literal(struct rd *r, size_t q)
{
	const unsigned char *d = r->d;
	size_t i = q + 1, n = r->n, s;

	if (r->nsegs == 0) {
		r->run_off = q;
		r->run_state = r->eff;
	}
	if (grow((void **)&r->segs, &r->capsegs, r->nsegs, sizeof(*r->segs)) != 0) {
		oom(r);
		return n;
	}
	r->segs[r->nsegs].data_off = r->run.len;
	r->segs[r->nsegs].file_off = q + 1;
	r->nsegs++;
	while (i < n && d[i] != '"' && d[i] != '\n') {
		unsigned char ch = d[i];

		if ((s = splice(d, n, i)) != 0) {
			i += s;
			continue;
		}
		i++;
		if (ch == '\\' && i < n) {
			unsigned char e = d[i++];

			switch (e) {
			case 'n': ch = '\n'; break;
			case 'r': ch = '\r'; break;
			case 't': ch = '\t'; break;
			case 'a': ch = '\a'; break;
			case 'b': ch = '\b'; break;
			case 'f': ch = '\f'; break;
			case 'v': ch = '\v'; break;
			case 'x': {
				unsigned v = 0;

				while (i < n && sgt_hexval(d[i]) >= 0)
					v = (v << 4 | (unsigned)sgt_hexval(d[i++])) & 0xffffu;
				ch = (unsigned char)v;
				break;
			}
			default:
				if (e >= '0' && e <= '7') {
					unsigned v = e - '0', k = 1;

					while (k < 3 && i < n && d[i] >= '0' && d[i] <= '7')
						v = v * 8 + (unsigned)(d[i++] - '0'), k++;
					ch = (unsigned char)v;
				} else {
					ch = e;	/* \" \\ \' \? */
				}
			}
		}
		if (r->run.len < RUN_MAX && sgt_buf_add(&r->run, &ch, 1) != SGT_OK) {
			oom(r);
			return n;
		}
	}
	i = i < n && d[i] == '"' ? i + 1 : i;
	r->run_end = i;
	note_range(r, q, i);
	return i;
}

/*
 * ---- #if expressions ----
 *
 * As the preprocessor does it: the line is macro-expanded first (object-like
 * macros this file defines, recursively, a macro not inside its own
 * expansion; defined X / defined(X) answered on the way), then evaluated in
 * intmax_t/uintmax_t with C's precedence.  What the file cannot answer (a
 * macro never defined or #undef'd here, a function-like macro, a definition
 * inside an undecided branch, __has_include) becomes '@', a value that is
 * not known; && || and ?: still decide when the known side settles it.
 */

#define EXPAND_MAX 8192		/* expanded text of one #if */
#define EXPAND_DEPTH 32		/* macros inside macros */
#define EXPAND_BUDGET (4u * 1024u * 1024u)	/* bytes expanded over the whole file: then "cannot tell" */

struct ex {
	struct sgt_creader *cr;
	char out[EXPAND_MAX];
	size_t len;
	int full;			/* out of room or budget: the value cannot be told */
	const char *stack[EXPAND_DEPTH];
	int depth;
};

static void ex_put(struct ex *x, const char *s, size_t n)
{
	if (x->full || x->len + n + 1 > sizeof(x->out) || x->cr->budget < n) {
		x->full = 1;
		return;
	}
	x->cr->budget -= n;
	memcpy(x->out + x->len, s, n);
	x->len += n;
	x->out[x->len] = '\0';
}

static const char *skip_ws(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* After a name at s: skips a balanced "( ... )" call if one follows. */
static const char *skip_call(const char *s)
{
	const char *t = skip_ws(s);
	int level = 0;

	if (*t != '(')
		return s;
	for (; *t; t++) {
		if (*t == '(')
			level++;
		else if (*t == ')' && --level == 0)
			return t + 1;
	}
	return t;
}

/* The macro a name means here, or NULL when this file cannot say (never seen, or defined in an undecided branch). */
static const struct macro *known_macro(const struct sgt_creader *cr, const char *name)
{
	const struct macro *mc = macro_find(cr, name);

	return mc != NULL && !mc->unknown ? mc : NULL;
}

static void expand(struct ex *x, const char *s)
{
	char id[IDENT_MAX];

	while (*s && !x->full) {
		size_t k = 0;
		const struct macro *mc;
		int d, self = 0;

		if (*s >= '0' && *s <= '9') {
			/* a pp-number, kept whole: 0x1UL, 1e+5 */
			const char *b = s;

			while (is_ident((unsigned char)*s) || *s == '.' ||
			       ((*s == '+' || *s == '-') && (s[-1] == 'e' || s[-1] == 'E' || s[-1] == 'p' || s[-1] == 'P')))
				s++;
			ex_put(x, b, (size_t)(s - b));
			continue;
		}
		if (*s == '\'') {
			ex_put(x, "@", 1);	/* character constants: not evaluated here */
			for (s++; *s && *s != '\''; s++)
				if (*s == '\\' && s[1])
					s++;
			if (*s)
				s++;
			continue;
		}
		if (!is_ident((unsigned char)*s)) {
			ex_put(x, s, 1);
			s++;
			continue;
		}
		while (is_ident((unsigned char)*s)) {
			if (k + 1 < IDENT_MAX)
				id[k++] = *s;
			s++;
		}
		id[k] = '\0';
		if (strcmp(id, "defined") == 0) {
			int paren;

			s = skip_ws(s);
			paren = *s == '(';
			if (paren)
				s = skip_ws(s + 1);
			for (k = 0; is_ident((unsigned char)*s); s++)
				if (k + 1 < IDENT_MAX)
					id[k++] = *s;
			id[k] = '\0';
			s = skip_ws(s);
			if (k == 0 || (paren && *s != ')')) {
				ex_put(x, "@", 1);
				continue;
			}
			if (paren)
				s++;
			mc = known_macro(x->cr, id);
			/* Defined here: yes.  #undef'd here: no.  Never seen: the build may define it. */
			ex_put(x, mc == NULL ? " @ " : mc->def_id != 0 ? " 1 " : " 0 ", 3);
			continue;
		}
		mc = known_macro(x->cr, id);
		if (mc == NULL || mc->def_id == 0 || mc->func || mc->body == NULL) {
			/*
			 * #undef'd here: an identifier left in #if is 0, unless it is
			 * called.  Anything else is not this file's to tell.
			 */
			const char *after = skip_call(s);

			ex_put(x, mc != NULL && mc->def_id == 0 && after == s ? " 0 " : " @ ", 3);
			s = after;
			continue;
		}
		for (d = 0; d < x->depth; d++)
			self |= strcmp(x->stack[d], mc->name) == 0;
		if (self) {
			ex_put(x, " 0 ", 3);	/* a macro inside its own expansion stays a name: 0 */
			continue;
		}
		if (x->depth >= EXPAND_DEPTH) {
			x->full = 1;
			continue;
		}
		x->stack[x->depth++] = mc->name;
		ex_put(x, " ", 1);
		expand(x, mc->body);
		ex_put(x, " ", 1);
		x->depth--;
	}
}

struct ev {
	const char *s;
};

struct val {
	int ok;			/* the value is known */
	int u;			/* uintmax_t rather than intmax_t */
	unsigned long long v;	/* two's complement bits */
};

static const struct val UNKNOWN = { 0, 0, 0 };

static void ev_ws(struct ev *e)
{
	e->s = skip_ws(e->s);
}

/* Consumes op when it is next and is not the start of a longer operator. */
static int ev_op(struct ev *e, const char *op, const char *not_before)
{
	size_t k = strlen(op);

	ev_ws(e);
	if (strncmp(e->s, op, k) != 0 || (e->s[k] != '\0' && strchr(not_before, e->s[k]) != NULL))
		return 0;
	e->s += k;
	return 1;
}

static struct val number(struct ev *e, int *bad)
{
	struct val v = { 1, 0, 0 };
	const char *s = e->s;
	unsigned long long x = 0;
	int base = 10, digits = 0, l = 0, dig;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		base = 16, s += 2;
	else if (s[0] == '0' && (s[1] == 'b' || s[1] == 'B'))
		base = 2, s += 2;
	else if (s[0] == '0')
		base = 8;
	for (;; s++) {
		dig = sgt_hexval((unsigned char)*s);
		if (dig < 0 || dig >= base)
			break;
		if (x > (~0ull - (unsigned)dig) / (unsigned)base)
			*bad = 1;	/* too large for uintmax_t */
		x = x * (unsigned)base + (unsigned)dig;
		digits++;
	}
	if (digits == 0 && base != 8)
		*bad = 1;
	for (;; s++) {
		if ((*s == 'u' || *s == 'U') && !v.u)
			v.u = 1;
		else if ((*s == 'l' || *s == 'L') && l < 2)
			l++;
		else
			break;
	}
	if (is_ident((unsigned char)*s) || *s == '.')
		*bad = 1;	/* floating or a suffix the preprocessor refuses */
	if (x > 0x7fffffffffffffffull)
		v.u = 1;
	v.v = x;
	e->s = s;
	return v;
}

static struct val ev_cond(struct ev *e, int *bad);

static struct val ev_unary(struct ev *e, int *bad)
{
	struct val v;

	ev_ws(e);
	if (ev_op(e, "!", "=")) {
		v = ev_unary(e, bad);
		v.v = !v.v;
		v.u = 0;
		return v;
	}
	if (ev_op(e, "~", "")) {
		v = ev_unary(e, bad);
		v.v = ~v.v;
		return v;
	}
	if (ev_op(e, "-", "-=")) {
		v = ev_unary(e, bad);
		if (!v.u && v.v == 0x8000000000000000ull)
			v.ok = 0;	/* overflows intmax_t */
		v.v = 0 - v.v;
		return v;
	}
	if (ev_op(e, "+", "+=")) {
		return ev_unary(e, bad);
	}
	if (*e->s == '(') {
		e->s++;
		v = ev_cond(e, bad);
		if (!ev_op(e, ")", ""))
			*bad = 1;
		return v;
	}
	if (*e->s == '@') {
		e->s++;
		return UNKNOWN;
	}
	if (*e->s >= '0' && *e->s <= '9')
		return number(e, bad);
	*bad = 1;
	return UNKNOWN;
}

static int sgn_lt(struct val a, struct val b)
{
	return a.u || b.u ? a.v < b.v : (long long)a.v < (long long)b.v;
}

/* Binary operators by precedence level, lowest first (after && and ||). */
static struct val ev_bin(struct ev *e, int level, int *bad)
{
	static const char *const ops[][4] = {
		{ "|", NULL }, { "^", NULL }, { "&", NULL }, { "==", "!=", NULL },
		{ "<=", ">=", "<", ">" }, { "<<", ">>", NULL }, { "+", "-", NULL }, { "*", "/", "%", NULL },
	};
	static const char *const not_before[][4] = {
		{ "|=" }, { "=" }, { "&=" }, { "", "" },
		{ "", "", "<=", ">=" }, { "=", "=" }, { "+=", "-=" }, { "=", "=", "=" },
	};
	struct val a, b;
	int k, found;

	if (level == 8)
		return ev_unary(e, bad);
	a = ev_bin(e, level + 1, bad);
	for (;;) {
		const char *op = NULL;
		int u;

		for (k = 0, found = 0; k < 4 && ops[level][k] != NULL && !found; k++)
			if (ev_op(e, ops[level][k], not_before[level][k]))
				op = ops[level][k], found = 1;
		if (!found)
			return a;
		b = ev_bin(e, level + 1, bad);
		u = a.u || b.u;
		a.ok = a.ok && b.ok;
		switch (op[0]) {
		case '|': a.v |= b.v; a.u = u; break;
		case '^': a.v ^= b.v; a.u = u; break;
		case '&': a.v &= b.v; a.u = u; break;
		case '=': a.v = a.v == b.v; a.u = 0; break;
		case '!': a.v = a.v != b.v; a.u = 0; break;
		case '<':
		case '>':
			if (op[1] == op[0]) {
				/* shifts: the left operand's type; a count out of range is not evaluated */
				if (b.v >= 64 && !(!b.u && (long long)b.v < 0))
					a.ok = 0;
				else if (!b.u && (long long)b.v < 0)
					a.ok = 0;
				else if (op[0] == '<')
					a.v <<= b.v;
				else
					a.v = a.u ? a.v >> b.v : (unsigned long long)((long long)a.v >> b.v);
			} else {
				int lt = sgn_lt(a, b), gt = sgn_lt(b, a);

				a.v = op[0] == '<' ? (op[1] == '=' ? !gt : lt) : (op[1] == '=' ? !lt : gt);
				a.u = 0;
			}
			break;
		case '+': a.v += b.v; a.u = u; break;
		case '-': a.v -= b.v; a.u = u; break;
		case '*': a.v *= b.v; a.u = u; break;
		default:
			/* / and %: by zero, or INTMAX_MIN / -1, the compiler refuses */
			if (b.v == 0 || (!u && a.v == 0x8000000000000000ull && b.v == ~0ull)) {
				a.ok = 0;
				a.v = 0;
			} else if (u) {
				a.v = op[0] == '/' ? a.v / b.v : a.v % b.v;
			} else {
				long long q = (long long)a.v, r = (long long)b.v;

				a.v = (unsigned long long)(op[0] == '/' ? q / r : q % r);
			}
			a.u = u;
			break;
		}
	}
}

static struct val ev_and(struct ev *e, int *bad)
{
	struct val a = ev_bin(e, 0, bad), b;

	while (ev_op(e, "&&", "")) {
		b = ev_bin(e, 0, bad);
		/* false && anything is false, whatever cannot be told */
		if ((a.ok && !a.v) || (b.ok && !b.v))
			a.ok = 1, a.v = 0;
		else
			a.ok = a.ok && b.ok, a.v = 1;
		a.u = 0;
	}
	return a;
}

static struct val ev_or(struct ev *e, int *bad)
{
	struct val a = ev_and(e, bad), b;

	while (ev_op(e, "||", "")) {
		b = ev_and(e, bad);
		if ((a.ok && a.v) || (b.ok && b.v))
			a.ok = 1, a.v = 1;
		else
			a.ok = a.ok && b.ok, a.v = 0;
		a.u = 0;
	}
	return a;
}

static struct val ev_cond(struct ev *e, int *bad)
{
	struct val c = ev_or(e, bad), a, b;

	if (!ev_op(e, "?", ""))
		return c;
	a = ev_cond(e, bad);
	if (!ev_op(e, ":", "")) {
		*bad = 1;
		return UNKNOWN;
	}
	b = ev_cond(e, bad);
	if (c.ok) {
		struct val r = c.v ? a : b;

		r.u = a.u || b.u;
		return r;
	}
	if (a.ok && b.ok && a.v == b.v)
		return a;	/* either way the same */
	return UNKNOWN;
}

/* 1, 0, or -1 when it cannot be told. */
static int eval(struct sgt_creader *cr, const char *expr)
{
	struct ex *x = malloc(sizeof(*x));
	struct ev e;
	struct val v;
	int bad = 0;

	if (x == NULL)
		return -1;
	x->cr = cr;
	x->len = 0;
	x->full = 0;
	x->depth = 0;
	x->out[0] = '\0';
	expand(x, expr);
	if (x->full) {
		free(x);
		return -1;
	}
	e.s = x->out;
	v = ev_cond(&e, &bad);
	ev_ws(&e);
	bad |= *e.s != '\0';
	free(x);
	if (bad || !v.ok)
		return -1;
	return v.v != 0;
}

/* ---- directives ---- */

/* Reads the rest of the directive line from i (comments dropped, splices joined) into buf. */
static size_t directive_text(struct rd *r, size_t i, char *buf, size_t cap)
{
	size_t k = 0, s;

	while (i < r->n && r->d[i] != '\n') {
		if ((s = splice(r->d, r->n, i)) != 0) {
			i += s;
			continue;
		}
		if (r->d[i] == '/' && i + 1 < r->n && r->d[i + 1] == '*') {
			i = block_comment(r, i, 1);
			if (k + 1 < cap)
				buf[k++] = ' ';
			continue;
		}
		if (r->d[i] == '/' && i + 1 < r->n && r->d[i + 1] == '/') {
			i = line_comment(r, i, 0);
			continue;
		}
		if (k + 1 < cap)
			buf[k++] = r->d[i] == '\t' || r->d[i] == '\r' ? ' ' : (char)r->d[i];
		i++;
	}
	buf[k] = '\0';
	return i;
}

static void first_ident(const char *s, char *out)
{
	size_t k = 0;

	while (*s == ' ')
		s++;
	while (is_ident((unsigned char)*s) && k + 1 < IDENT_MAX)
		out[k++] = *s++;
	out[k] = '\0';
}

/* After "#ifndef X": does "#define X" come next (only blanks and comments between)? */
static int define_follows(struct rd *r, size_t i, const char *name)
{
	const unsigned char *d = r->d;
	size_t n = r->n, k = strlen(name);

	for (;;) {
		while (i < n && (d[i] == ' ' || d[i] == '\t' || d[i] == '\r' || d[i] == '\n'))
			i++;
		if (i + 1 < n && d[i] == '/' && d[i + 1] == '*') {
			const unsigned char *e = memmem(d + i + 2, n - i - 2, "*/", 2);

			if (e == NULL)
				return 0;
			i = (size_t)(e - d) + 2;
			continue;
		}
		if (i + 1 < n && d[i] == '/' && d[i + 1] == '/') {
			while (i < n && d[i] != '\n')
				i++;
			continue;
		}
		break;
	}
	if (i >= n || d[i] != '#')
		return 0;
	i++;
	while (i < n && (d[i] == ' ' || d[i] == '\t'))
		i++;
	if (i + 6 > n || memcmp(d + i, "define", 6) != 0)
		return 0;
	i += 6;
	if (i >= n || (d[i] != ' ' && d[i] != '\t'))
		return 0;
	while (i < n && (d[i] == ' ' || d[i] == '\t'))
		i++;
	return i + k <= n && memcmp(d + i, name, k) == 0 && (i + k == n || !is_ident(d[i + k]));
}

/*
 * The replacement text of the #define whose name ends at i, as #if sees
 * it: splices joined, comments one blank.  0 when it does not fit.
 */
static int define_body(const struct rd *r, size_t i, char *buf, size_t cap)
{
	const unsigned char *d = r->d;
	size_t k = 0, n = r->n, s;
	unsigned char q = 0;

	while (i < n && d[i] != '\n') {
		if ((s = splice(d, n, i)) != 0) {
			i += s;
			continue;
		}
		if (!q && d[i] == '/' && i + 1 < n && (d[i + 1] == '*' || d[i + 1] == '/')) {
			const unsigned char *e;

			if (d[i + 1] == '/')
				break;
			e = memmem(d + i + 2, n - i - 2, "*/", 2);
			i = e ? (size_t)(e - d) + 2 : n;
			if (k + 1 >= cap)
				return 0;
			buf[k++] = ' ';
			continue;
		}
		if (q && d[i] == '\\' && i + 1 < n && d[i + 1] != '\n') {
			if (k + 2 >= cap)
				return 0;
			buf[k++] = (char)d[i++];
		} else if (d[i] == '"' || d[i] == '\'') {
			q = q == 0 ? d[i] : q == d[i] ? 0 : q;
		}
		if (k + 1 >= cap)
			return 0;
		buf[k++] = d[i] == '\t' || d[i] == '\r' || d[i] == '\f' || d[i] == '\v' ? ' ' : (char)d[i];
		i++;
	}
	buf[k] = '\0';
	return 1;
}

static void push(struct rd *r, int v)
{
	struct cond c;

	if (r->depth >= COND_MAX) {
		r->overflow++;
		set_eff(r);
		return;
	}
	if (r->eff == SGT_C_INACTIVE) {
		c.state = 0;
		c.taken = 1;	/* no branch of a group inside a dead one is compiled */
	} else {
		c.state = (signed char)v;
		c.taken = (signed char)v;
	}
	r->cs[r->depth++] = c;
	set_eff(r);
}

/* The directive whose '#' is at i; returns the index of the newline ending it (or of the body for #define). */
static size_t directive(struct rd *r, size_t i)
{
	char text[DIRECTIVE_MAX], word[IDENT_MAX], name[IDENT_MAX];
	const char *rest;
	size_t j;
	struct macro *mc;

	flush(r);
	i++;
	while (i < r->n && (r->d[i] == ' ' || r->d[i] == '\t'))
		i++;
	j = i;
	while (j < r->n && is_ident(r->d[j]) && j - i + 1 < IDENT_MAX)
		j++;
	memcpy(word, r->d + i, j - i);
	word[j - i] = '\0';

	if (strcmp(word, "define") == 0) {
		size_t k = 0;

		while (j < r->n && (r->d[j] == ' ' || r->d[j] == '\t'))
			j++;
		while (j < r->n && is_ident(r->d[j]) && k + 1 < IDENT_MAX)
			name[k++] = (char)r->d[j++];
		name[k] = '\0';
		if (k == 0 || r->eff == SGT_C_INACTIVE) {
			/* a define in a dead branch defines nothing; its body still gets reported */
			r->in_define = 1;
			snprintf(r->def_name, sizeof(r->def_name), "%s", name);
			r->def_id = 0;
			return j;
		}
		if (r->eff == SGT_C_ACTIVE) {
			if ((mc = macro_get(r->cr, name)) == NULL) {
				oom(r);
				return r->n;
			}
			mc->def_id = ++r->next_def;
			mc->unknown = 0;
			free(mc->body);
			mc->body = NULL;
			/* "NAME(" with no blank between: function-like */
			mc->func = j < r->n && r->d[j] == '(';
			if (!mc->func && define_body(r, j, text, sizeof(text)) && (mc->body = strdup(text)) == NULL) {
				oom(r);
				return r->n;
			}
			r->def_id = mc->def_id;
		} else {
			/* a conditional definition: neither known defined nor known undefined */
			r->def_id = ++r->next_def;
			if ((mc = macro_find(r->cr, name)) != NULL)
				mc->unknown = 1;
		}
		r->in_define = 1;
		snprintf(r->def_name, sizeof(r->def_name), "%s", name);
		return j;
	}
	j = directive_text(r, j, text, sizeof(text));
	rest = text;
	if (strcmp(word, "if") == 0) {
		push(r, eval(r->cr, rest));
	} else if (strcmp(word, "ifdef") == 0 || strcmp(word, "ifndef") == 0) {
		int neg = word[2] == 'n', v = -1;

		first_ident(rest, name);
		mc = macro_find(r->cr, name);
		if (mc != NULL && !mc->unknown)
			v = (mc->def_id != 0) != neg;
		else if (neg && name[0] && define_follows(r, j, name))
			v = 1;	/* include guard or "default unless defined" */
		push(r, v);
	} else if (strcmp(word, "elif") == 0 || strcmp(word, "elifdef") == 0 || strcmp(word, "elifndef") == 0) {
		if (r->overflow == 0 && r->depth > 0) {
			struct cond *c = &r->cs[r->depth - 1];
			int v;

			if (word[4] == '\0') {
				v = eval(r->cr, rest);
			} else {
				first_ident(rest, name);
				mc = macro_find(r->cr, name);
				v = mc == NULL || mc->unknown ? -1 : (mc->def_id != 0) != (word[4] == 'n');
			}
			if (c->taken >= 1) {
				c->state = 0;
			} else if (c->taken == 0) {
				c->state = (signed char)v;
				c->taken = (signed char)v;
			} else {
				/* An earlier branch may have been taken: this one is at best undecided. */
				c->state = v == 0 ? 0 : -1;
				if (v == 1)
					c->taken = 2;	/* one of the branches so far surely was */
			}
			set_eff(r);
		}
	} else if (strcmp(word, "else") == 0) {
		if (r->overflow == 0 && r->depth > 0) {
			struct cond *c = &r->cs[r->depth - 1];

			c->state = c->taken >= 1 ? 0 : c->taken == 0 ? 1 : -1;
			if (c->taken == 0)
				c->taken = 1;
			set_eff(r);
		}
	} else if (strcmp(word, "endif") == 0) {
		if (r->overflow > 0)
			r->overflow--;
		else if (r->depth > 0)
			r->depth--;
		set_eff(r);
	} else if (strcmp(word, "undef") == 0) {
		first_ident(rest, name);
		if (name[0] && r->eff == SGT_C_ACTIVE) {
			if ((mc = macro_get(r->cr, name)) == NULL) {
				oom(r);
			} else {
				mc->def_id = 0;
				mc->unknown = 0;
			}
		} else if (name[0] && r->eff == SGT_C_CONDITIONAL && (mc = macro_find(r->cr, name)) != NULL) {
			mc->unknown = 1;	/* maybe #undef'd */
		}
	}
	return j;
}

/* ---- the main loop ---- */

static void end_statement(struct rd *r)
{
	if (r->locked && r->brace > r->lock_brace)
		return;
	r->locked = 0;
	r->decl[0] = '\0';
	r->cand[0] = '\0';
}

static void byte_value(struct rd *r, size_t start, size_t end, unsigned v)
{
	unsigned char b = (unsigned char)v;

	flush_run(r);
	if (r->bytes.len > 0 && !r->bytes_comma)
		flush_bytes(r);
	if (r->bytes.len == 0)
		r->bytes_off = start;
	if (r->bytes.len < RUN_MAX && sgt_buf_add(&r->bytes, &b, 1) != SGT_OK)
		oom(r);
	r->bytes_end = end;
	r->bytes_comma = 0;
}

static int scan(struct rd *r)
{
	const unsigned char *d = r->d;
	size_t n = r->n, i = 0, s;
	int line_start = 1;

	while (i < n && r->rc == SGT_OK) {
		unsigned char c = d[i];

		r->i = i;
		if (c == '\n') {
			if (r->in_define) {
				flush(r);
				r->in_define = 0;
			}
			line_start = 1;
			i++;
		} else if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
			i++;
		} else if ((s = splice(d, n, i)) != 0) {
			i += s;
		} else if (c == '/' && i + 1 < n && d[i + 1] == '*') {
			i = block_comment(r, i, 1);
		} else if (c == '/' && i + 1 < n && d[i + 1] == '/') {
			i = line_comment(r, i, 1);
		} else if (c == '#' && line_start && !r->in_define) {
			i = directive(r, i);
			line_start = 0;
		} else if (c == '"') {
			flush_bytes(r);
			if (r->nsegs > 0 && r->run_state != r->eff)
				flush_run(r);
			i = literal(r, i);
			line_start = 0;
		} else if (c == '\'') {
			flush(r);
			i++;
			while (i < n && d[i] != '\'' && d[i] != '\n')
				i += d[i] == '\\' && i + 1 < n ? 2 : 1;
			if (i < n && d[i] == '\'')
				i++;
			line_start = 0;
		} else if (c >= '0' && c <= '9') {
			size_t j = i;
			unsigned long v = 0;
			int hex = c == '0' && i + 2 < n && (d[i + 1] == 'x' || d[i + 1] == 'X') && sgt_hexval(d[i + 2]) >= 0;

			if (hex) {
				j = i + 2;
				while (j < n && sgt_hexval(d[j]) >= 0) {
					if (v <= 0xffff)
						v = v * 16 + (unsigned)sgt_hexval(d[j]);
					j++;
				}
				while (j < n && (d[j] == 'u' || d[j] == 'U'))
					j++;
			}
			if (!hex) {
				/* A decimal byte value ({48, 130, ...}), as some generators write arrays. */
				while (j < n && d[j] >= '0' && d[j] <= '9' && j - i < 4)
					v = v * 10 + (unsigned)(d[j++] - '0');
				while (j < n && (d[j] == 'u' || d[j] == 'U'))
					j++;
				if (j - i <= 4 && v <= 0xff && (j >= n || (!is_ident(d[j]) && d[j] != '.')) &&
				    !(c == '0' && j - i > 1 && d[i + 1] >= '0' && d[i + 1] <= '9')) {
					byte_value(r, i, j, (unsigned)v);
					i = j;
					line_start = 0;
					continue;
				}
				j = i;
			}
			if (hex && v <= 0xff && (j >= n || !is_ident(d[j]))) {
				byte_value(r, i, j, (unsigned)v);
			} else {
				flush(r);
				while (j < n && (is_ident(d[j]) || d[j] == '.'))
					j++;
			}
			i = j;
			line_start = 0;
		} else if (is_ident(c)) {
			size_t j = i, k = 0;
			char id[IDENT_MAX];

			while (j < n && is_ident(d[j])) {
				if (k + 1 < IDENT_MAX)
					id[k++] = (char)d[j];
				j++;
			}
			id[k] = '\0';
			/* String prefixes: u8"..." L"..." u"..." U"..." are literals too. */
			if (j < n && d[j] == '"' && (!strcmp(id, "u8") || !strcmp(id, "L") || !strcmp(id, "u") || !strcmp(id, "U"))) {
				i = j;
				continue;
			}
			flush(r);
			if (!r->locked && !r->in_define)
				snprintf(r->cand, sizeof(r->cand), "%s", id);
			i = j;
			line_start = 0;
		} else {
			if (c == ',' && r->bytes.len > 0 && !r->bytes_comma) {
				flush_run(r);
				r->bytes_comma = 1;
				i++;
				continue;
			}
			flush(r);
			if (!r->in_define) {
				if (c == '[' || (c == '=' && !(i + 1 < n && d[i + 1] == '='))) {
					if (!r->locked && r->cand[0]) {
						snprintf(r->decl, sizeof(r->decl), "%s", r->cand);
						if (c == '=') {
							r->locked = 1;
							r->lock_brace = r->brace;
						}
					} else if (c == '=' && !r->locked) {
						r->locked = 1;
						r->lock_brace = r->brace;
					}
				} else if (c == '{') {
					r->brace++;
				} else if (c == '}') {
					if (r->brace > 0)
						r->brace--;
					if (!r->locked)
						end_statement(r);
				} else if (c == ';') {
					end_statement(r);
				}
			}
			i++;
			line_start = 0;
		}
	}
	r->i = n;
	flush(r);
	return r->rc;
}

int sgt_creader_scan_with(const unsigned char *d, size_t n, const struct sgt_cdefine *defs, size_t ndefs,
			  sgt_cpiece_fn fn, void *arg, struct sgt_creader **out)
{
	struct rd *r = calloc(1, sizeof(*r));
	struct sgt_creader *cr = calloc(1, sizeof(*cr));
	size_t k;
	int rc = SGT_OK;

	*out = NULL;
	if (r == NULL || cr == NULL) {
		free(r);
		free(cr);
		return sgt_err(SGT_ERR_DATA, "out of memory");
	}
	r->d = d;
	r->n = n;
	r->cr = cr;
	r->fn = fn;
	r->arg = arg;
	r->eff = SGT_C_ACTIVE;
	cr->budget = EXPAND_BUDGET;
	for (k = 0; k < ndefs && rc == SGT_OK; k++) {
		struct macro *mc = macro_get(cr, defs[k].name);
		const char *v = defs[k].value ? defs[k].value : "1";

		if (mc == NULL) {
			rc = sgt_err(SGT_ERR_DATA, "out of memory");
			break;
		}
		mc->def_id = defs[k].undefined ? 0 : ++r->next_def;
		mc->unknown = 0;
		mc->func = 0;
		free(mc->body);
		if ((mc->body = strdup(v)) == NULL) {
			rc = sgt_err(SGT_ERR_DATA, "out of memory");
			break;
		}
	}
	if (rc == SGT_OK)
		rc = scan(r);
	sgt_buf_free(&r->run);
	sgt_buf_free(&r->bytes);
	free(r->segs);
	free(r);
	if (rc != SGT_OK) {
		sgt_creader_free(cr);
		return rc;
	}
	*out = cr;
	return SGT_OK;
}

int sgt_creader_scan(const unsigned char *d, size_t n, sgt_cpiece_fn fn, void *arg, struct sgt_creader **out)
{
	return sgt_creader_scan_with(d, n, NULL, 0, fn, arg, out);
}

int sgt_creader_def_live(const struct sgt_creader *r, const char *symbol, unsigned def_id)
{
	const struct macro *mc;

	if (def_id == 0)
		return 1;
	mc = macro_find(r, symbol);
	/* a conditional definition (not in the table) stays what its branch says */
	return mc == NULL || mc->def_id == def_id;
}

enum sgt_cstate sgt_creader_state_at(const struct sgt_creader *r, size_t off)
{
	size_t lo = 0, hi = r->nt;

	if (r->nt == 0 || r->t[0].off > off)
		return SGT_C_ACTIVE;
	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;

		if (r->t[mid].off <= off)
			lo = mid;
		else
			hi = mid;
	}
	return r->t[lo].st;
}

int sgt_creader_in_token(const struct sgt_creader *r, size_t off)
{
	size_t lo = 0, hi = r->nr;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (r->r[mid].b <= off)
			lo = mid + 1;
		else if (r->r[mid].a > off)
			hi = mid;
		else
			return 1;
	}
	return 0;
}

void sgt_creader_free(struct sgt_creader *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->capm; i++) {
		free(r->m[i].name);
		free(r->m[i].body);
	}
	free(r->m);
	free(r->r);
	free(r->t);
	free(r);
}
