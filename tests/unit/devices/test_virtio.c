/*
 * Unit tests of the virtio-mmio transport and the virtio core, driven by
 * a simulated driver (vdriver.h) through the register window as a vCPU
 * would, with guest RAM as a plain buffer and a small test model ("echo":
 * queue 0 copies each request's readable bytes into its writable part).
 * They cover the identification registers, feature negotiation, queue
 * setup and its refusals, a request through a kick, the interrupt line
 * (raise, acknowledge, resample), EVENT_IDX interrupt suppression,
 * DEVICE_NEEDS_RESET for a driver that breaks the rules, reset,
 * malformed accesses, config space, the saved state (round trip and
 * every refusal) and the I/O thread: a quiesce or a reset waits for work
 * in progress to finish, and a resume looks at every queue again.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "vdriver.h"

#define ECHO_ID 42
#define ECHO_QMAX 64
#define ECHO_FEATURE 0 /* a model feature bit, offered */
#define QS 16
#define ALL_FEATURES (~0ULL)
#define BASE 0xd0000000ULL
#define GSI 16

static const struct dev_env env_ok = { .mem_bytes = VD_MEM,
				       .res = { BASE, GSI } };

struct echo {
	struct virtio_dev vd;
	struct virtio_mmio mmio;
	int resets, drains, wakes;
	uint32_t config_reg;
	int slow_ms; /* queue work takes this long (thread tests) */
	int done; /* requests completed */
};

static void echo_work(struct virtio_dev *vd, unsigned int qi)
{
	struct echo *e = (struct echo *)vd;
	struct vq *q = virtio_live_queue(vd, qi);
	struct vq_buf bufs[8];
	struct vq_elem el = { .buf = bufs, .max = 8 };
	uint8_t data[256];
	size_t n;

	while (q && virtio_pop(vd, q, &el) > 0) {
		if (e->slow_ms)
			usleep(e->slow_ms * 1000);
		n = vq_copy_from(&el, 0, data, sizeof(data));
		n = vq_copy_to(q, &el, 0, data, n);
		virtio_push(vd, q, &el, n);
		__atomic_add_fetch(&e->done, 1, __ATOMIC_SEQ_CST);
	}
	if (q)
		virtio_flush(vd, qi);
}

static void echo_wake(struct virtio_dev *vd)
{
	((struct echo *)vd)->wakes++;
}

static void echo_drain(struct virtio_dev *vd)
{
	__atomic_add_fetch(&((struct echo *)vd)->drains, 1, __ATOMIC_SEQ_CST);
}

static void echo_config_write(struct virtio_dev *vd, uint32_t off,
			      const uint8_t *data, uint32_t len)
{
	if (off == 4 && len == 4)
		memcpy(vd->config + 4, data, 4);
}

static void echo_reset(struct virtio_dev *vd)
{
	uint32_t magic = 0x12345678;

	((struct echo *)vd)->resets++;
	memset(vd->config, 0, sizeof(vd->config));
	memcpy(vd->config, &magic, 4);
}

static const struct virtio_model echo_model = {
	.name = "echo",
	.device_id = ECHO_ID,
	.num_queues = 2,
	.queue_max = ECHO_QMAX,
	.features = 1ULL << ECHO_FEATURE,
	.config_size = 8,
	.queue_work = echo_work,
	.wake = echo_wake,
	.drain = echo_drain,
	.config_write = echo_config_write,
	.reset = echo_reset,
};

struct fixture {
	struct guest_mem mem;
	struct echo a, b;
	struct vdq q[2];
	char why[256];
};

static void echo_setup(struct fixture *f, struct echo *e)
{
	const struct dev_res res = { BASE, GSI };

	memset(e, 0, sizeof(*e));
	assert_int_equal(virtio_init(&e->vd, &echo_model,
				     &virtio_mmio_transport, &f->mem, "echo0"),
			 0);
	assert_int_equal(virtio_mmio_init(&e->mmio, &e->vd, NULL, &res), 0);
	virtio_reset(&e->vd);
}

