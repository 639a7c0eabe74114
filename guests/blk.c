/*
 * blk.elf, ring 0: a virtio-blk driver for the workload in blk_user.c.
 *
 * cmdline: passes=K (0: forever) qd=N (1-128, 32) bs=BYTES (multiple of
 *          512, up to 1 MiB; 4096) mode=write|verify|read (write)
 *          pattern=seq|rand (seq) stats=1 discard=1 mix=1
 * Output:  "blk: ready", at most ten "blk: pass N" a second (the latest
 *          completed pass; with stats=1 followed by its figures), then
 *          "blk: done passes=K" (exit 0) or
 *          "blk: CORRUPT lba=X expected=Y found=Z" (hex, exit 3), or
 *          "blk: BAD <reason>" (exit 3: no device, I/O error, a disk
 *          without a commit record for verify/read).
 *
 * Setup negotiates EVENT_IDX and INDIRECT_DESC when offered, sizes the
 * slots (2*qd + 4 where the queue and RAM allow, at least qd) and routes
 * the interrupt. The interrupt handler and the timer tick only move
 * staged requests onto the avail ring (virtq_publish_staged): no request
 * is built or checked here.
 */
#include "blk.h"
#include "virtio_mmio.h"

#define PRINT_EVERY_TICKS (GUEST_HZ / 10)
#define SLOT_SPARE 4 /* flushes and the commit record beyond 2*qd */

struct blk_config blk_config;
struct blk_report blk_report;
volatile uint32_t blk_waiting __attribute__((aligned(CACHELINE)));

static struct virtq vq;
static struct virtio_dev *dev;
static uint64_t last_printed;
static const char *const keys[] = { "passes",  "qd",	  "bs",
				    "mode",    "pattern", "stats",
				    "discard", "mix",	  NULL };

static uint32_t parse_mode(void)
{
	char buf[16];

	if (!cmdline_str("mode", buf, sizeof(buf)) || str_eq(buf, "write"))
		return BLK_MODE_WRITE;
	if (str_eq(buf, "verify"))
		return BLK_MODE_VERIFY;
	if (str_eq(buf, "read"))
		return BLK_MODE_READ;
	con_fail("mode=%s unknown (write, verify or read)\n", buf);
}

static bool parse_rand(void)
{
	char buf[16];

	if (!cmdline_str("pattern", buf, sizeof(buf)) || str_eq(buf, "seq"))
		return false;
	if (str_eq(buf, "rand"))
		return true;
	con_fail("pattern=%s unknown (seq or rand)\n", buf);
}

static void parse_cmdline(uint64_t *qd_out)
{
	struct blk_config *c = &blk_config;

	cmdline_check_keys(keys);
	c->mode = parse_mode();
	c->rand = parse_rand();
	c->passes = cmdline_u64("passes", 0);
	c->bs = cmdline_u64("bs", 4096);
	c->stats = cmdline_u64("stats", 0);
	c->discard = cmdline_u64("discard", 0);
	c->mix = cmdline_u64("mix", 0);
	*qd_out = cmdline_u64("qd", 32);
	c->qd = *qd_out;
	if (!*qd_out || *qd_out > BLK_MAX_QD)
		con_fail("qd=%lu must be 1-%u\n", *qd_out, BLK_MAX_QD);
	if (!c->bs || c->bs % BLK_SECTOR || c->bs > BLK_MAX_BS)
		con_fail("bs=%lu must be a multiple of 512 up to %u\n", c->bs,
			 BLK_MAX_BS);
	if ((c->discard || c->mix) && c->mode != BLK_MODE_WRITE)
		con_fail("%s=1 needs mode=write\n",
			 c->discard ? "discard" : "mix");
}

static uint64_t want_features(void)
{
	uint64_t f = VIRTIO_BIT(VIRTIO_F_EVENT_IDX) |
		     VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) |
		     VIRTIO_BIT(VIRTIO_BLK_F_FLUSH) |
		     VIRTIO_BIT(VIRTIO_BLK_F_SIZE_MAX) |
		     VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) |
		     VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) |
		     VIRTIO_BIT(VIRTIO_BLK_F_RO);

	if (blk_config.discard)
		f |= VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) |
		     VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES);
	return f;
}

static bool has(uint64_t f, unsigned int bit)
{
	return f & VIRTIO_BIT(bit);
}

