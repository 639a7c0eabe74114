/*
 * QEMU's migration parameters and capabilities on the control socket
 * (qapi/migration.json), for QEMU's tools and libvirt-style clients:
 *
 *   migrate-set-parameters {downtime-limit: MS, max-bandwidth: BYTES/S,
 *                           max-rounds, stall-timeout-ms, paused-margin-ms}
 *   query-migrate-parameters
 *   migrate-set-capabilities {capabilities: [{capability, state}...]}
 *   query-migrate-capabilities
 *
 * downtime-limit and max-bandwidth are QEMU's (max-bandwidth 0 means no
 * limit, godwit's default); the other three are godwit's own, named as
 * its migrate command names them. They apply to the next migration, and
 * downtime-limit and max-bandwidth to one in progress too (its thread
 * reads them before each part of a pass). Any other parameter is refused
 * whole, naming it, as QEMU refuses one it does not know.
 *
 * Capabilities are QEMU 7.2's list with godwit's fixed answers: it always
 * sends MIGRATION events ("events") and always has a return path from the
 * destination ("return-path", "switchover-ack": the handover's RECEIVED
 * before YOURS); it has none of the others. Setting one to what it is
 * is accepted; anything else is refused with why.
 */
#include "monitor/internal.h"

#include <string.h>

#include "common/clock.h"
#include "rpc/msg_migrate.h"

void monitor_mig_settings_init(struct mig_settings *ms)
{
	/* migrate's defaults: one place says them (rpc/msg_migrate.h). */
	*ms = (struct mig_settings){
		.downtime_ms = RPC_MIGRATE_DOWNTIME_MS_DEFAULT,
		.max_rounds = RPC_MIGRATE_ROUNDS_DEFAULT,
		.stall_ms = RPC_STALL_MS_DEFAULT,
	};
}

struct mig_param {
	const char *name;
	uint64_t min, max;
	size_t off; /* in struct mig_settings */
};

static const struct mig_param params[] = {
	{ "downtime-limit", 0, 3600000,
	  offsetof(struct mig_settings, downtime_ms) },
	{ "max-bandwidth", 0, 1ULL << 50,
	  offsetof(struct mig_settings, bandwidth_bps) },
	{ "max-rounds", 1, 10000, offsetof(struct mig_settings, max_rounds) },
	{ "stall-timeout-ms", 100, 3600000,
	  offsetof(struct mig_settings, stall_ms) },
	{ "paused-margin-ms", 0, 3600000,
	  offsetof(struct mig_settings, paused_margin_ms) },
};

static uint64_t *param_field(struct mig_settings *ms, const struct mig_param *p)
{
	return (uint64_t *)((char *)ms + p->off);
}

static const struct mig_param *param_find(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(params); i++)
		if (!strcmp(params[i].name, name))
			return &params[i];
	return NULL;
}

/* Check every member into a copy first: all of them apply, or none. */
static enum rpc_reply_kind params_check(struct json_object *args,
					struct mig_settings *ms,
					struct rpc_reply *reply)
{
	const struct mig_param *p;
	int64_t v;

	json_object_object_foreach(args, key, val)
	{
		p = param_find(key);
		if (!p)
			return rpc_reply_error(
				reply, RPC_ERR_GENERIC,
				"migrate-set-parameters: parameter '%s' is not supported by godwit (it has downtime-limit, max-bandwidth, max-rounds, stall-timeout-ms, paused-margin-ms)",
				key);
		v = json_object_get_int64(val);
		if (!json_object_is_type(val, json_type_int) || v < 0 ||
		    (uint64_t)v < p->min || (uint64_t)v > p->max)
			return rpc_reply_error(
				reply, RPC_ERR_GENERIC,
				"migrate-set-parameters: '%s' must be an integer from %llu to %llu",
				key, (unsigned long long)p->min,
				(unsigned long long)p->max);
		*param_field(ms, p) = v;
	}
	return RPC_REPLY_RETURN;
}

enum rpc_reply_kind monitor_cmd_migrate_set_parameters(struct rpc_request *req,
						       struct json_object *args,
						       struct rpc_reply *reply)
{
	struct monitor *m = req->opaque;
	struct mig_settings ms = m->mig_set;
	struct precopy_live *c;

