/*
 * I/O through both engines, on a file and on a loop device, with and
 * without direct I/O: 128 requests in flight at random offsets and
 * sizes split into random segments, checked byte by byte against a
 * shadow copy; flush; discard and write-zeroes reading back zeroes
 * (also where the file system cannot zero a range); unaligned guest
 * buffers under direct I/O; requests refused at submission; drain.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/util.h"
#include "helpers.h"
#include "storage/internal.h"

#define IMG_SIZE (4u << 20)
#define SLOTS 128u
#define SLOT (IMG_SIZE / SLOTS)
#define SEGS_MAX 8u

struct io_case {
	enum disk_engine engine;
	enum backing backing;
	bool direct;
	bool unaligned; /* guest buffers that need a bounce (direct) */
};

/* One request of a batch with its own buffer. */
struct treq {
	struct disk_req req;
	struct iovec iov[SEGS_MAX];
	uint8_t *mem; /* allocation */
	uint8_t *data; /* the bytes, contiguous, inside mem */
	unsigned int *done;
};

struct rig {
	const struct io_case *c;
	struct image im;
	struct disk *d;
	struct disk_queue *q;
	const struct disk_info *in;
	uint8_t *shadow;
	uint64_t rs;
};

static void rig_up(struct rig *r, void **state, unsigned int seed)
{
	int rc;

	memset(r, 0, sizeof(*r));
	r->c = *state;
	r->rs = 0x9e3779b97f4a7c15ull ^ seed;
	rc = st_image(&r->im, st_dir(), r->c->backing, IMG_SIZE, seed, false);
	if (rc && r->c->backing == BACKING_LOOP)
		st_skip_no_loop(rc);
	assert_int_equal(rc, 0);
	r->d = st_open(r->im.path, r->c->engine, false, r->c->direct);
	r->in = disk_get_info(r->d);
	assert_int_equal(r->in->engine, r->c->engine);
	assert_int_equal(r->in->size, IMG_SIZE);
	assert_int_equal(r->in->is_blockdev, r->c->backing == BACKING_LOOP);
	assert_int_equal(disk_queue_new(r->d, 0, &r->q), 0);
	r->shadow = malloc(IMG_SIZE);
	assert_non_null(r->shadow);
	assert_int_equal(st_do(r->q, DISK_OP_READ, 0, NULL, 0, 0), -EINVAL);
}

static void rig_down(struct rig *r)
{
	assert_int_equal(disk_queue_in_flight(r->q), 0);
	disk_queue_free(r->q, 1000);
	disk_close(r->d);
	st_image_free(&r->im);
	free(r->shadow);
}

/* Read the whole disk into the shadow copy (so the test knows it). */
static void rig_load_shadow(struct rig *r)
{
	uint8_t *buf = NULL;

	assert_int_equal(posix_memalign((void **)&buf, 4096, IMG_SIZE), 0);
	assert_int_equal(st_do(r->q, DISK_OP_READ, 0, buf, IMG_SIZE, 0), 0);
	memcpy(r->shadow, buf, IMG_SIZE);
	free(buf);
}

static uint64_t pick(struct rig *r, uint64_t n)
{
	return n ? st_rand(&r->rs) % n : 0;
}

/* A random multiple of unit in [lo, hi], unit dividing both. */
static uint64_t pick_range(struct rig *r, uint64_t lo, uint64_t hi,
			   uint64_t unit)
{
	return lo + pick(r, (hi - lo) / unit + 1) * unit;
}

/*
 * Split len bytes into 1..SEGS_MAX segments over one buffer. Direct I/O
 * without bounce: aligned buffer, segments whole blocks. Unaligned: the
 * buffer starts off by a few bytes and splits fall anywhere.
 */
static void treq_buffers(struct rig *r, struct treq *t, uint64_t len)
{
	unsigned int unit =
		r->c->direct && !r->c->unaligned ? r->in->block_size : 1;
	unsigned int n = 1 + pick(r, SEGS_MAX), i;
	uint64_t left = len, seg;
	size_t shift = r->c->unaligned ? 1 + pick(r, 63) : 0;

	assert_int_equal(posix_memalign((void **)&t->mem, 4096, len + 64), 0);
	t->data = t->mem + shift;
	for (i = 0; i < n && left; i++) {
		seg = i == n - 1 ? left : pick_range(r, unit, left, unit);
		t->iov[i] = (struct iovec){ t->data + (len - left), seg };
		left -= seg;
	}
	t->req.iov = t->iov;
	t->req.iovcnt = i;
}

static void treq_done(struct disk_req *req)
{
	struct treq *t = req->opaque;

	assert_int_equal(req->result, 0);
	(*t->done)++;
}

