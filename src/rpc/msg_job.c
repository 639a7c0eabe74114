/* job-info's answer and how it is built from a VMM's queries. */
#include "rpc/msg_job.h"

#include <stdio.h>
#include <string.h>

#include "common/compiler.h"

static const char *const job_types[] = { "none",   "unbounded",	  "completed",
					 "failed", "unconfirmed", NULL };

#define S struct rpc_job_info
#define OPT_INT(k, M, H) RPC_FIELD_OPT_INT(k, S, M, H, 0, INT64_MAX)

static const struct rpc_field job_fields[] = {
	RPC_FIELD_ENUM("type", S, type, 0, job_types, RPC_JOB_NONE),
	RPC_FIELD_STR("operation", S, operation, RPC_F_OMIT_EMPTY),
	RPC_FIELD_STR("status", S, status, RPC_F_OMIT_EMPTY),
	RPC_FIELD_STR("target", S, target, 0),
	RPC_FIELD_OPT_NUM("time-elapsed-ms", S, time_elapsed_ms,
			  has_time_elapsed),
	RPC_FIELD_STR("error", S, error, RPC_F_OMIT_EMPTY),
	OPT_INT("data-processed", data_processed, has_data_processed),
	OPT_INT("data-remaining", data_remaining, has_data_remaining),
	OPT_INT("data-total", data_total, has_data_total),
	OPT_INT("memory-processed", memory_processed, has_memory_processed),
	OPT_INT("memory-remaining", memory_remaining, has_memory_remaining),
	OPT_INT("memory-total", memory_total, has_memory_total),
	RPC_FIELD_OPT_NUM("memory-bandwidth-mbps", S, memory_bandwidth_mbps,
			  has_bandwidth),
	OPT_INT("dirty-rate-pps", dirty_rate_pps, has_dirty_rate),
	OPT_INT("iteration", iteration, has_iteration),
	RPC_FIELD_OPT_NUM("expected-downtime-ms", S, expected_downtime_ms,
			  has_expected_downtime),
	RPC_FIELD_OPT_NUM("downtime-ms", S, downtime_ms, has_downtime),
	RPC_FIELD_OPT_INT("cpu-throttle-percentage", S, cpu_throttle_pct,
			  has_cpu_throttle, 0, 100),
};
const struct rpc_msg_type rpc_msg_job_info =
	RPC_MSG_TYPE("job-info", S, job_fields, false, NULL);

#undef OPT_INT
#undef S

void rpc_job_info_none(struct rpc_job_info *j)
{
	rpc_msg_init(&rpc_msg_job_info, j);
}

/* virsh's type for a query's status word. */
static int job_type(const char *status)
{
	/* Post-copy: handed over, but the source still serves pages. */
	if (!strcmp(status, "active") || !strcmp(status, "postcopy-active"))
		return RPC_JOB_UNBOUNDED;
	if (!strcmp(status, "completed"))
		return RPC_JOB_COMPLETED;
	if (!strcmp(status, "none") || !*status)
		return RPC_JOB_NONE;
	if (!strcmp(status, "unconfirmed"))
		return RPC_JOB_UNCONFIRMED;
	return RPC_JOB_FAILED;
}

static void job_begin(struct rpc_job_info *j, const char *op,
		      const char *status, const char *target, const char *error)
{
	rpc_msg_init(&rpc_msg_job_info, j);
	j->type = job_type(status);
	snprintf(j->operation, sizeof(j->operation), "%s", op);
	snprintf(j->status, sizeof(j->status), "%s", status);
	snprintf(j->target, sizeof(j->target), "%s", target);
	snprintf(j->error, sizeof(j->error), "%s", error);
}

void rpc_job_info_from_migration(struct rpc_job_info *j,
				 const struct rpc_migration *q,
				 const char *target)
{
	job_begin(j, "outgoing migration", rpc_mig_status_name(q->status),
		  target, q->error);
	j->has_time_elapsed = true;
	j->time_elapsed_ms = q->total_time_ms;
	if (q->has_ram) {
		j->has_data_processed = j->has_memory_processed = true;
		j->data_processed = j->memory_processed = q->ram.transferred;
		j->has_data_remaining = j->has_memory_remaining = true;
		j->data_remaining = j->memory_remaining = q->ram.remaining;
		j->has_data_total = j->has_memory_total = true;
		j->data_total = j->memory_total = q->ram.total;
		j->has_bandwidth = j->has_dirty_rate = true;
		/* query-migrate counts megabits as QEMU does; MB/s here. */
		j->memory_bandwidth_mbps = q->ram.mbps / 8;
		j->dirty_rate_pps = q->ram.dirty_pages_rate;
	}
	j->has_iteration = q->has_round;
	j->iteration = q->round;
	j->has_expected_downtime = q->has_expected_downtime;
	j->expected_downtime_ms = q->expected_downtime_ms;
	j->has_downtime = q->has_downtime;
	j->downtime_ms = q->downtime_ms;
	j->has_cpu_throttle = true;
	j->cpu_throttle_pct = q->cpu_throttle_pct;
}

void rpc_job_info_from_save(struct rpc_job_info *j,
			    const struct rpc_save_result *q, const char *target,
			    uint64_t mem_bytes)
{
	job_begin(j, "save", rpc_save_status_name(q->status), target, q->error);
	j->has_time_elapsed = true;
	j->time_elapsed_ms = q->total_time_ms;
	j->has_data_processed = true;
	j->data_processed = q->bytes;
	j->has_memory_total = true;
	j->memory_total = (int64_t)mem_bytes;
}
