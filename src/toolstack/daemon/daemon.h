/*
 * godwitd internals shared by its files: the daemon (struct gwd) and one
 * domain it knows (struct dom). Everything runs on the daemon's single
 * event loop thread; nothing here blocks on a VMM.
 *
 * A domain's life in the daemon:
 *
 *   spawn VMM -> STARTING --control socket answers--> LIVE
 *   LIVE --VMM exits--> lifecycle (lifecycle.c): removed, restarted
 *        (STARTING again, new domid), or preserved (SHUTDOWN/CRASHED)
 *   LIVE --destroy--> DYING --VMM exits--> removed
 *
 * Domains that arrive (restore, incoming migration) start unregistered:
 * their name and uuid are learnt from the VMM once it answers, then they
 * get a domid and a registry directory (attach.c).
 */
#ifndef GODWIT_DAEMON_DAEMON_H
#define GODWIT_DAEMON_DAEMON_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "common/compiler.h"
#include "common/evloop.h"
#include "common/net.h"
#include "config/domain_config.h"
#include "config/host_config.h"
#include "toolstack/daemon/lifecycle.h"
#include "toolstack/daemon/statefile.h"
#include "toolstack/daemon/vmlink.h"
#include "rpc/server.h"

struct reloc;
struct managed_stop;

/* Restarts allowed within LIFE_RESTART_WINDOW_NS before preserving. */
#define GWD_RESTART_MAX_DEFAULT 5
/* Clients waiting on one domain (create, destroy, shutdown -w, save). */
#define DOM_WAITERS_MAX 8
/*
 * create answers once the guest has run this long (or has ended, with
 * how): a guest that ends at once is not reported as created.
 */
#define GWD_CREATE_SETTLE_MS 500
/* How long a VMM may take to end after "quit" before it is killed. */
#define DOM_QUIT_GRACE_MS 5000
/* Most domains and arrivals in flight at once. */
#define GWD_DOMAINS_MAX 1024

/* Where everything lives; options and environment fill it (main.c). */
struct gwd_paths {
	char run_dir[PATH_MAX]; /* control socket; VM sockets in vm/ */
	char state_dir[PATH_MAX]; /* registry: domains/UUID, incoming/TOKEN */
	char log_file[PATH_MAX];
	char hooks_dir[PATH_MAX]; /* passed to every VMM */
	char lock_manager[16]; /* the host's lease engine: passed on too */
	char lease_dir[PATH_MAX];
	char godwit[PATH_MAX]; /* the VMM binary */
	char sock[PATH_MAX]; /* RUN/godwitd.sock */
	char config[PATH_MAX]; /* godwitd.conf (host_config.h) */
};

struct gwd_reloc_opts {
	bool enabled;
	char address[NET_HOST_MAX];
	uint16_t port;
	char hosts_allow[2048]; /* space-separated extended regexps */
	unsigned int header_ms; /* a stream header must come within this */
	/* TLS (reloc_tls.h): credentials in tls_dir, allowed client
	 * certificate names (DN or CN; none: any the CA signed) */
	bool tls;
	char tls_dir[PATH_MAX];
	const char *tls_allow[16];
	unsigned int nr_tls_allow;
};
#define GWD_RELOC_HEADER_MS_DEFAULT 10000

struct gwd {
	struct gwd_paths paths;
	struct gwd_reloc_opts reloc_opts;
	struct host_config host; /* godwitd.conf */
	struct managed_stop *stopping; /* on_host_stop = "save" under way */
	unsigned int restart_max;
	bool overcommit; /* start domains the memory check would refuse */
	struct rpc_limits ctl_limits; /* control socket time limits */
	/* The VMM takes --arrival-id and --outcome-file (probed at start). */
	bool vmm_arrival_ids;
	struct evloop *loop;
	struct rpc_server *rpc;
	struct reloc *reloc;
	int log_fd;
	int sig_fd;
	int lock_fd;
	struct evloop_timer *poll; /* adopted VMMs without a pidfd */
	struct dom *doms; /* every domain and arrival, oldest first */
	unsigned int nr_doms;
	uint64_t next_serial;
	unsigned int next_domid;
	uint64_t next_token;
};

