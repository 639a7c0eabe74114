/*
 * Unit tests of virtio-net through a simulated driver (vdriver.h), with
 * a datagram socket pair standing in for the tap (one datagram = one
 * frame with its 12-byte header, as a tap reads and writes them):
 * configuration space and features; transmit from multi-buffer chains;
 * receive into one buffer, into merged buffers (all used at once, with
 * num_buffers), waiting for buffers with the tap unwatched, dropping
 * what never fits; headers the driver cannot take; writes never past a
 * buffer and marked dirty; rule breaking (NEEDS_RESET, no crash); the
 * control queue and announcements (RARP out, guest asked, ACK);
 * the transmit rate limit; and save -> check -> load with every
 * net-specific refusal.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "devices/virtio/net.h"
#include "vdriver.h"
#include "vmm/x86/layout.h"

#define QS 16
#define RXQ VIRTIO_NET_RXQ
#define TXQ VIRTIO_NET_TXQ
#define CTRLQ VIRTIO_NET_CTRLQ
#define HDR VIRTIO_NET_HDR_LEN
#define BIT(b) (1ULL << (b))
#define VIRTIO_F_VERSION_1_BIT (1ULL << 32)
#define BASIC (VIRTIO_F_VERSION_1_BIT | BIT(VIRTIO_NET_F_MAC))
#define MRG (BASIC | BIT(VIRTIO_NET_F_MRG_RXBUF))
#define ANN                                                           \
	(MRG | BIT(VIRTIO_NET_F_STATUS) | BIT(VIRTIO_NET_F_CTRL_VQ) | \
	 BIT(VIRTIO_NET_F_GUEST_ANNOUNCE))

static const uint8_t the_mac[6] = { 0x00, 0x16, 0x3e, 0x56, 0xaf, 0x69 };

struct fixture {
	struct guest_mem mem;
	struct virtio_net net;
	int sp[2]; /* sp[0] the device's "tap", sp[1] the host's end */
	struct vdq q[3];
	struct dev_env env;
	uint16_t rx_next; /* next receive buffer slot */
	char why[256];
};

static void net_make(struct fixture *f, uint64_t rate, uint32_t interval)
{
	const struct dev_host host = {
		.id = "net0",
		.res = { LAYOUT_VIRTIO_MMIO, LAYOUT_VIRTIO_GSI(0) },
	};
	const struct virtio_net_conf conf = {
		.tap_fd = f->sp[0],
		.rate_bytes_per_s = rate,
		.rate_interval_us = interval,
	};
	struct virtio_net_conf c = conf;

	memcpy(c.mac, the_mac, 6);
	memset(&f->net, 0, sizeof(f->net));
	assert_int_equal(virtio_net_setup(&f->net, &host, &f->mem, &c), 0);
	virtio_net_type.reset(&f->net);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || mem_init(&f->mem, VD_MEM) ||
	    socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, f->sp))
		return -1;
	net_make(f, 0, 0);
	f->env = (struct dev_env){ .mem_bytes = VD_MEM,
				   .res = { LAYOUT_VIRTIO_MMIO,
					    LAYOUT_VIRTIO_GSI(0) } };
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	virtio_net_type.destroy(&f->net);
	close(f->sp[0]);
	close(f->sp[1]);
	mem_destroy(&f->mem);
	free(f);
	return 0;
}

static struct virtio_dev *vd(struct fixture *f)
{
	return &f->net.vd;
}

static void drive(struct fixture *f)
{
	while (virtio_poll(vd(f), 0) > 0)
		;
}

/* A fresh driver: its rings zeroed first, as a new driver's would be. */
static void start(struct fixture *f, uint64_t features)
{
	memset(vd_ram(&f->mem, VD_RING_BASE), 0, 3 * VD_RING_STRIDE);
	vd_driver_init(vd(f), f->q, 3, QS, features);
	drive(f);
}

static uint64_t rx_gpa(unsigned int k)
{
	return VD_DATA + (uint64_t)k * 0x2000;
}

/* The driver posts a receive buffer of len bytes (slot rx_next). */
static uint16_t post_rx(struct fixture *f, uint32_t len)
{
	const uint64_t gpa[] = { rx_gpa(f->rx_next++) };
	uint16_t head = vd_chain(&f->mem, &f->q[RXQ], 1, gpa, &len, 1);

	vd_publish(&f->mem, &f->q[RXQ], head);
	vd_wr(vd(f), VIRTIO_MMIO_QUEUE_NOTIFY, RXQ);
	return head;
}

