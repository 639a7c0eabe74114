/*
 * Unit tests of the 8250/16550A UART model through its bus callback, as a
 * guest driver sees it: transmit to an fd, LSR, IIR priorities and the
 * THR-empty interrupt, the divisor latch, loopback, the 64-byte receive
 * FIFO and overrun, the IRQ line gated by OUT2; then save -> restore round
 * trips (every field preserved) and the checks on a saved state.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "devices/serial.h"

enum {
	RBR = 0,
	THR = 0,
	DLL = 0,
	IER = 1,
	DLM = 1,
	IIR = 2,
	FCR = 2,
	LCR = 3,
	MCR = 4,
	LSR = 5,
	MSR = 6,
	SCR = 7
};

#define BASE 0x3f8 /* the bus hands over offsets; the model uses & 7 */

/* IRQ line as the interrupt controller sees it. */
struct line {
	int level;
	int changes;
};

static void set_irq(void *opaque, int level)
{
	struct line *l = opaque;

	l->level = level;
	l->changes++;
}

static uint8_t rd(struct serial *s, unsigned int reg)
{
	uint8_t d[4] = { 0xaa, 0xaa, 0xaa, 0xaa };

	serial_io(s, reg, d, 1, false);
	return d[0];
}

static void wr(struct serial *s, unsigned int reg, uint8_t v)
{
	serial_io(s, reg, &v, 1, true);
}

struct fixture {
	struct serial s;
	struct line irq;
	int pipe[2];
};

static int setup(void **state)
{
	static struct fixture f;

	memset(&f, 0, sizeof(f));
	if (pipe2(f.pipe, O_NONBLOCK | O_CLOEXEC))
		return -1;
	serial_init(&f.s, f.pipe[1], set_irq, &f.irq);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	serial_destroy(&f->s);
	close(f->pipe[0]);
	if (f->pipe[1] >= 0)
		close(f->pipe[1]);
	return 0;
}

static ssize_t drain(struct fixture *f, char *buf, size_t len)
{
	ssize_t r = read(f->pipe[0], buf, len);

	return r < 0 && errno == EAGAIN ? 0 : r;
}

/* ---- Registers --------------------------------------------------------- */

static void test_reset_state(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(rd(&f->s, LSR), 0x60); /* THRE | TEMT */
	assert_int_equal(rd(&f->s, IIR), 0x01); /* nothing pending */
	assert_int_equal(rd(&f->s, IER), 0);
	assert_int_equal(rd(&f->s, LCR), 0);
	assert_int_equal(rd(&f->s, MCR), 0x08); /* OUT2, as firmware leaves */
	assert_int_equal(rd(&f->s, MSR), 0xb0); /* DCD DSR CTS: a cable */
	assert_int_equal(rd(&f->s, SCR), 0);
	assert_int_equal(rd(&f->s, RBR), 0); /* empty FIFO reads 0 */
	wr(&f->s, LCR, 0x80);
	assert_int_equal(rd(&f->s, DLL), 12); /* 9600 baud */
	assert_int_equal(rd(&f->s, DLM), 0);
	assert_int_equal(f->irq.changes, 0);
}