enum dom_state {
	DOM_STARTING, /* VMM spawned; its control socket has not answered */
	DOM_LIVE, /* the VMM answers; ->status has its run state */
	DOM_SHUTDOWN, /* preserved after a power-off: no VMM */
	DOM_CRASHED, /* preserved after a crash: no VMM */
	DOM_DYING, /* destroy asked: waiting for the VMM to end */
};

/* What a client waits for on a domain. */
enum dom_wait {
	WAIT_UP, /* create, restore: the VMM answers (or fails) */
	WAIT_GONE, /* destroy, shutdown -w: the VMM has ended */
	WAIT_SAVED, /* save: the VMM ended after saving (or failed) */
};

struct dom_waiter {
	bool used;
	enum dom_wait kind;
	struct rpc_call call;
	struct json_object *ret; /* reply for a success (owned), or NULL */
};

enum job_kind {
	JOB_NONE,
	JOB_SAVE,
	JOB_MIGRATE,
};

/* The save or migration the VMM runs (or ran last). */
struct dom_job {
	enum job_kind kind;
	bool active;
	char target[PATH_MAX]; /* save file, or HOST:PORT */
};

struct dom {
	struct dom *next;
	struct gwd *gwd;
	uint64_t serial; /* handle for callbacks; never reused */
	struct dom_record rec; /* what the state file holds */
	bool registered; /* has a name, uuid, domid and registry dir */
	enum dom_state state;
	char status[16]; /* the VMM's query-status word, when LIVE */
	/* status "unconfirmed": the VMM's reason (query-migrate's error). */
	char status_why[256];
	char *config_text; /* xl.cfg text (registered domains) */
	struct domain_config *cfg; /* parsed config_text, or NULL */
	uint64_t cpu_ns; /* from query-domain */
	pid_t pid; /* VMM process, 0 if none */
	bool child; /* spawned by this daemon: reaped by SIGCHLD */
	int spawn_fd; /* spawn.c's socket to the child until it runs, or -1 */
	int pidfd; /* adopted VMM watched with a pidfd, else -1 */
	struct vmlink *link;
	struct evloop_timer *probe; /* retries connecting to the VMM */
	unsigned int probe_ms;
	struct evloop_timer *kill_timer; /* destroy: quit grace period */
	struct evloop_timer *settle; /* create: GWD_CREATE_SETTLE_MS */
	uint64_t live_ns; /* CLOCK_MONOTONIC when the VMM first answered */
	bool cont_when_live; /* restore without -p: resume once registered */
	bool destroying; /* destroy asked: remove whatever the VMM says */
	uint64_t restarts[LIFE_RESTARTS_KEPT]; /* CLOCK_MONOTONIC ns */
	unsigned int nr_restarts;
	struct dom_waiter waiters[DOM_WAITERS_MAX];
	struct dom_job job;
};

/* ---- registry.c: the domain table and its files ---- */
int reg_new(struct gwd *g, struct dom **dom_out) __must_check;
/* Find a registered domain by id, uuid or name (in that order). */
struct dom *reg_find(struct gwd *g, const char *spec);
/*
 * A callback's domain, found by its serial or its VMM's pid; it becomes
 * the log context (journal fields) of what the callback logs.
 */
struct dom *reg_by_serial(struct gwd *g, uint64_t serial);
struct dom *reg_by_pid(struct gwd *g, pid_t pid);
/* d's name, uuid and job in the journal fields of the lines that follow
 * (until the event loop's next callback). */
void dom_log_ctx(const struct dom *d);
struct dom *reg_by_name(struct gwd *g, const char *name);
struct dom *reg_by_uuid(struct gwd *g, const char *uuid);
/* Take the next domid and persist the counter. */
unsigned int reg_next_domid(struct gwd *g);
/* A create that failed gives id back, unless a later one was taken. */
void reg_return_domid(struct gwd *g, unsigned int id);
/* Give d a registry directory under domains/ (d->rec.uuid is set). */
int reg_make_dir(struct dom *d) __must_check;
/*
 * A fresh directory under incoming/ for an arrival: sets d->rec.dir, the
 * exit file in it, and a hidden socket path RUN/vm/.TOKEN.qmp.
 */
