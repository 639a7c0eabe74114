/*
 * Monitor internals shared by its files: the process-wide state of one
 * VM. Everything here is touched only by the event loop thread, except
 * where a field says otherwise.
 */
#ifndef GODWIT_MONITOR_INTERNAL_H
#define GODWIT_MONITOR_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/evloop.h"
#include "devices/ged.h"
#include "devices/registry.h"
#include "format/stream_format.h"
#include "machine/machine.h"
#include "migration/arrival.h"
#include "migration/handover.h"
#include "migration/lazy.h"
#include "migration/postcopy.h"
#include "migration/precopy.h"
#include "migration/save.h"
#include "migration/transport/ssh.h"
#include "migration/transport/stream.h"
#include "migration/transport/tls.h"
#include "monitor/console.h"
#include "monitor/disks.h"
#include "monitor/hooks.h"
#include "monitor/monitor.h"
#include "monitor/nics.h"
#include "monitor/savefile.h"
#include "rpc/server.h"
#include "vmm/vm.h"

struct rpc_migration;

/* The VM's run state as query-status reports it (QEMU's names). */
enum run_state {
	RUN_PRELAUNCH,
	RUN_RUNNING,
	RUN_PAUSED,
	RUN_SAVING, /* paused for a save */
	RUN_SHUTDOWN, /* guest or host ended it */
	RUN_POSTMIGRATE, /* handed over to the destination */
	/*
	 * godwit's own: YOURS went out, no CONFIRMED. Paused here until the
	 * destination's word (or the operator's migrate-resolve) settles it.
	 */
	RUN_UNCONFIRMED,
	RUN_FINISH_MIGRATE, /* reported only: paused for the final copy */
};

/* Outcome of the last save (query-save "status"). */
enum save_status {
	SAVE_NONE,
	SAVE_ACTIVE,
	SAVE_COMPLETED,
	SAVE_FAILED,
};

/* A save in progress (the save job). */
struct save_job {
	struct monitor *m;
	pthread_t thread;
	struct rpc_call call; /* the save command, answered at the end */
	char path[PATH_MAX];
	struct save_target target; /* where the stream goes (savefile.h) */
	bool keep_running; /* -c */
	bool leave_paused; /* -p */
	struct stream stream; /* offset read by the loop thread (atomic) */
	int cancel_fd; /* eventfd: save-cancel raises it, the I/O polls it */
	unsigned int stall_ms; /* a reader that takes nothing this long */
	uint64_t start_ns;
	/* results, written by the thread before it hands back */
	int rc;
	char error[256];
	struct save_result res;
};

/* What query-save reports of the last save; updated on the loop thread. */
struct save_info {
	enum save_status status;
	char error[256];
	char file[PATH_MAX];
	struct save_result res;
	uint64_t bytes; /* written so far, or in all */
	uint64_t time_ns; /* elapsed so far, or in all */
};

/*
 * The incoming: the stream this VM is built from, a save file being
 * restored (godwit restore) or a migration being received
 * (migrate-receive).
 */
struct incoming {
	int fd;
	int wfd; /* fd, or stdout under --stdio */
	bool migration; /* a live peer: handover after the stream */
	char peer[300];
	struct stream stream;
	bool stream_open;
	struct stream_header hdr;
	char *config; /* the header's config text */
	struct arrival arrival; /* migration: id, outcome, QUERY server */
	struct tls_opts tls; /* --tls: the stream's and QUERY's */
	/* post-copy (postcopy.c): the stream's plan, and fetching it */
	struct postcopy_plan postcopy;
	struct postcopy_dst pc;
	bool pc_started;
	bool recover_pending; /* recover_call waits for the attempt */
	struct rpc_call recover_call;
	/* restore --lazy (lazyload.c) */
	struct lazy_restore lazy;
	bool lazy_on;
	int lazy_fd; /* the save file, kept open while it serves */
	bool refused; /* the source was told why (FAILED) */
};

