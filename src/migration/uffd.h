/*
 * Guest RAM that fills itself on first touch: userfaultfd on the VMM's
 * mapping of guest RAM, in regions of 2 MiB (the huge page size, so a
 * region loaded whole lands in one huge page and the guest runs on it at
 * full speed). Post-copy (the regions come from the source) and lazy
 * restore (from the save file) are both built on it.
 *
 * Probed on our hosts (KVM-HERE.md: "userfaultfd works"): MISSING mode
 * on a memfd and on a tmpfs file, resolved by writing the page into the
 * file and waking the faulting thread, or by UFFDIO_COPY; a vCPU whose
 * guest touches a missing page blocks in KVM until then. Faults KVM's
 * own instruction emulator takes (guest ring 0 here) wait without
 * regard to signals: such a vCPU cannot be paused until its fault is
 * served (so a broken post-copy pauses with vm_pause_request(), which
 * does not wait for it).
 *
 * A region is loaded exactly once, whole, and only by the thread that
 * owns the uffd_ram: no page the guest may already have written is ever
 * written again. Regions that hold no data (zero pages, holes) are left
 * alone until touched, then allocated as zeros.
 *
 * One thread: the owner's. Nothing here is thread-safe.
 */
#ifndef GODWIT_MIGRATION_UFFD_H
#define GODWIT_MIGRATION_UFFD_H

#include <stdbool.h>
#include <stdint.h>

#include "common/bitmap.h"
#include "common/compiler.h"
#include "vmm/memory.h"

struct uffd_ram {
	int fd; /* the userfaultfd, non-blocking; -1 when closed */
	struct guest_mem *mem;
	uint64_t nr_regions;
	/*
	 * Regions whose contents must come from elsewhere before the guest
	 * may see them (set by the owner); a fault there waits until
	 * uffd_ram_place(). Any other missing page is zero.
	 */
	struct bitmap wanted;
	struct bitmap loaded; /* wanted regions placed so far */
	uint64_t nr_wanted, nr_loaded;
	uint8_t *zeros; /* a zero region, for hugetlbfs */
};

/*
 * A userfaultfd for mem's mapping, MISSING mode, nothing wanted yet.
 * -errno, with why filled, if this kernel cannot do it for this memory.
 */
int uffd_ram_open(struct uffd_ram *u, struct guest_mem *mem, char *why,
		  size_t whylen) __must_check;
/*
 * Region r must be fetched: its pages are dropped from the RAM file now
 * (so that the guest faults there) and it counts as not loaded.
 */
int uffd_ram_want(struct uffd_ram *u, uint64_t r) __must_check;
/*
 * The next region a thread faulted on (-EAGAIN: none now), and whether
 * it is wanted and not loaded yet (the caller must fetch it) or not
 * (served here: woken, or zero-filled and woken).
 */
int uffd_ram_next_fault(struct uffd_ram *u, uint64_t *region_out,
			bool *fetch_out) __must_check;
/*
 * Place a wanted region's contents (POSTCOPY_REGION_SIZE bytes; NULL:
 * zeros) and wake whoever waits on it. A region already loaded is left
 * as it is (returns 0): the guest may have written it since.
 */
int uffd_ram_place(struct uffd_ram *u, uint64_t r,
		   const void *data) __must_check;
static inline bool uffd_ram_is_loaded(const struct uffd_ram *u, uint64_t r)
{
	return !bitmap_test(&u->wanted, r) || bitmap_test(&u->loaded, r);
}
static inline bool uffd_ram_complete(const struct uffd_ram *u)
{
	return u->nr_loaded == u->nr_wanted;
}
/*
 * Unregister (every wanted region is loaded; the kernel zero-fills the
 * rest from now on) and close. Idempotent.
 */
void uffd_ram_close(struct uffd_ram *u);

#endif
