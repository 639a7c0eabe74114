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
#include "migration/recio.h"
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
	/* Where each record was, to name it if KVM refuses what it holds. */
	uint64_t *vcpu_off; /* per vCPU, VMSTATE_VCPU_TYPES per record type */
	uint64_t chip_off[IRQCHIP_COUNT], pit_off, clock_off;
	uint64_t dev_off[DEVREG_MAX];
};

#define VMSTATE_VCPU_TYPES (REC_VCPU_DEBUGREGS + 1)

int vmstate_rx_init(struct vmstate_rx *rx, unsigned int nr_vcpus) __must_check;
void vmstate_rx_free(struct vmstate_rx *rx);
/*
 * Take one validated state record, found at offset in the stream; why
 * says what was wrong.
 */
int vmstate_rx_add(struct vmstate_rx *rx, struct dev_registry *devs,
		   uint32_t type, const void *body, uint32_t len,
		   uint64_t offset, char *why, size_t whylen) __must_check;
/* At END: is everything there? */
int vmstate_rx_complete(const struct vmstate_rx *rx,
			const struct dev_registry *devs, char *why,
			size_t whylen) __must_check;
/*
 * Load the collected state into the VM (not running) and set its guest
 * time to start where the source stopped. If KVM or a device refuses a
 * part, err names the record that held it, its vCPU and KVM's error.
 */
int vmstate_rx_apply(struct vmstate_rx *rx, struct vm *vm,
		     struct dev_registry *devs,
		     struct rec_error *err) __must_check;
/* The DEVICE part of that: load each device's collected state, in order. */
int vmstate_apply_devices(struct vmstate_rx *rx, struct dev_registry *devs,
			  struct rec_error *err) __must_check;

#endif
