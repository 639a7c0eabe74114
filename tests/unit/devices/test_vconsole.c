/*
 * Unit tests of the virtio-console (port 0) through a simulated driver:
 * the guest's output reaches the console fd, console input waits until
 * the guest posts receive buffers and is spread over them, the input
 * buffer's limit, where platform_console_input() sends input (the UART
 * until the guest uses the virtio console), reset, and the descriptor's
 * save -> check -> load round trip with every console-specific refusal.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "devices/platform.h"
#include "devices/serial.h"
#include "devices/virtio/console.h"
#include "vdriver.h"
#include "vmm/x86/layout.h"

#define QS 16
#define RXQ VIRTIO_CONSOLE_RXQ
#define TXQ VIRTIO_CONSOLE_TXQ

struct fixture {
	struct guest_mem mem;
	struct virtio_console con, con2;
	struct serial uart;
	int pipe[2];
	struct vdq q[2];
	struct dev_env env;
	char why[256];
};

static void con_setup(struct fixture *f, struct virtio_console *c, int fd)
{
	const struct dev_host host = {
		.id = "console0",
		.console_fd = fd,
		.res = { LAYOUT_VIRTIO_MMIO, LAYOUT_VIRTIO_GSI(0) },
	};

	memset(c, 0, sizeof(*c));
	assert_int_equal(virtio_console_setup(c, &host, &f->mem), 0);
	virtio_console_type.reset(c);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || mem_init(&f->mem, VD_MEM) || pipe2(f->pipe, O_NONBLOCK))
		return -1;
	con_setup(f, &f->con, f->pipe[1]);
	con_setup(f, &f->con2, -1);
	serial_init(&f->uart, -1, NULL, NULL);
	f->env = (struct dev_env){ .mem_bytes = VD_MEM,
				   .res = { LAYOUT_VIRTIO_MMIO,
					    LAYOUT_VIRTIO_GSI(0) } };
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	virtio_console_type.destroy(&f->con);
	virtio_console_type.destroy(&f->con2);
	serial_destroy(&f->uart);
	close(f->pipe[0]);
	close(f->pipe[1]);
	mem_destroy(&f->mem);
	free(f);
	return 0;
}

static void drive(struct virtio_console *c)
{
	while (virtio_poll(&c->vd, 0) > 0)
		;
}

static void start(struct fixture *f, struct virtio_console *c)
{
	vd_driver_init(&c->vd, f->q, 2, QS, ~0ULL);
	drive(c);
}

/* The guest writes text on port 0 (transmitq). */
static void guest_write(struct fixture *f, struct virtio_console *c,
			const char *text, unsigned int k)
{
	const uint64_t gpa[] = { VD_DATA + 0x10000 + k * 0x100 };
	const uint32_t len[] = { (uint32_t)strlen(text) };

	memcpy(vd_ram(&f->mem, gpa[0]), text, len[0]);
	vd_publish(&f->mem, &f->q[TXQ],
		   vd_chain(&f->mem, &f->q[TXQ], 1, gpa, len, 0));
	vd_wr(&c->vd, VIRTIO_MMIO_QUEUE_NOTIFY, TXQ);
	drive(c);
}

/* The guest posts a receive buffer of len bytes at slot k. */
static void guest_post(struct fixture *f, struct virtio_console *c,
		       uint32_t len, unsigned int k)
{
	const uint64_t gpa[] = { VD_DATA + k * 0x100 };

	vd_publish(&f->mem, &f->q[RXQ],
		   vd_chain(&f->mem, &f->q[RXQ], 1, gpa, &len, 1));
	vd_wr(&c->vd, VIRTIO_MMIO_QUEUE_NOTIFY, RXQ);
	drive(c);
}

