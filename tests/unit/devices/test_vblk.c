/*
 * Unit tests of the virtio-blk device through a simulated driver
 * (vdriver.h) over a real image file and the storage layer: the config
 * space and features, reads, writes, flushes, GET_ID, DISCARD and
 * WRITE_ZEROES in any framing, one queue per vCPU, reads marking guest
 * pages dirty, a read-only disk, every answer the specification gives a
 * driver that breaks the rules (IOERR, UNSUPP, DEVICE_NEEDS_RESET),
 * quiesce completing what is in flight, and the descriptor's save ->
 * check -> load round trip with its refusals.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "devices/virtio/blk.h"
#include "vdriver.h"
#include "vmm/x86/layout.h"

#define QS 256
#define NQ 2
#define DISK_BYTES (1 * MIB)
#define SLOT(k) (VD_DATA + (uint64_t)(k)*0x3000) /* request k's header */
#define STATUS(k) (SLOT(k) + 0x100)
#define DATA(k) (SLOT(k) + 0x1000) /* up to 8 KiB */
#define BIT(n) (1ULL << (n))
#define FEAT_ALL (~0ULL)

static const struct dev_res slot1 = { LAYOUT_VIRTIO_MMIO + 0x1000,
				      LAYOUT_VIRTIO_GSI(1) };

struct fixture {
	struct guest_mem mem;
	char path[64];
	int fd; /* the image, to look behind the device's back */
	struct disk *disk;
	struct virtio_blk_conf conf;
	struct virtio_blk b;
	struct vdq q[NQ];
	struct dev_env env;
	char why[256];
};

/* ---- Set-up ---------------------------------------------------------- */

static struct disk *open_disk(const char *path, bool ro)
{
	const struct disk_open_args a = { .path = path,
					  .label = "xvda",
					  .readonly = ro };
	struct disk *d = NULL;
	char why[DISK_WHY_MAX];

	if (disk_open(&a, &d, why, sizeof(why)))
		fail_msg("%s", why);
	return d;
}

static void make_blk(struct fixture *f, bool ro)
{
	const struct dev_host host = { .id = "xvda",
				       .res = slot1,
				       .arg = &f->conf };

	f->disk = open_disk(f->path, ro);
	f->conf = (struct virtio_blk_conf){ .disk = f->disk,
					    .size = DISK_BYTES,
					    .readonly = ro,
					    .discard = true,
					    .num_queues = NQ };
	strcpy(f->conf.serial, "xvda");
	assert_int_equal(virtio_blk_setup(&f->b, &host, &f->mem), 0);
	virtio_blk_type.reset(&f->b);
	f->env = (struct dev_env){ .mem_bytes = VD_MEM,
				   .res = slot1,
				   .arg = &f->conf };
}

static void drop_blk(struct fixture *f)
{
	virtio_blk_type.destroy(&f->b);
	memset(&f->b, 0, sizeof(f->b));
	disk_close(f->disk);
	f->disk = NULL;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	uint8_t block[512];
	unsigned int i;

	if (!f || mem_init(&f->mem, VD_MEM))
		return -1;
	strcpy(f->path, "/tmp/godwit-vblk-XXXXXX");
	f->fd = mkstemp(f->path);
	if (f->fd < 0)
		return -1;
	/* Sector s holds byte s & 0xff throughout. */
	for (i = 0; i < DISK_BYTES / 512; i++) {
		memset(block, i & 0xff, sizeof(block));
		if (pwrite(f->fd, block, 512, i * 512ULL) != 512)
			return -1;
	}
	make_blk(f, false);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	drop_blk(f);
	close(f->fd);
	unlink(f->path);
	mem_destroy(&f->mem);
	free(f);
	return 0;
}

/* ---- The simulated driver -------------------------------------------- */

static void start(struct fixture *f, uint64_t features)
{
	vd_driver_init(&f->b.vd, f->q, NQ, QS, features);
}

static uint32_t status(struct fixture *f)
{
	return vd_rd(&f->b.vd, VIRTIO_MMIO_STATUS);
}

