/*
 * qcow2 unit tests: every check of the header parser (one mutation of a
 * valid header per refusal, each naming its field), refusals at open
 * (feature bits, tables, backing chains), refcount packing of every
 * width, and the API issue 15 builds on: disk_create, disk_snapshot,
 * disk_block_status, the dirty bitmap, the lock-later reload.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "helpers.h"
#include "storage/qcow2.h"

#define CS 65536u
#define FILE_SIZE (4 * CS)

static void put32(uint8_t *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, 8);
}

/* A valid header: 1 GiB, 64 KiB clusters, backing "base.raw" (raw). */
static void valid_header(uint8_t *b)
{
	memset(b, 0, CS);
	put32(b, QCOW2_MAGIC);
	put32(b + 4, 3);
	put32(b + 20, 16);
	put64(b + 24, 1ull << 30);
	put32(b + 36, 2);
	put64(b + 40, 3 * CS);
	put64(b + 48, CS);
	put32(b + 56, 1);
	put32(b + 96, 4);
	put32(b + 100, 112);
	put32(b + 112, QCOW2_EXT_BACKING_FORMAT);
	put32(b + 116, 3);
	memcpy(b + 120, "raw", 3);
	/* end marker at 128, backing name at 136 */
	put64(b + 8, 136);
	put32(b + 16, 8);
	memcpy(b + 136, "base.raw", 8);
}

struct mutation {
	unsigned int off, width; /* width 4 or 8; 0: bytes in raw */
	uint64_t value;
	const char *expect; /* in the refusal */
	int rc;
};

static const struct mutation mutations[] = {
	{ 0, 4, 0x514649fc, "not a qcow2 image", -EINVAL },
	{ 4, 4, 2, "version 2", -ENOTSUP },
	{ 4, 4, 4, "unknown qcow2 version 4", -EINVAL },
	{ 20, 4, 8, "cluster_bits 8", -EINVAL },
	{ 20, 4, 22, "cluster_bits 22", -EINVAL },
	{ 100, 4, 100, "header_length 100", -EINVAL },
	{ 100, 4, 108, "header_length 108", -EINVAL },
	{ 32, 4, 1, "encrypted images are not supported (crypt_method 1)",
	  -ENOTSUP },
	{ 60, 4, 2, "internal snapshots are not supported (nb_snapshots 2)",
	  -ENOTSUP },
	{ 96, 4, 7, "refcount_order 7", -EINVAL },
	{ 24, 8, 1ull << 56, "virtual size", -EINVAL },
	{ 36, 4, 1, "l1_size 1 does not cover the virtual size", -EINVAL },
	{ 36, 4, (32u << 20) / 8 + 1, "l1_size 4194305 too large", -EINVAL },
	{ 40, 8, 3 * CS + 8, "L1 table offset 0x30008", -EINVAL },
	{ 40, 8, 0, "L1 table offset 0x0", -EINVAL },
	{ 40, 8, 4 * CS, "L1 table at 0x40000 (16 bytes) lies outside the file",
	  -EINVAL },
	{ 48, 8, 8 * CS, "refcount table at 0x80000", -EINVAL },
	{ 48, 8, CS + 512, "refcount table offset", -EINVAL },
	{ 56, 4, 0, "refcount_table_clusters 0", -EINVAL },
	{ 56, 4, 129, "refcount_table_clusters 129", -EINVAL },
	{ 72, 8, 1ull << 5, "unknown incompatible feature bits 0x20",
	  -ENOTSUP },
	{ 72, 8, 1ull << 40, "unknown incompatible feature bits 0x10000000000",
	  -ENOTSUP },
	{ 72, 8, 1ull << 2, "external data files", -ENOTSUP },
	{ 72, 8, 1ull << 4, "extended L2 entries", -ENOTSUP },
	{ 16, 4, 0, "backing_file_size 0", -EINVAL },
	{ 16, 4, 1024, "backing_file_size 1024", -EINVAL },
	{ 8, 8, CS - 4, "backing file name at 65532", -EINVAL },
	{ 8, 8, 64, "backing file name at 64", -EINVAL },
	{ 116, 4, 60000, "header extension 0xe2792aca at 112", -EINVAL },
	{ 116, 4, 16, "backing format extension of 16 bytes", -EINVAL },
	{ 120, 0, 0x6b6d76 /* "vmk" */, "backing format vmk is not supported",
	  -ENOTSUP },
};

