/*
 * 8250/16550A UART model. Transmission is instant (the THR is always
 * empty again by the next access), so the interesting state is the
 * interrupt logic: IIR priorities, the THR-empty interrupt that reading
 * IIR or writing THR clears, loopback mode (Linux probes with it) and
 * OUT2 gating the IRQ line as on a PC.
 */
#include "devices/serial.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "common/why.h"
#include "vmm/vm.h"
#include "vmm/x86/layout.h"

enum {
	UART_RBR_THR = 0,
	UART_IER = 1,
	UART_IIR_FCR = 2,
	UART_LCR = 3,
	UART_MCR = 4,
	UART_LSR = 5,
	UART_MSR = 6,
	UART_SCR = 7,
};

#define IER_RDI 0x01 /* receive data available */
#define IER_THRI 0x02 /* transmitter holding register empty */
#define IER_MSI 0x08 /* modem status */
#define IIR_NONE 0x01
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_MSI 0x00
#define IIR_FIFO 0xc0
#define LCR_DLAB 0x80
#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MSR_DELTA 0x0f
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80

/* Power-on registers (lock held, or not yet shared). */
static void serial_power_on(struct serial *s)
{
	memset(&s->st, 0, sizeof(s->st));
	s->st.mcr = MCR_OUT2;
	s->st.dll = 12; /* 9600 baud, as firmware leaves it */
}

void serial_init(struct serial *s, int out_fd, serial_irq_fn set_irq,
		 void *irq_opaque)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->out_fd = out_fd;
	s->set_irq = set_irq;
	s->irq_opaque = irq_opaque;
	serial_power_on(s);
}

void serial_destroy(struct serial *s)
{
	pthread_mutex_destroy(&s->lock);
}

static uint8_t serial_iir(const struct serial_state *st)
{
	uint8_t fifo = (st->fcr & 1) ? IIR_FIFO : 0;

	if ((st->ier & IER_RDI) && st->rx_count)
		return IIR_RDI | fifo;
	if ((st->ier & IER_THRI) && st->thr_ipending)
		return IIR_THRI | fifo;
	if ((st->ier & IER_MSI) && (st->msr & MSR_DELTA))
		return IIR_MSI | fifo;
	return IIR_NONE | fifo;
}

/* Drive the IRQ line after every state change (lock held). */
static void serial_update_irq(struct serial *s)
{
	int level = !(serial_iir(&s->st) & IIR_NONE) && (s->st.mcr & MCR_OUT2);

	if (level != s->irq_level && s->set_irq) {
		s->irq_level = level;
		s->set_irq(s->irq_opaque, level);
	}
}

static void rx_push(struct serial_state *st, uint8_t b)
{
	if (st->rx_count == SERIAL_FIFO_SIZE) {
		st->lsr_extra |= 0x02; /* overrun */
		return;
	}
	st->rx_fifo[(st->rx_head + st->rx_count) % SERIAL_FIFO_SIZE] = b;
	st->rx_count++;
}

static uint8_t rx_pop(struct serial_state *st)
{
	uint8_t b;

	if (!st->rx_count)
		return 0;
	b = st->rx_fifo[st->rx_head];
	st->rx_head = (st->rx_head + 1) % SERIAL_FIFO_SIZE;
	st->rx_count--;
	return b;
}

static uint8_t serial_msr(const struct serial_state *st)
{
	uint8_t m = st->msr & MSR_DELTA;

	if (!(st->mcr & MCR_LOOP))
		return m | MSR_DCD | MSR_DSR | MSR_CTS;
	/* Loopback wires the modem outputs to the inputs. */
	if (st->mcr & MCR_RTS)
		m |= MSR_CTS;
	if (st->mcr & MCR_DTR)
		m |= MSR_DSR;
	if (st->mcr & MCR_OUT1)
		m |= MSR_RI;
	if (st->mcr & MCR_OUT2)
		m |= MSR_DCD;
	return m;
}

static void serial_tx(struct serial *s, uint8_t b)
{
	if (s->st.mcr & MCR_LOOP) {
		rx_push(&s->st, b);
	} else if (s->out_fd >= 0) {
		int rc = write_full(s->out_fd, &b, 1);

		/* A full pty drops output; a closed console stops it. */
		if (rc && rc != -EAGAIN)
			s->out_fd = -1;
		s->tx_bytes++;
	}
	s->st.thr_ipending = 1;
}

static uint8_t serial_read(struct serial *s, unsigned int reg)
{
	struct serial_state *st = &s->st;
	uint8_t v;

	switch (reg) {
	case UART_RBR_THR:
		return (st->lcr & LCR_DLAB) ? st->dll : rx_pop(st);
	case UART_IER:
		return (st->lcr & LCR_DLAB) ? st->dlm : st->ier;
	case UART_IIR_FCR:
		v = serial_iir(st);
		if ((v & 0x0f) == IIR_THRI)
			st->thr_ipending = 0;
		return v;
	case UART_LCR:
		return st->lcr;
	case UART_MCR:
		return st->mcr;
	case UART_LSR:
		v = LSR_THRE | LSR_TEMT | st->lsr_extra |
		    (st->rx_count ? LSR_DR : 0);
		st->lsr_extra = 0;
		return v;
	case UART_MSR:
		v = serial_msr(st);
		st->msr &= ~MSR_DELTA;
		return v;
	default:
		return st->scr;
	}
}

