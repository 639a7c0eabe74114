/*
 * The destination's extra connections (multiconn.h): the inbox the QUERY
 * server fills, the reader threads, and the round barrier they share
 * with the main reader. Every wait is bounded: a reader waits on its
 * socket within the stall timeout, and the barrier gives up when no
 * connection moved a byte for the stall timeout.
 */
#include "migration/multiconn.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/why.h"
#include "migration/restore.h"

#define HELLO_WAIT_MS 1000 /* for a new connection's first bytes */
#define BARRIER_SLICE_MS 100 /* the barrier looks at progress this often */

/* ---- inbox ---- */

struct conn_inbox {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int fd[CONN_MAX];
	unsigned int n;
};

struct conn_inbox *conn_inbox_new(void)
{
	struct conn_inbox *in = calloc(1, sizeof(*in));

	if (!in)
		return NULL;
	pthread_mutex_init(&in->lock, NULL);
	pthread_cond_init(&in->cond, NULL);
	return in;
}

void conn_inbox_free(struct conn_inbox *in)
{
	if (!in)
		return;
	while (in->n)
		close(in->fd[--in->n]);
	pthread_cond_destroy(&in->cond);
	pthread_mutex_destroy(&in->lock);
	free(in);
}

/* Do the first 4 bytes on fd (peeked, not read) say hello? */
static bool starts_with_hello(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t end = time_mono_ns() + HELLO_WAIT_MS * NSEC_PER_MSEC, now;
	uint32_t magic;
	ssize_t r;

	for (;;) {
		r = recv(fd, &magic, sizeof(magic), MSG_PEEK | MSG_DONTWAIT);
		if (r == (ssize_t)sizeof(magic))
			return magic == CONN_HELLO_MAGIC;
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
			return false;
		now = time_mono_ns();
		if (now >= end)
			return false;
		poll(&p, 1, (end - now) / NSEC_PER_MSEC + 1);
	}
}

bool conn_inbox_offer(struct conn_inbox *in, int fd)
{
	if (!starts_with_hello(fd))
		return false;
	pthread_mutex_lock(&in->lock);
	if (in->n < CONN_MAX) {
		in->fd[in->n++] = fd;
		fd = -1;
	}
	pthread_cond_broadcast(&in->cond);
	pthread_mutex_unlock(&in->lock);
	if (fd >= 0)
		close(fd); /* more than a migration can have */
	return true;
}

/* The next offered connection, waiting until deadline (CLOCK_REALTIME). */
static int inbox_take(struct conn_inbox *in, const struct timespec *deadline,
		      int *fd_out)
{
	int r = 0;

	pthread_mutex_lock(&in->lock);
	while (!in->n && r != ETIMEDOUT)
		r = pthread_cond_timedwait(&in->cond, &in->lock, deadline);
	if (in->n) {
		*fd_out = in->fd[0];
		memmove(in->fd, in->fd + 1, --in->n * sizeof(in->fd[0]));
		r = 0;
	}
	pthread_mutex_unlock(&in->lock);
	return r ? -ETIMEDOUT : 0;
}

/* ---- failure and the barrier ---- */

void multiconn_rx_init(struct multiconn_rx *mc, struct conn_inbox *inbox,
		       struct stream *main, unsigned int stall_ms,
		       int cancel_fd)
{
	memset(mc, 0, sizeof(*mc));
	mc->inbox = inbox;
	mc->main = main;
	mc->stall_ms = stall_ms ? stall_ms : 10000;
	mc->cancel_fd = cancel_fd;
	pthread_mutex_init(&mc->lock, NULL);
	pthread_cond_init(&mc->cond, NULL);
}

/* Wake every reader: sockets shut, so blocked reads end at once. */
static void shut_all(struct multiconn_rx *mc)
{
	unsigned int i;

	for (i = 1; i < mc->count; i++)
		if (mc->x[i].open)
			shutdown(mc->x[i].s.fd, SHUT_RDWR);
	if (mc->main && mc->main->fd >= 0)
		shutdown(mc->main->fd, SHUT_RD);
}

