/*
 * virtio-net device model (net.h): the I/O thread's work for each queue
 * and the tap, the control queue, announcements, the configuration
 * space, and the device descriptor with its saved state.
 *
 * Work per wake-up is bounded (NET_BUDGET frames each way) and what is
 * left is picked up by kicking the queue again, so a busy direction
 * cannot starve the other or a parker.
 */
#include "devices/virtio/net.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/why.h"
#include "net/announce.h"
#include "net/tap.h"
#include "vmm/vm.h"

#define NET_BUDGET 256
#define NET_RX_BUF (VIRTIO_NET_HDR_LEN + TAP_FRAME_MAX)

/* Config space (5.1.4): mac, status, max_virtqueue_pairs. */
#define NET_CFG_MAC 0
#define NET_CFG_STATUS 6
#define NET_CFG_PAIRS 8
#define NET_CFG_SIZE 10

/* Control queue (5.1.6.5). */
#define NET_CTRL_ANNOUNCE 3
#define NET_CTRL_ANNOUNCE_ACK 0
#define NET_OK 0
#define NET_ERR 1

static struct virtio_net *net_of(struct virtio_dev *vd)
{
	return (struct virtio_net *)vd;
}

static bool net_has(const struct virtio_dev *vd, unsigned int bit)
{
	return vd->driver_features & (1ULL << bit);
}

