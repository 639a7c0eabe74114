/*
 * virtio device core: device status and feature negotiation (2.1, 3.1),
 * queue setup, interrupt status, the rule-breaking path
 * (DEVICE_NEEDS_RESET) and the saved state. Transport-neutral: the
 * transport calls in with vd->lock held and is called back through
 * struct virtio_transport.
 *
 * Status bits only accumulate until the driver writes 0 (reset):
 * FEATURES_OK sticks only if the acknowledged features are within the
 * offered ones and include VERSION_1 (a modern-only device), and from
 * then on the features are fixed. Queue registers are writable only
 * while the queue is not ready; readiness checks the rings.
 */
#include "devices/virtio/virtio.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/why.h"
#include "vmm/memory.h"

static uint64_t virtio_offered(const struct virtio_model *m)
{
	return m->features | VIRTIO_CORE_FEATURES;
}

static bool virtio_has(const struct virtio_dev *vd, unsigned int bit)
{
	return vd->driver_features & (1ULL << bit);
}

uint32_t virtio_device_features(struct virtio_dev *vd)
{
	uint64_t f = virtio_offered(vd->model);

	if (vd->device_features_sel > 1)
		return 0;
	return (uint32_t)(f >> (32 * vd->device_features_sel));
}

void virtio_set_driver_features(struct virtio_dev *vd, uint32_t val)
{
	unsigned int shift = 32 * vd->driver_features_sel;

	if ((vd->status & VIRTIO_STATUS_FEATURES_OK) ||
	    vd->driver_features_sel > 1)
		return;
	vd->driver_features &= ~(0xffffffffULL << shift);
	vd->driver_features |= (uint64_t)val << shift;
}

static bool virtio_features_acceptable(const struct virtio_dev *vd)
{
	return !(vd->driver_features & ~virtio_offered(vd->model)) &&
	       virtio_has(vd, VIRTIO_F_VERSION_1);
}

/* Power-on registers and queues (lock held, I/O thread parked). */
static void virtio_power_on(struct virtio_dev *vd)
{
	unsigned int i;

	vd->status = vd->isr = 0;
	vd->driver_features = 0;
	vd->device_features_sel = vd->driver_features_sel = vd->queue_sel = 0;
	for (i = 0; i < VIRTIO_QUEUES_MAX; i++)
		vq_reset(&vd->vq[i]);
	vd->model->reset(vd);
}

void virtio_set_status(struct virtio_dev *vd, uint32_t val)
{
	uint32_t old = vd->status, now;
	unsigned int i;

	if (!val) {
		virtio_park_locked(vd);
		virtio_power_on(vd);
		virtio_unpark_locked(vd);
		return;
	}
	/* NEEDS_RESET is the device's to set; bits never clear but by 0. */
	now = old | (val & VIRTIO_STATUS_KNOWN & ~VIRTIO_STATUS_NEEDS_RESET);
	if ((now & ~old & VIRTIO_STATUS_FEATURES_OK) &&
	    !virtio_features_acceptable(vd))
		now &= ~VIRTIO_STATUS_FEATURES_OK;
	vd->status = now;
	/* Buffers made available before DRIVER_OK are looked at now. */
	if (now & ~old & VIRTIO_STATUS_DRIVER_OK)
		for (i = 0; i < vd->model->num_queues; i++)
			virtio_kick(vd, i);
}

struct vq *virtio_selected(struct virtio_dev *vd)
{
	return vd->queue_sel < vd->model->num_queues ? &vd->vq[vd->queue_sel] :
						       NULL;
}

/* The guest broke a rule (lock held); see virtio_fail(). */
static void virtio_fail_locked(struct virtio_dev *vd, const char *msg)
{
	if (vd->status & VIRTIO_STATUS_NEEDS_RESET)
		return; /* already stopped: one line per breakage */
	vd->status |= VIRTIO_STATUS_NEEDS_RESET;
	log_warn("%s: %s; the device stops until the driver resets it",
		 vd->name, msg);
	if (vd->status & VIRTIO_STATUS_DRIVER_OK)
		vd->transport->notify(vd, VIRTIO_INT_CONFIG, 0);
}

void virtio_fail(struct virtio_dev *vd, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&vd->lock);
	virtio_fail_locked(vd, msg);
	pthread_mutex_unlock(&vd->lock);
}

void virtio_set_queue_ready(struct virtio_dev *vd, bool ready)
{
	struct vq *q = virtio_selected(vd);
	char why[160], msg[200];

	if (!q || q->ready == ready)
		return;
	if (!ready) { /* the I/O thread must be out of the rings first */
		virtio_park_locked(vd);
		q->ready = false;
		virtio_unpark_locked(vd);
		return;
	}
	if (vq_activate(q, vd->mem, vd->model->queue_max,
			virtio_has(vd, VIRTIO_RING_F_EVENT_IDX),
			virtio_has(vd, VIRTIO_RING_F_INDIRECT_DESC), why,
			sizeof(why))) {
		snprintf(msg, sizeof(msg), "queue %u: %s", vd->queue_sel, why);
		virtio_fail_locked(vd, msg);
	}
}

