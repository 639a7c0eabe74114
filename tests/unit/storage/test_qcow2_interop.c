/*
 * qcow2 against QEMU: images godwit wrote pass `qemu-img check` (no
 * corruption, no leaks after a clean close) and `qemu-img compare` with
 * a shadow of every write; images qemu-img and qemu-io wrote (patterns,
 * zeroes, discards, backing files) read back as `qemu-img convert`
 * says. Cluster sizes 512 B to 2 MiB, refcount widths 1 to 64 bits,
 * both engines, requests in flight together. Skipped loudly without
 * qemu-img.
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
#include <unistd.h>
#include <cmocka.h>

#include "common/compiler.h"
#include "common/util.h"
#include "helpers.h"

struct icase {
	unsigned int cluster; /* bytes */
	unsigned int refbits;
	bool backing; /* on a raw backing file of random data */
	enum disk_engine engine;
	uint64_t size;
	bool direct; /* O_DIRECT */
};

struct rig {
	const struct icase *c;
	char img[256], base[256], shadow[256];
	uint8_t *mem; /* what the disk must read */
	uint64_t rng;
	struct disk *d;
	struct disk_queue *q;
};

static void skip_without_qemu(void)
{
	if (!st_have_qemu_img()) {
		fprintf(stderr, "SKIP: qemu-img is not installed\n");
		skip();
	}
}

static void write_file(const char *path, const uint8_t *p, uint64_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write_full(fd, p, len), 0);
	close(fd);
}

static void read_file(const char *path, uint8_t *p, uint64_t len)
{
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(read_full(fd, p, len), 0);
	close(fd);
}

/* qemu-img makes the image (and the backing file, random data). */
static void rig_up(struct rig *r, const struct icase *c, unsigned int seed)
{
	memset(r, 0, sizeof(*r));
	r->c = c;
	r->rng = seed * 2654435761u + 1;
	snprintf(r->img, sizeof(r->img), "%s/i.qcow2", st_dir());
	snprintf(r->base, sizeof(r->base), "%s/base.raw", st_dir());
	snprintf(r->shadow, sizeof(r->shadow), "%s/shadow.raw", st_dir());
	r->mem = calloc(1, c->size);
	assert_non_null(r->mem);
	unlink(r->img);
	if (c->backing) {
		st_fill(r->mem, c->size, &r->rng);
		write_file(r->base, r->mem, c->size);
	}
	assert_int_equal(
		st_sh("qemu-img create -q -f qcow2 -o cluster_size=%u,refcount_bits=%u%s '%s' %llu",
		      c->cluster, c->refbits,
		      c->backing ? ",backing_file=base.raw,backing_fmt=raw" :
				   "",
		      r->img, (unsigned long long)c->size),
		0);
}

static void rig_open(struct rig *r)
{
	struct disk_open_args a = { .path = r->img,
				    .label = "xvda",
				    .engine = r->c->engine,
				    .direct = r->c->direct,
				    .format = DISK_FORMAT_QCOW2 };
	char why[DISK_WHY_MAX];

	if (disk_open(&a, &r->d, why, sizeof(why)))
		fail_msg("%s", why);
	assert_int_equal(disk_queue_new(r->d, 0, &r->q), 0);
}

static void rig_close(struct rig *r)
{
	disk_queue_free(r->q, 5000);
	disk_close(r->d);
	r->d = NULL;
}

/* Read the whole disk through godwit and compare with mem. */
static void assert_reads_mem(struct rig *r)
{
	uint64_t size = r->c->size, chunk = 1 << 20, off;
	uint8_t *buf = malloc(chunk);

	for (off = 0; off < size; off += chunk) {
		assert_int_equal(st_do(r->q, DISK_OP_READ, off, buf,
				       MIN(chunk, size - off), 0),
				 0);
		for (uint64_t i = 0; i < MIN(chunk, size - off); i++) {
			if (buf[i] != r->mem[off + i])
				fail_msg("godwit reads %#x at %llu, not %#x",
					 buf[i], (unsigned long long)(off + i),
					 r->mem[off + i]);
		}
	}
	free(buf);
}

/* QEMU's verdict on the closed image: clean, and equal to mem. */
static void assert_qemu_agrees(struct rig *r)
{
	write_file(r->shadow, r->mem, r->c->size);
	assert_int_equal(st_sh("qemu-img check -q '%s'", r->img), 0);
	assert_int_equal(st_sh("qemu-img compare -q -f qcow2 -F raw '%s' '%s'",
			       r->img, r->shadow),
			 0);
}

/* A random range: 512-byte units, up to 3 clusters or 256 KiB. */
static void pick(struct rig *r, uint64_t *off, uint64_t *len)
{
	uint64_t u = r->c->direct ? 4096 : 512; /* direct I/O: 4 KiB */
	uint64_t units = r->c->size / u;
	uint64_t maxlen = MIN(3ull * r->c->cluster, 256 * 1024) / u;

	*len = (1 + st_rand(&r->rng) % maxlen) * u;
	*off = (st_rand(&r->rng) % (units - *len / u)) * u;
}

