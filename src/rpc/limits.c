/* Connection time limits and who makes room: see limits.h. */
#include "rpc/limits.h"

#include "common/clock.h"

void rpc_limits_default(struct rpc_limits *l)
{
	l->hello_ms = RPC_HELLO_MS_DEFAULT;
	l->request_ms = RPC_REQUEST_MS_DEFAULT;
	l->idle_ms = RPC_IDLE_MS_DEFAULT;
}

/* Is a limit of ms from start over at now? Else lower *due to its end. */
static bool over(uint64_t start, unsigned int ms, uint64_t now, uint64_t *due)
{
	uint64_t end = start + (uint64_t)ms * NSEC_PER_MSEC;

	if (!ms)
		return false;
	if (now >= end)
		return true;
	if (!*due || end < *due)
		*due = end;
	return false;
}

enum rpc_conn_verdict rpc_conn_judge(const struct rpc_conn_clock *c,
				     const struct rpc_limits *l,
				     uint64_t now_ns, uint64_t *due_ns_out)
{
	uint64_t due = 0;

	*due_ns_out = 0;
	if (c->msg_start_ns &&
	    over(c->msg_start_ns, l->request_ms, now_ns, &due))
		return RPC_CONN_PARTIAL;
	if (!c->negotiated && over(c->opened_ns, l->hello_ms, now_ns, &due))
		return RPC_CONN_SILENT;
	if (c->negotiated && !c->pending && !c->msg_start_ns &&
	    over(c->active_ns, l->idle_ms, now_ns, &due))
		return RPC_CONN_IDLE;
	*due_ns_out = due;
	return RPC_CONN_KEEP;
}

/* Should a be closed before b to make room? */
static bool closes_before(const struct rpc_conn_clock *a,
			  const struct rpc_conn_clock *b)
{
	if (a->negotiated != b->negotiated)
		return !a->negotiated;
	return a->active_ns < b->active_ns;
}

int rpc_conn_pick_victim(const struct rpc_conn_clock *c, size_t n)
{
	int best = -1;
	size_t i;

	for (i = 0; i < n; i++) {
		if (c[i].pending)
			continue;
		if (best < 0 || closes_before(&c[i], &c[best]))
			best = (int)i;
	}
	return best;
}

const char *rpc_conn_verdict_text(enum rpc_conn_verdict v)
{
	switch (v) {
	case RPC_CONN_SILENT:
		return "no capabilities negotiation in time; closing the connection";
	case RPC_CONN_PARTIAL:
		return "a message was not completed in time; closing the connection";
	case RPC_CONN_IDLE:
		return "idle for too long; closing the connection";
	default:
		return "";
	}
}
