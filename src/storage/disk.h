/*
 * Disk backends: one raw image file or block device opened for a VM,
 * read-only or read-write, locked against a second user, with
 * asynchronous reads, writes, flushes, discards and write-zeroes.
 *
 * A struct disk is shared by the threads that use it; each of them owns
 * one struct disk_queue (the virtio-blk device: one per virtqueue, each
 * served by one I/O thread). A request is submitted on its queue and
 * completes on it: the queue's eventfd becomes readable, and the owner
 * calls disk_queue_poll(), which runs each finished request's done()
 * callback on the owner's thread. Nothing is ever called from another
 * thread, so a device needs no locks around its completions.
 *
 * Two engines do the I/O: io_uring (one ring per queue, its completions
 * signalling the queue's eventfd) and a pool of threads doing
 * preadv/pwritev, used when io_uring cannot be set up (disabled by the
 * kernel.io_uring_disabled sysctl, refused by seccomp, an old kernel).
 * The choice is automatic; GODWIT_IO_ENGINE=threads or io_uring forces
 * one. Operations io_uring cannot do (BLKDISCARD, BLKZEROOUT) run on the
 * pool under both engines.
 *
 * Locks: a read-write disk holds an OFD write lock on the whole image, a
 * read-only one a read lock, for as long as it is open (or from
 * disk_lock() on, for a migration's destination). A second godwit (or
 * QEMU, whose image locks are OFD locks too) cannot open it read-write
 * meanwhile; the refusal names the process that holds it.
 *
 * Cache modes: write-back through the host page cache by default (a
 * flush is an fdatasync), or direct I/O (O_DIRECT) when asked: guest
 * buffers that do not meet the alignment direct I/O needs go through an
 * aligned bounce buffer; offsets and lengths must be multiples of
 * disk_info.block_size, which the device advertises to the guest.
 *
 * A device uses it like this (error handling left out):
 *
 *   disk_open(&args, &d, why, sizeof(why));        monitor, at start
 *   info = disk_get_info(d);     capacity = info->size / 512, blk_size,
 *                                discard if info->can_discard && the
 *                                config does not say no-discard
 *   disk_queue_new(d, 128, &q);                    each I/O thread
 *   poll on disk_queue_fd(q) next to the virtqueue's ioeventfd;
 *   on a kick:  disk_queue_plug(q); for each chain: fill a disk_req
 *               (op, offset = sector * 512, iov into guest RAM, done,
 *               opaque = the chain) and disk_submit(q, req); -EBUSY:
 *               leave the rest on the ring; disk_queue_unplug(q)
 *   on the fd:  disk_queue_poll(q) runs done(req): mark a READ's guest
 *               pages dirty (the dirty log does not see host writes),
 *               write the status byte, push the used ring, irqfd
 *   at pause:   stop taking chains; disk_queue_drain(q, timeout)
 *   at the end: disk_queue_free(q, timeout); disk_close(d)
 *
 * Formats: raw (the default) or qcow2 version 3, as the configuration
 * says (never guessed from the image: a raw image whose guest wrote a
 * qcow2 header must stay raw). A qcow2 disk looks the same to the
 * device; qcow2.h has what it supports and its crash-safe write order.
 * Its requests run on the thread pool, except reads and writes of
 * clusters already allocated, which the submitting thread maps and
 * sends through the queue's engine (io_uring) like a raw disk's.
 *
 * For snapshots, storage migration, backup and live merge (issue 15):
 *   - disk_create() makes a qcow2 image, on a backing file or not;
 *   - disk_snapshot() puts a new qcow2 overlay on top of an open disk
 *     (the device drains its queues first): the old image becomes its
 *     read-only backing file, new writes go to the overlay;
 *   - disk_block_status() says what a range is (data allocated in this
 *     image, zeroes, or the backing file's), to copy only what is there;
 *   - disk_dirty_start()/disk_dirty_take() keep a bitmap of what the
 *     guest changed (writes, write-zeroes, discards, marked when
 *     submitted) since a point, for incremental copies.
 *   Live merge (commit an overlay into its base while the guest runs)
 *   builds on these: reopen the base read-write, copy each range
 *   disk_block_status() reports as DATA or ZERO in the top, then the
 *   ranges the dirty bitmap reports, until they converge; then switch
 *   the disk back to the base (the inverse of disk_snapshot()).
 */
#ifndef GODWIT_STORAGE_DISK_H
#define GODWIT_STORAGE_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common/compiler.h"

#define DISK_QUEUE_DEPTH_DEFAULT 128
#define DISK_QUEUE_DEPTH_MAX 1024
#define DISK_IOV_MAX 1024 /* segments of one read or write */
#define DISK_WHY_MAX 512 /* one error line, NUL included */

enum disk_format {
	DISK_FORMAT_RAW, /* the default: zero-filled args are raw */
	DISK_FORMAT_QCOW2,
};

