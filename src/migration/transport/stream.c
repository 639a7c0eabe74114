/*
 * Stream I/O over the backends, with a read buffer for the fd backend
 * (records are read header first, then body: small reads would otherwise
 * each cost a syscall) and a token-bucket write rate limit.
 */
#include "migration/transport/stream.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"

static ssize_t fd_readv(struct stream *s, const struct iovec *iov, int iovcnt)
{
	ssize_t r;

	do {
		r = readv(s->fd, iov, iovcnt);
	} while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

static ssize_t fd_writev(struct stream *s, const struct iovec *iov, int iovcnt)
{
	ssize_t r;

	do {
		r = writev(s->fd, iov, MIN(iovcnt, IOV_MAX));
	} while (r < 0 && errno == EINTR);
	if (r == 0)
		return -EIO;
	return r < 0 ? -errno : r;
}

static void fd_close(struct stream *s)
{
	if (s->own_fd && s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	free(s->rbuf);
	s->rbuf = NULL;
}

static int no_flush(struct stream *s)
{
	return 0;
}

static const struct stream_ops fd_ops = {
	.readv = fd_readv,
	.writev = fd_writev,
	.flush = no_flush,
	.close = fd_close,
};

static ssize_t mem_readv(struct stream *s, const struct iovec *iov, int iovcnt)
{
	size_t n = 0, left = s->mem_len - s->mem_pos, k;
	int i;

	for (i = 0; i < iovcnt && left; i++) {
		k = MIN(iov[i].iov_len, left);
		if (!k)
			continue; /* iov_base may be NULL: not for memcpy */
		memcpy(iov[i].iov_base, s->mem + s->mem_pos, k);
		s->mem_pos += k;
		left -= k;
		n += k;
	}
	return n;
}

static int mem_grow(struct stream *s, size_t need)
{
	size_t cap = s->mem_cap ? s->mem_cap : 4096;
	uint8_t *p;

	while (cap < need)
		cap *= 2;
	p = realloc(s->mem, cap);
	if (!p)
		return -ENOMEM;
	s->mem = p;
	s->mem_cap = cap;
	return 0;
}

static ssize_t mem_writev(struct stream *s, const struct iovec *iov, int iovcnt)
{
	size_t n = 0;
	int i;

	for (i = 0; i < iovcnt; i++) {
		if (!iov[i].iov_len)
			continue; /* iov_base may be NULL: not for memcpy */
		if (s->mem_len + iov[i].iov_len > s->mem_cap &&
		    mem_grow(s, s->mem_len + iov[i].iov_len))
			return -ENOMEM;
		memcpy(s->mem + s->mem_len, iov[i].iov_base, iov[i].iov_len);
		s->mem_len += iov[i].iov_len;
		n += iov[i].iov_len;
	}
	return n ? (ssize_t)n : -EINVAL;
}

static void mem_close(struct stream *s)
{
	if (s->mem_owned)
		free(s->mem);
	s->mem = NULL;
}

static const struct stream_ops mem_ops = {
	.readv = mem_readv,
	.writev = mem_writev,
	.flush = no_flush,
	.close = mem_close,
};

int stream_open_fd(struct stream *s, int fd, bool own_fd)
{
	memset(s, 0, sizeof(*s));
	s->ops = &fd_ops;
	s->fd = fd;
	s->own_fd = own_fd;
	s->rbuf = malloc(STREAM_RBUF_SIZE);
	return s->rbuf ? 0 : -ENOMEM;
}

void stream_open_mem_read(struct stream *s, const void *buf, size_t len)
{
	memset(s, 0, sizeof(*s));
	s->ops = &mem_ops;
	s->fd = -1;
	s->mem = (uint8_t *)buf;
	s->mem_len = len;
}

void stream_open_mem_write(struct stream *s)
{
	memset(s, 0, sizeof(*s));
	s->ops = &mem_ops;
	s->fd = -1;
	s->mem_owned = true;
}

uint8_t *stream_mem_take(struct stream *s, size_t *len_out)
{
	uint8_t *p = s->mem;

	*len_out = s->mem_len;
	s->mem = NULL;
	s->mem_len = s->mem_cap = 0;
	return p;
}

int stream_flush(struct stream *s)
{
	int rc;

	if (s->error || !s->ops)
		return s->error;
	rc = s->ops->flush(s);
	return rc ? stream_set_error(s, rc) : 0;
}

void stream_close(struct stream *s)
{
	if (s->ops)
		s->ops->close(s);
	s->ops = NULL;
}

int stream_set_error(struct stream *s, int err)
{
	if (!s->error)
		s->error = err;
	return s->error;
}

/* Copy buffered input into iov, advancing iov; returns bytes copied. */
static size_t rbuf_drain(struct stream *s, struct iovec *iov, int iovcnt)
{
	size_t n = 0, k;
	int i;

	for (i = 0; i < iovcnt && s->rbuf_pos < s->rbuf_len; i++) {
		k = MIN(iov[i].iov_len, s->rbuf_len - s->rbuf_pos);
		memcpy(iov[i].iov_base, s->rbuf + s->rbuf_pos, k);
		iov[i].iov_base = (char *)iov[i].iov_base + k;
		iov[i].iov_len -= k;
		s->rbuf_pos += k;
		n += k;
	}
	return n;
}

static void iov_advance(struct iovec **iov, int *iovcnt, size_t n)
{
	while (*iovcnt && n >= (*iov)->iov_len) {
		n -= (*iov)->iov_len;
		(*iov)++;
		(*iovcnt)--;
	}
	if (*iovcnt) {
		(*iov)->iov_base = (char *)(*iov)->iov_base + n;
		(*iov)->iov_len -= n;
	}
	while (*iovcnt && !(*iov)->iov_len) {
		(*iov)++;
		(*iovcnt)--;
	}
}

static size_t iov_total(const struct iovec *iov, int iovcnt)
{
	size_t n = 0;
	int i;

	for (i = 0; i < iovcnt; i++)
		n += iov[i].iov_len;
	return n;
}

/* Refill the read buffer; -EPIPE at end of stream. */
static int rbuf_fill(struct stream *s)
{
	struct iovec v = { s->rbuf, STREAM_RBUF_SIZE };
	ssize_t r = s->ops->readv(s, &v, 1);

	if (r < 0)
		return stream_set_error(s, r);
	if (r == 0)
		return stream_set_error(s, -EPIPE);
	s->rbuf_pos = 0;
	s->rbuf_len = r;
	return 0;
}

int stream_readv(struct stream *s, struct iovec *iov, int iovcnt)
{
	size_t total = iov_total(iov, iovcnt);
	ssize_t r;

	if (s->error)
		return s->error;
	if (s->rbuf)
		rbuf_drain(s, iov, iovcnt);
	iov_advance(&iov, &iovcnt, 0);
	while (iovcnt) {
		/* Small reads go through the buffer, big ones straight in. */
		if (s->rbuf && iov_total(iov, iovcnt) < STREAM_RBUF_SIZE / 4) {
			if (rbuf_fill(s))
				return s->error;
			rbuf_drain(s, iov, iovcnt);
			iov_advance(&iov, &iovcnt, 0);
			continue;
		}
		r = s->ops->readv(s, iov, MIN(iovcnt, IOV_MAX));
		if (r <= 0)
			return stream_set_error(s, r ? r : -EPIPE);
		iov_advance(&iov, &iovcnt, r);
	}
	__atomic_add_fetch(&s->offset, total, __ATOMIC_RELAXED);
	return 0;
}

int stream_read(struct stream *s, void *buf, size_t len)
{
	struct iovec v = { buf, len };

	if (!len)
		return s->error;
	return stream_readv(s, &v, 1);
}

int stream_skip(struct stream *s, uint64_t len)
{
	uint8_t scratch[4096];

	while (len && !s->error) {
		size_t k = MIN(len, sizeof(scratch));

		if (stream_read(s, scratch, k))
			break;
		len -= k;
	}
	return s->error;
}

static void rate_wait(struct stream *s, size_t n)
{
	uint64_t now = time_mono_ns(), due;
	struct timespec ts;

	if (!s->rate_start_ns || now - s->rate_start_ns > NSEC_PER_SEC) {
		s->rate_start_ns = now; /* a new one-second window */
		s->rate_bytes = 0;
	}
	s->rate_bytes += n;
	due = s->rate_start_ns + s->rate_bytes * NSEC_PER_SEC / s->rate_limit;
	if (due > now) {
		ts.tv_sec = (due - now) / NSEC_PER_SEC;
		ts.tv_nsec = (due - now) % NSEC_PER_SEC;
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
}

int stream_writev(struct stream *s, struct iovec *iov, int iovcnt)
{
	size_t total = iov_total(iov, iovcnt);
	ssize_t r;

	if (s->error)
		return s->error;
	iov_advance(&iov, &iovcnt, 0);
	while (iovcnt) {
		r = s->ops->writev(s, iov, iovcnt);
		if (r < 0)
			return stream_set_error(s, r);
		iov_advance(&iov, &iovcnt, r);
	}
	/* Atomic: another thread reports progress from it. */
	__atomic_add_fetch(&s->offset, total, __ATOMIC_RELAXED);
	if (s->rate_limit)
		rate_wait(s, total);
	return 0;
}

int stream_write(struct stream *s, const void *buf, size_t len)
{
	struct iovec v = { (void *)buf, len };

	if (!len)
		return s->error;
	return stream_writev(s, &v, 1);
}

int stream_peer_wait(struct stream *s, int timeout_ms)
{
	struct pollfd p = { .fd = s->fd, .events = POLLIN };
	int r;

	if (!s->check_peer || s->fd < 0)
		return 0;
	if (s->rbuf_pos < s->rbuf_len)
		return 1;
	r = poll(&p, 1, timeout_ms);
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	return r > 0;
}

int stream_send_nowait(struct stream *s, const void *buf, size_t len)
{
	ssize_t r;

	if (s->fd < 0)
		return -EBADF;
	r = send(s->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (r < 0)
		return -errno;
	return (size_t)r == len ? 0 : -EAGAIN;
}

void stream_set_rate_limit(struct stream *s, uint64_t bytes_per_sec)
{
	s->rate_limit = bytes_per_sec;
	s->rate_start_ns = 0;
}
