/*
 * Stream I/O over the backends, with a read buffer for the fd backend
 * (records are read header first, then body: small reads would otherwise
 * each cost a syscall), a token-bucket write rate limit, and the bounded
 * waits of stream.h: before every transfer the deadline and the cancel fd
 * are checked (a peer that keeps sending must not hide a signal or a
 * passed deadline), and a transfer that would block polls the fd and the
 * cancel fd for no longer than the nearer of the two limits.
 */
#include "migration/transport/stream.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/util.h"

/* Is the cancel fd readable? Checked before every transfer. */
static bool cancel_raised(const struct stream *s)
{
	struct pollfd p = { .fd = s->cancel_fd, .events = POLLIN };

	return s->has_cancel && poll(&p, 1, 0) > 0;
}

/* 0 if a transfer may be tried now, else -ETIMEDOUT or -ECANCELED. */
int stream_io_gate(struct stream *s, uint64_t now)
{
	if (cancel_raised(s))
		return -ECANCELED;
	if (s->deadline_ns && now >= s->deadline_ns) {
		s->timed_out = STREAM_TIMEOUT_DEADLINE;
		return -ETIMEDOUT;
	}
	return 0;
}

/*
 * Milliseconds poll may wait before a limit passes (-1: no limit), or
 * -ETIMEDOUT (with timed_out set) if one has already passed.
 */
static int wait_budget_ms(struct stream *s, uint64_t now, uint64_t since)
{
	uint64_t end = UINT64_MAX;
	enum stream_timeout which = STREAM_TIMEOUT_NONE;

	if (s->stall_ms) {
		end = MAX(s->progress_ns, since) + s->stall_ms * NSEC_PER_MSEC;
		which = STREAM_TIMEOUT_STALL;
	}
	if (s->deadline_ns && s->deadline_ns <= end) {
		end = s->deadline_ns;
		which = STREAM_TIMEOUT_DEADLINE;
	}
	if (end == UINT64_MAX)
		return -1;
	if (now >= end) {
		s->timed_out = which;
		return -ETIMEDOUT;
	}
	/* Round up: waking a little late beats spinning on a 0 ms poll. */
	return MIN((end - now + NSEC_PER_MSEC - 1) / NSEC_PER_MSEC,
		   (uint64_t)INT32_MAX);
}

/*
 * The fd would block: wait for events on it, the cancel fd or a limit.
 * 0 when the fd is ready (or failed: the retried call says how).
 */
int stream_io_wait(struct stream *s, short events, uint64_t since)
{
	struct pollfd p[2] = { { .fd = events & POLLOUT ? s->wfd : s->fd,
				 .events = events },
			       { .fd = s->cancel_fd, .events = POLLIN } };
	uint64_t now;
	int ms, r, rc;

	for (;;) {
		now = time_mono_ns();
		rc = stream_io_gate(s, now);
		if (rc)
			return rc;
		ms = wait_budget_ms(s, now, since);
		if (ms < -1)
			return ms;
		r = poll(p, s->has_cancel ? 2 : 1, ms);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r > 0 && p[0].revents)
			return 0;
	}
}

/* One transfer on the fd, waiting within the stream's limits. */
static ssize_t fd_io(struct stream *s, const struct iovec *iov, int iovcnt,
		     bool write)
{
	uint64_t since = time_mono_ns();
	ssize_t r;
	int rc;

	for (;;) {
		rc = stream_io_gate(s, time_mono_ns());
		if (rc)
			return rc;
		r = write ? writev(s->wfd, iov, MIN(iovcnt, IOV_MAX)) :
			    readv(s->fd, iov, iovcnt);
		if (r >= 0)
			break;
		if (errno == EINTR)
			continue;
		if (!s->poll_io || (errno != EAGAIN && errno != EWOULDBLOCK))
			return -errno;
		rc = stream_io_wait(s, write ? POLLOUT : POLLIN, since);
		if (rc)
			return rc;
	}
	if (r > 0)
		s->progress_ns = time_mono_ns();
	return r;
}

static ssize_t fd_readv(struct stream *s, const struct iovec *iov, int iovcnt)
{
	return fd_io(s, iov, iovcnt, false);
}

static ssize_t fd_writev(struct stream *s, const struct iovec *iov, int iovcnt)
{
	ssize_t r = fd_io(s, iov, iovcnt, true);

	return r == 0 ? -EIO : r;
}