enum disk_engine {
	DISK_ENGINE_AUTO, /* GODWIT_IO_ENGINE, else io_uring if it works */
	DISK_ENGINE_URING,
	DISK_ENGINE_THREADS,
};

/* When the image lock is taken. */
enum disk_lock_mode {
	DISK_LOCK_NOW, /* at open: refused there if someone holds it */
	DISK_LOCK_LATER, /* by disk_lock() (a migration's destination) */
};

struct disk_open_args {
	const char *path; /* image file or block device */
	const char *label; /* names the disk in messages, e.g. "xvda" */
	bool readonly;
	bool direct; /* O_DIRECT: no host page cache */
	enum disk_lock_mode lock;
	/* The size the guest sees, in bytes; 0: the image's own size. The
	 * image must be at least this large. */
	uint64_t size;
	enum disk_engine engine;
	enum disk_format format;
};

struct disk_info {
	uint64_t size; /* bytes the guest sees: a multiple of 512 */
	/*
	 * The logical block size to advertise: 512 for files, the device's
	 * for block devices; with direct I/O at least the file system's
	 * direct I/O offset alignment. Offsets and lengths of direct I/O
	 * requests must be multiples of it.
	 */
	unsigned int block_size;
	unsigned int mem_align; /* direct I/O buffer alignment; 1 otherwise */
	bool readonly;
	bool direct;
	bool is_blockdev;
	bool can_discard; /* the device may advertise discard */
	enum disk_engine engine; /* URING or THREADS, never AUTO */
	enum disk_format format;
};

enum disk_op {
	DISK_OP_READ,
	DISK_OP_WRITE,
	DISK_OP_FLUSH, /* writes completed before it reach stable storage */
	DISK_OP_DISCARD, /* the range may read back anything, zeroes here */
	DISK_OP_WRITE_ZEROES, /* the range reads back zeroes */
};

/* Request flags. */
#define DISK_REQ_UNMAP 0x1u /* WRITE_ZEROES may deallocate the range */

struct disk_queue;

/*
 * One request. The caller fills the public part and keeps the struct and
 * the memory iov points to (the array and the buffers) untouched until
 * done() runs. Private fields are the storage layer's.
 */
struct disk_req {
	enum disk_op op;
	unsigned int flags; /* DISK_REQ_* */
	uint64_t offset; /* bytes from the start of the disk */
	uint64_t len; /* DISCARD, WRITE_ZEROES: bytes; else ignored */
	const struct iovec *iov; /* READ, WRITE: the guest buffers */
	unsigned int iovcnt; /* 1..DISK_IOV_MAX */
	/*
	 * Called once, from disk_queue_poll() or disk_queue_drain() on the
	 * queue owner's thread, with result set: 0, or -errno (-EIO for
	 * a transfer that ended early).
	 */
	void (*done)(struct disk_req *req);
	void *opaque; /* the caller's */
	int result;

	/* private */
	struct disk_queue *q;
	struct disk_req *next; /* on the pool's or a queue's list */
	uint64_t pos; /* bytes transferred so far (READ, WRITE) */
	uint64_t total; /* bytes to transfer */
	struct iovec *cur; /* remaining segments after a short transfer */
	unsigned int curcnt;
	struct iovec *owned; /* heap copy of cur's array, or NULL */
	void *bounce; /* aligned copy of the data (direct I/O), or NULL */
	struct iovec bounce_iov;
	bool on_pool; /* runs on the thread pool */
	bool zero_fallback; /* WRITE_ZEROES by writing zero buffers */
	bool mapped; /* qcow2: at is the host offset of the whole range */
	uint64_t at; /* file offset of the transfer (raw: offset) */
};

struct disk;

/*
 * Open an image. On failure returns -errno and puts one line naming
 * the disk and what was wrong into why (DISK_WHY_MAX bytes suffice):
 * missing, not a file or block device, smaller than the size asked,
 * read-only but asked read-write, locked by another process (named),
 * an unusable GODWIT_IO_ENGINE.
 */
int disk_open(const struct disk_open_args *args, struct disk **disk_out,
	      char *why, size_t whylen) __must_check;
/*
 * Close: every queue must have been freed. Releases the lock. NULL ok.
 */
void disk_close(struct disk *d);
const struct disk_info *disk_get_info(const struct disk *d);
const char *disk_engine_name(enum disk_engine e);

/*
 * Take the image lock (DISK_LOCK_LATER), retrying until timeout_ms has
 * passed while another process holds it (the migration source lets go
 * of it just after the handover). Idempotent.
 */
int disk_lock(struct disk *d, unsigned int timeout_ms, char *why,
	      size_t whylen) __must_check;
/* Let go of the lock (the migration source, after the handover). */
void disk_unlock(struct disk *d);

