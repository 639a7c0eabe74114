/* Opening /dev/kvm and reading the host-wide tables once per process. */
#include "vmm/kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common/log.h"

#define KVM_MAX_CPUID_ENTRIES 512
#define KVM_MAX_MSRS 1024

static int kvm_read_cpuid(struct kvm *kvm)
{
	size_t sz = sizeof(struct kvm_cpuid2) +
		    KVM_MAX_CPUID_ENTRIES * sizeof(struct kvm_cpuid_entry2);

	kvm->supported_cpuid = calloc(1, sz);
	if (!kvm->supported_cpuid)
		return -ENOMEM;
	kvm->supported_cpuid->nent = KVM_MAX_CPUID_ENTRIES;
	if (ioctl(kvm->fd, KVM_GET_SUPPORTED_CPUID, kvm->supported_cpuid) < 0)
		return -errno;
	return 0;
}

static int kvm_read_msr_list(struct kvm *kvm)
{
	kvm->msr_list = calloc(1, sizeof(struct kvm_msr_list) +
					  KVM_MAX_MSRS * sizeof(uint32_t));
	if (!kvm->msr_list)
		return -ENOMEM;
	kvm->msr_list->nmsrs = KVM_MAX_MSRS;
	if (ioctl(kvm->fd, KVM_GET_MSR_INDEX_LIST, kvm->msr_list) < 0)
		return -errno;
	return 0;
}

int kvm_open(struct kvm *kvm)
{
	const char *path = getenv("GODWIT_KVM");
	int rc;

	memset(kvm, 0, sizeof(*kvm));
	if (!path)
		path = "/dev/kvm";
	kvm->fd = open(path, O_RDWR | O_CLOEXEC);
	if (kvm->fd < 0) {
		rc = -errno;
		log_err("cannot open %s: %s (is KVM available on this host?)",
			path, strerror(errno));
		return rc;
	}
	rc = ioctl(kvm->fd, KVM_GET_API_VERSION, 0);
	if (rc != KVM_API_VERSION) {
		log_err("%s: KVM API version %d, need %d", path, rc,
			KVM_API_VERSION);
		rc = -ENOTSUP;
		goto err;
	}
	kvm->vcpu_mmap_size = ioctl(kvm->fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (kvm->vcpu_mmap_size <= 0) {
		rc = -errno;
		goto err;
	}
	rc = kvm_read_cpuid(kvm);
	if (!rc)
		rc = kvm_read_msr_list(kvm);
	if (rc) {
		log_err("%s: cannot read host CPUID/MSR tables: %s", path,
			strerror(-rc));
		goto err;
	}
	return 0;
err:
	kvm_close(kvm);
	return rc;
}

void kvm_close(struct kvm *kvm)
{
	if (kvm->fd >= 0)
		close(kvm->fd);
	kvm->fd = -1;
	free(kvm->supported_cpuid);
	kvm->supported_cpuid = NULL;
	free(kvm->msr_list);
	kvm->msr_list = NULL;
}

int kvm_check_cap(const struct kvm *kvm, long cap)
{
	int r = ioctl(kvm->fd, KVM_CHECK_EXTENSION, cap);

	return r < 0 ? 0 : r;
}
