/*
 * Complete x86 vCPU and VM (irqchip, PIT) state as KVM exposes it, read
 * and written in one place so that the restore order is enforced here:
 *
 *   regs, sregs (APIC base before the LAPIC), XSAVE, XCRs, debug
 *   registers, LAPIC (sets the timer mode), TSC, MSRs (KVM drops a
 *   TSC-deadline write unless the LAPIC timer is in TSC-deadline mode,
 *   and the deadline is relative to the TSC), MP state, then vCPU events
 *   last (they may inject a pending exception or interrupt).
 *
 * All vCPUs must be parked (or not yet started) around these calls.
 */
#ifndef GODWIT_VMM_X86_VCPU_STATE_H
#define GODWIT_VMM_X86_VCPU_STATE_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/compiler.h"

struct vcpu;
struct vm;

struct x86_vcpu_state {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	uint8_t *xsave; /* xsave_size bytes, malloc()ed */
	uint32_t xsave_size;
	struct kvm_xcrs xcrs;
	struct kvm_msr_entry *msrs; /* nmsrs entries, malloc()ed */
	uint32_t nmsrs;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events events;
	struct kvm_mp_state mp_state;
	struct kvm_debugregs dregs;
};

struct x86_vm_state {
	struct kvm_irqchip chip[3]; /* PIC master, PIC slave, IOAPIC */
	struct kvm_pit_state2 pit;
};

/*
 * What KVM refused when state was set, for the caller to name in its one
 * line (the set functions log nothing): the part, in the order above,
 * and KVM's error.
 */
enum x86_state_part {
	X86_STATE_REGS,
	X86_STATE_SREGS,
	X86_STATE_XSAVE,
	X86_STATE_XCRS,
	X86_STATE_DEBUGREGS,
	X86_STATE_LAPIC,
	X86_STATE_TSC,
	X86_STATE_MSRS,
	X86_STATE_MP_STATE,
	X86_STATE_EVENTS,
	X86_STATE_IRQCHIP,
	X86_STATE_PIT,
};

struct x86_state_error {
	enum x86_state_part part;
	uint32_t index; /* MSRS: the MSR refused; IRQCHIP: the chip */
	uint64_t value; /* MSRS: the value refused */
	bool have_index; /* index (and value) say which */
	int rc; /* -errno */
};

/* The size of this host's XSAVE area (KVM_CAP_XSAVE2, at least 4096). */
uint32_t x86_xsave_size(struct vm *vm);

int x86_vcpu_state_get(struct vcpu *vcpu,
		       struct x86_vcpu_state *st) __must_check;
/*
 * Apply st in the order above; tsc is the guest TSC to set. On failure
 * *fail says what KVM refused.
 */
int x86_vcpu_state_set(struct vcpu *vcpu, const struct x86_vcpu_state *st,
		       uint64_t tsc, struct x86_state_error *fail) __must_check;
void x86_vcpu_state_free(struct x86_vcpu_state *st);

int x86_vm_state_get(struct vm *vm, struct x86_vm_state *st) __must_check;
int x86_vm_state_set(struct vm *vm, const struct x86_vm_state *st,
		     struct x86_state_error *fail) __must_check;

#endif
