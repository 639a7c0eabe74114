/*
 * Ring-0 virtio-mmio driver library of the guests: device discovery (ACPI
 * DSDT and kernel command line), feature negotiation, queue setup,
 * notification and interrupts through the IOAPIC. Drivers: vcon.c
 * (console), blk.c, net.c. See virtio.h for what ring 3 does.
 */
#ifndef GUEST_VIRTIO_MMIO_H
#define GUEST_VIRTIO_MMIO_H

#include "kernel.h"
#include "virtio.h"

#define VIRTIO_MAX_DEVS 32

struct virtio_dev;
/* Ring 0, BSP, interrupt context: isr is what InterruptStatus held. */
typedef void (*virtio_handler)(struct virtio_dev *d, uint32_t isr);

struct virtio_dev {
	uint64_t base; /* the register window */
	uint32_t gsi;
	uint16_t irq_flags; /* MPS INTI flags (ioapic_route) */
	bool has_gsi;
	const char *source; /* "acpi" or "cmdline" */
	uint32_t magic, version, device_id; /* as probed */
	bool claimed;
	uint64_t features; /* negotiated */
	uint8_t vector; /* 0 until virtio_irq_attach */
	virtio_handler handler;
	void *priv;
};

/* virtio_find.c: windows from the DSDT and virtio_mmio.device= tokens. */
void virtio_find_windows(void);
void virtio_add_window(uint64_t base, uint32_t gsi, uint16_t irq_flags,
		       bool has_gsi, const char *source);

/*
 * The first unclaimed device of type id, or NULL if there is none. A
 * legacy (version 1) device of that type ends the VM with a BAD line.
 */
struct virtio_dev *virtio_claim(uint32_t id);
/*
 * Reset the device and negotiate: the result is the device's features
 * within want; every bit of need (VERSION_1 always) must be in it, else
 * a BAD line names the missing bit. Leaves the device at FEATURES_OK.
 */
uint64_t virtio_negotiate(struct virtio_dev *d, const char *what, uint64_t want,
			  uint64_t need);
/*
 * Set up queue index with at most max_size entries (a power of 2 no
 * larger than the device allows) in fresh zeroed pages.
 */
void virtio_queue_init(struct virtio_dev *d, struct virtq *q, uint16_t index,
		       uint16_t max_size);
void virtio_driver_ok(struct virtio_dev *d);
/* Route the device's interrupt (level, active high) to handler. */
void virtio_irq_attach(struct virtio_dev *d, virtio_handler handler);
/* Boot's dispatcher: an interrupt on VEC_VIRTIO + n. */
void virtio_irq(unsigned int vector);
/* Read InterruptStatus and acknowledge it; returns it. */
uint32_t virtio_ack(struct virtio_dev *d);

uint8_t virtio_cfg8(const struct virtio_dev *d, uint32_t off);
uint16_t virtio_cfg16(const struct virtio_dev *d, uint32_t off);
uint32_t virtio_cfg32(const struct virtio_dev *d, uint32_t off);
uint64_t virtio_cfg64(const struct virtio_dev *d, uint32_t off);

/* virtq.c: ring 0's side of a split queue. */
/*
 * Move staged heads onto the avail ring (at most max_inflight unfinished;
 * a barrier head waits until nothing is in flight), ask for an interrupt
 * at the next completion, and notify the device if it wants it. Called
 * from the queue's interrupt and from the timer tick.
 */
void virtq_publish_staged(struct virtq *q);
/* For ring-0 drivers: put head on the avail ring, then kick. */
void virtq_push(struct virtq *q, uint16_t head);
void virtq_kick(struct virtq *q);
/* For ring-0 drivers: the next used entry after *seen. */
bool virtq_pop(struct virtq *q, uint16_t *seen, struct virtq_used_elem *out);
/*
 * For ring-0 drivers that reap up to seen themselves: ask for an
 * interrupt at the next completion; true if one came in meanwhile (reap
 * again, then arm again).
 */
bool virtq_arm(struct virtq *q, uint16_t seen);
/* No interrupts for this queue (until about 64k more completions). */
void virtq_quiet(struct virtq *q, uint16_t seen);
/* Unfinished requests: published minus used. */
uint16_t virtq_inflight(const struct virtq *q);

#endif
