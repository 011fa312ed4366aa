/*
 * approve.c: the two-person rule: loading and counting the allowed
 * signers a key's policy names.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "approve.h"
#include "sgt.h"

int sgt_approve_signers_load(const char *store_dir, const char *file, struct sgt_signers *out, char *path,
			     size_t cap)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (file[0] == '/')
		snprintf(path, cap, "%s", file);
	else if (store_dir != NULL)
		snprintf(path, cap, "%s/%s", store_dir, file);
	else
		return sgt_err(SGT_ERR_DATA, "%s: an allowed_signers path relative to the store, but no store", file);
	if ((rc = sgt_file_read(path, 1 << 20, &buf, &len)) != SGT_OK)
		return rc;
	rc = sgt_signers_parse((const char *)buf, len, path, out);
	free(buf);
	return rc;
}

/* 1 when the first l bytes of p are already among the earlier patterns. */
static int seen_before(const struct sgt_signers *s, size_t upto_line, const char *upto, const char *p, size_t l)
{
	size_t i;

	for (i = 0; i <= upto_line; i++) {
		const char *q = s->v[i].principals;

		while (*q != '\0' && q != upto) {
			const char *c = strchr(q, ',');
			size_t ql = c != NULL ? (size_t)(c - q) : strlen(q);

			if (ql == l && memcmp(q, p, l) == 0)
				return 1;
			q += ql;
			if (*q == ',')
				q++;
		}
	}
	return 0;
}

size_t sgt_approve_principal_count(const struct sgt_signers *s)
{
	size_t i, n = 0;

	for (i = 0; i < s->n; i++) {
		const char *p = s->v[i].principals;

		while (*p != '\0') {
			const char *c = strchr(p, ',');
			size_t l = c != NULL ? (size_t)(c - p) : strlen(p);

			if (l > 0 && p[0] != '!' && !seen_before(s, i, p, p, l))
				n++;
			p += l;
			if (*p == ',')
				p++;
		}
	}
	return n;
}