static void serial_write(struct serial *s, unsigned int reg, uint8_t v)
{
	struct serial_state *st = &s->st;

	switch (reg) {
	case UART_RBR_THR:
		if (st->lcr & LCR_DLAB)
			st->dll = v;
		else
			serial_tx(s, v);
		break;
	case UART_IER:
		if (st->lcr & LCR_DLAB) {
			st->dlm = v;
			break;
		}
		/* Enabling THRI with an empty THR raises it at once. */
		if (!(st->ier & IER_THRI) && (v & IER_THRI))
			st->thr_ipending = 1;
		st->ier = v & 0x0f;
		break;
	case UART_IIR_FCR:
		st->fcr = v & 0xc9;
		if (v & 0x02) /* clear receive FIFO */
			st->rx_count = st->rx_head = 0;
		break;
	case UART_LCR:
		st->lcr = v;
		break;
	case UART_MCR:
		st->mcr = v & 0x1f;
		break;
	case UART_SCR:
		st->scr = v;
		break;
	default:
		break; /* LSR and MSR are read-only */
	}
}

void serial_io(void *opaque, uint64_t offset, uint8_t *data, unsigned int len,
	       bool is_write)
{
	struct serial *s = opaque;

	pthread_mutex_lock(&s->lock);
	if (is_write) {
		serial_write(s, offset & 7, data[0]);
	} else {
		memset(data, 0, len);
		data[0] = serial_read(s, offset & 7);
	}
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

size_t serial_receive(struct serial *s, const uint8_t *buf, size_t len)
{
	size_t n = 0;

	pthread_mutex_lock(&s->lock);
	while (n < len && s->st.rx_count < SERIAL_FIFO_SIZE &&
	       !(s->st.mcr & MCR_LOOP))
		rx_push(&s->st, buf[n++]);
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return n;
}

int serial_attach(struct serial *s, struct vm *vm)
{
	return bus_register(&vm->pio, PORT_SERIAL0, 8, serial_io, s);
}

void serial_save(struct serial *s, struct serial_state *out)
{
	pthread_mutex_lock(&s->lock);
	*out = s->st;
	pthread_mutex_unlock(&s->lock);
}

/* Register bits the model can hold; anything else a stream sets is bogus. */
static const struct {
	const char *name;
	size_t off;
	uint8_t valid;
} serial_reg_bits[] = {
	{ "ier", offsetof(struct serial_state, ier), 0x0f },
	{ "mcr", offsetof(struct serial_state, mcr), 0x1f },
	{ "fcr", offsetof(struct serial_state, fcr), 0xc9 },
	{ "lsr_extra", offsetof(struct serial_state, lsr_extra), 0x02 },
	{ "msr", offsetof(struct serial_state, msr), MSR_DELTA },
};

int serial_state_check(const struct serial_state *st, char *why, size_t whylen)
{
	unsigned int i;

	if (st->rx_count > SERIAL_FIFO_SIZE)
		return why_set(why, whylen, -EINVAL,
			       "rx_count %u exceeds the %u-byte FIFO",
			       st->rx_count, SERIAL_FIFO_SIZE);
	if (st->rx_head >= SERIAL_FIFO_SIZE)
		return why_set(why, whylen, -EINVAL,
			       "rx_head %u is outside the FIFO", st->rx_head);
	if (st->thr_ipending > 1)
		return why_set(why, whylen, -EINVAL,
			       "thr_ipending %u is not 0 or 1",
			       st->thr_ipending);
	for (i = 0; i < sizeof(st->reserved); i++)
		if (st->reserved[i])
			return why_set(why, whylen, -EINVAL,
				       "reserved byte %u is not zero", i);
	for (i = 0; i < ARRAY_SIZE(serial_reg_bits); i++) {
		uint8_t v = ((const uint8_t *)st)[serial_reg_bits[i].off];

		if (v & ~serial_reg_bits[i].valid)
			return why_set(
				why, whylen, -EINVAL,
				"%s 0x%02x sets bits the UART does not have",
				serial_reg_bits[i].name, v);
	}
	return 0;
}

int serial_restore(struct serial *s, const struct serial_state *in)
{
	char why[128];

	if (serial_state_check(in, why, sizeof(why)))
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	s->st = *in;
	s->irq_level = -1; /* force the line to match the restored state */
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* ---- The device descriptor (device.h) ---------------------------------- */

static void serial_vm_irq(void *vm, int level)
{
	if (vm_irq_line(vm, PORT_SERIAL0_IRQ, level))
		log_debug("serial IRQ line: failed");
}

static int serial_realize(void *dev, const struct dev_host *host)
{
	serial_init(dev, host->console_fd, serial_vm_irq, host->vm);
	return serial_attach(dev, host->vm);
}

static void serial_reset(void *dev)
{
	struct serial *s = dev;

	pthread_mutex_lock(&s->lock);
	serial_power_on(s);
	pthread_mutex_unlock(&s->lock);
}

/* The UART has no threads and writes no guest RAM: nothing to stop. */
static void serial_quiet(void *dev)
{
}

static void serial_save_op(void *dev, void *state)
{
	serial_save(dev, state);
}

static int serial_check_op(const struct dev_env *env, const void *state,
			   char *why, size_t whylen)
{
	return serial_state_check(state, why, whylen);
}

static int serial_load_op(void *dev, const void *state)
{
	return serial_restore(dev, state);
}

static void serial_destroy_op(void *dev)
{
	serial_destroy(dev);
}

const struct dev_type serial_type = {
	.name = "serial",
	.state_version = SERIAL_STATE_VERSION,
	.state_size = sizeof(struct serial_state),
	.size = sizeof(struct serial),
	.realize = serial_realize,
	.reset = serial_reset,
	.quiesce = serial_quiet,
	.save = serial_save_op,
	.check = serial_check_op,
	.load = serial_load_op,
	.resume = serial_quiet,
	.destroy = serial_destroy_op,
};