/* Run the device until queue qi has used entries up to want (5 s). */
static void drive(struct fixture *f, unsigned int qi, uint16_t want)
{
	time_t end = time(NULL) + 5;

	while (vd_used_idx(&f->mem, &f->q[qi]) != want) {
		if (time(NULL) > end)
			fail_msg("queue %u: used index %u, want %u", qi,
				 vd_used_idx(&f->mem, &f->q[qi]), want);
		virtio_poll(&f->b.vd, 10);
	}
}

static void header(struct fixture *f, unsigned int k, uint32_t type,
		   uint64_t sector)
{
	uint8_t *h = vd_ram(&f->mem, SLOT(k));

	memcpy(h, &type, 4);
	memset(h + 4, 0, 4);
	memcpy(h + 8, &sector, 8);
	*vd_ram(&f->mem, STATUS(k)) = 0xee;
}

/*
 * Request k as three buffers: header, len bytes of data (writable for
 * in), status. Published on queue qi and kicked; not driven.
 */
static void post(struct fixture *f, unsigned int qi, unsigned int k,
		 uint32_t type, uint64_t sector, uint32_t len, bool in)
{
	const uint64_t gpa[] = { SLOT(k), DATA(k), STATUS(k) };
	const uint32_t lens[] = { 16, len, 1 };
	const uint64_t g2[] = { SLOT(k), STATUS(k) };
	const uint32_t l2[] = { 16, 1 };

	header(f, k, type, sector);
	vd_publish(&f->mem, &f->q[qi],
		   len ? vd_chain(&f->mem, &f->q[qi], 3, gpa, lens,
				  in ? 2 : 1) :
			 vd_chain(&f->mem, &f->q[qi], 2, g2, l2, 1));
	vd_wr(&f->b.vd, VIRTIO_MMIO_QUEUE_NOTIFY, qi);
}

/* Post, run to completion, return the status byte; *used_len if asked. */
static uint8_t do_req(struct fixture *f, unsigned int k, uint32_t type,
		      uint64_t sector, uint32_t len, bool in,
		      uint32_t *used_len)
{
	struct vdq *q = &f->q[0];
	uint32_t id, ulen;

	post(f, 0, k, type, sector, len, in);
	drive(f, 0, q->avail_idx);
	vd_used_entry(&f->mem, q, q->avail_idx - 1, &id, &ulen);
	if (used_len)
		*used_len = ulen;
	return *vd_ram(&f->mem, STATUS(k));
}

static uint64_t cfg64(struct fixture *f, unsigned int off)
{
	uint64_t v = 0;

	virtio_mmio_io(&f->b.vd, VIRTIO_MMIO_CONFIG + off, (uint8_t *)&v, 8,
		       false);
	return v;
}

static uint32_t cfg32(struct fixture *f, unsigned int off)
{
	return (uint32_t)cfg64(f, off);
}