static void test_output(void **state)
{
	struct fixture *f = *state;
	char out[32] = "";
	uint32_t id, len;

	start(f, &f->con);
	assert_false(virtio_console_takes_input(&f->con));
	guest_write(f, &f->con, "hello, ", 0);
	guest_write(f, &f->con, "world\n", 1);
	assert_int_equal(read(f->pipe[0], out, sizeof(out)), 13);
	assert_memory_equal(out, "hello, world\n", 13);
	assert_int_equal(vd_used_idx(&f->mem, &f->q[TXQ]), 2);
	vd_used_entry(&f->mem, &f->q[TXQ], 1, &id, &len);
	assert_int_equal(len, 0); /* nothing written into a tx buffer */
	assert_int_equal(f->con.tx_bytes, 13);
	assert_true(vd_rd(&f->con.vd, VIRTIO_MMIO_INTERRUPT_STATUS) &
		    VIRTIO_INT_USED);
	/* It wrote, its receive queue runs: input goes here now. */
	assert_true(virtio_console_takes_input(&f->con));
}

/* Input typed before the driver runs waits, then fills the buffers. */
static void test_input(void **state)
{
	struct fixture *f = *state;
	uint32_t id, len;

	assert_int_equal(virtio_console_receive(&f->con,
						(const uint8_t *)"abcde", 5),
			 5);
	drive(&f->con);
	start(f, &f->con);
	assert_int_equal(vd_used_idx(&f->mem, &f->q[RXQ]), 0);
	guest_post(f, &f->con, 2, 0);
	guest_post(f, &f->con, 2, 1);
	assert_int_equal(vd_used_idx(&f->mem, &f->q[RXQ]), 2);
	vd_used_entry(&f->mem, &f->q[RXQ], 1, &id, &len);
	assert_int_equal(len, 2);
	assert_memory_equal(vd_ram(&f->mem, VD_DATA), "ab", 2);
	assert_memory_equal(vd_ram(&f->mem, VD_DATA + 0x100), "cd", 2);
	assert_int_equal(f->con.rx_count, 1);
	guest_post(f, &f->con, 64, 2);
	vd_used_entry(&f->mem, &f->q[RXQ], 2, &id, &len);
	assert_int_equal(len, 1);
	assert_memory_equal(vd_ram(&f->mem, VD_DATA + 0x200), "e", 1);
	assert_int_equal(f->con.rx_count, 0);
	/* A buffer waits for input; input arriving later wakes the device. */
	guest_post(f, &f->con, 64, 3);
	assert_int_equal(vd_used_idx(&f->mem, &f->q[RXQ]), 3);
	assert_int_equal(
		virtio_console_receive(&f->con, (const uint8_t *)"xy", 2), 2);
	drive(&f->con);
	assert_int_equal(vd_used_idx(&f->mem, &f->q[RXQ]), 4);
	assert_memory_equal(vd_ram(&f->mem, VD_DATA + 0x300), "xy", 2);
}

static void test_input_limit(void **state)
{
	struct fixture *f = *state;
	uint8_t big[300];

	memset(big, 'q', sizeof(big));
	assert_int_equal(virtio_console_receive(&f->con, big, sizeof(big)),
			 VIRTIO_CONSOLE_RX_MAX);
	assert_int_equal(virtio_console_receive(&f->con, big, 1), 0);
}

/* Input follows the console device the guest uses. */
static void test_routing(void **state)
{
	struct fixture *f = *state;
	static const struct dev_slot list[] = {
		{ "serial0", &serial_type, .res = { 0 } },
		{ "console0", &virtio_console_type,
		  .res = { LAYOUT_VIRTIO_MMIO, LAYOUT_VIRTIO_GSI(0) } },
	};
	struct dev_registry r = { .nr = 0 };

	assert_int_equal(devreg_add_list(&r, list, 2), 0);
	assert_int_equal(devreg_attach(&r, "serial0", &f->uart), 0);
	assert_int_equal(devreg_attach(&r, "console0", &f->con), 0);
	assert_int_equal(platform_console_input(&r, (const uint8_t *)"s", 1),
			 1);
	assert_int_equal(f->uart.st.rx_count, 1);
	start(f, &f->con);
	/* A driver alone is not enough: the guest must use the port. */
	assert_int_equal(platform_console_input(&r, (const uint8_t *)"t", 1),
			 1);
	assert_int_equal(f->uart.st.rx_count, 2);
	guest_write(f, &f->con, "login: ", 0);
	assert_int_equal(platform_console_input(&r, (const uint8_t *)"v", 1),
			 1);
	assert_int_equal(f->uart.st.rx_count, 2);
	assert_int_equal(f->con.rx_count, 1);
	/* A reset gives it back to the UART; the typed byte stays. */
	vd_wr(&f->con.vd, VIRTIO_MMIO_STATUS, 0);
	assert_false(virtio_console_takes_input(&f->con));
	assert_int_equal(f->con.rx_count, 1);
	devreg_destroy(&r);
}

