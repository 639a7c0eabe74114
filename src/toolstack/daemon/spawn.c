/*
 * Starting VMM processes. Each VMM runs in a session of its own (setsid),
 * so signals to the daemon's process group and the daemon's own end do
 * not reach it: VMs outlive godwitd (the systemd unit uses
 * KillMode=process). Its stdin is /dev/null and its stdout and stderr
 * are appended to the daemon's log file, so its lines (hook output
 * included) land there even while no daemon runs. Its log lines carry
 * the domain name (GODWIT_LOG_PREFIX, read by the godwit binary).
 */
#include "toolstack/daemon/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

/* Room for the fixed arguments and every --reject-name. */
#define SPAWN_ARGS_MAX 160
/* The VMM takes at most this many --reject-name options. */
#define SPAWN_REJECT_MAX 64

struct spawn_argv {
	const char *argv[SPAWN_ARGS_MAX + 1];
	unsigned int n;
};

static void add(struct spawn_argv *a, const char *arg)
{
	if (a->n < SPAWN_ARGS_MAX)
		a->argv[a->n++] = arg;
}

/* Names the receiver must refuse: every domain we have. */
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
		add(a, "restore");
		add(a, file);
	} else {
		add(a, "migrate-receive");
		add(a, "--incoming-fd");
		add(a, "3");
		add_reject_names(a, g);
	}
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
	return fd < 0 ? -1 : fcntl(fd, F_DUPFD, 10);
}

/* In the child: never returns. */
static void __noreturn child_exec(const struct spawn_argv *a, int log_fd,
				  int pass_fd, const char *prefix,
				  const char *run_dir)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	setsid();
	if (chdir("/"))
		_exit(127);
	null = lift(null);
	log_fd = log_fd >= 0 ? lift(log_fd) : null;
	pass_fd = lift(pass_fd);
	if (null < 0 || log_fd < 0 || dup2(null, 0) < 0 ||
	    dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0)
		_exit(127);
	if (pass_fd >= 0 && dup2(pass_fd, 3) < 0)
		_exit(127);
	close_range(pass_fd >= 0 ? 4 : 3, ~0U, 0);
	setenv("GODWIT_LOG_PREFIX", prefix, 1);
	setenv("GODWIT_LOG_TIMESTAMPS", "1", 1); /* stderr is the log file */
	/* The VMM and its hooks see the daemon's run directory; systemd's
	 * notification socket is the daemon's alone. */
	setenv("GODWIT_RUN_DIR", run_dir, 1);
	unsetenv("NOTIFY_SOCKET");
	execv(a->argv[0], (char *const *)a->argv);
	dprintf(2, "godwitd: cannot run %s: %s\n", a->argv[0], strerror(errno));
	_exit(127);
}

int spawn_vmm(struct dom *d, enum spawn_kind kind, const char *file, int fd,
	      bool paused)
{
	char config[PATH_MAX + 16], prefix[DOMAIN_NAME_MAX + 32];
	struct spawn_argv a = { .n = 0 };
	pid_t pid;
	int rc;

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
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0)
		child_exec(&a, d->gwd->log_fd, kind == SPAWN_RECEIVE ? fd : -1,
			   prefix, d->gwd->paths.run_dir);
	d->pid = pid;
	d->child = true;
	log_debug("domain %s: VMM %d started", d->rec.name, (int)pid);
	return 0;
}
