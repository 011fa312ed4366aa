/*
 * test_creader.c: the C reader on small sources: comments, splices,
 * adjacent literals and escapes, conditionals decided and undecided,
 * the include-guard idiom, macros superseded by #undef/#define, the
 * symbol each piece belongs to, and byte runs.  Each piece is recorded
 * as "KIND STATE SYMBOL: text" so the expectations read like the source.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "creader.h"
#include "sgt.h"

struct rec {
	char out[4096];
	size_t len;
	unsigned defs[16];
	char syms[16][64];
	size_t n;
};

static int on_piece(void *arg, const struct sgt_cpiece *p)
{
	struct rec *r = arg;
	static const char *const st[] = { "A", "C", "I", "?", "S" };
	size_t i;

	r->len += (size_t)snprintf(r->out + r->len, sizeof(r->out) - r->len, "%s %s %s:",
				   p->kind == SGT_CPIECE_STRING ? "str" : p->kind == SGT_CPIECE_BYTES ? "bytes" : "cmt",
				   st[p->state], p->symbol[0] ? p->symbol : "-");
	for (i = 0; i < p->len && r->len + 4 < sizeof(r->out); i++) {
		if (p->kind == SGT_CPIECE_BYTES)
			r->len += (size_t)snprintf(r->out + r->len, sizeof(r->out) - r->len, " %02x", p->data[i]);
		else
			r->out[r->len++] = p->data[i] == '\n' ? '|' : (char)p->data[i];
	}
	r->out[r->len++] = '\n';
	r->out[r->len] = '\0';
	if (r->n < 16) {
		r->defs[r->n] = p->def_id;
		snprintf(r->syms[r->n], sizeof(r->syms[0]), "%s", p->symbol);
		r->n++;
	}
	return 0;
}

static struct sgt_creader *read_c(const char *src, struct rec *r)
{
	struct sgt_creader *cr = NULL;

	memset(r, 0, sizeof(*r));
	assert_int_equal(sgt_creader_scan((const unsigned char *)src, strlen(src), on_piece, r, &cr), SGT_OK);
	assert_non_null(cr);
	return cr;
}

static void test_literals(void **state)
{
	struct rec r;
	struct sgt_creader *cr;

	(void)state;
	cr = read_c("#define X \\\n  \"a\\n\" /* c */ \"b\\x41\\101\" \\\n  \"c\"\n"
		    "static const char y[] = \"p\" \"q\"; // tail\n"
		    "const char *z = u8\"s\" \"t\", w = 'x';\n", &r);
	/* A comment between literals is reported before the run it sits in. */
	assert_string_equal(r.out, "cmt C -: c \nstr A X:a|bAAc\nstr A y:pq\ncmt C -: tail\nstr A z:st\n");
	sgt_creader_free(cr);
}

static void test_conditionals(void **state)
{
	struct rec r;
	struct sgt_creader *cr;

	(void)state;
	cr = read_c("#if 0\n\"dead\"\n#else\n\"live\"\n#endif\n"
		    "#if defined(ELSEWHERE)\n\"maybe\"\n#elif 1\n\"maybe2\"\n#else\n\"no\"\n#endif\n"
		    "#define ON 1\n#if ON && !defined(OFF_HERE) || 0\n\"on\"\n#endif\n"
		    "#undef OFF\n#ifdef OFF\n\"off\"\n#endif\n"
		    "#if 0\n#if 1\n\"nested\"\n#else\n\"nested2\"\n#endif\n#endif\n", &r);
	assert_string_equal(r.out, "str I -:dead\nstr A -:live\nstr ? -:maybe\nstr ? -:maybe2\nstr I -:no\n"
			    "str ? -:on\nstr I -:off\nstr I -:nested\nstr I -:nested2\n");
	sgt_creader_free(cr);
	/* "ON && !defined(X)" with X defined here: decidable. */
	cr = read_c("#define ON 1\n#define X\n#if ON && !defined(X)\n\"a\"\n#elif ON == 1\n\"b\"\n#endif\n", &r);
	assert_string_equal(r.out, "str I -:a\nstr A -:b\n");
	sgt_creader_free(cr);
}

static void test_guard_and_supersede(void **state)
{
	struct rec r;
	struct sgt_creader *cr;

	(void)state;
	cr = read_c("#ifndef G_H\n#define G_H\n#ifndef CERT\n  #define CERT \"stock\"\n#endif\n"
		    "#undef CERT\n#define CERT \"mine\"\n#ifndef CERT\n#define CERT \"again\"\n#endif\n#endif\n", &r);
	assert_string_equal(r.out, "str A CERT:stock\nstr A CERT:mine\nstr I CERT:again\n");
	assert_int_equal(r.n, 3);
	assert_false(sgt_creader_def_live(cr, "CERT", r.defs[0]));
	assert_true(sgt_creader_def_live(cr, "CERT", r.defs[1]));
	sgt_creader_free(cr);
	/* Not the idiom: #ifndef X without #define X next is undecided. */
	cr = read_c("#ifndef X\nint a;\n\"s\"\n#endif\n", &r);
	assert_string_equal(r.out, "str ? -:s\n");
	sgt_creader_free(cr);
}