void virtio_kick(struct virtio_dev *vd, unsigned int q)
{
	uint64_t one = 1;

	if (q < vd->model->num_queues &&
	    write(vd->kick_fd[q], &one, sizeof(one)) < 0)
		log_debug("%s: kick queue %u: %s", vd->name, q,
			  strerror(errno));
}

void virtio_ack(struct virtio_dev *vd, uint32_t bits)
{
	/* The line itself goes down at the guest's EOI (irqline.h). */
	vd->isr &= ~bits;
}

static bool virtio_config_range(const struct virtio_dev *vd, uint32_t off,
				uint32_t len)
{
	return off < vd->model->config_size &&
	       len <= vd->model->config_size - off;
}

void virtio_config_read(struct virtio_dev *vd, uint32_t off, uint8_t *data,
			uint32_t len)
{
	memset(data, 0, len);
	if (virtio_config_range(vd, off, len))
		memcpy(data, vd->config + off, len);
}

void virtio_config_write(struct virtio_dev *vd, uint32_t off,
			 const uint8_t *data, uint32_t len)
{
	if (virtio_config_range(vd, off, len))
		vd->model->config_write(vd, off, data, len);
}

bool virtio_driver_ok(struct virtio_dev *vd)
{
	uint32_t s;

	pthread_mutex_lock(&vd->lock);
	s = vd->status;
	pthread_mutex_unlock(&vd->lock);
	return (s & VIRTIO_STATUS_DRIVER_OK) &&
	       !(s & (VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED));
}

struct vq *virtio_live_queue(struct virtio_dev *vd, unsigned int q)
{
	bool ready;

	if (q >= vd->model->num_queues || !virtio_driver_ok(vd))
		return NULL;
	pthread_mutex_lock(&vd->lock);
	ready = vd->vq[q].ready;
	pthread_mutex_unlock(&vd->lock);
	/* Unlocked use is safe: making a queue unusable parks us first. */
	return ready ? &vd->vq[q] : NULL;
}

int virtio_pop(struct virtio_dev *vd, struct vq *q, struct vq_elem *e)
{
	char why[160];
	int rc = vq_pop(q, e, why, sizeof(why));

	if (rc < 0)
		virtio_fail(vd, "queue %u: %s", (unsigned int)(q - vd->vq),
			    why);
	return rc;
}

bool virtio_peek(struct virtio_dev *vd, struct vq *q)
{
	char why[160];
	int rc = vq_peek(q, why, sizeof(why));

	if (rc < 0)
		virtio_fail(vd, "queue %u: %s", (unsigned int)(q - vd->vq),
			    why);
	return rc > 0;
}

void virtio_push(struct virtio_dev *vd, struct vq *q, const struct vq_elem *e,
		 uint32_t written)
{
	vq_push(q, e, written);
}

void virtio_flush(struct virtio_dev *vd, unsigned int q)
{
	if (!vq_should_notify(&vd->vq[q]))
		return;
	pthread_mutex_lock(&vd->lock);
	vd->transport->notify(vd, VIRTIO_INT_USED, q);
	pthread_mutex_unlock(&vd->lock);
}

/* ---- Saved state -------------------------------------------------------- */

void virtio_save_state(struct virtio_dev *vd, struct virtio_mmio_state *st)
{
	unsigned int i;

	pthread_mutex_lock(&vd->lock);
	st->device_id = vd->model->device_id;
	st->driver_features = vd->driver_features;
	st->device_features_sel = vd->device_features_sel;
	st->driver_features_sel = vd->driver_features_sel;
	st->queue_sel = vd->queue_sel;
	st->status = vd->status;
	st->interrupt_status = vd->isr;
	st->config_generation = vd->config_generation;
	st->num_queues = vd->model->num_queues;
	for (i = 0; i < vd->model->num_queues; i++) {
		const struct vq *q = &vd->vq[i];

		st->queue[i] = (struct virtio_queue_state){
			.desc = q->desc_gpa,
			.driver = q->avail_gpa,
			.device = q->used_gpa,
			.size = q->size,
			.ready = q->ready,
			.next_avail = q->next_avail,
			.next_used = q->next_used,
		};
	}
	pthread_mutex_unlock(&vd->lock);
}

