/* Model-specific registers: boot values and single-MSR access helpers. */
#ifndef GODWIT_VMM_X86_MSR_H
#define GODWIT_VMM_X86_MSR_H

#include <stdbool.h>
#include <stdint.h>

#include "common/compiler.h"

#define MSR_IA32_TSC 0x10
#define MSR_IA32_APICBASE 0x1b
#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_MTRR_DEF_TYPE 0x2ff
#define MSR_KVM_WALL_CLOCK_NEW 0x4b564d00

/* What firmware would leave behind: fast strings on, MTRRs default WB. */
int msr_set_boot(int vcpu_fd) __must_check;
int msr_get_one(int vcpu_fd, uint32_t index, uint64_t *value_out) __must_check;
int msr_set_one(int vcpu_fd, uint32_t index, uint64_t value) __must_check;

struct kvm;

/*
 * The MSRs to save for every vCPU: KVM's index list minus those carried
 * elsewhere or without state (see docs/stream-format.md, VCPU_MSRS),
 * minus any this vCPU cannot read. *list_out is malloc()ed.
 */
int msr_save_list(const struct kvm *kvm, int vcpu_fd, uint32_t **list_out,
		  unsigned int *nr_out) __must_check;
/* True for MSRs never saved: they travel in other records or are
 * write-only triggers. */
bool msr_is_skipped(uint32_t index);

#endif
