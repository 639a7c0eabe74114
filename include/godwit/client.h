/*
 * libgodwit-client: talk to godwitd (the per-host daemon) or to one VM's
 * control socket, from the application's own event loop.
 *
 * A connection (struct godwit_conn) never blocks and has no thread of
 * its own. The application watches godwit_conn_fd() for
 * godwit_conn_events(), wakes up after at most godwit_conn_timeout()
 * milliseconds, and then calls godwit_conn_dispatch(): commands complete
 * and events arrive through callbacks, on the thread that dispatches.
 * For simple tools the blocking layer at the end of this header runs
 * that loop itself (godwit_execute, godwit_result_wait,
 * godwit_next_event).
 *
 * Conventions, for every function of the library:
 *  - int results are 0 or a negative errno value; where err/errlen are
 *    given, a failure also leaves one line there saying what went wrong;
 *  - pointers passed in are borrowed for the call unless said otherwise;
 *    json-c objects passed in keep their reference count (the library
 *    takes its own reference when it keeps one); json-c objects handed
 *    to a callback are borrowed for the callback;
 *  - a connection is used by one thread at a time (no locking inside);
 *    different connections are independent. Callbacks run inside
 *    godwit_conn_dispatch() (or a blocking call), never from another
 *    thread, never from inside godwit_call();
 *  - every open has its close: godwit_conn_close(), godwit_event_free(),
 *    godwit_result_release(), godwit_domain_list_free().
 *
 * The commands and events are those of godwitd(8) and of godwit(1)'s
 * "CONTROL SOCKET"; docs/client-library.md describes the library.
 */
#ifndef GODWIT_CLIENT_H
#define GODWIT_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include <godwit/api.h>

