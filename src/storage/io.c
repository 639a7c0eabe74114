/*
 * Requests: checking and starting them on a queue, completing them on
 * the owner's thread, waiting for a queue to drain, and the synchronous
 * execution a pool thread does. Transfers that end early (a short read
 * or write) continue from where they stopped; direct I/O with guest
 * buffers that are not aligned goes through an aligned bounce buffer.
 */
#include "storage/internal.h"
#include "storage/qcow2.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/falloc.h>
#include <linux/fs.h>

#include "common/clock.h"
#include "common/log.h"

/* Zeroes to write where the file system cannot zero a range itself. */
static const char zero_buf[256 * 1024] __attribute__((aligned(4096)));

static bool is_transfer(const struct disk_req *req)
{
	return req->op == DISK_OP_READ || req->op == DISK_OP_WRITE;
}

static bool changes_data(const struct disk_req *req)
{
	return req->op != DISK_OP_READ;
}

/* Sum of the segments; false if a count or the sum is out of range. */
static bool iov_total(const struct disk_req *req, uint64_t *total)
{
	unsigned int i;

	*total = 0;
	if (!req->iov || !req->iovcnt || req->iovcnt > DISK_IOV_MAX)
		return false;
	for (i = 0; i < req->iovcnt; i++) {
		if (req->iov[i].iov_len > SIZE_MAX - *total)
			return false;
		*total += req->iov[i].iov_len;
	}
	return *total > 0;
}

/* Does direct I/O need a bounce buffer for these segments? */
static bool needs_bounce(const struct disk *d, const struct disk_req *req)
{
	unsigned int i;

	if (!d->info.direct)
		return false;
	for (i = 0; i < req->iovcnt; i++) {
		if ((uintptr_t)req->iov[i].iov_base % d->info.mem_align ||
		    req->iov[i].iov_len % d->info.block_size)
			return true;
	}
	return false;
}

static int check(const struct disk *d, struct disk_req *req)
{
	const struct disk_info *in = &d->info;
	uint64_t len = 0;

	if ((unsigned int)req->op > DISK_OP_WRITE_ZEROES || !req->done)
		return -EINVAL;
	if (in->readonly && changes_data(req))
		return -EROFS;
	if (req->op == DISK_OP_FLUSH)
		return 0;
	if (is_transfer(req) && !iov_total(req, &len))
		return -EINVAL;
	if (!is_transfer(req))
		len = req->len;
	if (!len || req->offset > in->size || len > in->size - req->offset)
		return -EINVAL;
	/* Direct I/O needs aligned ranges; so do a device's ioctls. */
	if ((in->direct || !is_transfer(req)) &&
	    (req->offset % in->block_size || len % in->block_size))
		return -EINVAL;
	req->total = len;
	return 0;
}

/* A bounce buffer for req's data; a write's data is copied in now. */
static int bounce_setup(const struct disk *d, struct disk_req *req)
{
	size_t done = 0;
	unsigned int i;

	if (posix_memalign(&req->bounce, MAX(d->info.mem_align, 512u),
			   req->total))
		return -ENOMEM;
	req->bounce_iov = (struct iovec){ req->bounce, req->total };
	req->cur = &req->bounce_iov;
	req->curcnt = 1;
	for (i = 0; req->op == DISK_OP_WRITE && i < req->iovcnt; i++) {
		memcpy((char *)req->bounce + done, req->iov[i].iov_base,
		       req->iov[i].iov_len);
		done += req->iov[i].iov_len;
	}
	return 0;
}

/* After a read through the bounce buffer, hand the data out. */
static void bounce_finish(struct disk_req *req)
{
	size_t done = 0;
	unsigned int i;

	for (i = 0; req->op == DISK_OP_READ && !req->result && i < req->iovcnt;
	     i++) {
		memcpy(req->iov[i].iov_base, (char *)req->bounce + done,
		       req->iov[i].iov_len);
		done += req->iov[i].iov_len;
	}
	free(req->bounce);
	req->bounce = NULL;
}

void disk_req_segments(struct disk_req *req, const struct iovec **iov,
		       unsigned int *cnt)
{
	*iov = req->cur ? req->cur : req->iov;
	*cnt = req->cur ? req->curcnt : req->iovcnt;
}

