/*
 * ACPI Generic Event Device (GED, _HID "ACPI0013") of the hardware-reduced
 * platform: how the host presses the guest's power button. One byte of
 * event status at PORT_ACPI_GED (bit 0: power button) and an interrupt,
 * GSI PORT_ACPI_GED_IRQ, level-triggered and active-high, that stays
 * asserted while any event is pending. The DSDT's _EVT method reads the
 * status, writes the bits back to clear them and notifies \_SB.PWRB.
 *
 * Threads: ged_power_button() runs on the monitor's loop thread, ged_io()
 * on vCPU threads, ged_save() on the saving thread; one mutex orders
 * them, and the IRQ line is driven under it, so the line always matches
 * the state. The pending events are plain data (struct ged_state): a
 * press the guest has not acknowledged survives save, restore and
 * migration.
 */
#ifndef GODWIT_DEVICES_GED_H
#define GODWIT_DEVICES_GED_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"
#include "devices/device.h"
#include "format/stream_format.h"

struct vm;

/* Drive the GED's interrupt line to level (0 or 1). Called with the
 * GED's lock held, from whichever thread changed the state. */
typedef void (*ged_irq_fn)(void *opaque, int level);

struct ged {
	pthread_mutex_t lock;
	struct ged_state st;
	ged_irq_fn set_irq;
	void *irq_opaque;
	int irq_level; /* last level driven; -1: drive it on the next change */
	uint64_t presses; /* power-button presses since ged_init() */
};

void ged_init(struct ged *g, ged_irq_fn set_irq, void *irq_opaque);
void ged_destroy(struct ged *g);
/* Register the status register on the VM's PIO bus. */
int ged_attach(struct ged *g, struct vm *vm) __must_check;
/* Bus callback (vCPU thread): read the events, write 1s to clear them. */
void ged_io(void *opaque, uint64_t offset, uint8_t *data, unsigned int len,
	    bool is_write);
/* Press the power button: set the event and raise the line. Any thread. */
void ged_power_button(struct ged *g);

void ged_save(struct ged *g, struct ged_state *out);
/* Is a saved state one this model can load? why says what is wrong. */
int ged_state_check(const struct ged_state *st, char *why,
		    size_t whylen) __must_check;
/* Load a checked state and drive the line to match it. */
int ged_restore(struct ged *g, const struct ged_state *in) __must_check;

/* The GED's descriptor: PORT_ACPI_GED, GSI PORT_ACPI_GED_IRQ. */
extern const struct dev_type ged_type;

#endif
