/*
 * The server's side of one control connection without the socket: bytes
 * from the client go in (rpc_session_feed), serialized messages for the
 * client come out through an ops callback. It parses the command stream,
 * enforces capabilities negotiation, dispatches to the command table and
 * keeps the commands whose reply was deferred. The server (server.c)
 * wraps one session per socket; the fuzz target drives one directly.
 *
 * Command handlers are declared here since they work on a session's
 * request; owners normally only see them through server.h.
 */
#ifndef GODWIT_RPC_SESSION_H
#define GODWIT_RPC_SESSION_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "common/compiler.h"
#include "rpc/fdq.h"
#include "rpc/proto.h"
#include "rpc/reader.h"

/* Most commands of one connection waiting for a deferred reply. */
#define RPC_PENDING_MAX 64

/*
 * Handle of one command, for replying later. A plain value: copy it
 * anywhere. It stays safe to use after the client went away: the reply
 * is then dropped. conn_id is never reused by a server.
 */
struct rpc_call {
	uint64_t conn_id; /* connection the command came from */
	uint64_t seq; /* the command's number on that connection */
};

struct rpc_session;

/* What a handler is told about the command it runs. */
struct rpc_request {
	struct rpc_call call; /* for rpc_server_reply after RPC_REPLY_LATER */
	const char *command; /* name; valid during the handler only */
	void *opaque; /* the command table entry's opaque */
	struct rpc_session *session; /* private */
};

/* How a handler answered. */
enum rpc_reply_kind {
	RPC_REPLY_RETURN, /* reply->ret (and reply->fd) are the answer */
	RPC_REPLY_ERROR, /* reply->err_class and err_desc are the answer */
	RPC_REPLY_LATER, /* the owner replies later through req->call */
};

/*
 * A handler's answer, filled through the out-parameter. The server sets
 * it up as { ret = NULL, fd = -1, GenericError, "" } before the call.
 */
struct rpc_reply {
	/* Return value, owned by the server once the handler returns (it
	 * is released also for ERROR and LATER); NULL answers {}. */
	struct json_object *ret;
	/* fd sent along with the reply, or -1. Owned by the server once the
	 * handler returns: closed after sending, or if not sent at all. */
	int fd;
	enum rpc_err_class err_class;
	char err_desc[RPC_DESC_MAX]; /* one line: what was wrong */
};

/*
 * A command handler. Runs on the server's loop thread; must not block
 * (long work goes to a thread, answering RPC_REPLY_LATER). args is
 * borrowed, never NULL ({} when the client sent none) and valid during
 * the call only: take a reference (json_object_get) to keep it.
 */
typedef enum rpc_reply_kind (*rpc_handler_fn)(struct rpc_request *req,
					      struct json_object *args,
					      struct rpc_reply *reply);

/* One entry of a command table; the table outlives the server. */
struct rpc_command {
	const char *name;
	rpc_handler_fn handler;
	void *opaque; /* passed to the handler as req->opaque */
};

/* Where a session's output goes; both members are required. */
struct rpc_session_ops {
	/*
	 * Queue one message for the client: buf (len bytes, ending in
	 * "\r\n") and fd (or -1) are taken, also on failure. Returns 0, or
	 * -errno if the connection should be dropped (e.g. -ENOBUFS: the
	 * client does not read). Called on the loop thread.
	 */
	int (*send)(void *opaque, char *buf, size_t len, int fd);
};

struct rpc_session {
	uint64_t conn_id;
	const struct rpc_command *cmds;
	size_t ncmds;
	const struct rpc_session_ops *ops;
	void *ops_opaque;
	struct rpc_reader reader;
	bool negotiated; /* qmp_capabilities done: commands and events */
	int failed; /* sticky: first fatal error of feed or send */
	uint64_t next_seq;
	struct rpc_fdq fdq; /* received fds not claimed by a message yet */
	int msg_fds[RPC_FDQ_MAX]; /* fds of the command being dispatched */
	size_t msg_nfds;
	size_t npending;
	struct rpc_pending *pending; /* commands answered RPC_REPLY_LATER */
};

/*
 * Set up s for connection conn_id with a command table (borrowed,
 * outlives s) and an output callback. _destroy is idempotent; it closes
 * held fds and forgets pending commands (their replies are dropped).
 */
int rpc_session_init(struct rpc_session *s, uint64_t conn_id,
		     const struct rpc_command *cmds, size_t ncmds,
		     const struct rpc_session_ops *ops,
		     void *ops_opaque) __must_check;
void rpc_session_destroy(struct rpc_session *s);

/* Send the greeting; the first thing on a new connection. */
int rpc_session_greet(struct rpc_session *s) __must_check;

/*
 * Process len bytes from the client and the nfds fds (taken) that came
 * with them, dispatching every command they complete. Returns 0, or a
 * fatal -errno after which the connection is to be closed once its
 * output is flushed: -EPROTO (not JSON; an error reply was queued),
 * -EMSGSIZE (message over RPC_MSG_MAX; error reply queued), or a send
 * error. After a fatal error further input is ignored.
 */
int rpc_session_feed(struct rpc_session *s, const char *buf, size_t len,
		     const int *fds, size_t nfds) __must_check;

/*
 * Answer the deferred command seq. kind RETURN or ERROR; reply is used
 * as a handler's (ret and fd taken). -ENOENT if no such command is
 * pending (already answered, or never deferred), -EINVAL for LATER.
 */
int rpc_session_reply(struct rpc_session *s, uint64_t seq,
		      enum rpc_reply_kind kind, struct rpc_reply *reply);

/* Queue an already serialized event (buf taken) if negotiated. */
int rpc_session_send_event(struct rpc_session *s, char *buf, size_t len);

bool rpc_session_is_negotiated(const struct rpc_session *s);

/*
 * Queue an error message that answers no command (no "id"), e.g. why
 * the server closes the connection. Returns as the send callback.
 */
int rpc_session_send_error(struct rpc_session *s, enum rpc_err_class cls,
			   const char *desc);

/* Fill reply with an error; returns RPC_REPLY_ERROR for handlers. */
enum rpc_reply_kind rpc_reply_error(struct rpc_reply *reply,
				    enum rpc_err_class cls, const char *fmt,
				    ...) __printf(3, 4);
enum rpc_reply_kind rpc_reply_verror(struct rpc_reply *reply,
				     enum rpc_err_class cls, const char *fmt,
				     va_list ap) __printf(3, 0);
/* Set reply up as the server does before calling a handler. */
void rpc_reply_init(struct rpc_reply *reply);
/* Release what a reply holds (ret, fd) and reset it. */
void rpc_reply_release(struct rpc_reply *reply);

/*
 * Take the fd the client attached to the command being handled, or
 * -ENOENT if it sent none. Only during the handler; the caller owns it.
 * fds not taken are closed when the handler returns.
 */
int rpc_request_take_fd(struct rpc_request *req);

#endif