static void echo_teardown(struct echo *e)
{
	virtio_destroy(&e->vd);
	virtio_mmio_destroy(&e->mmio);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || mem_init(&f->mem, VD_MEM))
		return -1;
	echo_setup(f, &f->a);
	echo_setup(f, &f->b);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	echo_teardown(&f->a);
	echo_teardown(&f->b);
	mem_destroy(&f->mem);
	free(f);
	return 0;
}

/* A request: "ping" (or text) readable, 16 bytes writable. */
static uint16_t request(struct fixture *f, struct vdq *q, const char *text,
			unsigned int k)
{
	const uint64_t gpa[] = { VD_DATA + k * 0x100,
				 VD_DATA + k * 0x100 + 0x80 };
	const uint32_t len[] = { (uint32_t)strlen(text), 16 };
	uint16_t head;

	memcpy(vd_ram(&f->mem, gpa[0]), text, len[0]);
	head = vd_chain(&f->mem, q, 2, gpa, len, 1);
	vd_publish(&f->mem, q, head);
	return head;
}

static void drive(struct echo *e)
{
	while (virtio_poll(&e->vd, 0) > 0)
		;
}

static uint32_t status(struct echo *e)
{
	return vd_rd(&e->vd, VIRTIO_MMIO_STATUS);
}