/* One random request, applied to mem as the disk must apply it. */
static void one_op(struct rig *r)
{
	uint64_t off, len, cs = r->c->cluster, a, b;
	unsigned int kind = st_rand(&r->rng) % 8;
	uint8_t *buf;

	pick(r, &off, &len);
	if (kind < 5) {
		buf = malloc(len);
		st_fill(buf, len, &r->rng);
		assert_int_equal(st_do(r->q, DISK_OP_WRITE, off, buf, len, 0),
				 0);
		memcpy(r->mem + off, buf, len);
		free(buf);
	} else if (kind < 7) {
		assert_int_equal(st_do(r->q, DISK_OP_WRITE_ZEROES, off, NULL,
				       len, kind == 6 ? DISK_REQ_UNMAP : 0),
				 0);
		memset(r->mem + off, 0, len);
	} else {
		/* Discard frees whole clusters (they read zeroes); the
		 * parts of clusters at its ends keep their data. */
		assert_int_equal(
			st_do(r->q, DISK_OP_DISCARD, off, NULL, len, 0), 0);
		a = (off + cs - 1) / cs * cs;
		b = (off + len) / cs * cs;
		if (off + len == r->c->size)
			b = off + len;
		if (b > a)
			memset(r->mem + a, 0, b - a);
	}
}

/* Writes to disjoint ranges, all in flight at once (same clusters too). */
struct flying {
	struct disk_req req;
	struct iovec iov;
	uint8_t *buf;
};

static void fly_done(struct disk_req *req)
{
	(*(unsigned int *)req->opaque)++;
}

static void concurrent_writes(struct rig *r, unsigned int n)
{
	struct flying *f = calloc(n, sizeof(*f));
	uint64_t slot = r->c->size / n, len;
	unsigned int i, done = 0;

	disk_queue_plug(r->q);
	for (i = 0; i < n; i++) {
		len = MIN(slot, (1 + st_rand(&r->rng) % 16) *
					(r->c->direct ? 4096ull : 512ull));
		f[i].buf = malloc(len);
		st_fill(f[i].buf, len, &r->rng);
		f[i].iov = (struct iovec){ f[i].buf, len };
		f[i].req = (struct disk_req){ .op = DISK_OP_WRITE,
					      .offset = i * slot,
					      .iov = &f[i].iov,
					      .iovcnt = 1,
					      .done = fly_done,
					      .opaque = &done };
		assert_int_equal(disk_submit(r->q, &f[i].req), 0);
		memcpy(r->mem + i * slot, f[i].buf, len);
	}
	assert_int_equal(disk_queue_unplug(r->q), 0);
	st_wait(r->q, &done, n);
	for (i = 0; i < n; i++) {
		assert_int_equal(f[i].req.result, 0);
		free(f[i].buf);
	}
	free(f);
}

static void rig_down(struct rig *r)
{
	free(r->mem);
	unlink(r->img);
	unlink(r->shadow);
	unlink(r->base);
}

/* godwit writes; QEMU finds the image clean and equal to the shadow. */
static void test_godwit_writes(void **state)
{
	const struct icase *c = *state;
	struct rig r;
	unsigned int i;

	skip_without_qemu();
	rig_up(&r, c, c->cluster + c->refbits + c->backing);
	rig_open(&r);
	concurrent_writes(&r, 64);
	for (i = 0; i < 150; i++)
		one_op(&r);
	assert_int_equal(st_do(r.q, DISK_OP_FLUSH, 0, NULL, 0, 0), 0);
	assert_reads_mem(&r);
	rig_close(&r);
	assert_qemu_agrees(&r);
	/* Again after a reopen: allocation goes on past what is there. */
	rig_open(&r);
	assert_reads_mem(&r);
	for (i = 0; i < 50; i++)
		one_op(&r);
	rig_close(&r);
	assert_qemu_agrees(&r);
	rig_down(&r);
}