static void test_thr_output(void **state)
{
	struct fixture *f = *state;
	char buf[16];
	uint8_t wide[4] = { 'Z', 1, 2, 3 };

	wr(&f->s, THR, 'H');
	wr(&f->s, BASE + THR, 'i');
	serial_io(&f->s, THR, wide, 4, true); /* only the low byte counts */
	assert_int_equal(drain(f, buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "HiZ", 3);
	assert_int_equal(f->s.tx_bytes, 3);
	/* The transmitter is always empty again. */
	assert_int_equal(rd(&f->s, LSR) & 0x60, 0x60);
	/* A read of a wider access returns the byte, zero-extended. */
	memset(wide, 0xaa, sizeof(wide));
	serial_io(&f->s, LCR, wide, 4, false);
	assert_memory_equal(wide, "\0\0\0\0", 4);
}

static void test_output_to_closed_console(void **state)
{
	struct fixture *f = *state;
	void (*old)(int) = signal(SIGPIPE, SIG_IGN);

	close(f->pipe[0]);
	f->pipe[0] = open("/dev/null", O_RDONLY);
	wr(&f->s, THR, 'x');
	assert_int_equal(f->s.out_fd, -1); /* output stops, the guest goes on */
	wr(&f->s, THR, 'y');
	assert_int_equal(rd(&f->s, LSR), 0x60);
	signal(SIGPIPE, old);
}

static void test_scratch_and_lcr(void **state)
{
	struct fixture *f = *state;

	wr(&f->s, SCR, 0x5a);
	assert_int_equal(rd(&f->s, SCR), 0x5a);
	wr(&f->s, LCR, 0x1b);
	assert_int_equal(rd(&f->s, LCR), 0x1b);
	/* MCR keeps its five bits; LSR and MSR ignore writes. */
	wr(&f->s, MCR, 0xff);
	assert_int_equal(rd(&f->s, MCR), 0x1f);
	wr(&f->s, MCR, 0x08);
	wr(&f->s, LSR, 0x00);
	wr(&f->s, MSR, 0x00);
	assert_int_equal(rd(&f->s, LSR), 0x60);
	assert_int_equal(rd(&f->s, MSR), 0xb0);
	/* IER keeps its four bits. */
	wr(&f->s, IER, 0xf0);
	assert_int_equal(rd(&f->s, IER), 0);
}

static void test_divisor_latch(void **state)
{
	struct fixture *f = *state;
	char buf[4];

	wr(&f->s, IER, 0x01);
	wr(&f->s, LCR, 0x83); /* DLAB + 8N1 */
	wr(&f->s, DLL, 0x01);
	wr(&f->s, DLM, 0x02);
	assert_int_equal(rd(&f->s, DLL), 0x01);
	assert_int_equal(rd(&f->s, DLM), 0x02);
	/* Nothing was transmitted and IER did not change. */
	assert_int_equal(drain(f, buf, sizeof(buf)), 0);
	wr(&f->s, LCR, 0x03);
	assert_int_equal(rd(&f->s, IER), 0x01);
	/* With DLAB clear the same offsets are THR/RBR and IER again. */
	assert_int_equal(serial_receive(&f->s, (const uint8_t *)"k", 1), 1);
	assert_int_equal(rd(&f->s, RBR), 'k');
	wr(&f->s, THR, '!');
	assert_int_equal(drain(f, buf, sizeof(buf)), 1);
	assert_int_equal(buf[0], '!');
	wr(&f->s, LCR, 0x80);
	assert_int_equal(rd(&f->s, DLL), 0x01);
}

static void test_lsr_data_ready(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(serial_receive(&f->s, (const uint8_t *)"ab", 2), 2);
	assert_int_equal(rd(&f->s, LSR), 0x61);
	assert_int_equal(rd(&f->s, RBR), 'a');
	assert_int_equal(rd(&f->s, LSR), 0x61);
	assert_int_equal(rd(&f->s, RBR), 'b');
	assert_int_equal(rd(&f->s, LSR), 0x60);
	assert_int_equal(rd(&f->s, RBR), 0);
}

static void test_iir_priorities(void **state)
{
	struct fixture *f = *state;
	struct serial_state st;

	/* Modem status delta, THR empty and received data all pending. */
	serial_save(&f->s, &st);
	st.msr = 0x01;
	assert_int_equal(serial_restore(&f->s, &st), 0);
	wr(&f->s, IER, 0x0b); /* RDI THRI MSI */
	assert_int_equal(serial_receive(&f->s, (const uint8_t *)"xy", 2), 2);
	assert_int_equal(rd(&f->s, IIR), 0x04); /* received data first */
	assert_int_equal(rd(&f->s, IIR), 0x04); /* reading IIR keeps it */
	rd(&f->s, RBR);
	assert_int_equal(rd(&f->s, IIR), 0x04);
	rd(&f->s, RBR);
	assert_int_equal(rd(&f->s, IIR), 0x02); /* then THR empty... */
	assert_int_equal(rd(&f->s, IIR), 0x00); /* ...cleared by that read */
	assert_int_equal(rd(&f->s, MSR), 0xb1); /* modem status, delta */
	assert_int_equal(rd(&f->s, IIR), 0x01); /* cleared by reading MSR */
	assert_int_equal(rd(&f->s, MSR), 0xb0);
	/* With FIFOs enabled IIR says so in bits 6-7. */
	wr(&f->s, FCR, 0xc1);
	assert_int_equal(rd(&f->s, IIR), 0xc1);
	serial_receive(&f->s, (const uint8_t *)"z", 1);
	assert_int_equal(rd(&f->s, IIR), 0xc4);
	/* Masked sources do not show. */
	wr(&f->s, IER, 0x00);
	assert_int_equal(rd(&f->s, IIR), 0xc1);
}

static void test_thri_raise_and_clear(void **state)
{
	struct fixture *f = *state;
	char buf[8];

	/* Enabling THRI with an empty THR raises it at once. */
	wr(&f->s, IER, 0x02);
	assert_int_equal(rd(&f->s, IIR), 0x02);
	assert_int_equal(rd(&f->s, IIR), 0x01);
	/* Writing IER again with THRI still set does not re-raise. */
	wr(&f->s, IER, 0x02);
	assert_int_equal(rd(&f->s, IIR), 0x01);
	/* Each transmitted byte raises it again. */
	wr(&f->s, THR, 'a');
	assert_int_equal(rd(&f->s, IIR), 0x02);
	assert_int_equal(rd(&f->s, IIR), 0x01);
	/* Disabled, a pending THRI is hidden, and shows when re-enabled. */
	wr(&f->s, IER, 0x00);
	wr(&f->s, THR, 'b');
	assert_int_equal(rd(&f->s, IIR), 0x01);
	wr(&f->s, IER, 0x02);
	assert_int_equal(rd(&f->s, IIR), 0x02);
	/* Received data hides THRI, and reading IIR then keeps it. */
	wr(&f->s, THR, 'c');
	serial_receive(&f->s, (const uint8_t *)"r", 1);
	wr(&f->s, IER, 0x03);
	assert_int_equal(rd(&f->s, IIR), 0x04);
	rd(&f->s, RBR);
	assert_int_equal(rd(&f->s, IIR), 0x02);
	assert_int_equal(rd(&f->s, IIR), 0x01);
	assert_int_equal(drain(f, buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "abc", 3);
}

static void test_loopback(void **state)
{
	struct fixture *f = *state;
	char buf[8];

	/* Each modem output shows on its input. */
	wr(&f->s, MCR, 0x10);
	assert_int_equal(rd(&f->s, MSR), 0x00);
	wr(&f->s, MCR, 0x10 | 0x02); /* RTS -> CTS */
	assert_int_equal(rd(&f->s, MSR), 0x10);
	wr(&f->s, MCR, 0x10 | 0x01); /* DTR -> DSR */
	assert_int_equal(rd(&f->s, MSR), 0x20);
	wr(&f->s, MCR, 0x10 | 0x04); /* OUT1 -> RI */
	assert_int_equal(rd(&f->s, MSR), 0x40);
	wr(&f->s, MCR, 0x10 | 0x08); /* OUT2 -> DCD */
	assert_int_equal(rd(&f->s, MSR), 0x80);
	wr(&f->s, MCR, 0x1f);
	assert_int_equal(rd(&f->s, MSR), 0xf0);
	/* Transmitted bytes come back as received ones, not to the fd. */
	wr(&f->s, THR, 'L');
	assert_int_equal(drain(f, buf, sizeof(buf)), 0);
	assert_int_equal(rd(&f->s, LSR), 0x61);
	assert_int_equal(rd(&f->s, RBR), 'L');
	assert_int_equal(f->s.tx_bytes, 0);
	/* Outside input is not connected in loopback. */
	assert_int_equal(serial_receive(&f->s, (const uint8_t *)"q", 1), 0);
	assert_int_equal(rd(&f->s, LSR), 0x60);
	/* Leaving loopback restores the fd and the cable's modem lines. */
	wr(&f->s, MCR, 0x08);
	assert_int_equal(rd(&f->s, MSR), 0xb0);
	wr(&f->s, THR, 'o');
	assert_int_equal(drain(f, buf, sizeof(buf)), 1);
}

static void test_fifo_and_overrun(void **state)
{
	struct fixture *f = *state;
	uint8_t in[100];
	unsigned int i;

	for (i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i + 1);
	/* Input from outside: the FIFO takes 64, the rest waits. */
	assert_int_equal(serial_receive(&f->s, in, 100), 64);
	assert_int_equal(serial_receive(&f->s, in, 1), 0);
	assert_int_equal(rd(&f->s, LSR), 0x61); /* no overrun: nothing lost */
	for (i = 0; i < 50; i++)
		assert_int_equal(rd(&f->s, RBR), i + 1);
	/* Wrap around the end of the ring. */
	assert_int_equal(serial_receive(&f->s, in + 64, 36), 36);
	assert_int_equal(f->s.st.rx_count, 50);
	for (i = 50; i < 100; i++)
		assert_int_equal(rd(&f->s, RBR), i + 1);
	assert_int_equal(rd(&f->s, LSR), 0x60);

	/* In loopback the guest itself can overrun the FIFO. */
	wr(&f->s, MCR, 0x18);
	for (i = 0; i < 65; i++)
		wr(&f->s, THR, (uint8_t)(0x80 + i));
	assert_int_equal(rd(&f->s, LSR), 0x63); /* DR | overrun */
	assert_int_equal(rd(&f->s, LSR), 0x61); /* overrun reads once */
	for (i = 0; i < 64; i++)
		assert_int_equal(rd(&f->s, RBR), 0x80 + i);
	assert_int_equal(rd(&f->s, LSR), 0x60);

	/* FCR bit 1 empties the receive FIFO. */
	wr(&f->s, THR, 1);
	wr(&f->s, THR, 2);
	wr(&f->s, FCR, 0x03);
	assert_int_equal(rd(&f->s, LSR), 0x60);
	assert_int_equal(f->s.st.fcr, 0x01);
}

static void test_irq_line_and_out2(void **state)
{
	struct fixture *f = *state;

	wr(&f->s, IER, 0x01);
	assert_int_equal(f->irq.changes, 0);
	serial_receive(&f->s, (const uint8_t *)"a", 1);
	assert_int_equal(f->irq.level, 1);
	assert_int_equal(f->irq.changes, 1);
	/* More data while raised: no new edge. */
	serial_receive(&f->s, (const uint8_t *)"b", 1);
	assert_int_equal(f->irq.changes, 1);
	rd(&f->s, RBR);
	assert_int_equal(f->irq.changes, 1);
	rd(&f->s, RBR);
	assert_int_equal(f->irq.level, 0);
	assert_int_equal(f->irq.changes, 2);

	/* Without OUT2 the line stays low whatever is pending. */
	wr(&f->s, MCR, 0x03);
	serial_receive(&f->s, (const uint8_t *)"c", 1);
	assert_int_equal(f->irq.level, 0);
	assert_int_equal(f->irq.changes, 2);
	wr(&f->s, MCR, 0x0b);
	assert_int_equal(f->irq.level, 1);
	wr(&f->s, MCR, 0x03);
	assert_int_equal(f->irq.level, 0);
	wr(&f->s, MCR, 0x0b);
	assert_int_equal(f->irq.level, 1);
	/* Masking the source in IER lowers it. */
	wr(&f->s, IER, 0x00);
	assert_int_equal(f->irq.level, 0);
	/* The THRI pulse: raised by enabling, lowered by reading IIR. */
	rd(&f->s, RBR);
	wr(&f->s, IER, 0x02);
	assert_int_equal(f->irq.level, 1);
	rd(&f->s, IIR);
	assert_int_equal(f->irq.level, 0);
	assert_int_equal(f->irq.changes, 8);
}

/* ---- Save and restore -------------------------------------------------- */

/* A state with every field away from its reset value, and the FIFO wrapped. */
static struct serial_state busy_state(void)
{
	struct serial_state st = {
		.ier = 0x0b,
		.lcr = 0x1b,
		.mcr = 0x1b,
		.lsr_extra = 0x02,
		.msr = 0x0f,
		.scr = 0x77,
		.dll = 0x03,
		.dlm = 0x01,
		.fcr = 0xc9,
		.thr_ipending = 1,
		.rx_head = 60,
		.rx_count = 7,
	};
	unsigned int i;

	for (i = 0; i < SERIAL_FIFO_SIZE; i++)
		st.rx_fifo[i] = (uint8_t)(0xc0 ^ i);
	return st;
}

static void test_save_restore_every_field(void **state)
{
	struct fixture *f = *state;
	struct serial_state in = busy_state(), out;
	struct serial s2;
	struct line l2 = { 0 };

	assert_int_equal(serial_restore(&f->s, &in), 0);
	memset(&out, 0xee, sizeof(out));
	serial_save(&f->s, &out);
	assert_memory_equal(&out, &in, sizeof(in));

	/* Into a second UART: the same state, the same behaviour. */
	serial_init(&s2, -1, set_irq, &l2);
	assert_int_equal(serial_restore(&s2, &out), 0);
	serial_save(&s2, &out);
	assert_memory_equal(&out, &in, sizeof(in));
	assert_int_equal(rd(&s2, IIR), rd(&f->s, IIR));
	assert_int_equal(rd(&s2, LSR), rd(&f->s, LSR));
	assert_int_equal(rd(&s2, MSR), rd(&f->s, MSR));
	while (f->s.st.rx_count)
		assert_int_equal(rd(&s2, RBR), rd(&f->s, RBR));
	assert_int_equal(s2.st.rx_count, 0);
	serial_destroy(&s2);
}

/* State reached through the registers survives a round trip exactly. */
static void test_round_trip_from_registers(void **state)
{
	struct fixture *f = *state;
	struct serial_state a, b;
	struct serial s2;
	struct line l2 = { 0 };
	unsigned int i;

	wr(&f->s, LCR, 0x80);
	wr(&f->s, DLL, 0x0c);
	wr(&f->s, DLM, 0x34);
	wr(&f->s, LCR, 0x07);
	wr(&f->s, FCR, 0xc7);
	wr(&f->s, SCR, 0x42);
	wr(&f->s, MCR, 0x1b); /* loopback with OUT2, RTS, DTR */
	for (i = 0; i < 70; i++)
		wr(&f->s, THR, (uint8_t)i); /* fills and overruns */
	for (i = 0; i < 10; i++)
		rd(&f->s, RBR); /* moves the head */
	wr(&f->s, IER, 0x03);
	serial_save(&f->s, &a);
	assert_int_equal(a.rx_head, 10);
	assert_int_equal(a.rx_count, 54);
	assert_int_equal(a.lsr_extra, 0x02);
	assert_int_equal(a.thr_ipending, 1);

	serial_init(&s2, -1, set_irq, &l2);
	assert_int_equal(serial_restore(&s2, &a), 0);
	serial_save(&s2, &b);
	assert_memory_equal(&a, &b, sizeof(a));
	/* Restoring drives the line to match: data pending, OUT2 set. */
	assert_int_equal(l2.level, 1);
	assert_int_equal(l2.changes, 1);
	assert_int_equal(rd(&s2, LSR), 0x63);
	for (i = 10; i < 64; i++)
		assert_int_equal(rd(&s2, RBR), i);
	serial_destroy(&s2);
}

/* A restore that lowers the line tells the interrupt controller too. */
static void test_restore_drives_line_low(void **state)
{
	struct fixture *f = *state;
	struct serial_state quiet = { .mcr = 0x08, .dll = 12 };

	wr(&f->s, IER, 0x01);
	serial_receive(&f->s, (const uint8_t *)"a", 1);
	assert_int_equal(f->irq.level, 1);
	assert_int_equal(serial_restore(&f->s, &quiet), 0);
	assert_int_equal(f->irq.level, 0);
	assert_int_equal(f->irq.changes, 2);
}

static void expect_check_fails(struct serial_state *st, const char *what)
{
	char why[128] = "";

	assert_int_equal(serial_state_check(st, why, sizeof(why)), -EINVAL);
	if (!strstr(why, what))
		fail_msg("why '%s' does not mention '%s'", why, what);
}

static void test_state_check(void **state)
{
	struct fixture *f = *state;
	struct serial_state st = busy_state(), before, after;
	char why[128] = "";
	unsigned int i;

	assert_int_equal(serial_state_check(&st, why, sizeof(why)), 0);
	st.rx_count = 64;
	st.rx_head = 63;
	assert_int_equal(serial_state_check(&st, why, sizeof(why)), 0);
	st.rx_count = 65;
	expect_check_fails(&st, "rx_count 65 exceeds the 64-byte FIFO");
	st.rx_count = 255;
	expect_check_fails(&st, "rx_count 255");
	st = busy_state();
	st.rx_head = 64;
	expect_check_fails(&st, "rx_head 64 is outside the FIFO");
	st = busy_state();
	st.thr_ipending = 2;
	expect_check_fails(&st, "thr_ipending 2 is not 0 or 1");
	for (i = 0; i < 4; i++) {
		char want[32];

		st = busy_state();
		st.reserved[i] = 0x80;
		snprintf(want, sizeof(want), "reserved byte %u is not zero", i);
		expect_check_fails(&st, want);
	}
	/* Bits no register of the UART has. */
	st = busy_state();
	st.ier = 0x10;
	expect_check_fails(&st, "ier 0x10");
	st = busy_state();
	st.mcr = 0x20;
	expect_check_fails(&st, "mcr 0x20");
	st = busy_state();
	st.fcr = 0x02;
	expect_check_fails(&st, "fcr 0x02");
	st = busy_state();
	st.lsr_extra = 0x01;
	expect_check_fails(&st, "lsr_extra 0x01");
	st = busy_state();
	st.msr = 0x10;
	expect_check_fails(&st, "msr 0x10");

	/* A refused restore leaves the device as it was. */
	wr(&f->s, SCR, 0x99);
	serial_save(&f->s, &before);
	st = busy_state();
	st.rx_head = 200;
	assert_int_equal(serial_restore(&f->s, &st), -EINVAL);
	serial_save(&f->s, &after);
	assert_memory_equal(&before, &after, sizeof(before));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_reset_state),
		T(test_thr_output),
		T(test_output_to_closed_console),
		T(test_scratch_and_lcr),
		T(test_divisor_latch),
		T(test_lsr_data_ready),
		T(test_iir_priorities),
		T(test_thri_raise_and_clear),
		T(test_loopback),
		T(test_fifo_and_overrun),
		T(test_irq_line_and_out2),
		T(test_save_restore_every_field),
		T(test_round_trip_from_registers),
		T(test_restore_drives_line_low),
		T(test_state_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