static void test_parser_refusals(void **state)
{
	static uint8_t b[CS];
	struct qcow2_header h;
	char why[DISK_WHY_MAX];
	size_t i;
	int rc;

	valid_header(b);
	assert_int_equal(qcow2_header_parse(b, CS, FILE_SIZE, "xvda", "/i", &h,
					    why, sizeof(why)),
			 0);
	assert_string_equal(h.backing, "base.raw");
	assert_string_equal(h.backing_fmt, "raw");
	for (i = 0; i < ARRAY_SIZE(mutations); i++) {
		const struct mutation *m = &mutations[i];

		valid_header(b);
		if (m->width == 4)
			put32(b + m->off, m->value);
		else if (m->width == 8)
			put64(b + m->off, m->value);
		else
			memcpy(b + m->off, &m->value, 3);
		why[0] = 0;
		rc = qcow2_header_parse(b, CS, FILE_SIZE, "xvda", "/i", &h, why,
					sizeof(why));
		if (rc != m->rc || !strstr(why, m->expect) ||
		    strncmp(why, "disk xvda: /i: ", 15))
			fail_msg(
				"mutation %zu: rc %d, why \"%s\", want %d \"%s\"",
				i, rc, why, m->rc, m->expect);
	}
	/* Too short for a header at all. */
	rc = qcow2_header_parse(b, 64, FILE_SIZE, "xvda", "/i", &h, why,
				sizeof(why));
	assert_int_equal(rc, -EINVAL);
	(void)state;
}

/* Refcounts of every width: packing as QEMU reads it (checked below). */
static void test_refcount_packing(void **state)
{
	static uint8_t blk[4096];
	unsigned int order, i;

	for (order = 0; order <= 6; order++) {
		uint64_t max = order == 6 ? UINT64_MAX :
					    (1ull << (1u << order)) - 1;

		memset(blk, 0, sizeof(blk));
		for (i = 0; i < 64; i++)
			qcow2_rb_set(blk, order, i, (i * 7 + 1) & max);
		for (i = 0; i < 64; i++)
			assert_int_equal(qcow2_rb_get(blk, order, i),
					 (i * 7 + 1) & max);
	}
	/* 1-bit refcounts: entry 0 is the lowest bit of byte 0. */
	memset(blk, 0, 8);
	qcow2_rb_set(blk, 0, 0, 1);
	qcow2_rb_set(blk, 0, 9, 1);
	assert_int_equal(blk[0], 0x01);
	assert_int_equal(blk[1], 0x02);
	(void)state;
}

/* ---- refusals at open ---- */

static char *img(const char *name)
{
	static char path[4][256];
	static unsigned int k;

	k = (k + 1) % 4;
	snprintf(path[k], sizeof(path[k]), "%s/%s", st_dir(), name);
	return path[k];
}

static int open_q(const char *path, bool ro, char *why, struct disk **d_out)
{
	struct disk_open_args a = {
		.path = path,
		.label = "xvda",
		.readonly = ro,
		.format = DISK_FORMAT_QCOW2,
	};

	return disk_open(&a, d_out, why, DISK_WHY_MAX);
}

static void refused(const char *path, bool ro, const char *expect)
{
	char why[DISK_WHY_MAX] = "";
	struct disk *d = NULL;
	int rc = open_q(path, ro, why, &d);

	if (!rc)
		disk_close(d);
	if (!rc || !strstr(why, expect))
		fail_msg("%s (%s): rc %d, why \"%s\", want \"%s\"", path,
			 ro ? "ro" : "rw", rc, why, expect);
}

static void opens(const char *path, bool ro)
{
	char why[DISK_WHY_MAX] = "";
	struct disk *d = NULL;

	if (open_q(path, ro, why, &d))
		fail_msg("%s: %s", path, why);
	disk_close(d);
}

static struct disk *open_rw_q(const char *path, struct disk_queue **q)
{
	char why[DISK_WHY_MAX];
	struct disk *d = NULL;

	if (open_q(path, false, why, &d))
		fail_msg("%s", why);
	assert_int_equal(disk_queue_new(d, 0, q), 0);
	return d;
}

static void poke64(const char *path, uint64_t off, uint64_t v)
{
	int fd = open(path, O_WRONLY);

	v = htobe64(v);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, &v, 8, off), 8);
	close(fd);
}

