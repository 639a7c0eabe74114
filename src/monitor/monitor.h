/*
 * The per-VM monitor process: builds a VM from its domain configuration
 * (booting its kernel, or restoring a stream), runs its main loop
 * (console, control socket, signals, the guest's end) and returns the
 * process exit status. `godwit run`, `godwit restore` and
 * `godwit migrate-receive` all end up here.
 */
#ifndef GODWIT_MONITOR_MONITOR_H
#define GODWIT_MONITOR_MONITOR_H

#include <limits.h>
#include <stdbool.h>

#include "config/domain_config.h"

/*
 * Defaults of the migration deadlines (godwit(1) documents them). Every
 * fault must be decided within 10 s: the stall timeout leaves room for
 * the decision itself (a full send buffer, a loaded machine).
 */
#define MONITOR_STALL_MS_DEFAULT 8000 /* no byte moved: the peer stalled */
#define MONITOR_LINGER_S_DEFAULT 60 /* answering DISCARDED after giving up */

struct monitor_opts {
	struct domain_config cfg; /* the VM (restore: overrides below) */
	char qmp_path[PATH_MAX]; /* "" = /run/godwit/vm/NAME.qmp */
	bool no_qmp; /* --qmp none */
	/* Written at exit: "STATUS KIND REASON\n" (for godwitd, which may not
	 * be this process's parent after a restart). "" = none. */
	char exit_file[PATH_MAX];
	/* Migration hooks: executables run at each migration step. */
	char hooks_dir[PATH_MAX];
	/* The host's lease engine and directory (a domain's config may
	 * name its own): --lock-manager, --lease-dir. */
	char lock_manager[16];
	char lease_dir[PATH_MAX];
	/* migrate-receive: names of domains that already exist here. */
	const char *reject_names[64];
	unsigned int nr_reject_names;
	bool paused; /* -p: vCPUs stay paused */
	/* Restore from a stream instead of booting cfg's kernel. */
	int restore_fd; /* -1: boot */
	bool lazy; /* restore --lazy: memory from the file on demand */
	char restore_name[PATH_MAX]; /* file name for messages */
	/* Receive a migration: listen on this ADDR[:PORT], or use an
	 * accepted socket (godwitd's relocation server hands one over). */
	char incoming_listen[300];
	int incoming_fd; /* -1: none */
	/* --stdio (under ssh): stdin and stdout carry the stream; the
	 * caller forked and waits on detach_fd for one byte, the exit
	 * status, written once the VM runs here and stdio is let go. */
	bool incoming_stdio;
	int detach_fd; /* -1: none */
	/* --tls: the stream is TLS (migration/transport/tls.h). */
	bool tls;
	char tls_dir[PATH_MAX]; /* "": the default */
	const char *tls_allow[16]; /* allowed client names (DN or CN) */
	unsigned int nr_tls_allow;
	/* Receiving: no byte for this long ends the stream, and the wait
	 * for YOURS after RECEIVED. */
	unsigned int stall_ms;
	uint64_t arrival_id; /* 0: a random one */
	char outcome_file[PATH_MAX]; /* "" = none (arrival.h) */
	/* --listen: after giving the VM up, answer QUERY this long. */
	unsigned int linger_s;
	/* Receive a VM even if the host or our cgroup may not hold its RAM
	 * (godwitd passes it: it made the check, counting its domains). */
	bool overcommit;
	/* What the command line sets on a restored config. */
	bool serial_set;
	enum domain_serial serial;
	char serial_path[DOMAIN_PATH_MAX + 1];
};

void monitor_opts_init(struct monitor_opts *o);
/* Returns the exit status: the guest's, or 1 if the VM could not start. */
int monitor_run(const struct monitor_opts *opts);
/* The default control socket of VM name (honours GODWIT_RUN_DIR). */
int monitor_default_qmp_path(const char *name, char *buf, size_t len);

#endif
