/*
 * Starting VMM processes. Each VMM runs in a session of its own (setsid),
 * so signals to the daemon's process group and the daemon's own end do
 * not reach it: VMs outlive godwitd (the systemd unit uses
 * KillMode=process). Its stdin is /dev/null and its stdout and stderr
 * are appended to the daemon's log file, so its lines (hook output
 * included) land there even while no daemon runs. Its log lines carry
 * the domain name (GODWIT_LOG_PREFIX, read by the godwit binary).
 *
 * Intent before action: a VMM never runs before the registry names it.
 * The child is forked holding one end of a socket pair and waits there;
 * the daemon writes the domain's state file with the child's pid, then
 * releases it with one byte. A daemon killed before that byte closes
 * the socket by dying, and the child exits without running anything; a
 * daemon killed after it finds the pid in the state file and adopts the
 * VMM. The same socket carries back, if the child cannot set itself up
 * or execute the VMM, which step failed and its errno: the exit status
 * 127 alone would not say what happened.
 */
#include "toolstack/daemon/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/util.h"

/* Room for the fixed arguments and every --reject-name. */
#define SPAWN_ARGS_MAX 160
/* The VMM takes at most this many --reject-name options. */
#define SPAWN_REJECT_MAX 64

struct spawn_argv {
	const char *argv[SPAWN_ARGS_MAX + 1];
	unsigned int n;
	char hex[24]; /* the arrival id's text */
};

/* What the child reports before it gives up: the step and the errno. */
struct spawn_failure {
	int err;
	char step[60];
};

static void add(struct spawn_argv *a, const char *arg)
{
	if (a->n < SPAWN_ARGS_MAX)
		a->argv[a->n++] = arg;
}

/* Names the receiver must refuse: every domain we have. */
/* The relocation server's TLS: the receiver runs session 2. */
static void add_tls(struct spawn_argv *a, struct gwd *g)
{
	const struct gwd_reloc_opts *o = &g->reloc_opts;
	unsigned int i;

	if (!o->tls)
		return;
	add(a, "--tls");
	add(a, "--tls-dir");
	add(a, o->tls_dir);
	for (i = 0; i < o->nr_tls_allow; i++) {
		add(a, "--tls-allow");
		add(a, o->tls_allow[i]);
	}
}

static void add_reject_names(struct spawn_argv *a, struct gwd *g)
{
	unsigned int n = 0;
	struct dom *d;

	for (d = g->doms; d && n < SPAWN_REJECT_MAX; d = d->next) {
		if (!d->registered)
			continue;
		add(a, "--reject-name");
		add(a, d->rec.name);
		n++;
	}
	if (d)
		log_warn(
			"more than %d domains: a migration is checked against the first %d names only (the rest on arrival)",
			SPAWN_REJECT_MAX, SPAWN_REJECT_MAX);
}

/*
 * A created domain's serial port: a pty for `godwit console` unless the
 * config sends it to a file or nowhere (stdio would be the log file).
 */
static const char *run_serial(const struct dom *d)
{
	if (d->cfg && (d->cfg->serial == DOMAIN_SERIAL_FILE ||
		       d->cfg->serial == DOMAIN_SERIAL_NONE))
		return NULL;
	return "pty";
}

/* An arrival the daemon can be asked about (see arrival.c). */
static void add_arrival(struct spawn_argv *a, struct dom *d, char *hex,
			size_t len)
{
	if (!d->rec.arrival_id)
		return;
	snprintf(hex, len, "%016llx", (unsigned long long)d->rec.arrival_id);
	add(a, "--arrival-id");
	add(a, hex);
	add(a, "--outcome-file");
	add(a, d->rec.outcome_file);
}

static int build_argv(struct dom *d, enum spawn_kind kind, const char *file,
		      bool paused, char *config, size_t config_len,
		      struct spawn_argv *a)
{
	struct gwd *g = d->gwd;
	const char *serial = "pty";
	int rc;

