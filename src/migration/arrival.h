/*
 * The destination's record of one incoming migration (an "arrival"): its
 * id, sent in RECEIVED, and what became of it, the answer to a QUERY
 * (docs/stream-format.md). The record lives in memory, in an optional
 * outcome file that godwitd reads to answer on its relocation port, and,
 * for a standalone `migrate-receive --listen`, behind a QUERY server on
 * the listening socket (a thread of its own: the main thread is busy
 * receiving or waiting for YOURS when a source asks).
 *
 * The outcome file holds exactly one word, no newline: RUNNING, written
 * after YOURS and before any vCPU runs, or DISCARDED, written when the VM
 * is given up before YOURS, before the connection closes. It is replaced
 * atomically (a temporary file in the same directory, renamed); RUNNING
 * is made durable after the resume (arrival_sync), off the downtime path.
 */
#ifndef GODWIT_MIGRATION_ARRIVAL_H
#define GODWIT_MIGRATION_ARRIVAL_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/compiler.h"

struct tls_opts;

struct arrival {
	uint64_t id; /* never 0 */
	uint32_t outcome; /* enum handover_outcome; atomic: server reads */
	char outcome_file[PATH_MAX]; /* "" = none */
	bool disclosed; /* RECEIVED carried the id: a source may ask */
	/* QUERY server (arrival_serve) */
	int lfd; /* listening socket, -1 if none */
	int stop_fd; /* eventfd: ends the server thread */
	pthread_t thread;
	bool serving;
	const struct tls_opts *tls; /* QUERY over TLS; NULL: plain */
};

/* A random non-zero arrival id. */
int arrival_new_id(uint64_t *id_out) __must_check;

/* Start a PENDING record; outcome_file may be NULL or "". */
void arrival_init(struct arrival *a, uint64_t id, const char *outcome_file);
/*
 * Serve QUERY on listening socket lfd (the record takes it and closes it
 * in arrival_destroy) until arrival_destroy: one QUERY per connection
 * answered with one OUTCOME; anything else closed at once.
 */
int arrival_serve(struct arrival *a, int lfd) __must_check;
/*
 * Record the outcome (RUNNING or DISCARDED) in memory and in the outcome
 * file. DISCARDED is made durable at once; RUNNING by arrival_sync().
 * Returns the file's error (the memory record is set anyway).
 */
int arrival_set(struct arrival *a, uint32_t outcome) __must_check;
/* fsync the outcome file and its directory. */
int arrival_sync(struct arrival *a) __must_check;
uint32_t arrival_outcome(const struct arrival *a);
/* What a QUERY for id gets: UNKNOWN for another id, else the record. */
uint32_t arrival_answer(const struct arrival *a, uint64_t id);
/* Stop the server (if any) and close the listening socket. */
void arrival_destroy(struct arrival *a);

#endif
