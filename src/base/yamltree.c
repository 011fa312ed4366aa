/*
 * yamltree.c: builds a plain tree from libyaml's event stream, keeping line
 * numbers, and offers strict typed getters so callers reject unknown or
 * mistyped fields instead of falling back to defaults.  It does not
 * resolve anchors or tags: signet's files never need them, and refusing
 * them keeps the parser's behaviour obvious.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "yamltree.h"

#define MAX_DEPTH 32

struct parse {
	yaml_parser_t p;
	const char *name;
};

static struct sgt_yaml *node_new(enum sgt_yaml_kind kind, int line)
{
	struct sgt_yaml *y = calloc(1, sizeof(*y));

	if (y != NULL) {
		y->kind = kind;
		y->line = line;
	}
	return y;
}

void sgt_yaml_free(struct sgt_yaml *y)
{
	size_t i;

	if (y == NULL)
		return;
	for (i = 0; i < y->n; i++) {
		sgt_yaml_free(y->items[i]);
		if (y->keys != NULL)
			free(y->keys[i]);
	}
	free(y->items);
	free(y->keys);
	free(y->value);
	free(y);
}

/* Grows by doubling so that a map of n keys costs O(n) copies, not O(n^2). */
static int add_child(struct sgt_yaml *parent, char *key, struct sgt_yaml *child)
{
	if (parent->n == parent->cap) {
		size_t cap = parent->cap ? parent->cap * 2 : 8;
		struct sgt_yaml **items;

		if (cap > SIZE_MAX / sizeof(*items))
			return -1;
		items = realloc(parent->items, cap * sizeof(*items));
		if (items == NULL)
			return -1;
		parent->items = items;
		if (parent->kind == SGT_YAML_MAP) {
			char **keys = realloc(parent->keys, cap * sizeof(*keys));

			if (keys == NULL)
				return -1;
			parent->keys = keys;
		}
		parent->cap = cap;
	}
	if (parent->kind == SGT_YAML_MAP)
		parent->keys[parent->n] = key;
	parent->items[parent->n++] = child;
	return 0;
}

/*
 * The keys seen so far in one map, as an open-addressing hash set of
 * indices into the map's keys: the duplicate check stays linear in the
 * number of keys (90,000 keys once took 24 s with a pairwise scan).
 */
struct keyset {
	size_t *slot;		/* index + 1 into keys; 0 is empty */
	size_t cap;		/* a power of two */
	size_t n;
};

static size_t key_hash(const char *s)
{
	size_t h = 1469598103934665603ull & SIZE_MAX;

	while (*s != '\0')
		h = (h ^ (unsigned char)*s++) * (size_t)1099511628211ull;
	return h;
}

/* Is key among keys[] (as indexed by ks)? */
static int keyset_has(const struct keyset *ks, char *const *keys, const char *key)
{
	size_t i;

	if (ks->cap == 0)
		return 0;
	for (i = key_hash(key) & (ks->cap - 1); ks->slot[i] != 0; i = (i + 1) & (ks->cap - 1))
		if (strcmp(keys[ks->slot[i] - 1], key) == 0)
			return 1;
	return 0;
}

/* Records keys[idx]; keeps the load under one half. */
static int keyset_add(struct keyset *ks, char *const *keys, size_t idx)
{
	size_t i;

	if ((ks->n + 1) * 2 > ks->cap) {
		size_t cap = ks->cap ? ks->cap * 2 : 16, j;
		size_t *slot;

		if (cap > SIZE_MAX / sizeof(*slot))
			return -1;
		slot = calloc(cap, sizeof(*slot));
		if (slot == NULL)
			return -1;
		for (j = 0; j < ks->cap; j++) {
			if (ks->slot[j] == 0)
				continue;
			for (i = key_hash(keys[ks->slot[j] - 1]) & (cap - 1); slot[i] != 0; i = (i + 1) & (cap - 1))
				;
			slot[i] = ks->slot[j];
		}
		free(ks->slot);
		ks->slot = slot;
		ks->cap = cap;
	}
	for (i = key_hash(keys[idx]) & (ks->cap - 1); ks->slot[i] != 0; i = (i + 1) & (ks->cap - 1))
		;
	ks->slot[i] = idx + 1;
	ks->n++;
	return 0;
}

