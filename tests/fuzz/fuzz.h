/*
 * fuzz.h: what the libFuzzer harnesses share: the entry point's prototype,
 * silencing signet's error lines (every malformed input would print one),
 * and a private scratch directory for the parsers that read files by
 * path (store config, key records, audit log, fleet inventory and
 * sources).  Harness code only; nothing here is part of signet.
 */
#ifndef SGT_FUZZ_H
#define SGT_FUZZ_H

#include <fcntl.h>
#include <ftw.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sgt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fuzz_scratch[64];

static inline int fuzz_rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);	/* what cannot go stays; the walk goes on */
	return 0;
}

/* At exit: the scratch directory goes, with what the parsers left in it. */
static inline void fuzz_cleanup(void)
{
	if (fuzz_scratch[0] != '\0')
		nftw(fuzz_scratch, fuzz_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* Once per process: errors silenced, a 0700 scratch directory made (removed at exit). */
static inline const char *fuzz_dir(void)
{
	char *dir = fuzz_scratch;

	if (dir[0] == '\0') {
		const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

		umask(077);
		sgt_silent = 1;
		sgt_quiet = 1;
		snprintf(dir, sizeof(fuzz_scratch), "%s/sgt-fuzz-XXXXXX", base);
		if (mkdtemp(dir) == NULL)
			abort();
		atexit(fuzz_cleanup);
	}
	return dir;
}

/* Writes data as <scratch>/<rel>; aborts on I/O failure (not a finding). */
static inline void fuzz_put(const char *rel, const void *data, size_t len)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", fuzz_dir(), rel);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || (len > 0 && write(fd, data, len) != (ssize_t)len) || close(fd) != 0)
		abort();
}

/* A NUL-terminated copy of the input (most parsers want a C string). */
static inline char *fuzz_str(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s == NULL)
		abort();
	if (size > 0)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

#endif
