/*
 * virtio-mmio register block. Control registers are 32-bit and aligned
 * (4.2.2.2: the driver MUST use only such accesses); anything else reads
 * as zero and is ignored, with one log line per device. Config space
 * from offset 0x100 takes 1, 2, 4 and 8-byte accesses.
 */
#include "devices/virtio/mmio.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/why.h"
#include "vmm/vm.h"

static struct virtio_mmio *mmio_of(struct virtio_dev *vd)
{
	return vd->transport_priv;
}

static uint32_t mmio_read(struct virtio_dev *vd, uint64_t off)
{
	struct vq *q = virtio_selected(vd);

	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return VIRTIO_MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION:
		return 2;
	case VIRTIO_MMIO_DEVICE_ID:
		return vd->model->device_id;
	case VIRTIO_MMIO_VENDOR_ID:
		return VIRTIO_MMIO_VENDOR;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		return virtio_device_features(vd);
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		return q ? vd->model->queue_max : 0;
	case VIRTIO_MMIO_QUEUE_READY:
		return q && q->ready;
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		return vd->isr;
	case VIRTIO_MMIO_STATUS:
		return vd->status;
	case VIRTIO_MMIO_CONFIG_GENERATION:
		return vd->config_generation;
	case VIRTIO_MMIO_SHM_LEN_LOW:
	case VIRTIO_MMIO_SHM_LEN_HIGH:
	case VIRTIO_MMIO_SHM_BASE_LOW:
	case VIRTIO_MMIO_SHM_BASE_HIGH:
		return 0xffffffff; /* no shared memory region (4.2.2) */
	default:
		return 0; /* write-only or reserved */
	}
}

static void mmio_set_half(uint64_t *reg, bool high, uint32_t val)
{
	unsigned int shift = high ? 32 : 0;

	*reg = (*reg & ~(0xffffffffULL << shift)) | ((uint64_t)val << shift);
}

/* Queue configuration: writable only while the queue is not ready. */
static void mmio_write_queue(struct virtio_dev *vd, uint64_t off, uint32_t val)
{
	struct vq *q = virtio_selected(vd);

	if (!q || q->ready)
		return;
	switch (off) {
	case VIRTIO_MMIO_QUEUE_NUM:
		q->size = val > 0xffff ? 0 : val; /* 0: refused when ready */
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		mmio_set_half(&q->desc_gpa, off & 4, val);
		break;
	case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
	case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
		mmio_set_half(&q->avail_gpa, off & 4, val);
		break;
	case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
	case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
		mmio_set_half(&q->used_gpa, off & 4, val);
		break;
	default:
		break; /* read-only or reserved */
	}
}

static void mmio_write(struct virtio_dev *vd, uint64_t off, uint32_t val)
{
	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		vd->device_features_sel = val;
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		virtio_set_driver_features(vd, val);
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		vd->driver_features_sel = val;
		break;
	case VIRTIO_MMIO_QUEUE_SEL:
		vd->queue_sel = val;
		break;
	case VIRTIO_MMIO_QUEUE_READY:
		virtio_set_queue_ready(vd, val != 0);
		break;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		virtio_kick(vd, val); /* reached only without an ioeventfd */
		break;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		virtio_ack(vd, val);
		break;
	case VIRTIO_MMIO_STATUS:
		virtio_set_status(vd, val);
		break;
	default:
		mmio_write_queue(vd, off, val);
	}
}

static void mmio_config(struct virtio_dev *vd, uint64_t off, uint8_t *data,
			unsigned int len, bool is_write)
{
	if (is_write)
		virtio_config_write(vd, off, data, len);
	else
		virtio_config_read(vd, off, data, len);
}

void virtio_mmio_io(void *opaque, uint64_t offset, uint8_t *data,
		    unsigned int len, bool is_write)
{
	struct virtio_dev *vd = opaque;
	struct virtio_mmio *m = mmio_of(vd);
	uint32_t val = 0;

	pthread_mutex_lock(&vd->lock);
	if (offset >= VIRTIO_MMIO_CONFIG && len <= 8) {
		mmio_config(vd, offset - VIRTIO_MMIO_CONFIG, data, len,
			    is_write);
	} else if (len != 4 || offset % 4) {
		if (!m->bad_access_logged)
			log_warn(
				"%s: %u-byte access at register 0x%llx ignored (the driver must use aligned 32-bit accesses)",
				vd->name, len, (unsigned long long)offset);
		m->bad_access_logged = true;
		if (!is_write)
			memset(data, 0, len);
	} else if (is_write) {
		memcpy(&val, data, 4);
		mmio_write(vd, offset, val);
	} else {
		val = mmio_read(vd, offset);
		memcpy(data, &val, 4);
	}
	pthread_mutex_unlock(&vd->lock);
}

