/*
 * The client library's insides, shared by its files: the connection
 * (conn.c), and the helpers that turn the protocol's messages
 * (rpc/msg*.h) into the public structs of include/godwit/.
 */
#ifndef GODWIT_LIB_INTERNAL_H
#define GODWIT_LIB_INTERNAL_H

#include <godwit/client.h>
#include <godwit/jobinfo.h>
#include <godwit/migrate.h>

#include "common/compiler.h"
#include "rpc/msg_job.h"
#include "rpc/msg_migrate.h"
#include "rpc/msg_save.h"

/* Events kept for godwit_next_event; the oldest goes first. */
#define LIB_EVENTS_MAX 256
/* How long a server may take to greet and negotiate. */
#define LIB_GREETING_MS 5000
/* How long connect() may wait for a full backlog. */
#define LIB_CONNECT_MS 1000

/* An event as godwit_next_event hands it out: the public part first. */
struct lib_event {
	struct godwit_event ev;
	struct json_object *msg; /* the whole message: owns name and data */
	char domain[GODWIT_DOMAIN_MAX];
};

/* conn.c: a connection to the server on path (godwitd if daemon). */
int lib_conn_open(const char *path, bool daemon,
		  struct godwit_conn **c_out) __must_check;
/* conn.c: the queue of events kept for godwit_next_event. */
struct lib_event *lib_event_pop(struct godwit_conn *c);
/* Is the connection down (and why)? 0 while it is up. */
int lib_conn_error(const struct godwit_conn *c);

/*
 * event.c: fill e from an event message (borrowed: e points into it);
 * kind OTHER when a known event's data does not decode.
 */
void lib_event_from_msg(struct json_object *msg, struct godwit_event *e,
			char *domain, size_t domain_len);

/* The public forms of the protocol's structs (convert.c). */
void lib_migration_from(const struct rpc_migration *in,
			struct godwit_migration *out);
void lib_round_from(const struct rpc_mig_round *in,
		    struct godwit_migration_round *out);
void lib_save_from(const struct rpc_save_result *in,
		   struct godwit_save_result *out);
void lib_job_from(const struct rpc_job_info *in, struct godwit_job *out);

/*
 * Decode ret as message type t into msg; -EPROTO with err when the
 * answer does not read as one (a server that is not ours).
 */
int lib_decode(const struct rpc_msg_type *t, struct json_object *ret, void *msg,
	       char *err, size_t errlen);
/*
 * Encode msg of type t (filled by hand: checked first) and send it as
 * command; -EINVAL with err when a member is out of range.
 */
/*
 * The next command queued on c carries a duplicate of fd (SCM_RIGHTS,
 * with its first byte). -EBUSY if one is already waiting.
 */
int lib_pass_fd(struct godwit_conn *c, int fd) __must_check;
/* Close the fd lib_pass_fd kept if no command was queued to take it. */
void lib_pass_fd_drop(struct godwit_conn *c);
int lib_send(struct godwit_conn *c, const char *command,
	     const struct rpc_msg_type *t, void *msg, int timeout_ms,
	     godwit_reply_fn fn, void *opaque, char *err, size_t errlen);

#endif