static void test_identity(void **state)
{
	struct fixture *f = *state;
	struct virtio_dev *vd = &f->a.vd;

	assert_int_equal(vd_rd(vd, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	assert_int_equal(vd_rd(vd, VIRTIO_MMIO_VERSION), 2);
	assert_int_equal(vd_rd(vd, VIRTIO_MMIO_DEVICE_ID), ECHO_ID);
	assert_int_equal(vd_rd(vd, VIRTIO_MMIO_VENDOR_ID), 0x57444f47);
	assert_int_equal(vd_rd(vd, VIRTIO_MMIO_SHM_LEN_LOW), 0xffffffff);
	assert_int_equal(vd_rd(vd, VIRTIO_MMIO_SHM_LEN_HIGH), 0xffffffff);
	assert_int_equal(vd_rd(vd, VIRTIO_MMIO_CONFIG_GENERATION), 0);
	assert_int_equal(vd_rd(vd, VIRTIO_MMIO_STATUS), 0);
	/* Write-only registers read as zero. */
	assert_int_equal(vd_rd(vd, VIRTIO_MMIO_QUEUE_NOTIFY), 0);
	assert_int_equal(vd_rd(vd, VIRTIO_MMIO_QUEUE_DESC_LOW), 0);
	/* Two queues of up to 64; no third. */
	vd_wr(vd, VIRTIO_MMIO_QUEUE_SEL, 1);
	assert_int_equal(vd_rd(vd, VIRTIO_MMIO_QUEUE_NUM_MAX), ECHO_QMAX);
	assert_int_equal(vd_rd(vd, VIRTIO_MMIO_QUEUE_READY), 0);
	vd_wr(vd, VIRTIO_MMIO_QUEUE_SEL, 2);
	assert_int_equal(vd_rd(vd, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	vd_wr(vd, VIRTIO_MMIO_QUEUE_READY, 1);
	assert_int_equal(vd_rd(vd, VIRTIO_MMIO_QUEUE_READY), 0);
	assert_int_equal(status(&f->a), 0);
}

static void negotiate(struct virtio_dev *vd, uint64_t features)
{
	vd_wr(vd, VIRTIO_MMIO_STATUS, 0);
	vd_wr(vd, VIRTIO_MMIO_STATUS, 3);
	vd_wr(vd, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	vd_wr(vd, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
	vd_wr(vd, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	vd_wr(vd, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
	vd_wr(vd, VIRTIO_MMIO_STATUS, 3 | VIRTIO_STATUS_FEATURES_OK);
}

static void test_features(void **state)
{
	struct fixture *f = *state;
	struct virtio_dev *vd = &f->a.vd;
	struct virtio_mmio_state st;
	const uint64_t v1 = 1ULL << VIRTIO_F_VERSION_1;

	vd_wr(vd, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	assert_int_equal(vd_rd(vd, VIRTIO_MMIO_DEVICE_FEATURES),
			 (1u << 28) | (1u << 29) | (1u << ECHO_FEATURE));
	vd_wr(vd, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	assert_int_equal(vd_rd(vd, VIRTIO_MMIO_DEVICE_FEATURES), 1);
	vd_wr(vd, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 2);
	assert_int_equal(vd_rd(vd, VIRTIO_MMIO_DEVICE_FEATURES), 0);
	/* Modern only: no VERSION_1, no FEATURES_OK. */
	negotiate(vd, 1ULL << VIRTIO_RING_F_EVENT_IDX);
	assert_int_equal(status(&f->a), 3);
	/* Nor for a feature that was not offered. */
	negotiate(vd, v1 | (1ULL << 5));
	assert_int_equal(status(&f->a), 3);
	negotiate(vd, v1 | (1ULL << ECHO_FEATURE));
	assert_int_equal(status(&f->a), 3 | VIRTIO_STATUS_FEATURES_OK);
	/* Fixed from now on; bits only accumulate; NEEDS_RESET is ours. */
	vd_wr(vd, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	vd_wr(vd, VIRTIO_MMIO_DRIVER_FEATURES, 1u << 29);
	vd_wr(vd, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_NEEDS_RESET | 1);
	assert_int_equal(status(&f->a), 3 | VIRTIO_STATUS_FEATURES_OK);
	memset(&st, 0, sizeof(st));
	virtio_mmio_save(vd, &st);
	assert_int_equal(st.driver_features, v1 | (1ULL << ECHO_FEATURE));
}

static void expect_needs_reset(struct fixture *f)
{
	assert_true(status(&f->a) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(vd_rd(&f->a.vd, VIRTIO_MMIO_QUEUE_READY), 0);
}

/* Queue setup the device refuses: NEEDS_RESET, queue stays not ready. */
static void test_queue_refused(void **state)
{
	struct fixture *f = *state;
	struct virtio_dev *vd = &f->a.vd;
	struct vdq q;

	negotiate(vd, 1ULL << VIRTIO_F_VERSION_1);
	vd_queue_config(vd, &q, 0, 6); /* not a power of two */
	vd_wr(vd, VIRTIO_MMIO_QUEUE_READY, 1);
	expect_needs_reset(f);
	/* No DRIVER_OK yet: no configuration interrupt. */
	assert_int_equal(vd_rd(vd, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	assert_int_equal(vd_irqs(&f->a.mmio), 0);
	negotiate(vd, 1ULL << VIRTIO_F_VERSION_1);
	assert_false(status(&f->a) & VIRTIO_STATUS_NEEDS_RESET);
	vd_queue_config(vd, &q, 0, 128); /* above QueueNumMax */
	vd_wr(vd, VIRTIO_MMIO_QUEUE_READY, 1);
	expect_needs_reset(f);
	negotiate(vd, 1ULL << VIRTIO_F_VERSION_1);
	vd_queue_config(vd, &q, 0, 16);
	vd_wr(vd, VIRTIO_MMIO_QUEUE_DEVICE_LOW, VD_MEM - 8); /* used ring */
	vd_wr(vd, VIRTIO_MMIO_QUEUE_READY, 1);
	expect_needs_reset(f);
	negotiate(vd, 1ULL << VIRTIO_F_VERSION_1);
	vd_queue_config(vd, &q, 0, 16);
	vd_wr(vd, VIRTIO_MMIO_QUEUE_DESC_HIGH, 1); /* above 4 GiB: no RAM */
	vd_wr(vd, VIRTIO_MMIO_QUEUE_READY, 1);
	expect_needs_reset(f);
	/* A 2^16 size does not wrap to a small one. */
	negotiate(vd, 1ULL << VIRTIO_F_VERSION_1);
	vd_queue_config(vd, &q, 0, 16);
	vd_wr(vd, VIRTIO_MMIO_QUEUE_NUM, 0x10010);
	vd_wr(vd, VIRTIO_MMIO_QUEUE_READY, 1);
	expect_needs_reset(f);
}

/* Queue registers are frozen while the queue is ready. */
static void test_queue_frozen_when_ready(void **state)
{
	struct fixture *f = *state;
	struct virtio_mmio_state st;

	vd_driver_init(&f->a.vd, f->q, 2, QS, ALL_FEATURES);
	vd_wr(&f->a.vd, VIRTIO_MMIO_QUEUE_SEL, 0);
	vd_wr(&f->a.vd, VIRTIO_MMIO_QUEUE_NUM, 8);
	vd_wr(&f->a.vd, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x1000);
	memset(&st, 0, sizeof(st));
	virtio_mmio_save(&f->a.vd, &st);
	assert_int_equal(st.queue[0].size, QS);
	assert_int_equal(st.queue[0].desc, f->q[0].desc);
	/* Disabling it makes them writable again. */
	vd_wr(&f->a.vd, VIRTIO_MMIO_QUEUE_READY, 0);
	assert_int_equal(vd_rd(&f->a.vd, VIRTIO_MMIO_QUEUE_READY), 0);
	vd_wr(&f->a.vd, VIRTIO_MMIO_QUEUE_NUM, 8);
	virtio_mmio_save(&f->a.vd, &st);
	assert_int_equal(st.queue[0].size, 8);
}

/* A request through a kick, the interrupt, its acknowledgement. */
static void test_request(void **state)
{
	struct fixture *f = *state;
	struct echo *e = &f->a;
	uint16_t head;
	uint32_t id, len;

	vd_driver_init(&e->vd, f->q, 2, QS, 1ULL << VIRTIO_F_VERSION_1);
	drive(e); /* DRIVER_OK looked at every queue: nothing there */
	assert_int_equal(vd_irqs(&e->mmio), 0);
	head = request(f, &f->q[0], "ping", 0);
	vd_wr(&e->vd, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	drive(e);
	assert_int_equal(vd_used_idx(&f->mem, &f->q[0]), 1);
	vd_used_entry(&f->mem, &f->q[0], 0, &id, &len);
	assert_int_equal(id, head);
	assert_int_equal(len, 4);
	assert_memory_equal(vd_ram(&f->mem, VD_DATA + 0x80), "ping", 4);
	assert_int_equal(vd_rd(&e->vd, VIRTIO_MMIO_INTERRUPT_STATUS),
			 VIRTIO_INT_USED);
	assert_int_equal(vd_irqs(&e->mmio), 1);
	/* The EOI with nothing acknowledged: up again. */
	assert_int_equal(write(e->mmio.line.resample_fd, &(uint64_t){ 1 }, 8),
			 8);
	drive(e);
	assert_int_equal(vd_irqs(&e->mmio), 1);
	/* Acknowledged, then EOI: stays down. */
	vd_wr(&e->vd, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_INT_USED);
	assert_int_equal(vd_rd(&e->vd, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	assert_int_equal(write(e->mmio.line.resample_fd, &(uint64_t){ 1 }, 8),
			 8);
	drive(e);
	assert_int_equal(vd_irqs(&e->mmio), 0);
	/* A kick of a queue that does not exist is ignored. */
	vd_wr(&e->vd, VIRTIO_MMIO_QUEUE_NOTIFY, 7);
	drive(e);
	assert_int_equal(e->done, 1);
}

/* Buffers made available before DRIVER_OK are seen at DRIVER_OK. */
static void test_kick_before_driver_ok(void **state)
{
	struct fixture *f = *state;
	struct echo *e = &f->a;

	negotiate(&e->vd, 1ULL << VIRTIO_F_VERSION_1);
	vd_queue_config(&e->vd, &f->q[0], 0, QS);
	vd_wr(&e->vd, VIRTIO_MMIO_QUEUE_READY, 1);
	request(f, &f->q[0], "early", 0);
	vd_wr(&e->vd, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	drive(e);
	assert_int_equal(vd_used_idx(&f->mem, &f->q[0]), 0);
	vd_wr(&e->vd, VIRTIO_MMIO_STATUS, status(e) | VIRTIO_STATUS_DRIVER_OK);
	drive(e);
	assert_int_equal(vd_used_idx(&f->mem, &f->q[0]), 1);
}

/* With EVENT_IDX the driver's used_event decides the interrupt. */
static void test_event_idx_interrupts(void **state)
{
	struct fixture *f = *state;
	struct echo *e = &f->a;
	uint64_t used_event = f->q[0].avail;

	vd_driver_init(&e->vd, f->q, 2, QS, ALL_FEATURES);
	used_event = f->q[0].avail + 4 + 2 * QS;
	vd_put16(&f->mem, used_event, 0);
	request(f, &f->q[0], "a", 0);
	vd_wr(&e->vd, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	drive(e);
	assert_int_equal(vd_irqs(&e->mmio), 1); /* first one always */
	vd_wr(&e->vd, VIRTIO_MMIO_INTERRUPT_ACK, 1);
	vd_put16(&f->mem, used_event, 2); /* wake me after entry 2 */
	request(f, &f->q[0], "b", 1);
	vd_wr(&e->vd, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	drive(e);
	assert_int_equal(vd_used_idx(&f->mem, &f->q[0]), 2);
	assert_int_equal(vd_irqs(&e->mmio), 0);
	assert_int_equal(vd_rd(&e->vd, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	request(f, &f->q[0], "c", 2);
	vd_wr(&e->vd, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	drive(e);
	assert_int_equal(vd_irqs(&e->mmio), 1);
	/* The device asks for a kick at the next entry (avail_event). */
	assert_int_equal(vd_get16(&f->mem, f->q[0].used + 4 + 8 * QS), 3);
}

/* A driver that breaks the rules: NEEDS_RESET, config interrupt, stop. */
static void test_needs_reset(void **state)
{
	struct fixture *f = *state;
	struct echo *e = &f->a;
	const uint64_t gpa[] = { VD_MEM + 0x1000 };
	const uint32_t len[] = { 4 };

	vd_driver_init(&e->vd, f->q, 2, QS, 1ULL << VIRTIO_F_VERSION_1);
	vd_publish(&f->mem, &f->q[0],
		   vd_chain(&f->mem, &f->q[0], 1, gpa, len, 0));
	request(f, &f->q[0], "ok", 1);
	vd_wr(&e->vd, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	drive(e);
	assert_true(status(e) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(vd_rd(&e->vd, VIRTIO_MMIO_INTERRUPT_STATUS),
			 VIRTIO_INT_CONFIG);
	assert_int_equal(vd_irqs(&e->mmio), 1);
	assert_int_equal(e->done, 0);
	/* No more work until a reset, kick or not. */
	vd_wr(&e->vd, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	drive(e);
	assert_int_equal(e->done, 0);
	assert_int_equal(vd_used_idx(&f->mem, &f->q[0]), 0);
	/* After a reset the driver starts again and it works. */
	memset(vd_ram(&f->mem, f->q[0].avail), 0, 4 + 2 * QS);
	memset(vd_ram(&f->mem, f->q[0].used), 0, 4 + 8 * QS);
	vd_driver_init(&e->vd, f->q, 2, QS, 1ULL << VIRTIO_F_VERSION_1);
	assert_false(status(e) & VIRTIO_STATUS_NEEDS_RESET);
	request(f, &f->q[0], "again", 2);
	vd_wr(&e->vd, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	drive(e);
	assert_int_equal(e->done, 1);
}

static void test_reset(void **state)
{
	struct fixture *f = *state;
	struct echo *e = &f->a;
	struct virtio_mmio_state st, zero;
	int resets = e->resets;

	vd_driver_init(&e->vd, f->q, 2, QS, ALL_FEATURES);
	request(f, &f->q[0], "x", 0);
	vd_wr(&e->vd, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	drive(e);
	vd_wr(&e->vd, VIRTIO_MMIO_QUEUE_SEL, 1);
	vd_wr(&e->vd, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(e->resets, resets + 2); /* init reset, and this */
	memset(&st, 0, sizeof(st));
	memset(&zero, 0, sizeof(zero));
	virtio_save_state(&e->vd, &st);
	zero.device_id = ECHO_ID;
	zero.num_queues = 2;
	assert_memory_equal(&st, &zero, sizeof(st));
}

/* Non-32-bit register accesses are ignored; config space takes any. */
static void test_access_widths(void **state)
{
	struct fixture *f = *state;
	struct virtio_dev *vd = &f->a.vd;
	uint8_t b[8] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	uint32_t v = 0x0badcafe;
	uint64_t q;

	virtio_mmio_io(vd, VIRTIO_MMIO_STATUS, b, 1, true);
	assert_int_equal(status(&f->a), 0);
	virtio_mmio_io(vd, VIRTIO_MMIO_MAGIC_VALUE, b, 2, false);
	assert_int_equal(b[0] | b[1], 0);
	virtio_mmio_io(vd, VIRTIO_MMIO_MAGIC_VALUE + 2, b, 4, false);
	assert_int_equal(b[0] | b[1] | b[2] | b[3], 0);
	virtio_mmio_io(vd, VIRTIO_MMIO_CONFIG + 1, b, 1, false);
	assert_int_equal(b[0], 0x56);
	virtio_mmio_io(vd, VIRTIO_MMIO_CONFIG, b, 2, false);
	assert_int_equal(b[0], 0x78);
	virtio_mmio_io(vd, VIRTIO_MMIO_CONFIG + 4, (uint8_t *)&v, 4, true);
	virtio_mmio_io(vd, VIRTIO_MMIO_CONFIG, (uint8_t *)&q, 8, false);
	assert_int_equal(q, 0x0badcafe12345678ULL);
	/* Past the model's config space: zeros, writes dropped. */
	virtio_mmio_io(vd, VIRTIO_MMIO_CONFIG + 6, (uint8_t *)&v, 4, false);
	assert_int_equal(v, 0);
	virtio_mmio_io(vd, VIRTIO_MMIO_CONFIG + 0x40, b, 4, true);
}

/* Run a few requests, leave an interrupt pending, then save. */
static void busy_device(struct fixture *f, struct virtio_mmio_state *st)
{
	struct echo *e = &f->a;
	unsigned int i;

	vd_driver_init(&e->vd, f->q, 2, QS, ALL_FEATURES);
	for (i = 0; i < 3; i++) {
		request(f, &f->q[0], "req", i);
		vd_wr(&e->vd, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
		drive(e);
	}
	vd_wr(&e->vd, VIRTIO_MMIO_QUEUE_SEL, 1);
	vd_wr(&e->vd, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	memset(st, 0, sizeof(*st));
	virtio_mmio_save(&e->vd, st);
}

static void test_save_load(void **state)
{
	struct fixture *f = *state;
	struct virtio_mmio_state st, st2;
	struct echo *b = &f->b;
	uint32_t id, len;

	busy_device(f, &st);
	assert_int_equal(st.mmio_base, BASE);
	assert_int_equal(st.gsi, GSI);
	assert_int_equal(st.queue[0].next_avail, 3);
	assert_int_equal(st.queue[0].next_used, 3);
	assert_int_equal(st.interrupt_status, VIRTIO_INT_USED);
	assert_int_equal(virtio_mmio_check(&echo_model, &env_ok, &st, f->why,
					   sizeof(f->why)),
			 0);
	virtio_quiesce(&b->vd);
	assert_int_equal(virtio_mmio_load(&b->vd, &st), 0);
	memset(&st2, 0, sizeof(st2));
	virtio_mmio_save(&b->vd, &st2);
	assert_memory_equal(&st, &st2, sizeof(st));
	assert_int_equal(status(b), status(&f->a));
	assert_int_equal(vd_rd(&b->vd, VIRTIO_MMIO_QUEUE_SEL), 0);
	assert_int_equal(vd_rd(&b->vd, VIRTIO_MMIO_DEVICE_FEATURES), 1);
	/* A request made while "in transit", without a kick. */
	request(f, &f->q[0], "late", 3);
	assert_int_equal(vd_irqs(&b->mmio), 0);
	virtio_resume(&b->vd);
	/* Resume raised the pending interrupt and looked at the queues. */
	assert_int_equal(vd_irqs(&b->mmio), 1);
	drive(b);
	assert_int_equal(vd_used_idx(&f->mem, &f->q[0]), 4);
	vd_used_entry(&f->mem, &f->q[0], 3, &id, &len);
	assert_int_equal(len, 4);
	assert_memory_equal(vd_ram(&f->mem, VD_DATA + 0x380), "late", 4);
}

struct reject {
	const char *what;
	void (*mutate)(struct virtio_mmio_state *st);
};

#define MUT(name, body)                                \
	static void name(struct virtio_mmio_state *st) \
	{                                              \
		body;                                  \
	}
MUT(m_id, st->device_id = 3)
MUT(m_nq, st->num_queues = 3)
MUT(m_res, st->reserved = 1)
MUT(m_feat, st->driver_features |= 1ULL << 40)
MUT(m_status, st->status |= 0x10)
MUT(m_v1, st->driver_features &= ~(1ULL << VIRTIO_F_VERSION_1))
MUT(m_isr, st->interrupt_status = 4)
MUT(m_ready, st->queue[0].ready = 2)
MUT(m_size, st->queue[0].size = 12)
MUT(m_max, st->queue[0].size = 128)
MUT(m_ram, st->queue[0].desc = VD_MEM)
MUT(m_align, st->queue[1].device += 2)
MUT(m_flight, st->queue[0].next_avail = st->queue[0].next_used + QS + 1)
MUT(m_extra, st->queue[5].size = 1)
MUT(m_qres, st->queue[1].reserved[1] = 1)
MUT(m_base, st->mmio_base += 0x1000)
MUT(m_gsi, st->gsi = 17)

static const struct reject rejects[] = {
	{ "virtio device id 3, but this device is echo (42)", m_id },
	{ "3 queues, but echo has 2", m_nq },
	{ "reserved field is not zero", m_res },
	{ "acknowledged features 0x10130000001 are not all offered", m_feat },
	{ "status 0x", m_status },
	{ "status 0x", m_v1 },
	{ "interrupt status 0x4", m_isr },
	{ "queue 0: ready 2 is not 0 or 1", m_ready },
	{ "queue 0: queue size 12 is not a power of two in 1..64", m_size },
	{ "queue 0: queue size 128 is not a power of two in 1..64", m_max },
	{ "queue 0: descriptor table at 0x400000 is outside RAM", m_ram },
	{ "queue 1: rings at", m_align },
	{ "queue 0: next_avail 20 is 17 entries past next_used 3, more than the queue size 16",
	  m_flight },
	{ "queue 5 does not exist but has state", m_extra },
	{ "queue 1: reserved field is not zero", m_qres },
	{ "virtio-mmio window 0xd0001000, GSI 16, but this VM has it at 0xd0000000, GSI 16",
	  m_base },
	{ "GSI 17", m_gsi },
};

static void test_check_rejects(void **state)
{
	struct fixture *f = *state;
	struct virtio_mmio_state good, st;
	struct dev_env small = env_ok;
	unsigned int i;

	busy_device(f, &good);
	for (i = 0; i < sizeof(rejects) / sizeof(rejects[0]); i++) {
		st = good;
		rejects[i].mutate(&st);
		f->why[0] = 0;
		assert_int_equal(virtio_mmio_check(&echo_model, &env_ok, &st,
						   f->why, sizeof(f->why)),
				 -EINVAL);
		if (!strstr(f->why, rejects[i].what))
			fail_msg("case %u: \"%s\" does not say \"%s\"", i,
				 f->why, rejects[i].what);
	}
	/* Rings inside RAM depend on the VM's RAM size. */
	small.mem_bytes = 1 * MIB;
	assert_int_equal(virtio_mmio_check(&echo_model, &small, &good, f->why,
					   sizeof(f->why)),
			 -EINVAL);
	assert_non_null(strstr(f->why, "outside RAM"));
	/* A queue that is not ready keeps whatever was written. */
	st = good;
	st.queue[1].ready = 0;
	st.queue[1].size = 12;
	st.queue[1].desc = ~0ULL;
	assert_int_equal(virtio_mmio_check(&echo_model, &env_ok, &st, f->why,
					   sizeof(f->why)),
			 0);
}

/* ---- With an I/O thread ------------------------------------------------ */

static void wait_done(struct echo *e, int n)
{
	int i;

	for (i = 0; i < 2000 && __atomic_load_n(&e->done, __ATOMIC_SEQ_CST) < n;
	     i++)
		usleep(1000);
	assert_int_equal(__atomic_load_n(&e->done, __ATOMIC_SEQ_CST), n);
}

/*
 * A quiesce waits for the request in progress and the drain; while
 * quiesced nothing runs; the resume looks at the queue again.
 */
static void test_thread_quiesce(void **state)
{
	struct fixture *f = *state;
	struct echo *e = &f->a;

	vd_driver_init(&e->vd, f->q, 2, QS, 1ULL << VIRTIO_F_VERSION_1);
	assert_int_equal(virtio_start_thread(&e->vd), 0);
	e->slow_ms = 200;
	request(f, &f->q[0], "slow", 0);
	vd_wr(&e->vd, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	usleep(50 * 1000); /* the thread is inside the request now */
	virtio_quiesce(&e->vd);
	assert_int_equal(__atomic_load_n(&e->done, __ATOMIC_SEQ_CST), 1);
	assert_int_equal(vd_used_idx(&f->mem, &f->q[0]), 1);
	assert_int_equal(__atomic_load_n(&e->drains, __ATOMIC_SEQ_CST), 1);
	e->slow_ms = 0;
	request(f, &f->q[0], "held", 1);
	vd_wr(&e->vd, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	usleep(100 * 1000);
	assert_int_equal(__atomic_load_n(&e->done, __ATOMIC_SEQ_CST), 1);
	/* Quiesce nests. */
	virtio_quiesce(&e->vd);
	virtio_resume(&e->vd);
	usleep(50 * 1000);
	assert_int_equal(__atomic_load_n(&e->done, __ATOMIC_SEQ_CST), 1);
	virtio_resume(&e->vd);
	wait_done(e, 2);
}

/* A reset from a vCPU waits for the I/O thread to leave the rings. */
static void test_thread_reset(void **state)
{
	struct fixture *f = *state;
	struct echo *e = &f->a;

	vd_driver_init(&e->vd, f->q, 2, QS, 1ULL << VIRTIO_F_VERSION_1);
	assert_int_equal(virtio_start_thread(&e->vd), 0);
	e->slow_ms = 200;
	request(f, &f->q[0], "slow", 0);
	vd_wr(&e->vd, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	usleep(50 * 1000);
	vd_wr(&e->vd, VIRTIO_MMIO_STATUS, 0);
	/* The request finished before the reset took the queue away. */
	assert_int_equal(__atomic_load_n(&e->done, __ATOMIC_SEQ_CST), 1);
	assert_int_equal(vd_used_idx(&f->mem, &f->q[0]), 1);
	assert_int_equal(status(e), 0);
	/* The thread runs on after the reset. */
	e->slow_ms = 0;
	memset(vd_ram(&f->mem, f->q[0].avail), 0, 4 + 2 * QS);
	memset(vd_ram(&f->mem, f->q[0].used), 0, 4 + 8 * QS);
	vd_driver_init(&e->vd, f->q, 2, QS, 1ULL << VIRTIO_F_VERSION_1);
	request(f, &f->q[0], "again", 1);
	vd_wr(&e->vd, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	wait_done(e, 2);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_identity),
		T(test_features),
		T(test_queue_refused),
		T(test_queue_frozen_when_ready),
		T(test_request),
		T(test_kick_before_driver_ok),
		T(test_event_idx_interrupts),
		T(test_needs_reset),
		T(test_reset),
		T(test_access_widths),
		T(test_save_load),
		T(test_check_rejects),
		T(test_thread_quiesce),
		T(test_thread_reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
