/*
 * A level-triggered interrupt line (one GSI of the I/O APIC) that a
 * device drives from any thread, its I/O thread included.
 *
 * With KVM_IRQFD and KVM_IRQFD_FLAG_RESAMPLE, raising the line is a write
 * to the irqfd: KVM asserts the GSI and keeps it asserted until the
 * guest's EOI, then lowers it and makes resample_fd readable. The owner
 * watches resample_fd and calls irqline_resampled() saying whether its
 * interrupt is still pending: if so (the guest acknowledged one event and
 * another came before its EOI) the line goes up again. Lowering an irqfd
 * line is therefore a no-op: the guest's EOI lowers it, after the guest
 * acknowledged the device.
 *
 * KVM has had resampling irqfds since Linux 3.13; a KVM without them is
 * refused rather than served by a second, untested path. A line made
 * without a VM (unit tests) is a pair of plain eventfds the test reads
 * and writes in KVM's place.
 */
#ifndef GODWIT_VMM_IRQLINE_H
#define GODWIT_VMM_IRQLINE_H

#include <stdbool.h>

#include "common/compiler.h"

struct vm;

struct irq_line {
	struct vm *vm; /* NULL: eventfds only, for tests */
	unsigned int gsi;
	int irqfd; /* KVM asserts the GSI when it is written */
	int resample_fd; /* readable after an EOI lowered the line */
	bool kvm_irqfd; /* irqfd registered with KVM (deassign on destroy) */
};

/* Make the line for gsi of vm (vm NULL: unregistered eventfds). */
int irqline_init(struct irq_line *l, struct vm *vm,
		 unsigned int gsi) __must_check;
/* Idempotent; safe on a line whose init failed or never ran (fds -1). */
void irqline_destroy(struct irq_line *l);
/* Raise (1) or lower (0) the line. Any thread. */
void irqline_set(struct irq_line *l, int level);
/*
 * resample_fd was readable: consume it and, if the owner's interrupt is
 * still pending, raise the line again.
 */
void irqline_resampled(struct irq_line *l, bool pending);

#endif
