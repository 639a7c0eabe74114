/*
 * 8250/16550A UART at 0x3f8, IRQ 4. Output goes straight to an fd from the
 * vCPU thread; input arrives from the main loop through serial_receive().
 * The register file and receive FIFO are plain data (struct serial_state)
 * so they can be saved and restored exactly.
 */
#ifndef GODWIT_DEVICES_SERIAL_H
#define GODWIT_DEVICES_SERIAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"
#include "devices/device.h"
#include "format/stream_format.h"

struct vm;

typedef void (*serial_irq_fn)(void *opaque, int level);

struct serial {
	pthread_mutex_t lock;
	struct serial_state st;
	int out_fd; /* -1: output discarded */
	serial_irq_fn set_irq;
	void *irq_opaque;
	int irq_level; /* last level driven on the line */
	uint64_t tx_bytes;
};

void serial_init(struct serial *s, int out_fd, serial_irq_fn set_irq,
		 void *irq_opaque);
void serial_destroy(struct serial *s);
/* Register the UART's ports on the VM's PIO bus. */
int serial_attach(struct serial *s, struct vm *vm) __must_check;
/* Queue input bytes; returns how many fit in the receive FIFO. */
size_t serial_receive(struct serial *s, const uint8_t *buf, size_t len);
/* Bus callback (vCPU thread). */
void serial_io(void *opaque, uint64_t offset, uint8_t *data, unsigned int len,
	       bool is_write);

void serial_save(struct serial *s, struct serial_state *out);
/* Is a saved state one this model can load? why says what is wrong. */
int serial_state_check(const struct serial_state *st, char *why,
		       size_t whylen) __must_check;
int serial_restore(struct serial *s,
		   const struct serial_state *in) __must_check;

/* The UART's descriptor: PORT_SERIAL0, IRQ 4, output to the console. */
extern const struct dev_type serial_type;

#endif