static void test_bytes_and_comments(void **state)
{
	struct rec r;
	struct sgt_creader *cr;
	const char *src = "const unsigned char key[] = { 0x30, 0X82 /* x */, 0x01u,\n 0xff };\nint n = 0x100;\n"
			  "// line one\n//   -----BEGIN X-----\n\n// line three\nint q;\n";

	(void)state;
	cr = read_c(src, &r);
	assert_string_equal(r.out, "cmt C -: x \nbytes A key: 30 82 01 ff\n"
			    "cmt C -: line one|//   -----BEGIN X-----||// line three\n");
	/* The PEM-bearing comment is a token; code elsewhere is not. */
	assert_true(sgt_creader_in_token(cr, (size_t)(strstr(src, "-----BEGIN") - src)));
	assert_false(sgt_creader_in_token(cr, (size_t)(strstr(src, "int q") - src)));
	assert_int_equal(sgt_creader_state_at(cr, 0), SGT_C_ACTIVE);
	sgt_creader_free(cr);
}

/* One "#if EXPR" after a prelude: "A" compiled, "I" not, "?" cannot tell. */
static char if_state(const char *prelude, const char *expr)
{
	struct rec r;
	struct sgt_creader *cr;
	char src[2048];
	const char *line;

	snprintf(src, sizeof(src), "%s\n#if %s\n\"x\"\n#endif\n", prelude, expr);
	cr = read_c(src, &r);
	sgt_creader_free(cr);
	/* the last piece is "str S -:x" */
	line = r.out + r.len - 10;
	assert_true(r.len >= 10 && strncmp(line, "str ", 4) == 0 && strcmp(line + 5, " -:x\n") == 0);
	return line[4];
}

static void test_if_expressions(void **state)
{
	static const struct {
		const char *prelude, *expr;
		char want;
	} v[] = {
		/* FreeRTOS style: parenthesised values (iot-reference-stm32u5 ota_config.h) */
		{ "#define TAI ( 1 )", "( TAI == 1 )", 'A' },
		{ "#define TAI ( 0 )", "( TAI == 1 )", 'I' },
		{ "#define TAI ( 0 )", "TAI", 'I' },
		{ "#define TAI (1)", "TAI", 'A' },
		/* integer literals with suffixes, hex, octal, binary */
		{ "#define V 1U", "V == 1", 'A' },
		{ "#define V 0x1UL", "V", 'A' },
		{ "#define V 0x10ull", "V == 16", 'A' },
		{ "#define V 010", "V == 8", 'A' },
		{ "", "0b101 == 5", 'A' },
		{ "", "1.0", '?' },
		{ "", "08", '?' },
		/* macros in macros, recursively */
		{ "#define A B\n#define B ( C + 1 )\n#define C 2", "A == 3", 'A' },
		{ "#define A 1 + 2", "A * 3 == 7", 'A' },	/* text, not value: 1 + 2 * 3 */
		{ "#define S S", "S", 'I' },			/* inside its own expansion: 0 */
		{ "#define S T\n#define T S", "S + 1 == 1", 'A' },
		/* arithmetic, bitwise, shifts, comparisons, ternary */
		{ "#define N 4", "N * 2 - 1 == 7 && N / 3 == 1 && N % 3 == 1", 'A' },
		{ "#define N 4", "(N << 2) == 16 && (N >> 1) == 2 && (N | 1) == 5 && (N & 6) == 4 && (N ^ 5) == 1", 'A' },
		{ "#define N 4", "~N == -5 && -N < 0 && N >= 4 && N <= 4 && N > 3 && N != 5", 'A' },
		{ "", "-1 < 0U", 'I' },		/* unsigned: -1 is the largest value */
		{ "", "-1 < 0", 'A' },
		{ "#define M 2", "M == 1 ? 0 : M == 2 ? 1 : 0", 'A' },
		{ "", "1 ? 0 : 1", 'I' },
		{ "", "1 / 0", '?' },
		{ "", "0 && 1 / 0", 'I' },
		/* defined, both forms; !; && || short-circuit over the unknown */
		{ "#define D", "defined D && defined(D) && !defined(U)", '?' },
		{ "#define D\n#define U\n#undef U", "defined D && defined(D) && !defined(U)", 'A' },
		{ "", "defined(ELSEWHERE) || 1", 'A' },
		{ "", "ELSEWHERE && 0", 'I' },
		{ "", "ELSEWHERE ? 1 : 1", 'A' },
		/* unknowable: from another file, function-like, __has_include, a conditional definition */
		{ "", "ELSEWHERE == 1", '?' },
		{ "", "( otaconfigENABLE == 1 )", '?' },
		{ "#define F(x) (x)", "F(1)", '?' },
		{ "", "__has_include(<x.h>)", '?' },
		{ "#if ELSEWHERE\n#define W 1\n#endif", "W", '?' },
		{ "#define W 1\n#if ELSEWHERE\n#undef W\n#endif", "W", '?' },
		{ "#define W 1\n#if ELSEWHERE\n#undef W\n#endif\n#define W 2", "W == 2", 'A' },
		/* #undef'd here: 0 */
		{ "#define X 1\n#undef X", "X", 'I' },
		{ "#define X 1\n#undef X", "X == 0", 'A' },
		/* comments and splices in a #define body */
		{ "#define Y /* one */ ( 1 ) // trailing", "Y", 'A' },
		{ "#define Y ( 1 \\\n + 1 )", "Y == 2", 'A' },
		/* an expansion too large to follow (2^14 terms): cannot tell, not a guess */
		{ "#define A0 1\n#define A1 A0+A0\n#define A2 A1+A1\n#define A3 A2+A2\n#define A4 A3+A3\n#define A5 A4+A4\n#define A6 A5+A5\n#define A7 A6+A6\n#define A8 A7+A7\n#define A9 A8+A8\n#define A10 A9+A9\n#define A11 A10+A10\n#define A12 A11+A11\n#define A13 A12+A12\n#define A14 A13+A13", "A14 > 0", '?' },
		{ "#define A0 1\n#define A1 A0+A0\n#define A2 A1+A1\n#define A3 A2+A2\n#define A4 A3+A3\n#define A5 A4+A4\n#define A6 A5+A5\n#define A7 A6+A6\n#define A8 A7+A7\n#define A9 A8+A8\n#define A10 A9+A9\n#define A11 A10+A10\n#define A12 A11+A11\n#define A13 A12+A12\n#define A14 A13+A13", "A3 == 8", 'A' },
		/* not an expression */
		{ "#define E \"text\"", "E", '?' },
		{ "", "1 +", '?' },
		{ "", "(1", '?' },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char got = if_state(v[i].prelude, v[i].expr);

		if (got != v[i].want)
			fail_msg("#if %s after \"%s\": %c, want %c", v[i].expr, v[i].prelude, got, v[i].want);
	}
}