/* The first failure wins; the lock is held. */
static void fail_locked(struct multiconn_rx *mc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void fail_locked(struct multiconn_rx *mc, const char *fmt, ...)
{
	va_list ap;

	if (mc->failed)
		return;
	va_start(ap, fmt);
	vsnprintf(mc->why, sizeof(mc->why), fmt, ap);
	va_end(ap);
	mc->failed = true;
	pthread_cond_broadcast(&mc->cond);
	shut_all(mc);
}

static void conn_failed(struct conn_rx *x)
{
	struct multiconn_rx *mc = x->mc;
	char what[300];

	restore_describe(&x->err, what, sizeof(what));
	pthread_mutex_lock(&mc->lock);
	fail_locked(mc, "connection %u of %u: %s", x->index + 1, mc->count,
		    what);
	pthread_mutex_unlock(&mc->lock);
}

/* Has every connection passed ROUND n - 1 (or ended)? Lock held. */
static bool all_passed(const struct multiconn_rx *mc, uint32_t n)
{
	unsigned int i;

	if (mc->main_rounds < n)
		return false;
	for (i = 1; i < mc->count; i++)
		if (!mc->x[i].ended && mc->x[i].rounds < n)
			return false;
	return true;
}

/* Bytes read on every connection: the barrier's sign of progress. */
static uint64_t progress(const struct multiconn_rx *mc)
{
	uint64_t sum = mc->main ? mc->main->offset : 0;
	unsigned int i;

	for (i = 1; i < mc->count; i++)
		sum += __atomic_load_n(&mc->x[i].s.offset, __ATOMIC_RELAXED);
	return sum;
}

static void deadline_in(struct timespec *ts, unsigned int ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

/*
 * *mine passed ROUND round: wait until every connection did. Lock held.
 * Gives up when nothing moved on any connection for the stall timeout.
 */
static int barrier_locked(struct multiconn_rx *mc, uint32_t *mine,
			  uint32_t round)
{
	uint64_t last = progress(mc), still = time_mono_ns(), now;
	struct timespec ts;

	*mine = round + 1;
	pthread_cond_broadcast(&mc->cond);
	while (!mc->failed && !all_passed(mc, round + 1)) {
		deadline_in(&ts, BARRIER_SLICE_MS);
		pthread_cond_timedwait(&mc->cond, &mc->lock, &ts);
		now = time_mono_ns();
		if (progress(mc) != last) {
			last = progress(mc);
			still = now;
		} else if (now - still >= mc->stall_ms * NSEC_PER_MSEC) {
			fail_locked(
				mc,
				"round %u: the other connections sent nothing for %.1f s (stall timeout)",
				round, mc->stall_ms / 1000.0);
		}
	}
	return mc->failed ? -ECONNABORTED : 0;
}

/* ---- the readers ---- */

static int conn_round(struct conn_rx *x, const struct rec_hdr *h)
{
	struct multiconn_rx *mc = x->mc;
	struct rec_round r;
	int rc;

	if (h->length != sizeof(r))
		return why_set(x->err.why, sizeof(x->err.why), -EINVAL,
			       "length %u, expected %zu", h->length, sizeof(r));
	if (rec_read_body(&x->s, h, &r, &x->err))
		return x->s.error;
	if (rec_body_check(REC_ROUND, &r, h->length, &mc->lim, x->err.why,
			   sizeof(x->err.why)))
		return -EINVAL;
	if (r.round != x->rounds)
		return why_set(x->err.why, sizeof(x->err.why), -EINVAL,
			       "round %u, expected round %u", r.round,
			       x->rounds);
	pthread_mutex_lock(&mc->lock);
	rc = barrier_locked(mc, &x->rounds, r.round);
	pthread_mutex_unlock(&mc->lock);
	if (rc)
		snprintf(x->err.why, sizeof(x->err.why), "%s", mc->why);
	return rc;
}

static int conn_end(struct conn_rx *x, const struct rec_hdr *h)
{
	struct multiconn_rx *mc = x->mc;

	if (rec_read_end(&x->s, h, &mc->lim, &x->err))
		return x->s.error;
	pthread_mutex_lock(&mc->lock);
	x->ended = true;
	pthread_cond_broadcast(&mc->cond);
	pthread_mutex_unlock(&mc->lock);
	return 0;
}

static int conn_record(struct conn_rx *x, const struct rec_hdr *h)
{
	uint64_t n = 0;
	int rc;

	switch (h->type) {
	case REC_PAGE_DATA:
	case REC_PAGE_ZSTD:
		rc = pages_recv(&x->prx, &x->s, x->mc->mem, h, &x->mc->lim,
				NULL, &x->err, &n);
		x->pages += n;
		return rc;
	case REC_ROUND:
		return conn_round(x, h);
	case REC_END:
		return conn_end(x, h);
	default:
		return why_set(x->err.why, sizeof(x->err.why), -EINVAL,
			       "not a record an extra connection carries");
	}
}

int multiconn_rx_read(struct conn_rx *x)
{
	struct rec_hdr h;
	int rc = 0;

	while (!rc && !x->ended) {
		rc = rec_read_hdr(&x->s, &h, &x->err);
		if (!rc)
			rc = conn_record(x, &h);
	}
	return rc;
}

static void *conn_reader(void *opaque)
{
	struct conn_rx *x = opaque;

	if (multiconn_rx_read(x))
		conn_failed(x);
	return NULL;
}

/* ---- starting and ending ---- */

/* The next connection from the inbox, as a stream with our limits. */
static int take_stream(struct multiconn_rx *mc, const struct timespec *dl,
		       unsigned int got, struct stream *s, char *why,
		       size_t whylen)
{
	int fd, rc;

	rc = inbox_take(mc->inbox, dl, &fd);
	if (rc)
		return why_set(
			why, whylen, rc,
			"extra connections: %u of %u came within the stall timeout (%.1f s)",
			got, mc->count - 1, mc->stall_ms / 1000.0);
	rc = stream_open_fd(s, fd, true);
	if (rc) {
		close(fd);
		return why_set(why, whylen, rc, "extra connection: %s",
			       strerror(-rc));
	}
	rc = stream_set_stall_timeout(s, mc->stall_ms);
	if (mc->cancel_fd >= 0)
		stream_set_cancel_fd(s, mc->cancel_fd);
	return rc;
}

/* One extra connection: its hello names which one it is. */
static int start_one(struct multiconn_rx *mc, const struct stream_header *h,
		     const struct timespec *dl, unsigned int got, char *why,
		     size_t whylen)
{
	struct conn_hello hello;
	struct stream s;
	struct conn_rx *x;
	int rc, r;

	rc = take_stream(mc, dl, got, &s, why, whylen);
	if (rc)
		return rc;
	if (stream_read(&s, &hello, sizeof(hello)))
		rc = why_set(why, whylen, -EPROTO,
			     "extra connection: no hello (%s)",
			     strerror(-s.error));
	else
		rc = conn_hello_check(&hello, h, mc->count, why, whylen);
	if (!rc && mc->x[hello.index].open)
		rc = why_set(why, whylen, -EINVAL,
			     "extra connection %u came twice", hello.index + 1);
	if (rc) {
		stream_close(&s);
		return rc;
	}
	x = &mc->x[hello.index];
	x->s = s;
	x->open = true;
	rec_stream_start_conn(&x->s, &hello);
	rc = page_rx_init(&x->prx);
	if (rc)
		return why_set(why, whylen, rc, "out of memory");
	r = pthread_create(&x->thread, NULL, conn_reader, x);
	if (r)
		return why_set(why, whylen, -r, "cannot start a reader: %s",
			       strerror(r));
	x->running = true;
	return 0;
}

int multiconn_rx_start(struct multiconn_rx *mc, const struct stream_header *h,
		       unsigned int count, struct guest_mem *mem,
		       const struct rec_limits *lim, char *why, size_t whylen)
{
	struct timespec dl;
	unsigned int i;
	int rc = 0;

	if (!mc->inbox)
		return why_set(
			why, whylen, -EINVAL,
			"takes one connection here, not %u (--connections 1)",
			count);
	if (mc->count)
		return why_set(why, whylen, -EINVAL,
			       "a second CONNECTIONS record");
	mc->count = count;
	mc->mem = mem;
	mc->lim = *lim;
	for (i = 1; i < count; i++) {
		mc->x[i].mc = mc;
		mc->x[i].index = i;
	}
	deadline_in(&dl, mc->stall_ms);
	for (i = 1; !rc && i < count; i++)
		rc = start_one(mc, h, &dl, i - 1, why, whylen);
	return rc;
}

int multiconn_rx_round(struct multiconn_rx *mc, uint32_t round, char *why,
		       size_t whylen)
{
	int rc;

	if (mc->count <= 1)
		return 0;
	pthread_mutex_lock(&mc->lock);
	if (round != mc->main_rounds)
		fail_locked(mc, "main connection: round %u, expected round %u",
			    round, mc->main_rounds);
	rc = barrier_locked(mc, &mc->main_rounds, round);
	if (rc)
		snprintf(why, whylen, "%s", mc->why);
	pthread_mutex_unlock(&mc->lock);
	return rc;
}

int multiconn_rx_finish(struct multiconn_rx *mc, char *why, size_t whylen)
{
	unsigned int i;
	int rc = 0;

	for (i = 1; i < mc->count; i++) {
		if (mc->x[i].running)
			pthread_join(mc->x[i].thread, NULL);
		mc->x[i].running = false;
	}
	pthread_mutex_lock(&mc->lock);
	for (i = 1; i < mc->count && !mc->failed; i++)
		if (!mc->x[i].ended)
			fail_locked(mc, "connection %u of %u ended without END",
				    i + 1, mc->count);
	if (mc->failed)
		rc = why_set(why, whylen, -ECONNABORTED, "%s", mc->why);
	pthread_mutex_unlock(&mc->lock);
	return rc;
}

const char *multiconn_rx_failure(struct multiconn_rx *mc)
{
	const char *why;

	pthread_mutex_lock(&mc->lock);
	why = mc->failed ? mc->why : "";
	pthread_mutex_unlock(&mc->lock);
	return why;
}

void multiconn_rx_totals(struct multiconn_rx *mc, uint64_t *pages,
			 uint64_t *data_pages, uint64_t *zstd_batches,
			 uint64_t *zstd_bytes, uint64_t *bytes)
{
	unsigned int i;

	for (i = 1; i < mc->count; i++) {
		struct conn_rx *x = &mc->x[i];

		*pages += x->pages;
		*data_pages += x->prx.data_pages;
		*zstd_batches += x->prx.zstd_batches;
		*zstd_bytes += x->prx.zstd_bytes;
		*bytes += x->s.offset;
	}
}

void multiconn_rx_destroy(struct multiconn_rx *mc)
{
	bool running = false;
	unsigned int i;

	for (i = 1; i < mc->count; i++)
		running |= mc->x[i].running;
	/* Readers still at work (the main stream failed): stop them. */
	if (running) {
		pthread_mutex_lock(&mc->lock);
		fail_locked(mc, "%s", "the main connection failed");
		pthread_mutex_unlock(&mc->lock);
	}
	for (i = 1; i < mc->count; i++) {
		struct conn_rx *x = &mc->x[i];

		if (x->running)
			pthread_join(x->thread, NULL);
		x->running = false;
		if (x->open) {
			page_rx_destroy(&x->prx);
			stream_close(&x->s);
		}
		x->open = false;
	}
}
