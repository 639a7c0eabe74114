/*
 * Split virtqueue, device side. Ring offsets (virtio 1.2, 2.7.6, 2.7.8):
 *
 *   available ring: u16 flags, u16 idx, u16 ring[size], u16 used_event
 *   used ring:      u16 flags, u16 idx, {u32 id, u32 len} ring[size],
 *                   u16 avail_event
 *
 * Indices run freely modulo 2^16; an entry is ring[idx % size]. The
 * driver publishes avail idx after its entries (we load it with acquire
 * order); we publish used idx after ours (release order), then look at
 * the driver's suppression fields only after a full fence, so neither
 * side can miss the other's update.
 */
#include "devices/virtio/queue.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/why.h"
#include "format/stream_format.h"
#include "vmm/memory.h"

static uint16_t ld16(const uint8_t *p)
{
	return __atomic_load_n((const uint16_t *)p, __ATOMIC_ACQUIRE);
}

static void st16(struct vq *q, uint8_t *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)p, v, __ATOMIC_RELEASE);
	mem_mark_dirty(q->mem, p, 2);
}

int vq_layout_check(const struct guest_mem *mem, uint16_t size, uint16_t max,
		    uint64_t desc, uint64_t avail, uint64_t used, char *why,
		    size_t whylen)
{
	if (!size || (size & (size - 1)) || size > max)
		return why_set(why, whylen, -EINVAL,
			       "queue size %u is not a power of two in 1..%u",
			       size, max);
	if (desc % 16 || avail % 2 || used % 4)
		return why_set(
			why, whylen, -EINVAL,
			"rings at 0x%llx, 0x%llx, 0x%llx are not aligned to 16, 2 and 4 bytes",
			(unsigned long long)desc, (unsigned long long)avail,
			(unsigned long long)used);
	if (!mem_gpa_is_ram(mem, desc, VQ_DESC_BYTES(size)))
		return why_set(why, whylen, -EINVAL,
			       "descriptor table at 0x%llx is outside RAM",
			       (unsigned long long)desc);
	if (!mem_gpa_is_ram(mem, avail, VQ_AVAIL_BYTES(size)))
		return why_set(why, whylen, -EINVAL,
			       "available ring at 0x%llx is outside RAM",
			       (unsigned long long)avail);
	if (!mem_gpa_is_ram(mem, used, VQ_USED_BYTES(size)))
		return why_set(why, whylen, -EINVAL,
			       "used ring at 0x%llx is outside RAM",
			       (unsigned long long)used);
	return 0;
}

int vq_activate(struct vq *q, struct guest_mem *mem, uint16_t max,
		bool event_idx, bool indirect, char *why, size_t whylen)
{
	int rc;

	rc = vq_layout_check(mem, q->size, max, q->desc_gpa, q->avail_gpa,
			     q->used_gpa, why, whylen);
	if (rc)
		return rc;
	q->mem = mem;
	q->desc = mem_gpa_to_hva(mem, q->desc_gpa, VQ_DESC_BYTES(q->size));
	q->avail = mem_gpa_to_hva(mem, q->avail_gpa, VQ_AVAIL_BYTES(q->size));
	q->used = mem_gpa_to_hva(mem, q->used_gpa, VQ_USED_BYTES(q->size));
	q->event_idx = event_idx;
	q->indirect = indirect;
	q->signalled_used = q->next_used;
	q->signalled_valid = false;
	q->ready = true;
	return 0;
}

void vq_reset(struct vq *q)
{
	memset(q, 0, sizeof(*q));
}

