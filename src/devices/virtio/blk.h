/*
 * virtio-blk (virtio 1.2, 5.2; device id 2) over a struct disk from the
 * storage layer: a raw image file or block device, read-only or
 * read-write. Offered: SEG_MAX, BLK_SIZE, FLUSH, MQ (one request queue
 * per vCPU, at most 8), RO for a read-only disk, DISCARD and
 * WRITE_ZEROES unless the configuration says no-discard or the disk
 * cannot; the transport adds VERSION_1, INDIRECT_DESC and EVENT_IDX.
 * Requests: IN, OUT, FLUSH, GET_ID (the vdev), DISCARD and WRITE_ZEROES
 * (one segment each); anything else is answered UNSUPP.
 *
 * Cache: a driver that negotiated FLUSH manages a write-back cache (the
 * host page cache, or none with direct-io) and FLUSH is an fdatasync;
 * a driver that did not gets write-through: every change is followed by
 * an fdatasync before it completes.
 *
 * Requests run asynchronously on the disk's engine (io_uring, else the
 * thread pool): the device's I/O thread takes chains while it has free
 * request slots (128 per queue), submits them in one batch per kick,
 * and completes them when the disk queue's eventfd says so. Reads land
 * in guest RAM straight from the kernel; their pages are marked dirty
 * for pre-copy as they complete. Quiesce (a pause, a save, a migration's
 * final copy, a reset) completes every request in flight first, so no
 * stream ever holds one.
 *
 * A driver that breaks the rules gets what the specification says: a
 * request it framed wrongly (no status byte, a header shorter than 16
 * bytes, a chain longer than SEG_MAX + 2, a buffer outside RAM) stops
 * the device (DEVICE_NEEDS_RESET, one log line); a request that is
 * well framed but wrong (a write to a read-only disk, a range beyond
 * the capacity, a length not a multiple of 512) is answered IOERR, an
 * unknown type or flag UNSUPP.
 */
#ifndef GODWIT_DEVICES_VIRTIO_BLK_H
#define GODWIT_DEVICES_VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common/compiler.h"
#include "devices/device.h"
#include "devices/virtio/mmio.h"
#include "devices/virtio/virtio.h"
#include "storage/disk.h"

#define VIRTIO_ID_BLOCK 2

/* Feature bits (5.2.3). */
#define VIRTIO_BLK_F_SIZE_MAX 1
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_MQ 12
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* Request types and status values (5.2.6). */
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2
#define VIRTIO_BLK_WZ_F_UNMAP 1u /* discard/write-zeroes segment flag */

/* Config space offsets (5.2.4). */
#define VIRTIO_BLK_CFG_CAPACITY 0
#define VIRTIO_BLK_CFG_SEG_MAX 12
#define VIRTIO_BLK_CFG_BLK_SIZE 20
#define VIRTIO_BLK_CFG_NUM_QUEUES 34
#define VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS 36
#define VIRTIO_BLK_CFG_MAX_DISCARD_SEG 40
#define VIRTIO_BLK_CFG_DISCARD_ALIGNMENT 44
#define VIRTIO_BLK_CFG_MAX_WZ_SECTORS 48
#define VIRTIO_BLK_CFG_MAX_WZ_SEG 52
#define VIRTIO_BLK_CFG_WZ_MAY_UNMAP 56
#define VIRTIO_BLK_CONFIG_SIZE 60

#define VIRTIO_BLK_QUEUE_MAX 256 /* QueueNumMax */
#define VIRTIO_BLK_SEG_MAX 126 /* data segments: chains of <= 128 */
#define VIRTIO_BLK_DEPTH 128 /* requests in flight per queue */
#define VIRTIO_BLK_DISCARD_MAX (1u << 22) /* sectors per DISCARD (2 GiB) */
#define VIRTIO_BLK_DRAIN_MS 30000 /* a quiesce waits this long for I/O */

/*
 * A virtio-blk device's per-instance argument (dev_slot.arg), from the
 * disk's configuration (src/machine/).
 */
struct virtio_blk_conf {
	struct disk *disk; /* the opened image; NULL while only described */
	uint64_t size; /* bytes the guest sees: the configured size */
	bool readonly;
	bool discard; /* the configuration allows DISCARD/WRITE_ZEROES */
	unsigned int num_queues; /* 1..VIRTIO_QUEUES_MAX: one per vCPU */
	char serial[VIRTIO_BLK_ID_BYTES + 1]; /* GET_ID answer: the vdev */
};

struct virtio_blk;

/* One request taken from a queue, until it is pushed back. */
struct virtio_blk_req {
	struct disk_req dr; /* opaque: this request */
	struct virtio_blk *blk;
	unsigned int qi;
	bool then_flush; /* write-through: a flush follows the change */
	uint8_t *status; /* the status byte, in guest RAM */
	uint32_t written; /* bytes of the writable part before the status */
	struct vq_elem e;
	struct vq_buf buf[VIRTIO_BLK_SEG_MAX + 2];
	struct iovec iov[VIRTIO_BLK_SEG_MAX + 2];
	struct virtio_blk_req *next_free;
};

struct virtio_blk_queue {
	struct virtio_blk_req *free; /* slots not in use */
	bool starved; /* stopped taking chains for lack of a slot */
	bool pushed; /* used entries not yet signalled (virtio_flush) */
	/* For the log line at the end: this process's share of the ring. */
	uint16_t first_used; /* used index at the reset or load */
	uint64_t completed; /* chains given back since */
};

struct virtio_blk {
	struct virtio_dev vd;
	struct virtio_mmio mmio;
	struct virtio_model model; /* this instance's queues and features */
	struct virtio_blk_conf conf;
	struct disk_queue *dq; /* one for all queues: one I/O thread */
	struct virtio_blk_req *reqs; /* num_queues * VIRTIO_BLK_DEPTH */
	struct virtio_blk_queue q[VIRTIO_QUEUES_MAX];
	uint64_t requests; /* completed, for tests and statistics */
	bool io_error_logged; /* one line per device for host I/O errors */
};

/*
 * Set up b over mem as host says (host->arg: a struct virtio_blk_conf
 * with the disk; host->vm NULL for a unit test, which drives it with
 * virtio_mmio_io() and virtio_poll()). destroy() follows a failure.
 */
int virtio_blk_setup(struct virtio_blk *b, const struct dev_host *host,
		     struct guest_mem *mem) __must_check;

/* The descriptor: one slot per configured disk (src/machine/). */
extern const struct dev_type virtio_blk_type;

#endif
