/*
 * The protocol's structs (rpc/msg*.h, internal) into the library's
 * public ones (include/godwit/): the same members, copied one by one so
 * that the public layout stays the library's own to keep stable.
 */
#include "toolstack/lib/internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "rpc/proto.h"

int lib_decode(const struct rpc_msg_type *t, struct json_object *ret, void *msg,
	       char *err, size_t errlen)
{
	char why[RPC_MSG_WHY_MAX];

	if (!rpc_msg_decode(t, ret, msg, why, sizeof(why)))
		return 0;
	snprintf(err, errlen, "unexpected answer: %s", why);
	return -EPROTO;
}

int lib_send(struct godwit_conn *c, const char *command,
	     const struct rpc_msg_type *t, void *msg, int timeout_ms,
	     godwit_reply_fn fn, void *opaque, char *err, size_t errlen)
{
	char why[RPC_MSG_WHY_MAX];
	struct json_object *args;
	int rc;

	if (rpc_msg_check(t, msg, why, sizeof(why))) {
		snprintf(err, errlen, "%s", why);
		return -EINVAL;
	}
	args = rpc_msg_encode(t, msg);
	if (!args)
		return -ENOMEM;
	rc = godwit_call(c, command, args, timeout_ms, fn, opaque);
	json_object_put(args);
	if (rc)
		snprintf(err, errlen, "%s: %s", command, strerror(-rc));
	return rc;
}

void lib_migration_from(const struct rpc_migration *in,
			struct godwit_migration *out)
{
	out->status = (enum godwit_migration_status)in->status;
	snprintf(out->error, sizeof(out->error), "%s", in->error);
	out->has_downtime = in->has_downtime;
	out->downtime_ms = in->downtime_ms;
	out->total_time_ms = in->total_time_ms;
	out->rounds = in->rounds;
	out->bytes = in->bytes;
	out->postcopy = in->postcopy;
	out->cpu_throttle_pct = in->cpu_throttle_pct;
	out->has_postcopy_faults = in->has_postcopy_faults;
	out->postcopy_faults = in->postcopy_faults;
	out->has_postcopy_regions = in->has_postcopy_regions;
	out->postcopy_regions = in->postcopy_regions;
	out->has_postcopy_time = in->has_postcopy_time;
	out->postcopy_ms = in->postcopy_ms;
}

void lib_round_from(const struct rpc_mig_round *in,
		    struct godwit_migration_round *out)
{
	out->round = in->round;
	out->pages_sent = in->pages_sent;
	out->pages_dirtied = in->pages_dirtied;
	out->mbps = in->mbps;
	out->dirty_mbps = in->dirty_mbps;
	out->duration_ms = in->duration_ms;
	out->expected_downtime_ms = in->expected_downtime_ms;
	out->cpu_throttle_pct = in->cpu_throttle_pct;
}

void lib_save_from(const struct rpc_save_result *in,
		   struct godwit_save_result *out)
{
	out->status = (enum godwit_save_status)in->status;
	snprintf(out->file, sizeof(out->file), "%s", in->file);
	out->bytes = in->bytes;
	out->pages = in->pages;
	out->total_time_ms = in->total_time_ms;
	snprintf(out->error, sizeof(out->error), "%s", in->error);
}

void lib_job_from(const struct rpc_job_info *in, struct godwit_job *out)
{
	out->type = (enum godwit_job_type)in->type;
	snprintf(out->operation, sizeof(out->operation), "%s", in->operation);
	snprintf(out->status, sizeof(out->status), "%s", in->status);
	snprintf(out->target, sizeof(out->target), "%s", in->target);
	snprintf(out->error, sizeof(out->error), "%s", in->error);
	out->has_time_elapsed = in->has_time_elapsed;
	out->time_elapsed_ms = in->time_elapsed_ms;
	out->has_data_processed = in->has_data_processed;
	out->data_processed = in->data_processed;
	out->has_data_remaining = in->has_data_remaining;
	out->data_remaining = in->data_remaining;
	out->has_data_total = in->has_data_total;
	out->data_total = in->data_total;
	out->has_memory_processed = in->has_memory_processed;
	out->memory_processed = in->memory_processed;
	out->has_memory_remaining = in->has_memory_remaining;
	out->memory_remaining = in->memory_remaining;
	out->has_memory_total = in->has_memory_total;
	out->memory_total = in->memory_total;
	out->has_bandwidth = in->has_bandwidth;
	out->memory_bandwidth_mbps = in->memory_bandwidth_mbps;
	out->has_dirty_rate = in->has_dirty_rate;
	out->dirty_rate_pps = in->dirty_rate_pps;
	out->has_iteration = in->has_iteration;
	out->iteration = in->iteration;
	out->has_expected_downtime = in->has_expected_downtime;
	out->expected_downtime_ms = in->expected_downtime_ms;
	out->has_downtime = in->has_downtime;
	out->downtime_ms = in->downtime_ms;
	out->has_cpu_throttle = in->has_cpu_throttle;
	out->cpu_throttle_pct = in->cpu_throttle_pct;
}

/* The public enums are the protocol's, in the same order. */
_Static_assert((int)GODWIT_MIGRATION_UNCONFIRMED == (int)RPC_MIG_UNCONFIRMED &&
		       (int)GODWIT_MIGRATION_STOPPED == (int)RPC_MIG_STOPPED &&
		       (int)GODWIT_MIGRATION_NONE == (int)RPC_MIG_NONE,
	       "migration status");
_Static_assert((int)GODWIT_SAVE_FAILED == (int)RPC_SAVE_FAILED &&
		       (int)GODWIT_SAVE_NONE == (int)RPC_SAVE_NONE,
	       "save status");
_Static_assert((int)GODWIT_JOB_UNCONFIRMED == (int)RPC_JOB_UNCONFIRMED &&
		       (int)GODWIT_JOB_NONE == (int)RPC_JOB_NONE,
	       "job type");