bool disk_req_advance(struct disk_req *req, uint64_t n)
{
	const struct iovec *iov;
	unsigned int cnt;

	req->pos += n;
	if (req->pos >= req->total)
		return true;
	disk_req_segments(req, &iov, &cnt);
	if (!req->owned && iov == req->iov) {
		/* First short transfer: a copy we may trim. */
		req->owned = malloc(cnt * sizeof(*iov));
		if (!req->owned)
			return false;
		memcpy(req->owned, iov, cnt * sizeof(*iov));
		req->cur = req->owned;
		req->curcnt = cnt;
	}
	while (n && req->curcnt) {
		size_t step = MIN(n, req->cur->iov_len);

		req->cur->iov_base = (char *)req->cur->iov_base + step;
		req->cur->iov_len -= step;
		n -= step;
		if (!req->cur->iov_len) {
			req->cur++;
			req->curcnt--;
		}
	}
	return false;
}

static int exec_transfer(struct disk *d, struct disk_req *req)
{
	const struct iovec *iov;
	unsigned int cnt;
	ssize_t r;

	while (req->pos < req->total) {
		disk_req_segments(req, &iov, &cnt);
		if (!iov)
			return -ENOMEM;
		if (req->op == DISK_OP_READ)
			r = preadv(d->fd, iov, cnt, req->at + req->pos);
		else
			r = pwritev(d->fd, iov, cnt, req->at + req->pos);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO;
		if (disk_req_advance(req, r))
			break;
		if (!req->cur)
			return -ENOMEM;
	}
	return 0;
}