#ifdef __cplusplus
extern "C" {
#endif

struct godwit_conn;

/* ---- where the sockets are ---- */

/* godwit's run directory: $GODWIT_RUN_DIR, else /run/godwit. Static. */
const char *godwit_run_dir(void);
/* The daemon's control socket (RUN/godwitd.sock) into buf (len bytes). */
int godwit_daemon_socket_path(char *buf, size_t len) GODWIT_MUST_CHECK;
/*
 * The control socket of VM vm: vm itself if it holds a '/', else
 * RUN/vm/VM.qmp (where `godwit run` puts it). -ENAMETOOLONG if buf is
 * too small.
 */
int godwit_vm_socket_path(const char *vm, char *buf,
			  size_t len) GODWIT_MUST_CHECK;

/* ---- opening and closing ---- */

/*
 * Connect to godwitd, or to VM vm's control socket. The connection is
 * usable at once: commands given before the server has greeted and
 * negotiated wait for it, and fail with -EPROTO if it never does (the
 * greeting is awaited at most 5 seconds). Connecting may wait up to a
 * second when the server's backlog is full. *conn_out is the caller's,
 * for godwit_conn_close(). -ENOENT or -ECONNREFUSED: nobody listens
 * (godwit_error_is_absent); other -errno values are real failures.
 */
int godwit_open_daemon(struct godwit_conn **conn_out, char *err,
		       size_t errlen) GODWIT_MUST_CHECK;
int godwit_open_vm(const char *vm, struct godwit_conn **conn_out, char *err,
		   size_t errlen) GODWIT_MUST_CHECK;
/*
 * The way to domain dom, as the godwit command goes: a dom holding '/'
 * is a VM socket, used directly; else godwitd when it answers (it knows
 * domains by name, id or uuid); else, with need_daemon false, the VM
 * socket RUN/vm/DOM.qmp. godwit_conn_is_daemon() then tells which.
 */
int godwit_open_domain(const char *dom, bool need_daemon,
		       struct godwit_conn **conn_out, char *err,
		       size_t errlen) GODWIT_MUST_CHECK;
/* Does errno value rc from an open mean "nothing listens there"? */
bool godwit_error_is_absent(int rc);
/* Does conn talk to godwitd (else to a VM's own control socket)? */
bool godwit_conn_is_daemon(const struct godwit_conn *conn);

/*
 * Close conn and free everything it holds. Commands still pending
 * complete first, with -ECANCELED (their callbacks must not use conn).
 * May be called from one of conn's own callbacks: the connection is then
 * freed when the dispatch that runs it returns. NULL is a no-op.
 */
void godwit_conn_close(struct godwit_conn *conn);

/* ---- the application's loop ---- */

/* The file descriptor to watch; the same for the connection's life. */
int godwit_conn_fd(const struct godwit_conn *conn);
/*
 * What to watch it for, as poll(2) bits: POLLIN, with POLLOUT while
 * output waits. Ask again after every dispatch.
 */
short godwit_conn_events(const struct godwit_conn *conn);
/*
 * Milliseconds until a command's or the greeting's deadline passes
 * (dispatch then, even without events), or -1 if none is pending.
 */
int godwit_conn_timeout(const struct godwit_conn *conn);
/*
 * Do what revents (poll(2) bits, 0 after a timeout) allows: send queued
 * commands, read replies and events, run their callbacks, expire
 * deadlines. Returns 0, or a negative errno once the connection is down
 * (-ECONNRESET: the server closed it; -EPROTO: it sent garbage): pending
 * commands have completed with that error then, and nothing more will
 * happen but godwit_conn_close(). -ECANCELED when a callback closed the
 * connection: it is freed, do not use it again.
 */
int godwit_conn_dispatch(struct godwit_conn *conn, short revents);

/* ---- commands ---- */

/* How a command ended, for its callback (everything borrowed). */
struct godwit_reply {
	/*
	 * 0: ret holds the answer. -EREMOTEIO: the server refused it
	 * (error_class and error say why). -ETIMEDOUT: no answer within the
	 * command's timeout. -ECONNRESET, -EPROTO: the connection broke.
	 * -ECANCELED: the connection was closed first.
	 */
	int rc;
	struct json_object *ret; /* the "return" value; NULL unless rc is 0 */
	const char *error_class; /* QMP's class ("GenericError"), or "" */
	const char *error; /* one line; "" when rc is 0 */
};

/* Called once per command, inside dispatch (or close: -ECANCELED). */
typedef void (*godwit_reply_fn)(struct godwit_conn *conn,
				const struct godwit_reply *reply, void *opaque);

/*
 * Send command with args (may be NULL) and call fn(opaque) once with
 * its outcome; timeout_ms bounds the wait for the answer (-1: none). The
 * typed commands of <godwit/domain.h>, <godwit/migrate.h> and
 * <godwit/jobinfo.h> build their arguments for you; this one is for
 * anything else the protocol has. -ENOMEM, -EMSGSIZE, or the connection's
 * error once it is down (fn is then not called).
 */
int godwit_call(struct godwit_conn *conn, const char *command,
		struct json_object *args, int timeout_ms, godwit_reply_fn fn,
		void *opaque) GODWIT_MUST_CHECK;

/* ---- events ---- */

enum godwit_event_kind {
	GODWIT_EVENT_OTHER, /* any other event: read data */
	GODWIT_EVENT_STATE, /* STOP, RESUME, SHUTDOWN, POWERDOWN: see name */
	GODWIT_EVENT_MIGRATION_ROUND, /* MIGRATION_PASS: as.round */
	GODWIT_EVENT_MIGRATION, /* MIGRATION (progress, outcome): as.migration */
	GODWIT_EVENT_SAVE, /* SAVE_COMPLETED, SAVE_FAILED: as.save */
	GODWIT_EVENT_VMM_ENDED, /* godwitd: a domain's VMM ended: as.ended */
};

/* One pre-copy round of a migration. */
struct godwit_migration_round {
	int64_t round; /* 0 sends every page with data, then the dirtied */
	int64_t pages_sent;
	int64_t pages_dirtied; /* while the round ran */
	double mbps; /* sent */
	double dirty_mbps; /* dirtied */
	double duration_ms;
	double expected_downtime_ms; /* if it stopped now */
	int64_t cpu_throttle_pct; /* how much the vCPUs were slowed */
};

enum godwit_migration_status {
	GODWIT_MIGRATION_NONE,
	GODWIT_MIGRATION_ACTIVE,
	GODWIT_MIGRATION_COMPLETED, /* the destination runs the VM */
	GODWIT_MIGRATION_FAILED, /* the VM runs here again */
	GODWIT_MIGRATION_UNCONFIRMED, /* handed over, no confirmation */
	GODWIT_MIGRATION_POSTCOPY_ACTIVE, /* handed over; last pages on demand */
	GODWIT_MIGRATION_POSTCOPY_FAILED, /* source: ended before it sent all */
	GODWIT_MIGRATION_POSTCOPY_PAUSED, /* destination: a connection broke */
	GODWIT_MIGRATION_STOPPED, /* destination: VM ended during post-copy */
};

/* A migration's state or outcome. */
struct godwit_migration {
	enum godwit_migration_status status;
	char error[GODWIT_ERROR_MAX]; /* failed or unconfirmed: why */
	bool has_downtime; /* completed and measured */
	double downtime_ms;
	double total_time_ms;
	int64_t rounds;
	int64_t bytes;
	bool postcopy; /* completed through post-copy */
	int64_t cpu_throttle_pct; /* the most the vCPUs were slowed */
	/* the destination's post-copy: each has_* says the next is known */
	bool has_postcopy_faults;
	int64_t postcopy_faults; /* guest faults on missing regions */
	bool has_postcopy_regions;
	int64_t postcopy_regions; /* 2 MiB regions it had to fetch */
	bool has_postcopy_time;
	double postcopy_ms; /* from the switch until it had them all */
};

enum godwit_save_status {
	GODWIT_SAVE_NONE,
	GODWIT_SAVE_ACTIVE,
	GODWIT_SAVE_COMPLETED,
	GODWIT_SAVE_FAILED,
};

/* A save's state or outcome. */
struct godwit_save_result {
	enum godwit_save_status status;
	char file[GODWIT_PATH_MAX];
	int64_t bytes;
	int64_t pages;
	int64_t total_time_ms;
	char error[GODWIT_ERROR_MAX]; /* failed: why */
};

/* godwitd's word that a domain's VMM process ended. */
struct godwit_vmm_ended {
	char end[GODWIT_WORD_MAX]; /* migrated, saved, shutdown, killed... */
	int64_t status; /* the process's exit status */
	char reason[GODWIT_ERROR_MAX];
	char job[GODWIT_WORD_MAX]; /* "save", "migration" it ran, or "" */
};

/* An event (everything borrowed for the callback). */
struct godwit_event {
	enum godwit_event_kind kind;
	const char *name; /* the protocol's name, e.g. "MIGRATION_PASS" */
	const char *domain; /* godwitd: the domain's name; "" on a VM socket */
	int64_t domid; /* godwitd: the domain's id; -1 on a VM socket */
	struct json_object *data; /* the event's data as sent (may be NULL) */
	union {
		struct godwit_migration_round round;
		struct godwit_migration migration;
		struct godwit_save_result save;
		struct godwit_vmm_ended ended;
	} as; /* the member kind names; a malformed one is kind OTHER */
};

/* Called for each event, inside dispatch. */
typedef void (*godwit_event_fn)(struct godwit_conn *conn,
				const struct godwit_event *event, void *opaque);

/*
 * Deliver conn's events to fn(opaque) from now on (NULL: keep them for
 * godwit_next_event instead, the default; at most 256 are kept, the
 * oldest dropped first). godwitd sends every domain's events to every
 * client: compare event->domid with yours.
 */
void godwit_set_event_handler(struct godwit_conn *conn, godwit_event_fn fn,
			      void *opaque);

/* The wire word of a migration status ("completed", ...). Static. */
const char *godwit_migration_status_name(enum godwit_migration_status s);

/* ---- the blocking layer ---- */

/*
 * A command's outcome kept for a caller that waits: pass
 * godwit_result_fn and a struct godwit_result (set to
 * GODWIT_RESULT_INIT) to any command, then godwit_result_wait(). ret is
 * the caller's until godwit_result_release().
 */
struct godwit_result {
	bool done;
	int rc; /* as struct godwit_reply's */
	struct json_object *ret; /* owned: one reference */
	char error_class[GODWIT_WORD_MAX];
	char error[GODWIT_ERROR_MAX];
};
#define GODWIT_RESULT_INIT             \
	{                              \
		false, 0, NULL, "", "" \
	}

/* The reply function for a struct godwit_result (opaque). */
void godwit_result_fn(struct godwit_conn *conn,
		      const struct godwit_reply *reply, void *opaque);
/*
 * Run conn (poll and dispatch) until res is done; events meanwhile go to
 * the handler or the queue. Returns res->rc; the command's own timeout
 * bounds the wait.
 */
int godwit_result_wait(struct godwit_conn *conn, struct godwit_result *res);
/* Drop res's answer; res is GODWIT_RESULT_INIT again. */
void godwit_result_release(struct godwit_result *res);

/*
 * Run command and wait for it: godwit_call + godwit_result_wait. On 0,
 * *ret_out (may be NULL) is the answer (caller owns it); else err says
 * why (the server's own line for -EREMOTEIO).
 */
int godwit_execute(struct godwit_conn *conn, const char *command,
		   struct json_object *args, int timeout_ms,
		   struct json_object **ret_out, char *err,
		   size_t errlen) GODWIT_MUST_CHECK;

/*
 * The next event kept for the caller (no handler set), waiting up to
 * timeout_ms for one (-1: no limit; 0: only what has arrived).
 * *event_out is the caller's, for godwit_event_free(). -ETIMEDOUT when
 * none came, or the connection's error once it is down.
 */
int godwit_next_event(struct godwit_conn *conn, int timeout_ms,
		      struct godwit_event **event_out) GODWIT_MUST_CHECK;
/* Free an event from godwit_next_event. NULL is a no-op. */
void godwit_event_free(struct godwit_event *event);

#ifdef __cplusplus
}
#endif

#endif
