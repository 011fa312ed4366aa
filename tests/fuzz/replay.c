/*
 * replay.c: a plain driver for the libFuzzer harnesses, so that `make
 * check` replays the committed corpora with any compiler (no clang, no
 * libFuzzer).  Every argument is a file or a directory of files; each
 * file is one input.  A crash or sanitizer report is the failure.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static size_t ran;

static int one(const char *path)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (f == NULL) {
		perror(path);
		return 1;
	}
	for (;;) {
		if (len == cap) {
			unsigned char *p = realloc(buf, cap ? cap * 2 : 4096);

			if (p == NULL)
				abort();
			buf = p;
			cap = cap ? cap * 2 : 4096;
		}
		n = fread(buf + len, 1, cap - len, f);
		if (n == 0)
			break;
		len += n;
	}
	fclose(f);
	/* an exact-size copy so that ASan sees any overread */
	{
		unsigned char *exact = malloc(len ? len : 1);

		if (exact == NULL)
			abort();
		if (len > 0)
			memcpy(exact, buf, len);
		free(buf);
		LLVMFuzzerTestOneInput(exact, len);
		free(exact);
	}
	ran++;
	return 0;
}

static int walk(const char *path)
{
	struct stat sb;
	struct dirent **ents;
	int n, i, rc = 0;

	if (stat(path, &sb) != 0) {
		perror(path);
		return 1;
	}
	if (!S_ISDIR(sb.st_mode))
		return one(path);
	n = scandir(path, &ents, NULL, alphasort);
	if (n < 0) {
		perror(path);
		return 1;
	}
	for (i = 0; i < n; i++) {
		if (ents[i]->d_name[0] != '.') {
			char sub[4096];

			snprintf(sub, sizeof(sub), "%s/%s", path, ents[i]->d_name);
			rc |= walk(sub);
		}
		free(ents[i]);
	}
	free(ents);
	return rc;
}

int main(int argc, char **argv)
{
	int i, rc = 0;

	for (i = 1; i < argc; i++)
		rc |= walk(argv[i]);
	printf("%s: %zu inputs replayed\n", argv[0], ran);
	return rc;
}