static void count(uint64_t *c, uint64_t n)
{
	__atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

/* ---- Offloads ------------------------------------------------------------ */

/* What the tap may hand over, from what the driver accepted. */
static unsigned int net_offloads(const struct virtio_dev *vd)
{
	unsigned int o = 0;

	if (!net_has(vd, VIRTIO_NET_F_GUEST_CSUM))
		return 0; /* segmentation needs checksum offload */
	o |= TAP_OFFLOAD_CSUM;
	if (net_has(vd, VIRTIO_NET_F_GUEST_TSO4))
		o |= TAP_OFFLOAD_TSO4;
	if (net_has(vd, VIRTIO_NET_F_GUEST_TSO6))
		o |= TAP_OFFLOAD_TSO6;
	if ((o & (TAP_OFFLOAD_TSO4 | TAP_OFFLOAD_TSO6)) &&
	    net_has(vd, VIRTIO_NET_F_GUEST_ECN))
		o |= TAP_OFFLOAD_TSO_ECN;
	return o;
}

/* Tell the tap before reading: frames queued earlier are checked anyway. */
static void net_sync_offloads(struct virtio_net *n)
{
	unsigned int want = net_offloads(&n->vd);
	int rc;

	if (want == n->offloads || n->tap_fd < 0)
		return;
	rc = tap_set_offload(n->tap_fd, want);
	if (rc)
		log_debug("%s: tap offloads 0x%x: %s", n->vd.name, want,
			  strerror(-rc));
	n->offloads = want;
}

/* ---- Receive ------------------------------------------------------------ */

/* Read the next frame from the tap; false when there is none now. */
static bool net_read_frame(struct virtio_net *n)
{
	ssize_t r;

	if (n->rx_len)
		return true;
	r = read(n->tap_fd, n->rx_buf, NET_RX_BUF);
	if (r < 0) {
		if (errno != EAGAIN && errno != EINTR)
			log_debug("%s: tap read: %s", n->vd.name,
				  strerror(errno));
		return false;
	}
	n->rx_len = (size_t)r;
	return true;
}

/* The guest has no room: stop watching the tap until it adds buffers. */
static void net_rx_wait(struct virtio_net *n, bool wait)
{
	if (n->rx_waiting == wait)
		return;
	n->rx_waiting = wait;
	virtio_watch_set(&n->vd, n->tap_fd, !wait);
}

static void net_receive(struct virtio_dev *vd)
{
	struct virtio_net *n = net_of(vd);
	struct vq *q = virtio_live_queue(vd, VIRTIO_NET_RXQ);
	enum virtio_net_rx r = VIRTIO_NET_RX_DONE;
	unsigned int i, done = 0;
	char why[200];

	if (n->tap_fd < 0)
		return;
	if (!q) { /* no driver yet: frames wait in the tap */
		net_rx_wait(n, true);
		return;
	}
	net_sync_offloads(n);
	for (i = 0; i < NET_BUDGET && net_read_frame(n); i++) {
		r = virtio_net_rx_frame(q, n->rx_buf, n->rx_len,
					vd->driver_features, why, sizeof(why));
		if (r == VIRTIO_NET_RX_NO_ROOM)
			break;
		if (r == VIRTIO_NET_RX_BROKEN) {
			virtio_fail(vd, "receive queue: %s", why);
			break;
		}
		count(r == VIRTIO_NET_RX_DONE ? &n->stats.rx_frames :
						&n->stats.rx_dropped,
		      1);
		if (r == VIRTIO_NET_RX_DONE) {
			count(&n->stats.rx_bytes,
			      n->rx_len - VIRTIO_NET_HDR_LEN);
			done++;
		}
		n->rx_len = 0;
	}
	net_rx_wait(n, r == VIRTIO_NET_RX_NO_ROOM);
	if (done)
		virtio_flush(vd, VIRTIO_NET_RXQ);
	if (i == NET_BUDGET)
		virtio_wake(vd); /* more may wait: after the other work */
}

/* ---- Transmit ----------------------------------------------------------- */

/* One chain to the tap: its readable buffers are header and frame. */
static void net_send(struct virtio_net *n, const struct vq_elem *e)
{
	struct iovec iov[VIRTIO_NET_CHAIN_MAX];
	size_t len = vq_elem_out_bytes(e);
	unsigned int i;

	if (len < VIRTIO_NET_HDR_LEN || n->tap_fd < 0) {
		count(&n->stats.tx_dropped, 1);
		return;
	}
	for (i = 0; i < e->nr_out; i++)
		iov[i] = (struct iovec){ e->buf[i].hva, e->buf[i].len };
	/* The kernel copies the frame once; a bad one is refused whole. */
	if (writev(n->tap_fd, iov, (int)e->nr_out) < 0) {
		count(&n->stats.tx_dropped, 1);
		log_debug("%s: tap write: %s", n->vd.name, strerror(errno));
		return;
	}
	count(&n->stats.tx_frames, 1);
	count(&n->stats.tx_bytes, len - VIRTIO_NET_HDR_LEN);
}

/* Out of credit: the chain goes back and the timer wakes us. */
static bool net_tx_throttled(struct virtio_net *n, struct vq *q,
			     const struct vq_elem *e)
{
	struct itimerspec its = { 0 };
	uint64_t wait;

	if (!rate_limited(&n->rate))
		return false;
	wait = rate_take(&n->rate, vq_elem_out_bytes(e), time_mono_ns());
	if (!wait)
		return false;
	vq_unpop(q, 1);
	its.it_value.tv_sec = (time_t)(wait / NSEC_PER_SEC);
	its.it_value.tv_nsec = (long)(wait % NSEC_PER_SEC);
	if (timerfd_settime(n->timer_fd, 0, &its, NULL))
		log_warn("%s: transmit timer: %s", n->vd.name, strerror(errno));
	n->tx_waiting = true;
	return true;
}

static void net_transmit(struct virtio_dev *vd)
{
	struct virtio_net *n = net_of(vd);
	struct vq *q = virtio_live_queue(vd, VIRTIO_NET_TXQ);
	struct vq_buf bufs[VIRTIO_NET_CHAIN_MAX];
	struct vq_elem e = { .buf = bufs, .max = VIRTIO_NET_CHAIN_MAX };
	unsigned int i;

	if (!q || n->tx_waiting)
		return;
	for (i = 0; i < NET_BUDGET && virtio_pop(vd, q, &e) > 0; i++) {
		if (net_tx_throttled(n, q, &e))
			break;
		net_send(n, &e);
		virtio_push(vd, q, &e, 0);
	}
	virtio_flush(vd, VIRTIO_NET_TXQ);
	if (i == NET_BUDGET)
		virtio_kick(vd, VIRTIO_NET_TXQ); /* the rest, after rx */
}

/* The credit covers the waiting chain now. */
static void net_tx_timer(struct virtio_dev *vd)
{
	struct virtio_net *n = net_of(vd);
	uint64_t expirations;

	if (read(n->timer_fd, &expirations, sizeof(expirations)) < 0)
		return;
	n->tx_waiting = false;
	net_transmit(vd);
}

/* ---- Control queue and announcements ------------------------------------ */

static uint8_t net_ctrl_command(struct virtio_dev *vd, const uint8_t cmd[2])
{
	uint8_t ok = NET_ERR;

	if (cmd[0] != NET_CTRL_ANNOUNCE || cmd[1] != NET_CTRL_ANNOUNCE_ACK ||
	    !net_has(vd, VIRTIO_NET_F_GUEST_ANNOUNCE))
		return NET_ERR; /* RX, MAC, VLAN, MQ: not offered */
	pthread_mutex_lock(&vd->lock);
	if (vd->config[NET_CFG_STATUS] & VIRTIO_NET_S_ANNOUNCE) {
		vd->config[NET_CFG_STATUS] &= ~VIRTIO_NET_S_ANNOUNCE;
		ok = NET_OK;
	}
	pthread_mutex_unlock(&vd->lock);
	return ok;
}

static void net_control(struct virtio_dev *vd)
{
	struct vq *q = virtio_live_queue(vd, VIRTIO_NET_CTRLQ);
	struct vq_buf bufs[VIRTIO_NET_CHAIN_MAX];
	struct vq_elem e = { .buf = bufs, .max = VIRTIO_NET_CHAIN_MAX };
	uint8_t cmd[2] = { 0xff, 0xff }, ack;
	unsigned int i;

	if (!q)
		return;
	for (i = 0; i < NET_BUDGET && virtio_pop(vd, q, &e) > 0; i++) {
		if (!vq_elem_in_bytes(&e)) {
			virtio_fail(
				vd,
				"control queue: command %u has no room for its acknowledgement",
				e.head);
			return;
		}
		vq_copy_from(&e, 0, cmd, sizeof(cmd));
		ack = vq_elem_out_bytes(&e) < 2 ? NET_ERR :
						  net_ctrl_command(vd, cmd);
		vq_copy_to(q, &e, 0, &ack, 1);
		virtio_push(vd, q, &e, 1);
	}
	virtio_flush(vd, VIRTIO_NET_CTRLQ);
}

/* Ask the driver to announce itself (lock held). True if it was asked. */
static bool net_ask_guest(struct virtio_dev *vd)
{
	if (!net_has(vd, VIRTIO_NET_F_GUEST_ANNOUNCE) ||
	    !net_has(vd, VIRTIO_NET_F_CTRL_VQ) || vd->park_req ||
	    !(vd->status & VIRTIO_STATUS_DRIVER_OK) ||
	    (vd->status & VIRTIO_STATUS_NEEDS_RESET))
		return false;
	vd->config[NET_CFG_STATUS] |= VIRTIO_NET_S_ANNOUNCE;
	vd->config_generation++;
	vd->transport->notify(vd, VIRTIO_INT_CONFIG, 0);
	return true;
}

int virtio_net_send_rarp(struct virtio_net *n)
{
	uint8_t pkt[VIRTIO_NET_HDR_LEN + ANNOUNCE_FRAME_LEN] = { 0 };

	if (n->tap_fd < 0)
		return 0;
	announce_rarp(pkt + VIRTIO_NET_HDR_LEN, n->mac);
	count(&n->stats.announces, 1);
	return write(n->tap_fd, pkt, sizeof(pkt)) < 0 ? -errno : 0;
}

bool virtio_net_ask_guest(struct virtio_net *n)
{
	bool asked;

	pthread_mutex_lock(&n->vd.lock);
	asked = net_ask_guest(&n->vd);
	pthread_mutex_unlock(&n->vd.lock);
	return asked;
}

int virtio_net_announce(struct virtio_net *n)
{
	int rc = virtio_net_send_rarp(n);
	bool asked = virtio_net_ask_guest(n);

	return rc ? rc : asked;
}

void virtio_net_stats(struct virtio_net *n, struct virtio_net_stats *out)
{
	__atomic_load(&n->stats.rx_frames, &out->rx_frames, __ATOMIC_RELAXED);
	__atomic_load(&n->stats.rx_bytes, &out->rx_bytes, __ATOMIC_RELAXED);
	__atomic_load(&n->stats.rx_dropped, &out->rx_dropped, __ATOMIC_RELAXED);
	__atomic_load(&n->stats.tx_frames, &out->tx_frames, __ATOMIC_RELAXED);
	__atomic_load(&n->stats.tx_bytes, &out->tx_bytes, __ATOMIC_RELAXED);
	__atomic_load(&n->stats.tx_dropped, &out->tx_dropped, __ATOMIC_RELAXED);
	__atomic_load(&n->stats.announces, &out->announces, __ATOMIC_RELAXED);
}

/* ---- The model ---------------------------------------------------------- */

static void net_queue_work(struct virtio_dev *vd, unsigned int q)
{
	if (q == VIRTIO_NET_RXQ)
		net_receive(vd); /* buffers added: a waiting frame may fit */
	else if (q == VIRTIO_NET_TXQ)
		net_transmit(vd);
	else
		net_control(vd);
}

/* Every transmit chain is sent when taken; nothing is in flight. */
static void net_drain(struct virtio_dev *vd)
{
}

/* The configuration space is read-only for a VERSION_1 driver. */
static void net_config_write(struct virtio_dev *vd, uint32_t off,
			     const uint8_t *data, uint32_t len)
{
}

/* Power-on (lock held, I/O thread parked). */
static void net_reset(struct virtio_dev *vd)
{
	struct virtio_net *n = net_of(vd);
	const struct itimerspec off = { 0 };

	memset(vd->config, 0, sizeof(vd->config));
	memcpy(vd->config + NET_CFG_MAC, n->mac, 6);
	vd->config[NET_CFG_STATUS] = VIRTIO_NET_S_LINK_UP;
	vd->config[NET_CFG_PAIRS] = 1;
	n->tx_waiting = false;
	if (n->timer_fd >= 0 && timerfd_settime(n->timer_fd, 0, &off, NULL))
		log_debug("%s: transmit timer: %s", vd->name, strerror(errno));
	rate_init(&n->rate, n->rate_bytes_per_s, n->rate_interval_us,
		  time_mono_ns());
	net_rx_wait(n, false);
}

static const struct virtio_model net_model = {
	.name = "virtio-net",
	.device_id = VIRTIO_ID_NET,
	.num_queues = 3,
	.queue_max = VIRTIO_NET_QUEUE_MAX,
	.features = VIRTIO_NET_FEATURES,
	.config_size = NET_CFG_SIZE,
	.queue_work = net_queue_work,
	.wake = net_receive,
	.drain = net_drain,
	.config_write = net_config_write,
	.reset = net_reset,
};

static int net_watches(struct virtio_net *n)
{
	int rc = virtio_watch(&n->vd, n->timer_fd, net_tx_timer);

	if (!rc && n->tap_fd >= 0)
		rc = virtio_watch(&n->vd, n->tap_fd, net_receive);
	return rc;
}

int virtio_net_setup(struct virtio_net *n, const struct dev_host *host,
		     struct guest_mem *mem, const struct virtio_net_conf *conf)
{
	int rc;

	/* destroy() may follow a failure before these exist. */
	n->mmio.line.irqfd = n->mmio.line.resample_fd = -1;
	n->timer_fd = -1;
	n->tap_fd = conf->tap_fd;
	n->offloads = ~0u;
	memcpy(n->mac, conf->mac, 6);
	n->rate_bytes_per_s = conf->rate_bytes_per_s;
	n->rate_interval_us = conf->rate_interval_us;
	n->rx_buf = malloc(NET_RX_BUF);
	if (!n->rx_buf)
		return -ENOMEM;
	rc = virtio_init(&n->vd, &net_model, &virtio_mmio_transport, mem,
			 host->id ? host->id : "net");
	if (rc)
		return rc;
	n->timer_fd =
		timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (n->timer_fd < 0)
		return -errno;
	rc = virtio_mmio_init(&n->mmio, &n->vd, host->vm, &host->res);
	if (!rc)
		rc = net_watches(n);
	if (!rc && host->vm)
		rc = virtio_start_thread(&n->vd);
	return rc;
}

/* ---- The device descriptor (device.h) ---------------------------------- */

static int net_realize(void *dev, const struct dev_host *host)
{
	if (!host->arg)
		return -EINVAL; /* a NIC is always made from a vif */
	return virtio_net_setup(dev, host, &host->vm->mem, host->arg);
}

static void net_reset_op(void *dev)
{
	virtio_reset(&net_of(dev)->vd);
}

static void net_quiesce(void *dev)
{
	virtio_quiesce(&net_of(dev)->vd);
}

static void net_resume(void *dev)
{
	virtio_resume(&net_of(dev)->vd);
}

static void net_save(void *dev, void *state)
{
	struct virtio_net *n = dev;
	struct virtio_net_state *st = state;

	virtio_mmio_save(&n->vd, &st->vio);
	pthread_mutex_lock(&n->vd.lock);
	memcpy(st->mac, n->vd.config + NET_CFG_MAC, 6);
	st->status = n->vd.config[NET_CFG_STATUS];
	st->max_virtqueue_pairs = n->vd.config[NET_CFG_PAIRS];
	pthread_mutex_unlock(&n->vd.lock);
	st->features = VIRTIO_NET_FEATURES;
}

static int net_check(const struct dev_env *env, const void *state, char *why,
		     size_t whylen)
{
	const struct virtio_net_state *st = state;
	const struct virtio_net_conf *conf = env->arg;
	static const uint8_t zero[6];

	if ((st->mac[0] & 1) || !memcmp(st->mac, zero, 6))
		return why_set(
			why, whylen, -EINVAL,
			"mac %02x:%02x:%02x:%02x:%02x:%02x is not a unicast address",
			st->mac[0], st->mac[1], st->mac[2], st->mac[3],
			st->mac[4], st->mac[5]);
	if (conf && memcmp(st->mac, conf->mac, 6))
		return why_set(
			why, whylen, -EINVAL,
			"mac %02x:%02x:%02x:%02x:%02x:%02x, but the configuration gives this interface %02x:%02x:%02x:%02x:%02x:%02x",
			st->mac[0], st->mac[1], st->mac[2], st->mac[3],
			st->mac[4], st->mac[5], conf->mac[0], conf->mac[1],
			conf->mac[2], conf->mac[3], conf->mac[4], conf->mac[5]);
	if (st->status & ~(VIRTIO_NET_S_LINK_UP | VIRTIO_NET_S_ANNOUNCE))
		return why_set(why, whylen, -EINVAL,
			       "status 0x%x sets bits virtio-net does not have",
			       st->status);
	if ((st->status & VIRTIO_NET_S_ANNOUNCE) &&
	    !(st->vio.driver_features & (1ULL << VIRTIO_NET_F_GUEST_ANNOUNCE)))
		return why_set(
			why, whylen, -EINVAL,
			"an announcement is pending but the driver did not accept GUEST_ANNOUNCE");
	if (st->max_virtqueue_pairs != 1 || st->reserved0 || st->reserved1)
		return why_set(
			why, whylen, -EINVAL,
			"%u queue pairs (this device has 1), or reserved fields not zero",
			st->max_virtqueue_pairs);
	if (st->features & ~VIRTIO_NET_FEATURES)
		return why_set(
			why, whylen, -EINVAL,
			"the device offered features 0x%llx that this one does not (it offers 0x%llx)",
			(unsigned long long)st->features,
			(unsigned long long)VIRTIO_NET_FEATURES);
	if (st->vio.driver_features & ~st->features & ((1ULL << 24) - 1))
		return why_set(
			why, whylen, -EINVAL,
			"acknowledged features 0x%llx were not offered (0x%llx)",
			(unsigned long long)st->vio.driver_features,
			(unsigned long long)st->features);
	return virtio_mmio_check(&net_model, env, &st->vio, why, whylen);
}

static int net_load(void *dev, const void *state)
{
	struct virtio_net *n = dev;
	const struct virtio_net_state *st = state;
	int rc;

	if (memcmp(st->mac, n->mac, 6)) {
		log_err("%s: the saved MAC %02x:%02x:%02x:%02x:%02x:%02x is not the configured %02x:%02x:%02x:%02x:%02x:%02x",
			n->vd.name, st->mac[0], st->mac[1], st->mac[2],
			st->mac[3], st->mac[4], st->mac[5], n->mac[0],
			n->mac[1], n->mac[2], n->mac[3], n->mac[4], n->mac[5]);
		return -EINVAL;
	}
	rc = virtio_mmio_load(&n->vd, &st->vio);
	if (rc)
		return rc;
	pthread_mutex_lock(&n->vd.lock);
	n->vd.config[NET_CFG_STATUS] = (uint8_t)st->status;
	pthread_mutex_unlock(&n->vd.lock);
	n->offloads = ~0u; /* set from the loaded features before reading */
	return 0;
}

static void net_destroy(void *dev)
{
	struct virtio_net *n = dev;

	virtio_destroy(&n->vd);
	virtio_mmio_destroy(&n->mmio);
	if (n->timer_fd >= 0)
		close(n->timer_fd);
	n->timer_fd = -1;
	free(n->rx_buf);
	n->rx_buf = NULL;
}

const struct dev_type virtio_net_type = {
	.name = "virtio-net",
	.state_version = VIRTIO_NET_STATE_VERSION,
	.state_size = sizeof(struct virtio_net_state),
	.size = sizeof(struct virtio_net),
	.realize = net_realize,
	.reset = net_reset_op,
	.quiesce = net_quiesce,
	.save = net_save,
	.check = net_check,
	.load = net_load,
	.resume = net_resume,
	.destroy = net_destroy,
};
