/*
 * Running a helper program to completion: posix_spawn (the caller may
 * have threads; fork would copy their locks), its own process group so a
 * deadline kills whatever it started, stdout and stderr on two pipes
 * read until it exits. A program that leaves a daemon behind holding the
 * pipes is done when it exits, not when the pipes close.
 */
#include "common/child.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"

/* The last CHILD_OUTPUT_MAX bytes of a stream. */
static void keep(char *buf, size_t *len, bool *cut, const char *data, size_t n)
{
	size_t drop;

	if (n >= CHILD_OUTPUT_MAX) {
		data += n - CHILD_OUTPUT_MAX;
		*cut = *cut || n > CHILD_OUTPUT_MAX || *len;
		n = CHILD_OUTPUT_MAX;
		*len = 0;
	}
	if (*len + n > CHILD_OUTPUT_MAX) {
		drop = *len + n - CHILD_OUTPUT_MAX;
		memmove(buf, buf + drop, *len - drop);
		*len -= drop;
		*cut = true;
	}
	memcpy(buf + *len, data, n);
	*len += n;
	buf[*len] = 0;
}

static int spawn(const char *path, char *const argv[], char *const envp[],
		 int in, int out, int err, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, dfl;
	int r;

	sigemptyset(&none);
	sigfillset(&dfl); /* what the VMM ignores (SIGPIPE) is not inherited */
	sigdelset(&dfl, SIGKILL);
	sigdelset(&dfl, SIGSTOP);
	posix_spawn_file_actions_init(&fa);
	if (in < 0)
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY,
						 0);
	else
		posix_spawn_file_actions_adddup2(&fa, in, 0);
	posix_spawn_file_actions_adddup2(&fa, out, 1);
	posix_spawn_file_actions_adddup2(&fa, err, 2);
	posix_spawnattr_init(&at);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK |
					      POSIX_SPAWN_SETSIGDEF |
					      POSIX_SPAWN_SETPGROUP);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &dfl);
	posix_spawnattr_setpgroup(&at, 0);
	r = posix_spawn(pid, path, &fa, &at, argv, envp);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	return -r;
}

/* Read what is there now; false once the pipe is closed. */
static bool read_some(int fd, char *buf, size_t *len, bool *cut)
{
	char chunk[4096];
	ssize_t r = read(fd, chunk, sizeof(chunk));

	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return true;
	if (r <= 0)
		return false;
	keep(buf, len, cut, chunk, r);
	return true;
}

/* Poll in short steps: the child's exit is seen by waitpid. */
static int wait_ms(uint64_t left_ns)
{
	return (int)MIN(50, left_ns / NSEC_PER_MSEC + 1);
}

/* Collect output until the child exits or the deadline passes. */
static void collect(int fds[2], pid_t pid, uint64_t deadline,
		    struct child_result *res)
{
	struct pollfd p[2] = { { .fd = fds[0], .events = POLLIN },
			       { .fd = fds[1], .events = POLLIN } };
	bool exited = false;
	uint64_t now;
	int i;

	for (;;) {
		if (!exited && waitpid(pid, &res->status, WNOHANG) == pid)
			exited = true;
		now = MIN(time_mono_ns(), deadline);
		/* After the exit, only what is already in the pipes. */
		if (poll(p, 2, exited ? 0 : wait_ms(deadline - now)) <= 0 &&
		    exited)
			return;
		for (i = 0; i < 2; i++) {
			if (!p[i].revents)
				continue;
			if (!read_some(p[i].fd, i ? res->err : res->out,
				       i ? &res->err_len : &res->out_len,
				       i ? &res->err_cut : &res->out_cut))
				p[i].fd = -1;
		}
		if (p[0].fd < 0 && p[1].fd < 0 && exited)
			return;
		if (!exited && time_mono_ns() >= deadline) {
			res->timed_out = true;
			return;
		}
	}
}

int child_run(const char *path, char *const argv[], char *const envp[],
	      unsigned int timeout_ms, struct child_result *res)
{
	uint64_t deadline = time_mono_ns() + timeout_ms * NSEC_PER_MSEC;
	int out[2] = { -1, -1 }, err[2] = { -1, -1 }, rc;
	pid_t pid;

	memset(res, 0, sizeof(*res));
	if (pipe2(out, O_CLOEXEC | O_NONBLOCK) ||
	    pipe2(err, O_CLOEXEC | O_NONBLOCK)) {
		rc = -errno;
		goto out_close;
	}
	rc = spawn(path, argv, envp, -1, out[1], err[1], &pid);
	close(out[1]);
	close(err[1]);
	out[1] = err[1] = -1;
	if (rc)
		goto out_close;
	collect((int[2]){ out[0], err[0] }, pid, deadline, res);
	if (res->timed_out) {
		kill(-pid, SIGKILL);
		waitpid(pid, &res->status, 0);
	}
	/* A group it left behind dies with it only on timeout. */
out_close:
	for (int i = 0; i < 2; i++) {
		if (out[i] >= 0)
			close(out[i]);
		if (err[i] >= 0)
			close(err[i]);
	}
	return rc;
}

int child_start(const char *path, char *const argv[], char *const envp[],
		int io_fd, pid_t *pid_out, int *err_out)
{
	int err[2], rc;

	if (pipe2(err, O_CLOEXEC | O_NONBLOCK))
		return -errno;
	/* dup2 clears O_CLOEXEC on the child's copies: io_fd may have it. */
	rc = spawn(path, argv, envp, io_fd, io_fd, err[1], pid_out);
	close(err[1]);
	if (rc) {
		close(err[0]);
		return rc;
	}
	*err_out = err[0];
	return 0;
}

int child_stop(pid_t pid, unsigned int grace_ms)
{
	uint64_t deadline = time_mono_ns() + grace_ms * NSEC_PER_MSEC;
	int status = 0;

	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (time_mono_ns() >= deadline) {
			kill(-pid, SIGKILL);
			waitpid(pid, &status, 0);
			break;
		}
		usleep(10000);
	}
	return status;
}

void child_last_line(const char *text, char *out, size_t len)
{
	const char *end = text + strlen(text), *start;

	out[0] = 0;
	while (end > text && strchr(" \t\r\n", end[-1]))
		end--;
	start = end;
	while (start > text && start[-1] != '\n')
		start--;
	while (start < end && strchr(" \t\r", *start))
		start++;
	if (start < end && len)
		snprintf(out, len, "%.*s", (int)(end - start), start);
}
