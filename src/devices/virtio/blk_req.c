/*
 * virtio-blk request parsing (virtio 1.2, 5.2.6): from a chain taken off
 * a queue to what the device must do with it. Pure: it reads the chain's
 * buffers (guest RAM, hostile, read once each) and writes nothing, so
 * the fuzz target can drive it alone.
 *
 * The device may not assume any framing (5.2.6.4): the 16-byte header
 * is the first 16 bytes of the readable part wherever the descriptors
 * split it, the status is the last byte of the writable part, and data
 * is whatever lies between; a header and data in one descriptor, or
 * data and status in one, are as good as three descriptors.
 */
#include "devices/virtio/blk_req.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/why.h"

struct blk_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

struct blk_dwz_seg {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};

static int done(struct virtio_blk_parsed *p, uint8_t status)
{
	p->status = status;
	p->written = 0; /* a failed request returns no data */
	return VIRTIO_BLK_REQ_DONE;
}

/* The last byte of the writable part, or NULL if it has none. */
static uint8_t *status_byte(const struct vq_elem *e)
{
	unsigned int i = e->nr_out + e->nr_in;

	while (i-- > e->nr_out)
		if (e->buf[i].len)
			return e->buf[i].hva + e->buf[i].len - 1;
	return NULL;
}

/*
 * len bytes from skip bytes into buffers [first, first + count) as
 * iovecs (empty buffers left out); returns how many.
 */
static unsigned int gather(const struct vq_elem *e, unsigned int first,
			   unsigned int count, uint64_t skip, uint64_t len,
			   struct iovec *iov)
{
	unsigned int n = 0, i;
	uint64_t k;

	for (i = first; i < first + count && len; i++) {
		if (skip >= e->buf[i].len) {
			skip -= e->buf[i].len;
			continue;
		}
		k = MIN(len, e->buf[i].len - skip);
		iov[n++] = (struct iovec){ e->buf[i].hva + skip, k };
		len -= k;
		skip = 0;
	}
	return n;
}

/* Is [sector, sector + bytes) inside the disk? (no overflow) */
static bool in_range(const struct virtio_blk_limits *lim, uint64_t sector,
		     uint64_t bytes)
{
	return sector <= lim->capacity / 512 &&
	       bytes <= lim->capacity - sector * 512;
}

static int parse_rw(const struct virtio_blk_limits *lim,
		    const struct vq_elem *e, const struct blk_hdr *h,
		    struct iovec *iov, struct virtio_blk_parsed *p)
{
	bool write = h->type == VIRTIO_BLK_T_OUT;
	uint64_t len = write ? vq_elem_out_bytes(e) - 16 :
			       vq_elem_in_bytes(e) - 1;

	if (write && lim->readonly)
		return done(p, VIRTIO_BLK_S_IOERR);
	if (!len || len % 512 || !in_range(lim, h->sector, len))
		return done(p, VIRTIO_BLK_S_IOERR);
	p->op = write ? DISK_OP_WRITE : DISK_OP_READ;
	p->offset = h->sector * 512;
	p->len = len;
	p->written = write ? 0 : len;
	p->iovcnt = write ? gather(e, 0, e->nr_out, 16, len, iov) :
			    gather(e, e->nr_out, e->nr_in, 0, len, iov);
	return VIRTIO_BLK_REQ_IO;
}

/* One segment {sector, num_sectors, flags} after the header (5.2.6). */
static int parse_dwz(const struct virtio_blk_limits *lim,
		     const struct vq_elem *e, const struct blk_hdr *h,
		     struct virtio_blk_parsed *p)
{
	bool discard = h->type == VIRTIO_BLK_T_DISCARD;
	uint64_t data = vq_elem_out_bytes(e) - 16;
	struct blk_dwz_seg seg;

	if (!(discard ? lim->discard : lim->write_zeroes))
		return done(p, VIRTIO_BLK_S_UNSUPP);
	/* Never offered with RO; refused all the same, as a write is. */
	if (lim->readonly)
		return done(p, VIRTIO_BLK_S_IOERR);
	if (data !=
	    sizeof(seg)) /* max_discard_seg = max_write_zeroes_seg = 1 */
		return done(p, VIRTIO_BLK_S_IOERR);
	vq_copy_from(e, 16, &seg, sizeof(seg));
	if ((seg.flags & ~VIRTIO_BLK_WZ_F_UNMAP) ||
	    (discard && (seg.flags & VIRTIO_BLK_WZ_F_UNMAP)))
		return done(p, VIRTIO_BLK_S_UNSUPP);
	if (seg.num_sectors > VIRTIO_BLK_DISCARD_MAX ||
	    !in_range(lim, seg.sector, (uint64_t)seg.num_sectors * 512))
		return done(p, VIRTIO_BLK_S_IOERR);
	if (!seg.num_sectors)
		return done(p, VIRTIO_BLK_S_OK);
	p->op = discard ? DISK_OP_DISCARD : DISK_OP_WRITE_ZEROES;
	p->flags = (seg.flags & VIRTIO_BLK_WZ_F_UNMAP) ? DISK_REQ_UNMAP : 0;
	p->offset = seg.sector * 512;
	p->len = (uint64_t)seg.num_sectors * 512;
	return VIRTIO_BLK_REQ_IO;
}

int virtio_blk_parse(const struct virtio_blk_limits *lim,
		     const struct vq_elem *e, struct iovec *iov,
		     struct virtio_blk_parsed *p, char *why, size_t whylen)
{
	size_t out = vq_elem_out_bytes(e);
	struct blk_hdr h;

	memset(p, 0, sizeof(*p));
	if (out < sizeof(h))
		return why_set(why, whylen, VIRTIO_BLK_REQ_BROKEN,
			       "head %u: a request header of %zu bytes, not 16",
			       e->head, out);
	p->status_byte = status_byte(e);
	if (!p->status_byte)
		return why_set(
			why, whylen, VIRTIO_BLK_REQ_BROKEN,
			"head %u: a request without a writable status byte",
			e->head);
	vq_copy_from(e, 0, &h, sizeof(h));
	p->type = h.type;
	switch (h.type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		return parse_rw(lim, e, &h, iov, p);
	case VIRTIO_BLK_T_FLUSH:
		p->op = DISK_OP_FLUSH;
		/* Nothing of a read-only disk's can be unwritten. */
		return lim->readonly ? done(p, VIRTIO_BLK_S_OK) :
				       VIRTIO_BLK_REQ_IO;
	case VIRTIO_BLK_T_GET_ID:
		p->written = MIN(vq_elem_in_bytes(e) - 1,
				 (size_t)VIRTIO_BLK_ID_BYTES);
		return VIRTIO_BLK_REQ_ID;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		return parse_dwz(lim, e, &h, p);
	default:
		return done(p, VIRTIO_BLK_S_UNSUPP);
	}
}
