/*
 * File descriptors received over SCM_RIGHTS, and which message each one
 * belongs to.
 *
 * A sender attaches an fd to a message by sending the message's bytes in
 * one sendmsg() that carries the fd (rpc_sock_send does). On a unix
 * stream socket Linux ends the receiving recvmsg() right after the bytes
 * that came with the fd, and those are the first bytes of that message's
 * sendmsg. So an fd tagged with the stream offset T at which its read
 * ended belongs to the last message that started before T. A message
 * spanning [start, end) claims the fds with start < T, provided no other
 * message starts between end and T; fds with T <= start belonged to
 * earlier messages that did not take them and are closed.
 */
#ifndef GODWIT_RPC_FDQ_H
#define GODWIT_RPC_FDQ_H

#include <stddef.h>
#include <stdint.h>

/* Most fds held for one peer (received but not yet claimed). */
#define RPC_FDQ_MAX 8

struct rpc_fdq {
	size_t n;
	int fd[RPC_FDQ_MAX];
	uint64_t tag[RPC_FDQ_MAX]; /* stream offset where its read ended */
};

void rpc_fdq_init(struct rpc_fdq *q);
/* Close every fd held; q stays usable. */
void rpc_fdq_close_all(struct rpc_fdq *q);
/* Hold fd (taken) tagged with tag; if q is full fd is closed, -EMFILE. */
int rpc_fdq_push(struct rpc_fdq *q, int fd, uint64_t tag);

/*
 * Move into out[RPC_FDQ_MAX] the fds that belong to the message spanning
 * stream offsets [start, end), close those belonging to earlier messages,
 * and keep the rest. ahead/ahead_len are the received bytes that follow
 * end (not parsed yet) and tell whether another message starts before an
 * fd's tag. Returns how many fds were moved; the caller owns them.
 */
size_t rpc_fdq_claim(struct rpc_fdq *q, uint64_t start, uint64_t end,
		     const char *ahead, size_t ahead_len, int *out);

#endif