	add(a, g->paths.godwit);
	if (kind == SPAWN_RUN) {
		rc = str_printf(config, config_len, "%s/config", d->rec.dir);
		if (rc)
			return rc;
		add(a, "run");
		serial = run_serial(d);
	} else if (kind == SPAWN_RESTORE) {
		/* -F: this process is the VMM, never a client of a daemon
		 * (after FILE: orphan.c reads FILE as the word after restore). */
		add(a, "restore");
		add(a, file);
		add(a, "-F");
	} else {
		add(a, "migrate-receive");
		add(a, "--incoming-fd");
		add(a, "3");
		add_arrival(a, d, a->hex, sizeof(a->hex));
		add_tls(a, g);
		add_reject_names(a, g);
	}
	/* The memory check is ours (gwd_mem_check counts what our domains
	 * were promised): the VMM must not make its own. */
	if (kind != SPAWN_RUN)
		add(a, "--overcommit");
	add(a, "--qmp");
	add(a, d->rec.qmp);
	if (serial) {
		add(a, "--serial");
		add(a, serial);
	}
	add(a, "--exit-file");
	add(a, d->rec.exit_file);
	add(a, "--hooks-dir");
	add(a, g->paths.hooks_dir);
	add(a, "--lock-manager");
	add(a, g->paths.lock_manager);
	add(a, "--lease-dir");
	add(a, g->paths.lease_dir);
	if (paused)
		add(a, "-p");
	/* run takes options before CONFIG: what follows are key=value. */
	if (kind == SPAWN_RUN)
		add(a, config);
	a->argv[a->n] = NULL;
	return a->n < SPAWN_ARGS_MAX ? 0 : -E2BIG;
}

/* Move fd above the range the child's fixed fds use. */
static int lift(int fd)
{
	return fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 10);
}

/* In the child: tell the daemon what failed, then exit 127. */
static void __noreturn child_fail(int gate, const char *step)
{
	struct spawn_failure f = { .err = errno };

	snprintf(f.step, sizeof(f.step), "%s", step);
	if (write(gate, &f, sizeof(f)) != sizeof(f))
		_exit(127);
	_exit(127);
}

/* Close every fd from 3 up but keep, the gate and the one passed on. */
static void close_others(int keep_from, int gate)
{
	if (gate > keep_from)
		close_range(keep_from, gate - 1, 0);
	close_range(gate + 1, ~0U, 0);
}

/*
 * In the child: never returns. Waits for the daemon's byte first (the
 * daemon has recorded our pid by then); end of file means the daemon is
 * gone before it did, and nothing must run.
 */
static void __noreturn child_exec(const struct spawn_argv *a, int gate,
				  int log_fd, int pass_fd, const char *prefix,
				  const char *run_dir)
{
	int null, high;
	sigset_t none;
	char go;

	if (read(gate, &go, 1) != 1)
		_exit(1);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	setsid();
	if (chdir("/"))
		child_fail(gate, "chdir /");
	/* Everything kept goes above 10 first: the dup2s below then
	 * clobber nothing still needed. */
	high = lift(gate);
	if (high < 0)
		child_fail(gate, "dup");
	gate = high;
	null = lift(open("/dev/null", O_RDWR | O_CLOEXEC));
	if (null < 0)
		child_fail(gate, "open /dev/null");
	log_fd = log_fd >= 0 ? lift(log_fd) : null;
	if (pass_fd >= 0 && (pass_fd = lift(pass_fd)) < 0)
		child_fail(gate, "dup the connection");
	if (log_fd < 0 || dup2(null, 0) < 0 || dup2(log_fd, 1) < 0 ||
	    dup2(log_fd, 2) < 0 || (pass_fd >= 0 && dup2(pass_fd, 3) < 0))
		child_fail(gate, "dup2 stdio");
	close_others(pass_fd >= 0 ? 4 : 3, gate);
	setenv("GODWIT_LOG_PREFIX", prefix, 1);
	setenv("GODWIT_LOG_TIMESTAMPS", "1", 1); /* stderr is the log file */
	/* Under systemd the VMMs' lines go to the journal as well. */
	if (log_to_journal())
		setenv("GODWIT_LOG_JOURNAL", "1", 1);
	else
		unsetenv("GODWIT_LOG_JOURNAL");
	/* The VMM and its hooks see the daemon's run directory; systemd's
	 * notification socket is the daemon's alone. */
	setenv("GODWIT_RUN_DIR", run_dir, 1);
	unsetenv("NOTIFY_SOCKET");
	execv(a->argv[0], (char *const *)a->argv);
	child_fail(gate, "exec");
}

#define PROBE_TIMEOUT_MS 5000

