/*
 * fuzz_backup_parse.c: libFuzzer harness for the backup payload parser
 * (sgt_backup_parse) and the envelope header check (sgt_backup_kind):
 * everything a restore reads from an archive before and after decryption.
 * Build and run: `make fuzz` (see docs/development.md); seeds in
 * tests/fuzz/corpus/backup_parse: a decrypted payload of a module store
 * and a CMS archive.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "backup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sgt_backup_list l;
	char why[128];
	size_t i;

	(void)sgt_backup_kind(data, size, why);
	if (sgt_backup_parse(data, size, &l, why) == SGT_OK) {
		/* whatever parses must satisfy what restore relies on */
		for (i = 0; i < l.n; i++) {
			if (!sgt_backup_path_ok(l.v[i].path))
				__builtin_trap();
			if (l.v[i].type == SGT_ENTRY_FILE &&
			    (l.v[i].data < data || l.v[i].data + l.v[i].size > data + size))
				__builtin_trap();
			if (i > 0 && strcmp(l.v[i - 1].path, l.v[i].path) == 0)
				__builtin_trap();
		}
		sgt_backup_list_release(&l);
	}
	return 0;
}
