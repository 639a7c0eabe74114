/*
 * The dirty ring, per vCPU (dirtyring.h says why). KVM publishes an
 * entry by setting its DIRTY flag last (release); we read the flag with
 * acquire, take slot and offset, and hand the entry back by setting
 * RESET. Entries are consumed in order: the first one not DIRTY ends a
 * harvest. KVM_RESET_DIRTY_RINGS then re-protects what was handed back,
 * so a page dirtied again after that gets a new entry.
 */
#include "vmm/dirtyring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/log.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"

int dring_vm_enable(struct vm *vm)
{
	struct kvm_enable_cap cap = { .cap = KVM_CAP_DIRTY_LOG_RING };
	const char *want = getenv("GODWIT_DIRTY_LOG");
	int max;

	vm->dring_entries = 0;
	if (want && !strcmp(want, "bitmap"))
		return 0;
	max = ioctl(vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_DIRTY_LOG_RING);
	if (max < (int)(DRING_ENTRIES * sizeof(struct kvm_dirty_gfn))) {
		log_debug("no dirty ring (KVM offers %d bytes): dirty bitmap",
			  max);
		return 0;
	}
	cap.args[0] = DRING_ENTRIES * sizeof(struct kvm_dirty_gfn);
	if (ioctl(vm->fd, KVM_ENABLE_CAP, &cap) < 0) {
		log_debug("cannot enable the dirty ring (%s): dirty bitmap",
			  strerror(errno));
		return 0;
	}
	vm->dring_entries = DRING_ENTRIES;
	vm->mem.ring = true;
	return 0;
}

int dring_vcpu_init(struct vm *vm, struct vcpu *vcpu)
{
	struct dring *r = &vcpu->ring;
	size_t len = vm->dring_entries * sizeof(struct kvm_dirty_gfn);
	void *p;

	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	if (!vm->dring_entries)
		return 0;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd,
		 KVM_DIRTY_LOG_PAGE_OFFSET * sysconf(_SC_PAGESIZE));
	if (p == MAP_FAILED)
		return -errno;
	r->gfns = p;
	r->size = vm->dring_entries;
	return 0;
}

void dring_vcpu_destroy(struct vcpu *vcpu)
{
	struct dring *r = &vcpu->ring;

	if (r->gfns)
		munmap(r->gfns, r->size * sizeof(struct kvm_dirty_gfn));
	r->gfns = NULL;
}

/* RAM-order page index of a ring entry, or -1 if it names no RAM. */
static int64_t entry_index(const struct guest_mem *mem,
			   const struct kvm_dirty_gfn *e)
{
	const struct mem_region *reg;

	if (e->slot >= mem->nr_regions)
		return -1;
	reg = &mem->regions[e->slot];
	if (e->offset >= reg->size >> PAGE_SHIFT)
		return -1;
	return (int64_t)((reg->offset >> PAGE_SHIFT) + e->offset);
}

uint32_t dring_harvest(struct vm *vm, struct vcpu *vcpu)
{
	struct dring *r = &vcpu->ring;
	struct kvm_dirty_gfn *e;
	uint32_t n = 0;
	int64_t idx;

	if (!r->gfns)
		return 0;
	pthread_mutex_lock(&r->lock);
	for (;;) {
		e = &r->gfns[r->fetch & (r->size - 1)];
		if (!(__atomic_load_n(&e->flags, __ATOMIC_ACQUIRE) &
		      KVM_DIRTY_GFN_F_DIRTY))
			break;
		idx = entry_index(&vm->mem, e);
		if (idx >= 0)
			__atomic_fetch_or(&vm->mem.vmm_dirty.words[idx / 64],
					  1ULL << (idx % 64), __ATOMIC_RELEASE);
		__atomic_store_n(&e->flags, KVM_DIRTY_GFN_F_RESET,
				 __ATOMIC_RELEASE);
		r->fetch++;
		n++;
	}
	__atomic_fetch_add(&r->harvested, n, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&r->lock);
	return n;
}

int dring_reset(struct vm *vm)
{
	if (!vm->dring_entries)
		return 0;
	return ioctl(vm->fd, KVM_RESET_DIRTY_RINGS, 0) < 0 ? -errno : 0;
}

uint64_t dring_count(struct vcpu *vcpu)
{
	struct dring *r = &vcpu->ring;
	uint64_t n;
	uint32_t i;

	if (!r->gfns)
		return 0;
	pthread_mutex_lock(&r->lock);
	n = __atomic_load_n(&r->harvested, __ATOMIC_RELAXED);
	for (i = 0; i < r->size; i++) {
		struct kvm_dirty_gfn *e =
			&r->gfns[(r->fetch + i) & (r->size - 1)];

		if (!(__atomic_load_n(&e->flags, __ATOMIC_ACQUIRE) &
		      KVM_DIRTY_GFN_F_DIRTY))
			break;
		n++;
	}
	pthread_mutex_unlock(&r->lock);
	return n;
}

bool vm_dirty_ring_on(const struct vm *vm)
{
	return vm->dring_entries != 0;
}

/* Everything in the rings into vmm_dirty, then re-protect it. */
static int harvest_all(struct vm *vm)
{
	unsigned int i;

	for (i = 0; i < vm->nr_vcpus; i++)
		dring_harvest(vm, &vm->vcpus[i]);
	return dring_reset(vm);
}

int vm_dirty_log_start(struct vm *vm)
{
	/* Entries left from an earlier migration are stale: drop them. */
	int rc = harvest_all(vm);

	return rc ? rc : mem_dirty_log_start(&vm->mem);
}

int vm_dirty_log_stop(struct vm *vm)
{
	return mem_dirty_log_stop(&vm->mem);
}

int vm_dirty_log_sync(struct vm *vm, struct bitmap *dirty)
{
	int rc = harvest_all(vm);

	if (rc) {
		log_err("dirty ring reset: %s", strerror(-rc));
		return rc;
	}
	return mem_dirty_log_sync(&vm->mem, dirty);
}