/* What the device's features and config allow for this command line. */
static void check_device(uint64_t f)
{
	struct blk_config *c = &blk_config;
	uint64_t spb = c->bs / BLK_SECTOR;

	if (has(f, VIRTIO_BLK_F_RO) && c->mode == BLK_MODE_WRITE)
		con_fail("the disk is read-only; mode=write needs a "
			 "writable one\n");
	if (has(f, VIRTIO_BLK_F_SIZE_MAX) &&
	    virtio_cfg32(dev, VIRTIO_BLK_CFG_SIZE_MAX) < c->bs + 16)
		con_fail("bs=%lu exceeds the device's segment size %u\n", c->bs,
			 virtio_cfg32(dev, VIRTIO_BLK_CFG_SIZE_MAX));
	c->flush = has(f, VIRTIO_BLK_F_FLUSH);
	c->can_discard =
		has(f, VIRTIO_BLK_F_DISCARD) &&
		virtio_cfg32(dev, VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS) >= spb;
	c->can_zero =
		has(f, VIRTIO_BLK_F_WRITE_ZEROES) &&
		virtio_cfg32(dev, VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SECTORS) >=
			spb;
	if (c->discard && !c->can_discard && !c->can_zero)
		con_fail("discard=1: the device offers neither DISCARD nor "
			 "WRITE_ZEROES for %lu sectors\n",
			 spb);
	c->capacity = virtio_cfg64(dev, VIRTIO_BLK_CFG_CAPACITY);
	c->data_end = c->capacity & ~(uint64_t)(BLK_META_SECTORS - 1);
	if (c->data_end <= BLK_META_SECTORS)
		con_fail("disk of %lu sectors is too small (at least 16)\n",
			 c->capacity);
	/* blk_user.c's permutation multiplies two block numbers. */
	if ((c->data_end - BLK_META_SECTORS) / spb >= 1ULL << 32)
		con_fail("disk of %lu sectors has 2^32 blocks of bs=%lu or "
			 "more\n",
			 c->capacity, c->bs);
}

/* Page (indirect table, header), data, status byte: whole pages. */
static uint64_t slot_stride(void)
{
	uint64_t buf = blk_config.bs > 4096 ? blk_config.bs : 4096;

	return PAGE_SIZE + ((buf + 1 + PAGE_SIZE - 1) & ~(uint64_t)4095);
}

static uint32_t slot_count(uint64_t qd)
{
	uint64_t ring = vq.indirect ? vq.size : vq.size / 2u;
	uint64_t mem = mm_free_bytes();
	uint64_t n = 2 * qd + SLOT_SPARE;

	mem = mem > (4ULL << 20) ? mem - (4ULL << 20) : 0; /* headroom */
	if (n > ring)
		n = ring;
	if (n > BLK_MAX_SLOTS)
		n = BLK_MAX_SLOTS;
	if (n > mem / slot_stride())
		n = mem / slot_stride();
	if (n < qd)
		con_fail("qd=%lu bs=%lu do not fit: room for %lu requests "
			 "(queue of %u, %lu MiB free)\n",
			 qd, blk_config.bs, n, vq.size, mm_free_bytes() >> 20);
	return (uint32_t)n;
}

static void init_slot(uint32_t i, uint8_t *mem)
{
	struct blk_slot *s = &blk_config.slot[i];

	s->page = mem;
	s->data = mem + PAGE_SIZE;
	s->head = (uint16_t)(vq.indirect ? i : 2 * i);
	if (vq.indirect) {
		vq.desc[i].addr = (uint64_t)mem;
		vq.desc[i].len = 2 * sizeof(struct virtq_desc);
		vq.desc[i].flags = VIRTQ_DESC_F_INDIRECT;
	}
}

/* Carve the slots out of the extents mm_take hands out. */
static void alloc_slots(uint32_t n)
{
	struct extent ext[64];
	uint64_t pages_per = slot_stride() / PAGE_SIZE;
	unsigned int ne, e;
	uint32_t made = 0;

	if (!mm_take(n * pages_per, ext, 64, &ne))
		con_fail("no RAM for %u request buffers\n", n);
	for (e = 0; e < ne; e++) {
		while (ext[e].count >= pages_per && made < n) {
			init_slot(made++, phys_ptr(ext[e].pfn * PAGE_SIZE));
			ext[e].pfn += pages_per;
			ext[e].count -= pages_per;
		}
	}
	blk_config.nslots = made;
}

static void irq_handler(struct virtio_dev *d, uint32_t isr)
{
	(void)d;
	if (isr & VIRTIO_INT_USED)
		virtq_publish_staged(&vq);
}

