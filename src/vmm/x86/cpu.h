/*
 * x86 parts of VM and vCPU setup: irqchip/PIT creation, per-vCPU CPUID,
 * MSRs, LAPIC wiring and FPU defaults, boot register state, and guest
 * time (TSC, kvmclock) freezing for pauses.
 */
#ifndef GODWIT_VMM_X86_CPU_H
#define GODWIT_VMM_X86_CPU_H

#include <stdint.h>

#include "common/compiler.h"
#include "vmm/x86/boot.h"

struct vm;
struct vcpu;

/* TSS/identity-map addresses, in-kernel irqchip and PIT. */
int x86_vm_init(struct vm *vm) __must_check;
/* CPUID, boot MSRs, LAPIC LINT0/LINT1 and FPU defaults for one vCPU. */
int x86_vcpu_init(struct vcpu *vcpu) __must_check;
/* Registers for the first instruction of a freshly loaded kernel. */
int x86_vcpu_set_boot(struct vcpu *vcpu,
		      const struct boot_entry *entry) __must_check;
int x86_vcpu_get_rip(struct vcpu *vcpu, uint64_t *rip_out);

/* Guest TSC of vCPU 0 now; all vCPUs share one offset. */
int x86_tsc_get(struct vm *vm, uint64_t *tsc_out) __must_check;
/* Make every vCPU's TSC read tsc now (one shared offset). */
int x86_tsc_set(struct vm *vm, uint64_t tsc) __must_check;
/* Set one vCPU's TSC to tsc now (restore: before its TSC MSRs). */
int x86_tsc_set_one(struct vcpu *vcpu, uint64_t tsc) __must_check;
/* Pause/resume guest time: TSC and kvmclock (vCPUs must be parked). */
int x86_time_freeze(struct vm *vm, uint64_t *tsc_out) __must_check;
int x86_time_thaw(struct vm *vm, uint64_t tsc) __must_check;

#endif
