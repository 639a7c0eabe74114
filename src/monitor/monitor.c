/*
 * Monitor main loop. Start-up is a straight line (signals, the VM from
 * its config, devices, then either the kernel or a restored stream, the
 * control socket, the console, the vCPUs); then one event loop thread
 * waits for the guest to end, a signal, console input or control
 * commands while the vCPU threads run the guest. Teardown undoes
 * start-up in reverse.
 */
#include "monitor/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "devices/platform.h"
#include "migration/restore.h"
#include "vmm/x86/loader.h"

const char *run_state_name(enum run_state s)
{
	static const char *const names[] = {
		"prelaunch", "running",	    "paused",	   "save-vm",
		"shutdown",  "postmigrate", "unconfirmed", "finish-migrate",
	};

	return names[s];
}

const char *monitor_status_name(struct monitor *m)
{
	/* The migration thread pauses the VM for the final copy. */
	if ((m->state == RUN_RUNNING || m->state == RUN_PAUSED) && m->mig &&
	    __atomic_load_n(&m->mig->res.paused, __ATOMIC_RELAXED))
		return run_state_name(RUN_FINISH_MIGRATE);
	return run_state_name(m->state);
}

void monitor_opts_init(struct monitor_opts *o)
{
	memset(o, 0, sizeof(*o));
	domain_config_init(&o->cfg);
	if (!o->cfg.name[0])
		strcpy(o->cfg.name, "godwit");
	/* A VM without a config file still gets its own identity. */
	if (domain_config_uuid_generate(o->cfg.uuid))
		log_warn("cannot generate a UUID for the VM");
	o->restore_fd = -1;
	o->incoming_fd = -1;
	o->detach_fd = -1;
	o->stall_ms = MONITOR_STALL_MS_DEFAULT;
	o->linger_s = MONITOR_LINGER_S_DEFAULT;
	snprintf(o->hooks_dir, sizeof(o->hooks_dir), "%s",
		 env_or("GODWIT_HOOKS_DIR", "/etc/godwit/hooks/migrate.d"));
}

int monitor_default_qmp_path(const char *name, char *buf, size_t len)
{
	return util_vm_socket(util_run_dir(), name, buf, len);
}

int monitor_config_text(struct monitor *m, char **text_out, uint32_t *len_out)
{
	size_t cap = DOMAIN_CONFIG_TEXT_MAX;
	char *text = malloc(cap);
	int rc;

	if (!text)
		return -ENOMEM;
	rc = domain_config_format(&m->cfg, text, cap);
	if (rc) {
		free(text);
		return rc;
	}
	*text_out = text;
	*len_out = strlen(text);
	return 0;
}

enum rpc_reply_kind monitor_job_may_start(struct monitor *m, const char *what,
					  struct rpc_reply *reply)
{
	if (m->save || m->mig)
		return rpc_reply_error(
			reply, RPC_ERR_GENERIC,
			"a save or migration is already in progress");
	if (m->state != RUN_RUNNING && m->state != RUN_PAUSED)
		return rpc_reply_error(reply, RPC_ERR_GENERIC,
				       "cannot %s a VM in state %s", what,
				       run_state_name(m->state));
	/* Holes that are not zero yet: nothing may read RAM as it is. */
	if (monitor_memory_incomplete(m))
		return rpc_reply_error(
			reply, RPC_ERR_GENERIC,
			"cannot %s the VM yet: its memory is still coming in (lazy restore or post-copy); try again once that finished",
			what);
	return RPC_REPLY_LATER;
}

void monitor_end(struct monitor *m, int status, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vm_request_stop(&m->vm, VM_STOP_HOST, status, "%s", msg);
}

static void monitor_on_stop(struct evloop *loop, int fd, uint32_t events,
			    void *opaque)
{
	struct monitor *m = opaque;
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0 && errno == EAGAIN)
		return;
	vm_stopped(&m->vm, NULL, &m->status);
	log_info("vm %s: %s", m->cfg.name, m->vm.stop_message);
	if (m->state != RUN_POSTMIGRATE)
		m->state = RUN_SHUTDOWN;
	monitor_event(m, "SHUTDOWN",
		      json_object_new_string(m->vm.stop_message));
	m->stop_seen = true;
	/* A save or migration thread still owns the stream: let it finish
	 * (a migration fails at once: the guest it would move has ended). */
	monitor_migration_abort(m);
	if (!m->save && !m->mig)
		evloop_stop(loop);
}

