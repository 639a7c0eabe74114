/*
 * A save or migration seen as a job, in the terms of virsh domjobinfo:
 * the VMM's query-migrate or query-save answer turned into one JSON
 * object (type, operation, time-elapsed-ms, data-*, memory-*, dirty
 * rate, iteration, downtimes), and that object printed as a table.
 * Shared by godwitd's job-info and `godwit job-info` on a VM socket.
 */
#ifndef GODWIT_LIB_JOBINFO_H
#define GODWIT_LIB_JOBINFO_H

#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

enum jobinfo_op {
	JOBINFO_MIGRATE, /* from query-migrate */
	JOBINFO_SAVE, /* from query-save */
};

/*
 * The job object for a query answer q (borrowed). target: save file or
 * HOST:PORT ("" if unknown); mem_bytes: guest RAM, for a save's total.
 */
struct json_object *jobinfo_build(enum jobinfo_op op, struct json_object *q,
				  const char *target, uint64_t mem_bytes);
/* A job object for "no job". */
struct json_object *jobinfo_none(void);

/* Print a job object as virsh domjobinfo does. */
void jobinfo_print(FILE *f, struct json_object *job);

#endif