	if (params_check(args, &ms, reply) != RPC_REPLY_RETURN)
		return RPC_REPLY_ERROR;
	m->mig_set = ms;
	if (!m->mig)
		return RPC_REPLY_RETURN;
	/* The migration in progress takes these at its next part. */
	c = &m->mig->counters;
	if (json_object_object_get_ex(args, "downtime-limit", NULL))
		__atomic_store_n(&c->downtime_limit_ns,
				 ms.downtime_ms * NSEC_PER_MSEC,
				 __ATOMIC_RELAXED);
	if (json_object_object_get_ex(args, "max-bandwidth", NULL))
		__atomic_store_n(&c->bandwidth_bps, ms.bandwidth_bps,
				 __ATOMIC_RELAXED);
	return RPC_REPLY_RETURN;
}

enum rpc_reply_kind
monitor_cmd_query_migrate_parameters(struct rpc_request *req,
				     struct json_object *args,
				     struct rpc_reply *reply)
{
	struct monitor *m = req->opaque;
	struct json_object *o = json_object_new_object();
	size_t i;

	for (i = 0; i < ARRAY_SIZE(params); i++)
		json_object_object_add(o, params[i].name,
				       json_object_new_int64(*param_field(
					       &m->mig_set, &params[i])));
	reply->ret = o;
	return RPC_REPLY_RETURN;
}

/* QEMU 7.2's capabilities; godwit has the ones marked, always. */
static const struct mig_cap {
	const char *name;
	bool on;
} caps[] = {
	{ "xbzrle", false },
	{ "rdma-pin-all", false },
	{ "auto-converge", false },
	{ "zero-blocks", false },
	{ "compress", false },
	{ "events", true },
	{ "postcopy-ram", false },
	{ "x-colo", false },
	{ "release-ram", false },
	{ "block", false },
	{ "return-path", true },
	{ "pause-before-switchover", false },
	{ "multifd", false },
	{ "dirty-bitmaps", false },
	{ "postcopy-blocktime", false },
	{ "late-block-activate", false },
	{ "x-ignore-shared", false },
	{ "validate-uuid", false },
	{ "background-snapshot", false },
	{ "zero-copy-send", false },
	{ "postcopy-preempt", false },
	{ "switchover-ack", true },
};

static const struct mig_cap *cap_find(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(caps); i++)
		if (!strcmp(caps[i].name, name))
			return &caps[i];
	return NULL;
}

/* One {capability, state} entry: fine if it asks for what godwit does. */
static enum rpc_reply_kind cap_check(struct json_object *item,
				     struct rpc_reply *reply)
{
	const char *name = rpc_json_str(item, "capability", NULL);
	const struct mig_cap *c = name ? cap_find(name) : NULL;
	struct json_object *st;

	if (!name || !json_object_object_get_ex(item, "state", &st) ||
	    !json_object_is_type(st, json_type_boolean))
		return rpc_reply_error(
			reply, RPC_ERR_GENERIC,
			"migrate-set-capabilities: each entry needs 'capability' (a string) and 'state' (a boolean)");
	if (!c)
		return rpc_reply_error(
			reply, RPC_ERR_GENERIC,
			"migrate-set-capabilities: unknown capability '%s'",
			name);
	if (json_object_get_boolean(st) == c->on)
		return RPC_REPLY_RETURN;
	return rpc_reply_error(
		reply, RPC_ERR_GENERIC,
		c->on ? "migrate-set-capabilities: godwit always uses '%s'; it cannot be turned off" :
			"migrate-set-capabilities: capability '%s' is not supported by godwit",
		name);
}

enum rpc_reply_kind
monitor_cmd_migrate_set_capabilities(struct rpc_request *req,
				     struct json_object *args,
				     struct rpc_reply *reply)
{
	struct json_object *list;
	size_t i, n;

	if (!json_object_object_get_ex(args, "capabilities", &list) ||
	    !json_object_is_type(list, json_type_array))
		return rpc_reply_error(
			reply, RPC_ERR_GENERIC,
			"migrate-set-capabilities: 'capabilities' (a list) is required");
	n = json_object_array_length(list);
	for (i = 0; i < n; i++)
		if (cap_check(json_object_array_get_idx(list, i), reply) !=
		    RPC_REPLY_RETURN)
			return RPC_REPLY_ERROR;
	return RPC_REPLY_RETURN;
}

enum rpc_reply_kind
monitor_cmd_query_migrate_capabilities(struct rpc_request *req,
				       struct json_object *args,
				       struct rpc_reply *reply)
{
	struct json_object *arr = json_object_new_array(), *o;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(caps); i++) {
		o = json_object_new_object();
		json_object_object_add(o, "capability",
				       json_object_new_string(caps[i].name));
		json_object_object_add(o, "state",
				       json_object_new_boolean(caps[i].on));
		json_object_array_add(arr, o);
	}
	reply->ret = arr;
	return RPC_REPLY_RETURN;
}
