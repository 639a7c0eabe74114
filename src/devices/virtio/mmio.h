/*
 * The virtio-mmio transport (virtio 1.2, 4.2; register layout version 2,
 * modern devices only): a 512-byte register window on the VM's MMIO bus
 * and one level-triggered interrupt line per device, described to the
 * guest by the ACPI DSDT (a LNRO0005 device).
 *
 * Queue kicks (QueueNotify writes) go straight from KVM to the device's
 * I/O thread through one ioeventfd per queue (the value written is the
 * queue index); the interrupt goes up through an irqfd and comes down at
 * the guest's EOI after it acknowledged InterruptStatus (irqline.h).
 */
#ifndef GODWIT_DEVICES_VIRTIO_MMIO_H
#define GODWIT_DEVICES_VIRTIO_MMIO_H

#include <stdbool.h>
#include <stdint.h>

#include "common/compiler.h"
#include "devices/device.h"
#include "devices/virtio/virtio.h"
#include "format/stream_format.h"
#include "vmm/irqline.h"

/* Register offsets (4.2.2). */
enum {
	VIRTIO_MMIO_MAGIC_VALUE = 0x000,
	VIRTIO_MMIO_VERSION = 0x004,
	VIRTIO_MMIO_DEVICE_ID = 0x008,
	VIRTIO_MMIO_VENDOR_ID = 0x00c,
	VIRTIO_MMIO_DEVICE_FEATURES = 0x010,
	VIRTIO_MMIO_DEVICE_FEATURES_SEL = 0x014,
	VIRTIO_MMIO_DRIVER_FEATURES = 0x020,
	VIRTIO_MMIO_DRIVER_FEATURES_SEL = 0x024,
	VIRTIO_MMIO_QUEUE_SEL = 0x030,
	VIRTIO_MMIO_QUEUE_NUM_MAX = 0x034,
	VIRTIO_MMIO_QUEUE_NUM = 0x038,
	VIRTIO_MMIO_QUEUE_READY = 0x044,
	VIRTIO_MMIO_QUEUE_NOTIFY = 0x050,
	VIRTIO_MMIO_INTERRUPT_STATUS = 0x060,
	VIRTIO_MMIO_INTERRUPT_ACK = 0x064,
	VIRTIO_MMIO_STATUS = 0x070,
	VIRTIO_MMIO_QUEUE_DESC_LOW = 0x080,
	VIRTIO_MMIO_QUEUE_DESC_HIGH = 0x084,
	VIRTIO_MMIO_QUEUE_DRIVER_LOW = 0x090,
	VIRTIO_MMIO_QUEUE_DRIVER_HIGH = 0x094,
	VIRTIO_MMIO_QUEUE_DEVICE_LOW = 0x0a0,
	VIRTIO_MMIO_QUEUE_DEVICE_HIGH = 0x0a4,
	VIRTIO_MMIO_SHM_SEL = 0x0ac,
	VIRTIO_MMIO_SHM_LEN_LOW = 0x0b0,
	VIRTIO_MMIO_SHM_LEN_HIGH = 0x0b4,
	VIRTIO_MMIO_SHM_BASE_LOW = 0x0b8,
	VIRTIO_MMIO_SHM_BASE_HIGH = 0x0bc,
	VIRTIO_MMIO_CONFIG_GENERATION = 0x0fc,
	VIRTIO_MMIO_CONFIG = 0x100,
	VIRTIO_MMIO_WINDOW = 0x200,
};

#define VIRTIO_MMIO_MAGIC 0x74726976u /* "virt" */
#define VIRTIO_MMIO_VENDOR 0x57444f47u /* "GODW" */

struct vm;

struct virtio_mmio {
	struct vm *vm; /* NULL: not attached (unit tests) */
	struct dev_res res;
	struct irq_line line;
	bool bad_access_logged;
};

/* The transport callbacks for virtio_init(). */
extern const struct virtio_transport virtio_mmio_transport;

/*
 * Attach vd (virtio_init()ed with virtio_mmio_transport) at res: its
 * window on vm's MMIO bus, its interrupt line, an ioeventfd per queue,
 * and its entry in the ACPI tables. vm NULL: only the line (plain
 * eventfds) for a unit test that calls virtio_mmio_io() itself.
 */
int virtio_mmio_init(struct virtio_mmio *m, struct virtio_dev *vd,
		     struct vm *vm, const struct dev_res *res) __must_check;
void virtio_mmio_destroy(struct virtio_mmio *m);
/* Bus callback (vCPU thread): opaque is the struct virtio_dev. */
void virtio_mmio_io(void *opaque, uint64_t offset, uint8_t *data,
		    unsigned int len, bool is_write);

/* Saved state: the core's, plus the window and line (as configured). */
void virtio_mmio_save(struct virtio_dev *vd, struct virtio_mmio_state *st);
int virtio_mmio_check(const struct virtio_model *model,
		      const struct dev_env *env,
		      const struct virtio_mmio_state *st, char *why,
		      size_t whylen) __must_check;
int virtio_mmio_load(struct virtio_dev *vd,
		     const struct virtio_mmio_state *st) __must_check;

#endif
