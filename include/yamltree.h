/*
 * yamltree.h: a small read-only YAML document tree on top of libyaml, with the
 * line of every node so that errors can name file, line and field; plus a
 * writer helper that emits always-quoted scalars.  Anchors, aliases, tags
 * and multi-document streams are refused rather than half-understood.
 */
#ifndef SGT_YAML_H
#define SGT_YAML_H

#include <stddef.h>

#include "sgt.h"

enum sgt_yaml_kind {
	SGT_YAML_SCALAR,
	SGT_YAML_SEQ,
	SGT_YAML_MAP
};

struct sgt_yaml {
	enum sgt_yaml_kind kind;
	int line;		/* 1-based */
	char *value;		/* SCALAR: the text; NULL otherwise */
	char **keys;		/* MAP: keys[i] names items[i] */
	struct sgt_yaml **items;	/* SEQ and MAP children */
	size_t n;
	size_t cap;		/* allocated length of items (and keys) */
};

/*
 * Parses buf (name is used in messages).  An empty document yields an
 * empty map.  Errors are reported as "name:line: reason" and return
 * SGT_ERR_DATA.
 */
int sgt_yaml_parse(const char *name, const char *buf, size_t len, struct sgt_yaml **out);
int sgt_yaml_load(const char *path, struct sgt_yaml **out);
void sgt_yaml_free(struct sgt_yaml *y);

/* Child of a map by key, or NULL (also when y is NULL or not a map). */
const struct sgt_yaml *sgt_yaml_get(const struct sgt_yaml *y, const char *key);
/* Scalar text of a map's child, or NULL when absent or not a scalar. */
const char *sgt_yaml_str(const struct sgt_yaml *y, const char *key);

/*
 * Refuses any key of map y not in allowed (NULL-terminated), reporting
 * "name:line: unknown field 'x' in <where>".  Also refuses y not a map.
 */
int sgt_yaml_check_keys(const char *name, const struct sgt_yaml *y, const char *where, const char *const *allowed);

/*
 * Typed getters that report "name:line: field 'key' ...: reason" and
 * return SGT_ERR_DATA on a wrong type; a missing field is an error only
 * when required is set (then out is untouched otherwise).
 */
int sgt_yaml_get_str(const char *name, const struct sgt_yaml *map, const char *key, int required, const char **out);
int sgt_yaml_get_bool(const char *name, const struct sgt_yaml *map, const char *key, int required, int *out);
int sgt_yaml_get_long(const char *name, const struct sgt_yaml *map, const char *key, int required, long min, long max, long *out);

/* Appends s as a double-quoted YAML scalar. */
int sgt_yaml_quote(struct sgt_buf *b, const char *s);

#endif