/* qemu-io writes patterns, zeroes and discards; godwit reads the same. */
static void test_qemu_writes(void **state)
{
	const struct icase *c = *state;
	char cmd[16384];
	size_t n = 0;
	struct rig r;
	unsigned int i;
	uint64_t off, len;
	static const char *const ops[] = { "write -P %u", "write -z",
					   "write -z -u", "discard" };

	skip_without_qemu();
	rig_up(&r, c, 7 + c->cluster);
	n += snprintf(cmd + n, sizeof(cmd) - n, "qemu-io -f qcow2 '%s'", r.img);
	for (i = 0; i < 60; i++) {
		pick(&r, &off, &len);
		n += snprintf(cmd + n, sizeof(cmd) - n, " -c '");
		n += snprintf(cmd + n, sizeof(cmd) - n, ops[i % 4], i + 1);
		n += snprintf(cmd + n, sizeof(cmd) - n, " %llu %llu'",
			      (unsigned long long)off, (unsigned long long)len);
	}
	strcat(cmd, " >/dev/null");
	assert_int_equal(st_sh("%s", cmd), 0);
	assert_int_equal(st_sh("qemu-img convert -f qcow2 -O raw '%s' '%s'",
			       r.img, r.shadow),
			 0);
	read_file(r.shadow, r.mem, c->size);
	rig_open(&r);
	assert_reads_mem(&r);
	/* And godwit's writes on top of QEMU's leave it clean. */
	for (i = 0; i < 40; i++)
		one_op(&r);
	rig_close(&r);
	assert_qemu_agrees(&r);
	rig_down(&r);
}

/*
 * A chain of three: a 64 KiB-cluster base and a 4 KiB-cluster middle
 * qemu-io wrote, a top godwit created and writes (copying up from two
 * levels below); QEMU agrees on the result and on every image.
 */
static void test_qcow2_chain(void **state)
{
	static const struct icase c = { .cluster = 4096,
					.refbits = 16,
					.backing = false,
					.engine = DISK_ENGINE_URING,
					.size = 8u << 20 };
	struct disk_create_args ca = { 0 };
	char base[256], mid[256], why[DISK_WHY_MAX];
	struct rig r;
	unsigned int i;

	(void)state;
	skip_without_qemu();
	rig_up(&r, &c, 99);
	snprintf(base, sizeof(base), "%s/base.qcow2", st_dir());
	snprintf(mid, sizeof(mid), "%s/mid.qcow2", st_dir());
	unlink(base);
	unlink(mid);
	unlink(r.img);
	assert_int_equal(
		st_sh("qemu-img create -q -f qcow2 '%s' 8M && "
		      "qemu-io -f qcow2 -c 'write -P 1 0 3M' -c 'write -z 1M 64k' '%s' >/dev/null && "
		      "qemu-img create -q -f qcow2 -o cluster_size=4096 -b base.qcow2 -F qcow2 '%s' && "
		      "qemu-io -f qcow2 -c 'write -P 2 100k 1M' -c 'discard 200k 8k' '%s' >/dev/null",
		      base, base, mid, mid),
		0);
	ca.path = r.img;
	ca.backing = "mid.qcow2";
	ca.cluster_size = c.cluster;
	if (disk_create(&ca, why, sizeof(why)))
		fail_msg("%s", why);
	assert_int_equal(st_sh("qemu-img convert -f qcow2 -O raw '%s' '%s'",
			       r.img, r.shadow),
			 0);
	read_file(r.shadow, r.mem, c.size);
	rig_open(&r);
	assert_reads_mem(&r);
	for (i = 0; i < 100; i++)
		one_op(&r);
	assert_reads_mem(&r);
	rig_close(&r);
	assert_qemu_agrees(&r);
	assert_int_equal(
		st_sh("qemu-img check -q '%s' && qemu-img check -q '%s'", mid,
		      base),
		0);
	unlink(base);
	unlink(mid);
	rig_down(&r);
}

/* A large discard: more freed clusters than are kept pending at once. */
static void test_large_discard(void **state)
{
	static const struct icase c = { .cluster = 512,
					.refbits = 16,
					.engine = DISK_ENGINE_URING,
					.size = 6u << 20 };
	uint64_t half = c.size / 2;
	uint8_t *buf = malloc(half);
	struct rig r;

	(void)state;
	skip_without_qemu();
	rig_up(&r, &c, 5);
	rig_open(&r);
	st_fill(buf, half, &r.rng);
	assert_int_equal(st_do(r.q, DISK_OP_WRITE, 0, buf, half, 0), 0);
	assert_int_equal(st_do(r.q, DISK_OP_WRITE, half, buf, half, 0), 0);
	memcpy(r.mem + half, buf, half);
	/* 6144 clusters: the pending frees are applied on the way. */
	assert_int_equal(st_do(r.q, DISK_OP_DISCARD, 0, NULL, half, 0), 0);
	assert_reads_mem(&r);
	rig_close(&r);
	assert_qemu_agrees(&r);
	free(buf);
	rig_down(&r);
}