static void make(const char *path, uint64_t size, const char *backing)
{
	struct disk_create_args a = { .path = path,
				      .size = size,
				      .backing = backing };
	char why[DISK_WHY_MAX];

	unlink(path);
	if (disk_create(&a, why, sizeof(why)))
		fail_msg("%s", why);
}

static void test_open_refusals(void **state)
{
	char *p = img("r.qcow2"), *a = img("a.qcow2"), *b = img("b.qcow2");

	make(p, 1 << 20, NULL);
	opens(p, false);
	/* Dirty (lazy refcounts): read-only only, until repaired. */
	poke64(p, QCOW2_OFF_INCOMPAT, QCOW2_INCOMPAT_DIRTY);
	refused(p, false, "refcounts are dirty");
	opens(p, true);
	poke64(p, QCOW2_OFF_INCOMPAT, QCOW2_INCOMPAT_CORRUPT);
	refused(p, false, "marked corrupt");
	opens(p, true);
	poke64(p, QCOW2_OFF_INCOMPAT, 1ull << 9);
	refused(p, true, "unknown incompatible feature bits 0x200");
	poke64(p, QCOW2_OFF_INCOMPAT, 0);
	/* An L1 entry beyond the file, then one with reserved bits. */
	poke64(p, 3 * CS, 0x100000);
	refused(p, true, "L1 entry 0 points at L2 table 0x100000");
	poke64(p, 3 * CS, 1);
	refused(p, true, "L1 entry 0 (0x1) has reserved bits set");
	poke64(p, 3 * CS, 0);
	/* A refcount table entry that is not cluster aligned. */
	poke64(p, CS, 2 * CS + 512);
	refused(p, true, "refcount table entry 0 (0x20200)");
	poke64(p, CS, 2 * CS);
	opens(p, false);
	/* Backing chains: missing, a loop. */
	close(open(img("nothere.raw"), O_CREAT | O_WRONLY, 0644));
	make(a, 1 << 20, "nothere.raw");
	unlink(img("nothere.raw"));
	refused(a, true, "nothere.raw does not exist");
	make(b, 1 << 20, NULL);
	make(a, 1 << 20, "b.qcow2");
	unlink(b);
	make(b, 1 << 20, "a.qcow2");
	refused(a, true, "is already in the chain (a backing loop)");
	refused(b, false, "is already in the chain (a backing loop)");
	(void)state;
}

static uint64_t peek64(const char *path, uint64_t off)
{
	uint64_t v = 0;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &v, 8, off), 8);
	close(fd);
	return be64toh(v);
}

/* An L2 entry that is bad is found when its table is read: -EIO. */
static void test_bad_l2_entry(void **state)
{
	char *p = img("l2.qcow2");
	static uint8_t buf[4096];
	struct disk_queue *q;
	struct disk *d;
	uint64_t l2;

	make(p, 1 << 20, NULL);
	d = open_rw_q(p, &q);
	memset(buf, 1, sizeof(buf));
	assert_int_equal(st_do(q, DISK_OP_WRITE, 0, buf, 4096, 0), 0);
	disk_queue_free(q, 1000);
	disk_close(d);
	l2 = peek64(p, 3 * CS) & QCOW2_OFFSET_MASK;
	assert_true(l2 >= 4 * CS);
	poke64(p, l2, QCOW2_OFLAG_COPIED | (64ull << 20)); /* past the end */
	d = open_rw_q(p, &q);
	assert_int_equal(st_do(q, DISK_OP_READ, 0, buf, 4096, 0), -EIO);
	disk_queue_free(q, 1000);
	disk_close(d);
	poke64(p, l2, QCOW2_OFLAG_COPIED | (5 * CS) | 2); /* reserved bit 1 */
	d = open_rw_q(p, &q);
	assert_int_equal(st_do(q, DISK_OP_WRITE, 0, buf, 4096, 0), -EIO);
	disk_queue_free(q, 1000);
	disk_close(d);
	(void)state;
}

/* Autoclear bits (e.g. persistent bitmaps) are cleared by a writer. */
static void test_autoclear_cleared(void **state)
{
	char *p = img("ac.qcow2");
	uint64_t v = 0;
	int fd;

	make(p, 1 << 20, NULL);
	poke64(p, QCOW2_OFF_AUTOCLEAR, 1);
	opens(p, true);
	fd = open(p, O_RDONLY);
	assert_int_equal(pread(fd, &v, 8, QCOW2_OFF_AUTOCLEAR), 8);
	assert_int_equal(be64toh(v), 1); /* a reader leaves it */
	opens(p, false);
	assert_int_equal(pread(fd, &v, 8, QCOW2_OFF_AUTOCLEAR), 8);
	assert_int_equal(v, 0);
	close(fd);
	(void)state;
}

