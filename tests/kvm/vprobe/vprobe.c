/*
 * vprobe.elf, ring 0: the smallest virtio-mmio console driver that
 * checks a VMM's virtio plumbing end to end, on the guest framework of
 * guests/ (it is not part of the guest library: a probe for the kvm
 * suite, tests/kvm/test_virtio.py). It finds the device the way an
 * unmodified guest does, in the DSDT (Device with _HID "LNRO0005": its
 * Memory32Fixed window and its Extended Interrupt, level-triggered),
 * drives it with polled register accesses, negotiates VERSION_1 and
 * EVENT_IDX, routes the interrupt through the I/O APIC and takes it as
 * an interrupt (so KVM's irqfd, the EOI and the resample all run).
 *
 * Output: UART lines "vprobe: ..." as every guest; lines that went
 * through the virtio console say "vprobe: virtio ...":
 *   vprobe: ready base=0xd0000000 gsi=16        (UART)
 *   vprobe: virtio hello                         (virtio, at start)
 *   vprobe: virtio got XX                        (virtio, per input byte)
 *   vprobe: virtio bye                           (virtio, on 'q'; exit 0)
 * "vprobe: BAD ..." and exit 3 on anything unexpected (a device needing
 * a reset, an interrupt with nothing to do for too long, no device).
 *
 * cmdline: fill=MIB (0) has ring 3 write one word into every page of
 * MIB MiB, so a migration has that much to copy; hold=1 leaves input
 * the device delivered untouched until the ACPI power button is pressed
 * (the GED, polled by the timer handler), so that during a migration
 * only the device writes the receive buffers and used ring (the test
 * then sees whether those writes reached the destination).
 */
#include "kernel.h"
#include "vprobe.h"

#define QSZ 8
#define RXQ 0
#define TXQ 1
#define LINE 64

enum {
	R_MAGIC = 0x000,
	R_VERSION = 0x004,
	R_DEVICE_ID = 0x008,
	R_DEV_FEATURES = 0x010,
	R_DEV_FEATURES_SEL = 0x014,
	R_DRV_FEATURES = 0x020,
	R_DRV_FEATURES_SEL = 0x024,
	R_QUEUE_SEL = 0x030,
	R_QUEUE_NUM_MAX = 0x034,
	R_QUEUE_NUM = 0x038,
	R_QUEUE_READY = 0x044,
	R_QUEUE_NOTIFY = 0x050,
	R_ISR = 0x060,
	R_ACK = 0x064,
	R_STATUS = 0x070,
	R_DESC = 0x080,
	R_DRIVER = 0x090,
	R_DEVICE = 0x0a0,
};

struct vring {
	struct {
		uint64_t addr;
		uint32_t len;
		uint16_t flags, next;
	} desc[QSZ] __attribute__((aligned(16)));
	struct {
		uint16_t flags, idx, ring[QSZ], used_event;
	} avail __attribute__((aligned(4)));
	struct {
		uint16_t flags, idx;
		struct {
			uint32_t id, len;
		} ring[QSZ];
		uint16_t avail_event;
	} used __attribute__((aligned(4)));
	uint16_t last_used; /* the driver's: used entries handled */
};

static struct vring rings[2];
static uint8_t rxbuf[QSZ][16];
static char txbuf[QSZ][LINE];
static uint64_t base;
static uint32_t gsi;
static uint16_t tx_sent;
static bool quitting;
static bool hold; /* leave input alone until the power button */
static uint16_t ged_port;
static const char *const keys[] = { "fill", "hold", NULL };
struct vprobe_fill vprobe_fill;

static uint32_t rd(uint32_t off)
{
	return mmio_read32(base + off);
}

static void wr(uint32_t off, uint32_t v)
{
	mmio_write32(base + off, v);
}

static uint32_t le32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Offset of needle in hay[from, len), or len. */
static uint32_t find(const uint8_t *hay, uint32_t from, uint32_t len,
		     const char *needle, uint32_t n)
{
	uint32_t i;

	for (i = from; i + n <= len; i++)
		if (!memcmp(hay + i, needle, n))
			return i;
	return len;
}

