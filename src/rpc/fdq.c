/* Received-fd queue: matching SCM_RIGHTS fds to the messages they came with. */
#include "rpc/fdq.h"

#include <errno.h>
#include <stdbool.h>
#include <unistd.h>

void rpc_fdq_init(struct rpc_fdq *q)
{
	q->n = 0;
}

void rpc_fdq_close_all(struct rpc_fdq *q)
{
	size_t i;

	for (i = 0; i < q->n; i++)
		close(q->fd[i]);
	q->n = 0;
}

int rpc_fdq_push(struct rpc_fdq *q, int fd, uint64_t tag)
{
	if (q->n == RPC_FDQ_MAX) {
		close(fd);
		return -EMFILE;
	}
	q->fd[q->n] = fd;
	q->tag[q->n] = tag;
	q->n++;
	return 0;
}

/* Only whitespace between end and tag, i.e. no later message began? */
static bool only_ws_until(uint64_t end, uint64_t tag, const char *ahead,
			  size_t ahead_len)
{
	uint64_t i;

	for (i = 0; end + i < tag; i++) {
		char c;

		/* Bytes not received yet cannot start a message before tag. */
		if (i >= ahead_len)
			return true;
		c = ahead[i];
		if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
			return false;
	}
	return true;
}

size_t rpc_fdq_claim(struct rpc_fdq *q, uint64_t start, uint64_t end,
		     const char *ahead, size_t ahead_len, int *out)
{
	size_t i, kept = 0, claimed = 0;

	for (i = 0; i < q->n; i++) {
		uint64_t tag = q->tag[i];

		if (tag <= start) {
			close(q->fd[i]); /* its message did not take it */
		} else if (tag <= end ||
			   only_ws_until(end, tag, ahead, ahead_len)) {
			out[claimed++] = q->fd[i];
		} else {
			q->fd[kept] = q->fd[i];
			q->tag[kept] = tag;
			kept++;
		}
	}
	q->n = kept;
	return claimed;
}
