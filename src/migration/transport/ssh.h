/*
 * The ssh transport, as xl has it: `SSHCOMMAND HOST godwit migrate-receive
 * --stdio` run through /bin/sh, its stdin and stdout on one end of a
 * socketpair whose other end carries the migration stream. The stream
 * then is a socket like TCP's: the same deadlines, stall timeout and
 * cancellation; a dying ssh or a dying remote receiver closes it, which
 * the stream sees as a cut connection. ssh's stderr (its own complaints
 * and the remote receiver's log) is read by a thread into our log, and
 * its last line names what went wrong when the migration fails.
 */
#ifndef GODWIT_TRANSPORT_SSH_H
#define GODWIT_TRANSPORT_SSH_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/compiler.h"

#define SSH_COMMAND_MAX 512
#define SSH_LINE_MAX 256

struct ssh_transport {
	pid_t pid; /* 0: not running */
	int err_fd; /* ssh's stderr, read by the thread */
	pthread_t thread;
	bool thread_started;
	bool stop; /* ssh has gone: the reader stops once drained */
	char host[256];
	pthread_mutex_t lock; /* last */
	char last[SSH_LINE_MAX]; /* the last line ssh wrote on stderr */
	int status; /* waitpid() status, once ended */
};

/*
 * May host be given to a shell as it is? Letters, digits and . - _ @ : [ ]
 * (user@host, IPv6), not starting with '-'.
 */
bool ssh_host_ok(const char *host);

/*
 * Build the shell command line: "exec SSHCOMMAND HOST 'REMOTE'" (remote
 * quoted as one word: ssh hands it to the remote shell as it is). 0 or
 * -ENAMETOOLONG / -EINVAL (a bad host).
 */
int ssh_command_line(const char *ssh_command, const char *host,
		     const char *remote, char *out, size_t len) __must_check;

/*
 * Start ssh; *fd_out is our end of its stdio (the caller owns it). why
 * gets one line on failure.
 */
int ssh_transport_start(struct ssh_transport *t, const char *ssh_command,
			const char *host, const char *remote, int *fd_out,
			char *why, size_t whylen) __must_check;

/*
 * Wait up to grace_ms for ssh to exit (our end of its stdio should be
 * shut down first), then kill it; reap it and its stderr reader. Safe to
 * call twice or without a start. Returns its waitpid() status.
 */
int ssh_transport_end(struct ssh_transport *t, unsigned int grace_ms);

/* "ssh HOST exited with status N: LAST LINE" for a failure message. */
void ssh_transport_describe(struct ssh_transport *t, char *buf, size_t len);

#endif
