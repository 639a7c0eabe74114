/*
 * A migration's transport other than plain TCP: ssh (xl's: the remote
 * `godwit migrate-receive --stdio` through ssh's stdio, on a socketpair)
 * and TLS (a GnuTLS session over the TCP connection, its handshake done
 * here, at connect, never in the downtime). Either way the migration
 * thread then sees a struct stream over one fd as it does over TCP:
 * the same deadlines, cancellation and handover.
 */
#include "monitor/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "migration/transport/tls.h"

/* How long a refused plain source gets to read why. */
#define INCOMING_REFUSE_DRAIN_MS 5000
/* How long ssh may take to go after the stream is closed. */
#define MIG_SSH_GRACE_MS 5000

int mig_transport_connect(struct mig_job *job, int *fd_out, char *why,
			  size_t whylen)
{
	if (!job->ssh_command[0])
		return -ENOSYS;
	return ssh_transport_start(&job->ssh, job->ssh_command, job->host,
				   job->receive_command, fd_out, why, whylen);
}

const struct tls_opts *mig_transport_tls(struct mig_job *job,
					 struct tls_opts *o)
{
	*o = (struct tls_opts){ .dir = job->tls_dir,
				.peer_name = job->tls_name[0] ? job->tls_name :
								job->host,
				.handshake_ms = job->stall_ms };
	return job->tls ? o : NULL;
}

int mig_transport_open_stream(struct mig_job *job, char *why, size_t whylen)
{
	struct tls_opts o;
	int rc;

	if (!mig_transport_tls(job, &o))
		return 0;
	rc = tls_stream_client(&job->stream, &o, why, whylen);
	if (rc)
		log_debug("tls: %s", why);
	return rc;
}

void mig_transport_end(struct mig_job *job)
{
	char said[300];
	size_t n;

	if (!job->ssh.pid)
		return;
	/* ssh's stdin closes: it ends, and so does a receiver still there. */
	if (job->sock >= 0)
		shutdown(job->sock, SHUT_RDWR);
	ssh_transport_end(&job->ssh, MIG_SSH_GRACE_MS);
	if (job->status != MIG_FAILED || job->hook_error[0] || job->cancelled)
		return;
	if (WIFEXITED(job->ssh.status) && !WEXITSTATUS(job->ssh.status) &&
	    !job->ssh.last[0])
		return;
	ssh_transport_describe(&job->ssh, said, sizeof(said));
	n = strlen(job->error);
	snprintf(job->error + n, sizeof(job->error) - n, " (%s)", said);
}

/* ---- the destination ---- */

int monitor_incoming_transport(struct monitor *m)
{
	const struct monitor_opts *mo = m->opts;
	char why[256];
	int rc;

	if (mo->incoming_stdio)
		log_info("receiving a migration on stdin (VMM pid %d)",
			 (int)getpid());
	if (!mo->tls)
		return 0;
	rc = tls_stream_server(&m->incoming.stream, &m->incoming.tls, why,
			       sizeof(why));
	if (rc) {
		log_err("migration from %s refused: %s", m->incoming.peer, why);
		/* A plain godwit source reads a plain refusal: say why. */
		if (rc == -EPROTO && strstr(why, "plain text"))
			handover_refuse(
				&m->incoming.stream,
				"this destination takes TLS only (godwit migrate --tls)",
				INCOMING_REFUSE_DRAIN_MS);
		return rc;
	}
	log_info("migration from %s: TLS, certificate %s", m->incoming.peer,
		 tls_stream_peer_dn(&m->incoming.stream));
	return 0;
}

/*
 * stdin, stdout and stderr become /dev/null (sshd waits for them to
 * close), then the waiting parent gets the exit status 0 and exits.
 */
void monitor_stdio_detach(struct monitor *m)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	char ok = 0;

	log_info("vm %s: running; leaving ssh's session (VMM pid %d)",
		 m->cfg.name, (int)getpid());
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		close(null);
	}
	if (write(m->opts->detach_fd, &ok, 1) != 1)
		log_warn("cannot tell migrate-receive's parent");
	close(m->opts->detach_fd);
}
