/*
 * How long a control connection may hold a slot without doing its part,
 * as pure functions of its clock (unit-tested, no sockets). A server has
 * RPC_CONN_MAX slots; without these rules a few clients that connect and
 * say nothing (or half a command) would lock everyone else out:
 *
 *  - hello: a client must finish capabilities negotiation within
 *    hello_ms of connecting ("a client that sent nothing is closed");
 *  - request: a message must be complete within request_ms of its first
 *    byte (one byte every few seconds does not keep it open);
 *  - idle: a negotiated client with nothing pending and nothing sent
 *    either way for idle_ms is closed (0: never, the default: event
 *    listeners such as `godwit migrate` wait quietly for a long time);
 *  - room: when every slot is taken, the connection idle the longest
 *    among those with no command pending is closed to let a new one in,
 *    clients that have not negotiated first. So the CLI always gets in
 *    unless every slot waits for an answer.
 * Pending (deferred) commands are the handlers' business: they are never
 * timed out here.
 */
#ifndef GODWIT_RPC_LIMITS_H
#define GODWIT_RPC_LIMITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RPC_HELLO_MS_DEFAULT 10000
#define RPC_REQUEST_MS_DEFAULT 10000
#define RPC_IDLE_MS_DEFAULT 0

/* Per-server limits in milliseconds; 0 turns a limit off. */
struct rpc_limits {
	unsigned int hello_ms;
	unsigned int request_ms;
	unsigned int idle_ms;
};

/* What the policy knows of one connection. */
struct rpc_conn_clock {
	uint64_t opened_ns; /* accepted */
	uint64_t active_ns; /* last byte received or message sent */
	uint64_t msg_start_ns; /* first byte of an unfinished message, or 0 */
	bool negotiated; /* qmp_capabilities done */
	bool pending; /* commands waiting for a deferred reply */
};

enum rpc_conn_verdict {
	RPC_CONN_KEEP,
	RPC_CONN_SILENT, /* no negotiation within hello_ms */
	RPC_CONN_PARTIAL, /* a message unfinished after request_ms */
	RPC_CONN_IDLE, /* nothing for idle_ms */
};

/* The defaults above. */
void rpc_limits_default(struct rpc_limits *l);

/*
 * Judge connection c at now_ns. When it is kept, *due_ns_out is the time
 * it must be judged again (0: only after something happens on it).
 */
enum rpc_conn_verdict rpc_conn_judge(const struct rpc_conn_clock *c,
				     const struct rpc_limits *l,
				     uint64_t now_ns, uint64_t *due_ns_out);

/*
 * The connection to close to make room among n: no command pending,
 * not negotiated before negotiated, then the longest idle. -1 if every
 * one has a command pending.
 */
int rpc_conn_pick_victim(const struct rpc_conn_clock *c, size_t n);

/* One line for the client (and the log) saying why it is closed. */
const char *rpc_conn_verdict_text(enum rpc_conn_verdict v);

#endif
