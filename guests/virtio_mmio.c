/*
 * The virtio-mmio transport in ring 0 (virtio 1.2, 4.2): probing the
 * windows virtio_find.c reports, the initialisation sequence (reset,
 * ACKNOWLEDGE, DRIVER, features, FEATURES_OK, queues, DRIVER_OK), config
 * space reads and interrupts. Only the modern interface (version 2) is
 * driven; a legacy device of a wanted type is refused with a BAD line.
 *
 * Interrupts: each device's GSI is routed through the IOAPIC that serves
 * it (level-triggered, as the DSDT of QEMU microvm and godwit says) to
 * VEC_VIRTIO + n on the BSP, one vector per distinct GSI. The handler
 * reads InterruptStatus and writes it back to InterruptACK before the
 * LAPIC EOI, so the level line is low again when the IOAPIC re-checks it.
 */
#include "virtio_mmio.h"

static struct virtio_dev devs[VIRTIO_MAX_DEVS];
static unsigned int ndevs;
static bool found;
static uint32_t vector_gsi[VEC_VIRTIO_COUNT];
static unsigned int nvectors;

static uint32_t rd(const struct virtio_dev *d, uint32_t reg)
{
	return mmio_read32(d->base + reg);
}

static void wr(const struct virtio_dev *d, uint32_t reg, uint32_t v)
{
	mmio_write32(d->base + reg, v);
}

void virtio_add_window(uint64_t base, uint32_t gsi, uint16_t irq_flags,
		       bool has_gsi, const char *source)
{
	struct virtio_dev *d;
	unsigned int i;

	for (i = 0; i < ndevs; i++) {
		if (devs[i].base == base)
			return;
	}
	if (ndevs == VIRTIO_MAX_DEVS || base >= 1ULL << 32) {
		/* Only the first 4 GiB are surely mapped (uncached). */
		if (debug_enabled())
			con_printf("guest: virtio-mmio %lx (%s) ignored\n",
				   base, source);
		return;
	}
	d = &devs[ndevs++];
	d->base = base;
	d->gsi = gsi;
	d->irq_flags = irq_flags;
	d->has_gsi = has_gsi;
	d->source = source;
}

static void probe_all(void)
{
	unsigned int i;

	if (found)
		return;
	found = true;
	virtio_find_windows();
	for (i = 0; i < ndevs; i++) {
		struct virtio_dev *d = &devs[i];

		d->magic = rd(d, VIRTIO_MMIO_MAGIC);
		d->version = rd(d, VIRTIO_MMIO_VERSION);
		d->device_id = rd(d, VIRTIO_MMIO_DEVICE_ID);
		if (d->magic != VIRTIO_MMIO_MAGIC_VALUE)
			d->device_id = 0;
		if (debug_enabled() && d->device_id)
			con_printf("guest: virtio-mmio %lx gsi=%u id=%u "
				   "version=%u (%s)\n",
				   d->base, d->gsi, d->device_id, d->version,
				   d->source);
	}
}

struct virtio_dev *virtio_claim(uint32_t id)
{
	unsigned int i;

	probe_all();
	for (i = 0; i < ndevs; i++) {
		struct virtio_dev *d = &devs[i];

		if (d->claimed || d->device_id != id)
			continue;
		if (d->version != 2)
			con_fail("virtio-mmio device %u at 0x%lx has version "
				 "%u, not 2 (legacy devices are not driven)\n",
				 id, d->base, d->version);
		d->claimed = true;
		return d;
	}
	return NULL;
}

static void set_status(struct virtio_dev *d, uint32_t bits)
{
	wr(d, VIRTIO_MMIO_STATUS, rd(d, VIRTIO_MMIO_STATUS) | bits);
}

static void reset(struct virtio_dev *d)
{
	unsigned int spins = 0;

	wr(d, VIRTIO_MMIO_STATUS, 0);
	while (rd(d, VIRTIO_MMIO_STATUS) && spins++ < 1000)
		;
	if (spins >= 1000)
		con_fail("virtio-mmio device at 0x%lx does not reset\n",
			 d->base);
}