/* An offset and a length for one request inside [lo, hi). */
static void pick_span(struct rig *r, uint64_t lo, uint64_t hi, uint64_t *off,
		      uint64_t *len)
{
	uint64_t unit = r->c->direct ? r->in->block_size : 1;

	*off = pick_range(r, lo, hi - unit, unit);
	*len = pick_range(r, unit, hi - *off, unit);
}

/* SLOTS requests in flight together, then every one checked. */
static void batch(struct rig *r, enum disk_op op)
{
	struct treq *t = calloc(SLOTS, sizeof(*t));
	unsigned int done = 0, i;
	uint64_t off, len;

	assert_non_null(t);
	disk_queue_plug(r->q);
	for (i = 0; i < SLOTS; i++) {
		/* Writes do not overlap, so their order does not matter. */
		if (op == DISK_OP_WRITE)
			pick_span(r, i * SLOT, (i + 1) * SLOT, &off, &len);
		else
			pick_span(r, 0, IMG_SIZE, &off, &len);
		t[i].done = &done;
		t[i].req = (struct disk_req){ .op = op,
					      .offset = off,
					      .done = treq_done,
					      .opaque = &t[i] };
		treq_buffers(r, &t[i], len);
		if (op == DISK_OP_WRITE) {
			st_fill(t[i].data, len, &r->rs);
			memcpy(r->shadow + off, t[i].data, len);
		}
		assert_int_equal(disk_submit(r->q, &t[i].req), 0);
	}
	assert_int_equal(disk_queue_in_flight(r->q), SLOTS);
	assert_int_equal(disk_queue_unplug(r->q), 0);
	st_wait(r->q, &done, SLOTS);
	for (i = 0; i < SLOTS; i++) {
		if (op == DISK_OP_READ)
			assert_memory_equal(t[i].data,
					    r->shadow + t[i].req.offset,
					    t[i].req.total);
		free(t[i].mem);
	}
	free(t);
}

static void test_random_in_flight(void **state)
{
	struct rig r;
	int round;

	rig_up(&r, state, 1);
	rig_load_shadow(&r);
	for (round = 0; round < 2; round++) {
		batch(&r, DISK_OP_WRITE);
		batch(&r, DISK_OP_READ);
	}
	/* And what reached the image is what a fresh reader sees. */
	assert_int_equal(st_do(r.q, DISK_OP_FLUSH, 0, NULL, 0, 0), 0);
	batch(&r, DISK_OP_READ);
	rig_down(&r);
}

/* Every byte of [off, off+len) reads back as zero. */
static void assert_zeroes(struct rig *r, uint64_t off, uint64_t len)
{
	uint8_t *buf = NULL;

	assert_int_equal(posix_memalign((void **)&buf, 4096, len), 0);
	memset(buf, 0xa5, len);
	assert_int_equal(st_do(r->q, DISK_OP_READ, off, buf, len, 0), 0);
	for (uint64_t i = 0; i < len; i++)
		if (buf[i])
			fail_msg("byte %llu of [%llu, +%llu) is 0x%02x",
				 (unsigned long long)i, (unsigned long long)off,
				 (unsigned long long)len, buf[i]);
	free(buf);
}

/* Bytes around a zeroed range are untouched. */
static void assert_kept(struct rig *r, uint64_t off, uint64_t len)
{
	uint8_t *buf = NULL;

	assert_int_equal(posix_memalign((void **)&buf, 4096, len), 0);
	assert_int_equal(st_do(r->q, DISK_OP_READ, off, buf, len, 0), 0);
	assert_memory_equal(buf, r->shadow + off, len);
	free(buf);
}

static void test_discard_and_write_zeroes(void **state)
{
	static const struct {
		enum disk_op op;
		unsigned int flags;
		uint64_t off, len;
	} cases[] = {
		{ DISK_OP_DISCARD, 0, 1 << 20, 256 << 10 },
		{ DISK_OP_WRITE_ZEROES, 0, 2 << 20, 64 << 10 },
		{ DISK_OP_WRITE_ZEROES, DISK_REQ_UNMAP, 3 << 20, 128 << 10 },
		/* Not page-aligned ranges: partial blocks of a file. */
		{ DISK_OP_WRITE_ZEROES, 0, (2 << 20) + 65536 + 4096 + 512,
		  1536 },
	};
	struct rig r;
	size_t i;

	rig_up(&r, state, 2);
	rig_load_shadow(&r);
	assert_true(r.in->can_discard);
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		/* Direct I/O may need bigger blocks than this range has. */
		if ((cases[i].off | cases[i].len) % r.in->block_size)
			continue;
		assert_int_equal(st_do(r.q, cases[i].op, cases[i].off, NULL,
				       cases[i].len, cases[i].flags),
				 0);
		assert_zeroes(&r, cases[i].off, cases[i].len);
		assert_kept(&r, cases[i].off - 4096, 4096);
		assert_kept(&r, cases[i].off + cases[i].len, 4096);
	}
	rig_down(&r);
}

