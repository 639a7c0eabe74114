/*
 * Unix stream socket helpers for the control protocol: listening on and
 * connecting to a path, and sending/receiving bytes with file
 * descriptors attached (SCM_RIGHTS). All sockets are non-blocking and
 * close-on-exec; sends never raise SIGPIPE.
 */
#ifndef GODWIT_RPC_SOCK_H
#define GODWIT_RPC_SOCK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/compiler.h"

/* Most fds accepted in one received chunk; the kernel closes the rest. */
#define RPC_SOCK_FDS_MAX 4

/* Identity of a socket file, so only our own is unlinked at shutdown. */
struct rpc_sock_file {
	dev_t dev;
	ino_t ino;
};

/*
 * Listen on path: parent directories are created (mode 0700), a stale
 * socket file left by a dead server is replaced, and the new socket file
 * gets mode 0600 before anyone can connect. Returns the listening fd or
 * -errno: -EADDRINUSE if a server answers on path, -EEXIST if path is not
 * a socket, -ENAMETOOLONG.
 */
int rpc_sock_listen(const char *path, struct rpc_sock_file *file_out);
/* Unlink path if it is still the socket file described by file. */
void rpc_sock_unlink(const char *path, const struct rpc_sock_file *file);

/*
 * Connect to the server listening on path, waiting at most timeout_ms
 * (-1: no limit) for a full backlog to drain. Returns the fd or -errno
 * (-ENOENT, -ECONNREFUSED: nobody listens; -ETIMEDOUT).
 */
int rpc_sock_connect(const char *path, int timeout_ms);

/*
 * One non-blocking sendmsg of up to len bytes, with passfd (borrowed,
 * the kernel takes its own reference) attached if passfd >= 0. Returns
 * the bytes sent or -errno (-EAGAIN when the socket buffer is full).
 */
ssize_t rpc_sock_send(int sock, const void *buf, size_t len, int passfd);

/*
 * One non-blocking recvmsg of up to len bytes. Received fds (at most
 * RPC_SOCK_FDS_MAX, close-on-exec) are stored in fds_out and owned by the
 * caller; their count goes to *nfds_out. Returns the bytes read, 0 at end
 * of stream, or -errno (-EAGAIN when nothing is there).
 */
ssize_t rpc_sock_recv(int sock, void *buf, size_t len, int *fds_out,
		      size_t *nfds_out);

/*
 * Wait until sock is ready for events (POLLIN, POLLOUT) or the
 * CLOCK_MONOTONIC deadline_ns (0: none) passes. 0 when ready (or
 * interrupted), -ETIMEDOUT, or -errno.
 */
int rpc_sock_wait(int sock, short events, uint64_t deadline_ns) __must_check;

/* Deadline for a timeout in milliseconds: 0 (none) if timeout_ms < 0. */
uint64_t rpc_deadline(int timeout_ms);

#endif
