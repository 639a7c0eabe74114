/* MSR boot values and one-at-a-time access through KVM_{GET,SET}_MSRS. */
#include "vmm/x86/msr.h"

#include <errno.h>
#include <string.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <sys/ioctl.h>

#include "vmm/kvm.h"

/* struct kvm_msrs with room for one entry (same layout, no flex array). */
struct msr_one {
	struct {
		uint32_t nmsrs;
		uint32_t pad;
	} hdr;
	struct kvm_msr_entry entry;
};
_Static_assert(sizeof(struct msr_one) ==
		       sizeof(struct kvm_msrs) + sizeof(struct kvm_msr_entry),
	       "msr_one layout");

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

#define MSR_KVM_WALL_CLOCK 0x11
#define MSR_X2APIC_FIRST 0x800
#define MSR_X2APIC_LAST 0x8ff

bool msr_is_skipped(uint32_t index)
{
	return index == MSR_IA32_TSC || index == MSR_IA32_APICBASE ||
	       index == MSR_KVM_WALL_CLOCK || index == MSR_KVM_WALL_CLOCK_NEW ||
	       (index >= MSR_X2APIC_FIRST && index <= MSR_X2APIC_LAST);
}

/* Try to read all of list; drop the first unreadable one and repeat. */
static int msr_probe(int vcpu_fd, uint32_t *list, unsigned int *n)
{
	struct kvm_msrs *m;
	unsigned int i;
	int r, rc = 0;

	m = calloc(1, sizeof(*m) + *n * sizeof(m->entries[0]));
	if (!m)
		return -ENOMEM;
	for (;;) {
		m->nmsrs = *n;
		for (i = 0; i < *n; i++)
			m->entries[i].index = list[i];
		r = ioctl(vcpu_fd, KVM_GET_MSRS, m);
		if (r < 0) {
			rc = -errno;
			break;
		}
		if ((unsigned int)r >= *n)
			break;
		/* KVM stops at the first MSR it cannot read. */
		memmove(&list[r], &list[r + 1], (*n - r - 1) * sizeof(*list));
		(*n)--;
	}
	free(m);
	return rc;
}

int msr_save_list(const struct kvm *kvm, int vcpu_fd, uint32_t **list_out,
		  unsigned int *nr_out)
{
	const struct kvm_msr_list *all = kvm->msr_list;
	uint32_t *list;
	unsigned int i, n = 0;
	int rc;

	list = calloc(all->nmsrs ? all->nmsrs : 1, sizeof(*list));
	if (!list)
		return -ENOMEM;
	for (i = 0; i < all->nmsrs; i++)
		if (!msr_is_skipped(all->indices[i]))
			list[n++] = all->indices[i];
	rc = msr_probe(vcpu_fd, list, &n);
	if (rc) {
		free(list);
		return rc;
	}
	*list_out = list;
	*nr_out = n;
	return 0;
}
