/*
 * virtio-console port 0 as the guests' console (console=virtio), ring 0.
 * Without VIRTIO_CONSOLE_F_MULTIPORT the device has exactly port 0:
 * queue 0 receives, queue 1 transmits (virtio 1.2, 5.3).
 *
 * Output is line-buffered: each '\n'-terminated line (or VCON_LINE bytes)
 * is one buffer and one notification, and the guest waits until the
 * device has used it, so a line printed just before the debug-exit write
 * is out before the VM ends. Input: VCON_RX_BUFS small buffers stay
 * posted; con_read takes bytes from used ones and posts each again when
 * it is empty. Both queues run without interrupts (polled).
 */
#include "virtio_mmio.h"

#define VCON_RXQ 0
#define VCON_TXQ 1
#define VCON_QSIZE 8
#define VCON_LINE 256
#define VCON_RX_BUFS 4
#define VCON_RX_LEN 64

static struct virtio_dev *dev;
static struct virtq rxq, txq;
static char txbuf[VCON_LINE];
static uint32_t txlen;
static uint8_t rxbuf[VCON_RX_BUFS][VCON_RX_LEN];
static uint16_t rx_seen, tx_seen;
static struct virtq_used_elem rx_cur;
static uint32_t rx_pos;
static bool rx_have;

static void post_rx(uint16_t i)
{
	virtq_push(&rxq, i);
}

bool vcon_init(void)
{
	uint16_t i;

	dev = virtio_claim(VIRTIO_ID_CONSOLE);
	if (!dev)
		return false;
	virtio_negotiate(dev, "virtio console", 0, 0);
	virtio_queue_init(dev, &rxq, VCON_RXQ, VCON_QSIZE);
	virtio_queue_init(dev, &txq, VCON_TXQ, VCON_QSIZE);
	rxq.avail->flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
	txq.avail->flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
	for (i = 0; i < VCON_RX_BUFS && i < rxq.size; i++) {
		rxq.desc[i].addr = (uint64_t)rxbuf[i];
		rxq.desc[i].len = VCON_RX_LEN;
		rxq.desc[i].flags = VIRTQ_DESC_F_WRITE;
		post_rx(i);
	}
	txq.desc[0].addr = (uint64_t)txbuf;
	virtio_driver_ok(dev);
	virtq_kick(&rxq);
	return true;
}

/* Hand the line to the device and wait (1 s at most) until it is used. */
static void flush_line(void)
{
	struct virtq_used_elem e;
	uint64_t deadline = rdtsc() + boot_facts.tsc_hz;

	txq.desc[0].len = txlen;
	txq.desc[0].flags = 0;
	virtq_push(&txq, 0);
	virtq_kick(&txq);
	while (!virtq_pop(&txq, &tx_seen, &e)) {
		if (rdtsc() > deadline)
			con_vcon_stuck(dev->base);
		cpu_relax();
	}
	txlen = 0;
}

void vcon_putc(char c)
{
	txbuf[txlen++] = c;
	if (c == '\n' || txlen == VCON_LINE)
		flush_line();
}

bool vcon_read(uint8_t *c_out)
{
	uint32_t len;

	if (!rx_have) {
		if (!virtq_pop(&rxq, &rx_seen, &rx_cur))
			return false;
		if (rx_cur.id >= VCON_RX_BUFS)
			con_vcon_stuck(dev->base);
		rx_have = true;
		rx_pos = 0;
	}
	len = rx_cur.len < VCON_RX_LEN ? rx_cur.len : VCON_RX_LEN;
	if (rx_pos < len)
		*c_out = rxbuf[rx_cur.id][rx_pos++];
	if (rx_pos >= len) {
		rx_have = false;
		post_rx((uint16_t)rx_cur.id);
		virtq_kick(&rxq);
	}
	return len > 0;
}
