/*
 * A simulated virtio driver for unit tests: guest RAM is a plain
 * guest_mem (a memfd, no KVM), the driver writes rings and descriptors
 * into it directly as a guest would, and reaches the device through
 * virtio_mmio_io() as a vCPU's MMIO exit would. Everything is written
 * out byte by byte at the offsets of virtio 1.2 (2.7, 4.2.2), so the
 * tests check the device against the specification, not against its
 * own structs.
 */
#ifndef GODWIT_TESTS_VDRIVER_H
#define GODWIT_TESTS_VDRIVER_H

#include <stdint.h>
#include <string.h>

#include "devices/virtio/mmio.h"
#include "vmm/memory.h"

#define VD_MEM (4 * MIB)

/* Where each queue's rings live: 64 KiB per queue from 1 MiB. */
#define VD_RING_BASE 0x100000ULL
#define VD_RING_STRIDE 0x10000ULL
/* Buffers and indirect tables: from 2 MiB. */
#define VD_DATA 0x200000ULL

struct vdq {
	uint16_t size;
	uint64_t desc, avail, used;
	uint16_t avail_idx; /* the driver's next available index */
	uint16_t next_desc; /* next free descriptor (simple bump) */
	uint16_t used_seen; /* used entries the driver has consumed */
};

static inline uint8_t *vd_ram(struct guest_mem *m, uint64_t gpa)
{
	uint8_t *p = mem_gpa_to_hva(m, gpa, 1);

	assert_non_null(p);
	return p;
}

static inline void vd_put16(struct guest_mem *m, uint64_t gpa, uint16_t v)
{
	memcpy(vd_ram(m, gpa), &v, 2);
}

static inline uint16_t vd_get16(struct guest_mem *m, uint64_t gpa)
{
	uint16_t v;

	memcpy(&v, vd_ram(m, gpa), 2);
	return v;
}

static inline uint32_t vd_get32(struct guest_mem *m, uint64_t gpa)
{
	uint32_t v;

	memcpy(&v, vd_ram(m, gpa), 4);
	return v;
}

/* A descriptor (addr, len, flags, next) at index i of the table at t. */
static inline void vd_desc(struct guest_mem *m, uint64_t t, unsigned int i,
			   uint64_t addr, uint32_t len, uint16_t flags,
			   uint16_t next)
{
	uint8_t *p = vd_ram(m, t + 16 * i);

	memcpy(p, &addr, 8);
	memcpy(p + 8, &len, 4);
	memcpy(p + 12, &flags, 2);
	memcpy(p + 14, &next, 2);
}

static inline uint32_t vd_rd(struct virtio_dev *vd, uint64_t off)
{
	uint32_t v = 0xdeadbeef;

	virtio_mmio_io(vd, off, (uint8_t *)&v, 4, false);
	return v;
}

static inline void vd_wr(struct virtio_dev *vd, uint64_t off, uint32_t v)
{
	virtio_mmio_io(vd, off, (uint8_t *)&v, 4, true);
}

/* Queue q's register setup (not yet ready): size and ring addresses. */
static inline void vd_queue_config(struct virtio_dev *vd, struct vdq *q,
				   unsigned int idx, uint16_t size)
{
	memset(q, 0, sizeof(*q));
	q->size = size;
	q->desc = VD_RING_BASE + idx * VD_RING_STRIDE;
	q->avail = q->desc + 0x4000;
	q->used = q->desc + 0x8000;
	vd_wr(vd, VIRTIO_MMIO_QUEUE_SEL, idx);
	vd_wr(vd, VIRTIO_MMIO_QUEUE_NUM, size);
	vd_wr(vd, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)q->desc);
	vd_wr(vd, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(q->desc >> 32));
	vd_wr(vd, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)q->avail);
	vd_wr(vd, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)(q->avail >> 32));
	vd_wr(vd, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)q->used);
	vd_wr(vd, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)(q->used >> 32));
}

/*
 * The driver's side of 3.1.1 for nq queues of size qsize: reset,
 * ACKNOWLEDGE, DRIVER, features (features: bits to accept of the
 * offered), FEATURES_OK (checked), queues, DRIVER_OK.
 */
static inline void vd_driver_init(struct virtio_dev *vd, struct vdq *qs,
				  unsigned int nq, uint16_t qsize,
				  uint64_t features)
{
	uint64_t offered;
	unsigned int i;

	vd_wr(vd, VIRTIO_MMIO_STATUS, 0);
	vd_wr(vd, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	vd_wr(vd, VIRTIO_MMIO_STATUS,
	      VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	vd_wr(vd, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	offered = vd_rd(vd, VIRTIO_MMIO_DEVICE_FEATURES);
	vd_wr(vd, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	offered |= (uint64_t)vd_rd(vd, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
	features &= offered;
	vd_wr(vd, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	vd_wr(vd, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
	vd_wr(vd, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	vd_wr(vd, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
	vd_wr(vd, VIRTIO_MMIO_STATUS,
	      VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
		      VIRTIO_STATUS_FEATURES_OK);
	assert_true(vd_rd(vd, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
	for (i = 0; i < nq; i++) {
		vd_queue_config(vd, &qs[i], i, qsize);
		vd_wr(vd, VIRTIO_MMIO_QUEUE_READY, 1);
		assert_int_equal(vd_rd(vd, VIRTIO_MMIO_QUEUE_READY), 1);
	}
	vd_wr(vd, VIRTIO_MMIO_STATUS,
	      VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
		      VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
}

/* Make the chain starting at descriptor head available. */
static inline void vd_publish(struct guest_mem *m, struct vdq *q, uint16_t head)
{
	vd_put16(m, q->avail + 4 + 2 * (q->avail_idx % q->size), head);
	q->avail_idx++;
	vd_put16(m, q->avail + 2, q->avail_idx);
}

/*
 * A chain of n buffers from the descriptor table: bufs[i] at gpa[i] of
 * len[i], the last nin device-writable. Returns the head.
 */
static inline uint16_t vd_chain(struct guest_mem *m, struct vdq *q,
				unsigned int n, const uint64_t *gpa,
				const uint32_t *len, unsigned int nin)
{
	uint16_t head = q->next_desc % q->size;
	unsigned int i;

	for (i = 0; i < n; i++) {
		uint16_t d = (head + i) % q->size;
		uint16_t flags = (i + nin >= n ? VQ_DESC_F_WRITE : 0) |
				 (i + 1 < n ? VQ_DESC_F_NEXT : 0);

		vd_desc(m, q->desc, d, gpa[i], len[i], flags,
			(d + 1) % q->size);
	}
	q->next_desc += n;
	return head;
}

static inline uint16_t vd_used_idx(struct guest_mem *m, const struct vdq *q)
{
	return vd_get16(m, q->used + 2);
}

/* Used entry k: id and len. */
static inline void vd_used_entry(struct guest_mem *m, const struct vdq *q,
				 uint16_t k, uint32_t *id, uint32_t *len)
{
	*id = vd_get32(m, q->used + 4 + 8 * (k % q->size));
	*len = vd_get32(m, q->used + 4 + 8 * (k % q->size) + 4);
}

/* The interrupt: how many times the line was raised since last asked. */
static inline uint64_t vd_irqs(struct virtio_mmio *mm)
{
	uint64_t n = 0;

	if (read(mm->line.irqfd, &n, sizeof(n)) < 0)
		return 0;
	return n;
}

#endif
