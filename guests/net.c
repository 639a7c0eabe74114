/*
 * net.elf, ring 0: a virtio-net driver that answers ARP, ping and UDP
 * echo (net_pkt.c) for the address on its command line.
 *
 * cmdline: ip=A.B.C.D (required) mac=XX:XX:XX:XX:XX:XX (default: the
 *          device's, VIRTIO_NET_F_MAC) port=N (UDP echo port, 7)
 * Output:  "net: ready ip=A mac=M", then at most ten "net: served N" a
 *          second when N (replies sent: ARP, ICMP and UDP) changed.
 *          "net: BAD <reason>" exits 3. The guest runs until killed.
 *
 * Why ring 0 does the work here: a reply must leave from the receive
 * interrupt. Ring 3 cannot notify a device or enter ring 0 (no traps on
 * purpose, KVM-HERE.md), so a reply built there would wait for the next
 * timer tick (up to 10 ms) and every ping would measure the tick. The
 * receive buffer itself becomes the transmit buffer (no copy); the
 * protocol code is a few hundred integer instructions per frame.
 *
 * Buffers: nbufs buffers of 2 KiB; buffer i is descriptor i in both the
 * receive and the transmit queue, and sits in one of them at a time.
 * With MRG_RXBUF a frame never needs more than one (no offloads are
 * negotiated, frames are at most 1526 bytes with the header); a frame
 * spread over several is dropped. Transmit completions raise no
 * interrupt: their buffers return to the receive queue on the next
 * interrupt or tick. GUEST_ANNOUNCE: on a config interrupt with the
 * announce bit, a gratuitous ARP goes out and the control queue
 * acknowledges it (VIRTIO_NET_CTRL_ANNOUNCE_ACK).
 */
#include "net.h"
#include "virtio_mmio.h"

#define PRINT_EVERY_TICKS (GUEST_HZ / 10)
#define NET_BUF 2048
#define NET_MAX_BUFS 128
#define NET_HDR 12 /* struct virtio_net_hdr with num_buffers */
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS 16
#define VIRTIO_NET_F_CTRL_VQ 17
#define VIRTIO_NET_F_GUEST_ANNOUNCE 21
#define VIRTIO_NET_S_LINK_UP 1
#define VIRTIO_NET_S_ANNOUNCE 2
#define VIRTIO_NET_CTRL_ANNOUNCE 3
#define VIRTIO_NET_CTRL_ANNOUNCE_ACK 0
#define VIRTIO_NET_CFG_STATUS 6

static struct virtio_dev *dev;
static struct virtq rxq, txq, ctrlq;
static uint8_t *bufs;
static uint16_t nbufs, rx_seen, tx_seen, ctrl_seen;
static uint8_t garp_buf[NET_HDR + ETH_MIN_FRAME];
static uint8_t ctrl_cmd[2];
static volatile uint8_t ctrl_ack;
static bool mrg, announce, garp_busy;
static struct net_addr me;
static struct net_counts counts;
static uint64_t served, last_printed, announces;
static const char *const keys[] = { "ip", "mac", "port", NULL };

static uint8_t *buf(uint16_t i)
{
	return bufs + (uint64_t)i * NET_BUF;
}

static void rx_post(uint16_t i)
{
	rxq.desc[i].addr = (uint64_t)buf(i);
	rxq.desc[i].len = NET_BUF;
	rxq.desc[i].flags = VIRTQ_DESC_F_WRITE;
	virtq_push(&rxq, i);
}

static void tx_push(uint16_t i, uint64_t addr, uint32_t len)
{
	txq.desc[i].addr = addr;
	txq.desc[i].len = len;
	txq.desc[i].flags = 0;
	virtq_push(&txq, i);
}

/* Transmitted buffers go back to the receive queue. */
static bool reclaim_tx(void)
{
	struct virtq_used_elem e;
	bool posted = false;

	while (virtq_pop(&txq, &tx_seen, &e)) {
		if (e.id == nbufs) {
			garp_busy = false;
		} else if (e.id < nbufs) {
			rx_post((uint16_t)e.id);
			posted = true;
		}
	}
	virtq_quiet(&txq, tx_seen);
	return posted;
}

/* The reply's length with its virtio-net header, or 0. */
static uint32_t answer(uint8_t *b, uint32_t len)
{
	uint32_t n;

	if (len < NET_HDR + ETH_HLEN || len > NET_BUF)
		return 0;
	n = net_reply(b + NET_HDR, len - NET_HDR, NET_BUF - NET_HDR, &me,
		      &counts);
	if (!n)
		return 0;
	memset(b, 0, NET_HDR); /* no checksum offload, no GSO */
	served++;
	return NET_HDR + n;
}