static uint64_t device_features(struct virtio_dev *d)
{
	uint64_t f;

	wr(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	f = (uint64_t)rd(d, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
	wr(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	return f | rd(d, VIRTIO_MMIO_DEVICE_FEATURES);
}

uint64_t virtio_negotiate(struct virtio_dev *d, const char *what, uint64_t want,
			  uint64_t need)
{
	uint64_t offered, f, missing;
	unsigned int bit = 0;

	need |= VIRTIO_BIT(VIRTIO_F_VERSION_1);
	reset(d);
	set_status(d, VIRTIO_STATUS_ACKNOWLEDGE);
	set_status(d, VIRTIO_STATUS_DRIVER);
	offered = device_features(d);
	f = offered & (want | need);
	missing = need & ~f;
	if (missing) {
		while (!(missing & 1))
			missing >>= 1, bit++;
		set_status(d, VIRTIO_STATUS_FAILED);
		con_fail("%s at 0x%lx lacks feature bit %u (offers %lx)\n",
			 what, d->base, bit, offered);
	}
	wr(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(f >> 32));
	wr(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)f);
	set_status(d, VIRTIO_STATUS_FEATURES_OK);
	if (!(rd(d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK)) {
		set_status(d, VIRTIO_STATUS_FAILED);
		con_fail("%s at 0x%lx refused features %lx\n", what, d->base,
			 f);
	}
	d->features = f;
	if (debug_enabled())
		con_printf("guest: %s at %lx offers %lx, driver uses %lx\n",
			   what, d->base, offered, f);
	return f;
}

/* Queue memory: descriptors, avail ring, used ring, in zeroed pages. */
static void queue_memory(struct virtq *q)
{
	uint64_t desc = q->size * sizeof(struct virtq_desc);
	uint64_t avail = 6 + 2ULL * q->size;
	uint64_t used_at = (desc + avail + 63) & ~63ULL;
	uint64_t total = used_at + 6 + 8ULL * q->size;
	uint8_t *mem = mm_alloc(total);

	q->desc = (struct virtq_desc *)mem;
	q->avail = (struct virtq_avail *)(mem + desc);
	q->used = (struct virtq_used *)(mem + used_at);
	q->used_event = &q->avail->ring[q->size];
	q->avail_event = (volatile uint16_t *)&q->used->ring[q->size];
}

static void wr64(struct virtio_dev *d, uint32_t lo_reg, uint64_t v)
{
	wr(d, lo_reg, (uint32_t)v);
	wr(d, lo_reg + 4, (uint32_t)(v >> 32));
}

void virtio_queue_init(struct virtio_dev *d, struct virtq *q, uint16_t index,
		       uint16_t max_size)
{
	uint32_t dev_max, size = 1;

	wr(d, VIRTIO_MMIO_QUEUE_SEL, index);
	if (rd(d, VIRTIO_MMIO_QUEUE_READY))
		con_fail("virtio queue %u at 0x%lx is ready before setup\n",
			 index, d->base);
	dev_max = rd(d, VIRTIO_MMIO_QUEUE_NUM_MAX);
	if (!dev_max)
		con_fail("virtio-mmio device at 0x%lx has no queue %u\n",
			 d->base, index);
	while (size * 2 <= dev_max && size * 2 <= max_size)
		size *= 2;
	memset(q, 0, sizeof(*q));
	q->size = (uint16_t)size;
	q->index = index;
	q->notify = d->base + VIRTIO_MMIO_QUEUE_NOTIFY;
	q->event_idx = d->features & VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	q->indirect = d->features & VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
	q->max_inflight = q->size;
	queue_memory(q);
	wr(d, VIRTIO_MMIO_QUEUE_NUM, size);
	wr64(d, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint64_t)q->desc);
	wr64(d, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint64_t)q->avail);
	wr64(d, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint64_t)q->used);
	wr(d, VIRTIO_MMIO_QUEUE_READY, 1);
}

void virtio_driver_ok(struct virtio_dev *d)
{
	set_status(d, VIRTIO_STATUS_DRIVER_OK);
	if (rd(d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET)
		con_fail("virtio-mmio device at 0x%lx needs a reset after "
			 "DRIVER_OK\n",
			 d->base);
}

/* One vector per distinct GSI; devices sharing a GSI share the vector. */
static uint8_t vector_for(uint32_t gsi)
{
	unsigned int i;

	for (i = 0; i < nvectors; i++) {
		if (vector_gsi[i] == gsi)
			return (uint8_t)(VEC_VIRTIO + i);
	}
	if (nvectors == VEC_VIRTIO_COUNT)
		con_fail("more than %u virtio interrupt lines\n",
			 VEC_VIRTIO_COUNT);
	vector_gsi[nvectors] = gsi;
	return (uint8_t)(VEC_VIRTIO + nvectors++);
}

void virtio_irq_attach(struct virtio_dev *d, virtio_handler handler)
{
	d->handler = handler;
	if (!d->has_gsi || !platform.nioapics)
		return; /* the timer tick polls instead */
	d->vector = vector_for(d->gsi);
	ioapic_route(d->gsi, d->irq_flags, d->vector, platform.apic_id[0]);
}

uint32_t virtio_ack(struct virtio_dev *d)
{
	uint32_t isr = rd(d, VIRTIO_MMIO_INTERRUPT_STATUS);

	if (isr)
		wr(d, VIRTIO_MMIO_INTERRUPT_ACK, isr);
	return isr;
}

/*
 * Every virtio device on the vector's line is acknowledged, with a
 * handler or not (the polled console may share a GSI with blk): an
 * unacknowledged level line would interrupt forever.
 */
void virtio_irq(unsigned int vector)
{
	unsigned int i;
	uint32_t gsi;

	if (vector - VEC_VIRTIO >= nvectors)
		return;
	gsi = vector_gsi[vector - VEC_VIRTIO];
	for (i = 0; i < ndevs; i++) {
		struct virtio_dev *d = &devs[i];
		uint32_t isr;

		if (!d->has_gsi || d->gsi != gsi ||
		    d->magic != VIRTIO_MMIO_MAGIC_VALUE || d->version != 2)
			continue;
		isr = virtio_ack(d);
		if (isr && d->handler)
			d->handler(d, isr);
	}
}

uint8_t virtio_cfg8(const struct virtio_dev *d, uint32_t off)
{
	return *(volatile uint8_t *)(d->base + VIRTIO_MMIO_CONFIG + off);
}

uint16_t virtio_cfg16(const struct virtio_dev *d, uint32_t off)
{
	return *(volatile uint16_t *)(d->base + VIRTIO_MMIO_CONFIG + off);
}

uint32_t virtio_cfg32(const struct virtio_dev *d, uint32_t off)
{
	return rd(d, VIRTIO_MMIO_CONFIG + off);
}

/* Two 32-bit reads under one config generation (virtio 1.2, 2.5.1). */
uint64_t virtio_cfg64(const struct virtio_dev *d, uint32_t off)
{
	uint32_t gen, lo, hi;
	unsigned int tries = 0;

	do {
		gen = rd(d, VIRTIO_MMIO_CONFIG_GENERATION);
		lo = virtio_cfg32(d, off);
		hi = virtio_cfg32(d, off + 4);
	} while (gen != rd(d, VIRTIO_MMIO_CONFIG_GENERATION) && ++tries < 10);
	return (uint64_t)hi << 32 | lo;
}
