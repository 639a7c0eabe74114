/*
 * godwitd's connection to one VMM's control socket, driven by the
 * daemon's event loop: nothing here blocks, so a stuck VMM cannot stall
 * the daemon.
 *
 * vmlink_open connects, reads the greeting and negotiates capabilities;
 * commands may be queued at once (they are sent behind the negotiation,
 * which the VMM handles first). Each command gets exactly one reply
 * callback: the VMM's answer, or -ETIMEDOUT, -ECONNRESET (the link went
 * down) or -ECANCELED (the owner freed the link). Events go to ops.
 *
 * The owner may free the link from any callback, its own included.
 */
#ifndef GODWIT_DAEMON_VMLINK_H
#define GODWIT_DAEMON_VMLINK_H

#include <stdbool.h>

#include <json-c/json.h>

#include "common/compiler.h"
#include "common/evloop.h"
#include "rpc/proto.h"

struct vmlink;

/* A failed command: which class the VMM named and its description. */
struct vmlink_err {
	char cls[RPC_CLASS_MAX]; /* e.g. "CommandNotFound"; "" locally */
	char desc[RPC_DESC_MAX];
};

/*
 * A command's outcome, on the loop thread: rc 0 with ret (borrowed, never
 * NULL), -EREMOTEIO with err from the VMM, or a local -errno with err
 * describing it. opaque is vmlink_call's.
 */
typedef void (*vmlink_reply_fn)(void *opaque, int rc, struct json_object *ret,
				const struct vmlink_err *err);

struct vmlink_ops {
	/* Negotiation done: the VMM serves our commands. */
	void (*up)(struct vmlink *l, void *opaque);
	/* An event; name and data (may be NULL) borrowed for the call. */
	void (*event)(struct vmlink *l, void *opaque, const char *name,
		      struct json_object *data);
	/*
	 * The connection closed or broke; pending commands were answered
	 * with -ECONNRESET just before. Called once, never after
	 * vmlink_free. The owner normally frees the link here.
	 */
	void (*down)(struct vmlink *l, void *opaque, const char *why);
};

/*
 * Connect to the control socket at path. Fails at once (-ENOENT,
 * -ECONNREFUSED) when nothing listens there, so callers retry on a
 * timer. ops and opaque are borrowed for the link's life.
 */
int vmlink_open(struct evloop *loop, const char *path,
		const struct vmlink_ops *ops, void *opaque,
		struct vmlink **l_out) __must_check;

/*
 * Queue command with args (borrowed, NULL for none). timeout_ms bounds
 * the wait for its reply (-1: none). -ESHUTDOWN once the link is down,
 * -ENOBUFS if the VMM does not read. fn is called only when this
 * returns 0.
 */
int vmlink_call(struct vmlink *l, const char *command, struct json_object *args,
		int timeout_ms, vmlink_reply_fn fn, void *opaque) __must_check;
/* The same, with fd (taken, also on failure) passed along (SCM_RIGHTS). */
int vmlink_call_fd(struct vmlink *l, const char *command,
		   struct json_object *args, int fd, int timeout_ms,
		   vmlink_reply_fn fn, void *opaque) __must_check;

bool vmlink_is_up(const struct vmlink *l);

/*
 * Handle what the VMM has sent already (replies, events, its end of the
 * connection), e.g. once its process has exited, so that nothing it said
 * is lost to the order in which the loop reports things. Callbacks run
 * as from the loop. NULL is a no-op.
 */
void vmlink_drain(struct vmlink *l);

/* Close and free; pending commands get -ECANCELED. NULL is a no-op. */
void vmlink_free(struct vmlink *l);

#endif
