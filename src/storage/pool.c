/*
 * The thread pool: blocking I/O (preadv, pwritev, fdatasync, fallocate,
 * BLKDISCARD, BLKZEROOUT) on a few threads per disk, started as work
 * arrives. A finished request goes onto its queue's done list and the
 * queue's eventfd is written; the queue's owner picks it up in
 * disk_queue_poll(). This is the whole "threads" engine, and it runs
 * what io_uring cannot do under the io_uring engine.
 */
#include "storage/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

/* A pool thread stuck in the kernel (a dead NFS server) is left behind. */
#define POOL_JOIN_MS 5000

static void signal_queue(struct disk_queue *q)
{
	uint64_t one = 1;

	if (write(q->efd, &one, sizeof(one)) < 0) {
		/* Only EAGAIN at a counter near 2^64: the owner is woken. */
	}
}

/*
 * Only the request that makes the list non-empty signals: the owner
 * reads the eventfd before it takes the whole list, so whatever is
 * appended meanwhile goes with what it takes. One wakeup per batch.
 */
static void done_push(struct disk_queue *q, struct disk_req *req)
{
	bool first;

	pthread_mutex_lock(&q->done_lock);
	req->next = NULL;
	first = !q->done_head;
	if (q->done_tail)
		q->done_tail->next = req;
	else
		q->done_head = req;
	q->done_tail = req;
	pthread_mutex_unlock(&q->done_lock);
	if (first)
		signal_queue(q);
}

static struct disk_req *pool_take(struct disk_pool *p)
{
	struct disk_req *req;

	while (!p->head && !p->stopping) {
		p->idle++;
		pthread_cond_wait(&p->cond, &p->lock);
		p->idle--;
	}
	req = p->head;
	if (req) {
		p->head = req->next;
		if (!p->head)
			p->tail = NULL;
	}
	return req;
}

static void *pool_thread(void *opaque)
{
	struct disk *d = opaque;
	struct disk_pool *p = &d->pool;
	struct disk_req *req;

	pthread_mutex_lock(&p->lock);
	while ((req = pool_take(p))) {
		pthread_mutex_unlock(&p->lock);
		req->result = disk_exec(d, req);
		done_push(req->q, req);
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int disk_pool_init(struct disk_pool *p)
{
	int r;

	memset(p, 0, sizeof(*p));
	p->max = DISK_POOL_THREADS_MAX;
	r = pthread_mutex_init(&p->lock, NULL);
	if (r)
		return -r;
	r = pthread_cond_init(&p->cond, NULL);
	if (r) {
		pthread_mutex_destroy(&p->lock);
		return -r;
	}
	return 0;
}

/* Start one more thread; the vCPU threads' blocked signals stay so. */
static int pool_grow(struct disk *d)
{
	struct disk_pool *p = &d->pool;
	int r;

	r = pthread_create(&p->tids[p->threads], NULL, pool_thread, d);
	if (r)
		return -r;
	p->threads++;
	return 0;
}

int disk_pool_push(struct disk *d, struct disk_req *req)
{
	struct disk_pool *p = &d->pool;
	int rc = 0;

	pthread_mutex_lock(&p->lock);
	if (!p->idle && p->threads < MIN(p->max, DISK_POOL_THREADS_MAX))
		rc = pool_grow(d);
	/* No thread at all is fatal for the request; fewer are not. */
	if (rc && p->threads)
		rc = 0;
	if (!rc) {
		req->next = NULL;
		if (p->tail)
			p->tail->next = req;
		else
			p->head = req;
		p->tail = req;
		if (p->idle)
			pthread_cond_signal(&p->cond);
	}
	pthread_mutex_unlock(&p->lock);
	return rc;
}

void disk_pool_reap(struct disk_queue *q)
{
	struct disk_req *req, *next;

	pthread_mutex_lock(&q->done_lock);
	req = q->done_head;
	q->done_head = q->done_tail = NULL;
	pthread_mutex_unlock(&q->done_lock);
	for (; req; req = next) {
		next = req->next;
		disk_req_finish(q, req, req->result);
	}
}

bool disk_pool_destroy(struct disk_pool *p)
{
	struct timespec ts;
	bool all = true;
	unsigned int i;

	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += POOL_JOIN_MS / 1000;
	for (i = 0; i < p->threads; i++) {
		if (pthread_timedjoin_np(p->tids[i], NULL, &ts)) {
			pthread_detach(p->tids[i]);
			all = false;
		}
	}
	p->threads = 0;
	if (!all)
		return false;
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	return true;
}

/* ---- the threads engine: everything on the pool ---- */

static int threads_init(struct disk_queue *q, unsigned int depth)
{
	return 0;
}

static void threads_fini(struct disk_queue *q)
{
}

static int threads_submit(struct disk_queue *q, struct disk_req *req)
{
	return disk_pool_push(q->d, req);
}

static int threads_unplug(struct disk_queue *q)
{
	return 0;
}

static void threads_reap(struct disk_queue *q)
{
	/* disk_queue_poll() takes the pool's finished requests. */
}

const struct disk_engine_ops disk_threads_ops = {
	.init = threads_init,
	.fini = threads_fini,
	.submit = threads_submit,
	.unplug = threads_unplug,
	.reap = threads_reap,
};