static void monitor_on_signal(struct evloop *loop, int fd, uint32_t events,
			      void *opaque)
{
	struct monitor *m = opaque;
	struct signalfd_siginfo si;

	if (read(fd, &si, sizeof(si)) != sizeof(si))
		return;
	monitor_end(m, 0, "terminated by signal %u", si.ssi_signo);
}

static void monitor_on_escape(void *opaque)
{
	monitor_end(opaque, 0, "console escape (^]) ended the VM");
}

/* SIGINT/SIGTERM/SIGHUP arrive through a signalfd on the loop thread. */
static int monitor_signals(struct monitor *m)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	/* Blocked before any thread exists, so all threads inherit it. */
	if (pthread_sigmask(SIG_BLOCK, &set, NULL))
		return -EINVAL;
	signal(SIGPIPE, SIG_IGN);
	m->signal_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (m->signal_fd < 0)
		return -errno;
	return evloop_add_fd(m->loop, m->signal_fd, EVLOOP_IN,
			     monitor_on_signal, m);
}

/*
 * The platform's devices (devices/platform.c) and those the config adds
 * (machine/machine.h) over the disks opened for it, output to the
 * console.
 */
static int monitor_devices(struct monitor *m)
{
	struct machine_backends be = { { 0 }, { 0 } };
	char why[256];
	unsigned int i;
	int rc;

	for (i = 0; i < m->disks.nr; i++)
		be.disk[i] = m->disks.d[i].disk;
	for (i = 0; i < DOMAIN_VIFS_MAX; i++)
		be.tap_fd[i] = i < m->nics.nr ? m->nics.n[i].tap_fd : -1;
	rc = machine_build(&m->machine, &m->cfg, &be, why, sizeof(why));
	if (rc) {
		log_err("vm %s: %s", m->cfg.name, why);
		return rc;
	}
	rc = console_open_output(&m->console, m->cfg.serial,
				 m->cfg.serial_path);
	if (!rc && m->console.pty_path[0])
		log_info(
			"vm %s: console on %s ('godwit console %s' attaches to it)",
			m->cfg.name, m->console.pty_path, m->cfg.name);
	if (!rc)
		rc = platform_create(&m->devs, &m->vm, m->console.out_fd,
				     &m->machine.pc);
	m->ged = devreg_dev(&m->devs, "ged0");
	return rc;
}

static int monitor_create_vm(struct monitor *m)
{
	struct vm_config vc = { .nr_vcpus = m->cfg.vcpus };

	vc.mem_bytes = m->cfg.memory_mib * MIB;
	snprintf(vc.name, sizeof(vc.name), "%s", m->cfg.name);
	snprintf(vc.cpu_model, sizeof(vc.cpu_model), "%s", m->cfg.cpu);
	vc.backing = m->cfg.memory_backing == DOMAIN_MEMORY_HUGEPAGES ?
			     MEM_BACKING_HUGETLB :
		     m->cfg.memory_backing == DOMAIN_MEMORY_SMALL ?
			     MEM_BACKING_SMALL :
			     MEM_BACKING_THP;
	return vm_create(&m->vm, &vc);
}

static int monitor_boot(struct monitor *m)
{
	struct boot_config boot = {
		.kernel = m->cfg.kernel,
		.initrd = m->cfg.ramdisk[0] ? m->cfg.ramdisk : NULL,
		.cmdline = m->cfg.cmdline,
	};

	if (!m->cfg.kernel[0]) {
		log_err("no kernel to boot (set 'kernel' in the config or --kernel)");
		return -EINVAL;
	}
	return boot_load(&m->vm, &boot);
}

static int monitor_vcpus(struct monitor *m)
{
	int rc = vm_start(&m->vm, m->user_paused);

	if (!rc)
		m->state = m->user_paused ? RUN_PAUSED : RUN_RUNNING;
	return rc;
}

