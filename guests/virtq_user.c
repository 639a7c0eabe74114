/*
 * Ring 3's side of a split virtqueue (see virtio.h): stage descriptor
 * heads for ring 0 to publish, and reap the used ring. Native code, no
 * MMIO: x86 keeps stores in order, so compiler barriers are enough
 * between writing a descriptor and staging its head, and between reading
 * the used index and the entries it covers.
 */
#include "virtio.h"

void virtq_stage(struct virtq *q, uint16_t head, bool fence)
{
	uint32_t tail = q->stage_tail;

	q->stage[tail % VIRTQ_MAX_SIZE] = head |
					  (fence ? VIRTQ_STAGE_BARRIER : 0);
	barrier();
	q->stage_tail = tail + 1;
}

bool virtq_reap(struct virtq *q, struct virtq_used_elem *out)
{
	const volatile struct virtq_used_elem *e;

	if (virtq_used_idx(q) == q->used_seen)
		return false;
	barrier();
	e = &q->used->ring[q->used_seen & (q->size - 1)];
	out->id = e->id;
	out->len = e->len;
	q->used_seen++;
	return true;
}

uint32_t virtq_staged(const struct virtq *q)
{
	return q->stage_tail - q->stage_head;
}
