/*
 * libFuzzer target: the virtqueue parser against hostile rings. The
 * input is a small header (queue size, features, device positions, ring
 * addresses) and the first bytes of guest RAM, where the rings and
 * descriptors are; the target makes the queue ready (or sees it refused)
 * and then plays the device: take every chain, read and write its
 * buffers, return it, ask whether to interrupt. With bit 7 of flags the
 * rest is a saved virtio-console state, checked as a restore would.
 * Any crash, hang, out-of-bounds access or sanitizer report is a bug.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/virtio/console.h"
#include "devices/virtio/queue.h"
#include "vmm/memory.h"
#include "vmm/x86/layout.h"

#define FUZZ_RAM (2 * MIB)
#define FUZZ_IMAGE (64 * KIB) /* input bytes copied to guest RAM at 0 */
#define FUZZ_BUFS 64
#define FUZZ_STATE 0x80

struct fuzz_hdr {
	uint16_t size;
	uint8_t flags; /* bit 0 EVENT_IDX, bit 1 INDIRECT_DESC, bit 7 state */
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

/* Play the device until the ring is empty or broken (bounded). */
static void fuzz_queue(struct vq *q, unsigned int max)
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
		n = vq_copy_from(&e, 0, tmp, sizeof(tmp));
		n = vq_copy_to(q, &e, 1, tmp, n);
		vq_push(q, &e, (uint32_t)n + 1);
		vq_should_notify(q);
	}
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
		fuzz_queue(&q, h.max % FUZZ_BUFS + 1);
	return 0;
}
