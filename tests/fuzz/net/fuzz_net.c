/*
 * libFuzzer target: virtio-net's receive path (virtio_net_rx_frame)
 * against hostile receive rings and hostile frames from the tap. The
 * input is a header (queue size, features, device positions, ring
 * addresses, frame lengths), then the first bytes of guest RAM (where
 * the rings, descriptors and indirect tables are), then the frames, each
 * with its 12-byte virtio-net header as a tap would give it.
 *
 * Besides crashes, hangs and sanitizer reports, the oracle: after the
 * frames were delivered, every byte of guest RAM that changed lies in a
 * device-writable buffer of a chain the driver made available, or in
 * the used ring (its entries, index and avail_event). A frame delivered
 * is all in the used entries (their lengths add up to it), and nothing
 * else is made used. Any other write is a bug: abort().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/virtio/net.h"
#include "devices/virtio/queue.h"
#include "vmm/memory.h"

#define FUZZ_RAM (2 * MIB)
#define FUZZ_IMAGE (64 * KIB) /* input bytes copied to guest RAM at 0 */
#define FUZZ_FRAMES 4
#define FUZZ_FRAME_MAX 4096

struct fuzz_hdr {
	uint16_t size;
	uint16_t features; /* bits 0-15 of the features accepted (net bits) */
	uint16_t next_avail, next_used;
	uint32_t desc, avail, used;
	uint8_t flags; /* bit 0 EVENT_IDX, bit 1 INDIRECT_DESC */
	uint8_t nframes;
	uint16_t frame_len[FUZZ_FRAMES];
} __attribute__((packed));
_Static_assert(sizeof(struct fuzz_hdr) == 30, "fuzz_net header");

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct guest_mem *fuzz_ram(void)
{
	static struct guest_mem mem;
	static bool ready;

	if (!ready && mem_init(&mem, FUZZ_RAM))
		abort();
	ready = true;
	memset(mem.host, 0, FUZZ_RAM);
	return &mem;
}

static void allow(uint8_t *map, uint64_t addr, uint64_t len)
{
	if (addr >= FUZZ_RAM)
		return;
	if (len > FUZZ_RAM - addr)
		len = FUZZ_RAM - addr;
	memset(map + addr, 1, len);
}

static void desc_at(const uint8_t *ram, uint64_t gpa, struct vq_desc *d)
{
	if (gpa > FUZZ_RAM - sizeof(*d))
		memset(d, 0, sizeof(*d));
	else
		memcpy(d, ram + gpa, sizeof(*d));
}

/*
 * Every writable buffer reachable from head: a superset, rules or not.
 * The device takes no chain of more than VIRTIO_NET_CHAIN_MAX buffers
 * (it refuses it whole, before writing), so *budget bounds the walk.
 */
static void allow_chain(uint8_t *map, const uint8_t *ram, uint64_t table,
			uint32_t count, uint16_t head, bool nested,
			unsigned int *budget)
{
	struct vq_desc d;
	uint32_t i = head, steps;

	for (steps = 0; steps < count && i < count && *budget; steps++) {
		desc_at(ram, table + 16ULL * i, &d);
		if ((d.flags & VQ_DESC_F_INDIRECT) && !nested && d.len >= 16) {
			allow_chain(map, ram, d.addr,
				    d.len / 16 > 32768 ? 32768 : d.len / 16, 0,
				    true, budget);
		} else {
			if (d.flags & VQ_DESC_F_WRITE)
				allow(map, d.addr, d.len);
			--*budget;
		}
		if (!(d.flags & VQ_DESC_F_NEXT))
			break;
		i = d.next;
	}
}

/* What the device may write: available chains' buffers, the used ring. */
static void allowed_writes(uint8_t *map, const uint8_t *ram,
			   const struct fuzz_hdr *h)
{
	uint16_t idx, n, k, head;
	unsigned int budget;

	memset(map, 0, FUZZ_RAM);
	allow(map, h->used, 6 + 8ULL * h->size); /* incl. avail_event */
	if (h->avail > FUZZ_RAM - 4 - 2ULL * h->size)
		return;
	memcpy(&idx, ram + h->avail + 2, 2);
	n = idx - h->next_avail;
	for (k = 0; k < n && k < h->size; k++) {
		memcpy(&head,
		       ram + h->avail + 4 +
			       2 * ((uint16_t)(h->next_avail + k) % h->size),
		       2);
		budget = VIRTIO_NET_CHAIN_MAX + 1;
		allow_chain(map, ram, h->desc, h->size, head, false, &budget);
	}
}

static void check_writes(const uint8_t *before, const uint8_t *after,
			 const uint8_t *map)
{
	size_t i, j;

	for (i = 0; i < FUZZ_RAM; i += 4096) {
		if (!memcmp(before + i, after + i, 4096))
			continue; /* most pages: untouched */
		for (j = i; j < i + 4096; j++)
			if (before[j] != after[j] && !map[j])
				abort(); /* written outside what was given */
	}
}

/* Delivered: the new used entries hold the whole frame, no more. */
static void check_used(const struct vq *q, uint16_t from, size_t len)
{
	uint32_t sum = 0, ent_len;
	uint16_t k;

	for (k = from; k != q->next_used; k++) {
		memcpy(&ent_len, q->used + 4 + 8 * (size_t)(k % q->size) + 4,
		       4);
		sum += ent_len;
	}
	if (sum != len)
		abort();
}

static void deliver(struct vq *q, const struct fuzz_hdr *h, const uint8_t *f,
		    size_t avail_bytes, uint64_t features)
{
	static uint8_t frame[FUZZ_FRAME_MAX];
	enum virtio_net_rx r;
	size_t off = 0, len;
	uint16_t used0;
	char why[200];
	unsigned int i;

	for (i = 0; i < h->nframes % (FUZZ_FRAMES + 1); i++) {
		len = h->frame_len[i] % FUZZ_FRAME_MAX;
		if (len > avail_bytes - off)
			len = avail_bytes - off;
		memcpy(frame, f + off, len);
		off += len;
		used0 = q->next_used;
		r = virtio_net_rx_frame(q, frame, len, features, why,
					sizeof(why));
		if (r == VIRTIO_NET_RX_BROKEN)
			return; /* the device stops here */
		if (r == VIRTIO_NET_RX_DONE)
			check_used(q, used0, len);
		else if (q->next_used != used0)
			abort(); /* not delivered, yet something used */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t before[FUZZ_RAM], map[FUZZ_RAM];
	struct guest_mem *mem;
	struct fuzz_hdr h;
	size_t image;
	struct vq q;
	char why[200];

	if (size < sizeof(h))
		return 0;
	memcpy(&h, data, sizeof(h));
	data += sizeof(h);
	size -= sizeof(h);
	mem = fuzz_ram();
	image = size < FUZZ_IMAGE ? size : FUZZ_IMAGE;
	memcpy(mem->host, data, image);
	vq_reset(&q);
	q.size = h.size;
	q.desc_gpa = h.desc;
	q.avail_gpa = h.avail;
	q.used_gpa = h.used;
	q.next_avail = h.next_avail;
	q.next_used = h.next_used;
	if (vq_activate(&q, mem, VIRTIO_NET_QUEUE_MAX, h.flags & 1, h.flags & 2,
			why, sizeof(why)))
		return 0;
	memcpy(before, mem->host, FUZZ_RAM);
	allowed_writes(map, mem->host, &h);
	deliver(&q, &h, data + image, size - image,
		(uint64_t)h.features | (1ULL << 32));
	check_writes(before, mem->host, map);
	return 0;
}
