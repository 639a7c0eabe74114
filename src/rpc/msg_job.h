/*
 * job-info's answer: a save or migration in the terms of virsh
 * domjobinfo (type, operation, time-elapsed-ms, data-*, memory-*, dirty
 * rate, iteration, downtimes), built from a VMM's query-migrate or
 * query-save answer. godwitd answers job-info with it; on a VM's own
 * socket the client library builds it from the same queries.
 */
#ifndef GODWIT_RPC_MSG_JOB_H
#define GODWIT_RPC_MSG_JOB_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "rpc/msg.h"
#include "rpc/msg_migrate.h"
#include "rpc/msg_save.h"

/* virsh's job types: unbounded while it runs, then how it ended. */
enum rpc_job_type {
	RPC_JOB_NONE,
	RPC_JOB_UNBOUNDED,
	RPC_JOB_COMPLETED,
	RPC_JOB_FAILED,
	RPC_JOB_UNCONFIRMED, /* handed over, no confirmation */
};

struct rpc_job_info {
	int type; /* enum rpc_job_type */
	char operation[32]; /* "save", "outgoing migration", "" */
	char status[32]; /* the query's status word */
	char target[PATH_MAX]; /* save file or HOST:PORT; "" if unknown */
	char error[RPC_ERROR_MAX];
	bool has_time_elapsed;
	double time_elapsed_ms;
	/* Figures the job has; each only when known. */
	bool has_data_processed, has_data_remaining, has_data_total;
	int64_t data_processed, data_remaining, data_total; /* bytes */
	bool has_memory_processed, has_memory_remaining, has_memory_total;
	int64_t memory_processed, memory_remaining, memory_total; /* bytes */
	bool has_bandwidth;
	double memory_bandwidth_mbps;
	bool has_dirty_rate;
	int64_t dirty_rate_pps;
	bool has_iteration;
	int64_t iteration; /* the latest pre-copy round */
	bool has_expected_downtime;
	double expected_downtime_ms;
	bool has_downtime;
	double downtime_ms;
	bool has_cpu_throttle; /* a migration's (virsh's "Auto converge") */
	int64_t cpu_throttle_pct;
};
extern const struct rpc_msg_type rpc_msg_job_info;

/* No job. */
void rpc_job_info_none(struct rpc_job_info *j);
/* From query-migrate; target: HOST:PORT, or "" if unknown. */
void rpc_job_info_from_migration(struct rpc_job_info *j,
				 const struct rpc_migration *q,
				 const char *target);
/* From query-save; mem_bytes: guest RAM (0 if unknown). */
void rpc_job_info_from_save(struct rpc_job_info *j,
			    const struct rpc_save_result *q, const char *target,
			    uint64_t mem_bytes);

#endif
