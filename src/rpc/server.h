/*
 * Control protocol server: a listening unix socket and its connections,
 * driven by the owner's event loop (the VMM's main thread, godwitd). All
 * functions run on the loop thread; other threads reach the server with
 * evloop_call. Handlers (session.h: struct rpc_command) answer at once or
 * defer: a deferred command is answered later with rpc_server_reply*,
 * using the struct rpc_call handle, which stays safe after the client
 * disconnected (the reply is dropped then).
 *
 * Writes never block the loop: each connection has a bounded output
 * queue and a client that lets it overflow is dropped. A client that
 * disconnects mid-request affects nobody else.
 */
#ifndef GODWIT_RPC_SERVER_H
#define GODWIT_RPC_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "common/compiler.h"
#include "common/evloop.h"
#include "rpc/limits.h"
#include "rpc/proto.h"
#include "rpc/session.h"

/*
 * Most connections at once. When all are taken, a new one closes the
 * longest idle without a pending command (limits.h); if every one has a
 * command pending, the new one is closed at once.
 */
#define RPC_CONN_MAX 64
/* Most unsent bytes queued for one client before it is dropped. */
#define RPC_OUTQ_LIMIT (4 * MIB)
/* How long a connection closing after an error may take to drain. */
#define RPC_LINGER_MS 5000

struct rpc_server;

/*
 * Create a server on loop with a command table (borrowed; it must outlive
 * the server). Built-in commands: qmp_capabilities, query-commands,
 * query-version. The server has no socket until rpc_server_listen or
 * rpc_server_add_conn.
 */
int rpc_server_new(struct evloop *loop, const struct rpc_command *cmds,
		   size_t ncmds, struct rpc_server **srv_out) __must_check;
/*
 * Close every connection (pending deferred commands are forgotten; their
 * handles go stale), stop listening and unlink the socket file if it is
 * still ours. Not from inside a handler. NULL is a no-op.
 */
void rpc_server_free(struct rpc_server *srv);

/*
 * Time limits for connections (limits.h; rpc_limits_default until set),
 * applied to those open already too.
 */
void rpc_server_set_limits(struct rpc_server *srv, const struct rpc_limits *l);

/*
 * Listen on path (see rpc_sock_listen: parents created, stale socket
 * replaced, mode 0600). -EBUSY if srv listens already.
 */
int rpc_server_listen(struct rpc_server *srv, const char *path) __must_check;

/*
 * Serve an already connected socket (fd taken, also on failure), e.g. one
 * end of a socketpair made by a parent process. The greeting is sent.
 */
int rpc_server_add_conn(struct rpc_server *srv, int fd,
			uint64_t *conn_id_out) __must_check;

/*
 * Answer a deferred command with a return value (ret taken, NULL means {})
 * and an optional fd to pass (taken, -1 for none). Returns 0 when queued,
 * -ENOTCONN if the connection is gone, -ENOENT if the command is not
 * pending; the reply is dropped then and ignoring that is fine.
 */
int rpc_server_reply(struct rpc_server *srv, struct rpc_call call,
		     struct json_object *ret, int fd);
/* Answer a deferred command with an error; return as rpc_server_reply. */
int rpc_server_reply_error(struct rpc_server *srv, struct rpc_call call,
			   enum rpc_err_class cls, const char *fmt, ...)
	__printf(4, 5);

/*
 * Send event name with data (taken, may be NULL) and the current time to
 * every connection that completed capabilities negotiation.
 */
void rpc_server_event(struct rpc_server *srv, const char *name,
		      struct json_object *data);

/*
 * Close connection conn_id once what is queued for it has been written
 * (at most RPC_LINGER_MS later). No-op if it is gone.
 */
void rpc_server_disconnect(struct rpc_server *srv, uint64_t conn_id);

/*
 * Block up to timeout_ms (-1: no limit) writing every connection's
 * queued output, e.g.
 * to deliver the reply to "quit" before the process exits. 0 when all
 * was written (or the clients went away), -ETIMEDOUT otherwise.
 */
int rpc_server_flush(struct rpc_server *srv, int timeout_ms) __must_check;

/* Connections currently open (those being closed included). */
size_t rpc_server_conn_count(const struct rpc_server *srv);

#endif
