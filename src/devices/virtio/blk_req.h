/*
 * virtio-blk request parsing (blk_req.c): what a chain asks for, judged
 * against the disk's limits and the negotiated features. Pure, for the
 * device and its fuzz target.
 */
#ifndef GODWIT_DEVICES_VIRTIO_BLK_REQ_H
#define GODWIT_DEVICES_VIRTIO_BLK_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "devices/virtio/blk.h"
#include "devices/virtio/queue.h"
#include "storage/disk.h"

/* What a request is judged against. */
struct virtio_blk_limits {
	uint64_t capacity; /* bytes */
	bool readonly;
	bool discard; /* DISCARD negotiated */
	bool write_zeroes; /* WRITE_ZEROES negotiated */
};

/* virtio_blk_parse() results. */
enum {
	VIRTIO_BLK_REQ_BROKEN = -1, /* misframed: the device needs a reset */
	VIRTIO_BLK_REQ_DONE = 0, /* answered: status, nothing to do */
	VIRTIO_BLK_REQ_IO = 1, /* a disk request: op, offset, len, iov */
	VIRTIO_BLK_REQ_ID = 2, /* GET_ID: written bytes of the serial */
};

struct virtio_blk_parsed {
	uint32_t type; /* VIRTIO_BLK_T_* as the driver wrote it */
	uint8_t status; /* REQ_DONE: the answer */
	enum disk_op op;
	unsigned int flags; /* DISK_REQ_* */
	uint64_t offset, len; /* bytes */
	unsigned int iovcnt; /* IN, OUT: the data, in the iov passed */
	uint8_t *status_byte; /* in guest RAM: the writable part's last */
	uint32_t written; /* writable bytes before the status the device fills */
};

/*
 * Parse chain e (taken with at most VIRTIO_BLK_SEG_MAX + 2 buffers);
 * iov has room for as many. Returns a VIRTIO_BLK_REQ_* value; BROKEN
 * with one line in why.
 */
int virtio_blk_parse(const struct virtio_blk_limits *lim,
		     const struct vq_elem *e, struct iovec *iov,
		     struct virtio_blk_parsed *p, char *why, size_t whylen);

#endif