/* tmpfs has no FALLOC_FL_ZERO_RANGE: zeroes are written instead. */
static void test_write_zeroes_fallback(void **state)
{
	const struct io_case *c = *state;
	struct disk_queue *q;
	struct image im;
	struct disk *d;
	uint8_t buf[8192];

	if (st_image(&im, "/dev/shm", BACKING_FILE, 1 << 20, 3, false)) {
		fprintf(stderr, "SKIP: no /dev/shm\n");
		skip();
	}
	d = st_open(im.path, c->engine, false, false);
	assert_int_equal(disk_queue_new(d, 4, &q), 0);
	assert_int_equal(st_do(q, DISK_OP_WRITE_ZEROES, 4096, NULL, 8192, 0),
			 0);
	memset(buf, 1, sizeof(buf));
	assert_int_equal(st_do(q, DISK_OP_READ, 4096, buf, 8192, 0), 0);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0);
	disk_queue_free(q, 1000);
	disk_close(d);
	st_image_free(&im);
}

static void test_flush(void **state)
{
	uint8_t buf[4096];
	struct rig r;

	rig_up(&r, state, 4);
	memset(buf, 0x5a, sizeof(buf));
	assert_int_equal(st_do(r.q, DISK_OP_WRITE, 8192, buf, 4096, 0), 0);
	assert_int_equal(st_do(r.q, DISK_OP_FLUSH, 0, NULL, 0, 0), 0);
	assert_int_equal(disk_sync(r.d), 0);
	rig_down(&r);
}

static void nop_done(struct disk_req *req)
{
	(*(unsigned int *)req->opaque)++;
}

/* Refused at submission, done() never called; depth is enforced. */
static void test_refused_requests(void **state)
{
	uint8_t *buf = NULL;
	struct iovec iov;
	unsigned int done = 0, i;
	struct disk_req reqs[5], bad;
	struct disk_queue *q4;
	struct rig r;

	rig_up(&r, state, 5);
	assert_int_equal(posix_memalign((void **)&buf, 4096, 8192), 0);
	iov = (struct iovec){ buf, 4096 };
	bad = (struct disk_req){ .op = DISK_OP_READ,
				 .offset = IMG_SIZE - 2048,
				 .iov = &iov,
				 .iovcnt = 1,
				 .done = nop_done,
				 .opaque = &done };
	assert_int_equal(disk_submit(r.q, &bad), -EINVAL); /* past the end */
	bad.offset = UINT64_MAX - 100;
	assert_int_equal(disk_submit(r.q, &bad), -EINVAL);
	bad.offset = 0;
	bad.iovcnt = 0;
	assert_int_equal(disk_submit(r.q, &bad), -EINVAL);
	bad.iovcnt = DISK_IOV_MAX + 1;
	assert_int_equal(disk_submit(r.q, &bad), -EINVAL);
	bad.iovcnt = 1;
	bad.op = (enum disk_op)77;
	assert_int_equal(disk_submit(r.q, &bad), -EINVAL);
	bad.op = DISK_OP_DISCARD;
	bad.len = 0;
	assert_int_equal(disk_submit(r.q, &bad), -EINVAL);
	bad.len = 100; /* not whole blocks */
	assert_int_equal(disk_submit(r.q, &bad), -EINVAL);
	if (r.c->direct) {
		bad.op = DISK_OP_READ;
		bad.offset = 100;
		assert_int_equal(disk_submit(r.q, &bad), -EINVAL);
	}
	assert_int_equal(disk_queue_new(r.d, 4, &q4), 0);
	for (i = 0; i < 5; i++)
		reqs[i] = (struct disk_req){ .op = DISK_OP_READ,
					     .offset = i * 4096,
					     .iov = &iov,
					     .iovcnt = 1,
					     .done = nop_done,
					     .opaque = &done };
	for (i = 0; i < 4; i++)
		assert_int_equal(disk_submit(q4, &reqs[i]), 0);
	assert_int_equal(disk_submit(q4, &reqs[4]), -EBUSY);
	/* Drain completes them all; nothing refused was completed. */
	assert_int_equal(disk_queue_drain(q4, 10000), 0);
	assert_int_equal(done, 4);
	assert_int_equal(disk_queue_in_flight(q4), 0);
	disk_queue_free(q4, 1000);
	free(buf);
	rig_down(&r);
}