/* The first LNRO0005 device of the DSDT: its window and its interrupt. */
static void find_device(void)
{
	const uint8_t *d = phys_ptr(platform.dsdt);
	uint32_t len, at, mem, irq;

	if (!platform.dsdt)
		con_fail("no DSDT\n");
	len = le32(d + 4);
	at = find(d, 36, len, "\x0dLNRO0005", 10);
	mem = find(d, at, len, "\x86\x09\x00", 3); /* Memory32Fixed */
	irq = find(d, mem, len, "\x89\x06\x00", 3); /* Extended Interrupt */
	if (at == len || mem + 12 > len || irq + 9 > len)
		con_fail("no virtio-mmio device (LNRO0005) in the DSDT\n");
	base = le32(d + mem + 4);
	gsi = le32(d + irq + 5);
	if (le32(d + mem + 8) < 0x100 || d[irq + 3] != 0x01 || d[irq + 4] != 1)
		con_fail("virtio-mmio _CRS: size %u, interrupt flags %x\n",
			 le32(d + mem + 8), d[irq + 3]);
}

static void queue_setup(unsigned int q)
{
	struct vring *r = &rings[q];

	wr(R_QUEUE_SEL, q);
	if (rd(R_QUEUE_NUM_MAX) < QSZ || rd(R_QUEUE_READY))
		con_fail("queue %u: max %u ready %u\n", q, rd(R_QUEUE_NUM_MAX),
			 rd(R_QUEUE_READY));
	wr(R_QUEUE_NUM, QSZ);
	wr(R_DESC, (uint32_t)(uint64_t)r->desc);
	wr(R_DESC + 4, 0);
	wr(R_DRIVER, (uint32_t)(uint64_t)&r->avail);
	wr(R_DRIVER + 4, 0);
	wr(R_DEVICE, (uint32_t)(uint64_t)&r->used);
	wr(R_DEVICE + 4, 0);
	wr(R_QUEUE_READY, 1);
	if (rd(R_QUEUE_READY) != 1)
		con_fail("queue %u not ready: status %x\n", q, rd(R_STATUS));
}

/* Make descriptor i available on q, then notify the device. */
static void publish(unsigned int q, uint16_t i)
{
	struct vring *r = &rings[q];

	r->avail.ring[r->avail.idx % QSZ] = i;
	barrier();
	r->avail.idx++;
	barrier();
	wr(R_QUEUE_NOTIFY, q);
}

static void rx_post(uint16_t i)
{
	rings[RXQ].desc[i].addr = (uint64_t)rxbuf[i];
	rings[RXQ].desc[i].len = sizeof(rxbuf[i]);
	rings[RXQ].desc[i].flags = 2; /* device-writable */
	publish(RXQ, i);
}

/* One line out through the transmit queue; waits for a free slot. */
static void vsay(const char *fmt, uint32_t arg)
{
	struct vring *r = &rings[TXQ];
	uint16_t i = tx_sent % QSZ;
	uint64_t deadline = rdtsc() + 2 * boot_facts.tsc_hz;
	char *p = txbuf[i];
	unsigned int n = 0;

	while ((uint16_t)(tx_sent - *(volatile uint16_t *)&r->used.idx) >= QSZ)
		if ((int64_t)(rdtsc() - deadline) > 0)
			con_fail("transmit queue stuck at %u\n", r->used.idx);
	memcpy(p, "vprobe: virtio ", 15);
	n = 15;
	while (*fmt && n < LINE - 4) {
		if (*fmt == '%') { /* "%02x": the one format used */
			p[n++] = "0123456789abcdef"[(arg >> 4) & 15];
			p[n++] = "0123456789abcdef"[arg & 15];
			fmt += 4;
			continue;
		}
		p[n++] = *fmt++;
	}
	p[n++] = '\n';
	r->desc[i].addr = (uint64_t)p;
	r->desc[i].len = n;
	r->desc[i].flags = 0;
	tx_sent++;
	publish(TXQ, i);
}

/* fill=MIB: pages for ring 3 to touch once (vprobe_user.c). */
static void fill_setup(void)
{
	uint64_t mib = cmdline_u64("fill", 0);

	if (mib && (mib > 1024 || !mm_take(mib * 256, vprobe_fill.ext,
					   VPROBE_EXTENTS, &vprobe_fill.nr)))
		con_fail("fill=%lu does not fit\n", mib);
}

