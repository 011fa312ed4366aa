/*
 * fleet_records.h: recorded builds and custody, read from the store (ops floor).
 */
#ifndef SGT_FLEET_RECORDS_H
#define SGT_FLEET_RECORDS_H

#include "fleet.h"
#include "store.h"

/*
 * A recorded build, <store>/fleets/<fleet>/<version>.yaml: its path
 * (malloc'd) and its text in out, for the caller to stage within its
 * intent (the file must not be visible before its audit record).
 */
int sgt_fleet_record_render(const struct sgt_store *st, const char *fleet, const struct sgt_fleet_build *b,
			    char **path_out, struct sgt_buf *out);
int sgt_fleet_record_load(const char *path, const char *fleet, const char *version, struct sgt_fleet_build *b);
/* Merges every recorded build into inv (the inventory's own entries keep their counts). */
int sgt_fleet_records_merge(const struct sgt_store *st, struct sgt_inventory *inv);

/* Custody as the judgement needs it: every key record with its current certificate. */
int sgt_fleet_custody_load(const struct sgt_store *st, struct sgt_fleet_custody **out, size_t *n);

#endif