/* num_buffers of the header: how many buffers the frame took. */
static uint16_t nbuffers(const uint8_t *b)
{
	return mrg ? (uint16_t)(b[10] | b[11] << 8) : 1;
}

/* A frame in more than one buffer (MRG_RXBUF) is dropped whole. */
static void drop_rest(uint8_t *b)
{
	uint16_t more = nbuffers(b);
	struct virtq_used_elem e;

	while (more-- > 1 && virtq_pop(&rxq, &rx_seen, &e))
		if (e.id < nbufs)
			rx_post((uint16_t)e.id);
	counts.dropped++;
}

static void serve_rx(bool *rx_more, bool *tx_more)
{
	struct virtq_used_elem e;
	uint8_t *b;
	uint32_t n;

	while (virtq_pop(&rxq, &rx_seen, &e)) {
		if (e.id >= nbufs)
			con_fail("device used receive buffer %u of %u\n", e.id,
				 nbufs);
		b = buf((uint16_t)e.id);
		if (nbuffers(b) > 1) {
			drop_rest(b);
			n = 0;
		} else {
			n = answer(b, e.len);
		}
		if (n) {
			tx_push((uint16_t)e.id, (uint64_t)b, n);
			*tx_more = true;
		} else {
			rx_post((uint16_t)e.id);
			*rx_more = true;
		}
	}
}

static void poll(void)
{
	bool rx_more = false, tx_more = false;
	unsigned int rounds = 0;

	do {
		rx_more |= reclaim_tx();
		serve_rx(&rx_more, &tx_more);
	} while (virtq_arm(&rxq, rx_seen) && ++rounds < 8);
	if (tx_more) /* replies first: they are what someone waits for */
		virtq_kick(&txq);
	if (rx_more)
		virtq_kick(&rxq);
}

/* The control queue, synchronously: ANNOUNCE_ACK must come back OK. */
static void ack_announce(void)
{
	struct virtq_used_elem e;
	uint64_t deadline = rdtsc() + boot_facts.tsc_hz;

	ctrl_cmd[0] = VIRTIO_NET_CTRL_ANNOUNCE;
	ctrl_cmd[1] = VIRTIO_NET_CTRL_ANNOUNCE_ACK;
	ctrl_ack = 0xff;
	ctrlq.desc[0] = (struct virtq_desc){ (uint64_t)ctrl_cmd, 2,
					     VIRTQ_DESC_F_NEXT, 1 };
	ctrlq.desc[1] = (struct virtq_desc){ (uint64_t)&ctrl_ack, 1,
					     VIRTQ_DESC_F_WRITE, 0 };
	virtq_push(&ctrlq, 0);
	virtq_kick(&ctrlq);
	while (!virtq_pop(&ctrlq, &ctrl_seen, &e))
		if (rdtsc() > deadline)
			con_fail("announce acknowledgement not answered\n");
	if (ctrl_ack != 0)
		con_fail("announce acknowledgement refused (%u)\n", ctrl_ack);
}

/* GUEST_ANNOUNCE: a gratuitous ARP, then the acknowledgement. */
static void config_changed(void)
{
	uint16_t status;

	if (!announce)
		return;
	status = virtio_cfg16(dev, VIRTIO_NET_CFG_STATUS);
	if (!(status & VIRTIO_NET_S_ANNOUNCE))
		return;
	if (garp_busy && reclaim_tx())
		virtq_kick(&rxq);
	if (!garp_busy) {
		net_garp(garp_buf + NET_HDR, &me);
		tx_push(nbufs, (uint64_t)garp_buf, sizeof(garp_buf));
		garp_busy = true;
		virtq_kick(&txq);
	}
	announces++;
	ack_announce();
	if (debug_enabled())
		con_printf("guest: announce %lu\n", announces);
}

static void irq_handler(struct virtio_dev *d, uint32_t isr)
{
	(void)d;
	if (isr & VIRTIO_INT_CONFIG)
		config_changed();
	poll();
}

