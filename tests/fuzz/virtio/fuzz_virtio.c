/*
 * libFuzzer target: the virtqueue parser against hostile rings. The
 * input is a small header (queue size, features, device positions, ring
 * addresses) and the first bytes of guest RAM, where the rings and
 * descriptors are; the target makes the queue ready (or sees it refused)
 * and then plays the device: take every chain, read and write its
 * buffers, return it, ask whether to interrupt. With bit 6 of flags it
 * is a virtio-blk queue: every chain also goes through the request
 * parser (bits 2, 3 and 5: DISCARD and WRITE_ZEROES negotiated, a
 * read-only disk), whose answer must describe the chain's own bytes.
 * With bit 7 the rest is a saved virtio-console state (with bit 6 a
 * virtio-blk state), checked as a restore would.
 * Any crash, hang, out-of-bounds access or sanitizer report is a bug.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/virtio/blk_req.h"
#include "devices/virtio/console.h"
#include "devices/virtio/queue.h"
#include "vmm/memory.h"
#include "vmm/x86/layout.h"

#define FUZZ_RAM (2 * MIB)
#define FUZZ_IMAGE (64 * KIB) /* input bytes copied to guest RAM at 0 */
#define FUZZ_BUFS 64
#define FUZZ_DISCARD 0x04
#define FUZZ_ZEROES 0x08
#define FUZZ_RO 0x20
#define FUZZ_BLK 0x40
#define FUZZ_STATE 0x80
#define FUZZ_DISK (1 * MIB) /* the virtio-blk disk's capacity */

struct fuzz_hdr {
	uint16_t size;
	uint8_t flags; /* bit 0 EVENT_IDX, bit 1 INDIRECT_DESC, FUZZ_* */
	uint8_t max; /* buffers per chain the device takes */
	uint16_t next_avail, next_used;
	uint32_t desc, avail, used;
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct guest_mem *fuzz_ram(void)
{
	static struct guest_mem mem;
	static bool ready;

	if (!ready && mem_init(&mem, FUZZ_RAM))
		abort();
	ready = true;
	memset(mem.host, 0, FUZZ_IMAGE);
	return &mem;
}

/* The request parser's answer must lie within the chain it read. */
static void fuzz_blk(const struct vq_elem *e, uint8_t flags)
{
	const struct virtio_blk_limits lim = {
		.capacity = FUZZ_DISK,
		.readonly = flags & FUZZ_RO,
		.discard = flags & FUZZ_DISCARD,
		.write_zeroes = flags & FUZZ_ZEROES,
	};
	struct iovec iov[FUZZ_BUFS];
	struct virtio_blk_parsed p;
	uint64_t total = 0;
	unsigned int i;
	char why[200];
	int rc = virtio_blk_parse(&lim, e, iov, &p, why, sizeof(why));

	if (rc == VIRTIO_BLK_REQ_BROKEN)
		return;
	if (!p.status_byte || p.written >= vq_elem_in_bytes(e))
		__builtin_trap();
	if (rc != VIRTIO_BLK_REQ_IO)
		return;
	if (p.offset + p.len > FUZZ_DISK || p.offset % 512 ||
	    (lim.readonly && p.op != DISK_OP_READ))
		__builtin_trap();
	for (i = 0; i < p.iovcnt; i++)
		total += iov[i].iov_len;
	if ((p.op == DISK_OP_READ || p.op == DISK_OP_WRITE) &&
	    (total != p.len || p.len % 512))
		__builtin_trap();
}

/* Play the device until the ring is empty or broken (bounded). */
static void fuzz_queue(struct vq *q, unsigned int max, uint8_t flags)
{
	struct vq_buf bufs[FUZZ_BUFS];
	struct vq_elem e = { .buf = bufs, .max = max };
	uint8_t tmp[512];
	unsigned int i;
	char why[200];
	size_t n;

	for (i = 0; i < 2u * q->size + 2; i++) {
		if (vq_peek(q, why, sizeof(why)) <= 0 ||
		    vq_pop(q, &e, why, sizeof(why)) <= 0)
			break;
		if (flags & FUZZ_BLK)
			fuzz_blk(&e, flags);
		n = vq_copy_from(&e, 0, tmp, sizeof(tmp));
		n = vq_copy_to(q, &e, 1, tmp, n);
		vq_push(q, &e, (uint32_t)n + 1);
		vq_should_notify(q);
	}
}

/* A virtio-blk state against a described disk (godwit inspect's case). */
static void fuzz_blk_state(const uint8_t *data, size_t size)
{
	static const struct virtio_blk_conf conf = {
		.size = FUZZ_DISK,
		.discard = true,
		.num_queues = 1,
		.serial = "xvda",
	};
	struct virtio_blk_state st = { 0 };
	const struct dev_env env = {
		.mem_bytes = FUZZ_RAM,
		.res = { LAYOUT_VIRTIO_MMIO + 0x1000, LAYOUT_VIRTIO_GSI(1) },
		.arg = &conf,
	};
	char why[256];

	memcpy(&st, data, size < sizeof(st) ? size : sizeof(st));
	virtio_blk_type.check(&env, &st, why, sizeof(why));
}

static void fuzz_state(const uint8_t *data, size_t size)
{
	struct virtio_console_state st = { 0 };
	const struct dev_env env = {
		.mem_bytes = FUZZ_RAM,
		.res = { LAYOUT_VIRTIO_MMIO, LAYOUT_VIRTIO_GSI(0) },
	};
	char why[256];

	memcpy(&st, data, size < sizeof(st) ? size : sizeof(st));
	virtio_console_type.check(&env, &st, why, sizeof(why));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct guest_mem *mem;
	struct fuzz_hdr h;
	struct vq q;
	char why[200];

	if (size < sizeof(h))
		return 0;
	memcpy(&h, data, sizeof(h));
	data += sizeof(h);
	size -= sizeof(h);
	if (h.flags & FUZZ_STATE) {
		if (h.flags & FUZZ_BLK)
			fuzz_blk_state(data, size);
		else
			fuzz_state(data, size);
		return 0;
	}
	mem = fuzz_ram();
	memcpy(mem->host, data, size < FUZZ_IMAGE ? size : FUZZ_IMAGE);
	vq_reset(&q);
	q.size = h.size;
	q.desc_gpa = h.desc;
	q.avail_gpa = h.avail;
	q.used_gpa = h.used;
	q.next_avail = h.next_avail;
	q.next_used = h.next_used;
	if (vq_activate(&q, mem, 1024, h.flags & 1, h.flags & 2, why,
			sizeof(why)) == 0)
		fuzz_queue(&q, h.max % FUZZ_BUFS + 1, h.flags);
	return 0;
}
