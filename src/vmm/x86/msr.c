/* MSR boot values and one-at-a-time access through KVM_{GET,SET}_MSRS. */
#include "vmm/x86/msr.h"

#include <errno.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>

struct msr_one {
	struct kvm_msrs hdr;
	struct kvm_msr_entry entry;
};

int msr_get_one(int vcpu_fd, uint32_t index, uint64_t *value_out)
{
	struct msr_one m = { .hdr.nmsrs = 1, .entry.index = index };
	int r = ioctl(vcpu_fd, KVM_GET_MSRS, &m);

	if (r < 0)
		return -errno;
	if (r != 1)
		return -EINVAL;
	*value_out = m.entry.data;
	return 0;
}

int msr_set_one(int vcpu_fd, uint32_t index, uint64_t value)
{
	struct msr_one m = {
		.hdr.nmsrs = 1,
		.entry = { .index = index, .data = value },
	};
	int r = ioctl(vcpu_fd, KVM_SET_MSRS, &m);

	if (r < 0)
		return -errno;
	return r == 1 ? 0 : -EINVAL;
}

int msr_set_boot(int vcpu_fd)
{
	int rc;

	rc = msr_set_one(vcpu_fd, MSR_IA32_MISC_ENABLE, 1 /* fast strings */);
	if (rc)
		return rc;
	/* MTRRs enabled, default type write-back: RAM is cacheable. */
	return msr_set_one(vcpu_fd, MSR_MTRR_DEF_TYPE, (1u << 11) | 6);
}