bool spawn_probe_arrival_ids(struct gwd *g)
{
	const char *argv[] = { g->paths.godwit,	 "migrate-receive",
			       "--arrival-id",	 "0000000000000001",
			       "--outcome-file", "/dev/null",
			       "--help",	 NULL };
	uint64_t end = time_mono_ns() + PROBE_TIMEOUT_MS * NSEC_PER_MSEC;
	int st = 0, null;
	pid_t pid, r;

	pid = fork();
	if (pid == 0) {
		null = open("/dev/null", O_RDWR);
		if (null < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
			_exit(127);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (pid < 0)
		return false;
	while ((r = waitpid(pid, &st, WNOHANG)) == 0 && time_mono_ns() < end)
		usleep(2000);
	if (r != pid) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		st = -1;
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return true;
	log_warn(
		"%s does not take --arrival-id: migrations received here cannot be asked about (QUERY answers UNKNOWN)",
		g->paths.godwit);
	return false;
}

void gwd_test_stall(const char *phase)
{
	const char *want = getenv("GODWIT_TEST_DAEMON_STALL");

	if (!want || strcmp(want, phase))
		return;
	log_info("test: stalled %s", phase);
	for (;;)
		pause();
}

static const char *kind_word(enum spawn_kind kind)
{
	return kind == SPAWN_RUN     ? "create" :
	       kind == SPAWN_RESTORE ? "restore" :
				       "receive";
}

int spawn_vmm(struct dom *d, enum spawn_kind kind, const char *file, int fd,
	      bool paused)
{
	char config[PATH_MAX + 16], prefix[DOMAIN_NAME_MAX + 32], phase[32];
	struct spawn_argv a = { .n = 0 };
	int sv[2], rc;
	pid_t pid;

	rc = build_argv(d, kind, file, paused, config, sizeof(config), &a);
	if (rc)
		return rc;
	if (d->registered)
		snprintf(prefix, sizeof(prefix), "godwit[%s]", d->rec.name);
	else
		snprintf(prefix, sizeof(prefix), "godwit[%s]",
			 kind == SPAWN_RESTORE ? "restore" : "incoming");
	/* A stale exit file would tell the story of the previous VMM. */
	unlink(d->rec.exit_file);
	/* The intent first: what is being started (pid still 0). */
	d->pid = 0;
	rc = reg_save(d);
	if (rc)
		return rc;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -errno;
	pid = fork();
	if (pid < 0) {
		rc = -errno;
		close(sv[0]);
		close(sv[1]);
		return rc;
	}
	if (pid == 0) {
		close(sv[0]);
		child_exec(&a, sv[1], d->gwd->log_fd,
			   kind == SPAWN_RECEIVE ? fd : -1, prefix,
			   d->gwd->paths.run_dir);
	}
	close(sv[1]);
	d->pid = pid;
	d->child = true;
	d->spawn_fd = sv[0];
	snprintf(phase, sizeof(phase), "%s-spawned", kind_word(kind));
	/* The registry names the process before it may run. */
	rc = reg_save(d);
	if (!rc)
		gwd_test_stall(phase);
	if (!rc && write(sv[0], "g", 1) != 1)
		rc = -errno;
	if (rc) {
		/* Never released: the child exits on its own (reaped later). */
		spawn_forget(d);
		return rc;
	}
	if (fd_set_nonblock(sv[0], true))
		log_debug("domain %s: spawn socket stays blocking",
			  dom_label(d));
	log_debug("domain %s: VMM %d started", dom_label(d), (int)pid);
	snprintf(phase, sizeof(phase), "%s-released", kind_word(kind));
	gwd_test_stall(phase);
	return 0;
}

void spawn_forget(struct dom *d)
{
	if (d->spawn_fd >= 0)
		close(d->spawn_fd);
	d->spawn_fd = -1;
}

int spawn_failure(struct dom *d, char *buf, size_t len)
{
	struct spawn_failure f;
	ssize_t n;

	if (d->spawn_fd < 0)
		return -ENOENT;
	n = recv(d->spawn_fd, &f, sizeof(f), MSG_DONTWAIT);
	spawn_forget(d);
	if (n != sizeof(f))
		return -ENOENT;
	f.step[sizeof(f.step) - 1] = 0;
	if (!strcmp(f.step, "exec"))
		snprintf(buf, len, "VMM could not be executed: exec %s: %s",
			 d->gwd->paths.godwit, strerror(f.err));
	else
		snprintf(buf, len, "VMM could not be executed: %s: %s", f.step,
			 strerror(f.err));
	return 0;
}