/* The host sends one frame: a header (flags, gso) and len bytes of i. */
static void host_send(struct fixture *f, size_t len, uint8_t flags, uint8_t gso)
{
	uint8_t buf[8192] = { flags, gso };

	for (size_t i = 0; i < len; i++)
		buf[HDR + i] = (uint8_t)(i * 7 + 1);
	assert_int_equal(write(f->sp[1], buf, HDR + len), (ssize_t)(HDR + len));
}

static bool frame_is(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != (uint8_t)(i * 7 + 1))
			return false;
	return true;
}

static void test_config_space_and_features(void **state)
{
	struct fixture *f = *state;
	uint8_t cfg[10];
	uint32_t lo;

	assert_int_equal(vd_rd(vd(f), VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_NET);
	vd_wr(vd(f), VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	lo = vd_rd(vd(f), VIRTIO_MMIO_DEVICE_FEATURES);
	assert_true(lo & BIT(VIRTIO_NET_F_MAC));
	assert_true(lo & BIT(VIRTIO_NET_F_MRG_RXBUF));
	assert_true(lo & BIT(VIRTIO_NET_F_GUEST_ANNOUNCE));
	assert_true(lo & BIT(VIRTIO_NET_F_CSUM));
	for (unsigned int i = 0; i < sizeof(cfg); i++)
		virtio_mmio_io(vd(f), VIRTIO_MMIO_CONFIG + i, &cfg[i], 1,
			       false);
	assert_memory_equal(cfg, the_mac, 6);
	assert_int_equal(cfg[6], VIRTIO_NET_S_LINK_UP); /* status */
	assert_int_equal(cfg[8], 1); /* max_virtqueue_pairs */
	/* Read-only: a write changes nothing. */
	virtio_mmio_io(vd(f), VIRTIO_MMIO_CONFIG, (uint8_t[]){ 0x02 }, 1, true);
	virtio_mmio_io(vd(f), VIRTIO_MMIO_CONFIG, cfg, 1, false);
	assert_int_equal(cfg[0], 0x00);
}

/* A frame in two readable buffers reaches the tap whole, header first. */
static void test_transmit(void **state)
{
	struct fixture *f = *state;
	const uint64_t gpa[] = { VD_DATA + 0x40000, VD_DATA + 0x41000 };
	const uint32_t len[] = { HDR, 100 };
	uint8_t got[512];
	uint32_t id, ulen;

	start(f, MRG);
	memset(vd_ram(&f->mem, gpa[0]), 0, HDR);
	for (int i = 0; i < 100; i++)
		vd_ram(&f->mem, gpa[1])[i] = (uint8_t)(i * 7 + 1);
	vd_publish(&f->mem, &f->q[TXQ],
		   vd_chain(&f->mem, &f->q[TXQ], 2, gpa, len, 0));
	vd_wr(vd(f), VIRTIO_MMIO_QUEUE_NOTIFY, TXQ);
	drive(f);
	assert_int_equal(read(f->sp[1], got, sizeof(got)), HDR + 100);
	assert_true(frame_is(got + HDR, 100));
	assert_int_equal(vd_used_idx(&f->mem, &f->q[TXQ]), 1);
	vd_used_entry(&f->mem, &f->q[TXQ], 0, &id, &ulen);
	assert_int_equal(ulen, 0);
	/* A chain shorter than a header is dropped, but returned. */
	vd_publish(&f->mem, &f->q[TXQ],
		   vd_chain(&f->mem, &f->q[TXQ], 1, gpa,
			    (const uint32_t[]){ 5 }, 0));
	vd_wr(vd(f), VIRTIO_MMIO_QUEUE_NOTIFY, TXQ);
	drive(f);
	assert_int_equal(vd_used_idx(&f->mem, &f->q[TXQ]), 2);
	assert_int_equal(read(f->sp[1], got, sizeof(got)), -1);
	assert_int_equal(f->net.stats.tx_dropped, 1);
	assert_int_equal(f->net.stats.tx_frames, 1);
}

static void test_receive_one_buffer(void **state)
{
	struct fixture *f = *state;
	uint32_t id, len;
	uint8_t *b;
	uint16_t head;

	start(f, BASIC); /* no MRG_RXBUF */
	head = post_rx(f, 2048);
	drive(f);
	host_send(f, 300, 0x2 /* DATA_VALID */, 0);
	drive(f);
	assert_int_equal(vd_used_idx(&f->mem, &f->q[RXQ]), 1);
	vd_used_entry(&f->mem, &f->q[RXQ], 0, &id, &len);
	assert_int_equal(id, head);
	assert_int_equal(len, HDR + 300);
	b = vd_ram(&f->mem, rx_gpa(0));
	assert_int_equal(b[0], 0); /* no GUEST_CSUM: flags cleared */
	assert_int_equal(b[10] | b[11] << 8, 1); /* num_buffers */
	assert_true(frame_is(b + HDR, 300));
	/* Written into guest RAM: dirty for pre-copy. */
	assert_true(bitmap_test(&f->mem.vmm_dirty,
				mem_pfn_to_index(&f->mem,
						 rx_gpa(0) >> PAGE_SHIFT)));
}

/* MRG_RXBUF: 3000 bytes over three 1024-byte buffers, used together. */
static void test_receive_merged(void **state)
{
	struct fixture *f = *state;
	uint8_t frame[3000 + HDR];
	uint32_t id, len, total = 0;
	unsigned int k;

	start(f, MRG);
	for (k = 0; k < 4; k++)
		post_rx(f, 1024);
	drive(f);
	host_send(f, 3000, 0, 0);
	drive(f);
	assert_int_equal(vd_used_idx(&f->mem, &f->q[RXQ]), 3);
	for (k = 0; k < 3; k++) {
		vd_used_entry(&f->mem, &f->q[RXQ], k, &id, &len);
		assert_int_equal(id, k);
		memcpy(frame + total, vd_ram(&f->mem, rx_gpa(k)), len);
		total += len;
	}
	assert_int_equal(total, HDR + 3000);
	assert_int_equal(frame[10] | frame[11] << 8, 3);
	assert_true(frame_is(frame + HDR, 3000));
}

/* Too few buffers: the frame waits, the tap unwatched, nothing taken. */
static void test_receive_waits_for_buffers(void **state)
{
	struct fixture *f = *state;
	uint32_t id, len;

	start(f, MRG);
	post_rx(f, 1024);
	drive(f);
	host_send(f, 2000, 0, 0);
	host_send(f, 10, 0, 0);
	drive(f);
	assert_int_equal(vd_used_idx(&f->mem, &f->q[RXQ]), 0);
	assert_true(f->net.rx_waiting);
	assert_true(f->net.vd.watch[f->net.vd.nr_watch - 1].off);
	post_rx(f, 1024); /* the kick brings the device back */
	drive(f);
	assert_int_equal(vd_used_idx(&f->mem, &f->q[RXQ]), 2);
	vd_used_entry(&f->mem, &f->q[RXQ], 1, &id, &len);
	assert_int_equal(len, HDR + 2000 - 1024);
	post_rx(f, 1024);
	drive(f);
	assert_int_equal(vd_used_idx(&f->mem, &f->q[RXQ]), 3);
	assert_false(f->net.rx_waiting);
	assert_int_equal(f->net.stats.rx_frames, 2);
}

/*
 * Without MRG_RXBUF a frame larger than the buffer is dropped and the
 * buffer stays with the guest; not one byte is written past it.
 */
static void test_receive_never_past_a_buffer(void **state)
{
	struct fixture *f = *state;
	uint8_t *b = vd_ram(&f->mem, rx_gpa(0));
	uint32_t id, len;

	start(f, BASIC);
	memset(b, 0xcc, 0x2000);
	post_rx(f, 200);
	drive(f);
	host_send(f, 500, 0, 0); /* 512 bytes > 200 */
	drive(f);
	assert_int_equal(vd_used_idx(&f->mem, &f->q[RXQ]), 0);
	assert_int_equal(f->net.stats.rx_dropped, 1);
	for (int i = 0; i < 0x2000; i++)
		assert_int_equal(b[i], 0xcc);
	host_send(f, 150, 0, 0);
	drive(f);
	assert_int_equal(vd_used_idx(&f->mem, &f->q[RXQ]), 1);
	vd_used_entry(&f->mem, &f->q[RXQ], 0, &id, &len);
	assert_int_equal(len, HDR + 150);
	for (int i = 200; i < 0x2000; i++)
		assert_int_equal(b[i], 0xcc);
	/* MRG: a frame the whole ring cannot hold is dropped, ring kept. */
	virtio_net_type.destroy(&f->net);
	net_make(f, 0, 0);
	f->rx_next = 0;
	start(f, MRG);
	post_rx(f, 64);
	drive(f);
	for (unsigned int k = 1; k < QS; k++)
		post_rx(f, 64); /* 16 * 64 = 1024 bytes of ring */
	drive(f);
	host_send(f, 2000, 0, 0);
	host_send(f, 40, 0, 0);
	drive(f);
	assert_int_equal(f->net.stats.rx_dropped, 1);
	assert_int_equal(vd_used_idx(&f->mem, &f->q[RXQ]), 1);
}

/* A frame the driver did not agree to take is dropped. */
static void test_receive_header_rules(void **state)
{
	struct fixture *f = *state;

	start(f, MRG);
	post_rx(f, 2048);
	drive(f);
	host_send(f, 100, 0x1 /* NEEDS_CSUM */, 0);
	host_send(f, 100, 0, 1 /* GSO TCPv4 */);
	host_send(f, 100, 0, 3 /* GSO UDP */);
	host_send(f, 100, 0, 0x80 /* ECN */);
	drive(f);
	assert_int_equal(f->net.stats.rx_dropped, 4);
	assert_int_equal(vd_used_idx(&f->mem, &f->q[RXQ]), 0);
	host_send(f, 100, 0, 0);
	drive(f);
	assert_int_equal(vd_used_idx(&f->mem, &f->q[RXQ]), 1);
}

/* Rule breaking: NEEDS_RESET, one line, no crash, nothing written. */
static void test_rule_breaking(void **state)
{
	struct fixture *f = *state;
	const uint64_t gpa[] = { rx_gpa(0) };
	const uint32_t len[] = { 8 };

	start(f, MRG);
	/* A readable-only receive buffer. */
	vd_publish(&f->mem, &f->q[RXQ],
		   vd_chain(&f->mem, &f->q[RXQ], 1, gpa, len, 0));
	vd_wr(vd(f), VIRTIO_MMIO_QUEUE_NOTIFY, RXQ);
	drive(f);
	host_send(f, 100, 0, 0);
	drive(f);
	assert_true(vd_rd(vd(f), VIRTIO_MMIO_STATUS) &
		    VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(vd_used_idx(&f->mem, &f->q[RXQ]), 0);
	/* A reset brings it back; a writable buffer under 12 bytes fails. */
	start(f, MRG);
	vd_publish(&f->mem, &f->q[RXQ],
		   vd_chain(&f->mem, &f->q[RXQ], 1, gpa, len, 1));
	vd_wr(vd(f), VIRTIO_MMIO_QUEUE_NOTIFY, RXQ);
	drive(f);
	host_send(f, 100, 0, 0);
	drive(f);
	assert_true(vd_rd(vd(f), VIRTIO_MMIO_STATUS) &
		    VIRTIO_STATUS_NEEDS_RESET);
	/* A receive buffer outside RAM. */
	start(f, MRG);
	vd_publish(&f->mem, &f->q[RXQ],
		   vd_chain(&f->mem, &f->q[RXQ], 1,
			    (const uint64_t[]){ VD_MEM - 16 },
			    (const uint32_t[]){ 4096 }, 1));
	vd_wr(vd(f), VIRTIO_MMIO_QUEUE_NOTIFY, RXQ);
	drive(f);
	host_send(f, 100, 0, 0);
	drive(f);
	assert_true(vd_rd(vd(f), VIRTIO_MMIO_STATUS) &
		    VIRTIO_STATUS_NEEDS_RESET);
}

/* The driver's ANNOUNCE_ACK on the control queue: its ack byte. */
static uint8_t ctrl_ack(struct fixture *f, unsigned int k)
{
	const uint64_t gpa[] = { VD_DATA + 0x60000 + k * 0x100,
				 VD_DATA + 0x60080 + k * 0x100 };
	const uint32_t len[] = { 2, 1 };
	uint8_t *cmd = vd_ram(&f->mem, gpa[0]), *ack = vd_ram(&f->mem, gpa[1]);

	cmd[0] = 3; /* VIRTIO_NET_CTRL_ANNOUNCE */
	cmd[1] = 0; /* ..._ACK */
	*ack = 0x77;
	vd_publish(&f->mem, &f->q[CTRLQ],
		   vd_chain(&f->mem, &f->q[CTRLQ], 2, gpa, len, 1));
	vd_wr(vd(f), VIRTIO_MMIO_QUEUE_NOTIFY, CTRLQ);
	drive(f);
	return *ack;
}

static void test_announce(void **state)
{
	struct fixture *f = *state;
	uint8_t got[128], status;

	start(f, ANN);
	vd_irqs(&f->net.mmio);
	assert_int_equal(virtio_net_announce(&f->net), 1);
	/* The RARP frame went out behind a zero header. */
	assert_int_equal(read(f->sp[1], got, sizeof(got)), HDR + 60);
	assert_memory_equal(got + HDR + 6, the_mac, 6);
	assert_int_equal(got[HDR + 12], 0x80);
	assert_int_equal(got[HDR + 13], 0x35);
	/* The guest was asked: status bit, config interrupt, generation. */
	virtio_mmio_io(vd(f), VIRTIO_MMIO_CONFIG + 6, &status, 1, false);
	assert_int_equal(status, VIRTIO_NET_S_LINK_UP | VIRTIO_NET_S_ANNOUNCE);
	assert_true(vd_rd(vd(f), VIRTIO_MMIO_INTERRUPT_STATUS) &
		    VIRTIO_INT_CONFIG);
	assert_true(vd_irqs(&f->net.mmio) > 0);
	assert_int_equal(ctrl_ack(f, 0), 0); /* VIRTIO_NET_OK */
	virtio_mmio_io(vd(f), VIRTIO_MMIO_CONFIG + 6, &status, 1, false);
	assert_int_equal(status, VIRTIO_NET_S_LINK_UP);
	assert_int_equal(ctrl_ack(f, 1), 1); /* nothing to acknowledge */
	/* Without GUEST_ANNOUNCE: only the RARP frame. */
	start(f, MRG);
	assert_int_equal(virtio_net_announce(&f->net), 0);
	assert_int_equal(read(f->sp[1], got, sizeof(got)), HDR + 60);
	assert_int_equal(ctrl_ack(f, 2), 1); /* and an ACK is refused */
	/* Quiesced (paused): the guest is not touched. */
	start(f, ANN);
	virtio_net_type.quiesce(&f->net);
	assert_int_equal(virtio_net_announce(&f->net), 0);
	virtio_net_type.resume(&f->net);
}

/* 10 MB/s with a 20 ms credit: 200000 bytes go, the next waits. */
static void test_transmit_rate_limit(void **state)
{
	struct fixture *f = *state;
	uint64_t gpa[1];
	uint32_t len[1] = { 60000 };
	static uint8_t got[70000];
	unsigned int k, frames = 0;

	virtio_net_type.destroy(&f->net);
	net_make(f, 10000000, 20000);
	start(f, MRG);
	for (k = 0; k < 4; k++) {
		gpa[0] = VD_DATA + 0x80000 + k * 0x10000;
		memset(vd_ram(&f->mem, gpa[0]), 0, HDR);
		vd_publish(&f->mem, &f->q[TXQ],
			   vd_chain(&f->mem, &f->q[TXQ], 1, gpa, len, 0));
	}
	vd_wr(vd(f), VIRTIO_MMIO_QUEUE_NOTIFY, TXQ);
	drive(f);
	while (read(f->sp[1], got, sizeof(got)) > 0)
		frames++;
	assert_int_equal(frames, 3);
	assert_int_equal(vd_used_idx(&f->mem, &f->q[TXQ]), 3);
	assert_true(f->net.tx_waiting);
	/* The timer fires within about 4 ms; wait up to a second. */
	for (k = 0; k < 100 && f->net.tx_waiting; k++)
		virtio_poll(vd(f), 10);
	assert_false(f->net.tx_waiting);
	assert_int_equal(read(f->sp[1], got, sizeof(got)), 60000);
	assert_int_equal(vd_used_idx(&f->mem, &f->q[TXQ]), 4);
}

static void save_state(struct fixture *f, struct virtio_net_state *st)
{
	memset(st, 0, sizeof(*st));
	virtio_net_type.quiesce(&f->net);
	virtio_net_type.save(&f->net, st);
	virtio_net_type.resume(&f->net);
}

static void refused(struct fixture *f, const struct virtio_net_state *st,
		    const char *want)
{
	assert_int_equal(virtio_net_type.check(&f->env, st, f->why,
					       sizeof(f->why)),
			 -EINVAL);
	if (!strstr(f->why, want))
		fail_msg("refusal '%s' does not say '%s'", f->why, want);
}

static void test_save_check_load(void **state)
{
	struct fixture *f = *state;
	struct virtio_net_state st, bad;
	uint32_t id, len;

	start(f, ANN);
	assert_int_equal(virtio_net_announce(&f->net), 1);
	save_state(f, &st);
	assert_memory_equal(st.mac, the_mac, 6);
	assert_int_equal(st.status,
			 VIRTIO_NET_S_LINK_UP | VIRTIO_NET_S_ANNOUNCE);
	assert_int_equal(st.vio.device_id, VIRTIO_ID_NET);
	assert_int_equal(
		virtio_net_type.check(&f->env, &st, f->why, sizeof(f->why)), 0);
	/* A second device takes the state and carries on from it. */
	virtio_net_type.destroy(&f->net);
	net_make(f, 0, 0);
	virtio_net_type.quiesce(&f->net);
	assert_int_equal(virtio_net_type.load(&f->net, &st), 0);
	virtio_net_type.resume(&f->net);
	drive(f);
	post_rx(f, 2048);
	drive(f);
	host_send(f, 64, 0, 0);
	drive(f);
	assert_int_equal(vd_used_idx(&f->mem, &f->q[RXQ]), 1);
	vd_used_entry(&f->mem, &f->q[RXQ], 0, &id, &len);
	assert_int_equal(len, HDR + 64);
	assert_int_equal(ctrl_ack(f, 0), 0); /* the pending announcement */

	bad = st;
	bad.mac[0] = 1;
	refused(f, &bad, "not a unicast address");
	bad = st;
	bad.status |= 4;
	refused(f, &bad, "status 0x7");
	bad = st;
	bad.vio.driver_features &= ~BIT(VIRTIO_NET_F_GUEST_ANNOUNCE);
	refused(f, &bad, "announcement is pending");
	bad = st;
	bad.features |= BIT(22); /* MQ: not offered here */
	refused(f, &bad, "offered features");
	bad = st;
	bad.features &= ~BIT(VIRTIO_NET_F_MRG_RXBUF);
	refused(f, &bad, "were not offered");
	bad = st;
	bad.max_virtqueue_pairs = 2;
	refused(f, &bad, "2 queue pairs");
	bad = st;
	bad.vio.queue[RXQ].desc = VD_MEM; /* outside RAM */
	refused(f, &bad, "outside RAM");
	/* Another interface's state: the MAC is not this one's. Without
	 * the configuration (arg) check cannot know; load refuses it. */
	bad = st;
	bad.mac[5] ^= 1;
	assert_int_equal(virtio_net_type.check(&f->env, &bad, f->why,
					       sizeof(f->why)),
			 0);
	{
		struct virtio_net_conf conf = { .tap_fd = -1 };
		struct dev_env env = f->env;

		memcpy(conf.mac, the_mac, 6);
		env.arg = &conf;
		assert_int_equal(virtio_net_type.check(&env, &st, f->why,
						       sizeof(f->why)),
				 0);
		assert_int_equal(virtio_net_type.check(&env, &bad, f->why,
						       sizeof(f->why)),
				 -EINVAL);
		assert_non_null(strstr(
			f->why,
			"mac 00:16:3e:56:af:68, but the configuration gives this interface 00:16:3e:56:af:69"));
	}
	virtio_net_type.quiesce(&f->net);
	assert_int_equal(virtio_net_type.load(&f->net, &bad), -EINVAL);
	virtio_net_type.resume(&f->net);
}

int main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_config_space_and_features,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_transmit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_receive_one_buffer, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_receive_merged, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_receive_waits_for_buffers,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_receive_never_past_a_buffer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_receive_header_rules,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_rule_breaking, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_announce, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transmit_rate_limit, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_save_check_load, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