static void debug_report(uint64_t qd)
{
	con_printf("guest: blk capacity=%lu sectors qd=%lu bs=%lu slots=%u "
		   "queue=%u indirect=%u event_idx=%u flush=%u discard=%u "
		   "write_zeroes=%u\n",
		   blk_config.capacity, qd, blk_config.bs, blk_config.nslots,
		   vq.size, vq.indirect, vq.event_idx, blk_config.flush,
		   blk_config.can_discard, blk_config.can_zero);
}

static void setup(void)
{
	uint64_t qd, f;

	parse_cmdline(&qd);
	dev = virtio_claim(VIRTIO_ID_BLOCK);
	if (!dev)
		con_fail("no virtio block device (virtio-mmio, type 2)\n");
	f = virtio_negotiate(dev, "virtio-blk", want_features(), 0);
	check_device(f);
	virtio_queue_init(dev, &vq, 0, VIRTQ_MAX_SIZE);
	vq.max_inflight = (uint16_t)qd;
	alloc_slots(slot_count(qd));
	if (blk_config.nslots < qd)
		con_fail("RAM too fragmented for qd=%lu\n", qd);
	blk_config.q = &vq;
	virtio_irq_attach(dev, irq_handler);
	virtio_driver_ok(dev);
	if (debug_enabled())
		debug_report(qd);
	con_say("ready\n");
}

/* MB/s (10^6 bytes) with one decimal, and requests per second. */
static void print_rate(const char *what, uint64_t bytes, uint64_t reqs,
		       uint64_t tsc)
{
	uint64_t us = tsc / (boot_facts.tsc_hz / 1000000), tenths;

	if (!us)
		us = 1;
	tenths = bytes * 10 / us;
	con_printf(" %s MBps=%lu.%lu iops=%lu", what, tenths / 10, tenths % 10,
		   reqs * 1000000 / us);
}

static void print_pass(uint64_t pass)
{
	const struct blk_figures *f = &blk_report.fig[pass & 1];

	if (!blk_config.stats) {
		con_say("pass %lu\n", pass);
		return;
	}
	con_say("pass %lu", pass);
	if (blk_config.mix)
		print_rate("mix", f->w_bytes, f->w_reqs, f->w_tsc);
	else if (f->w_reqs)
		print_rate("write", f->w_bytes, f->w_reqs, f->w_tsc);
	if (!blk_config.mix)
		print_rate("read", f->r_bytes, f->r_reqs, f->r_tsc);
	con_printf("\n");
}

static void report_bad(const struct user_status *st)
{
	if (blk_report.bad == BLK_BAD_CORRUPT) {
		con_say("CORRUPT lba=%lx expected=%lx found=%lx\n", st->bad_a,
			st->bad_b, st->bad_c);
		guest_exit(EXIT_FAIL);
	}
	if (blk_report.bad == BLK_BAD_RECORD)
		con_fail("no commit record in sector 0 (first word %lx): not "
			 "a disk written by mode=write\n",
			 st->bad_a);
	con_fail("I/O error: request type %lu sector %lu status %lu\n",
		 st->bad_b, st->bad_a, st->bad_c);
}

static void tick(uint64_t tsc)
{
	const struct user_status *st = &user_status[0];
	uint64_t pass = st->progress;

	(void)tsc;
	virtq_publish_staged(&vq);
	if (st->state == USER_BAD)
		report_bad(st);
	if (st->state == USER_DONE) {
		if (pass != last_printed)
			print_pass(pass);
		con_say("done passes=%lu\n", pass);
		guest_exit(EXIT_OK);
	}
	if (cpu_ticks[0] % PRINT_EVERY_TICKS || pass == last_printed)
		return;
	print_pass(pass);
	last_printed = pass;
}

static void irq(unsigned int vector)
{
	(void)vector;
}

/*
 * Ring 3 waits for completions, none is unreaped, and one will come:
 * staged requests that can go out are published first, and with nothing
 * in flight ring 3 must run (it is about to stage or to finish).
 */
static bool idle(void)
{
	if (!blk_waiting || user_status[0].state != USER_RUNNING)
		return false;
	virtq_publish_staged(&vq);
	return virtq_inflight(&vq) && virtq_used_idx(&vq) == vq.used_seen;
}

const struct guest_ops guest_ops = {
	.name = "blk",
	.max_cpus = 1,
	.setup = setup,
	.tick = tick,
	.irq = irq,
	.idle = idle,
};
