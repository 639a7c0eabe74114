/* Bounded output queue with partial non-blocking writes and fd passing. */
#include "rpc/outq.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "rpc/sock.h"

struct rpc_outq_msg {
	char *buf;
	size_t len;
	size_t off; /* bytes already written */
	int fd; /* sent with the first byte, then closed; -1 if none */
	struct rpc_outq_msg *next;
};

void rpc_outq_init(struct rpc_outq *q, size_t limit)
{
	q->head = NULL;
	q->tail = &q->head;
	q->bytes = 0;
	q->limit = limit;
}

static void msg_free(struct rpc_outq_msg *m)
{
	if (m->fd >= 0)
		close(m->fd);
	free(m->buf);
	free(m);
}

void rpc_outq_destroy(struct rpc_outq *q)
{
	struct rpc_outq_msg *m;

	while ((m = q->head)) {
		q->head = m->next;
		msg_free(m);
	}
	rpc_outq_init(q, q->limit);
}

bool rpc_outq_is_empty(const struct rpc_outq *q)
{
	return !q->head;
}

int rpc_outq_push(struct rpc_outq *q, char *buf, size_t len, int fd)
{
	struct rpc_outq_msg *m = NULL;
	int rc = -ENOBUFS;

	if (len > q->limit - q->bytes)
		goto err_free;
	rc = -ENOMEM;
	m = malloc(sizeof(*m));
	if (!m)
		goto err_free;
	m->buf = buf;
	m->len = len;
	m->off = 0;
	m->fd = fd;
	m->next = NULL;
	*q->tail = m;
	q->tail = &m->next;
	q->bytes += len;
	return 0;

err_free:
	free(buf);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Write some of the head message; 0 when it is all gone. */
static int msg_write(struct rpc_outq *q, struct rpc_outq_msg *m, int sock)
{
	ssize_t r;

	while (m->off < m->len) {
		r = rpc_sock_send(sock, m->buf + m->off, m->len - m->off,
				  m->fd);
		if (r < 0)
			return (int)r;
		if (m->fd >= 0) {
			close(m->fd); /* the peer has its own reference now */
			m->fd = -1;
		}
		m->off += r;
		q->bytes -= r;
	}
	return 0;
}

int rpc_outq_flush(struct rpc_outq *q, int sock)
{
	struct rpc_outq_msg *m;
	int rc;

	while ((m = q->head)) {
		rc = msg_write(q, m, sock);
		if (rc)
			return rc;
		q->head = m->next;
		if (!q->head)
			q->tail = &q->head;
		msg_free(m);
	}
	return 0;
}