/* ---- block status, dirty bitmap, snapshots ---- */

static struct disk *open_rw(const char *path, struct disk_queue **q)
{
	char why[DISK_WHY_MAX];
	struct disk *d = NULL;

	if (open_q(path, false, why, &d))
		fail_msg("%s", why);
	assert_int_equal(disk_queue_new(d, 0, q), 0);
	return d;
}

static void expect_status(struct disk *d, uint64_t off, uint64_t len,
			  enum disk_extent kind, uint64_t n)
{
	enum disk_extent k;
	uint64_t got;

	assert_int_equal(disk_block_status(d, off, len, &k, &got), 0);
	if (k != kind || got != n)
		fail_msg("status at %llu: kind %d n %llu, want %d %llu",
			 (unsigned long long)off, k, (unsigned long long)got,
			 kind, (unsigned long long)n);
}

static void test_status_and_dirty(void **state)
{
	char *p = img("s.qcow2");
	static uint8_t buf[2 * CS];
	struct disk_queue *q;
	uint64_t bits[4] = { 0 };
	struct disk *d;

	make(p, 4 << 20, NULL);
	d = open_rw(p, &q);
	memset(buf, 0xab, sizeof(buf));
	assert_int_equal(disk_dirty_start(d, CS), 0);
	assert_int_equal(st_do(q, DISK_OP_WRITE, CS, buf, 2 * CS, 0), 0);
	assert_int_equal(st_do(q, DISK_OP_WRITE_ZEROES, 8 * CS, NULL, CS, 0),
			 0);
	assert_int_equal(disk_dirty_take(d, bits, 4), 1);
	assert_int_equal(bits[0], 0x106); /* clusters 1, 2 and 8 */
	assert_int_equal(disk_dirty_take(d, bits, 4), 1);
	assert_int_equal(bits[0], 0);
	expect_status(d, 0, 4 << 20, DISK_EXTENT_ZERO, CS);
	expect_status(d, CS, (4 << 20) - CS, DISK_EXTENT_DATA, 2 * CS);
	expect_status(d, 3 * CS, 5 * CS, DISK_EXTENT_ZERO, 5 * CS);
	disk_dirty_stop(d);
	assert_int_equal(disk_dirty_take(d, bits, 4), -EINVAL);
	disk_queue_free(q, 1000);
	disk_close(d);
	(void)state;
}

static void mark_done(struct disk_req *req)
{
	*(bool *)req->opaque = true;
}

/* Was a read of [off, off+len) sent straight to the engine (mapped)? */
static bool read_is_mapped(struct disk_queue *q, uint64_t off, uint64_t len)
{
	static uint8_t buf[2 * CS];
	struct iovec iov = { buf, len };
	bool done = false;
	unsigned int n = 0;
	struct disk_req req = { .op = DISK_OP_READ,
				.offset = off,
				.iov = &iov,
				.iovcnt = 1,
				.done = mark_done,
				.opaque = &done };

	assert_int_equal(disk_submit(q, &req), 0);
	while (!done && n++ < 3000) {
		usleep(1000);
		disk_queue_poll(q);
	}
	assert_true(done);
	assert_int_equal(req.result, 0);
	return req.mapped;
}

/* Allocated clusters with a cached L2 table skip the thread pool. */
static void test_fast_path(void **state)
{
	char *p = img("f.qcow2");
	static uint8_t buf[2 * CS];
	struct disk_queue *q;
	struct disk *d;

	make(p, 4 << 20, NULL);
	d = open_rw(p, &q);
	memset(buf, 0x3c, sizeof(buf));
	assert_int_equal(st_do(q, DISK_OP_WRITE, 0, buf, 2 * CS, 0), 0);
	assert_true(read_is_mapped(q, 4096, 8192));
	assert_false(read_is_mapped(q, 8 * CS, 4096)); /* not allocated */
	/* Clusters 0 and 1 are not contiguous (the L2 table is between). */
	assert_false(read_is_mapped(q, CS - 4096, 8192));
	disk_queue_free(q, 1000);
	disk_close(d);
	(void)state;
}

