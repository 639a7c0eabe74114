/*
 * virtio-net's receive path (5.1.6.4): one frame from the tap into the
 * guest's receive buffers. The frame's header is the tap's; what the
 * driver did not accept is refused here (a segmented or partially
 * checksummed frame it cannot take is dropped, DATA_VALID cleared
 * without GUEST_CSUM), then num_buffers is set.
 *
 * Without MRG_RXBUF the frame must fit one chain (else it is dropped and
 * the chain stays with the guest); with it, chains are taken until the
 * frame is in, and all their used entries become visible together. If
 * the ring runs out first, every chain taken goes back and the frame
 * waits; one that would not fit even the whole ring is dropped. The
 * bytes copied before such a give-back are in buffers the guest still
 * owns and will see overwritten: never beyond a buffer, never used.
 */
#include <stdio.h>
#include <string.h>

#include "common/why.h"
#include "devices/virtio/net.h"

#define HDR_F_NEEDS_CSUM 1
#define HDR_F_DATA_VALID 2
#define HDR_GSO_NONE 0
#define HDR_GSO_TCPV4 1
#define HDR_GSO_TCPV6 4
#define HDR_GSO_ECN 0x80
#define HDR_NUM_BUFFERS 10 /* offset of le16 num_buffers */

static bool has(uint64_t features, unsigned int bit)
{
	return features & (1ULL << bit);
}

/* Can the driver take this header? Clears what it must not see. */
static bool rx_header_fits(uint8_t *h, uint64_t f)
{
	uint8_t gso = h[1] & ~HDR_GSO_ECN;

	if (!has(f, VIRTIO_NET_F_GUEST_CSUM)) {
		if (h[0] & HDR_F_NEEDS_CSUM)
			return false;
		h[0] = 0; /* 5.1.6.4.1: flags zero without GUEST_CSUM */
	}
	if ((h[1] & HDR_GSO_ECN) && !has(f, VIRTIO_NET_F_GUEST_ECN))
		return false;
	if (gso == HDR_GSO_NONE)
		return true;
	if (gso == HDR_GSO_TCPV4)
		return has(f, VIRTIO_NET_F_GUEST_TSO4);
	if (gso == HDR_GSO_TCPV6)
		return has(f, VIRTIO_NET_F_GUEST_TSO6);
	return false; /* UDP fragmentation offload: never offered */
}

/* Chains taken so far for one frame. */
struct rx_take {
	uint16_t head[VIRTIO_NET_QUEUE_MAX];
	uint32_t len[VIRTIO_NET_QUEUE_MAX];
	unsigned int n;
};

/* Copy the rest of the frame into chain c; 0 bytes is a broken chain. */
static enum virtio_net_rx rx_fill(struct vq *q, struct vq_elem *c,
				  struct rx_take *t, const uint8_t *f,
				  size_t len, size_t *done, bool mrg, char *why,
				  size_t whylen)
{
	size_t room = vq_elem_in_bytes(c), n;

	if (!t->n && room < VIRTIO_NET_HDR_LEN)
		return why_set(
			why, whylen, VIRTIO_NET_RX_BROKEN,
			"receive buffer %u has %zu device-writable bytes, less than the %u-byte header",
			c->head, room, VIRTIO_NET_HDR_LEN);
	if (!mrg && room < len) {
		vq_unpop(q, 1); /* too small for this frame, not for others */
		return VIRTIO_NET_RX_DROPPED;
	}
	n = vq_copy_to(q, c, 0, f + *done, len - *done);
	if (!n)
		return why_set(why, whylen, VIRTIO_NET_RX_BROKEN,
			       "receive buffer %u has no device-writable part",
			       c->head);
	t->head[t->n] = c->head;
	t->len[t->n++] = (uint32_t)n;
	*done += n;
	return VIRTIO_NET_RX_DONE;
}

/* The frame is in: num_buffers, then every used entry at once. */
static void rx_publish(struct vq *q, struct vq_elem *first,
		       const struct rx_take *t)
{
	uint8_t nb[2] = { (uint8_t)t->n, (uint8_t)(t->n >> 8) };
	unsigned int i;

	vq_copy_to(q, first, HDR_NUM_BUFFERS, nb, sizeof(nb));
	for (i = 0; i < t->n; i++)
		vq_fill(q, i, t->head[i], t->len[i]);
	vq_publish(q, t->n);
}

enum virtio_net_rx virtio_net_rx_frame(struct vq *q, uint8_t *f, size_t len,
				       uint64_t features, char *why,
				       size_t whylen)
{
	struct vq_buf b0[VIRTIO_NET_CHAIN_MAX], b1[VIRTIO_NET_CHAIN_MAX];
	struct vq_elem first = { .buf = b0, .max = VIRTIO_NET_CHAIN_MAX };
	struct vq_elem more = { .buf = b1, .max = VIRTIO_NET_CHAIN_MAX };
	bool mrg = has(features, VIRTIO_NET_F_MRG_RXBUF);
	struct rx_take t = { .n = 0 };
	enum virtio_net_rx r;
	size_t done = 0;
	int rc;

	if (len < VIRTIO_NET_HDR_LEN || !rx_header_fits(f, features))
		return VIRTIO_NET_RX_DROPPED;
	while (done < len) {
		if (t.n == q->size || (t.n && !mrg)) {
			vq_unpop(q, t.n); /* not even the whole ring holds it */
			return VIRTIO_NET_RX_DROPPED;
		}
		rc = vq_pop(q, t.n ? &more : &first, why, whylen);
		if (rc < 0)
			return VIRTIO_NET_RX_BROKEN;
		if (!rc) {
			vq_unpop(q, t.n);
			return VIRTIO_NET_RX_NO_ROOM;
		}
		r = rx_fill(q, t.n ? &more : &first, &t, f, len, &done, mrg,
			    why, whylen);
		if (r != VIRTIO_NET_RX_DONE)
			return r;
	}
	rx_publish(q, &first, &t);
	return VIRTIO_NET_RX_DONE;
}
