/*
 * fuzz_fleet_source.c: libFuzzer harness for the device sources a fleet's
 * population is streamed from: CSV, JSON Lines and AWS IoT search-index
 * output (sgt_fleet_count).  The first byte picks the format (and, for
 * search-index, whether thingGroupNames lists pick the fleet); the rest is
 * the source file.
 */
#include "fleet.h"
#include "fuzz.h"

static const char *const inventories[] = {
	"fleets:\n  - name: gen2\n    builds:\n      - { version: 1.4.2, devices: 1 }\n"
	"    devices: { source: src, format: csv, build_field: fw, fleet_field: fleet, last_seen_field: seen }\n"
	"  - name: other\n    builds:\n      - { version: 1.4.2 }\n",
	"fleets:\n  - name: gen2\n    builds:\n      - { version: 1.4.2, devices: 1 }\n"
	"    devices: { source: src, format: jsonl, build_field: a.fw, fleet_field: fleet, last_seen_field: seen, "
	"stale_days: 1 }\n",
	"fleets:\n  - name: gen2\n    builds:\n      - { version: 1.4.2, devices: 1 }\n"
	"    devices: { source: src, format: aws-iot-search-index, build_field: shadow.reported.fw, "
	"last_seen_field: connectivity.timestamp }\n",
	/* thingGroupNames: a list naming every fleet the device belongs to */
	"fleets:\n  - name: gen2\n    builds:\n      - { version: 1.4.2, devices: 1 }\n"
	"    devices: { source: src, format: aws-iot-search-index, build_field: shadow.reported.fw, "
	"fleet_field: thingGroupNames }\n  - name: lab\n",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sgt_inventory inv;
	const char *yaml;
	char path[256];
	size_t i;

	if (size == 0)
		return 0;
	yaml = inventories[data[0] % (sizeof(inventories) / sizeof(inventories[0]))];
	fuzz_put("fleets.yaml", yaml, strlen(yaml));
	fuzz_put("src", data + 1, size - 1);
	snprintf(path, sizeof(path), "%s/fleets.yaml", fuzz_dir());
	if (sgt_inventory_load(path, 1, &inv) != SGT_OK)
		__builtin_trap();	/* the fixed inventories are valid */
	if (sgt_fleet_count(&inv, NULL, 0, (time_t)1780000000) == SGT_OK) {
		for (i = 0; i < inv.fleets[0].nbuilds; i++)
			if (inv.fleets[0].builds[i].devices < 0 || inv.fleets[0].builds[i].stale < 0)
				__builtin_trap();
		if (inv.fleets[0].nunknown > SGT_FLEET_MAX_UNKNOWN + 1)
			__builtin_trap();
	}
	sgt_inventory_release(&inv);
	return 0;
}