static uint64_t offered(struct fixture *f)
{
	uint64_t v;

	vd_wr(&f->b.vd, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	v = vd_rd(&f->b.vd, VIRTIO_MMIO_DEVICE_FEATURES);
	vd_wr(&f->b.vd, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	return v | (uint64_t)vd_rd(&f->b.vd, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
}

static void image_read(struct fixture *f, uint64_t off, void *buf, size_t n)
{
	assert_int_equal(pread(f->fd, buf, n, off), (ssize_t)n);
}

/* ---- Tests ------------------------------------------------------------ */

static void test_config_and_features(void **state)
{
	struct fixture *f = *state;
	uint64_t feat = offered(f);

	assert_int_equal(vd_rd(&f->b.vd, VIRTIO_MMIO_DEVICE_ID), 2);
	assert_int_equal(cfg64(f, VIRTIO_BLK_CFG_CAPACITY), DISK_BYTES / 512);
	assert_int_equal(cfg32(f, VIRTIO_BLK_CFG_SEG_MAX), VIRTIO_BLK_SEG_MAX);
	assert_int_equal(cfg32(f, VIRTIO_BLK_CFG_BLK_SIZE), 512);
	assert_int_equal(cfg32(f, VIRTIO_BLK_CFG_NUM_QUEUES) & 0xffff, NQ);
	assert_int_equal(cfg32(f, VIRTIO_BLK_CFG_MAX_DISCARD_SEG), 1);
	assert_int_equal(cfg32(f, VIRTIO_BLK_CFG_MAX_WZ_SEG), 1);
	assert_true(feat & BIT(VIRTIO_BLK_F_SEG_MAX));
	assert_true(feat & BIT(VIRTIO_BLK_F_BLK_SIZE));
	assert_true(feat & BIT(VIRTIO_BLK_F_FLUSH));
	assert_true(feat & BIT(VIRTIO_BLK_F_MQ));
	assert_true(feat & BIT(VIRTIO_BLK_F_DISCARD));
	assert_true(feat & BIT(VIRTIO_BLK_F_WRITE_ZEROES));
	assert_false(feat & BIT(VIRTIO_BLK_F_RO));
	assert_true(feat & BIT(VIRTIO_F_VERSION_1));
	/* The config space beyond what virtio-blk has reads as zero. */
	assert_int_equal(cfg64(f, VIRTIO_BLK_CONFIG_SIZE), 0);
}

static void test_write_read_flush_id(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[4096], disk[4096];
	uint32_t len;

	start(f, FEAT_ALL);
	memset(vd_ram(&f->mem, DATA(0)), 0x5a, 4096);
	assert_int_equal(do_req(f, 0, VIRTIO_BLK_T_OUT, 16, 4096, false, &len),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(len, 1);
	image_read(f, 16 * 512, disk, sizeof(disk));
	memset(buf, 0x5a, sizeof(buf));
	assert_memory_equal(disk, buf, sizeof(buf));
	assert_int_equal(do_req(f, 1, VIRTIO_BLK_T_IN, 15, 1024, true, &len),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(len, 1025);
	memset(buf, 15, 512);
	assert_memory_equal(vd_ram(&f->mem, DATA(1)), buf, 512);
	memset(buf, 0x5a, 512);
	assert_memory_equal(vd_ram(&f->mem, DATA(1) + 512), buf, 512);
	assert_int_equal(do_req(f, 2, VIRTIO_BLK_T_FLUSH, 0, 0, false, &len),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(do_req(f, 3, VIRTIO_BLK_T_GET_ID, 0, 20, true, &len),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(len, 21);
	assert_memory_equal(vd_ram(&f->mem, DATA(3)),
			    "xvda\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20);
	assert_int_equal(f->b.requests, 4);
	assert_true(vd_irqs(&f->b.mmio) > 0);
	assert_false(status(f) & VIRTIO_STATUS_NEEDS_RESET);
}

/* The device may not assume framing: header and data share a buffer,
 * data and status too (the blk guest's way), or everything is split. */
static void test_any_framing(void **state)
{
	struct fixture *f = *state;
	struct vdq *q = &f->q[0];
	uint8_t *h = vd_ram(&f->mem, SLOT(0));
	uint64_t gpa[5];
	uint32_t lens[5], type, id, len;
	uint64_t sector = 40;

	start(f, FEAT_ALL);
	/* A write: [header + data] [status]. */
	type = VIRTIO_BLK_T_OUT;
	memcpy(h, &type, 4);
	memset(h + 4, 0, 4);
	memcpy(h + 8, &sector, 8);
	memset(h + 16, 0x77, 512);
	gpa[0] = SLOT(0), lens[0] = 16 + 512;
	gpa[1] = STATUS(0) + 0x200, lens[1] = 1;
	vd_publish(&f->mem, q, vd_chain(&f->mem, q, 2, gpa, lens, 1));
	vd_wr(&f->b.vd, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	drive(f, 0, 1);
	assert_int_equal(*vd_ram(&f->mem, STATUS(0) + 0x200), 0);
	/* A read: [2 bytes of header] [14 bytes] [300 data] [212 data +
	 * status]. */
	type = VIRTIO_BLK_T_IN;
	memcpy(h, &type, 4);
	gpa[0] = SLOT(0), lens[0] = 2;
	gpa[1] = SLOT(0) + 2, lens[1] = 14;
	gpa[2] = DATA(0), lens[2] = 300;
	gpa[3] = DATA(0) + 0x800, lens[3] = 213;
	vd_publish(&f->mem, q, vd_chain(&f->mem, q, 4, gpa, lens, 2));
	vd_wr(&f->b.vd, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	drive(f, 0, 2);
	vd_used_entry(&f->mem, q, 1, &id, &len);
	assert_int_equal(len, 513);
	assert_int_equal(*vd_ram(&f->mem, DATA(0) + 0x800 + 212), 0);
	assert_int_equal(*vd_ram(&f->mem, DATA(0)), 0x77);
	assert_int_equal(*vd_ram(&f->mem, DATA(0) + 299), 0x77);
	assert_int_equal(*vd_ram(&f->mem, DATA(0) + 0x800), 0x77);
	assert_int_equal(*vd_ram(&f->mem, DATA(0) + 0x800 + 211), 0x77);
}

/* Every queue works, each with its own ring; requests interleave. */
static void test_queues(void **state)
{
	struct fixture *f = *state;
	unsigned int k;

	start(f, FEAT_ALL);
	for (k = 0; k < 8; k++)
		post(f, k % NQ, k, VIRTIO_BLK_T_IN, 100 + k, 512, true);
	drive(f, 0, 4);
	drive(f, 1, 4);
	for (k = 0; k < 8; k++) {
		assert_int_equal(*vd_ram(&f->mem, STATUS(k)), VIRTIO_BLK_S_OK);
		assert_int_equal(*vd_ram(&f->mem, DATA(k) + 7), 100 + k);
	}
}

/* A read's data and status land in guest RAM behind KVM's back: the
 * pages must be in the VMM's dirty set for pre-copy. */
static void test_reads_mark_dirty(void **state)
{
	struct fixture *f = *state;
	uint64_t data_pfn = DATA(5) >> 12;

	start(f, FEAT_ALL);
	memset(f->mem.vmm_dirty.words, 0,
	       BITMAP_WORDS(f->mem.vmm_dirty.nbits) * 8);
	assert_int_equal(do_req(f, 5, VIRTIO_BLK_T_IN, 0, 8192, true, NULL),
			 VIRTIO_BLK_S_OK);
	assert_true(bitmap_test(&f->mem.vmm_dirty, data_pfn));
	assert_true(bitmap_test(&f->mem.vmm_dirty, data_pfn + 1));
	assert_true(bitmap_test(&f->mem.vmm_dirty, STATUS(5) >> 12));
	assert_true(bitmap_test(&f->mem.vmm_dirty, f->q[0].used >> 12));
	assert_false(bitmap_test(&f->mem.vmm_dirty, data_pfn + 2));
}

static void test_discard_and_write_zeroes(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[4096], zero[4096] = { 0 };
	uint8_t *seg;
	uint64_t sector;
	uint32_t n, flags;

	start(f, FEAT_ALL);
	for (int k = 0; k < 2; k++) {
		sector = 64 + 8 * k;
		n = 8;
		flags = k ? VIRTIO_BLK_WZ_F_UNMAP : 0;
		seg = vd_ram(&f->mem, DATA(k));
		memcpy(seg, &sector, 8);
		memcpy(seg + 8, &n, 4);
		memcpy(seg + 12, &flags, 4);
		assert_int_equal(do_req(f, k, VIRTIO_BLK_T_WRITE_ZEROES, 0, 16,
					false, NULL),
				 VIRTIO_BLK_S_OK);
	}
	image_read(f, 64 * 512, buf, sizeof(buf));
	assert_memory_equal(buf, zero, sizeof(buf));
	image_read(f, 68 * 512, buf, sizeof(buf));
	assert_memory_equal(buf, zero, sizeof(buf));
	sector = 128, flags = 0;
	memcpy(seg, &sector, 8);
	memcpy(seg + 12, &flags, 4);
	assert_int_equal(do_req(f, 1, VIRTIO_BLK_T_DISCARD, 0, 16, false, NULL),
			 VIRTIO_BLK_S_OK);
	image_read(f, 128 * 512, buf, sizeof(buf));
	assert_memory_equal(buf, zero, sizeof(buf));
	image_read(f, 136 * 512, buf, 1);
	assert_int_equal(buf[0], 136); /* the next sector is untouched */
}

/* Well framed but wrong: answered, and the device goes on. */
static void test_bad_requests_answered(void **state)
{
	struct fixture *f = *state;
	uint8_t *seg = vd_ram(&f->mem, DATA(9));
	uint64_t sector = 8;
	uint32_t n = 1, flags = VIRTIO_BLK_WZ_F_UNMAP, len;

	start(f, FEAT_ALL & ~BIT(VIRTIO_BLK_F_WRITE_ZEROES));
	assert_int_equal(do_req(f, 0, 99, 0, 512, true, &len),
			 VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(len, 1);
	/* Beyond the end, straddling it, not whole sectors, empty. */
	assert_int_equal(do_req(f, 1, VIRTIO_BLK_T_IN, DISK_BYTES / 512, 512,
				true, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_req(f, 2, VIRTIO_BLK_T_OUT, DISK_BYTES / 512 - 1,
				1024, false, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_req(f, 3, VIRTIO_BLK_T_IN, 0, 100, true, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_req(f, 4, VIRTIO_BLK_T_IN, UINT64_MAX / 256, 512,
				true, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_req(f, 5, VIRTIO_BLK_T_OUT, 0, 0, false, NULL),
			 VIRTIO_BLK_S_IOERR);
	/* DISCARD may not unmap-flag; WRITE_ZEROES was not negotiated. */
	memcpy(seg, &sector, 8);
	memcpy(seg + 8, &n, 4);
	memcpy(seg + 12, &flags, 4);
	memcpy(vd_ram(&f->mem, DATA(6)), seg, 16);
	assert_int_equal(do_req(f, 6, VIRTIO_BLK_T_DISCARD, 0, 16, false, NULL),
			 VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(do_req(f, 9, VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, false,
				NULL),
			 VIRTIO_BLK_S_UNSUPP);
	/* An unknown flag; two segments (one is the most). */
	flags = 0x80;
	memcpy(vd_ram(&f->mem, DATA(7)) + 12, &flags, 4);
	assert_int_equal(do_req(f, 7, VIRTIO_BLK_T_DISCARD, 0, 16, false, NULL),
			 VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(do_req(f, 8, VIRTIO_BLK_T_DISCARD, 0, 32, false, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_false(status(f) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(do_req(f, 0, VIRTIO_BLK_T_IN, 0, 512, true, NULL),
			 VIRTIO_BLK_S_OK);
}

/* Misframed or outside RAM: DEVICE_NEEDS_RESET, until a reset. */
static void expect_broken(struct fixture *f, unsigned int n,
			  const uint64_t *gpa, const uint32_t *len,
			  unsigned int nin)
{
	struct vdq *q = &f->q[0];

	start(f, FEAT_ALL);
	header(f, 0, VIRTIO_BLK_T_IN, 0);
	vd_publish(&f->mem, q, vd_chain(&f->mem, q, n, gpa, len, nin));
	vd_wr(&f->b.vd, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	for (int i = 0; i < 20 && !(status(f) & VIRTIO_STATUS_NEEDS_RESET); i++)
		virtio_poll(&f->b.vd, 10);
	assert_true(status(f) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(vd_used_idx(&f->mem, q), 0);
	assert_true(vd_rd(&f->b.vd, VIRTIO_MMIO_INTERRUPT_STATUS) &
		    VIRTIO_INT_CONFIG);
}

static void test_broken_requests(void **state)
{
	struct fixture *f = *state;
	const uint64_t outside = VD_MEM + 0x1000;
	uint64_t gpa[3] = { SLOT(0), DATA(0), STATUS(0) };
	uint32_t len[3] = { 16, 512, 1 };

	/* A header of 8 bytes. */
	len[0] = 8;
	expect_broken(f, 3, gpa, len, 2);
	/* No writable byte for the status. */
	len[0] = 16;
	expect_broken(f, 2, gpa, len, 0);
	/* Data outside RAM; the status byte outside RAM. */
	gpa[1] = outside;
	expect_broken(f, 3, gpa, len, 2);
	gpa[1] = DATA(0);
	gpa[2] = outside;
	expect_broken(f, 3, gpa, len, 2);
	/* After the driver's reset it works again. */
	start(f, FEAT_ALL);
	assert_false(status(f) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(do_req(f, 1, VIRTIO_BLK_T_IN, 3, 512, true, NULL),
			 VIRTIO_BLK_S_OK);
}

/* A read-only disk says so; changes are refused, the image untouched. */
static void test_readonly(void **state)
{
	struct fixture *f = *state;
	uint8_t b[512];
	uint64_t feat;

	drop_blk(f);
	make_blk(f, true);
	feat = offered(f);
	assert_true(feat & BIT(VIRTIO_BLK_F_RO));
	assert_false(feat & BIT(VIRTIO_BLK_F_DISCARD));
	assert_false(feat & BIT(VIRTIO_BLK_F_WRITE_ZEROES));
	start(f, FEAT_ALL);
	memset(vd_ram(&f->mem, DATA(0)), 0x33, 512);
	assert_int_equal(do_req(f, 0, VIRTIO_BLK_T_OUT, 2, 512, false, NULL),
			 VIRTIO_BLK_S_IOERR);
	image_read(f, 2 * 512, b, 512);
	assert_int_equal(b[0], 2);
	assert_int_equal(do_req(f, 1, VIRTIO_BLK_T_DISCARD, 0, 16, false, NULL),
			 VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(do_req(f, 2, VIRTIO_BLK_T_FLUSH, 0, 0, false, NULL),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(do_req(f, 3, VIRTIO_BLK_T_IN, 2, 512, true, NULL),
			 VIRTIO_BLK_S_OK);
}

/* A driver without FLUSH gets write-through; its writes still land. */
static void test_write_through(void **state)
{
	struct fixture *f = *state;
	uint8_t b[512];

	start(f, FEAT_ALL & ~BIT(VIRTIO_BLK_F_FLUSH));
	memset(vd_ram(&f->mem, DATA(0)), 0x44, 512);
	assert_int_equal(do_req(f, 0, VIRTIO_BLK_T_OUT, 9, 512, false, NULL),
			 VIRTIO_BLK_S_OK);
	image_read(f, 9 * 512, b, 512);
	assert_int_equal(b[511], 0x44);
}

/*
 * Quiesce completes what the device took: with the I/O thread running,
 * whatever moment it comes, the saved queue shows nothing in flight
 * (next_avail == next_used) and every taken request has its status.
 */
static void test_quiesce_completes_in_flight(void **state)
{
	struct fixture *f = *state;
	struct virtio_blk_state st;
	unsigned int k, done = 0;

	start(f, FEAT_ALL);
	assert_int_equal(virtio_start_thread(&f->b.vd), 0);
	for (k = 0; k < 48; k++)
		post(f, 0, k, VIRTIO_BLK_T_IN, k * 16, 8192, true);
	virtio_blk_type.quiesce(&f->b);
	memset(&st, 0, sizeof(st));
	virtio_blk_type.save(&f->b, &st);
	assert_int_equal(st.vio.queue[0].next_avail, st.vio.queue[0].next_used);
	assert_int_equal(vd_used_idx(&f->mem, &f->q[0]),
			 st.vio.queue[0].next_used);
	for (k = 0; k < 48; k++)
		done += *vd_ram(&f->mem, STATUS(k)) == VIRTIO_BLK_S_OK;
	assert_int_equal(done, st.vio.queue[0].next_used);
	virtio_blk_type.resume(&f->b);
	for (int i = 0; i < 500 && vd_used_idx(&f->mem, &f->q[0]) != 48; i++)
		usleep(10000);
	assert_int_equal(vd_used_idx(&f->mem, &f->q[0]), 48);
}

static int check(struct fixture *f, const struct virtio_blk_state *st)
{
	return virtio_blk_type.check(&f->env, st, f->why, sizeof(f->why));
}

static void test_state_round_trip(void **state)
{
	struct fixture *f = *state;
	struct virtio_blk_state st, bad, again;

	start(f, FEAT_ALL);
	assert_int_equal(do_req(f, 0, VIRTIO_BLK_T_IN, 1, 512, true, NULL),
			 VIRTIO_BLK_S_OK);
	memset(&st, 0, sizeof(st));
	virtio_blk_type.save(&f->b, &st);
	assert_int_equal(st.capacity, DISK_BYTES / 512);
	assert_int_equal(st.blk_size, 512);
	assert_int_equal(st.num_queues, NQ);
	assert_int_equal(st.seg_max, VIRTIO_BLK_SEG_MAX);
	assert_string_equal(st.serial, "xvda");
	assert_true(st.features & BIT(VIRTIO_BLK_F_DISCARD));
	assert_int_equal(st.vio.queue[0].next_used, 1);
	assert_int_equal(check(f, &st), 0);
	/* Into a fresh device: it carries on where the first stopped. */
	drop_blk(f);
	make_blk(f, false);
	assert_int_equal(virtio_blk_type.load(&f->b, &st), 0);
	virtio_blk_type.resume(&f->b);
	memset(&again, 0, sizeof(again));
	virtio_blk_type.save(&f->b, &again);
	assert_memory_equal(&st, &again, sizeof(st));
	assert_int_equal(do_req(f, 1, VIRTIO_BLK_T_IN, 2, 512, true, NULL),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(*vd_ram(&f->mem, DATA(1)), 2);

	bad = st, bad.capacity++;
	assert_int_equal(check(f, &bad), -EINVAL);
	assert_string_equal(
		f->why,
		"capacity of 2049 sectors, but the disk is 2048 sectors here");
	bad = st, bad.features |= BIT(VIRTIO_BLK_F_RO);
	assert_int_equal(check(f, &bad), -EINVAL);
	assert_string_equal(
		f->why,
		"saved read-only, but the disk is configured read-write");
	bad = st, bad.features |= BIT(40);
	assert_int_equal(check(f, &bad), -EINVAL);
	bad = st, bad.blk_size = 4096;
	assert_int_equal(check(f, &bad), -EINVAL);
	assert_string_equal(
		f->why, "block size 4096, but the disk opened here needs 512");
	bad = st, bad.num_queues = 1;
	assert_int_equal(check(f, &bad), -EINVAL);
	bad = st, bad.serial[0] = 'y';
	assert_int_equal(check(f, &bad), -EINVAL);
	assert_string_equal(f->why, "serial 'yvda', but this disk is 'xvda'");
	bad = st, bad.reserved2 = 1;
	assert_int_equal(check(f, &bad), -EINVAL);
	bad = st, bad.vio.driver_features |= BIT(VIRTIO_BLK_F_RO);
	assert_int_equal(check(f, &bad), -EINVAL);
	bad = st, bad.vio.queue[0].next_avail += 3;
	assert_int_equal(check(f, &bad), -EINVAL);
	assert_string_equal(
		f->why,
		"queue 0 has requests in flight (next_avail 4, next_used 1): they would be lost");
	bad = st, bad.vio.mmio_base += 0x1000;
	assert_int_equal(check(f, &bad), -EINVAL);
	/* The guest uses DISCARD: a disk here that may not discard cannot
	 * take it. */
	f->conf.discard = false;
	assert_int_equal(check(f, &st), -EINVAL);
	assert_non_null(strstr(f->why, "acknowledged features"));
	f->conf.discard = true;
	/* godwit inspect: no disk opened, what the configuration says. */
	f->conf.disk = NULL;
	assert_int_equal(check(f, &st), 0);
	f->env.arg = NULL;
	assert_int_equal(check(f, &st), -EINVAL);
	assert_string_equal(f->why, "no disk is configured for it");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_config_and_features),
		T(test_write_read_flush_id),
		T(test_any_framing),
		T(test_queues),
		T(test_reads_mark_dirty),
		T(test_discard_and_write_zeroes),
		T(test_bad_requests_answered),
		T(test_broken_requests),
		T(test_readonly),
		T(test_write_through),
		T(test_quiesce_completes_in_flight),
		T(test_state_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