static void save(struct virtio_console *c, struct virtio_console_state *st)
{
	memset(st, 0, sizeof(*st));
	virtio_console_type.save(c, st);
}

static void test_save_load(void **state)
{
	struct fixture *f = *state;
	struct virtio_console_state st, st2;

	start(f, &f->con);
	guest_write(f, &f->con, "$ ", 0);
	assert_int_equal(
		virtio_console_receive(&f->con, (const uint8_t *)"ls\n", 3), 3);
	drive(&f->con);
	save(&f->con, &st);
	assert_int_equal(st.vio.device_id, VIRTIO_ID_CONSOLE);
	assert_int_equal(st.vio.num_queues, 2);
	assert_int_equal(st.vio.mmio_base, LAYOUT_VIRTIO_MMIO);
	assert_int_equal(st.vio.gsi, 16);
	assert_int_equal(st.max_nr_ports, 1);
	assert_int_equal(st.flags, VIRTIO_CONSOLE_F_GUEST_WROTE);
	assert_int_equal(st.rx_count, 3);
	assert_memory_equal(st.rx, "ls\n", 3);
	assert_int_equal(st.vio.queue[TXQ].next_avail, 1);
	assert_int_equal(virtio_console_type.check(&f->env, &st, f->why,
						   sizeof(f->why)),
			 0);
	virtio_console_type.quiesce(&f->con2);
	assert_int_equal(virtio_console_type.load(&f->con2, &st), 0);
	save(&f->con2, &st2);
	assert_memory_equal(&st, &st2, sizeof(st));
	assert_true(virtio_console_takes_input(&f->con2));
	/* On resume the restored device delivers what was typed. */
	virtio_console_type.resume(&f->con2);
	guest_post(f, &f->con2, 16, 0);
	assert_memory_equal(vd_ram(&f->mem, VD_DATA), "ls\n", 3);
	assert_int_equal(f->con2.rx_count, 0);
}

static void reject(struct fixture *f, const struct virtio_console_state *st,
		   const char *what)
{
	f->why[0] = 0;
	assert_int_equal(virtio_console_type.check(&f->env, st, f->why,
						   sizeof(f->why)),
			 -EINVAL);
	if (!strstr(f->why, what))
		fail_msg("\"%s\" does not say \"%s\"", f->why, what);
}

static void test_check_rejects(void **state)
{
	struct fixture *f = *state;
	struct virtio_console_state good, st;

	start(f, &f->con);
	assert_int_equal(
		virtio_console_receive(&f->con, (const uint8_t *)"ab", 2), 2);
	save(&f->con, &good);
	st = good;
	st.cols = 80;
	reject(f, &st, "config space 80x0 with 1 ports");
	st = good;
	st.max_nr_ports = 2;
	reject(f, &st, "with 2 ports");
	st = good;
	st.flags = 2;
	reject(f, &st, "flags 0x2");
	st = good;
	st.rx_count = VIRTIO_CONSOLE_RX_MAX + 1;
	reject(f, &st, "rx_count 257 exceeds the 256-byte input buffer");
	st = good;
	st.rx[2] = 'z';
	reject(f, &st, "input byte 2 past rx_count is not zero");
	/* The transport's own checks apply: a blk state is not a console's. */
	st = good;
	st.vio.device_id = 2;
	reject(f, &st,
	       "virtio device id 2, but this device is virtio-console (3)");
	st = good;
	st.vio.queue[RXQ].size = 512;
	reject(f, &st,
	       "queue 0: queue size 512 is not a power of two in 1..256");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_output),	 T(test_input),	    T(test_input_limit),
		T(test_routing), T(test_save_load), T(test_check_rejects),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
