/*
 * Machine state on the stream: CLOCK, IRQCHIP, PIT, the per-vCPU records
 * and DEVICE records. Saving reads everything from a paused VM. Restoring
 * first collects every record (rejecting duplicates and strangers), then
 * checks completeness at END, and only then applies it, in the order
 * x86_vcpu_state_set() documents.
 */
#ifndef GODWIT_MIGRATION_VMSTATE_H
#define GODWIT_MIGRATION_VMSTATE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/compiler.h"
#include "devices/registry.h"
#include "format/stream_format.h"
#include "migration/transport/stream.h"
#include "vmm/x86/vcpu_state.h"

struct vm;

/* Write every state record of a paused VM. */
int vmstate_save(struct vm *vm, struct dev_registry *devs,
		 struct stream *s) __must_check;
/* The DEVICE records alone (devices quiesced), through the descriptors. */
int vmstate_save_devices(struct dev_registry *devs,
			 struct stream *s) __must_check;

struct vmstate_rx {
	unsigned int nr_vcpus;
	struct x86_vcpu_state *vcpus;
	uint32_t *have; /* per vCPU: bit (record type) received */
	struct x86_vm_state vm;
	uint32_t have_chips; /* bit per IRQCHIP */
	bool have_pit, have_clock;
	struct rec_clock clock;
	bool have_dev[DEVREG_MAX];
	uint8_t *dev_state[DEVREG_MAX];
};

int vmstate_rx_init(struct vmstate_rx *rx, unsigned int nr_vcpus) __must_check;
void vmstate_rx_free(struct vmstate_rx *rx);
/* Take one validated state record; why says what was wrong. */
int vmstate_rx_add(struct vmstate_rx *rx, struct dev_registry *devs,
		   uint32_t type, const void *body, uint32_t len, char *why,
		   size_t whylen) __must_check;
/* At END: is everything there? */
int vmstate_rx_complete(const struct vmstate_rx *rx,
			const struct dev_registry *devs, char *why,
			size_t whylen) __must_check;
/*
 * Load the collected state into the VM (not running) and set its guest
 * time to start where the source stopped.
 */
int vmstate_rx_apply(struct vmstate_rx *rx, struct vm *vm,
		     struct dev_registry *devs) __must_check;
/* The DEVICE part of that: load each device's collected state, in order. */
int vmstate_apply_devices(struct vmstate_rx *rx,
			  struct dev_registry *devs) __must_check;

#endif
