/*
 * virtio-console, port 0: the guest's output written to the console fd,
 * console input delivered into the guest's receive buffers. Both run on
 * the device's I/O thread.
 */
#include "devices/virtio/console.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "common/why.h"
#include "vmm/vm.h"

#define CONSOLE_CHAIN_MAX 64
#define CONSOLE_QUEUE_MAX 256

/* Config space (5.3.4): cols, rows, max_nr_ports, emerg_wr. */
#define CONSOLE_CONFIG_SIZE 12
#define CONSOLE_CONFIG_PORTS 4

static struct virtio_console *con_of(struct virtio_dev *vd)
{
	return (struct virtio_console *)vd;
}

static void console_output(struct virtio_console *con, const uint8_t *p,
			   size_t n)
{
	int rc;

	if (con->out_fd < 0 || !n)
		return;
	rc = write_full(con->out_fd, p, n);
	/* As the UART: a full pty drops output, a closed console stops it. */
	if (rc && rc != -EAGAIN)
		con->out_fd = -1;
	con->tx_bytes += n;
}

/* Port 0 is in use: console input goes here from now on. */
static void console_mark_used(struct virtio_console *con)
{
	pthread_mutex_lock(&con->vd.lock);
	con->flags |= VIRTIO_CONSOLE_F_GUEST_WROTE;
	pthread_mutex_unlock(&con->vd.lock);
}

static void console_transmit(struct virtio_dev *vd)
{
	struct virtio_console *con = con_of(vd);
	struct vq *q = virtio_live_queue(vd, VIRTIO_CONSOLE_TXQ);
	struct vq_buf bufs[CONSOLE_CHAIN_MAX];
	struct vq_elem e = { .buf = bufs, .max = CONSOLE_CHAIN_MAX };
	unsigned int i;

	if (!q)
		return;
	while (virtio_pop(vd, q, &e) > 0) {
		/* Before the output shows: whoever answers it reaches us. */
		if (vq_elem_out_bytes(&e) &&
		    !(con->flags & VIRTIO_CONSOLE_F_GUEST_WROTE))
			console_mark_used(con);
		for (i = 0; i < e.nr_out; i++)
			console_output(con, bufs[i].hva, bufs[i].len);
		virtio_push(vd, q, &e, 0);
	}
	virtio_flush(vd, VIRTIO_CONSOLE_TXQ);
}

/* Move pending input into receive buffers, one buffer per pass. */
static void console_deliver(struct virtio_dev *vd)
{
	struct virtio_console *con = con_of(vd);
	struct vq *q = virtio_live_queue(vd, VIRTIO_CONSOLE_RXQ);
	struct vq_buf bufs[CONSOLE_CHAIN_MAX];
	struct vq_elem e = { .buf = bufs, .max = CONSOLE_CHAIN_MAX };
	uint8_t chunk[VIRTIO_CONSOLE_RX_MAX];
	bool pushed = false;
	size_t have, n;

	if (!q)
		return;
	for (;;) {
		pthread_mutex_lock(&vd->lock);
		have = con->rx_count;
		memcpy(chunk, con->rx, have);
		pthread_mutex_unlock(&vd->lock);
		/* Take a buffer only for input: none is held across a pause. */
		if (!have || virtio_pop(vd, q, &e) <= 0)
			break;
		n = vq_copy_to(q, &e, 0, chunk, have);
		pthread_mutex_lock(&vd->lock);
		con->rx_count -= n;
		memmove(con->rx, con->rx + n, con->rx_count);
		memset(con->rx + con->rx_count, 0, n);
		pthread_mutex_unlock(&vd->lock);
		virtio_push(vd, q, &e, n);
		pushed = true;
	}
	if (pushed)
		virtio_flush(vd, VIRTIO_CONSOLE_RXQ);
}

static void console_queue_work(struct virtio_dev *vd, unsigned int q)
{
	if (q == VIRTIO_CONSOLE_TXQ)
		console_transmit(vd);
	else
		console_deliver(vd);
}

/* Nothing is ever in flight: both directions finish in one call. */
static void console_drain(struct virtio_dev *vd)
{
}

/* emerg_wr needs VIRTIO_CONSOLE_F_EMERG_WRITE, which is not offered. */
static void console_config_write(struct virtio_dev *vd, uint32_t off,
				 const uint8_t *data, uint32_t len)
{
}

/* Power-on (vd->lock held): port 0 unused; typed input stays queued. */
static void console_reset(struct virtio_dev *vd)
{
	uint32_t ports = 1;

	con_of(vd)->flags = 0;
	memset(vd->config, 0, sizeof(vd->config));
	memcpy(vd->config + CONSOLE_CONFIG_PORTS, &ports, sizeof(ports));
}

static const struct virtio_model console_model = {
	.name = "virtio-console",
	.device_id = VIRTIO_ID_CONSOLE,
	.num_queues = 2,
	.queue_max = CONSOLE_QUEUE_MAX,
	.features = 0,
	.config_size = CONSOLE_CONFIG_SIZE,
	.queue_work = console_queue_work,
	.wake = console_deliver,
	.drain = console_drain,
	.config_write = console_config_write,
	.reset = console_reset,
};

