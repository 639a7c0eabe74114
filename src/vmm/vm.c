/*
 * VM creation and teardown. Creation order matters to KVM: the irqchip
 * and PIT exist before any vCPU, memory slots before the first KVM_RUN,
 * and each vCPU gets its CPUID before its LAPIC is touched (KVM derives
 * the LAPIC timer modes from CPUID).
 */
#include "vmm/vm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common/log.h"
#include "vmm/dirtyring.h"
#include "vmm/vcpu.h"
#include "vmm/x86/cpu.h"
#include "vmm/x86/cpuid.h"
#include "vmm/x86/msr.h"

static int vm_init_sync(struct vm *vm)
{
	pthread_mutex_init(&vm->pause.lock, NULL);
	pthread_cond_init(&vm->pause.wake, NULL);
	pthread_cond_init(&vm->pause.parked, NULL);
	pthread_mutex_init(&vm->stop_lock, NULL);
	vm->stop_eventfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return vm->stop_eventfd < 0 ? -errno : 0;
}

static int vm_create_vcpus(struct vm *vm)
{
	unsigned int i;
	int rc;

	vm->vcpus = calloc(vm->nr_vcpus, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return -ENOMEM;
	for (i = 0; i < vm->nr_vcpus; i++)
		vm->vcpus[i].fd = -1;
	for (i = 0; i < vm->nr_vcpus; i++) {
		rc = vcpu_create(vm, i, &vm->vcpus[i]);
		if (rc)
			return rc;
	}
	return 0;
}

int vm_create(struct vm *vm, const struct vm_config *config)
{
	int rc;

	memset(vm, 0, sizeof(*vm));
	vm->fd = -1;
	vm->stop_eventfd = -1;
	vm->mem.memfd = -1;
	vm->kvm.fd = -1;
	vm->config = *config;
	vm->nr_vcpus = config->nr_vcpus;
	if (!vm->nr_vcpus || vm->nr_vcpus > VM_MAX_VCPUS) {
		log_err("vcpus=%u is out of range (1..%u)", vm->nr_vcpus,
			VM_MAX_VCPUS);
		return -EINVAL;
	}
	rc = vm_init_sync(vm);
	if (rc)
		goto err;
	rc = vcpu_signal_init();
	if (rc)
		goto err;
	rc = kvm_open(&vm->kvm);
	if (rc)
		goto err;
	rc = cpuid_build(&vm->kvm, config->cpu_model, &vm->cpuid,
			 &vm->cpuid_digest, vm->cpu_vendor);
	if (rc)
		goto err;
	vm->fd = ioctl(vm->kvm.fd, KVM_CREATE_VM, 0);
	if (vm->fd < 0) {
		rc = -errno;
		log_err("cannot create a KVM VM: %s", strerror(errno));
		goto err;
	}
	rc = x86_vm_init(vm);
	if (rc)
		goto err;
	rc = mem_init_backed(&vm->mem, config->mem_bytes, config->backing);
	if (rc) {
		log_err("cannot allocate %llu MiB of guest memory (memory_backing %s): %s%s",
			(unsigned long long)(config->mem_bytes >> 20),
			mem_backing_name(config->backing), strerror(-rc),
			config->backing == MEM_BACKING_HUGETLB ?
				" (are enough 2 MiB pages reserved in vm.nr_hugepages?)" :
				"");
		goto err;
	}
	rc = mem_register(&vm->mem, vm->fd);
	if (!rc)
		rc = dring_vm_enable(vm); /* before the first vCPU */
	if (rc)
		goto err;
	rc = vm_create_vcpus(vm);
	if (rc)
		goto err;
	rc = msr_save_list(&vm->kvm, vm->vcpus[0].fd, &vm->save_msrs,
			   &vm->nr_save_msrs);
	if (rc) {
		log_err("cannot list the vCPU MSRs: %s", strerror(-rc));
		goto err;
	}
	return 0;
err:
	vm_destroy(vm);
	return rc;
}

static void vm_join_threads(struct vm *vm)
{
	unsigned int i;

	pthread_mutex_lock(&vm->pause.lock);
	vm->pause.quit = true;
	for (i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i].thread_started)
			vcpu_kick(&vm->vcpus[i]);
	pthread_cond_broadcast(&vm->pause.wake);
	pthread_mutex_unlock(&vm->pause.lock);
	for (i = 0; i < vm->nr_vcpus; i++) {
		if (vm->vcpus[i].thread_started)
			pthread_join(vm->vcpus[i].thread, NULL);
		vm->vcpus[i].thread_started = false;
	}
}

void vm_destroy(struct vm *vm)
{
	unsigned int i;

	if (vm->vcpus) {
		vm_join_threads(vm);
		for (i = 0; i < vm->nr_vcpus; i++)
			vcpu_destroy(&vm->vcpus[i]);
		free(vm->vcpus);
		vm->vcpus = NULL;
	}
	mem_destroy(&vm->mem);
	if (vm->fd >= 0)
		close(vm->fd);
	vm->fd = -1;
	free(vm->cpuid);
	vm->cpuid = NULL;
	free(vm->save_msrs);
	vm->save_msrs = NULL;
	kvm_close(&vm->kvm);
	if (vm->stop_eventfd >= 0)
		close(vm->stop_eventfd);
	vm->stop_eventfd = -1;
}

int vm_start(struct vm *vm, bool paused)
{
	unsigned int i;
	int rc;

	/*
	 * Threads start parked: a pause taken before any exists freezes
	 * guest time (unless a restore already set it) and makes each new
	 * thread park before its first KVM_RUN.
	 */
	rc = vm_pause(vm);
	if (rc)
		return rc;
	for (i = 0; i < vm->nr_vcpus; i++) {
		rc = vcpu_start_thread(&vm->vcpus[i]);
		if (rc)
			return rc;
	}
	return paused ? 0 : vm_resume(vm);
}

int vm_irq_line(struct vm *vm, unsigned int gsi, int level)
{
	struct kvm_irq_level irq = { .irq = gsi, .level = level };

	return ioctl(vm->fd, KVM_IRQ_LINE, &irq) < 0 ? -errno : 0;
}

int vm_add_virtio_mmio(struct vm *vm, uint64_t base, uint32_t size,
		       uint32_t gsi)
{
	if (vm->nr_virtio_mmio == VM_MAX_VIRTIO_MMIO)
		return -ENOSPC;
	vm->virtio_mmio[vm->nr_virtio_mmio++] = (struct vm_virtio_mmio){
		.base = base, .size = size, .gsi = gsi
	};
	return 0;
}