/* Ask for a kick at the next entry (EVENT_IDX): used ring's avail_event. */
static void vq_arm_kick(struct vq *q)
{
	st16(q, q->used + 4 + 8 * (size_t)q->size, q->next_avail);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* Entries the driver has made available; -EINVAL if its index jumped. */
static int vq_available(struct vq *q, char *why, size_t whylen)
{
	uint16_t idx = ld16(q->avail + 2), n = idx - q->next_avail;

	if (!n && q->event_idx) {
		/* Re-read after arming: an entry added meanwhile is seen. */
		vq_arm_kick(q);
		idx = ld16(q->avail + 2);
		n = idx - q->next_avail;
	}
	if (n > q->size)
		return why_set(
			why, whylen, -EINVAL,
			"available index jumped from %u to %u, more than the queue size %u",
			q->next_avail, idx, q->size);
	return n;
}

int vq_peek(struct vq *q, char *why, size_t whylen)
{
	int n = vq_available(q, why, whylen);

	return n > 0 ? 1 : n;
}

/* Add one descriptor's buffer to e, readable ones before writable ones. */
static int vq_add_buf(struct vq *q, struct vq_elem *e, const struct vq_desc *d,
		      char *why, size_t whylen)
{
	bool in = d->flags & VQ_DESC_F_WRITE;
	uint8_t *hva;

	if (!in && e->nr_in)
		return why_set(
			why, whylen, -EINVAL,
			"head %u: a readable buffer follows a writable one",
			e->head);
	if (e->nr_out + e->nr_in == e->max)
		return why_set(why, whylen, -EINVAL,
			       "head %u: chain of more than %u buffers",
			       e->head, e->max);
	hva = mem_gpa_to_hva(q->mem, d->addr, d->len);
	if (!hva)
		return why_set(
			why, whylen, -EINVAL,
			"head %u: buffer at 0x%llx (%u bytes) is outside RAM",
			e->head, (unsigned long long)d->addr, d->len);
	e->buf[e->nr_out + e->nr_in] = (struct vq_buf){ hva, d->len };
	if (in)
		e->nr_in++;
	else
		e->nr_out++;
	return 0;
}

/*
 * Switch the walk to the indirect table d points at. Where a table lies
 * proves nothing (it may be the ring's own table): *nested says whether
 * the walk is in an indirect table already.
 */
static int vq_enter_indirect(struct vq *q, const struct vq_elem *e,
			     const struct vq_desc *d,
			     const struct vq_desc **table, uint32_t *count,
			     bool *nested, char *why, size_t whylen)
{
	if (!q->indirect)
		return why_set(
			why, whylen, -EINVAL,
			"head %u: indirect descriptor, but INDIRECT_DESC was not negotiated",
			e->head);
	if (*nested)
		return why_set(
			why, whylen, -EINVAL,
			"head %u: indirect table inside an indirect table",
			e->head);
	if (d->flags & VQ_DESC_F_NEXT)
		return why_set(why, whylen, -EINVAL,
			       "head %u: indirect descriptor also has NEXT",
			       e->head);
	if (!d->len || d->len % sizeof(*d) ||
	    d->len / sizeof(*d) > VIRTIO_QUEUE_SIZE_MAX)
		return why_set(why, whylen, -EINVAL,
			       "head %u: indirect table of %u bytes", e->head,
			       d->len);
	*table = mem_gpa_to_hva(q->mem, d->addr, d->len);
	if (!*table)
		return why_set(
			why, whylen, -EINVAL,
			"head %u: indirect table at 0x%llx is outside RAM",
			e->head, (unsigned long long)d->addr);
	*count = d->len / sizeof(*d);
	*nested = true;
	return 0;
}

/*
 * Follow the chain from head. Each table is walked at most its own
 * length of steps (the ring: size; an indirect table: its entries), so
 * a loop ends as an over-long chain.
 */
static int vq_walk(struct vq *q, struct vq_elem *e, char *why, size_t whylen)
{
	const struct vq_desc *table = q->desc;
	uint32_t count = q->size, i = e->head, steps = 0;
	bool nested = false;
	struct vq_desc d;
	int rc;

	e->nr_out = e->nr_in = 0;
	for (;;) {
		if (++steps > count)
			return why_set(
				why, whylen, -EINVAL,
				"head %u: descriptor chain longer than its table (%u): a loop?",
				e->head, count);
		memcpy(&d, &table[i], sizeof(d)); /* read once */
		if (d.flags & VQ_DESC_F_INDIRECT) {
			rc = vq_enter_indirect(q, e, &d, &table, &count,
					       &nested, why, whylen);
			if (rc)
				return rc;
			i = steps = 0;
			continue;
		}
		rc = vq_add_buf(q, e, &d, why, whylen);
		if (rc || !(d.flags & VQ_DESC_F_NEXT))
			return rc;
		if (d.next >= count)
			return why_set(
				why, whylen, -EINVAL,
				"head %u: next descriptor %u is beyond its table (%u)",
				e->head, d.next, count);
		i = d.next;
	}
}

int vq_pop(struct vq *q, struct vq_elem *e, char *why, size_t whylen)
{
	int n = vq_available(q, why, whylen), rc;

	if (n <= 0)
		return n;
	e->head = ld16(q->avail + 4 + 2 * (size_t)(q->next_avail % q->size));
	if (e->head >= q->size)
		return why_set(why, whylen, -EINVAL,
			       "available entry %u names descriptor %u of %u",
			       q->next_avail, e->head, q->size);
	rc = vq_walk(q, e, why, whylen);
	if (rc)
		return rc;
	q->next_avail++;
	return 1;
}

void vq_unpop(struct vq *q, unsigned int n)
{
	q->next_avail -= (uint16_t)n;
}

void vq_fill(struct vq *q, unsigned int k, uint16_t head, uint32_t len)
{
	uint8_t *ent = q->used + 4 +
		       8 * (size_t)((uint16_t)(q->next_used + k) % q->size);
	uint32_t id = head;

	memcpy(ent, &id, 4);
	memcpy(ent + 4, &len, 4);
	mem_mark_dirty(q->mem, ent, 8);
}

void vq_publish(struct vq *q, unsigned int n)
{
	q->next_used += (uint16_t)n;
	st16(q, q->used + 2, q->next_used);
}

void vq_push(struct vq *q, const struct vq_elem *e, uint32_t written)
{
	vq_fill(q, 0, e->head, MIN(written, vq_elem_in_bytes(e)));
	vq_publish(q, 1);
}

bool vq_should_notify(struct vq *q)
{
	uint16_t old = q->signalled_used, event;
	bool valid = q->signalled_valid;

	if (old == q->next_used)
		return false; /* nothing used since the last check */
	q->signalled_used = q->next_used;
	q->signalled_valid = true;
	/* Our used idx is visible before we read what the driver wants. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!q->event_idx)
		return !(ld16(q->avail) & VQ_AVAIL_F_NO_INTERRUPT);
	if (!valid)
		return true;
	event = ld16(q->avail + 4 + 2 * (size_t)q->size);
	/* vring_need_event(): did used idx pass used_event just now? */
	return (uint16_t)(q->next_used - event - 1) <
	       (uint16_t)(q->next_used - old);
}

size_t vq_copy_from(const struct vq_elem *e, size_t offset, void *dst,
		    size_t len)
{
	size_t done = 0, k;
	unsigned int i;

	for (i = 0; i < e->nr_out && done < len; i++) {
		if (offset >= e->buf[i].len) {
			offset -= e->buf[i].len;
			continue;
		}
		k = MIN(len - done, e->buf[i].len - offset);
		memcpy((uint8_t *)dst + done, e->buf[i].hva + offset, k);
		done += k;
		offset = 0;
	}
	return done;
}

size_t vq_copy_to(struct vq *q, const struct vq_elem *e, size_t offset,
		  const void *src, size_t len)
{
	size_t done = 0, k;
	unsigned int i;

	for (i = e->nr_out; i < e->nr_out + e->nr_in && done < len; i++) {
		if (offset >= e->buf[i].len) {
			offset -= e->buf[i].len;
			continue;
		}
		k = MIN(len - done, e->buf[i].len - offset);
		memcpy(e->buf[i].hva + offset, (const uint8_t *)src + done, k);
		mem_mark_dirty(q->mem, e->buf[i].hva + offset, k);
		done += k;
		offset = 0;
	}
	return done;
}

static size_t vq_bytes(const struct vq_elem *e, unsigned int from,
		       unsigned int to)
{
	size_t n = 0;

	while (from < to)
		n += e->buf[from++].len;
	return n;
}

size_t vq_elem_out_bytes(const struct vq_elem *e)
{
	return vq_bytes(e, 0, e->nr_out);
}

size_t vq_elem_in_bytes(const struct vq_elem *e)
{
	return vq_bytes(e, e->nr_out, e->nr_out + e->nr_in);
}