/* An overlay on a disk in use: old data below, new data on top. */
static void test_snapshot_overlay(void **state)
{
	char *base = img("base.qcow2"), *top = img("top.qcow2");
	static uint8_t a[CS], b[CS], r[2 * CS];
	char why[DISK_WHY_MAX];
	struct disk_queue *q;
	struct disk *d;

	unlink(top);
	make(base, 4 << 20, NULL);
	d = open_rw(base, &q);
	memset(a, 0x11, CS);
	memset(b, 0x22, CS);
	assert_int_equal(st_do(q, DISK_OP_WRITE, 0, a, CS, 0), 0);
	assert_int_equal(st_do(q, DISK_OP_WRITE, CS, a, CS, 0), 0);
	/* An existing file is never overwritten, nor removed. */
	close(open(top, O_CREAT | O_WRONLY, 0644));
	assert_int_equal(disk_snapshot(d, top, why, sizeof(why)), -EEXIST);
	assert_int_equal(access(top, F_OK), 0);
	unlink(top);
	if (disk_snapshot(d, top, why, sizeof(why)))
		fail_msg("%s", why);
	assert_int_equal(disk_get_info(d)->format, DISK_FORMAT_QCOW2);
	assert_int_equal(st_do(q, DISK_OP_WRITE, CS + 4096, b, 4096, 0), 0);
	assert_int_equal(st_do(q, DISK_OP_READ, 0, r, 2 * CS, 0), 0);
	assert_memory_equal(r, a, CS);
	assert_memory_equal(r + CS, a, 4096);
	assert_memory_equal(r + CS + 4096, b, 4096);
	assert_memory_equal(r + CS + 8192, a, CS - 8192);
	expect_status(d, 0, 2 * CS, DISK_EXTENT_BACKING, CS);
	expect_status(d, CS, 2 * CS, DISK_EXTENT_DATA, CS);
	/* The base is read-locked now: nobody may write it. */
	refused(base, false, "in use");
	opens(base, true);
	disk_queue_free(q, 1000);
	disk_close(d);
	if (st_have_qemu_img()) {
		assert_int_equal(st_sh("qemu-img check -q '%s'", top), 0);
		assert_int_equal(st_sh("qemu-img check -q '%s'", base), 0);
	}
	(void)state;
}

/* A destination opens before the source lets go: it reads the tables
 * only once it holds the lock. */
static void test_lock_later_rereads(void **state)
{
	char *p = img("ll.qcow2");
	static uint8_t buf[CS], r[CS];
	struct disk_open_args a = { .path = p,
				    .label = "xvda",
				    .format = DISK_FORMAT_QCOW2,
				    .lock = DISK_LOCK_LATER };
	char why[DISK_WHY_MAX];
	struct disk_queue *q, *q2;
	struct disk *src, *dst;

	make(p, 4 << 20, NULL);
	src = open_rw(p, &q);
	if (disk_open(&a, &dst, why, sizeof(why)))
		fail_msg("%s", why);
	memset(buf, 0x5c, sizeof(buf));
	/* The source allocates an L2 table the destination has not seen. */
	assert_int_equal(st_do(q, DISK_OP_WRITE, 3 * CS, buf, CS, 0), 0);
	disk_queue_free(q, 1000);
	disk_unlock(src);
	if (disk_lock(dst, 1000, why, sizeof(why)))
		fail_msg("%s", why);
	assert_int_equal(disk_queue_new(dst, 0, &q2), 0);
	assert_int_equal(st_do(q2, DISK_OP_READ, 3 * CS, r, CS, 0), 0);
	assert_memory_equal(r, buf, CS);
	disk_queue_free(q2, 1000);
	disk_close(dst);
	disk_close(src);
	(void)state;
}

int storage_test_qcow2(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parser_refusals),
		cmocka_unit_test(test_refcount_packing),
		cmocka_unit_test(test_open_refusals),
		cmocka_unit_test(test_bad_l2_entry),
		cmocka_unit_test(test_autoclear_cleared),
		cmocka_unit_test(test_status_and_dirty),
		cmocka_unit_test(test_fast_path),
		cmocka_unit_test(test_snapshot_overlay),
		cmocka_unit_test(test_lock_later_rereads),
	};

	return cmocka_run_group_tests_name("storage qcow2", tests, NULL, NULL);
}
