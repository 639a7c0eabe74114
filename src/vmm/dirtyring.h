/*
 * KVM's dirty ring (KVM_CAP_DIRTY_LOG_RING): while dirty logging is on,
 * each vCPU gets an entry in a ring of its own for every page it dirties
 * first, so a migration learns which vCPU dirties how fast (the throttle
 * slows only those), and can count dirtied pages at any moment without
 * touching KVM's state. The dirty bitmap (dirtylog.c) stays the path for
 * a KVM without the ring, or with GODWIT_DIRTY_LOG=bitmap.
 *
 * Probed on the software KVM of our hosts (tests/kvm/test_converge.py
 * runs guests on both paths): every page written, and only those, shows
 * up once per write protection, as on hardware KVM.
 *
 * Harvesting moves a ring's entries into mem->vmm_dirty (the bitmap the
 * VMM's own writes go to) and counts them for the vCPU; KVM re-protects
 * the harvested pages at KVM_RESET_DIRTY_RINGS. A vCPU whose ring fills
 * up harvests it itself (KVM_EXIT_DIRTY_RING_FULL) and goes on.
 */
#ifndef GODWIT_VMM_DIRTYRING_H
#define GODWIT_VMM_DIRTYRING_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/bitmap.h"
#include "common/compiler.h"

struct vm;
struct vcpu;

/* Entries per vCPU ring: 64 KiB of kernel memory per vCPU. */
#define DRING_ENTRIES 4096u

struct dring {
	struct kvm_dirty_gfn *gfns; /* NULL: this VM logs to the bitmap */
	uint32_t size; /* entries, a power of two */
	uint32_t fetch; /* next entry to harvest, free-running; under lock */
	pthread_mutex_t lock; /* harvesting: vCPU thread vs. migration */
	uint64_t harvested; /* entries harvested so far; atomic */
};

/*
 * Before any vCPU exists: give the VM rings if KVM has them (and the
 * environment does not ask for the bitmap). 0 or -errno.
 */
int dring_vm_enable(struct vm *vm) __must_check;
/* Map vcpu's ring (if the VM has rings); at vCPU creation. */
int dring_vcpu_init(struct vm *vm, struct vcpu *vcpu) __must_check;
void dring_vcpu_destroy(struct vcpu *vcpu);
/*
 * Harvest vcpu's ring into vm->mem.vmm_dirty (any thread); returns the
 * entries taken. The caller resets the rings (dring_reset) before it
 * reads the pages' contents.
 */
uint32_t dring_harvest(struct vm *vm, struct vcpu *vcpu);
int dring_reset(struct vm *vm) __must_check;
/*
 * Pages vcpu has dirtied since logging started, with the entries still
 * waiting in its ring: for measuring rates between syncs. No side effect.
 */
uint64_t dring_count(struct vcpu *vcpu);

/*
 * The VM's dirty log, whichever it uses: start, stop, and sync (every
 * page dirtied since the last sync OR-ed into dirty, write protection
 * re-armed for them). The bitmap path is memory.h's mem_dirty_log_*.
 */
int vm_dirty_log_start(struct vm *vm) __must_check;
int vm_dirty_log_stop(struct vm *vm) __must_check;
int vm_dirty_log_sync(struct vm *vm, struct bitmap *dirty) __must_check;
/* The rings are in use (per-vCPU counts are meaningful). */
bool vm_dirty_ring_on(const struct vm *vm);

#endif
