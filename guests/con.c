/*
 * Console for the guests: a polled 8250 UART at 0x3f8 (one '\n'-terminated
 * line per message), a small printf, and the debug-exit port 0xf4 whose
 * byte becomes the VMM's exit status. With console=virtio on the command
 * line, output and input move to virtio-console port 0 (vcon.c) once boot
 * has found it; without one the guest says BAD on the UART. Ring 0 only.
 */
#include "kernel.h"

#define UART 0x3f8
#define UART_IER 1
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define LSR_DR 0x01
#define LSR_THRE 0x20
#define UART_FIFO 16
#define PORT_DEBUG_EXIT 0xf4

void con_init(void)
{
	outb(UART + UART_IER, 0);
	outb(UART + UART_LCR, 0x80); /* divisor latch: 115200 baud */
	outb(UART + 0, 1);
	outb(UART + 1, 0);
	outb(UART + UART_LCR, 0x03); /* 8N1 */
	outb(UART + UART_FCR, 0x07); /* FIFOs on and cleared */
	outb(UART + UART_MCR, 0x03); /* DTR, RTS */
}

/*
 * THRE set means the 16-byte transmit FIFO is empty, so LSR is polled
 * once per 16 bytes: every port access is a VM exit, and on software KVM
 * an exit to the VMM costs a few hundred microseconds.
 */
static unsigned int fifo_room;
static bool use_vcon;

void con_putc(char c)
{
	unsigned int spins = 0;

	if (use_vcon) {
		vcon_putc(c);
		return;
	}

	if (!fifo_room) {
		/* Bounded: a missing UART must not hang the guest. */
		while (!(inb(UART + UART_LSR) & LSR_THRE) && spins++ < 100000)
			;
		fifo_room = UART_FIFO;
	}
	outb(UART, (uint8_t)c);
	fifo_room--;
}

bool con_read(uint8_t *c_out)
{
	uint8_t lsr;

	if (use_vcon)
		return vcon_read(c_out);
	lsr = inb(UART + UART_LSR);

	if (lsr == 0xff || !(lsr & LSR_DR))
		return false;
	*c_out = inb(UART);
	return true;
}

/* console=virtio (any console= token saying so) moves the console. */
void con_virtio_init(void)
{
	char buf[16];
	unsigned int n;
	bool want = false;

	for (n = 0; cmdline_str_nth("console", n, buf, sizeof(buf)); n++)
		want = want || str_eq(buf, "virtio");
	if (!want)
		return;
	if (!vcon_init())
		con_fail("console=virtio: no virtio console (virtio device "
			 "type 3)\n");
	use_vcon = true;
}

/* The virtio console stopped taking lines: say so on the UART and end. */
void con_vcon_stuck(uint64_t base)
{
	use_vcon = false;
	con_fail("console=virtio: the virtio console at 0x%lx stopped "
		 "taking output\n",
		 base);
}

static void put_str(const char *s)
{
	while (*s)
		con_putc(*s++);
}

static void put_num(uint64_t v, unsigned int base, unsigned int width, char pad)
{
	char buf[24];
	unsigned int n = 0;

	do {
		buf[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	for (; width > n; width--)
		con_putc(pad);
	while (n)
		con_putc(buf[--n]);
}

static uint64_t get_arg(va_list *ap, int longs, bool is_signed, bool *neg)
{
	int64_t s;

	*neg = false;
	if (!is_signed) {
		if (longs)
			return va_arg(*ap, unsigned long);
		return va_arg(*ap, unsigned int);
	}
	s = longs ? va_arg(*ap, long) : va_arg(*ap, int);
	if (s < 0) {
		*neg = true;
		return -(uint64_t)s;
	}
	return (uint64_t)s;
}

static const char *put_conv(const char *f, va_list *ap)
{
	unsigned int width = 0;
	char pad = ' ';
	int longs = 0;
	bool neg;
	uint64_t v;

	if (*f == '0')
		pad = '0';
	while (*f >= '0' && *f <= '9')
		width = width * 10 + (unsigned int)(*f++ - '0');
	while (*f == 'l')
		longs++, f++;
	switch (*f) {
	case 's':
		put_str(va_arg(*ap, const char *));
		break;
	case 'c':
		con_putc((char)va_arg(*ap, int));
		break;
	case 'd':
	case 'u':
	case 'x':
		v = get_arg(ap, longs, *f == 'd', &neg);
		if (neg)
			con_putc('-');
		put_num(v, *f == 'x' ? 16 : 10, width, pad);
		break;
	default:
		con_putc(*f);
		break;
	}
	return f + 1;
}

void con_vprintf(const char *fmt, va_list ap)
{
	va_list aq;

	va_copy(aq, ap);
	while (*fmt) {
		if (*fmt != '%') {
			con_putc(*fmt++);
			continue;
		}
		fmt = put_conv(fmt + 1, &aq);
	}
	va_end(aq);
}

void con_printf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	con_vprintf(fmt, ap);
	va_end(ap);
}

void con_say(const char *fmt, ...)
{
	va_list ap;

	put_str(guest_ops.name);
	put_str(": ");
	va_start(ap, fmt);
	con_vprintf(fmt, ap);
	va_end(ap);
}

void con_fail(const char *fmt, ...)
{
	va_list ap;

	put_str(guest_ops.name);
	put_str(": BAD ");
	va_start(ap, fmt);
	con_vprintf(fmt, ap);
	va_end(ap);
	guest_exit(EXIT_FAIL);
}

void guest_exit(int code)
{
	outb(PORT_DEBUG_EXIT, (uint8_t)code);
	halt_forever();
}