static int next_event(struct parse *ps, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&ps->p, ev)) {
		return sgt_err(SGT_ERR_DATA, "%s:%zu: malformed YAML: %s", ps->name,
			       ps->p.problem_mark.line + 1,
			       ps->p.problem ? ps->p.problem : "syntax error");
	}
	return SGT_OK;
}

static int parse_node(struct parse *ps, yaml_event_t *ev, int depth, struct sgt_yaml **out);

static int parse_collection(struct parse *ps, struct sgt_yaml *y, int depth, struct keyset *ks)
{
	yaml_event_type_t end = y->kind == SGT_YAML_MAP ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT;

	for (;;) {
		yaml_event_t ev;
		char *key = NULL;
		struct sgt_yaml *child = NULL;
		int rc;

		if ((rc = next_event(ps, &ev)) != SGT_OK)
			return rc;
		if (ev.type == end) {
			yaml_event_delete(&ev);
			return SGT_OK;
		}
		if (y->kind == SGT_YAML_MAP) {
			if (ev.type != YAML_SCALAR_EVENT) {
				rc = sgt_err(SGT_ERR_DATA, "%s:%zu: a mapping key must be a plain scalar",
					     ps->name, ev.start_mark.line + 1);
				yaml_event_delete(&ev);
				return rc;
			}
			key = strdup((const char *)ev.data.scalar.value);
			if (key != NULL && keyset_has(ks, y->keys, key)) {
				rc = sgt_err(SGT_ERR_DATA, "%s:%zu: field '%s' appears twice",
					     ps->name, ev.start_mark.line + 1, key);
				free(key);
				yaml_event_delete(&ev);
				return rc;
			}
			yaml_event_delete(&ev);
			if (key == NULL)
				return sgt_err(SGT_ERR_DATA, "out of memory");
			if ((rc = next_event(ps, &ev)) != SGT_OK) {
				free(key);
				return rc;
			}
		}
		rc = parse_node(ps, &ev, depth + 1, &child);
		if (rc != SGT_OK) {
			free(key);
			return rc;
		}
		if (add_child(y, key, child) != 0) {
			free(key);
			sgt_yaml_free(child);
			return sgt_err(SGT_ERR_DATA, "out of memory");
		}
		if (y->kind == SGT_YAML_MAP && keyset_add(ks, y->keys, y->n - 1) != 0)
			return sgt_err(SGT_ERR_DATA, "out of memory");
	}
}

static int has_anchor_or_tag(const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		return ev->data.scalar.anchor != NULL || (ev->data.scalar.tag != NULL && !ev->data.scalar.plain_implicit &&
							 !ev->data.scalar.quoted_implicit);
	case YAML_SEQUENCE_START_EVENT:
		return ev->data.sequence_start.anchor != NULL ||
		       (ev->data.sequence_start.tag != NULL && !ev->data.sequence_start.implicit);
	case YAML_MAPPING_START_EVENT:
		return ev->data.mapping_start.anchor != NULL ||
		       (ev->data.mapping_start.tag != NULL && !ev->data.mapping_start.implicit);
	default:
		return 0;
	}
}