int reg_make_incoming_dir(struct dom *d) __must_check;
/* Write the state file (atomically); logs failures. */
int reg_save(struct dom *d);
/* Write d->config_text to DIR/config. */
int reg_write_config(struct dom *d) __must_check;
/* Parse len bytes of text as d's configuration (copied). */
int reg_set_config(struct dom *d, const char *text, size_t len, char *why,
		   size_t whylen) __must_check;
/* Remove d's exit file (and an arrival's own directory holding it). */
void reg_drop_exit_file(struct dom *d);
/* Remove d's files and forget it (waiters answered with why). */
void reg_remove(struct dom *d, const char *why);
/* d failed to start: kill the VMM it may have got, then reg_remove. */
void reg_discard(struct dom *d);
/* Free d's memory only (daemon exit): files and VMM stay. */
void reg_free(struct dom *d);
/* Read the registry at start-up and adopt what still runs. */
int reg_load(struct gwd *g) __must_check;
/* The VM socket path for name under RUN/vm/. */
int reg_qmp_path(struct gwd *g, const char *name, char *buf,
		 size_t len) __must_check;
/* d's name for log lines; "(arriving)" until an arrival is identified. */
const char *dom_label(const struct dom *d);

/* ---- waiters (registry.c) ---- */
int dom_wait_add(struct dom *d, enum dom_wait kind, struct rpc_call call,
		 struct json_object *ret) __must_check;
/* Answer waiters of kind with success (their ret) or error why. */
void dom_wait_done(struct dom *d, enum dom_wait kind, const char *why);
/* Does anyone wait on d for kind? */
bool dom_wait_any(const struct dom *d, enum dom_wait kind);
/* The waiter for call, or NULL. */
struct dom_waiter *dom_wait_find(struct dom *d, struct rpc_call call);

/* ---- spawn.c: VMM processes ---- */
enum spawn_kind {
	SPAWN_RUN, /* boot d's config */
	SPAWN_RESTORE, /* restore file */
	SPAWN_RECEIVE, /* migrate-receive on the accepted socket fd */
};
/*
 * Start d's VMM (setsid, stdout/stderr to the log, fd passed as fd 3
 * for SPAWN_RECEIVE). Sets d->pid and d->child. file: the save file for
 * SPAWN_RESTORE. paused: -p.
 */
int spawn_vmm(struct dom *d, enum spawn_kind kind, const char *file, int fd,
	      bool paused) __must_check;
/*
 * Why d's child could not run the VMM (it exited 127): one line into
 * buf, or -ENOENT if it did not say. Closes the spawn socket.
 */
int spawn_failure(struct dom *d, char *buf, size_t len);
/*
 * Does the VMM binary take --arrival-id and --outcome-file? Asked once
 * at start-up (a VMM from before they existed refuses them): without
 * them arrivals get no id and a QUERY about them is UNKNOWN.
 */
bool spawn_probe_arrival_ids(struct gwd *g);
/* Close d's spawn socket (the VMM runs, or is gone). */
void spawn_forget(struct dom *d);
/*
 * Fault injection for the kvm suite: GODWIT_TEST_DAEMON_STALL=PHASE
 * makes the daemon log "test: stalled PHASE" and wait there for ever, so
 * a test can kill it at that exact point. No-op when unset.
 */
void gwd_test_stall(const char *phase);

/* ---- arrival.c: what became of incoming migrations (arrival.h) ---- */
/* Give a new arrival (d->rec.dir set) an arrival id and outcome file,
 * if the VMM can take them (g->vmm_arrival_ids). */