/* Outcome of a migration (query-migrate "status"). */
enum mig_status {
	MIG_NONE,
	MIG_ACTIVE,
	MIG_COMPLETED, /* the destination confirmed: VM runs there */
	MIG_FAILED, /* the VM was resumed here */
	MIG_UNCONFIRMED, /* handed over, no confirmation: VM left paused */
	MIG_POSTCOPY, /* handed over; serving its last pages */
	MIG_POSTCOPY_FAILED, /* stopped before the destination had them */
};

/* How an unconfirmed handover was settled from outside (migrate-resolve). */
enum mig_resolution {
	MIG_RESOLVE_NONE,
	MIG_RESOLVE_RESUME_HERE, /* the operator: resume the VM here */
	MIG_RESOLVE_DISCARD, /* the operator: the destination runs it */
	MIG_RESOLVE_STOP, /* the process ends: stop asking, leave it */
};

/* A live migration in progress (source side). */
struct mig_job {
	struct monitor *m;
	pthread_t thread;
	char uri[300];
	char host[256];
	uint16_t port;
	struct precopy_params params;
	unsigned int stall_ms; /* stream stall timeout, CONFIRMED wait */
	/* transports other than plain TCP (migtransport.c) */
	char ssh_command[512]; /* "": TCP */
	char receive_command[512];
	struct ssh_transport ssh;
	bool tls;
	char tls_dir[256];
	char tls_name[256];
	int sock; /* shut down by migrate_cancel, before YOURS only */
	/*
	 * eventfd the stream and the QUERY loop poll: raised by cancel
	 * (before YOURS), migrate-resolve or the VM's end (after YOURS).
	 */
	int cancel_fd;
	struct stream stream;
	struct handover_source ho;
	struct postcopy_src pc; /* listening when post-copy may happen */
	bool pc_listening;
	pthread_mutex_t lock; /* the fields below, between the threads */
	bool committed; /* YOURS sent: never resume by ourselves */
	bool cancelled;
	bool unconfirmed; /* in the QUERY loop */
	bool settled; /* the destination's word decided: too late to resolve */
	enum mig_resolution resolution;
	bool resolve_pending; /* resolve_call waits for the outcome */
	struct rpc_call resolve_call;
	uint64_t start_ns;
	struct hook_ctx hooks;
	char uuid[40];
	char hook_error[256]; /* a hook's veto, as the failure to report */
	/* results, written by the thread before it hands back */
	enum mig_status status;
	char error[256];
	struct precopy_result res;
	uint64_t downtime_ns;
	bool downtime_known; /* CONFIRMED gave the destination's time */
	char settled_by[160]; /* how an unconfirmed handover ended */
	/* Written by the thread as it goes (atomics), read by the loop. */
	struct precopy_live counters;
	uint64_t setup_ns; /* start until the stream began (QEMU setup) */
	/*
	 * Started by a migrate with QEMU's arguments only: after success
	 * the process stays in postmigrate until quit, as QEMU's does.
	 */
	bool stay;
};

/* What query-migrate reports; updated on the loop thread. */
struct mig_info {
	enum mig_status status;
	char error[256];
	char uri[300];
	struct precopy_round last; /* latest round */
	struct precopy_result res;
	uint64_t total_ns;
	uint64_t downtime_ns;
	bool downtime_known;
	uint64_t total_pages;
	struct precopy_live counters; /* at the end of the last migration */
	uint64_t setup_ns;
	uint64_t transferred; /* stream bytes of the last migration */
};

/*
 * Migration parameters (migrate-set-parameters): what a migrate command
 * that does not say otherwise uses. downtime and bandwidth also change
 * a migration in progress.
 */
struct mig_settings {
	uint64_t downtime_ms; /* QEMU's downtime-limit */
	uint64_t bandwidth_bps; /* QEMU's max-bandwidth; 0: unlimited */
	uint64_t max_rounds;
	uint64_t stall_ms;
	uint64_t paused_margin_ms; /* 0: the default margin */
};