static int virtio_check_queue(const struct virtio_model *m,
			      const struct guest_mem *ram, unsigned int i,
			      const struct virtio_queue_state *q, char *why,
			      size_t whylen)
{
	char detail[160];
	uint16_t in_flight = q->next_avail - q->next_used;

	if (i >= m->num_queues)
		return memcmp(q, &(struct virtio_queue_state){ 0 },
			      sizeof(*q)) ?
			       why_set(why, whylen, -EINVAL,
				       "queue %u does not exist but has state",
				       i) :
			       0;
	if (q->reserved[0] || q->reserved[1])
		return why_set(why, whylen, -EINVAL,
			       "queue %u: reserved field is not zero", i);
	if (q->ready > 1)
		return why_set(why, whylen, -EINVAL,
			       "queue %u: ready %u is not 0 or 1", i, q->ready);
	if (!q->ready)
		return 0; /* registers as written; checked when made ready */
	if (vq_layout_check(ram, q->size, m->queue_max, q->desc, q->driver,
			    q->device, detail, sizeof(detail)))
		return why_set(why, whylen, -EINVAL, "queue %u: %s", i, detail);
	if (in_flight > q->size)
		return why_set(
			why, whylen, -EINVAL,
			"queue %u: next_avail %u is %u entries past next_used %u, more than the queue size %u",
			i, q->next_avail, in_flight, q->next_used, q->size);
	return 0;
}

int virtio_check_state(const struct virtio_model *m, const struct dev_env *env,
		       const struct virtio_mmio_state *st, char *why,
		       size_t whylen)
{
	struct guest_mem ram = { .memfd = -1 };
	unsigned int i;
	int rc;

	if (st->device_id != m->device_id)
		return why_set(
			why, whylen, -EINVAL,
			"virtio device id %u, but this device is %s (%u)",
			st->device_id, m->name, m->device_id);
	if (st->num_queues != m->num_queues)
		return why_set(why, whylen, -EINVAL, "%u queues, but %s has %u",
			       st->num_queues, m->name, m->num_queues);
	if (st->reserved)
		return why_set(why, whylen, -EINVAL,
			       "reserved field is not zero");
	if (st->driver_features & ~virtio_offered(m))
		return why_set(
			why, whylen, -EINVAL,
			"acknowledged features 0x%llx are not all offered (0x%llx)",
			(unsigned long long)st->driver_features,
			(unsigned long long)virtio_offered(m));
	if ((st->status & ~VIRTIO_STATUS_KNOWN) ||
	    ((st->status & VIRTIO_STATUS_FEATURES_OK) &&
	     !(st->driver_features & (1ULL << VIRTIO_F_VERSION_1))))
		return why_set(why, whylen, -EINVAL,
			       "status 0x%x is not one the device can be in",
			       st->status);
	if (st->interrupt_status & ~(VIRTIO_INT_USED | VIRTIO_INT_CONFIG))
		return why_set(why, whylen, -EINVAL, "interrupt status 0x%x",
			       st->interrupt_status);
	mem_plan(env->mem_bytes, ram.regions, &ram.nr_regions);
	for (i = 0; i < VIRTIO_STATE_QUEUES; i++) {
		rc = virtio_check_queue(m, &ram, i, &st->queue[i], why, whylen);
		if (rc)
			return rc;
	}
	return 0;
}

/* One queue's saved registers and position (lock held). */
static int virtio_load_queue(struct virtio_dev *vd, unsigned int i,
			     const struct virtio_queue_state *s)
{
	struct vq *q = &vd->vq[i];
	char why[160];
	int rc;

	vq_reset(q);
	q->size = s->size;
	q->desc_gpa = s->desc;
	q->avail_gpa = s->driver;
	q->used_gpa = s->device;
	q->next_avail = s->next_avail;
	q->next_used = s->next_used;
	if (!s->ready)
		return 0;
	rc = vq_activate(q, vd->mem, vd->model->queue_max,
			 virtio_has(vd, VIRTIO_RING_F_EVENT_IDX),
			 virtio_has(vd, VIRTIO_RING_F_INDIRECT_DESC), why,
			 sizeof(why));
	if (rc)
		log_err("%s: saved queue %u: %s", vd->name, i, why);
	return rc;
}

int virtio_load_state(struct virtio_dev *vd, const struct virtio_mmio_state *st)
{
	unsigned int i;
	int rc = 0;

	pthread_mutex_lock(&vd->lock);
	vd->driver_features = st->driver_features;
	vd->device_features_sel = st->device_features_sel;
	vd->driver_features_sel = st->driver_features_sel;
	vd->queue_sel = st->queue_sel;
	vd->status = st->status;
	vd->isr = st->interrupt_status;
	vd->config_generation = st->config_generation;
	for (i = 0; i < vd->model->num_queues && !rc; i++)
		rc = virtio_load_queue(vd, i, &st->queue[i]);
	pthread_mutex_unlock(&vd->lock);
	return rc;
}