static bool parse_ip(const char *s, uint8_t ip[4])
{
	unsigned int i, v;

	for (i = 0; i < 4; i++) {
		if (*s < '0' || *s > '9')
			return false;
		for (v = 0; *s >= '0' && *s <= '9'; s++)
			v = v * 10 + (unsigned int)(*s - '0');
		if (v > 255 || *s != (i < 3 ? '.' : 0))
			return false;
		ip[i] = (uint8_t)v;
		s++;
	}
	return true;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int i;

	for (i = 0; i < 6; i++, s += 3) {
		int hi = hexval(s[0]), lo = hexval(s[1]);

		if (hi < 0 || lo < 0 || s[2] != (i < 5 ? ':' : 0))
			return false;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	return !(mac[0] & 1); /* unicast */
}

static bool parse_cmdline(void)
{
	char buf[32];
	uint64_t port;

	cmdline_check_keys(keys);
	if (!cmdline_str("ip", buf, sizeof(buf)))
		con_fail("ip=A.B.C.D is required\n");
	if (!parse_ip(buf, me.ip))
		con_fail("ip=%s is not an IPv4 address\n", buf);
	port = cmdline_u64("port", 7);
	if (!port || port > 65535)
		con_fail("port=%lu must be 1-65535\n", port);
	me.udp_port = (uint16_t)port;
	if (!cmdline_str("mac", buf, sizeof(buf)))
		return false;
	if (!parse_mac(buf, me.mac))
		con_fail("mac=%s is not a unicast MAC address\n", buf);
	return true;
}

static void start_device(bool have_mac)
{
	uint64_t f, want = VIRTIO_BIT(VIRTIO_F_EVENT_IDX) |
			   VIRTIO_BIT(VIRTIO_NET_F_MAC) |
			   VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF) |
			   VIRTIO_BIT(VIRTIO_NET_F_STATUS) |
			   VIRTIO_BIT(VIRTIO_NET_F_CTRL_VQ) |
			   VIRTIO_BIT(VIRTIO_NET_F_GUEST_ANNOUNCE);
	unsigned int i;

	f = virtio_negotiate(dev, "virtio-net", want, 0);
	mrg = f & VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF);
	announce = (f & VIRTIO_BIT(VIRTIO_NET_F_GUEST_ANNOUNCE)) &&
		   (f & VIRTIO_BIT(VIRTIO_NET_F_CTRL_VQ)) &&
		   (f & VIRTIO_BIT(VIRTIO_NET_F_STATUS));
	if (!have_mac && !(f & VIRTIO_BIT(VIRTIO_NET_F_MAC)))
		con_fail("no mac= and the device has no MAC (feature 5)\n");
	for (i = 0; !have_mac && i < 6; i++)
		me.mac[i] = virtio_cfg8(dev, i);
	virtio_queue_init(dev, &rxq, 0, VIRTQ_MAX_SIZE);
	virtio_queue_init(dev, &txq, 1, VIRTQ_MAX_SIZE);
	if (f & VIRTIO_BIT(VIRTIO_NET_F_CTRL_VQ))
		virtio_queue_init(dev, &ctrlq, 2, 8);
	nbufs = rxq.size < txq.size - 1 ? rxq.size : txq.size - 1;
	if (nbufs > NET_MAX_BUFS)
		nbufs = NET_MAX_BUFS;
	if (nbufs < 2)
		con_fail("virtio-net queues too small (%u, %u)\n", rxq.size,
			 txq.size);
	bufs = mm_alloc((uint64_t)nbufs * NET_BUF);
	for (i = 0; i < nbufs; i++)
		rx_post((uint16_t)i);
	virtq_quiet(&txq, 0);
	virtq_arm(&rxq, 0);
	virtio_irq_attach(dev, irq_handler);
	virtio_driver_ok(dev);
	virtq_kick(&rxq);
}

static void setup(void)
{
	bool have_mac = parse_cmdline();

	dev = virtio_claim(VIRTIO_ID_NET);
	if (!dev)
		con_fail("no virtio network device (virtio-mmio, type 1)\n");
	start_device(have_mac);
	if (debug_enabled())
		con_printf(
			"guest: net buffers=%u rx=%u tx=%u mrg=%u announce=%u "
			"status=%x\n",
			nbufs, rxq.size, txq.size, mrg, announce,
			announce ? virtio_cfg16(dev, VIRTIO_NET_CFG_STATUS) :
				   0);
	con_say("ready ip=%u.%u.%u.%u mac=%02x:%02x:%02x:%02x:%02x:%02x\n",
		me.ip[0], me.ip[1], me.ip[2], me.ip[3], me.mac[0], me.mac[1],
		me.mac[2], me.mac[3], me.mac[4], me.mac[5]);
}

/* A missed interrupt costs at most a tick; no IOAPIC: the tick polls. */
static void tick(uint64_t tsc)
{
	(void)tsc;
	if (!dev->vector)
		config_changed();
	poll();
	if (cpu_ticks[0] % PRINT_EVERY_TICKS || served == last_printed)
		return;
	con_say("served %lu\n", served);
	last_printed = served;
}

static void irq(unsigned int vector)
{
	(void)vector;
}

/* Ring 3 has nothing to do: the vCPU halts between interrupts. */
static bool idle(void)
{
	return true;
}

const struct guest_ops guest_ops = {
	.name = "net",
	.max_cpus = 1,
	.setup = setup,
	.tick = tick,
	.irq = irq,
	.idle = idle,
};