int virtio_console_setup(struct virtio_console *con,
			 const struct dev_host *host, struct guest_mem *mem)
{
	int rc;

	/* destroy() may follow a failure before the line exists. */
	con->mmio.line.irqfd = con->mmio.line.resample_fd = -1;
	con->out_fd = host->console_fd;
	rc = virtio_init(&con->vd, &console_model, &virtio_mmio_transport, mem,
			 host->id ? host->id : "console");
	if (!rc)
		rc = virtio_mmio_init(&con->mmio, &con->vd, host->vm,
				      &host->res);
	if (!rc && host->vm)
		rc = virtio_start_thread(&con->vd);
	return rc;
}

size_t virtio_console_receive(struct virtio_console *con, const uint8_t *buf,
			      size_t len)
{
	size_t n;

	pthread_mutex_lock(&con->vd.lock);
	n = MIN(len, (size_t)(VIRTIO_CONSOLE_RX_MAX - con->rx_count));
	memcpy(con->rx + con->rx_count, buf, n);
	con->rx_count += n;
	pthread_mutex_unlock(&con->vd.lock);
	if (n)
		virtio_wake(&con->vd);
	return n;
}

bool virtio_console_takes_input(struct virtio_console *con)
{
	bool wrote;

	pthread_mutex_lock(&con->vd.lock);
	wrote = (con->flags & VIRTIO_CONSOLE_F_GUEST_WROTE) &&
		con->vd.vq[VIRTIO_CONSOLE_RXQ].ready;
	pthread_mutex_unlock(&con->vd.lock);
	return wrote && virtio_driver_ok(&con->vd);
}

/* ---- The device descriptor (device.h) ---------------------------------- */

static int console_realize(void *dev, const struct dev_host *host)
{
	return virtio_console_setup(dev, host, &host->vm->mem);
}

static void console_reset_op(void *dev)
{
	virtio_reset(&con_of(dev)->vd);
}

static void console_quiesce(void *dev)
{
	virtio_quiesce(&con_of(dev)->vd);
}

static void console_resume(void *dev)
{
	virtio_resume(&con_of(dev)->vd);
}

static void console_save(void *dev, void *state)
{
	struct virtio_console *con = dev;
	struct virtio_console_state *st = state;
	uint32_t ports;

	virtio_mmio_save(&con->vd, &st->vio);
	pthread_mutex_lock(&con->vd.lock);
	memcpy(&ports, con->vd.config + CONSOLE_CONFIG_PORTS, sizeof(ports));
	st->max_nr_ports = ports;
	st->flags = con->flags;
	st->rx_count = con->rx_count;
	memcpy(st->rx, con->rx, con->rx_count);
	pthread_mutex_unlock(&con->vd.lock);
}

static int console_check(const struct dev_env *env, const void *state,
			 char *why, size_t whylen)
{
	const struct virtio_console_state *st = state;
	uint32_t i;

	if (st->cols || st->rows || st->max_nr_ports != 1)
		return why_set(
			why, whylen, -EINVAL,
			"config space %ux%u with %u ports; this console has 0x0 and 1",
			st->cols, st->rows, st->max_nr_ports);
	if (st->flags & ~VIRTIO_CONSOLE_F_GUEST_WROTE)
		return why_set(why, whylen, -EINVAL,
			       "flags 0x%x set bits the console does not have",
			       st->flags);
	if (st->rx_count > VIRTIO_CONSOLE_RX_MAX)
		return why_set(why, whylen, -EINVAL,
			       "rx_count %u exceeds the %u-byte input buffer",
			       st->rx_count, VIRTIO_CONSOLE_RX_MAX);
	for (i = st->rx_count; i < VIRTIO_CONSOLE_RX_MAX; i++)
		if (st->rx[i])
			return why_set(
				why, whylen, -EINVAL,
				"input byte %u past rx_count is not zero", i);
	return virtio_mmio_check(&console_model, env, &st->vio, why, whylen);
}

static int console_load(void *dev, const void *state)
{
	struct virtio_console *con = dev;
	const struct virtio_console_state *st = state;
	int rc = virtio_mmio_load(&con->vd, &st->vio);

	if (rc)
		return rc;
	pthread_mutex_lock(&con->vd.lock);
	con->flags = st->flags;
	con->rx_count = st->rx_count;
	memcpy(con->rx, st->rx, sizeof(con->rx));
	pthread_mutex_unlock(&con->vd.lock);
	return 0;
}

static void console_destroy(void *dev)
{
	struct virtio_console *con = dev;

	virtio_destroy(&con->vd);
	virtio_mmio_destroy(&con->mmio);
}

const struct dev_type virtio_console_type = {
	.name = "virtio-console",
	.state_version = VIRTIO_CONSOLE_STATE_VERSION,
	.state_size = sizeof(struct virtio_console_state),
	.size = sizeof(struct virtio_console),
	.realize = console_realize,
	.reset = console_reset_op,
	.quiesce = console_quiesce,
	.save = console_save,
	.check = console_check,
	.load = console_load,
	.resume = console_resume,
	.destroy = console_destroy,
};
