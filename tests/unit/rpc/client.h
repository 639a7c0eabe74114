/*
 * A blocking control protocol client for the rpc layer's own tests
 * (test_rpc_server.c): raw enough to pass fds and to see exactly what
 * the server sends. Programs use the client library (include/godwit/)
 * instead. One command at a time: execute sends it and waits for its
 * reply; events that arrive meanwhile are queued for
 * rpc_client_next_event. Not thread-safe: one thread per client.
 */
#ifndef GODWIT_TESTS_RPC_CLIENT_H
#define GODWIT_TESTS_RPC_CLIENT_H

#include <stdint.h>

#include <json-c/json.h>

#include "common/compiler.h"
#include "rpc/proto.h"

/* Default wait for a reply; change with rpc_client_set_timeout. */
#define RPC_CLIENT_TIMEOUT_MS 30000
/* Events kept unread; when full the oldest is dropped. */
#define RPC_CLIENT_EVENTS_MAX 256

struct rpc_client;

/* The outcome of one command. rpc_result_release frees what it holds. */
struct rpc_result {
	struct json_object *ret; /* "return" value (caller owns); or NULL */
	int fd; /* fd the server attached to the reply (caller owns), or -1 */
	char err_class[RPC_CLASS_MAX]; /* after -EREMOTEIO: e.g. "GenericError" */
	char err_desc[RPC_DESC_MAX]; /* after -EREMOTEIO: what was wrong */
};

/*
 * Connect to the server on path, read its greeting and negotiate
 * capabilities, all within timeout_ms (-1: no limit). -ENOENT or
 * -ECONNREFUSED when nobody listens, -ETIMEDOUT, -EPROTO.
 */
int rpc_client_connect(const char *path, int timeout_ms,
		       struct rpc_client **client_out) __must_check;
/* The same over an already connected socket (fd taken, also on failure). */
int rpc_client_open_fd(int fd, int timeout_ms,
		       struct rpc_client **client_out) __must_check;
/* Close the connection and drop queued events. NULL is a no-op. */
void rpc_client_close(struct rpc_client *c);

/* How long execute waits for a reply: timeout_ms, or -1 for ever. */
void rpc_client_set_timeout(struct rpc_client *c, int timeout_ms);

/* The server's greeting message (borrowed, lives as long as c). */
struct json_object *rpc_client_greeting(const struct rpc_client *c);

/*
 * Run command with args (borrowed, may be NULL) and, if fd >= 0, pass fd
 * along (borrowed: the caller still owns and closes it). Returns 0 with
 * res_out->ret set, -EREMOTEIO when the server answered with an error
 * (res_out->err_class/err_desc set), or a transport error: -ETIMEDOUT
 * (a late reply will be skipped), -ECONNRESET (server went away),
 * -EPROTO (garbage from the server; the client is unusable afterwards).
 * res_out is always initialised; release it with rpc_result_release.
 */
int rpc_client_execute(struct rpc_client *c, const char *command,
		       struct json_object *args, int fd,
		       struct rpc_result *res_out) __must_check;
void rpc_result_release(struct rpc_result *res);

/*
 * Wait up to timeout_ms (-1: for ever, 0: only what has arrived) for the
 * next event. *event_out is the whole event message (caller owns).
 * -ETIMEDOUT if none came.
 */
int rpc_client_next_event(struct rpc_client *c, int timeout_ms,
			  struct json_object **event_out) __must_check;

#endif
