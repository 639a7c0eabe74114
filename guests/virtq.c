/*
 * Ring 0's side of a split virtqueue (virtio 1.2, 2.7): publishing heads
 * on the avail ring, asking for interrupts and notifying the device only
 * when it asked for it (EVENT_IDX, else VIRTQ_USED_F_NO_NOTIFY). Every
 * notification is an MMIO write, an emulated exit to the VMM: one per
 * batch, never one per request.
 */
#include "virtio_mmio.h"

uint16_t virtq_inflight(const struct virtq *q)
{
	return (uint16_t)(q->next_avail - virtq_used_idx(q));
}

/* Make next_avail visible and notify if the device wants to know. */
static void publish(struct virtq *q, uint16_t old)
{
	bool notify;

	if (q->next_avail == old)
		return;
	barrier(); /* ring entries before the index (x86: stores in order) */
	*(volatile uint16_t *)&q->avail->idx = q->next_avail;
	virtio_mb(); /* the index before reading the device's wishes */
	if (q->event_idx)
		notify = virtq_need_event(*q->avail_event, q->next_avail, old);
	else
		notify = !(*(volatile uint16_t *)&q->used->flags &
			   VIRTQ_USED_F_NO_NOTIFY);
	if (notify) {
		mmio_write32(q->notify, q->index);
		q->kicks++;
	}
}

/* Move staged heads to the avail ring, within max_inflight and barriers. */
static void move_staged(struct virtq *q)
{
	uint16_t inflight = virtq_inflight(q);

	while (q->stage_head != q->stage_tail && inflight < q->max_inflight) {
		uint32_t e = q->stage[q->stage_head % VIRTQ_MAX_SIZE];

		if ((e & VIRTQ_STAGE_BARRIER) && inflight)
			break;
		q->avail->ring[q->next_avail & (q->size - 1)] = (uint16_t)e;
		q->next_avail++;
		q->published++;
		inflight++;
		q->stage_head++;
	}
}

/*
 * Ask for an interrupt at the next completion, then look again: a
 * completion between reading the used index and writing used_event would
 * otherwise raise none (the timer tick would still find it).
 */
void virtq_publish_staged(struct virtq *q)
{
	unsigned int rounds = 0;
	uint16_t used, old = q->next_avail;

	do {
		used = virtq_used_idx(q);
		move_staged(q);
		if (q->event_idx)
			*q->used_event = used;
		virtio_mb();
	} while (used != virtq_used_idx(q) && ++rounds < 4);
	publish(q, old);
}

void virtq_push(struct virtq *q, uint16_t head)
{
	q->avail->ring[q->next_avail & (q->size - 1)] = head;
	q->next_avail++;
	q->published++;
}

void virtq_kick(struct virtq *q)
{
	uint16_t old = *(volatile uint16_t *)&q->avail->idx;

	publish(q, old);
}

bool virtq_pop(struct virtq *q, uint16_t *seen, struct virtq_used_elem *out)
{
	const volatile struct virtq_used_elem *e;

	if (virtq_used_idx(q) == *seen)
		return false;
	barrier();
	e = &q->used->ring[*seen & (q->size - 1)];
	out->id = e->id;
	out->len = e->len;
	(*seen)++;
	return true;
}

bool virtq_arm(struct virtq *q, uint16_t seen)
{
	if (q->event_idx)
		*q->used_event = seen;
	else
		q->avail->flags = 0;
	virtio_mb();
	return virtq_used_idx(q) != seen;
}

void virtq_quiet(struct virtq *q, uint16_t seen)
{
	if (q->event_idx)
		*q->used_event = (uint16_t)(seen - 1);
	else
		q->avail->flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
}