/* ---- Interrupts ---------------------------------------------------------- */

static void mmio_notify(struct virtio_dev *vd, uint32_t why, unsigned int q)
{
	vd->isr |= why;
	irqline_set(&mmio_of(vd)->line, 1);
}

static void mmio_renotify(struct virtio_dev *vd)
{
	if (vd->isr)
		irqline_set(&mmio_of(vd)->line, 1);
}

/* The guest's EOI lowered the line: up again if still unacknowledged. */
static void mmio_resampled(struct virtio_dev *vd)
{
	pthread_mutex_lock(&vd->lock);
	irqline_resampled(&mmio_of(vd)->line, vd->isr != 0);
	pthread_mutex_unlock(&vd->lock);
}

const struct virtio_transport virtio_mmio_transport = {
	.notify = mmio_notify,
	.renotify = mmio_renotify,
};

/* ---- Attaching to a VM --------------------------------------------------- */

static int mmio_attach(struct virtio_mmio *m, struct virtio_dev *vd)
{
	uint64_t notify = m->res.mmio_base + VIRTIO_MMIO_QUEUE_NOTIFY;
	unsigned int q;
	int rc;

	rc = bus_register(&m->vm->mmio, m->res.mmio_base, VIRTIO_MMIO_WINDOW,
			  virtio_mmio_io, vd);
	if (!rc)
		rc = vm_add_virtio_mmio(m->vm, m->res.mmio_base,
					VIRTIO_MMIO_WINDOW, m->res.gsi);
	for (q = 0; !rc && q < vd->model->num_queues; q++)
		if (vm_ioeventfd(m->vm, notify, 4, q, vd->kick_fd[q], true))
			log_debug(
				"%s: no ioeventfd for queue %u: kicks exit to the VMM",
				vd->name, q);
	return rc;
}

int virtio_mmio_init(struct virtio_mmio *m, struct virtio_dev *vd,
		     struct vm *vm, const struct dev_res *res)
{
	int rc;

	memset(m, 0, sizeof(*m));
	m->vm = vm;
	m->res = *res;
	m->line.irqfd = m->line.resample_fd = -1;
	vd->transport_priv = m;
	rc = irqline_init(&m->line, vm, res->gsi);
	if (!rc && m->line.resample_fd >= 0)
		rc = virtio_watch(vd, m->line.resample_fd, mmio_resampled);
	if (!rc && vm)
		rc = mmio_attach(m, vd);
	return rc;
}

void virtio_mmio_destroy(struct virtio_mmio *m)
{
	irqline_destroy(&m->line);
}

/* ---- Saved state --------------------------------------------------------- */

void virtio_mmio_save(struct virtio_dev *vd, struct virtio_mmio_state *st)
{
	virtio_save_state(vd, st);
	st->mmio_base = mmio_of(vd)->res.mmio_base;
	st->gsi = mmio_of(vd)->res.gsi;
}

int virtio_mmio_check(const struct virtio_model *model,
		      const struct dev_env *env,
		      const struct virtio_mmio_state *st, char *why,
		      size_t whylen)
{
	if (st->mmio_base != env->res.mmio_base || st->gsi != env->res.gsi)
		return why_set(
			why, whylen, -EINVAL,
			"virtio-mmio window 0x%llx, GSI %u, but this VM has it at 0x%llx, GSI %u",
			(unsigned long long)st->mmio_base, st->gsi,
			(unsigned long long)env->res.mmio_base, env->res.gsi);
	return virtio_check_state(model, env, st, why, whylen);
}

int virtio_mmio_load(struct virtio_dev *vd, const struct virtio_mmio_state *st)
{
	return virtio_load_state(vd, st);
}