static void test_if_defines_given(void **state)
{
	struct rec r;
	struct sgt_creader *cr = NULL;
	static const struct sgt_cdefine defs[] = { { "OTA", "( 1 )", 0 }, { "NO", NULL, 1 } };
	const char *src = "#if ( OTA == 1 ) && !defined NO\n\"on\"\n#endif\n";

	(void)state;
	memset(&r, 0, sizeof(r));
	assert_int_equal(sgt_creader_scan_with((const unsigned char *)src, strlen(src), defs, 2, on_piece, &r, &cr), SGT_OK);
	assert_string_equal(r.out, "str A -:on\n");
	sgt_creader_free(cr);
}

static void test_hostile(void **state)
{
	static const char *const bad[] = { "#if", "#if (", "#if defined(", "#elif", "#else\n#endif\n#endif",
					   "\"\\", "'", "/*", "#define", "#define X \\", "0x", "#if 1 +", "\"\\x" };
	struct rec r;
	size_t i, j;
	char *deep = malloc(300 * 7 + 1);

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		for (j = 0; j <= strlen(bad[i]); j++) {
			char *copy = malloc(j + 1);
			struct sgt_creader *cr = NULL;

			memcpy(copy, bad[i], j);
			copy[j] = '\0';
			memset(&r, 0, sizeof(r));
			assert_int_equal(sgt_creader_scan((unsigned char *)copy, j, on_piece, &r, &cr), SGT_OK);
			sgt_creader_free(cr);
			free(copy);
		}
	/* Nesting deeper than the reader tracks: conditional, not compiled in. */
	for (i = 0; i < 300; i++)
		memcpy(deep + 7 * i, "#if 1\n\n", 7);
	deep[300 * 7] = '\0';
	{
		struct sgt_creader *cr = NULL;
		char *src = malloc(strlen(deep) + 8);

		sprintf(src, "%s\"x\"\n", deep);
		memset(&r, 0, sizeof(r));
		assert_int_equal(sgt_creader_scan((unsigned char *)src, strlen(src), on_piece, &r, &cr), SGT_OK);
		assert_string_equal(r.out, "str ? -:x\n");
		sgt_creader_free(cr);
		free(src);
	}
	free(deep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_literals),
		cmocka_unit_test(test_conditionals),
		cmocka_unit_test(test_guard_and_supersede),
		cmocka_unit_test(test_bytes_and_comments),
		cmocka_unit_test(test_if_expressions),
		cmocka_unit_test(test_if_defines_given),
		cmocka_unit_test(test_hostile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
