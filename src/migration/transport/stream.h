/*
 * A byte stream for the migration layer, after Redis's rio: one struct,
 * pluggable backends (an fd: file, socket or pipe; memory: for tests and
 * fuzzing), and a sticky error. After the first failure every read and
 * write is a no-op returning that error, so drivers check once per record
 * instead of after every call. Offsets count bytes since the stream began
 * so errors can name where they happened.
 *
 * No wait is unbounded on a socket or pipe (QEMU's qemu-file.c shuts a
 * socket down from another thread to the same end; we poll): such an fd
 * is made non-blocking and every wait polls it together with an optional
 * cancel fd, under two limits:
 *  - the stall timeout: no byte moved for N ms while we wait -> -ETIMEDOUT.
 *    It catches a peer that stopped (SIGSTOP, blackhole, full window); a
 *    peer that trickles a byte now and then is not stalled;
 *  - the deadline: an absolute CLOCK_MONOTONIC time past which every call
 *    fails -ETIMEDOUT, whether bytes move or not. It catches the trickler
 *    and bounds a whole phase (the downtime of a migration).
 * A readable cancel fd (an eventfd raised by stream_cancel(), or a
 * signalfd with a pending signal) makes the next call fail -ECANCELED.
 * Regular files never block for long: they get the deadline and cancel
 * checks between calls, no polling.
 *
 * Threads: a stream is used by one thread at a time; stream_cancel() and
 * reading offset are the exceptions.
 */
#ifndef GODWIT_TRANSPORT_STREAM_H
#define GODWIT_TRANSPORT_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common/compiler.h"

struct stream;

/* Which limit a -ETIMEDOUT came from (stream_error_text() says it). */
enum stream_timeout {
	STREAM_TIMEOUT_NONE,
	STREAM_TIMEOUT_STALL, /* nothing moved for stall_ms */
	STREAM_TIMEOUT_DEADLINE, /* deadline_ns passed */
};

struct stream_ops {
	/*
	 * Read up to the total of iov into iov; return bytes read (> 0), 0 at
	 * end of stream, or -errno. Called only with a non-empty iov.
	 */
	ssize_t (*readv)(struct stream *s, const struct iovec *iov, int iovcnt);
	/* Write some of iov; return bytes written (> 0) or -errno. */
	ssize_t (*writev)(struct stream *s, const struct iovec *iov,
			  int iovcnt);
	/* Push out buffered data (direct I/O staging); 0 or -errno. */
	int (*flush)(struct stream *s);
	/* Release backend resources; the stream struct stays valid. */
	void (*close)(struct stream *s);
	/* Optional: bytes read from the fd but not yet returned (TLS). */
	size_t (*pending)(struct stream *s);
	/* Optional: stream_send_nowait() for a backend that frames data. */
	int (*send_nowait)(struct stream *s, const void *buf, size_t len);
};

#define STREAM_RBUF_SIZE (1u << 20)

struct stream {
	const struct stream_ops *ops;
	int error; /* sticky: 0 or the first -errno */
	uint64_t offset; /* bytes read or written since the start */
	/* fd backend; wfd is fd except for a pair of pipes (ssh's stdio) */
	int fd;
	int wfd;
	bool own_fd;
	/* a backend's own state (TLS: tls.c) */
	void *priv;
	/* memory backend */
	uint8_t *mem;
	size_t mem_len, mem_cap, mem_pos;
	bool mem_owned;
	/* read buffer (fd backend) */
	uint8_t *rbuf;
	size_t rbuf_pos, rbuf_len;
	size_t rbuf_max; /* read ahead at most this much; 0: the buffer */
	/*
	 * Direct I/O file backend (writing only): small writes collect in
	 * an aligned staging buffer; page-aligned runs of guest memory at
	 * aligned file offsets go straight to the disk.
	 */
	bool direct;
	uint8_t *stage;
	size_t stage_len;
	uint64_t file_pos; /* bytes handed to the file so far */
	/* Bounded waits (fd backend on a socket or pipe: poll_io). */
	bool poll_io; /* the fd is non-blocking; waits poll it */
	unsigned int stall_ms; /* 0: no stall timeout */
	uint64_t deadline_ns; /* CLOCK_MONOTONIC; 0: none */
	char deadline_what[120]; /* names the deadline in messages */
	bool has_cancel; /* cancel_fd is set */
	bool own_cancel; /* cancel_fd is stream_cancel_init()'s eventfd */
	int cancel_fd; /* readable: cancel */
	uint64_t progress_ns; /* when a byte last moved */
	enum stream_timeout timed_out; /* which limit gave -ETIMEDOUT */
	/*
	 * Record framing, kept by migration/recio.c (rec_stream_start()):
	 * the stream revision (0 until a header is framed: then as the
	 * current one, from a zero chain), the CRC chain value, and the
	 * records and bytes of the stream so far (offset counts more: what
	 * a live peer sends back is read from the same stream).
	 */
	uint32_t rec_version;
	uint32_t rec_chain;
	uint64_t rec_count;
	uint64_t rec_bytes;
	uint8_t rec_stream_id[16]; /* the header's stream_id (revision 2) */
	/* write rate limit (0: none), bytes per second */
	uint64_t rate_limit;
	uint64_t rate_start_ns;
	uint64_t rate_bytes;
};

/* fd backend; with own_fd the fd is closed by stream_close(). */
int stream_open_fd(struct stream *s, int fd, bool own_fd) __must_check;
/*
 * fd backend over two fds: read rfd, write wfd (an ssh child's stdout and
 * stdin, or our own stdin and stdout under sshd). Both are closed by
 * stream_close() with own_fd.
 */
