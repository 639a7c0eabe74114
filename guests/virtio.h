/*
 * virtio for the test guests: virtio-mmio (version 2) registers, split
 * virtqueue layouts and the queue object that ring 0 and ring 3 share.
 *
 * Division of labour (KVM-HERE.md: ring 0 is emulated, ring 3 native):
 * ring 0 owns every MMIO access (setup, notify, interrupt acknowledge) and
 * moves requests from a staging ring onto the avail ring; ring 3 builds
 * descriptor chains, stages their heads and reaps the used ring itself.
 * Ring 3 cannot enter ring 0 (no int n, no traps), so staged heads wait
 * for the next interrupt: a completion of the same queue or the timer
 * tick. A guest that keeps requests staged ahead therefore refills the
 * queue from the completion interrupt with no tick latency.
 *
 * Everything here is little-endian x86, identity mapped: guest-physical
 * addresses are pointers.
 */
#ifndef GUEST_VIRTIO_H
#define GUEST_VIRTIO_H

#include "shared.h"

/* virtio-mmio registers (virtio 1.2, 4.2.2). */
#define VIRTIO_MMIO_MAGIC 0x000
#define VIRTIO_MMIO_VERSION 0x004
#define VIRTIO_MMIO_DEVICE_ID 0x008
#define VIRTIO_MMIO_DEVICE_FEATURES 0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES 0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL 0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX 0x034
#define VIRTIO_MMIO_QUEUE_NUM 0x038
#define VIRTIO_MMIO_QUEUE_READY 0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY 0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS 0x060
#define VIRTIO_MMIO_INTERRUPT_ACK 0x064
#define VIRTIO_MMIO_STATUS 0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW 0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH 0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW 0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH 0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW 0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH 0x0a4
#define VIRTIO_MMIO_CONFIG_GENERATION 0x0fc
#define VIRTIO_MMIO_CONFIG 0x100
#define VIRTIO_MMIO_MAGIC_VALUE 0x74726976 /* "virt" */

#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED 128

#define VIRTIO_INT_USED 1 /* InterruptStatus: used buffer notification */
#define VIRTIO_INT_CONFIG 2 /* configuration change */

/* Device types. */
#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_CONSOLE 3

/* Transport feature bits. */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32
#define VIRTIO_BIT(n) (1ULL << (n))

/* Split virtqueue (virtio 1.2, 2.7). */
#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY 1

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

_Static_assert(sizeof(struct virtq_desc) == 16, "virtq_desc");

/* Followed by used_event (a u16 after ring[size]). */
struct virtq_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[];
};

struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
};

/* Followed by avail_event (a u16 after ring[size]). */
struct virtq_used {
	uint16_t flags;
	uint16_t idx;
	struct virtq_used_elem ring[];
};

#define VIRTQ_MAX_SIZE 256 /* the guests never use larger queues */
/* A staged head that ring 0 publishes only once nothing is in flight. */
#define VIRTQ_STAGE_BARRIER 0x10000u

/*
 * One split virtqueue. Ring 0 fills the first block at setup; ring 3 only
 * reads it. The staging ring has one producer (ring 3: stage_tail) and
 * one consumer (ring 0: stage_head); each index lives in its own cache
 * line. Ring 3 reaps the used ring through used_seen, which ring 0 never
 * touches.
 */
struct virtq {
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
	volatile uint16_t *used_event; /* in the avail ring (EVENT_IDX) */
	volatile uint16_t *avail_event; /* in the used ring (EVENT_IDX) */
	uint64_t notify; /* address of the QueueNotify register */
	uint16_t size; /* entries, a power of 2 */
	uint16_t index; /* queue number on its device */
	bool event_idx; /* VIRTIO_F_EVENT_IDX negotiated */
	bool indirect; /* VIRTIO_F_INDIRECT_DESC negotiated */
	uint16_t max_inflight; /* ring 0 publishes no more unfinished */

	/* Ring 0 only. */
	uint16_t next_avail; /* the avail idx after the last publication */
	uint64_t kicks; /* notifications written (statistics) */
	uint64_t published; /* heads moved onto the avail ring */

	/* Ring 3 -> ring 0: heads (| VIRTQ_STAGE_BARRIER) to publish. */
	volatile uint32_t stage[VIRTQ_MAX_SIZE];
	volatile uint32_t stage_tail __attribute__((aligned(CACHELINE)));
	volatile uint32_t stage_head __attribute__((aligned(CACHELINE)));
	/* Ring 3 only: used ring entries reaped so far. */
	uint16_t used_seen __attribute__((aligned(CACHELINE)));
} __attribute__((aligned(CACHELINE)));

/* The device's used index (it writes it at any time). */
static inline uint16_t virtq_used_idx(const struct virtq *q)
{
	return *(volatile const uint16_t *)&q->used->idx;
}

/* Ring 3 (virtq_user.c): stage a head; reap one used entry. */
void virtq_stage(struct virtq *q, uint16_t head, bool fence);
bool virtq_reap(struct virtq *q, struct virtq_used_elem *out);
/* Heads staged that ring 0 has not published yet. */
uint32_t virtq_staged(const struct virtq *q);

/* A full memory barrier (store-load ordering; no SSE2 mfence in ring 0). */
static inline void virtio_mb(void)
{
	asm volatile("lock orq $0, (%%rsp)" ::: "memory", "cc");
}

/* Does a notification from old to new cross event (virtio 2.7.10)? */
static inline bool virtq_need_event(uint16_t event, uint16_t new_idx,
				    uint16_t old_idx)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

#endif
