/*
 * fuzz_fleet_inventory.c: libFuzzer harness for the fleet inventory
 * (fleets.yaml, sgt_inventory_load) and fleet build records
 * (fleets/<fleet>/<version>.yaml, sgt_fleet_record_load).
 */
#include "fleet.h"
#include "fleet_records.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sgt_inventory inv;
	struct sgt_fleet_build b;
	char path[256];

	fuzz_put("fleets.yaml", data, size);
	snprintf(path, sizeof(path), "%s/fleets.yaml", fuzz_dir());
	if (sgt_inventory_load(path, 1, &inv) == SGT_OK)
		sgt_inventory_release(&inv);
	memset(&b, 0, sizeof(b));
	if (sgt_fleet_record_load(path, "gen2", "1.4.2", &b) == SGT_OK) {
		if (b.nkeys == 0 || b.keys == NULL)
			__builtin_trap();
		free(b.version);
		free(b.artefact);
		free(b.keys);
	} else if (b.keys != NULL || b.artefact != NULL) {
		__builtin_trap();	/* a failed load leaves nothing behind */
	}
	return 0;
}