static int monitor_start_vm(struct monitor *m)
{
	int rc;

	rc = evloop_add_fd(m->loop, m->vm.stop_eventfd, EVLOOP_IN,
			   monitor_on_stop, m);
	if (!rc)
		rc = monitor_qmp_start(m);
	if (!rc && (m->cfg.serial == DOMAIN_SERIAL_STDIO ||
		    m->cfg.serial == DOMAIN_SERIAL_PTY)) {
		m->console.on_escape = monitor_on_escape;
		m->console.opaque = m;
		rc = console_start_input(&m->console, m->loop,
					 platform_console_input, &m->devs);
	}
	if (rc)
		return rc;
	/* -p, or a stream that says so (migrate -p on the source). */
	m->user_paused = m->opts->paused ||
			 (m->incoming.hdr.flags & STREAM_F_PAUSED);
	if (m->incoming.migration)
		return monitor_incoming_handover(m);
	/* Restored: the NICs may be on another host now. */
	rc = m->incoming.fd >= 0 ? monitor_nics_resume(m, monitor_vcpus) :
				   monitor_vcpus(m);
	if (rc)
		log_err("cannot start vCPUs: %s", strerror(-rc));
	return rc;
}

static int monitor_start_disks(struct monitor *m)
{
	char why[DISK_WHY_MAX];
	int rc = monitor_disks_open(m, false, why, sizeof(why));

	if (rc)
		log_err("%s", why);
	return rc;
}

static int monitor_start_nics(struct monitor *m)
{
	char why[512];
	int rc = monitor_nics_open(m, why, sizeof(why));

	if (rc)
		log_err("%s", why);
	return rc;
}

static int monitor_start(struct monitor *m)
{
	int rc;

	rc = evloop_new(&m->loop);
	if (!rc)
		rc = monitor_signals(m);
	if (!rc && (m->opts->incoming_listen[0] || m->opts->incoming_fd >= 0 ||
		    m->opts->incoming_stdio))
		rc = monitor_incoming_accept(m);
	if (!rc && m->incoming.fd >= 0)
		rc = monitor_incoming_prepare(m); /* opens disks and NICs too */
	else if (!rc)
		rc = monitor_start_disks(m);
	if (!rc && m->incoming.fd < 0)
		rc = monitor_start_nics(m);
	if (!rc)
		rc = monitor_create_vm(m);
	if (!rc)
		rc = monitor_devices(m);
	if (!rc)
		rc = m->incoming.fd >= 0 ? monitor_incoming_load(m) :
					   monitor_boot(m);
	if (!rc)
		rc = monitor_start_vm(m);
	return rc;
}

void monitor_log_identity(struct monitor *m)
{
	char uuid[DOMAIN_UUID_STR_LEN + 1];

	domain_config_uuid_format(m->cfg.uuid, uuid);
	log_ctx_default(m->cfg.name, uuid);
}

static void monitor_teardown(struct monitor *m)
{
	if (m->rpc && rpc_server_flush(m->rpc, 1000))
		log_debug("control socket: some replies were not delivered");
	rpc_server_free(m->rpc);
	/* Post-copy first: a vCPU or device waiting for a page is let go. */
	monitor_postcopy_stop(m);
	monitor_lazy_stop(m);
	/* Device threads stop before the console and guest RAM go. */
	devreg_quiesce_all(&m->devs);
	console_close(&m->console);
	vm_destroy(&m->vm);
	devreg_destroy(&m->devs);
	monitor_nics_close(m);
	monitor_disks_close(m);
	if (m->signal_fd >= 0)
		close(m->signal_fd);
	evloop_free(m->loop);
	monitor_incoming_finish(m);
	arrival_destroy(&m->incoming.arrival);
}

/* How the VM ended, for godwitd's on_poweroff/on_reboot/on_crash. */
static const char *monitor_end_kind(struct monitor *m)
{
	enum vm_stop_reason r;

	if (m->end_kind)
		return m->end_kind;
	if (!vm_stopped(&m->vm, &r, NULL))
		return "error";
	switch (r) {
	case VM_STOP_POWEROFF:
		return "poweroff";
	case VM_STOP_RESET:
		return "reset";
	case VM_STOP_TRIPLE_FAULT:
	case VM_STOP_INTERNAL:
		return "crash";
	case VM_STOP_DEBUG_EXIT:
		return "exit";
	default:
		return "host";
	}
}