/* A read-only disk refuses every change. */
static void test_readonly_refuses_changes(void **state)
{
	const struct io_case *c = *state;
	uint8_t buf[4096];
	struct disk_queue *q;
	struct image im;
	struct disk *d;
	int rc;

	rc = st_image(&im, st_dir(), c->backing, 1 << 20, 6, true);
	if (rc && c->backing == BACKING_LOOP)
		st_skip_no_loop(rc);
	assert_int_equal(rc, 0);
	d = st_open(im.path, c->engine, true, false);
	assert_true(disk_get_info(d)->readonly);
	assert_int_equal(disk_queue_new(d, 0, &q), 0);
	assert_int_equal(st_do(q, DISK_OP_READ, 0, buf, 4096, 0), 0);
	assert_int_equal(st_do(q, DISK_OP_WRITE, 0, buf, 4096, 0), -EROFS);
	assert_int_equal(st_do(q, DISK_OP_FLUSH, 0, NULL, 0, 0), -EROFS);
	assert_int_equal(st_do(q, DISK_OP_DISCARD, 0, NULL, 4096, 0), -EROFS);
	assert_int_equal(st_do(q, DISK_OP_WRITE_ZEROES, 0, NULL, 4096, 0),
			 -EROFS);
	disk_queue_free(q, 1000);
	disk_close(d);
	st_image_free(&im);
}

/* The cursor after a short transfer: what is left, where it starts. */
static void test_short_transfer_cursor(void **state)
{
	uint8_t a[100], b[50], c[10];
	struct iovec iov[3] = { { a, 100 }, { b, 50 }, { c, 10 } };
	struct disk_req req = {
		.op = DISK_OP_READ, .iov = iov, .iovcnt = 3, .total = 160
	};
	const struct iovec *cur;
	unsigned int cnt;

	assert_false(disk_req_advance(&req, 30));
	disk_req_segments(&req, &cur, &cnt);
	assert_int_equal(cnt, 3);
	assert_ptr_equal(cur[0].iov_base, a + 30);
	assert_int_equal(cur[0].iov_len, 70);
	/* The caller's array is never changed. */
	assert_ptr_equal(iov[0].iov_base, a);
	assert_int_equal(iov[0].iov_len, 100);
	assert_false(disk_req_advance(&req, 120));
	disk_req_segments(&req, &cur, &cnt);
	assert_int_equal(cnt, 1);
	assert_ptr_equal(cur[0].iov_base, c);
	assert_int_equal(cur[0].iov_len, 10);
	assert_true(disk_req_advance(&req, 10));
	free(req.owned);
}

#define CASE(e, b, dir, un) \
	(&(struct io_case){ DISK_ENGINE_##e, BACKING_##b, dir, un })
#define ALL_BACKINGS(fn)                                                      \
	cmocka_unit_test_prestate(fn, CASE(URING, FILE, false, false)),       \
		cmocka_unit_test_prestate(fn,                                 \
					  CASE(THREADS, FILE, false, false)), \
		cmocka_unit_test_prestate(fn,                                 \
					  CASE(URING, LOOP, false, false)),   \
		cmocka_unit_test_prestate(fn,                                 \
					  CASE(THREADS, LOOP, false, false))
#define DIRECT(fn)                                                            \
	cmocka_unit_test_prestate(fn, CASE(URING, FILE, true, false)),        \
		cmocka_unit_test_prestate(fn,                                 \
					  CASE(THREADS, FILE, true, false)),  \
		cmocka_unit_test_prestate(fn, CASE(URING, FILE, true, true)), \
		cmocka_unit_test_prestate(fn,                                 \
					  CASE(THREADS, FILE, true, true)),   \
		cmocka_unit_test_prestate(fn, CASE(URING, LOOP, true, true)), \
		cmocka_unit_test_prestate(fn, CASE(THREADS, LOOP, true, true))

int storage_test_io(void)
{
	const struct CMUnitTest tests[] = {
		ALL_BACKINGS(test_random_in_flight),
		DIRECT(test_random_in_flight),
		ALL_BACKINGS(test_discard_and_write_zeroes),
		DIRECT(test_discard_and_write_zeroes),
		cmocka_unit_test_prestate(test_write_zeroes_fallback,
					  CASE(URING, FILE, false, false)),
		cmocka_unit_test_prestate(test_write_zeroes_fallback,
					  CASE(THREADS, FILE, false, false)),
		ALL_BACKINGS(test_flush),
		ALL_BACKINGS(test_refused_requests),
		DIRECT(test_refused_requests),
		ALL_BACKINGS(test_readonly_refuses_changes),
		cmocka_unit_test(test_short_transfer_cursor),
	};

	return cmocka_run_group_tests_name("storage io", tests, NULL, NULL);
}
