/*
 * The source's extra connections (multiconn.h): opened after the main
 * stream's header, each with its own stream, compressor and sending
 * thread; the thread lives for one part of one round, so the driver
 * stays a straight line: begin, send its own chunks, join.
 */
#include "migration/multiconn.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "common/log.h"

static void conn_error(struct conn_tx *x, const char *what)
{
	char buf[160];

	log_err("migration connection %u of %u: %s: %s", x->index + 1,
		x->mc->count, what, stream_error_text(&x->s, buf, sizeof(buf)));
}

/* One extra connection: connected, hello sent, framed from the hello. */
static int open_one(struct multiconn_tx *mc, struct conn_tx *x,
		    struct stream *s, const struct stream_header *h,
		    enum compress_mode mode, multiconn_connect_fn connect,
		    void *opaque)
{
	struct conn_hello hello;
	int fd, rc;

	rc = connect(opaque, &fd);
	if (rc)
		return rc;
	rc = stream_open_fd(&x->s, fd, true);
	if (rc)
		return rc;
	x->open = true;
	rc = stream_set_stall_timeout(&x->s, s->stall_ms);
	if (rc)
		return rc;
	if (s->has_cancel)
		stream_set_cancel_fd(&x->s, s->cancel_fd);
	conn_hello_init(&hello, h, x->index, mc->count);
	stream_write(&x->s, &hello, sizeof(hello));
	rec_stream_start_conn(&x->s, &hello);
	rc = compress_attach(&x->s, mode);
	if (!rc)
		rc = x->s.error;
	if (rc)
		conn_error(x, "cannot start it");
	return rc;
}

int multiconn_tx_open(struct multiconn_tx *mc, struct stream *s,
		      const struct stream_header *h, unsigned int count,
		      enum compress_mode mode, multiconn_connect_fn connect,
		      void *opaque)
{
	struct rec_connections rec = { .count = count };
	unsigned int i;
	int rc;

	memset(mc, 0, sizeof(*mc));
	if (count <= 1)
		return 0;
	if (count > CONN_MAX || !connect)
		return stream_set_error(s, -EINVAL);
	mc->count = count;
	rc = rec_write_buf(s, REC_CONNECTIONS, &rec, sizeof(rec));
	for (i = 1; !rc && i < count; i++) {
		mc->x[i].mc = mc;
		mc->x[i].index = i;
		rc = open_one(mc, &mc->x[i], s, h, mode, connect, opaque);
	}
	/* The limit is the link's: each connection gets its share. */
	if (!rc && s->rate_limit)
		stream_set_rate_limit(s, s->rate_limit / count);
	return rc ? stream_set_error(s, rc) : 0;
}

bool multiconn_tx_mine(const struct multiconn_tx *mc, uint64_t chunk)
{
	if (mc->count <= 1)
		return true;
	return !__atomic_load_n(&mc->failed, __ATOMIC_ACQUIRE) &&
	       chunk % mc->count == 0;
}

/*
 * One connection failed: the migration has. Shut the others so their
 * threads stop now rather than after their share (or a stall timeout).
 */
static void fail_all(struct multiconn_tx *mc)
{
	unsigned int i;

	__atomic_store_n(&mc->failed, true, __ATOMIC_RELEASE);
	for (i = 1; i < mc->count; i++)
		if (mc->x[i].open)
			shutdown(mc->x[i].s.fd, SHUT_RDWR);
}

/* One extra connection's chunks of the part. */
static void *send_share(void *opaque)
{
	struct conn_tx *x = opaque;
	struct multiconn_tx *mc = x->mc;
	uint64_t c, lo, hi;

	for (c = mc->first / mc->step + x->index; c * mc->step < mc->last;
	     c += mc->count) {
		lo = MAX(c * mc->step, mc->first);
		hi = MIN((c + 1) * mc->step, mc->last);
		if (mc->which && bitmap_next_set(mc->which, lo) >= hi)
			continue; /* nothing dirty in this chunk */
		if (__atomic_load_n(&mc->failed, __ATOMIC_ACQUIRE))
			break;
		if (pages_send_range(&x->s, mc->mem, mc->which, lo, hi,
				     mc->flags, &x->ps)) {
			fail_all(mc);
			break;
		}
	}
	return NULL;
}

int multiconn_tx_begin(struct multiconn_tx *mc, struct stream *s,
		       struct guest_mem *mem, const struct bitmap *which,
		       unsigned int flags, uint64_t first, uint64_t last,
		       uint64_t step)
{
	struct conn_tx *x;
	unsigned int i;
	int r;

	if (mc->count <= 1)
		return 0;
	mc->mem = mem;
	mc->which = which;
	mc->flags = flags;
	mc->first = first;
	mc->last = last;
	mc->step = step;
	for (i = 1; i < mc->count; i++) {
		x = &mc->x[i];
		memset(&x->ps, 0, sizeof(x->ps));
		/* The main stream's limits hold for its extras. */
		if (x->s.rate_limit != s->rate_limit)
			stream_set_rate_limit(&x->s, s->rate_limit);
		stream_set_deadline(&x->s, s->deadline_ns, s->deadline_what);
		r = pthread_create(&x->thread, NULL, send_share, x);
		if (r)
			return stream_set_error(s, -r);
		x->running = true;
	}
	return 0;
}

int multiconn_tx_join(struct multiconn_tx *mc, struct stream *s,
		      struct page_stats *ps)
{
	struct conn_tx *x;
	unsigned int i;

	for (i = 1; i < mc->count; i++) {
		x = &mc->x[i];
		if (!x->running)
			continue;
		pthread_join(x->thread, NULL);
		x->running = false;
		ps->normal += x->ps.normal;
		ps->zero += x->ps.zero;
		ps->skipped += x->ps.skipped;
		ps->records += x->ps.records;
		x->pages_round += x->ps.normal + x->ps.zero;
		if (x->s.error && !s->error) {
			conn_error(x, "sending pages");
			stream_set_error(s, x->s.error);
		}
	}
	return s->error;
}

int multiconn_tx_round(struct multiconn_tx *mc, struct stream *s,
		       uint32_t round)
{
	struct rec_round rec = { .round = round };
	struct conn_tx *x;
	unsigned int i;

	for (i = 1; i < mc->count && !s->error; i++) {
		x = &mc->x[i];
		rec.pages_sent = x->pages_round;
		x->pages_round = 0;
		if (rec_write_buf(&x->s, REC_ROUND, &rec, sizeof(rec))) {
			conn_error(x, "ending a round");
			stream_set_error(s, x->s.error);
		}
	}
	return s->error;
}

int multiconn_tx_finish(struct multiconn_tx *mc, struct stream *s)
{
	struct conn_tx *x;
	unsigned int i;

	for (i = 1; i < mc->count && !s->error; i++) {
		x = &mc->x[i];
		if (rec_write_end(&x->s) || stream_flush(&x->s)) {
			conn_error(x, "ending its stream");
			stream_set_error(s, x->s.error);
		}
	}
	return s->error;
}

uint64_t multiconn_tx_close(struct multiconn_tx *mc,
			    struct compress_counters *n)
{
	uint64_t bytes = 0;
	unsigned int i;

	for (i = 1; i < mc->count; i++) {
		struct conn_tx *x = &mc->x[i];

		if (x->running) {
			/* Not joined (a failed begin): its waits are bounded. */
			pthread_join(x->thread, NULL);
			x->running = false;
		}
		if (!x->open)
			continue;
		bytes += x->s.offset;
		compress_detach(&x->s, n);
		stream_close(&x->s);
		x->open = false;
	}
	mc->count = 0;
	return bytes;
}