/* Did the guest end it (power-off, reset, crash, debug-exit)? */
static bool monitor_guest_ended(const char *kind)
{
	return !strcmp(kind, "poweroff") || !strcmp(kind, "reset") ||
	       !strcmp(kind, "crash") || !strcmp(kind, "exit");
}

/*
 * Before the console goes: the guest's last line nobody read, which
 * often says why a guest ended (a test guest's "BAD" line).
 */
static void monitor_note_console(struct monitor *m)
{
	if (!monitor_guest_ended(monitor_end_kind(m)) ||
	    console_last_line(&m->console, m->cfg.serial, m->cfg.serial_path,
			      m->last_console, sizeof(m->last_console)))
		m->last_console[0] = 0;
}

/*
 * The exit file says "STATUS KIND REASON": KIND is poweroff, reset,
 * crash, exit (debug-exit port), host (quit, signal), saved, migrated or
 * error (never started). REASON is one line: how it ended, with the
 * guest's last unread console line after a guest's own end; for error,
 * the first error line this process logged (why it never started),
 * which godwitd passes on to whoever asked for the VM. At most 511
 * bytes in all (readers take no more). Written with a rename: readers
 * never see half.
 */
static void monitor_write_exit_file(struct monitor *m)
{
	const char *why = m->vm.stop_message, *kind = monitor_end_kind(m);
	char line[MONITOR_EXIT_LINE_MAX];
	int n, rc;

	if (!m->opts->exit_file[0])
		return;
	if (!why[0])
		why = log_first_error()[0] ? log_first_error() :
					     "failed to start";
	n = snprintf(line, sizeof(line) - 1, "%d %s %s%s%s", m->status, kind,
		     why, m->last_console[0] ? "; last console line: " : "",
		     m->last_console);
	n = MIN((size_t)n, sizeof(line) - 2);
	line[n++] = '\n';
	rc = file_write_atomic(m->opts->exit_file, line, n, 0644);
	if (rc)
		log_warn("cannot write %s: %s", m->opts->exit_file,
			 strerror(-rc));
}

int monitor_run(const struct monitor_opts *opts)
{
	struct monitor *m = calloc(1, sizeof(*m));
	int rc, status;

	if (!m) {
		log_err("out of memory");
		return 1;
	}
	/* GODWIT_DEBUG=1: debug lines, e.g. the phases of a migration. */
	if (getenv("GODWIT_DEBUG"))
		log_set_level(LOG_DEBUG);
	m->opts = opts;
	m->cfg = opts->cfg;
	m->signal_fd = -1;
	m->status = 1; /* until the guest's end says otherwise */
	m->vm.fd = m->vm.stop_eventfd = m->vm.kvm.fd = m->vm.mem.memfd = -1;
	m->console.in_fd = m->console.out_fd = -1;
	m->incoming.fd = m->incoming.wfd = opts->restore_fd;
	m->incoming.lazy_fd = -1;
	arrival_init(&m->incoming.arrival, 0, NULL);
	monitor_mig_settings_init(&m->mig_set);
	monitor_log_identity(m);
	rc = monitor_start(m);
	if (rc == 0 && opts->detach_fd >= 0)
		monitor_stdio_detach(m);
	if (rc == 0) {
		rc = evloop_run(m->loop);
		if (rc)
			log_err("event loop failed: %s", strerror(-rc));
	} else if (m->incoming.migration) {
		/* Failed after the stream (its control socket, its vCPUs):
		 * the source learns our line, not a closed connection. */
		monitor_incoming_refuse(m, log_first_error()[0] ?
						   log_first_error() :
						   "the VM could not start");
		monitor_incoming_linger(m);
	}
	monitor_note_console(m);
	monitor_teardown(m);
	monitor_write_exit_file(m);
	status = m->status;
	free(m);
	return status;
}