struct monitor {
	const struct monitor_opts *opts;
	struct domain_config cfg; /* effective configuration */
	struct vm vm;
	struct machine machine; /* what cfg adds to the platform; devs use it */
	struct dev_registry devs; /* the VM's devices (devices/platform.h) */
	struct ged *ged; /* in devs: the power button (system_powerdown) */
	struct monitor_disks disks;
	struct monitor_nics nics;
	struct console console;
	struct evloop *loop;
	struct rpc_server *rpc;
	struct rpc_command qmp_cmds[24]; /* opaque = this monitor */
	char qmp_path[PATH_MAX];
	int signal_fd;
	int status;
	enum run_state state;
	bool user_paused;
	bool stop_seen; /* the guest's end was handled (monitor_on_stop) */
	const char *end_kind; /* exit file: set by save/migrate, else derived */
	/* save or migration job: at most one at a time */
	struct save_job *save;
	struct save_info save_info;
	struct incoming incoming;
	char incoming_name[PATH_MAX + 32]; /* file, or "migration from PEER" */
	struct mig_job *mig;
	struct mig_info mig_info;
	struct mig_settings mig_set;
	char last_console[160]; /* the guest's last unread line, at its end */
};

/* An exit file's line, newline included, is at most this minus one. */
#define MONITOR_EXIT_LINE_MAX 512

const char *run_state_name(enum run_state s);
/* The status word query-status reports (a migration's final copy too). */
const char *monitor_status_name(struct monitor *m);

/* qmp.c */
int monitor_qmp_start(struct monitor *m) __must_check;
void monitor_event(struct monitor *m, const char *name,
		   struct json_object *data);

/* savejob.c */
enum rpc_reply_kind monitor_cmd_save(struct rpc_request *req,
				     struct json_object *args,
				     struct rpc_reply *reply);
enum rpc_reply_kind monitor_cmd_query_save(struct rpc_request *req,
					   struct json_object *args,
					   struct rpc_reply *reply);
enum rpc_reply_kind monitor_cmd_save_cancel(struct rpc_request *req,
					    struct json_object *args,
					    struct rpc_reply *reply);

/* incoming.c: build the VM from the incoming (a save file or a migration) */
int monitor_incoming_accept(struct monitor *m) __must_check;
int monitor_incoming_handover(struct monitor *m) __must_check;
/* A migration that failed to arrive: record DISCARDED (idempotent). */
void monitor_incoming_abandon(struct monitor *m);
/* Tell the source why it failed here (FAILED), unless it was told. */
void monitor_incoming_refuse(struct monitor *m, const char *why);
/* After that: close it, answer QUERY with DISCARDED a while (--linger). */
void monitor_incoming_linger(struct monitor *m);
int monitor_incoming_prepare(struct monitor *m) __must_check;
int monitor_incoming_load(struct monitor *m) __must_check;
void monitor_incoming_finish(struct monitor *m);

/* postcopy.c: the destination's post-copy */
/* At the handover's claim: start fetching what the stream lacks. */
int monitor_postcopy_claim(struct monitor *m, char *why,
			   size_t whylen) __must_check;
void monitor_postcopy_stop(struct monitor *m);
enum rpc_reply_kind monitor_cmd_migrate_recover(struct rpc_request *req,
						struct json_object *args,
						struct rpc_reply *reply);

/* lazyload.c: restore --lazy */
int monitor_lazy_prepare(struct monitor *m) __must_check;
int monitor_lazy_start(struct monitor *m) __must_check;
void monitor_lazy_stop(struct monitor *m);
/* Guest RAM still has holes to fill (lazy restore, post-copy). */
bool monitor_memory_incomplete(struct monitor *m);

/* migjob.c: the migration thread (arg: its struct mig_job) */
void *monitor_mig_thread(void *opaque);
/*
 * The job's connection other than plain TCP (migtransport.c): ssh, TLS.
 * connect: 0 with the connected fd, else -errno with one line in why.
 * open_stream: the stream over it (TLS: the session, handshake done at
 * connect). end: after the stream is closed, ssh is reaped, and a
 * failure gets ssh's last word appended. Plain TCP: connect returns
 * -ENOSYS and the others do nothing.
 */