/* Consumes ev (and the events of its children). */
static int parse_node(struct parse *ps, yaml_event_t *ev, int depth, struct sgt_yaml **out)
{
	struct sgt_yaml *y = NULL;
	int line = (int)ev->start_mark.line + 1;
	int rc;

	*out = NULL;
	if (depth > MAX_DEPTH) {
		yaml_event_delete(ev);
		return sgt_err(SGT_ERR_DATA, "%s:%d: nesting deeper than %d levels", ps->name, line, MAX_DEPTH);
	}
	if (has_anchor_or_tag(ev)) {
		yaml_event_delete(ev);
		return sgt_err(SGT_ERR_DATA, "%s:%d: YAML anchors and tags are not supported", ps->name, line);
	}
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		y = node_new(SGT_YAML_SCALAR, line);
		if (y != NULL && (y->value = strdup((const char *)ev->data.scalar.value)) == NULL) {
			free(y);
			y = NULL;
		}
		yaml_event_delete(ev);
		if (y == NULL)
			return sgt_err(SGT_ERR_DATA, "out of memory");
		*out = y;
		return SGT_OK;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		y = node_new(ev->type == YAML_MAPPING_START_EVENT ? SGT_YAML_MAP : SGT_YAML_SEQ, line);
		yaml_event_delete(ev);
		if (y == NULL)
			return sgt_err(SGT_ERR_DATA, "out of memory");
		{
			struct keyset ks = { NULL, 0, 0 };

			rc = parse_collection(ps, y, depth, &ks);
			free(ks.slot);
		}
		if (rc != SGT_OK) {
			sgt_yaml_free(y);
			return rc;
		}
		*out = y;
		return SGT_OK;
	case YAML_ALIAS_EVENT:
		yaml_event_delete(ev);
		return sgt_err(SGT_ERR_DATA, "%s:%d: YAML aliases are not supported", ps->name, line);
	default:
		yaml_event_delete(ev);
		return sgt_err(SGT_ERR_DATA, "%s:%d: unexpected YAML structure", ps->name, line);
	}
}

