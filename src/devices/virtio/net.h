/*
 * virtio-net (virtio 1.2, 5.1) on virtio-mmio over a host tap: one
 * receive queue (0), one transmit queue (1) and the control queue (2).
 *
 * Offered: MAC, STATUS (link always up), MRG_RXBUF, CTRL_VQ with
 * GUEST_ANNOUNCE, and the checksum and segmentation offloads the tap
 * passes through (CSUM, HOST_TSO4/6/ECN; GUEST_CSUM, GUEST_TSO4/6/ECN:
 * the tap is told what the driver accepted). None is required: a
 * driver that takes none gets plain, checksummed frames.
 *
 * Data paths, all on the device's I/O thread: the guest's transmit
 * chains go to the tap with one writev each, straight from guest RAM,
 * within the interface's rate limit (net/rate.h; a chain that must wait
 * goes back to the ring and a timer wakes the thread); frames from the
 * tap are read into a host buffer, then copied into the guest's receive
 * buffers (net_rx.c), never beyond one. A frame that finds too few
 * buffers waits, the tap unwatched, until the driver adds some. Nothing
 * is ever in flight between two pieces of work, so a quiesce (the final
 * pause of a migration) stops transmit after what was taken is sent and
 * leaves every receive buffer not yet filled with the guest.
 */
#ifndef GODWIT_DEVICES_VIRTIO_NET_H
#define GODWIT_DEVICES_VIRTIO_NET_H

#include <stdint.h>

#include "devices/device.h"
#include "devices/virtio/mmio.h"
#include "net/rate.h"

#define VIRTIO_ID_NET 1
#define VIRTIO_NET_RXQ 0
#define VIRTIO_NET_TXQ 1
#define VIRTIO_NET_CTRLQ 2
#define VIRTIO_NET_QUEUE_MAX 256
#define VIRTIO_NET_HDR_LEN 12 /* struct virtio_net_hdr_v1 */
#define VIRTIO_NET_CHAIN_MAX 64 /* buffers in one chain the device takes */

/* Feature bits (5.1.3). */
#define VIRTIO_NET_F_CSUM 0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_GUEST_ECN 9
#define VIRTIO_NET_F_HOST_TSO4 11
#define VIRTIO_NET_F_HOST_TSO6 12
#define VIRTIO_NET_F_HOST_ECN 13
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS 16
#define VIRTIO_NET_F_CTRL_VQ 17
#define VIRTIO_NET_F_GUEST_ANNOUNCE 21

/* What the device offers, besides the transport's own features. */
#define VIRTIO_NET_FEATURES                                                    \
	((1ULL << VIRTIO_NET_F_CSUM) | (1ULL << VIRTIO_NET_F_GUEST_CSUM) |     \
	 (1ULL << VIRTIO_NET_F_MAC) | (1ULL << VIRTIO_NET_F_GUEST_TSO4) |      \
	 (1ULL << VIRTIO_NET_F_GUEST_TSO6) |                                   \
	 (1ULL << VIRTIO_NET_F_GUEST_ECN) | (1ULL << VIRTIO_NET_F_HOST_TSO4) | \
	 (1ULL << VIRTIO_NET_F_HOST_TSO6) | (1ULL << VIRTIO_NET_F_HOST_ECN) |  \
	 (1ULL << VIRTIO_NET_F_MRG_RXBUF) | (1ULL << VIRTIO_NET_F_STATUS) |    \
	 (1ULL << VIRTIO_NET_F_CTRL_VQ) |                                      \
	 (1ULL << VIRTIO_NET_F_GUEST_ANNOUNCE))

/* What an instance is built with (dev_host's arg for the descriptor). */
struct virtio_net_conf {
	uint8_t mac[6];
	/* The backend: non-blocking, a 12-byte virtio-net header on every
	 * frame (tap_open()); not owned. -1: none (frames go nowhere). */
	int tap_fd;
	uint64_t rate_bytes_per_s; /* transmit limit; 0: none */
	uint32_t rate_interval_us;
};

/* Counters, read with virtio_net_stats(). */
struct virtio_net_stats {
	uint64_t rx_frames, rx_bytes, rx_dropped;
	uint64_t tx_frames, tx_bytes, tx_dropped;
	uint64_t announces; /* rounds sent (RARP), guest asked or not */
};

struct virtio_net {
	struct virtio_dev vd; /* first: the core's pointer is the device's */
	struct virtio_mmio mmio;
	uint8_t mac[6];
	int tap_fd; /* not owned */
	int timer_fd; /* timerfd: the transmit credit covers the next frame */
	/* I/O thread only (or with it parked). */
	unsigned int offloads; /* TAP_OFFLOAD_* the tap has; ~0u: unknown */
	struct rate_bucket rate;
	uint64_t rate_bytes_per_s;
	uint32_t rate_interval_us;
	bool tx_waiting; /* for credit: the timer is armed */
	bool rx_waiting; /* for receive buffers: the tap is not watched */
	size_t rx_len; /* bytes of the frame in rx_buf, 0: none */
	uint8_t *rx_buf; /* header + frame */
	struct virtio_net_stats stats; /* atomics: read from any thread */
};

/*
 * Build the device over mem (no VM needed: host->vm NULL makes no I/O
 * thread and no bus registration, for unit tests driving virtio_poll).
 */
int virtio_net_setup(struct virtio_net *n, const struct dev_host *host,
		     struct guest_mem *mem,
		     const struct virtio_net_conf *conf) __must_check;
/*
 * One announcement round: a RARP frame from the NIC's MAC into the tap,
 * and, if the driver accepted GUEST_ANNOUNCE and the device runs, the
 * announce bit in status with a configuration interrupt (the driver
 * announces itself and acknowledges on the control queue). Any thread.
 * Returns 1 if the guest was asked, 0 if not, -errno if the RARP frame
 * could not be sent.
 */
int virtio_net_announce(struct virtio_net *n) __must_check;
/* Its two halves: the RARP frame (0 or -errno), and asking the guest. */
int virtio_net_send_rarp(struct virtio_net *n) __must_check;
bool virtio_net_ask_guest(struct virtio_net *n);
void virtio_net_stats(struct virtio_net *n, struct virtio_net_stats *out);

/* The receive path (net_rx.c). */
enum virtio_net_rx {
	VIRTIO_NET_RX_DONE, /* delivered */
	VIRTIO_NET_RX_NO_ROOM, /* too few buffers now: none taken, retry */
	VIRTIO_NET_RX_DROPPED, /* can never be delivered: none taken */
	VIRTIO_NET_RX_BROKEN, /* the guest broke a rule: why says which */
};
/*
 * Put one frame as the tap gave it (12-byte header, then the packet; the
 * header is edited in place) into the receive buffers of q, for a
 * driver that accepted features, and make them used at once. Writes
 * only into the device-writable buffers of the chains it takes and
 * their used entries. Pure over q: no device, no thread.
 */
enum virtio_net_rx virtio_net_rx_frame(struct vq *q, uint8_t *frame, size_t len,
				       uint64_t features, char *why,
				       size_t whylen);

extern const struct dev_type virtio_net_type;

#endif
