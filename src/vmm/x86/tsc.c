/*
 * Guest time. All vCPUs share one TSC offset so they never disagree;
 * where KVM offers KVM_VCPU_TSC_OFFSET the offset is set exactly,
 * otherwise through MSR_IA32_TSC writes (which KVM matches across vCPUs
 * written close together). While a VM is paused its TSC and kvmclock are
 * frozen: the guest sees no time pass, as after a restore.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <x86intrin.h>

#include "vmm/vcpu.h"
#include "vmm/vm.h"
#include "vmm/x86/cpu.h"
#include "vmm/x86/msr.h"

static int tsc_offset_get(struct vcpu *vcpu, uint64_t *off_out)
{
	struct kvm_device_attr attr = {
		.group = KVM_VCPU_TSC_CTRL,
		.attr = KVM_VCPU_TSC_OFFSET,
		.addr = (uint64_t)(uintptr_t)off_out,
	};

	return ioctl(vcpu->fd, KVM_GET_DEVICE_ATTR, &attr) < 0 ? -errno : 0;
}

static int tsc_offset_set(struct vcpu *vcpu, uint64_t off)
{
	struct kvm_device_attr attr = {
		.group = KVM_VCPU_TSC_CTRL,
		.attr = KVM_VCPU_TSC_OFFSET,
		.addr = (uint64_t)(uintptr_t)&off,
	};

	return ioctl(vcpu->fd, KVM_SET_DEVICE_ATTR, &attr) < 0 ? -errno : 0;
}

int x86_tsc_get(struct vm *vm, uint64_t *tsc_out)
{
	uint64_t off;
	int rc;

	if (!vm->tsc_offset_ctrl)
		return msr_get_one(vm->vcpus[0].fd, MSR_IA32_TSC, tsc_out);
	rc = tsc_offset_get(&vm->vcpus[0], &off);
	if (rc)
		return rc;
	*tsc_out = __rdtsc() + off;
	return 0;
}

int x86_tsc_set(struct vm *vm, uint64_t tsc)
{
	uint64_t off = tsc - __rdtsc();
	unsigned int i;
	int rc;

	for (i = 0; i < vm->nr_vcpus; i++) {
		if (vm->tsc_offset_ctrl)
			rc = tsc_offset_set(&vm->vcpus[i], off);
		else
			rc = msr_set_one(vm->vcpus[i].fd, MSR_IA32_TSC, tsc);
		if (rc)
			return rc;
	}
	return 0;
}

int x86_tsc_set_one(struct vcpu *vcpu, uint64_t tsc)
{
	if (vcpu->vm->tsc_offset_ctrl)
		return tsc_offset_set(vcpu, tsc - __rdtsc());
	return msr_set_one(vcpu->fd, MSR_IA32_TSC, tsc);
}

int x86_time_freeze(struct vm *vm, uint64_t *tsc_out)
{
	struct kvm_clock_data clock = { 0 };
	int rc;

	rc = x86_tsc_get(vm, tsc_out);
	if (rc)
		return rc;
	if (ioctl(vm->fd, KVM_GET_CLOCK, &clock) < 0)
		return -errno;
	vm->pause.kvmclock_ns = clock.clock;
	return 0;
}

int x86_time_thaw(struct vm *vm, uint64_t tsc)
{
	struct kvm_clock_data clock = { .clock = vm->pause.kvmclock_ns };
	int rc;

	rc = x86_tsc_set(vm, tsc);
	if (rc)
		return rc;
	if (ioctl(vm->fd, KVM_SET_CLOCK, &clock) < 0)
		return -errno;
	return 0;
}