int arrival_assign(struct dom *d) __must_check;
/* The answer to a QUERY for id: enum handover_outcome. */
uint32_t arrival_outcome(struct gwd *g, uint64_t id);
/* d's VMM has ended: record its arrival's outcome before its files go,
 * and forget the id. No-op without an arrival id or with a live VMM. */
void arrival_keep(struct dom *d);
/* Remove outcome records older than ARRIVAL_KEEP_S. */
void arrival_prune(struct gwd *g);
/*
 * Is a migration landing: its receiver wrote RUNNING (so the source may
 * already report success) but the daemon has not made it a live domain
 * yet (registered, answering commands)?
 * `list` waits for that (at most ARRIVAL_LANDING_MS), so that a domain
 * whose migration was reported done is listed on its new host.
 */
#define ARRIVAL_LANDING_MS 2000
bool arrival_landing(struct gwd *g);

/* ---- memview.c: reserving memory (memcheck.h) ---- */
/*
 * Is there room for a guest of guest_bytes (and its VMM)? 0, or -ENOMEM
 * with one line in why saying what is missing. Always 0 with
 * --overcommit.
 */
int gwd_mem_check(struct gwd *g, uint64_t guest_bytes, char *why,
		  size_t whylen) __must_check;

/* ---- orphan.c: VMMs no record claims (adopt.c adopts them) ---- */
#define SPAWN_ORPHAN_ARGS 256
/* A VMM's command line as godwitd builds it (pointers into the text). */
struct orphan {
	enum dom_origin origin; /* from run, restore or migrate-receive */
	const char *file; /* restore's file, or NULL */
	const char *exit_file, *qmp; /* both required */
	const char *arrival_id, *outcome_file; /* or NULL */
};
/*
 * Parse a /proc/PID/cmdline text (len bytes, NUL-separated) of a VMM
 * whose exit file is inside state_dir. -EINVAL for anything else.
 */
int orphan_parse(const char *buf, size_t len, const char *state_dir,
		 struct orphan *o) __must_check;
/* Is s a path inside dir (dir + "/" + more)? */
bool orphan_path_in(const char *s, const char *dir);

/* ---- supervise.c: process ends ---- */
int sup_init(struct gwd *g) __must_check;
/* Watch an adopted VMM (not our child): a pidfd, else polling. */
int sup_watch_pidfd(struct dom *d) __must_check;
/* Is pid a live process whose command line mentions needle? */
bool sup_process_matches(pid_t pid, const char *needle);
/* Kill d's VMM (SIGKILL), if it has one. */
void sup_kill(struct dom *d);

/* ---- attach.c: from a spawned VMM to a live domain ---- */
/* Keep trying to connect to d's control socket until it answers. */
int attach_start(struct dom *d) __must_check;
/* Drop d's link and probe (VMM gone, or daemon exit). */
void attach_stop(struct dom *d);
/* Answer d's WAIT_UP waiters with its identity (domid, name, uuid). */
void attach_answer_up(struct dom *d);

/* ---- lifecycle.c glue (lifecycle_run.c) ---- */
/*
 * d's VMM has ended. have_status: wstatus is from waitpid (our child);
 * otherwise only the exit file tells what happened.
 */
void life_vmm_ended(struct dom *d, bool have_status, int wstatus);

/* ---- ctl.c, ctl_create.c, ctl_job.c: the control socket ---- */
int ctl_start(struct gwd *g) __must_check;
/* Relay a VMM event about d to every control client. */
void ctl_relay_event(struct dom *d, const char *name, struct json_object *data);
/* Handlers defined outside ctl.c. */
enum rpc_reply_kind ctl_create(struct rpc_request *req,
			       struct json_object *args,
			       struct rpc_reply *reply);
enum rpc_reply_kind ctl_save(struct rpc_request *req, struct json_object *args,
			     struct rpc_reply *reply);
enum rpc_reply_kind ctl_restore(struct rpc_request *req,
				struct json_object *args,
				struct rpc_reply *reply);
enum rpc_reply_kind ctl_migrate(struct rpc_request *req,
				struct json_object *args,
				struct rpc_reply *reply);
