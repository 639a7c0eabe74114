/*
 * Post-copy in the destination VMM: the glue around
 * migration/postcopy_dst.c. The handover's claim step starts it (after
 * YOURS, before the vCPUs run); its thread's reports come to the loop
 * thread here, as MIGRATION events ("postcopy-active", "postcopy-paused",
 * "completed") and log lines; `migrate-recover` reconnects a paused one.
 */
#include "monitor/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/net.h"
#include "rpc/msg_migrate.h"

struct pc_note {
	struct monitor *m;
	bool recovered; /* a recover attempt's outcome, else a state */
	int rc;
	enum postcopy_state st;
	char why[300];
};

/* The post-copy thread's states as the protocol's migration statuses. */
static int pc_status(enum postcopy_state st)
{
	switch (st) {
	case PCS_ACTIVE:
		return RPC_MIG_POSTCOPY_ACTIVE;
	case PCS_PAUSED:
		return RPC_MIG_POSTCOPY_PAUSED;
	case PCS_DONE:
		return RPC_MIG_COMPLETED;
	default:
		return RPC_MIG_STOPPED;
	}
}

/* MIGRATION's data on the destination (rpc/msg_migrate.h). */
static struct json_object *pc_event(struct monitor *m, enum postcopy_state st,
				    const char *why)
{
	struct postcopy_dst *d = &m->incoming.pc;
	uint64_t done = __atomic_load_n(&d->done_ns, __ATOMIC_RELAXED);
	struct rpc_migration e;

	rpc_msg_init(&rpc_msg_migration, &e);
	e.status = pc_status(st);
	snprintf(e.error, sizeof(e.error), "%s", why ? why : "");
	e.postcopy = true;
	e.has_postcopy_faults = e.has_postcopy_regions = true;
	e.postcopy_faults = __atomic_load_n(&d->faults, __ATOMIC_RELAXED);
	e.postcopy_regions = d->ram.nr_wanted;
	e.has_postcopy_time = done != 0;
	e.postcopy_ms = done ? (done - d->start_ns) / 1e6 : 0;
	return rpc_msg_encode(&rpc_msg_migration, &e);
}

static void pc_on_loop(struct evloop *loop, void *opaque)
{
	struct pc_note *n = opaque;
	struct monitor *m = n->m;
	struct incoming *in = &m->incoming;

	if (n->recovered) {
		if (in->recover_pending && n->rc)
			rpc_server_reply_error(m->rpc, in->recover_call,
					       RPC_ERR_GENERIC,
					       "migrate-recover: %s", n->why);
		else if (in->recover_pending)
			rpc_server_reply(m->rpc, in->recover_call,
					 pc_event(m, PCS_ACTIVE, NULL), -1);
		in->recover_pending = false;
		free(n);
		return;
	}
	if (n->st == PCS_DONE)
		log_info(
			"vm %s: post-copy complete: %llu regions (%llu from faults) in %.1f ms",
			m->cfg.name, (unsigned long long)in->pc.ram.nr_wanted,
			(unsigned long long)in->pc.fetched,
			(in->pc.done_ns - in->pc.start_ns) / 1e6);
	monitor_event(m, "MIGRATION", pc_event(m, n->st, n->why));
	free(n);
}

static void pc_note(struct monitor *m, bool recovered, int rc,
		    enum postcopy_state st, const char *why)
{
	struct pc_note *n = calloc(1, sizeof(*n));

	if (!n)
		return;
	*n = (struct pc_note){
		.m = m, .recovered = recovered, .rc = rc, .st = st
	};
	snprintf(n->why, sizeof(n->why), "%s", why ? why : "");
	if (evloop_call(m->loop, pc_on_loop, n))
		free(n);
}

static void pc_state(void *opaque, enum postcopy_state st, const char *why)
{
	pc_note(opaque, false, 0, st, why);
}

static void pc_recovered(void *opaque, int rc, const char *why)
{
	pc_note(opaque, true, rc, PCS_ACTIVE, why);
}

static const struct postcopy_dst_ops pc_ops = {
	.state = pc_state,
	.recovered = pc_recovered,
};

int monitor_postcopy_claim(struct monitor *m, char *why, size_t whylen)
{
	struct incoming *in = &m->incoming;
	char host[NET_HOST_MAX];
	uint16_t port;
	int rc;

	if (!in->postcopy.present)
		return 0;
	/* The source listens at the address it reached us from. */
	if (net_parse_hostport(in->peer, host, sizeof(host), &port, 0)) {
		snprintf(
			why, whylen,
			"post-copy: cannot tell the source's address from '%s'",
			in->peer);
		return -EINVAL;
	}
	rc = postcopy_dst_start(&in->pc, &m->vm, &in->postcopy,
				in->hdr.stream_id, host, m->opts->stall_ms,
				&pc_ops, m, why, whylen);
	in->pc_started = true;
	return rc;
}

void monitor_postcopy_stop(struct monitor *m)
{
	struct incoming *in = &m->incoming;

	if (!in->pc_started)
		return;
	postcopy_dst_stop(&in->pc);
	in->pc_started = false;
	postcopy_plan_destroy(&in->postcopy);
}

enum rpc_reply_kind monitor_cmd_migrate_recover(struct rpc_request *req,
						struct json_object *args,
						struct rpc_reply *reply)
{
	struct monitor *m = req->opaque;
	struct incoming *in = &m->incoming;
	char host[NET_HOST_MAX] = "", why[RPC_MSG_WHY_MAX];
	struct rpc_recover_args a;
	const char *uri;
	uint16_t port = 0;

	if (rpc_msg_decode(&rpc_msg_recover, args, &a, why, sizeof(why)))
		return rpc_reply_error(reply, RPC_ERR_GENERIC, "%s", why);
	uri = a.uri[0] ? a.uri : NULL;

	if (!in->pc_started || postcopy_dst_state(&in->pc) != PCS_PAUSED)
		return rpc_reply_error(
			reply, RPC_ERR_GENERIC,
			"migrate-recover: no paused post-copy here (it is %s)",
			in->pc_started ? postcopy_state_name(
						 postcopy_dst_state(&in->pc)) :
					 "not in post-copy");
	if (in->recover_pending)
		return rpc_reply_error(reply, RPC_ERR_GENERIC,
				       "migrate-recover: already recovering");
	if (uri && net_parse_hostport(strncmp(uri, "tcp:", 4) ? uri : uri + 4,
				      host, sizeof(host), &port, in->pc.port))
		return rpc_reply_error(
			reply, RPC_ERR_GENERIC,
			"migrate-recover: bad source address '%s' (expected HOST[:PORT])",
			uri);
	if (postcopy_dst_recover(&in->pc, host[0] ? host : NULL, port))
		return rpc_reply_error(
			reply, RPC_ERR_GENERIC,
			"migrate-recover: cannot reach the post-copy thread");
	in->recover_pending = true;
	in->recover_call = req->call;
	return RPC_REPLY_LATER;
}