/* fdatasync now, on the calling thread (e.g. at the end of a save). */
int disk_sync(struct disk *d) __must_check;

/*
 * A queue for the calling thread with room for depth requests in
 * flight (0: DISK_QUEUE_DEPTH_DEFAULT). Falls back to the thread pool
 * if this queue's io_uring cannot be set up.
 */
int disk_queue_new(struct disk *d, unsigned int depth,
		   struct disk_queue **q_out) __must_check;
/*
 * Drain (at most timeout_ms) and free. Requests still in flight after
 * that are abandoned with a warning; their memory must stay mapped.
 */
void disk_queue_free(struct disk_queue *q, unsigned int timeout_ms);
/* Readable (EFD_NONBLOCK eventfd) when disk_queue_poll has work. */
int disk_queue_fd(const struct disk_queue *q);
unsigned int disk_queue_in_flight(const struct disk_queue *q);

/*
 * Start req. 0: done() will be called exactly once, later. Otherwise
 * done() is not called: -EINVAL (bad op, iovcnt or alignment; range
 * beyond the disk), -EROFS (a change to a read-only disk), -EBUSY (depth
 * requests already in flight), -ENOMEM.
 */
int disk_submit(struct disk_queue *q, struct disk_req *req) __must_check;
/*
 * Between plug and unplug, submissions are batched: io_uring enters the
 * kernel once for all of them at unplug (a device plugs around one pass
 * over its available ring).
 */
void disk_queue_plug(struct disk_queue *q);
int disk_queue_unplug(struct disk_queue *q) __must_check;
/* Complete what has finished: done() for each. Returns how many. */
unsigned int disk_queue_poll(struct disk_queue *q);
/*
 * Wait until nothing is in flight on q, completing requests as they
 * finish (the device's quiesce, at a migration's final pause).
 * -ETIMEDOUT if some are still in flight after timeout_ms.
 */
int disk_queue_drain(struct disk_queue *q,
		     unsigned int timeout_ms) __must_check;

const char *disk_format_name(enum disk_format f);

/* What a range of a disk is (disk_block_status). */
enum disk_extent {
	DISK_EXTENT_DATA, /* allocated in this image */
	DISK_EXTENT_ZERO, /* reads as zeroes; nothing allocated for it */
	DISK_EXTENT_BACKING, /* not in this image: its backing file's */
};

/*
 * What [offset, offset+len) starts with, and how many bytes (>= 1,
 * <= len) from offset are alike. Raw images: DATA or ZERO (holes, from
 * SEEK_DATA/SEEK_HOLE). Any thread; metadata reads only.
 */
int disk_block_status(struct disk *d, uint64_t offset, uint64_t len,
		      enum disk_extent *kind_out, uint64_t *n_out) __must_check;

struct disk_create_args {
	const char *path; /* created: never over an existing file */
	uint64_t size; /* bytes, a multiple of 512; 0: the backing file's */
	unsigned int cluster_size; /* 0: 64 KiB; a power of 2, 512..2 MiB */
	const char *backing; /* NULL: none; relative to path's directory */
	enum disk_format backing_format; /* recorded in the image */
	bool backing_format_given; /* false: probed from the backing file */
};

/* Create a qcow2 image; why: one line naming the file. */
int disk_create(const struct disk_create_args *a, char *why,
		size_t whylen) __must_check;

/*
 * Put a new qcow2 overlay at path on top of d, in place: d's image
 * becomes the overlay's read-only (read-locked) backing file and every
 * request after this goes to the overlay. Nothing may be in flight on
 * d's queues. On failure d is unchanged and path does not exist.
 */
int disk_snapshot(struct disk *d, const char *path, char *why,
		  size_t whylen) __must_check;

/*
 * Track what changes: a bit per granularity bytes (a power of 2, at
 * least 512), set when a WRITE, WRITE_ZEROES or DISCARD is submitted
 * (before it completes: a copier that takes the bits after reading may
 * copy a range twice, never miss one). Restarting clears the bitmap.
 */
int disk_dirty_start(struct disk *d, uint64_t granularity) __must_check;
void disk_dirty_stop(struct disk *d);
/*
 * Copy the bitmap into bits (nwords 64-bit words, bit i of word w is
 * the range at (w * 64 + i) * granularity) and clear it, atomically
 * word by word. Returns the number of words the whole disk needs
 * (copies at most nwords), or -EINVAL when tracking is off.
 */
long disk_dirty_take(struct disk *d, uint64_t *bits, size_t nwords);

/*
 * What GODWIT_IO_ENGINE asks for (value NULL: unset): "auto" or unset
 * AUTO, "io_uring" URING, "threads" THREADS; -EINVAL for anything else.
 */
int disk_engine_parse(const char *value,
		      enum disk_engine *engine_out) __must_check;

#endif