/* hold=1: the power button (godwit's GED: an I/O port) releases input. */
static void hold_setup(void)
{
	uint8_t space = 0;
	uint64_t addr = 0;

	hold = cmdline_u64("hold", 0) != 0;
	if (hold && (!acpi_find_ged(&space, &addr) || space != ACPI_SPACE_IO ||
		     addr > 0xffff))
		con_fail("hold=1: no GED register in I/O space\n");
	ged_port = (uint16_t)addr;
}

static void setup(void)
{
	uint32_t f;

	cmdline_check_keys(keys);
	fill_setup();
	hold_setup();
	find_device();
	if (rd(R_MAGIC) != 0x74726976 || rd(R_VERSION) != 2 ||
	    rd(R_DEVICE_ID) != 3)
		con_fail("not a modern virtio console at %lx\n", base);
	wr(R_STATUS, 0);
	wr(R_STATUS, 1);
	wr(R_STATUS, 3);
	wr(R_DEV_FEATURES_SEL, 1);
	f = rd(R_DEV_FEATURES);
	if (!(f & 1))
		con_fail("no VERSION_1\n");
	wr(R_DRV_FEATURES_SEL, 0);
	wr(R_DRV_FEATURES, 1u << 29); /* EVENT_IDX */
	wr(R_DRV_FEATURES_SEL, 1);
	wr(R_DRV_FEATURES, 1); /* VERSION_1 */
	wr(R_STATUS, 0xb);
	if (!(rd(R_STATUS) & 8))
		con_fail("FEATURES_OK refused\n");
	queue_setup(RXQ);
	queue_setup(TXQ);
	wr(R_STATUS, 0xf);
	for (f = 0; f < QSZ; f++)
		rx_post((uint16_t)f);
	ioapic_route(gsi, 0x0d, VEC_WATCHDOG, platform.apic_id[0]);
	con_say("ready base=0x%lx gsi=%u\n", base, gsi);
	vsay("hello", 0);
}

/* Input bytes: echo each, repost the buffer; 'q' ends the VM. */
static void rx_done(void)
{
	struct vring *r = &rings[RXQ];
	uint32_t id, len, k;

	while (r->last_used != *(volatile uint16_t *)&r->used.idx) {
		id = r->used.ring[r->last_used % QSZ].id;
		len = r->used.ring[r->last_used % QSZ].len;
		if (id >= QSZ || len > sizeof(rxbuf[0]))
			con_fail("used entry id %u len %u\n", id, len);
		for (k = 0; k < len; k++) {
			vsay("got %02x", rxbuf[id][k]);
			quitting |= rxbuf[id][k] == 'q';
		}
		r->last_used++;
		rx_post((uint16_t)id);
	}
	/* EVENT_IDX: interrupt me when the next entry is used. */
	r->avail.used_event = r->last_used;
}

/* Echo what arrived; after a 'q', say bye once it is all out. */
static void handle_input(void)
{
	rx_done();
	rings[TXQ].avail.used_event =
		*(volatile uint16_t *)&rings[TXQ].used.idx;
	if (!quitting)
		return;
	vsay("bye", 0);
	while (*(volatile uint16_t *)&rings[TXQ].used.idx != tx_sent)
		;
	guest_exit(EXIT_OK);
}

static void irq(unsigned int vector)
{
	uint32_t isr = rd(R_ISR);

	wr(R_ACK, isr);
	if ((isr & 2) || (rd(R_STATUS) & 0x40))
		con_fail("device needs a reset: status %x\n", rd(R_STATUS));
	if (!hold)
		handle_input();
}

static void tick(uint64_t tsc)
{
	(void)tsc;
	if (!hold || !(inb(ged_port) & 1))
		return;
	outb(ged_port, 1); /* acknowledge the press */
	hold = false;
	handle_input();
}

const struct guest_ops guest_ops = {
	.name = "vprobe",
	.max_cpus = 1,
	.setup = setup,
	.tick = tick,
	.irq = irq,
};
