/*
 * Running a helper program to completion with a deadline, its standard
 * output and error captured: for hotplug scripts, in the VMM (which has
 * threads, so the child is spawned, never forked) and in godwitd.
 */
#ifndef GODWIT_COMMON_CHILD_H
#define GODWIT_COMMON_CHILD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/compiler.h"

#define CHILD_OUTPUT_MAX 4096 /* bytes kept of each stream: the last ones */

struct child_result {
	int status; /* waitpid() status */
	bool timed_out; /* killed (with its process group) at the deadline */
	char out[CHILD_OUTPUT_MAX + 1]; /* stdout, NUL-terminated */
	size_t out_len;
	char err[CHILD_OUTPUT_MAX + 1]; /* stderr, NUL-terminated */
	size_t err_len;
	bool out_cut, err_cut; /* earlier bytes were dropped */
};

/*
 * Run path with argv and exactly the environment envp (NULL-terminated
 * "KEY=value" strings), stdin from /dev/null, in a new process group,
 * with default signal handling. Returns once it exited (output read
 * until then) or timeout_ms passed (then it and its group are killed).
 * 0 with res filled, or -errno when it could not be started (-ENOENT,
 * -EACCES, ...).
 */
int child_run(const char *path, char *const argv[], char *const envp[],
	      unsigned int timeout_ms, struct child_result *res) __must_check;

/*
 * A child that runs alongside us (ssh for a migration): path with argv
 * and envp as child_run() has them, its stdin and stdout on io_fd (one
 * end of a socketpair), its stderr on a pipe whose read end (O_CLOEXEC,
 * non-blocking) goes to *err_out, in a new process group. The child gets
 * io_fd alone: the caller keeps (and closes) its own copy.
 */
int child_start(const char *path, char *const argv[], char *const envp[],
		int io_fd, pid_t *pid_out, int *err_out) __must_check;
/*
 * Reap a child_start() child: wait up to grace_ms for it to exit, then
 * kill its process group (SIGKILL) and wait. Its waitpid() status.
 */
int child_stop(pid_t pid, unsigned int grace_ms);

/* The last non-empty line of text (trimmed), in out; "" if none. */
void child_last_line(const char *text, char *out, size_t len);

#endif
