/*
 * KVM dirty logging for live migration.
 *
 * With KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, KVM_GET_DIRTY_LOG only reports
 * and the caller re-protects with KVM_CLEAR_DIRTY_LOG, in chunks so that a
 * huge guest is never write-protected all at once (each chunk's pages fault
 * again on their next write). Without it, GET both reports and re-protects.
 * Initially-all-set is not used: round 0 of a migration sends every page
 * anyway, so the first sync only needs writes made after logging started.
 */
#include "vmm/memory.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "common/log.h"

#define CLEAR_CHUNK_PAGES (64ULL * 4096) /* 1 GiB of 4 KiB pages */

static int dirty_set_flags(struct guest_mem *mem, uint32_t flags)
{
	unsigned int i;
	int rc;

	for (i = 0; i < mem->nr_regions; i++) {
		rc = mem_set_slot(mem, i, flags);
		if (rc)
			return rc;
	}
	return 0;
}

/*
 * Move the VMM's own writes into dirty (NULL: drop them). Device I/O
 * threads may be setting bits meanwhile: each word is taken atomically,
 * so a bit is either collected now or stays for the next time.
 */
static void vmm_dirty_collect(struct guest_mem *mem, struct bitmap *dirty)
{
	size_t i, n = BITMAP_WORDS(mem->vmm_dirty.nbits);
	uint64_t w;

	for (i = 0; i < n; i++) {
		w = __atomic_exchange_n(&mem->vmm_dirty.words[i], 0,
					__ATOMIC_ACQUIRE);
		if (dirty)
			dirty->words[i] |= w;
	}
}

int mem_dirty_log_start(struct guest_mem *mem)
{
	struct kvm_enable_cap cap = {
		.cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
		.args[0] = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE,
	};
	int rc;

	if (mem->vm_fd < 0)
		return -EINVAL;
	/* The capability must be enabled before the slots get the flag. */
	mem->manual_protect = false;
	if (!mem->dirty_logging && !mem->ring &&
	    ioctl(mem->vm_fd, KVM_CHECK_EXTENSION,
		  KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) > 0 &&
	    ioctl(mem->vm_fd, KVM_ENABLE_CAP, &cap) == 0)
		mem->manual_protect = true;
	rc = dirty_set_flags(mem, KVM_MEM_LOG_DIRTY_PAGES);
	if (rc)
		return rc;
	mem->dirty_logging = true;
	vmm_dirty_collect(mem, NULL);
	return 0;
}

int mem_dirty_log_stop(struct guest_mem *mem)
{
	int rc;

	if (!mem->dirty_logging)
		return 0;
	rc = dirty_set_flags(mem, 0);
	if (rc == 0)
		mem->dirty_logging = false;
	return rc;
}

static int dirty_clear(struct guest_mem *mem, unsigned int slot, uint64_t *bits,
		       uint64_t npages)
{
	uint64_t first;

	for (first = 0; first < npages; first += CLEAR_CHUNK_PAGES) {
		struct kvm_clear_dirty_log clear = {
			.slot = slot,
			.first_page = first,
			.num_pages = MIN(CLEAR_CHUNK_PAGES, npages - first),
			.dirty_bitmap = bits + first / 64,
		};

		if (ioctl(mem->vm_fd, KVM_CLEAR_DIRTY_LOG, &clear) < 0)
			return -errno;
	}
	return 0;
}

static int dirty_sync_slot(struct guest_mem *mem, unsigned int slot,
			   struct bitmap *dirty)
{
	const struct mem_region *r = &mem->regions[slot];
	uint64_t npages = r->size >> PAGE_SHIFT;
	uint64_t nwords = BITMAP_WORDS(npages);
	struct kvm_dirty_log log = { .slot = slot };
	uint64_t *bits;
	int rc = 0;

	bits = calloc(nwords, 8);
	if (!bits)
		return -ENOMEM;
	log.dirty_bitmap = bits;
	if (ioctl(mem->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0) {
		rc = -errno;
		goto out;
	}
	if (mem->manual_protect) {
		rc = dirty_clear(mem, slot, bits, npages);
		if (rc)
			goto out;
	}
	/* Region offsets are multiples of 2 MiB, so word-aligned in pages. */
	bitmap_or_words(dirty, (r->offset >> PAGE_SHIFT) / 64, bits, nwords);
out:
	free(bits);
	return rc;
}

int mem_dirty_log_sync(struct guest_mem *mem, struct bitmap *dirty)
{
	unsigned int i;
	int rc;

	if (!mem->dirty_logging)
		return -EINVAL;
	/* With rings the caller harvested them into vmm_dirty already. */
	for (i = 0; !mem->ring && i < mem->nr_regions; i++) {
		rc = dirty_sync_slot(mem, i, dirty);
		if (rc) {
			log_err("dirty log of slot %u: %s", i, strerror(-rc));
			return rc;
		}
	}
	vmm_dirty_collect(mem, dirty);
	return 0;
}
