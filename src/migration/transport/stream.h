/*
 * A byte stream for the migration layer, after Redis's rio: one struct,
 * pluggable backends (an fd: file or socket; memory: for tests and
 * fuzzing), and a sticky error. After the first failure every read and
 * write is a no-op returning that error, so drivers check once per record
 * instead of after every call. Offsets count bytes since the stream began
 * so errors can name where they happened.
 *
 * Threads: a stream is used by one thread at a time.
 */
#ifndef GODWIT_TRANSPORT_STREAM_H
#define GODWIT_TRANSPORT_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common/compiler.h"

struct stream;

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
};

#define STREAM_RBUF_SIZE (1u << 20)

struct stream {
	const struct stream_ops *ops;
	int error; /* sticky: 0 or the first -errno */
	uint64_t offset; /* bytes read or written since the start */
	/* fd backend */
	int fd;
	bool own_fd;
	/* memory backend */
	uint8_t *mem;
	size_t mem_len, mem_cap, mem_pos;
	bool mem_owned;
	/* read buffer (fd backend) */
	uint8_t *rbuf;
	size_t rbuf_pos, rbuf_len;
	/*
	 * Direct I/O file backend (writing only): small writes collect in
	 * an aligned staging buffer; page-aligned runs of guest memory at
	 * aligned file offsets go straight to the disk.
	 */
	bool direct;
	uint8_t *stage;
	size_t stage_len;
	uint64_t file_pos; /* bytes handed to the file so far */
	/*
	 * A live peer that may speak while we write (a migration's
	 * destination): on_peer, if set, is called when it has, to read and
	 * handle what it said; it returns 0 to go on or -errno to stop.
	 */
	bool check_peer;
	int (*on_peer)(struct stream *s, void *opaque);
	void *on_peer_opaque;
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
	/* write rate limit (0: none), bytes per second */
	uint64_t rate_limit;
	uint64_t rate_start_ns;
	uint64_t rate_bytes;
};

/* fd backend; with own_fd the fd is closed by stream_close(). */
int stream_open_fd(struct stream *s, int fd, bool own_fd) __must_check;
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
 * With check_peer: has the other side sent something (or closed)? Waits
 * up to timeout_ms for it (0: only look). 1 if it has, 0 if not (or a
 * signal came), -errno if the socket cannot be polled. Bytes a read has
 * already buffered count too: poll() no longer sees them. A destination
 * speaks while we write to acknowledge rounds or to refuse, so a writer
 * calls this now and then to stop streaming into a peer that gave up.
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

#endif
