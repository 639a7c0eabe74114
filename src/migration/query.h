/*
 * Asking what became of a migration (docs/stream-format.md, "Asking what
 * became of a migration: QUERY and OUTCOME"). The source side: one QUERY
 * on a new connection, and the loop that asks until the answer settles
 * an unconfirmed handover. The destination's side is arrival.h.
 */
#ifndef GODWIT_MIGRATION_QUERY_H
#define GODWIT_MIGRATION_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"

struct tls_opts;

/* Where and whom to ask. */
struct query_target {
	char host[256];
	uint16_t port;
	uint64_t arrival_id; /* 0: the destination cannot be asked */
	unsigned int attempt_ms; /* connect and answer, per attempt */
	int cancel_fd; /* readable: stop asking (-ECANCELED); -1: none */
	const struct tls_opts *tls; /* NULL: plain TCP */
};

/*
 * One QUERY on a new connection. 0 with *outcome_out (enum
 * handover_outcome) if the destination answered for this arrival; else
 * -errno with one line in why (refused, timed out, a bad answer).
 */
int query_ask(const struct query_target *t, uint32_t *outcome_out, char *why,
	      size_t whylen) __must_check;

/*
 * Ask until the answer is RUNNING or DISCARDED (returned in
 * *outcome_out), waiting policy_query_interval_ms() between attempts;
 * PENDING, UNKNOWN and failures mean ask again. Logs the first answer
 * and every change, not every attempt. With arrival id 0 it only waits.
 * Returns 0, or -ECANCELED once the cancel fd is readable.
 */
int query_settle(const struct query_target *t, uint32_t *outcome_out);

/* "RUNNING", "DISCARDED", "PENDING", "UNKNOWN" or "invalid". */
const char *query_outcome_name(uint32_t outcome);

#endif