/* Compressed clusters are refused when reached, naming the feature. */
static void test_compressed_refused(void **state)
{
	char src[256], img[256];
	static uint8_t buf[65536];
	struct disk_open_args a = { .path = img,
				    .label = "xvda",
				    .readonly = true,
				    .format = DISK_FORMAT_QCOW2 };
	char why[DISK_WHY_MAX];
	struct disk_queue *q;
	struct disk *d;

	skip_without_qemu();
	snprintf(src, sizeof(src), "%s/c.raw", st_dir());
	snprintf(img, sizeof(img), "%s/c.qcow2", st_dir());
	unlink(img);
	memset(buf, 0x77, sizeof(buf));
	write_file(src, buf, sizeof(buf));
	assert_int_equal(st_sh("qemu-img convert -c -f raw -O qcow2 '%s' '%s'",
			       src, img),
			 0);
	if (disk_open(&a, &d, why, sizeof(why)))
		fail_msg("%s", why);
	assert_int_equal(disk_queue_new(d, 0, &q), 0);
	assert_int_equal(st_do(q, DISK_OP_READ, 0, buf, 4096, 0), -ENOTSUP);
	disk_queue_free(q, 1000);
	disk_close(d);
	unlink(src);
	unlink(img);
	(void)state;
}

#define K 1024u
#define M (1024u * 1024u)
static const struct icase c512 = { .cluster = 512,
				   .refbits = 16,
				   .backing = false,
				   .engine = DISK_ENGINE_URING,
				   .size = 12 * M };
static const struct icase c4k = { .cluster = 4 * K,
				  .refbits = 16,
				  .backing = true,
				  .engine = DISK_ENGINE_URING,
				  .size = 32 * M };
static const struct icase c64k = { .cluster = 64 * K,
				   .refbits = 16,
				   .backing = false,
				   .engine = DISK_ENGINE_URING,
				   .size = 32 * M };
static const struct icase c64kb = { .cluster = 64 * K,
				    .refbits = 16,
				    .backing = true,
				    .engine = DISK_ENGINE_THREADS,
				    .size = 32 * M };
static const struct icase c64kd = { .cluster = 64 * K,
				    .refbits = 16,
				    .backing = true,
				    .engine = DISK_ENGINE_URING,
				    .size = 32 * M,
				    .direct = true };
static const struct icase c2m = { .cluster = 2 * M,
				  .refbits = 16,
				  .backing = true,
				  .engine = DISK_ENGINE_URING,
				  .size = 64 * M };
static const struct icase r1 = { .cluster = 4 * K,
				 .refbits = 1,
				 .backing = false,
				 .engine = DISK_ENGINE_URING,
				 .size = 8 * M };
static const struct icase r2 = { .cluster = 4 * K,
				 .refbits = 2,
				 .backing = false,
				 .engine = DISK_ENGINE_THREADS,
				 .size = 8 * M };
static const struct icase r4 = { .cluster = 4 * K,
				 .refbits = 4,
				 .backing = true,
				 .engine = DISK_ENGINE_URING,
				 .size = 8 * M };
static const struct icase r8 = { .cluster = 4 * K,
				 .refbits = 8,
				 .backing = false,
				 .engine = DISK_ENGINE_URING,
				 .size = 8 * M };
static const struct icase r32 = { .cluster = 4 * K,
				  .refbits = 32,
				  .backing = false,
				  .engine = DISK_ENGINE_URING,
				  .size = 8 * M };
static const struct icase r64 = { .cluster = 4 * K,
				  .refbits = 64,
				  .backing = true,
				  .engine = DISK_ENGINE_URING,
				  .size = 8 * M };

int storage_test_qcow2_interop(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_prestate(test_godwit_writes, (void *)&c512),
		cmocka_unit_test_prestate(test_godwit_writes, (void *)&c4k),
		cmocka_unit_test_prestate(test_godwit_writes, (void *)&c64k),
		cmocka_unit_test_prestate(test_godwit_writes, (void *)&c64kb),
		cmocka_unit_test_prestate(test_godwit_writes, (void *)&c64kd),
		cmocka_unit_test_prestate(test_godwit_writes, (void *)&c2m),
		cmocka_unit_test_prestate(test_godwit_writes, (void *)&r1),
		cmocka_unit_test_prestate(test_godwit_writes, (void *)&r2),
		cmocka_unit_test_prestate(test_godwit_writes, (void *)&r4),
		cmocka_unit_test_prestate(test_godwit_writes, (void *)&r8),
		cmocka_unit_test_prestate(test_godwit_writes, (void *)&r32),
		cmocka_unit_test_prestate(test_godwit_writes, (void *)&r64),
		cmocka_unit_test_prestate(test_qemu_writes, (void *)&c4k),
		cmocka_unit_test_prestate(test_qemu_writes, (void *)&c64k),
		cmocka_unit_test_prestate(test_qemu_writes, (void *)&c64kb),
		cmocka_unit_test_prestate(test_qemu_writes, (void *)&c2m),
		cmocka_unit_test(test_qcow2_chain),
		cmocka_unit_test(test_large_discard),
		cmocka_unit_test(test_compressed_refused),
	};

	return cmocka_run_group_tests_name("storage qcow2 with qemu-img", tests,
					   NULL, NULL);
}