int mig_transport_connect(struct mig_job *job, int *fd_out, char *why,
			  size_t whylen);
int mig_transport_open_stream(struct mig_job *job, char *why, size_t whylen);
void mig_transport_end(struct mig_job *job);
/* The job's TLS options in o (NULL if it is not over TLS). */
const struct tls_opts *mig_transport_tls(struct mig_job *job,
					 struct tls_opts *o);
/*
 * The destination's side: the stream on stdin/stdout (--stdio) and TLS
 * (--tls), once the stream is open; 0 or -errno (logged, the source
 * told where it can be). detach: the VM runs, --stdio's caller is told
 * and stdio let go (sshd's session then ends).
 */
int monitor_incoming_transport(struct monitor *m) __must_check;
void monitor_stdio_detach(struct monitor *m);

/* miginfo.c: what migration events and queries say (rpc/msg_migrate.h) */
/* MIGRATION: status, and godwit's own figures. */
struct json_object *monitor_mig_event_data(struct mig_info *mi);
/* MIGRATION_PASS: QEMU's pass, and godwit's per-round figures. */
struct json_object *monitor_mig_pass_data(const struct precopy_round *r);
/* query-migrate: QEMU's MigrationInfo, with godwit's own keys too. */
struct json_object *monitor_mig_query_data(struct monitor *m);

/* migcmd.c */
enum rpc_reply_kind monitor_cmd_migrate(struct rpc_request *req,
					struct json_object *args,
					struct rpc_reply *reply);
enum rpc_reply_kind monitor_cmd_migrate_cancel(struct rpc_request *req,
					       struct json_object *args,
					       struct rpc_reply *reply);
void monitor_migration_abort(struct monitor *m);
enum rpc_reply_kind monitor_cmd_migrate_resolve(struct rpc_request *req,
						struct json_object *args,
						struct rpc_reply *reply);
/* Handed over, no CONFIRMED yet: the VM must not run here on its own. */
bool monitor_migration_committed(struct monitor *m);
enum rpc_reply_kind monitor_cmd_query_migrate(struct rpc_request *req,
					      struct json_object *args,
					      struct rpc_reply *reply);

/* nics.c */
enum rpc_reply_kind monitor_cmd_announce_self(struct rpc_request *req,
					      struct json_object *args,
					      struct rpc_reply *reply);
/* migparams.c: QEMU's migration parameters and capabilities */
void monitor_mig_settings_init(struct mig_settings *ms);
enum rpc_reply_kind monitor_cmd_migrate_set_parameters(struct rpc_request *req,
						       struct json_object *args,
						       struct rpc_reply *reply);
enum rpc_reply_kind
monitor_cmd_query_migrate_parameters(struct rpc_request *req,
				     struct json_object *args,
				     struct rpc_reply *reply);
enum rpc_reply_kind
monitor_cmd_migrate_set_capabilities(struct rpc_request *req,
				     struct json_object *args,
				     struct rpc_reply *reply);
enum rpc_reply_kind
monitor_cmd_query_migrate_capabilities(struct rpc_request *req,
				       struct json_object *args,
				       struct rpc_reply *reply);

/* monitor.c */
/*
 * Can a save or migration start now? RPC_REPLY_LATER if so, else the
 * error reply (what: "save" or "migrate", for the message).
 */
enum rpc_reply_kind monitor_job_may_start(struct monitor *m, const char *what,
					  struct rpc_reply *reply);
int monitor_config_text(struct monitor *m, char **text_out,
			uint32_t *len_out) __must_check;
void monitor_end(struct monitor *m, int status, const char *fmt, ...)
	__printf(3, 4);
/* The VM's name and uuid in every log line's journal fields. */
void monitor_log_identity(struct monitor *m);

#endif
