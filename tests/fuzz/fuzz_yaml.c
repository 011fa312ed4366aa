/*
 * fuzz_yaml.c: libFuzzer harness for the YAML tree (sgt_yaml_parse) and its
 * strict getters, which every YAML file signet reads goes through.
 */
#include "fuzz.h"
#include "yamltree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const allowed[] = { "a", "b", "name", "fleets", NULL };
	struct sgt_yaml *y = NULL;
	size_t i;

	(void)fuzz_dir();
	if (sgt_yaml_parse("fuzz.yaml", (const char *)data, size, &y) == SGT_OK) {
		const char *s;
		int b;
		long l;

		(void)sgt_yaml_check_keys("fuzz.yaml", y, "the document", allowed);
		(void)sgt_yaml_get_str("fuzz.yaml", y, "a", 0, &s);
		(void)sgt_yaml_get_bool("fuzz.yaml", y, "b", 0, &b);
		(void)sgt_yaml_get_long("fuzz.yaml", y, "name", 0, -5, 5, &l);
		/* a map's keys are unique, and n children are there */
		if (y->kind == SGT_YAML_MAP)
			for (i = 0; i < y->n; i++)
				if (y->keys[i] == NULL || y->items[i] == NULL || sgt_yaml_get(y, y->keys[i]) != y->items[i])
					__builtin_trap();
		sgt_yaml_free(y);
	}
	return 0;
}
