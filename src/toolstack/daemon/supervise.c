/*
 * Watching VMM processes end. Our own children are reaped on SIGCHLD
 * (through a signalfd on the loop), which also gives their wait status;
 * VMMs adopted after a daemon restart are not our children, so a pidfd
 * tells when they end and only their exit file says how. Where pidfds
 * are missing (kernels before 5.3, valgrind) adopted VMMs are polled.
 * SIGTERM and SIGINT stop the daemon (the VMMs keep running); SIGHUP
 * reopens the log.
 */
#include "toolstack/daemon/daemon.h"
#include "toolstack/daemon/managed.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/util.h"

/* How often adopted VMMs without a pidfd are looked at. */
#define SUP_POLL_NS (500 * NSEC_PER_MSEC)

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

static void sup_reap(struct gwd *g)
{
	struct dom *d;
	pid_t pid;
	int st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		d = reg_by_pid(g, pid);
		if (d && d->child)
			life_vmm_ended(d, true, st);
		else
			log_debug("reaped process %d", (int)pid);
	}
}

static void sup_on_signal(struct evloop *loop, int fd, uint32_t events,
			  void *opaque)
{
	struct gwd *g = opaque;
	struct signalfd_siginfo si;

	while (read(fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			sup_reap(g);
			break;
		case SIGHUP:
			gwd_log_reopen(g);
			break;
		default:
			if (managed_host_stop(g))
				break; /* it stops the loop once saved */
			log_info("signal %u: exiting; the VMs keep running",
				 si.ssi_signo);
			evloop_stop(loop);
			break;
		}
	}
}

/* Adopted VMMs without a pidfd: gone once their pid is not theirs. */
static void sup_on_poll(struct evloop *loop, struct evloop_timer *t,
			void *opaque)
{
	struct gwd *g = opaque;
	struct dom *d;

again:
	for (d = g->doms; d; d = d->next) {
		if (d->pid <= 0 || d->child || d->pidfd >= 0 ||
		    sup_process_matches(d->pid, d->rec.exit_file))
			continue;
		life_vmm_ended(d, false, 0);
		goto again; /* the list may have changed */
	}
}

int sup_init(struct gwd *g)
{
	sigset_t set;
	int rc;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	g->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (g->sig_fd < 0)
		return -errno;
	rc = evloop_add_fd(g->loop, g->sig_fd, EVLOOP_IN, sup_on_signal, g);
	if (!rc)
		rc = evloop_timer_new(g->loop, sup_on_poll, g, &g->poll);
	if (!rc)
		evloop_timer_arm(g->poll, SUP_POLL_NS, SUP_POLL_NS);
	return rc;
}

static void sup_on_pidfd(struct evloop *loop, int fd, uint32_t events,
			 void *opaque)
{
	struct gwd *g = opaque;
	struct dom *d;

	for (d = g->doms; d; d = d->next)
		if (d->pidfd == fd)
			break;
	evloop_del_fd(loop, fd);
	close(fd);
	if (!d)
		return;
	d->pidfd = -1;
	life_vmm_ended(d, false, 0);
}

int sup_watch_pidfd(struct dom *d)
{
	int fd, rc;

	fd = syscall(SYS_pidfd_open, d->pid, 0);
	if (fd < 0) {
		/* The poll timer watches it instead. */
		log_debug("domain %s: no pidfd (%s); polling VMM %d",
			  d->rec.name, strerror(errno), (int)d->pid);
		return 0;
	}
	if (fd_set_cloexec(fd)) {
		close(fd);
		return -EINVAL;
	}
	rc = evloop_add_fd(d->gwd->loop, fd, EVLOOP_IN, sup_on_pidfd, d->gwd);
	if (rc) {
		close(fd);
		return rc;
	}
	d->pidfd = fd;
	return 0;
}

/* One process's /proc/PID/FILE, NUL-terminated (at most size - 1). */
static ssize_t proc_read(pid_t pid, const char *file, char *buf, size_t size)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	return n;
}

/*
 * The process exists, is not a zombie, and one of its arguments is
 * needle: then it is the VMM we spawned (the exit file path is unique to
 * one domain), not a stranger that got its pid later.
 */
bool sup_process_matches(pid_t pid, const char *needle)
{
	char *buf = malloc(65536), *p, *state;
	bool found = false;
	ssize_t n;

	if (!buf || pid <= 0)
		goto out;
	n = proc_read(pid, "stat", buf, 4096);
	state = n > 0 ? strrchr(buf, ')') : NULL;
	if (!state || state[1] != ' ' || state[2] == 'Z' || state[2] == 'X')
		goto out;
	n = proc_read(pid, "cmdline", buf, 65536);
	for (p = buf; n > 0 && p < buf + n; p += strlen(p) + 1) {
		if (!strcmp(p, needle)) {
			found = true;
			break;
		}
	}
out:
	free(buf);
	return found;
}

void sup_kill(struct dom *d)
{
	if (d->pid <= 0)
		return;
	/* A pidfd cannot hit a recycled pid; our child's pid is ours
	 * until we reap it; without either, check whose pid it is. */
	if (d->pidfd >= 0)
		syscall(SYS_pidfd_send_signal, d->pidfd, SIGKILL, NULL, 0);
	else if (d->child || sup_process_matches(d->pid, d->rec.exit_file))
		kill(d->pid, SIGKILL);
}