static void fd_close(struct stream *s)
{
	if (s->own_fd && s->wfd >= 0 && s->wfd != s->fd)
		close(s->wfd);
	if (s->own_fd && s->fd >= 0)
		close(s->fd);
	s->fd = s->wfd = -1;
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
	s->fd = s->wfd = fd;
	s->own_fd = own_fd;
	s->rbuf = malloc(STREAM_RBUF_SIZE);
	return s->rbuf ? 0 : -ENOMEM;
}

int stream_open_fd_pair(struct stream *s, int rfd, int wfd, bool own_fd)
{
	int rc = stream_open_fd(s, rfd, own_fd);

	s->wfd = wfd;
	return rc;
}

void stream_open_mem_read(struct stream *s, const void *buf, size_t len)
{
	memset(s, 0, sizeof(*s));
	s->ops = &mem_ops;
	s->fd = s->wfd = -1;
	s->mem = (uint8_t *)buf;
	s->mem_len = len;
}

void stream_open_mem_write(struct stream *s)
{
	memset(s, 0, sizeof(*s));
	s->ops = &mem_ops;
	s->fd = s->wfd = -1;
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
	if (s->own_cancel)
		close(s->cancel_fd);
	s->own_cancel = s->has_cancel = false;
}

int stream_set_error(struct stream *s, int err)
{
	if (!s->error)
		s->error = err;
	return s->error;
}

