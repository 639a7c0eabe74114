/*
 * Bounded queue of messages waiting to be written to a non-blocking
 * socket, each optionally carrying an fd. The bound keeps a client that
 * does not read from making its server allocate without limit: a push
 * that would exceed it fails, and the server drops that client.
 */
#ifndef GODWIT_RPC_OUTQ_H
#define GODWIT_RPC_OUTQ_H

#include <stdbool.h>
#include <stddef.h>

#include "common/compiler.h"

struct rpc_outq_msg;

struct rpc_outq {
	struct rpc_outq_msg *head;
	struct rpc_outq_msg **tail;
	size_t bytes; /* unsent bytes queued */
	size_t limit; /* most unsent bytes allowed */
};

void rpc_outq_init(struct rpc_outq *q, size_t limit);
/* Free every queued message and close its fd; q stays usable. */
void rpc_outq_destroy(struct rpc_outq *q);

/*
 * Queue buf (len bytes, malloc'd) with fd (or -1); both are taken, also
 * on failure. -ENOBUFS if the queue would exceed its limit.
 */
int rpc_outq_push(struct rpc_outq *q, char *buf, size_t len,
		  int fd) __must_check;

/*
 * Write queued messages to sock until the queue is empty (0) or the
 * socket is full (-EAGAIN), or fails (-errno, e.g. -EPIPE). A message's
 * fd goes with its first byte and is closed once sent.
 */
int rpc_outq_flush(struct rpc_outq *q, int sock) __must_check;

bool rpc_outq_is_empty(const struct rpc_outq *q);

#endif