enum rpc_reply_kind ctl_job_info(struct rpc_request *req,
				 struct json_object *args,
				 struct rpc_reply *reply);
enum rpc_reply_kind ctl_job_abort(struct rpc_request *req,
				  struct json_object *args,
				  struct rpc_reply *reply);
enum rpc_reply_kind ctl_migrate_recover(struct rpc_request *req,
					struct json_object *args,
					struct rpc_reply *reply);
enum rpc_reply_kind ctl_migrate_resolve(struct rpc_request *req,
					struct json_object *args,
					struct rpc_reply *reply);
/* The guest RAM a save file brings (its header), 0 if unreadable. */
uint64_t ctl_file_mem_bytes(const char *file);
/* ctl.c helpers shared with the other handlers. */
struct rpc_msg_type;
/*
 * Decode a command's arguments as message type t (rpc/msg.h) into msg;
 * false after filling the error reply.
 */
bool ctl_decode(const struct rpc_msg_type *t, struct json_object *args,
		void *msg, struct rpc_reply *reply);
/* The domain named spec (name, id or uuid), or NULL and the reply. */
struct dom *ctl_find_dom(struct gwd *g, const char *spec,
			 struct rpc_reply *reply);
/* The domain of a command that takes just {domain}. */
struct dom *ctl_arg_dom(struct gwd *g, struct json_object *args,
			struct rpc_reply *reply);
/* A domain whose VMM answers, or an error reply naming its state. */
bool ctl_dom_is_live(struct dom *d, struct rpc_reply *reply);

/*
 * A client's command waiting for its domain's VMM: what the reply
 * callback needs to find the client and the domain again (by serial:
 * the domain may be gone by then).
 */
struct ctl_req {
	struct gwd *g;
	struct rpc_call call;
	uint64_t serial;
	unsigned int domid;
	char name[DOMAIN_NAME_MAX + 1];
	char command[32]; /* ctl_forward: the command forwarded */
	bool wait; /* shutdown -w: answer once the VMM has ended */
	bool keep; /* save -c or -p: the VMM stays */
	bool verbatim; /* relay the VMM's refusal as it is, unprefixed */
};
/* A new request about d for call (malloc'd: the callback frees it). */
struct ctl_req *ctl_req_new(struct dom *d, struct rpc_call call);
/* The command could not be sent to d's VMM: free opaque, say so. */
enum rpc_reply_kind ctl_vmm_unreachable(struct dom *d, void *opaque,
					struct rpc_reply *reply);
/*
 * Send command with args (borrowed) to d's VMM; fn gets opaque and the
 * answer. RPC_REPLY_LATER, or, if it cannot be sent, opaque is freed and
 * the error reply is filled in.
 */
enum rpc_reply_kind ctl_call(struct dom *d, const char *command,
			     struct json_object *args, int timeout_ms,
			     vmlink_reply_fn fn, void *opaque,
			     struct rpc_reply *reply);
/*
 * Forward a command to d's VMM and relay its answer to req's client.
 * verbatim: a refusal is relayed as the VMM worded it (its line names
 * what to do), else prefixed with the domain's name.
 */
enum rpc_reply_kind ctl_forward(struct rpc_request *req, struct dom *d,
				const char *command, struct json_object *args,
				int timeout_ms, bool verbatim,
				struct rpc_reply *reply);

/* ---- job tracking (ctl_job.c) ---- */
/* A VMM event: follow d's save or migration. */
void job_on_event(struct dom *d, const char *name, struct json_object *data);
/*
 * d's VMM reports run state word (query-status). For "unconfirmed" (the
 * VM was handed over without confirmation) why is the VMM's reason, or
 * NULL to ask it (query-migrate's error).
 */
void job_note_status(struct dom *d, const char *word, const char *why);

/* ---- main.c ---- */
/* Reopen the log file (SIGHUP, after log rotation). */
void gwd_log_reopen(struct gwd *g);

/* ---- relocation.c: xend's relocation server ---- */
int reloc_start(struct gwd *g) __must_check;
void reloc_stop(struct gwd *g);

#endif