int stream_open_fd_pair(struct stream *s, int rfd, int wfd,
			bool own_fd) __must_check;
/*
 * Writing to a file opened with O_DIRECT: everything is written in
 * aligned blocks; stream_flush() writes the last partial block and trims
 * the file to the stream's length. Writers that want their big buffers
 * to bypass the page cache align them (PADDING records for page data).
 */
int stream_open_direct(struct stream *s, int fd, bool own_fd) __must_check;
/* Memory backend for reading buf (not copied, not freed). */
void stream_open_mem_read(struct stream *s, const void *buf, size_t len);
/* Memory backend for writing into a growing buffer (stream_mem_take()). */
void stream_open_mem_write(struct stream *s);
/* Hand over the written buffer (free()) and its length. */
uint8_t *stream_mem_take(struct stream *s, size_t *len_out);
/* Write out what a backend buffers; returns the sticky error. */
int stream_flush(struct stream *s) __must_check;
void stream_close(struct stream *s);

/* Exactly len bytes; -EPIPE at end of stream. */
int stream_read(struct stream *s, void *buf, size_t len) __must_check;
/*
 * Bytes already read from the fd wait in the buffer: a caller that polls
 * the fd for more must look here first (poll does not see them).
 */
static inline bool stream_has_buffered(const struct stream *s)
{
	return s->rbuf_pos < s->rbuf_len;
}
int stream_readv(struct stream *s, struct iovec *iov, int iovcnt) __must_check;
/*
 * Writes need not be checked one by one: the error is sticky. iov may be
 * modified; any count of iovecs (split at IOV_MAX).
 */
int stream_write(struct stream *s, const void *buf, size_t len);
int stream_writev(struct stream *s, struct iovec *iov, int iovcnt);
/* Discard len bytes of input. */
int stream_skip(struct stream *s, uint64_t len) __must_check;
/*
 * Move len bytes ahead without reading them: a regular file only
 * (-ESPIPE otherwise). For a reader that reads those bytes later, by
 * offset (lazy restore); records go through recio's rec_defer_body().
 */
int stream_seek_ahead(struct stream *s, uint64_t len) __must_check;
/* Read ahead at most bytes (a reader that skips most of the stream). */
void stream_set_readahead(struct stream *s, size_t bytes);

/*
 * Has the other side sent something (or closed)? Waits up to timeout_ms
 * for it (0: only look). 1 if it has, 0 if not (or a signal came),
 * -errno if the socket cannot be polled, -ECANCELED if cancelled. Bytes
 * a read has already buffered count too: poll() no longer sees them. A
 * migration's destination speaks while the source writes, to acknowledge
 * rounds or to refuse, so the source's driver looks now and then.
 */
int stream_peer_wait(struct stream *s, int timeout_ms);

/*
 * Write len bytes only if the socket takes them all at once (never
 * blocks, never sets the sticky error); -EAGAIN, -ENOTSOCK etc. if not.
 */
int stream_send_nowait(struct stream *s, const void *buf, size_t len);

/* Bytes per second; 0 removes the limit. Applies to writes. */
void stream_set_rate_limit(struct stream *s, uint64_t bytes_per_sec);
/* Record err unless an error is already recorded; returns s->error. */
int stream_set_error(struct stream *s, int err);
/*
 * Forget the sticky error (and which limit timed out), to read a last
 * message from a peer after a write failed. Buffered input stays.
 */
void stream_clear_error(struct stream *s);

/*
 * Stall timeout in ms (0: none), see the top of this file. On a socket or
 * pipe this makes the fd non-blocking (for good: the stream owns its use).
 */
int stream_set_stall_timeout(struct stream *s, unsigned int ms) __must_check;
/*
 * Absolute CLOCK_MONOTONIC deadline (0 removes it). what names it for
 * messages, e.g. "the downtime limit of 30 ms plus a 1000 ms margin".
 */
void stream_set_deadline(struct stream *s, uint64_t mono_ns, const char *what);
/* The same, ms from now (0 removes it). */
void stream_set_deadline_in(struct stream *s, unsigned int ms,
			    const char *what);
/*
 * Cancel when fd becomes readable (-1: no cancel fd). The stream does not
 * own fd. A signalfd works: a pending signal cancels.
 *
 * These two make a socket or pipe non-blocking as the stall timeout does
 * but cannot report failing to (callers set the stall timeout first, if
 * only to 0, and check that).
 */
void stream_set_cancel_fd(struct stream *s, int fd);
/* The stream gets a cancel eventfd of its own (closed by stream_close). */
int stream_cancel_init(struct stream *s) __must_check;
/*
 * Any thread: cancel the stream's I/O (its cancel fd must be an eventfd).
 * Every call from now on fails -ECANCELED, blocked ones within a poll.
 */
int stream_cancel(struct stream *s);
/* Raise an eventfd used as a cancel fd; any thread. */
int stream_cancel_raise(int efd);
/*
 * One line for the stream's error: "no progress for 10.0 s (stall
 * timeout)", "past <deadline_what>", "cancelled", or strerror. buf is
 * returned.
 */
const char *stream_error_text(const struct stream *s, char *buf, size_t len);

/*
 * For backends over an fd (tls.c): 0 if a transfer may be tried now, else
 * -ETIMEDOUT (deadline) or -ECANCELED; and the wait of a transfer that
 * would block (POLLOUT waits on wfd), begun at since: 0 when the fd is
 * ready, else which limit ended it.
 */
int stream_io_gate(struct stream *s, uint64_t now);
int stream_io_wait(struct stream *s, short events, uint64_t since);
/* Make the fds non-blocking and waits polled (a new backend's open). */
int stream_enable_poll_io(struct stream *s) __must_check;

#endif
