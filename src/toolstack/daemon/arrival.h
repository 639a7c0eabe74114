/*
 * What became of each incoming migration, for the source that asks
 * (docs/stream-format.md, "Asking what became of a migration"). Every
 * arrival on the relocation port gets a random non-zero arrival id; its
 * receiving VMM writes RUNNING to the arrival's outcome file (by rename)
 * after YOURS and before the VM runs, or DISCARDED when it gives the VM
 * up. The daemon answers a QUERY from that file while the arrival is
 * known, and from a small record per arrival id (STATE/arrivals/ID, kept
 * 24 hours) once the arrival's own files are gone, so the answer
 * survives a daemon restart and the arrival's cleanup. A receiver that
 * ended without writing RUNNING never ran the VM: DISCARDED.
 */
#ifndef GODWIT_DAEMON_ARRIVAL_H
#define GODWIT_DAEMON_ARRIVAL_H

#include <stddef.h>
#include <stdint.h>

/* How long an arrival's outcome record is kept. */
#define ARRIVAL_KEEP_S (24 * 3600)

/* What an outcome file (or record) says: enum handover_outcome, or 0. */
uint32_t arrival_parse_word(const char *text, size_t len);
/* The word for RUNNING or DISCARDED ("" for anything else). */
const char *arrival_word(uint32_t outcome);

#endif
