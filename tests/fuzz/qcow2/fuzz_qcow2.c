/*
 * libFuzzer target: the qcow2 image parser and metadata paths against
 * hostile images. The input is the image file (in a memfd). The target
 * opens it read-only (backing files are not followed), walks what the
 * disk is with qcow2_status and reads the start of it; then opens a
 * copy read-write and writes, zeroes and discards a few ranges, so the
 * allocation, L2 and refcount paths meet corrupt tables too. Any crash,
 * hang, out-of-bounds access or sanitizer report is a bug; refusals are
 * expected.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/log.h"
#include "storage/qcow2.h"

#define FUZZ_MAX_INPUT (4u << 20)
#define FUZZ_READ 65536u

static int image_fd(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz-qcow2", MFD_CLOEXEC);

	if (fd < 0)
		return -1;
	if (qcow2_pwrite_full(fd, data, size, 0)) {
		close(fd);
		return -1;
	}
	return fd;
}

static int run(struct qcow2 *q, enum disk_op op, uint64_t off, uint64_t len,
	       void *buf)
{
	struct iovec iov = { buf, len };
	struct disk_req req = { .op = op,
				.offset = off,
				.total = len,
				.len = len,
				.iov = &iov,
				.iovcnt = 1 };

	if (!len || off >= q->size || len > q->size - off)
		return 0;
	return qcow2_exec(q, &req);
}

static void walk(struct qcow2 *q)
{
	static uint8_t buf[FUZZ_READ];
	enum qcow2_kind kind;
	uint64_t off = 0, n;
	int i;

	for (i = 0; i < 64 && off < q->size; i++) {
		if (qcow2_status(q, off, q->size - off, &kind, &n) || !n)
			break;
		off += n;
	}
	(void)run(q, DISK_OP_READ, 0, MIN(q->size, FUZZ_READ) & ~511ull, buf);
}

static void scribble(struct qcow2 *q, const uint8_t *data, size_t size)
{
	static uint8_t buf[FUZZ_READ];
	uint64_t cs = q->cluster_size, last;

	if (!q->size)
		return;
	memset(buf, 0xa5, sizeof(buf));
	last = (q->size - 1) & ~(cs - 1);
	(void)run(q, DISK_OP_WRITE, 512, MIN(1024, q->size - 512), buf);
	(void)run(q, DISK_OP_WRITE, last, MIN(cs, FUZZ_READ) & ~511ull, buf);
	(void)run(q, DISK_OP_WRITE_ZEROES, cs, cs, NULL);
	(void)run(q, DISK_OP_DISCARD, 0, MIN(2 * cs, q->size), NULL);
	(void)run(q, DISK_OP_WRITE, (size * 4096) % q->size & ~511ull, 512,
		  buf);
	(void)data;
	walk(q);
}

static void one(const uint8_t *data, size_t size, bool rw)
{
	struct qcow2_open_args a = { .path = "fuzz.qcow2",
				     .label = "fuzz",
				     .readonly = !rw,
				     .no_backing = true };
	char why[DISK_WHY_MAX];
	struct qcow2 *q = NULL;

	a.fd = image_fd(data, size);
	if (a.fd < 0)
		return;
	if (!qcow2_open(&a, &q, why, sizeof(why))) {
		if (rw)
			scribble(q, data, size);
		else
			walk(q);
		qcow2_close(q);
	}
	close(a.fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool quiet;

	if (!quiet) {
		log_set_level(LOG_ERR);
		quiet = true;
	}
	if (size > FUZZ_MAX_INPUT)
		return 0;
	one(data, size, false);
	one(data, size, true);
	return 0;
}