/* Zeroes written the slow way, for file systems without ZERO_RANGE. */
static int exec_zero_writes(struct disk *d, const struct disk_req *req)
{
	uint64_t off = req->offset, end = req->offset + req->total;
	ssize_t r;

	while (off < end) {
		r = pwrite(d->fd, zero_buf, MIN(sizeof(zero_buf), end - off),
			   off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		off += r;
	}
	return 0;
}

/* Discard and write-zeroes: fallocate on files, ioctls on devices. */
static int exec_range(struct disk *d, struct disk_req *req)
{
	uint64_t range[2] = { req->offset, req->total };
	bool zero = req->op == DISK_OP_WRITE_ZEROES;
	int mode = FALLOC_FL_KEEP_SIZE, r;

	if (zero && req->zero_fallback)
		return exec_zero_writes(d, req);
	if (d->info.is_blockdev)
		r = ioctl(d->fd, zero ? BLKZEROOUT : BLKDISCARD, range);
	else {
		mode |= zero && !(req->flags & DISK_REQ_UNMAP) ?
				FALLOC_FL_ZERO_RANGE :
				FALLOC_FL_PUNCH_HOLE;
		r = fallocate(d->fd, mode, req->offset, req->total);
	}
	if (!r)
		return 0;
	if (errno != EOPNOTSUPP)
		return -errno;
	/* A discard is a hint; zeroes must be there, one way or another. */
	if (!zero)
		return 0;
	req->zero_fallback = true;
	return exec_zero_writes(d, req);
}

int disk_exec(struct disk *d, struct disk_req *req)
{
	if (d->qcow2 && !req->mapped)
		return qcow2_exec(d->qcow2, req);
	switch (req->op) {
	case DISK_OP_READ:
	case DISK_OP_WRITE:
		return exec_transfer(d, req);
	case DISK_OP_FLUSH:
		return fdatasync(d->fd) ? -errno : 0;
	default:
		return exec_range(d, req);
	}
}

void disk_req_finish(struct disk_queue *q, struct disk_req *req, int result)
{
	req->result = result;
	req->next = NULL;
	if (q->ready_tail)
		q->ready_tail->next = req;
	else
		q->ready_head = req;
	q->ready_tail = req;
}

/* Which requests the io_uring engine hands to the pool. */
static bool runs_on_pool(const struct disk_queue *q, const struct disk_req *req)
{
	if (q->ops == &disk_threads_ops)
		return true;
	if (q->d->qcow2) /* flushes too: they write pending metadata */
		return !req->mapped;
	return q->d->info.is_blockdev && !is_transfer(req) &&
	       req->op != DISK_OP_FLUSH;
}

static void req_reset(struct disk_req *req, struct disk_queue *q)
{
	req->q = q;
	req->next = NULL;
	req->pos = 0;
	req->cur = NULL;
	req->curcnt = 0;
	req->owned = NULL;
	req->bounce = NULL;
	req->zero_fallback = false;
	req->result = 0;
	req->mapped = false;
	req->at = req->offset;
}

int disk_submit(struct disk_queue *q, struct disk_req *req)
{
	int rc;

	if (q->in_flight >= q->depth)
		return -EBUSY;
	rc = check(q->d, req);
	if (rc)
		return rc;
	req_reset(req, q);
	if (is_transfer(req) && needs_bounce(q->d, req) &&
	    bounce_setup(q->d, req))
		return -ENOMEM;
	/* qcow2: allocated clusters go straight to the engine. */
	if (q->d->qcow2 && is_transfer(req))
		req->mapped =
			qcow2_map_fast(q->d->qcow2, req->offset, req->total,
				       req->op == DISK_OP_WRITE, &req->at);
	if (changes_data(req) && req->op != DISK_OP_FLUSH)
		disk_dirty_mark(q->d, req);
	req->on_pool = runs_on_pool(q, req);
	q->in_flight++;
	rc = req->on_pool ? disk_pool_push(q->d, req) : q->ops->submit(q, req);
	if (rc) {
		q->in_flight--;
		free(req->bounce);
		req->bounce = NULL;
	}
	return rc;
}

void disk_queue_plug(struct disk_queue *q)
{
	q->plugged = true;
}

int disk_queue_unplug(struct disk_queue *q)
{
	q->plugged = false;
	return q->ops->unplug(q);
}

/* Run done() for every ready request; they may submit more. */
static unsigned int run_ready(struct disk_queue *q)
{
	struct disk_req *req;
	unsigned int n = 0;

	while ((req = q->ready_head)) {
		q->ready_head = req->next;
		if (!q->ready_head)
			q->ready_tail = NULL;
		if (req->bounce)
			bounce_finish(req);
		free(req->owned);
		req->owned = NULL;
		req->cur = NULL;
		q->in_flight--;
		n++;
		req->done(req);
	}
	return n;
}

unsigned int disk_queue_poll(struct disk_queue *q)
{
	uint64_t v;

	/* Reset the eventfd first: a completion after this signals again. */
	if (read(q->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_debug("disk %s: eventfd: %s", q->d->label, strerror(errno));
	q->ops->reap(q);
	disk_pool_reap(q);
	return run_ready(q);
}

int disk_queue_drain(struct disk_queue *q, unsigned int timeout_ms)
{
	uint64_t deadline = time_mono_ns() + timeout_ms * NSEC_PER_MSEC;
	struct pollfd p = { .fd = q->efd, .events = POLLIN };
	uint64_t now;

	if (q->plugged && disk_queue_unplug(q))
		log_warn("disk %s: cannot submit queued requests", q->d->label);
	disk_queue_poll(q);
	while (q->in_flight) {
		now = time_mono_ns();
		if (now >= deadline)
			return -ETIMEDOUT;
		if (poll(&p, 1, (deadline - now) / NSEC_PER_MSEC + 1) < 0 &&
		    errno != EINTR)
			return -errno;
		disk_queue_poll(q);
	}
	return 0;
}

int disk_queue_fd(const struct disk_queue *q)
{
	return q->efd;
}

unsigned int disk_queue_in_flight(const struct disk_queue *q)
{
	return q->in_flight;
}

int disk_queue_new(struct disk *d, unsigned int depth,
		   struct disk_queue **q_out)
{
	struct disk_queue *q;
	int rc;

	if (depth > DISK_QUEUE_DEPTH_MAX)
		return -EINVAL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->d = d;
	q->depth = depth ? depth : DISK_QUEUE_DEPTH_DEFAULT;
	pthread_mutex_init(&q->done_lock, NULL);
	q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->efd < 0) {
		rc = -errno;
		goto out_free;
	}
	q->ops = d->info.engine == DISK_ENGINE_URING ? &disk_uring_ops :
						       &disk_threads_ops;
	rc = q->ops->init(q, q->depth);
	if (rc && q->ops == &disk_uring_ops) {
		log_warn(
			"disk %s: cannot set up an io_uring queue (%s): this queue uses the thread pool",
			d->label, strerror(-rc));
		q->ops = &disk_threads_ops;
		d->pool.max = DISK_POOL_THREADS_MAX;
		rc = q->ops->init(q, q->depth);
	}
	if (rc)
		goto out_close;
	d->queues++;
	*q_out = q;
	return 0;
out_close:
	close(q->efd);
out_free:
	pthread_mutex_destroy(&q->done_lock);
	free(q);
	return rc;
}

void disk_queue_free(struct disk_queue *q, unsigned int timeout_ms)
{
	if (!q)
		return;
	if (disk_queue_drain(q, timeout_ms))
		log_warn(
			"disk %s: %u requests still in flight at close: abandoned",
			q->d->label, q->in_flight);
	q->ops->fini(q);
	q->d->queues--;
	/* A pool thread may still finish onto q: then q stays allocated. */
	if (q->in_flight)
		return;
	close(q->efd);
	pthread_mutex_destroy(&q->done_lock);
	free(q);
}
