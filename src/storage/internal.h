/*
 * Storage internals shared by its files: the open disk, a queue, the
 * thread pool and the engine operations table.
 *
 * Threads: a queue is used by its owner thread only, except for its
 * done list, which pool threads append to under done_lock. The disk's
 * fields are set at open and read-only afterwards, except the pool's
 * (under pool.lock) and the lock state (changed by one thread at a time:
 * the monitor's, at start, handover and end).
 */
#ifndef GODWIT_STORAGE_INTERNAL_H
#define GODWIT_STORAGE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "storage/disk.h"

#define DISK_POOL_THREADS_MAX 16 /* per disk, started as work arrives */
#define DISK_LABEL_MAX 63

/* Requests waiting for a pool thread, and the threads. */
struct disk_pool {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct disk_req *head, *tail; /* waiting, oldest first */
	unsigned int threads; /* started */
	unsigned int idle; /* waiting on cond */
	unsigned int max;
	bool stopping;
	pthread_t tids[DISK_POOL_THREADS_MAX];
};

struct qcow2;

struct disk {
	int fd; /* O_CLOEXEC: a spawned script never inherits the lock */
	char path[4096];
	char label[DISK_LABEL_MAX + 1];
	struct disk_info info;
	dev_t dev; /* for finding the lock holder */
	ino_t ino;
	bool locked;
	int claim_fd; /* O_EXCL open of a read-write block device, or -1 */
	struct disk_pool pool;
	unsigned int queues; /* open queues */
	struct qcow2 *qcow2; /* the qcow2 image on fd, or NULL (raw) */
	bool want_readonly; /* asked for at open (qcow2 reloads at lock) */
	/* Dirty tracking (disk_dirty_*): words never freed while open. */
	uint64_t *dirty;
	size_t dirty_words;
	unsigned int dirty_shift; /* log2 of the granularity */
	bool dirty_on;
};

struct disk_queue;

/*
 * An engine. Every member is called on the queue owner's thread; the
 * request memory belongs to the caller until it is completed.
 */
struct disk_engine_ops {
	/* Set up q's engine state for depth requests; 0 or -errno. */
	int (*init)(struct disk_queue *q, unsigned int depth);
	/* Release q's engine state; nothing is in flight (or abandoned). */
	void (*fini)(struct disk_queue *q);
	/*
	 * Start req (checked, in flight counted); 0, or -errno and req is
	 * not started. Plugged: may wait for unplug to reach the kernel.
	 */
	int (*submit)(struct disk_queue *q, struct disk_req *req);
	/* Push what plugged submissions left pending; 0 or -errno. */
	int (*unplug)(struct disk_queue *q);
	/* Finish what the engine has finished: disk_req_finish() each. */
	void (*reap)(struct disk_queue *q);
};

struct disk_queue {
	struct disk *d;
	const struct disk_engine_ops *ops;
	int efd; /* eventfd: completions are waiting */
	unsigned int depth;
	unsigned int in_flight;
	bool plugged;
	/* Finished requests whose done() has yet to run. */
	struct disk_req *ready_head, *ready_tail;
	/* Appended to by pool threads. */
	pthread_mutex_t done_lock;
	struct disk_req *done_head, *done_tail;
	void *engine; /* the engine's per-queue state */
};

extern const struct disk_engine_ops disk_uring_ops;
extern const struct disk_engine_ops disk_threads_ops;

/* io.c: synchronous execution, as a pool thread does it. */
int disk_exec(struct disk *d, struct disk_req *req);
/* Bytes done: advance req's cursor; true when the transfer is complete. */
bool disk_req_advance(struct disk_req *req, uint64_t n);
/* The segments still to transfer (READ, WRITE). */
void disk_req_segments(struct disk_req *req, const struct iovec **iov,
		       unsigned int *cnt);
/* Move req to q's ready list; done() runs from the next poll. */
void disk_req_finish(struct disk_queue *q, struct disk_req *req, int result);

/* pool.c */
int disk_pool_init(struct disk_pool *p);
/*
 * Stop the threads. false if one is stuck in the kernel past a few
 * seconds: it was left running, so the disk must stay allocated.
 */
bool disk_pool_destroy(struct disk_pool *p);
/* Queue req on d's pool, starting a thread if none is idle. */
int disk_pool_push(struct disk *d, struct disk_req *req) __must_check;
/* Take requests the pool finished for q: finish each. */
void disk_pool_reap(struct disk_queue *q);

/* qcow2_disk.c: the format's hooks in open, lock, submit and close. */
int disk_format_open(struct disk *d, const struct disk_open_args *a, char *why,
		     size_t whylen) __must_check;
/* After the lock was taken late: read the metadata again. */
int disk_format_relock(struct disk *d, char *why, size_t whylen) __must_check;
/* Before the lock is let go: give back reserved clusters. */
void disk_format_unlock(struct disk *d);
void disk_format_close(struct disk *d);
/* Mark req's range dirty if tracking is on (disk_submit). */
void disk_dirty_mark(struct disk *d, const struct disk_req *req);

/* lock.c */
int disk_lock_take(struct disk *d, char *why, size_t whylen) __must_check;
void disk_lock_release(struct disk *d);

/* Format "disk LABEL: " + fmt into why; returns rc (a -errno). */
int disk_why(char *why, size_t whylen, const char *label, int rc,
	     const char *fmt, ...) __printf(5, 6);

#endif
