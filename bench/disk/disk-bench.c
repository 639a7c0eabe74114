/*
 * disk-bench: drive one file through godwit's storage layer the way the
 * virtio-blk device will (one queue, a fixed number of requests in
 * flight, each completion refilled at once), for a fixed time, and print
 * what it did as one JSON line. bench/disk/run.py runs it next to fio
 * with the same parameters on the same file.
 *
 *   disk-bench FILE ENGINE RW BS QD SECONDS [direct] [qcow2]
 *     ENGINE  io_uring | threads
 *     RW      randread | randwrite | read | write
 *     qcow2   FILE is a qcow2 image (else raw)
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "storage/disk.h"

struct slot {
	struct disk_req req;
	struct iovec iov;
	struct bench *b;
};

struct bench {
	struct disk_queue *q;
	enum disk_op op;
	bool random;
	uint64_t size, bs, next, rng;
	uint64_t ops, bytes, errors;
	bool stopping;
};

static uint64_t next_offset(struct bench *b)
{
	uint64_t blocks = b->size / b->bs, off;

	if (b->random) {
		b->rng ^= b->rng << 13;
		b->rng ^= b->rng >> 7;
		b->rng ^= b->rng << 17;
		return (b->rng % blocks) * b->bs;
	}
	off = b->next;
	b->next = (b->next + b->bs) % (blocks * b->bs);
	return off;
}

static void submit(struct slot *s)
{
	s->req.offset = next_offset(s->b);
	if (disk_submit(s->b->q, &s->req))
		s->b->errors++;
}

static void done(struct disk_req *req)
{
	struct slot *s = req->opaque;

	if (req->result) {
		s->b->errors++;
	} else {
		s->b->ops++;
		s->b->bytes += s->b->bs;
	}
	if (!s->b->stopping)
		submit(s);
}

static int parse(int argc, char **argv, struct disk_open_args *a,
		 struct bench *b, unsigned int *qd, double *seconds)
{
	if (argc < 7)
		return -EINVAL;
	a->path = argv[1];
	a->label = "bench";
	a->engine = !strcmp(argv[2], "threads") ? DISK_ENGINE_THREADS :
						  DISK_ENGINE_URING;
	b->op = strstr(argv[3], "write") ? DISK_OP_WRITE : DISK_OP_READ;
	b->random = !strncmp(argv[3], "rand", 4);
	b->bs = strtoull(argv[4], NULL, 0);
	*qd = strtoul(argv[5], NULL, 0);
	*seconds = strtod(argv[6], NULL);
	for (int i = 7; i < argc; i++) {
		if (!strcmp(argv[i], "direct"))
			a->direct = true;
		else if (!strcmp(argv[i], "qcow2"))
			a->format = DISK_FORMAT_QCOW2;
		else
			return -EINVAL;
	}
	b->rng = 0x9e3779b97f4a7c15ull;
	return b->bs && *qd && *qd <= DISK_QUEUE_DEPTH_MAX ? 0 : -EINVAL;
}

static void run(struct bench *b, struct slot *slots, unsigned int qd,
		double seconds)
{
	uint64_t end = time_mono_ns() + (uint64_t)(seconds * 1e9);
	struct pollfd p = { .fd = disk_queue_fd(b->q), .events = POLLIN };
	unsigned int i;

	disk_queue_plug(b->q);
	for (i = 0; i < qd; i++)
		submit(&slots[i]);
	if (disk_queue_unplug(b->q))
		b->errors++;
	while (time_mono_ns() < end) {
		if (poll(&p, 1, 100) > 0)
			disk_queue_poll(b->q);
	}
	b->stopping = true;
	if (disk_queue_drain(b->q, 30000))
		b->errors++;
}

int main(int argc, char **argv)
{
	struct disk_open_args a = { 0 };
	struct bench b = { 0 };
	char why[DISK_WHY_MAX];
	struct slot *slots;
	struct disk *d;
	unsigned int qd, i;
	double seconds;
	uint64_t t0;

	if (parse(argc, argv, &a, &b, &qd, &seconds)) {
		fprintf(stderr,
			"usage: disk-bench FILE io_uring|threads "
			"randread|randwrite|read|write BS QD SECONDS [direct] "
			"[qcow2]\n");
		return 2;
	}
	if (disk_open(&a, &d, why, sizeof(why))) {
		fprintf(stderr, "disk-bench: %s\n", why);
		return 1;
	}
	b.size = disk_get_info(d)->size;
	slots = calloc(qd, sizeof(*slots));
	if (!slots || disk_queue_new(d, qd, &b.q))
		return 1;
	for (i = 0; i < qd; i++) {
		slots[i].b = &b;
		if (posix_memalign(&slots[i].iov.iov_base, 4096, b.bs))
			return 1;
		memset(slots[i].iov.iov_base, 0x5a, b.bs);
		slots[i].iov.iov_len = b.bs;
		slots[i].req = (struct disk_req){ .op = b.op,
						  .iov = &slots[i].iov,
						  .iovcnt = 1,
						  .done = done,
						  .opaque = &slots[i] };
	}
	t0 = time_mono_ns();
	run(&b, slots, qd, seconds);
	printf("{\"engine\": \"%s\", \"ops\": %llu, \"bytes\": %llu, "
	       "\"seconds\": %.6f, \"errors\": %llu}\n",
	       disk_engine_name(disk_get_info(d)->engine),
	       (unsigned long long)b.ops, (unsigned long long)b.bytes,
	       (time_mono_ns() - t0) / 1e9, (unsigned long long)b.errors);
	disk_queue_free(b.q, 1000);
	disk_close(d);
	return b.errors ? 1 : 0;
}