int sgt_yaml_parse(const char *name, const char *buf, size_t len, struct sgt_yaml **out)
{
	struct parse ps;
	yaml_event_t ev;
	struct sgt_yaml *root = NULL;
	int rc;

	*out = NULL;
	ps.name = name;
	if (!yaml_parser_initialize(&ps.p))
		return sgt_err(SGT_ERR_DATA, "out of memory");
	yaml_parser_set_input_string(&ps.p, (const unsigned char *)buf, len);
	/* STREAM-START, then DOCUMENT-START or STREAM-END for an empty file. */
	if ((rc = next_event(&ps, &ev)) != SGT_OK)
		goto out;
	yaml_event_delete(&ev);
	if ((rc = next_event(&ps, &ev)) != SGT_OK)
		goto out;
	if (ev.type == YAML_STREAM_END_EVENT) {
		yaml_event_delete(&ev);
		root = node_new(SGT_YAML_MAP, 1);
		rc = root ? SGT_OK : sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	yaml_event_delete(&ev);
	if ((rc = next_event(&ps, &ev)) != SGT_OK)
		goto out;
	if ((rc = parse_node(&ps, &ev, 0, &root)) != SGT_OK)
		goto out;
	if (root->kind == SGT_YAML_SCALAR && root->value[0] == '\0') {
		/* "---" alone: an empty document, which callers expect as an empty map. */
		root->kind = SGT_YAML_MAP;
		free(root->value);
		root->value = NULL;
	}
	if ((rc = next_event(&ps, &ev)) != SGT_OK)	/* DOCUMENT-END */
		goto out;
	yaml_event_delete(&ev);
	if ((rc = next_event(&ps, &ev)) != SGT_OK)
		goto out;
	if (ev.type != YAML_STREAM_END_EVENT)
		rc = sgt_err(SGT_ERR_DATA, "%s:%zu: more than one YAML document", name, ev.start_mark.line + 1);
	yaml_event_delete(&ev);
out:
	yaml_parser_delete(&ps.p);
	if (rc != SGT_OK) {
		sgt_yaml_free(root);
		return rc;
	}
	*out = root;
	return SGT_OK;
}

int sgt_yaml_load(const char *path, struct sgt_yaml **out)
{
	unsigned char *buf;
	size_t len;
	int rc;

	*out = NULL;
	if ((rc = sgt_file_read(path, 4 << 20, &buf, &len)) != SGT_OK)
		return rc;
	rc = sgt_yaml_parse(path, (const char *)buf, len, out);
	free(buf);
	return rc;
}

const struct sgt_yaml *sgt_yaml_get(const struct sgt_yaml *y, const char *key)
{
	size_t i;

	if (y == NULL || y->kind != SGT_YAML_MAP)
		return NULL;
	for (i = 0; i < y->n; i++)
		if (strcmp(y->keys[i], key) == 0)
			return y->items[i];
	return NULL;
}

const char *sgt_yaml_str(const struct sgt_yaml *y, const char *key)
{
	const struct sgt_yaml *v = sgt_yaml_get(y, key);

	return v != NULL && v->kind == SGT_YAML_SCALAR ? v->value : NULL;
}

int sgt_yaml_check_keys(const char *name, const struct sgt_yaml *y, const char *where, const char *const *allowed)
{
	size_t i;

	if (y == NULL || y->kind != SGT_YAML_MAP)
		return sgt_err(SGT_ERR_DATA, "%s:%d: %s must be a mapping", name, y ? y->line : 1, where);
	for (i = 0; i < y->n; i++) {
		const char *const *a;

		for (a = allowed; *a != NULL; a++)
			if (strcmp(*a, y->keys[i]) == 0)
				break;
		if (*a == NULL)
			return sgt_err(SGT_ERR_DATA, "%s:%d: unknown field '%s' in %s", name,
				       y->items[i]->line, y->keys[i], where);
	}
	return SGT_OK;
}

static const struct sgt_yaml *field(const char *name, const struct sgt_yaml *map, const char *key, int required, int *rc)
{
	const struct sgt_yaml *v = sgt_yaml_get(map, key);

	*rc = SGT_OK;
	if (v == NULL && required)
		*rc = sgt_err(SGT_ERR_DATA, "%s:%d: missing field '%s'", name, map ? map->line : 1, key);
	else if (v != NULL && v->kind != SGT_YAML_SCALAR) {
		*rc = sgt_err(SGT_ERR_DATA, "%s:%d: field '%s' must be a single value", name, v->line, key);
		v = NULL;
	}
	return v;
}

int sgt_yaml_get_str(const char *name, const struct sgt_yaml *map, const char *key, int required, const char **out)
{
	int rc;
	const struct sgt_yaml *v = field(name, map, key, required, &rc);

	if (v != NULL)
		*out = v->value;
	return rc;
}

int sgt_yaml_get_bool(const char *name, const struct sgt_yaml *map, const char *key, int required, int *out)
{
	int rc;
	const struct sgt_yaml *v = field(name, map, key, required, &rc);

	if (v == NULL)
		return rc;
	if (strcmp(v->value, "true") == 0)
		*out = 1;
	else if (strcmp(v->value, "false") == 0)
		*out = 0;
	else
		return sgt_err(SGT_ERR_DATA, "%s:%d: field '%s' must be true or false, not '%s'",
			       name, v->line, key, v->value);
	return SGT_OK;
}

int sgt_yaml_get_long(const char *name, const struct sgt_yaml *map, const char *key, int required, long min, long max, long *out)
{
	int rc;
	const struct sgt_yaml *v = field(name, map, key, required, &rc);
	char *end;
	long n;

	if (v == NULL)
		return rc;
	errno = 0;
	n = strtol(v->value, &end, 10);
	if (errno != 0 || end == v->value || *end != '\0' || n < min || n > max)
		return sgt_err(SGT_ERR_DATA, "%s:%d: field '%s' must be a whole number from %ld to %ld, not '%s'",
			       name, v->line, key, min, max, v->value);
	*out = n;
	return SGT_OK;
}

int sgt_yaml_quote(struct sgt_buf *b, const char *s)
{
	int rc = sgt_buf_add(b, "\"", 1);

	for (; rc == SGT_OK && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			rc = sgt_buf_printf(b, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			rc = sgt_buf_printf(b, "\\x%02x", c);
		else
			rc = sgt_buf_add(b, s, 1);
	}
	return rc == SGT_OK ? sgt_buf_add(b, "\"", 1) : rc;
}
