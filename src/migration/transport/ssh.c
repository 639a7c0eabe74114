/*
 * The ssh transport (ssh.h): ssh spawned through common/child.c with a
 * socketpair as its stdin and stdout, and a thread that reads its stderr
 * line by line into our log. A socketpair rather than two pipes: the
 * migration code then has one fd to shut down and poll, as over TCP.
 */
#include "migration/transport/ssh.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/child.h"
#include "common/log.h"
#include "common/why.h"

extern char **environ;

bool ssh_host_ok(const char *host)
{
	size_t n = strlen(host);

	return n && n < 256 && host[0] != '-' &&
	       strspn(host, "abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "0123456789.-_@:[]") == n;
}

/* Append s single-quoted for sh: ' becomes '\''. */
static int quote(char *out, size_t len, size_t *pos, const char *s)
{
	size_t p = *pos;

	if (p + 1 >= len)
		return -ENAMETOOLONG;
	out[p++] = '\'';
	for (; *s; s++) {
		const char *piece = *s == '\'' ? "'\\''" : (char[2]){ *s, 0 };
		size_t k = strlen(piece);

		if (p + k + 2 >= len)
			return -ENAMETOOLONG;
		memcpy(out + p, piece, k);
		p += k;
	}
	out[p++] = '\'';
	out[p] = 0;
	*pos = p;
	return 0;
}

int ssh_command_line(const char *ssh_command, const char *host,
		     const char *remote, char *out, size_t len)
{
	size_t pos;
	int n;

	if (!ssh_host_ok(host))
		return -EINVAL;
	n = snprintf(out, len, "exec %s %s ", ssh_command, host);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	pos = n;
	return quote(out, len, &pos, remote);
}

/* Log one line of ssh's stderr and keep it as the last one. */
static void ssh_line(struct ssh_transport *t, char *line)
{
	size_t n = strlen(line);

	while (n && strchr(" \t\r", line[n - 1]))
		line[--n] = 0;
	if (!n)
		return;
	log_info("ssh %s: %s", t->host, line);
	pthread_mutex_lock(&t->lock);
	snprintf(t->last, sizeof(t->last), "%s", line);
	pthread_mutex_unlock(&t->lock);
}

/* Until ssh's stderr closes, or ssh has gone and it is drained. */
static void *ssh_reader(void *opaque)
{
	struct ssh_transport *t = opaque;
	struct pollfd p = { .fd = t->err_fd, .events = POLLIN };
	char buf[SSH_LINE_MAX * 4];
	size_t have = 0;
	char *nl;
	ssize_t r;

	for (;;) {
		r = read(t->err_fd, buf + have, sizeof(buf) - 1 - have);
		if (r < 0 && errno == EAGAIN) {
			if (__atomic_load_n(&t->stop, __ATOMIC_ACQUIRE))
				break;
			poll(&p, 1, 100);
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		have += r;
		buf[have] = 0;
		while ((nl = strchr(buf, '\n'))) {
			*nl = 0;
			ssh_line(t, buf);
			have -= nl + 1 - buf;
			memmove(buf, nl + 1, have + 1);
		}
		if (have == sizeof(buf) - 1) { /* a very long line: cut it */
			ssh_line(t, buf);
			have = 0;
		}
	}
	buf[have] = 0;
	ssh_line(t, buf);
	return NULL;
}

int ssh_transport_start(struct ssh_transport *t, const char *ssh_command,
			const char *host, const char *remote, int *fd_out,
			char *why, size_t whylen)
{
	char rune[SSH_COMMAND_MAX * 3];
	char *argv[] = { "sh", "-c", rune, NULL };
	int sv[2], rc;

	*t = (struct ssh_transport){ .err_fd = -1 };
	snprintf(t->host, sizeof(t->host), "%s", host);
	rc = ssh_command_line(ssh_command, host, remote, rune, sizeof(rune));
	if (rc)
		return why_set(why, whylen, rc,
			       rc == -EINVAL ?
				       "ssh: '%.64s' is not a host name" :
				       "ssh: the command line is too long",
			       host);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return why_set(why, whylen, -errno, "ssh: socketpair: %s",
			       strerror(errno));
	log_debug("ssh: running %s", rune);
	rc = child_start("/bin/sh", argv, environ, sv[1], &t->pid, &t->err_fd);
	close(sv[1]);
	if (rc) {
		close(sv[0]);
		t->pid = 0;
		return why_set(why, whylen, rc, "ssh: cannot run /bin/sh: %s",
			       strerror(-rc));
	}
	pthread_mutex_init(&t->lock, NULL);
	rc = -pthread_create(&t->thread, NULL, ssh_reader, t);
	t->thread_started = !rc;
	if (rc)
		log_warn("ssh: cannot start the stderr reader: %s",
			 strerror(-rc));
	*fd_out = sv[0];
	return 0;
}

int ssh_transport_end(struct ssh_transport *t, unsigned int grace_ms)
{
	if (!t->pid)
		return t->status;
	t->status = child_stop(t->pid, grace_ms);
	t->pid = 0;
	/* Something ssh left behind (a ControlPersist master) may hold its
	 * stderr: ssh is gone, so the reader drains it and stops. */
	__atomic_store_n(&t->stop, true, __ATOMIC_RELEASE);
	if (t->thread_started) {
		pthread_join(t->thread, NULL);
		t->thread_started = false;
	}
	if (t->err_fd >= 0)
		close(t->err_fd);
	t->err_fd = -1;
	pthread_mutex_destroy(&t->lock);
	return t->status;
}

void ssh_transport_describe(struct ssh_transport *t, char *buf, size_t len)
{
	int st = t->status;

	if (WIFEXITED(st))
		snprintf(buf, len, "ssh %s exited with status %d%s%s", t->host,
			 WEXITSTATUS(st), t->last[0] ? ": " : "", t->last);
	else
		snprintf(buf, len, "ssh %s was killed by signal %d%s%s",
			 t->host, WTERMSIG(st), t->last[0] ? ": " : "",
			 t->last);
}
