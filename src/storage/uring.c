/*
 * The io_uring engine: one ring per queue, owned by the queue's thread,
 * with the queue's eventfd registered so the kernel signals it when a
 * completion is posted. Reads and writes are READV/WRITEV, a flush is
 * FSYNC with DATASYNC, discard and write-zeroes on files are FALLOCATE.
 * A transfer that ends early is resubmitted for the rest; -EAGAIN and
 * -EINTR are retried; write-zeroes on a file system that cannot zero a
 * range continues on the pool by writing zeroes.
 *
 * The ring has room for the queue's depth, and disk_submit() keeps at
 * most depth requests in flight, so a submission queue entry is always
 * free (a resubmission replaces the entry its request just completed)
 * and the completion queue (twice as large) cannot overflow.
 */
#include "storage/internal.h"

#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <linux/falloc.h>

#include "common/log.h"

struct uring_queue {
	struct io_uring ring;
	unsigned int pending; /* prepared, not yet submitted */
};

static struct uring_queue *uq(struct disk_queue *q)
{
	return q->engine;
}

static int uring_init(struct disk_queue *q, unsigned int depth)
{
	struct uring_queue *u = calloc(1, sizeof(*u));
	int rc;

	if (!u)
		return -ENOMEM;
	rc = io_uring_queue_init(depth, &u->ring, 0);
	if (rc) {
		free(u);
		return rc;
	}
	rc = io_uring_register_eventfd(&u->ring, q->efd);
	if (rc) {
		io_uring_queue_exit(&u->ring);
		free(u);
		return rc;
	}
	q->engine = u;
	return 0;
}

static void uring_fini(struct disk_queue *q)
{
	struct uring_queue *u = uq(q);

	io_uring_queue_exit(&u->ring);
	free(u);
	q->engine = NULL;
}

/* Fill one entry for req's next step. */
static void prep(struct io_uring_sqe *sqe, const struct disk *d,
		 struct disk_req *req)
{
	bool unmap = req->flags & DISK_REQ_UNMAP;
	const struct iovec *iov;
	unsigned int cnt;

	switch (req->op) {
	case DISK_OP_READ:
	case DISK_OP_WRITE:
		disk_req_segments(req, &iov, &cnt);
		if (req->op == DISK_OP_READ)
			io_uring_prep_readv(sqe, d->fd, iov, cnt,
					    req->at + req->pos);
		else
			io_uring_prep_writev(sqe, d->fd, iov, cnt,
					     req->at + req->pos);
		break;
	case DISK_OP_FLUSH:
		io_uring_prep_fsync(sqe, d->fd, IORING_FSYNC_DATASYNC);
		break;
	case DISK_OP_DISCARD:
		io_uring_prep_fallocate(
			sqe, d->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			req->offset, req->total);
		break;
	case DISK_OP_WRITE_ZEROES:
		io_uring_prep_fallocate(sqe, d->fd,
					(unmap ? FALLOC_FL_PUNCH_HOLE :
						 FALLOC_FL_ZERO_RANGE) |
						FALLOC_FL_KEEP_SIZE,
					req->offset, req->total);
		break;
	}
	io_uring_sqe_set_data(sqe, req);
}

static int push(struct disk_queue *q)
{
	struct uring_queue *u = uq(q);
	int r;

	while (u->pending) {
		r = io_uring_submit(&u->ring);
		if (r == -EINTR || r == -EAGAIN)
			continue;
		if (r < 0)
			return r;
		u->pending -= MIN((unsigned int)r, u->pending);
	}
	return 0;
}

static int uring_submit(struct disk_queue *q, struct disk_req *req)
{
	struct uring_queue *u = uq(q);
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

	if (!sqe)
		return -EBUSY;
	prep(sqe, q->d, req);
	u->pending++;
	/* The entry is in the ring now: a failed push is retried later. */
	if (!q->plugged && push(q))
		log_warn("disk %s: cannot submit to io_uring yet", q->d->label);
	return 0;
}

static int uring_unplug(struct disk_queue *q)
{
	return push(q);
}

/*
 * One completion: the request is done, or goes on (the rest of a short
 * transfer, a retry, write-zeroes by the pool).
 */
static void uring_step(struct disk_queue *q, struct disk_req *req, int res)
{
	struct io_uring_sqe *sqe;

	if (res == -EINTR || res == -EAGAIN)
		goto again;
	if (res == -EOPNOTSUPP && req->op == DISK_OP_DISCARD)
		res = 0; /* a hint the file system does not take */
	if (res == -EOPNOTSUPP && req->op == DISK_OP_WRITE_ZEROES) {
		req->zero_fallback = true;
		req->on_pool = true;
		if (disk_pool_push(q->d, req) == 0)
			return;
		res = -ENOMEM;
	}
	if (res < 0 || req->op > DISK_OP_WRITE) {
		disk_req_finish(q, req, res < 0 ? res : 0);
		return;
	}
	if (res == 0) {
		disk_req_finish(q, req, -EIO);
		return;
	}
	if (disk_req_advance(req, res)) {
		disk_req_finish(q, req, 0);
		return;
	}
	if (!req->cur) {
		disk_req_finish(q, req, -ENOMEM);
		return;
	}
again:
	sqe = io_uring_get_sqe(&uq(q)->ring);
	if (!sqe) {
		disk_req_finish(q, req, -EBUSY); /* cannot happen: see top */
		return;
	}
	prep(sqe, q->d, req);
	uq(q)->pending++;
	return;
}

static void uring_reap(struct disk_queue *q)
{
	struct uring_queue *u = uq(q);
	struct io_uring_cqe *cqe;
	struct disk_req *req;
	int res;

	while (io_uring_peek_cqe(&u->ring, &cqe) == 0) {
		req = io_uring_cqe_get_data(cqe);
		res = cqe->res;
		io_uring_cqe_seen(&u->ring, cqe);
		uring_step(q, req, res);
	}
	if (!q->plugged && push(q))
		log_warn("disk %s: cannot resubmit to io_uring", q->d->label);
}

const struct disk_engine_ops disk_uring_ops = {
	.init = uring_init,
	.fini = uring_fini,
	.submit = uring_submit,
	.unplug = uring_unplug,
	.reap = uring_reap,
};