void stream_clear_error(struct stream *s)
{
	s->error = 0;
	s->timed_out = STREAM_TIMEOUT_NONE;
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
	struct iovec v = { s->rbuf,
			   s->rbuf_max ? s->rbuf_max : STREAM_RBUF_SIZE };
	ssize_t r = stream_io_gate(s, time_mono_ns());

	if (!r)
		r = s->ops->readv(s, &v, 1);

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
		r = stream_io_gate(s, time_mono_ns());
		if (!r)
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

int stream_seek_ahead(struct stream *s, uint64_t len)
{
	size_t buffered = s->rbuf ? s->rbuf_len - s->rbuf_pos : 0;
	size_t take = MIN(len, (uint64_t)buffered);

	if (s->error)
		return s->error;
	if (s->ops != &fd_ops || s->poll_io)
		return stream_set_error(s, -ESPIPE);
	s->rbuf_pos += take;
	if (len > take && lseek(s->fd, len - take, SEEK_CUR) < 0)
		return stream_set_error(s, -errno);
	__atomic_add_fetch(&s->offset, len, __ATOMIC_RELAXED);
	return 0;
}

void stream_set_readahead(struct stream *s, size_t bytes)
{
	s->rbuf_max = MIN(bytes, (size_t)STREAM_RBUF_SIZE);
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

/* Sleep until the bucket allows n more bytes, or the stream is cancelled. */
static int rate_wait(struct stream *s, size_t n)
{
	uint64_t now = time_mono_ns(), due;
	struct pollfd p = { .fd = s->cancel_fd, .events = POLLIN };

	if (!s->rate_start_ns || now - s->rate_start_ns > NSEC_PER_SEC) {
		s->rate_start_ns = now; /* a new one-second window */
		s->rate_bytes = 0;
	}
	s->rate_bytes += n;
	due = s->rate_start_ns + s->rate_bytes * NSEC_PER_SEC / s->rate_limit;
	while ((now = time_mono_ns()) < due) {
		if (poll(&p, s->has_cancel, (due - now) / NSEC_PER_MSEC + 1) >
		    0)
			return stream_set_error(s, -ECANCELED);
	}
	return 0;
}

int stream_writev(struct stream *s, struct iovec *iov, int iovcnt)
{
	size_t total = iov_total(iov, iovcnt);
	ssize_t r;

	if (s->error)
		return s->error;
	iov_advance(&iov, &iovcnt, 0);
	while (iovcnt) {
		r = stream_io_gate(s, time_mono_ns());
		if (!r)
			r = s->ops->writev(s, iov, iovcnt);
		if (r < 0)
			return stream_set_error(s, r);
		iov_advance(&iov, &iovcnt, r);
	}
	/* Atomic: another thread reports progress from it. */
	__atomic_add_fetch(&s->offset, total, __ATOMIC_RELAXED);
	if (s->rate_limit)
		return rate_wait(s, total);
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
	struct pollfd p[2] = { { .fd = s->fd, .events = POLLIN },
			       { .fd = s->cancel_fd, .events = POLLIN } };
	int r;

	if (s->fd < 0)
		return 0;
	if (s->rbuf_pos < s->rbuf_len)
		return 1;
	if (s->ops && s->ops->pending && s->ops->pending(s))
		return 1;
	r = poll(p, s->has_cancel ? 2 : 1, timeout_ms);
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	if (r > 0 && !p[0].revents)
		return -ECANCELED;
	return r > 0;
}

int stream_send_nowait(struct stream *s, const void *buf, size_t len)
{
	ssize_t r;

	if (s->ops && s->ops->send_nowait)
		return s->ops->send_nowait(s, buf, len);
	if (s->wfd < 0)
		return -EBADF;
	r = send(s->wfd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	/* A pipe (ssh's stdio): non-blocking already (poll_io), and a
	 * write of up to PIPE_BUF bytes is all or nothing. */
	if (r < 0 && errno == ENOTSOCK && s->poll_io && len <= PIPE_BUF)
		r = write(s->wfd, buf, len);
	if (r < 0)
		return -errno;
	return (size_t)r == len ? 0 : -EAGAIN;
}

void stream_set_rate_limit(struct stream *s, uint64_t bytes_per_sec)
{
	s->rate_limit = bytes_per_sec;
	s->rate_start_ns = 0;
}

/* Sockets and pipes can block without end: they get polled waits. */
int stream_enable_poll_io(struct stream *s)
{
	struct stat st;
	int rc;

	/* The fd backend, or one that works on its fd (TLS: priv). */
	if (s->poll_io || !s->ops || (s->ops != &fd_ops && !s->priv) ||
	    s->fd < 0)
		return 0;
	if (fstat(s->fd, &st) < 0)
		return -errno;
	/* Regular files (and terminals, shared with a shell) block only
	 * briefly: the checks between calls do for them. */
	if (!S_ISSOCK(st.st_mode) && !S_ISFIFO(st.st_mode))
		return 0;
	rc = fd_set_nonblock(s->fd, true);
	if (!rc && s->wfd != s->fd)
		rc = fd_set_nonblock(s->wfd, true);
	if (rc)
		return rc;
	s->poll_io = true;
	s->progress_ns = time_mono_ns();
	return 0;
}

int stream_set_stall_timeout(struct stream *s, unsigned int ms)
{
	s->stall_ms = ms;
	return stream_enable_poll_io(s);
}

void stream_set_deadline(struct stream *s, uint64_t mono_ns, const char *what)
{
	s->deadline_ns = mono_ns;
	snprintf(s->deadline_what, sizeof(s->deadline_what), "%s",
		 what ? what : "the deadline");
	if (stream_enable_poll_io(s))
		return; /* the checks between calls still apply */
}

void stream_set_deadline_in(struct stream *s, unsigned int ms, const char *what)
{
	stream_set_deadline(s, ms ? time_mono_ns() + ms * NSEC_PER_MSEC : 0,
			    what);
}

void stream_set_cancel_fd(struct stream *s, int fd)
{
	if (s->own_cancel)
		close(s->cancel_fd);
	s->own_cancel = false;
	s->has_cancel = fd >= 0;
	s->cancel_fd = fd;
	if (stream_enable_poll_io(s))
		return; /* the checks between calls still apply */
}

int stream_cancel_init(struct stream *s)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	if (fd < 0)
		return -errno;
	stream_set_cancel_fd(s, fd);
	s->own_cancel = true;
	return 0;
}

int stream_cancel_raise(int efd)
{
	uint64_t one = 1;

	/* EAGAIN: the counter is full, so it is raised already. */
	if (write(efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return -errno;
	return 0;
}

int stream_cancel(struct stream *s)
{
	return s->has_cancel ? stream_cancel_raise(s->cancel_fd) : -EBADF;
}

const char *stream_error_text(const struct stream *s, char *buf, size_t len)
{
	if (s->error == -ETIMEDOUT && s->timed_out == STREAM_TIMEOUT_STALL)
		snprintf(buf, len, "no progress for %.1f s (stall timeout)",
			 s->stall_ms / 1000.0);
	else if (s->error == -ETIMEDOUT &&
		 s->timed_out == STREAM_TIMEOUT_DEADLINE)
		snprintf(buf, len, "past %s", s->deadline_what);
	else if (s->error == -ECANCELED)
		snprintf(buf, len, "cancelled");
	else
		snprintf(buf, len, "%s", strerror(-s->error));
	return buf;
}
