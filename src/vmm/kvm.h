/*
 * The /dev/kvm system handle: API version, capabilities and the host-wide
 * tables (supported CPUID, MSR index list) that VM setup and save need.
 */
#ifndef GODWIT_VMM_KVM_H
#define GODWIT_VMM_KVM_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/compiler.h"

struct kvm {
	int fd; /* /dev/kvm */
	int vcpu_mmap_size; /* size of each vCPU's kvm_run mapping */
	struct kvm_cpuid2 *supported_cpuid;
	struct kvm_msr_list *msr_list;
};

/* Open /dev/kvm (path overridable with GODWIT_KVM for tests). */
int kvm_open(struct kvm *kvm) __must_check;
void kvm_close(struct kvm *kvm);
int kvm_check_cap(const struct kvm *kvm, long cap);

#endif
