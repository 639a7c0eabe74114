/*
 * The split virtqueue (virtio 1.2, 2.7), device side: descriptor table,
 * available ring (driver -> device) and used ring (device -> driver) in
 * guest RAM, with VIRTIO_RING_F_INDIRECT_DESC and VIRTIO_RING_F_EVENT_IDX.
 *
 * Everything in guest RAM is hostile and may change under us (another
 * vCPU): each index and descriptor is read once into a local copy and
 * checked before use. A guest that breaks the rules (a ring outside RAM,
 * a descriptor outside RAM, a loop, a chain longer than the queue or the
 * caller allows, an indirect table inside an indirect table, a writable
 * buffer before a readable one, an available index that jumps by more
 * than the queue size) gets -EINVAL and a one-line reason; the caller
 * then stops the queue (DEVICE_NEEDS_RESET). Nothing here loops more
 * than the queue size per call, so a guest cannot hang the device.
 *
 * Every write into guest RAM (used ring, avail_event, data returned in
 * device-writable buffers) is marked dirty for pre-copy (mem_mark_dirty),
 * after the write.
 *
 * A struct vq is used by one thread at a time: the device's I/O thread,
 * or the transport while the I/O thread is parked.
 */
#ifndef GODWIT_DEVICES_VIRTIO_QUEUE_H
#define GODWIT_DEVICES_VIRTIO_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"

struct guest_mem;

#define VQ_DESC_F_NEXT 1
#define VQ_DESC_F_WRITE 2
#define VQ_DESC_F_INDIRECT 4
#define VQ_AVAIL_F_NO_INTERRUPT 1

/* Ring layout sizes of a queue of size n (2.7: alignment 16, 2, 4). */
#define VQ_DESC_BYTES(n) (16ULL * (n))
#define VQ_AVAIL_BYTES(n) (6ULL + 2ULL * (n))
#define VQ_USED_BYTES(n) (6ULL + 8ULL * (n))

struct vq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};
_Static_assert(sizeof(struct vq_desc) == 16, "virtq_desc");

struct vq {
	/* Configuration, as the driver wrote it (transport, not ready). */
	uint16_t size;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	bool ready;
	/* Negotiated features, fixed when the queue is made ready. */
	bool event_idx, indirect;
	/* The device's position in the rings. */
	uint16_t next_avail; /* next available-ring entry to read */
	uint16_t next_used; /* next used-ring entry to write */
	/* Device -> driver notifications: used idx at the last check. */
	uint16_t signalled_used;
	bool signalled_valid; /* false: the next check ignores used_event */
	/* Resolved when made ready: host views of the rings. */
	struct guest_mem *mem;
	struct vq_desc *desc;
	uint8_t *avail; /* flags, idx, ring[size], used_event */
	uint8_t *used; /* flags, idx, ring[size] of {id, len}, avail_event */
};

/* One buffer of a chain: a host view of guest RAM. */
struct vq_buf {
	uint8_t *hva;
	uint32_t len;
};

/*
 * A chain taken from the available ring: nr_out device-readable buffers,
 * then nr_in device-writable ones, in buf[0 .. nr_out + nr_in). The
 * caller provides buf and its capacity max.
 */
struct vq_elem {
	uint16_t head;
	unsigned int nr_out, nr_in;
	struct vq_buf *buf;
	unsigned int max;
};

/*
 * Are the rings of a queue of size (a power of two, 1..max) at these
 * addresses aligned and inside mem's RAM? Pure; why says what is wrong.
 * Only mem's regions are used, so a layout from mem_plan() will do.
 */
int vq_layout_check(const struct guest_mem *mem, uint16_t size, uint16_t max,
		    uint64_t desc, uint64_t avail, uint64_t used, char *why,
		    size_t whylen) __must_check;
/*
 * Make the configured queue usable over mem: check the layout (as
 * above), resolve the rings and take the features. The positions
 * (next_avail, next_used) are left as they are: 0 after a reset, the
 * saved ones after a restore.
 */
int vq_activate(struct vq *q, struct guest_mem *mem, uint16_t max,
		bool event_idx, bool indirect, char *why,
		size_t whylen) __must_check;
/* Back to the reset state: not ready, nothing configured. */
void vq_reset(struct vq *q);

/*
 * Take the next available chain into e. Returns 1 with e filled, 0 if
 * the ring is empty (with EVENT_IDX, after asking the driver to notify
 * at the next entry), -EINVAL if the guest broke a rule (why says which).
 */
int vq_pop(struct vq *q, struct vq_elem *e, char *why,
	   size_t whylen) __must_check;
/* Is a chain available (without taking it)? -EINVAL: see vq_pop. */
int vq_peek(struct vq *q, char *why, size_t whylen) __must_check;
/* Return a chain to the driver with written bytes in its writable part. */
void vq_push(struct vq *q, const struct vq_elem *e, uint32_t written);
/*
 * Give back the last n chains taken and not yet returned: the next
 * vq_pop() takes them again (a frame that found too few buffers).
 */
void vq_unpop(struct vq *q, unsigned int n);
/*
 * Several chains returned at once, all visible together (virtio-net's
 * merged receive buffers: the driver must not see the first before the
 * last): vq_fill() writes the used entry k places after the next one
 * (len no more than the chain's writable bytes), vq_publish() then
 * makes n filled entries visible with one store of the used index.
 */
void vq_fill(struct vq *q, unsigned int k, uint16_t head, uint32_t len);
void vq_publish(struct vq *q, unsigned int n);
/*
 * After one or more pushes: does the driver want an interrupt? Never
 * when nothing was pushed since the last check; else its used_event
 * with EVENT_IDX (ignored at the first check after the queue was made
 * ready or restored), else its NO_INTERRUPT flag.
 */
bool vq_should_notify(struct vq *q);

/* Copy from the readable part of e, starting at offset; returns bytes. */
size_t vq_copy_from(const struct vq_elem *e, size_t offset, void *dst,
		    size_t len);
/* Copy into the writable part of e at offset, marking it dirty. */
size_t vq_copy_to(struct vq *q, const struct vq_elem *e, size_t offset,
		  const void *src, size_t len);
/* Total bytes of e's readable (out) or writable (in) buffers. */
size_t vq_elem_out_bytes(const struct vq_elem *e);
size_t vq_elem_in_bytes(const struct vq_elem *e);

#endif
