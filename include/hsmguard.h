/*
 * hsmguard.h: keeping the embedded SoftHSM2 token whole across
 * interruptions, and holding off SIGINT/SIGTERM/SIGHUP while a PKCS#11
 * module or a store write is half-way through something.
 *
 * SoftHSM2 2.6 rewrites token.object in place (fopen "w+", then write) on
 * every login, and an object file whenever an attribute changes, so a kill
 * at the wrong instruction leaves an empty or short file and the token is
 * gone.  signet keeps a known-good copy of every token file in
 * <store>/hsm/good/, refreshed (atomically, file by file) before each use of
 * the token, and restores a damaged file from it before the module is
 * loaded.  A data object rewritten in place (the chain's anchor, its label
 * rewritten at every signed head) keeps the well-formed copy made with it:
 * restored, it gives back an older head, which audit verify accepts.  A file is judged damaged only when it is recognisably so: empty,
 * shorter than its header, a strict prefix of its good copy, or not a
 * well-formed SoftHSM2 object file while its good copy is.  A file with no
 * good copy is never deleted: an empty one (an interrupted key generation
 * wrote nothing) is moved to <store>/hsm/quarantine/.  A missing file is
 * restored too, unless it was a data object or signet destroyed it.  An
 * external SoftHSM2 token (init --module) is guarded the same way: its
 * directory is found through softhsm2.conf and its good copy kept in the
 * store; its guard lock is <token dir>/.signet-guard.lock, shared by every
 * store using the token.
 *
 * Every process that loads the embedded module holds a shared flock on
 * <store>/hsm/guard.lock while the module is loaded; checking, repairing
 * and refreshing take it exclusively, so nothing is judged while another
 * process's SoftHSM2 may be half-way through a write.  Other modules keep
 * their own state; their vendors' backup and HA tools cover it (see
 * docs/custody.md).
 */
#ifndef SGT_HSMGUARD_H
#define SGT_HSMGUARD_H

#include <stddef.h>

#include <jansson.h>

#include "fsio.h"
#include "store.h"

/* 1 when the store's token is the embedded SoftHSM2 one in <store>/hsm. */
int sgt_hsm_embedded(const struct sgt_store *st);

/*
 * Call before loading the store's module.  For the embedded token: points
 * softhsm2.conf at the store's current location (a moved or restored
 * store), restores damaged token files (one line on stderr each time),
 * refreshes the good copy, and takes the shared guard lock.  The repairs
 * made are handed back in *repairs (a new JSON array, one object per
 * repair, or NULL when none; repairs may be NULL): the caller has them
 * recorded (sgt_hsm_repairs_due).  For any store: holds
 * SIGINT/SIGTERM/SIGHUP until the matching sgt_hsm_leave.  Calls nest.
 */
int sgt_hsm_enter(const struct sgt_store *st, json_t **repairs);
/* 1 while a module is loaded under the guard (between enter and the last leave). */
int sgt_hsm_busy(void);
/* Call after the module is unloaded (C_Finalize); releases what enter took. */
void sgt_hsm_leave(void);
/*
 * A store directory an interrupted init left (about to be removed): its
 * known-good copy of an external SoftHSM2 token repairs what the init's
 * login may have left half written.
 */
void sgt_hsm_rescue(const char *dead);
/* 1 while the guard holds a SoftHSM2 token's directory (embedded or external) for this process. */
int sgt_hsm_guarding(void);
/*
 * 1 while the guard holds the embedded token, the only token directory in
 * <store>/hsm/tokens, and its token.object has this label and serial (as
 * C_GetTokenInfo gives them, blank-padded): the module can show no other
 * token with that label, so the slot search may stop at it.
 */
int sgt_hsm_sole_token(const unsigned char label[32], const unsigned char serial[16]);
/*
 * Copies token files that have no good copy yet (a pair just generated)
 * into the good copy, while the module is loaded, after syncing them and
 * their directory where the module wrote them (SoftHSM2 syncs nothing):
 * call it before a record names a new object.  Files that already have
 * one are refreshed by the next sgt_hsm_enter.
 */
int sgt_hsm_snapshot_new(const struct sgt_store *st);
/*
 * Around a C_DestroyObject on a guarded token: mark lists its object
 * files (NULL when there is no guard), note records those gone since in
 * <token dir>/.signet-destroyed (synced), so that no guard restores them
 * from a known-good copy, and frees mark.  Without that list, a missing
 * key object file is brought back: a power cut can drop a new file's
 * directory entry, a destroy cannot be told from that otherwise.
 */
json_t *sgt_hsm_destroy_mark(void);
int sgt_hsm_destroy_note(json_t *mark);
/*
 * The repairs to record now, as the details of "recovered" audit records:
 * with the store locked exclusively, *due (new reference) holds those an
 * earlier command noted in hsm/repairs.pending followed by made (may be
 * NULL); after recording them call sgt_hsm_repairs_recorded, which deletes
 * the note.  Without the exclusive lock, made is added to the note and *due
 * is NULL.  The guard never writes the audit log itself.
 */
int sgt_hsm_repairs_due(const struct sgt_store *st, json_t *made, json_t **due);
void sgt_hsm_repairs_recorded(const struct sgt_store *st);
/* The embedded token's object files ("<token dir>/<file>"), or *out NULL for another module. */
int sgt_hsm_objects(const struct sgt_store *st, json_t **out);
/*
 * Moves aside (to hsm/quarantine) object files of the embedded token that
 * are not in known (from sgt_hsm_objects): what an interrupted key
 * generation wrote, complete or not.  Never while a module is loaded.
 * Returns 1 (nothing done) while another process has the module loaded.
 */
int sgt_hsm_quarantine_new(const struct sgt_store *st, json_t *known, int *moved);

/*
 * 1 when the store is on a read-only file system: the token guard then only
 * looks (a damaged token file is an error), and a moved store's
 * softhsm2.conf is corrected in memory rather than rewritten.
 */
int sgt_store_readonly(const struct sgt_store *st);

/*
 * Well-formedness of a SoftHSM2 object file (generation counter, then
 * attributes: type, kind, value), as found in the file backend of 2.6.
 * Returns 1 when buf is one, 0 otherwise.  Exposed for tests and fuzzing.
 */
int sgt_hsm_objfile_ok(const unsigned char *buf, size_t len);

/*
 * For the fuzz harness: reads the guard's list of files last found good
 * (hsm/good/<token>/.seen, see hsmguard.c) from text, as written in boot;
 * returns how many entries it keeps.
 */
size_t sgt_hsm_seen_parse(const char *text, size_t len, const char *boot);

#endif
