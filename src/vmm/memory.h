/*
 * Guest RAM: one memfd mapped once into the VMM, presented to KVM as a low
 * slot below the MMIO hole and, for large guests, a high slot at 4 GiB.
 * Guest frame numbers (pfn = gpa >> 12) are what the stream carries; the
 * memfd offset of a pfn is its index in RAM order (low, then high).
 */
#ifndef GODWIT_VMM_MEMORY_H
#define GODWIT_VMM_MEMORY_H

#include <stdbool.h>
#include <stdint.h>

#include "common/bitmap.h"
#include "common/compiler.h"

#define PAGE_SHIFT 12
#define PAGE_SIZE (1ULL << PAGE_SHIFT)
/*
 * A region: 2 MiB of RAM, the huge page size, so the unit in which RAM
 * is loaded lazily (post-copy, lazy restore) without splitting pages.
 */
#define MEM_REGION_SHIFT 21
#define MEM_REGION_SIZE (1ULL << MEM_REGION_SHIFT)
#define MEM_REGION_PAGES (MEM_REGION_SIZE >> PAGE_SHIFT)

/* What guest RAM is made of (backing.c says why; godwit.cfg(5)). */
enum mem_backing {
	MEM_BACKING_THP, /* 2 MiB pages of a private tmpfs, else a memfd */
	MEM_BACKING_SMALL, /* a memfd of 4 KiB pages */
	MEM_BACKING_HUGETLB, /* hugetlbfs 2 MiB pages (vm.nr_hugepages) */
};

struct mem_region {
	uint64_t gpa; /* guest physical start */
	uint64_t size; /* bytes */
	uint64_t offset; /* offset in the memfd and in mem->host */
};

struct guest_mem {
	int memfd; /* the RAM file: a memfd or a private tmpfs file */
	enum mem_backing backing;
	bool huge_pages; /* the file hands out 2 MiB pages */
	bool hugetlb; /* hugetlbfs: no write(); store through the mapping */
	uint8_t *host; /* whole RAM, RAM order (low then high) */
	uint64_t size; /* total bytes */
	struct mem_region regions[2];
	unsigned int nr_regions;
	int vm_fd; /* -1 until mem_register() */
	bool dirty_logging;
	bool manual_protect; /* KVM_CLEAR_DIRTY_LOG in use */
	bool ring; /* KVM logs to per-vCPU rings (dirtyring.h), not bitmaps */
	/*
	 * Pages the VMM itself wrote (and, with rings, what was harvested
	 * from them), per RAM page. Device I/O and vCPU threads set bits
	 * while a migration collects them: both sides use atomics.
	 */
	struct bitmap vmm_dirty;
};

/* Split size bytes into regions around the MMIO hole. No KVM needed. */
void mem_plan(uint64_t size, struct mem_region regions_out[2],
	      unsigned int *nr_out);
/* Allocate RAM (mem_init: the default backing) and map it; vm_fd -1. */
int mem_init(struct guest_mem *mem, uint64_t size) __must_check;
int mem_init_backed(struct guest_mem *mem, uint64_t size,
		    enum mem_backing backing) __must_check;
/* backing.c: open the RAM file for mem->backing and mem->size. */
int mem_backing_open(struct guest_mem *mem) __must_check;
/* backing.c: map it, 2 MiB-aligned, at mem->host. */
int mem_backing_map(struct guest_mem *mem) __must_check;
const char *mem_backing_name(enum mem_backing b);
/* Idempotent; safe on a zeroed or half-built struct. */
void mem_destroy(struct guest_mem *mem);
/* Register the regions as KVM memory slots of vm_fd. */
int mem_register(struct guest_mem *mem, int vm_fd) __must_check;
/* (Re-)register region slot with KVM_MEM_* flags (dirty logging on/off). */
int mem_set_slot(struct guest_mem *mem, unsigned int slot,
		 uint32_t flags) __must_check;

/* Host pointer for [gpa, gpa+len) if it lies inside one region, else NULL. */
void *mem_gpa_to_hva(const struct guest_mem *mem, uint64_t gpa, uint64_t len);
bool mem_gpa_is_ram(const struct guest_mem *mem, uint64_t gpa, uint64_t len);
/* Highest guest frame number + 1 (pfns past RAM holes included). */
uint64_t mem_pfn_limit(const struct guest_mem *mem);
/* Page index in RAM order for a RAM pfn, or -1 for a pfn outside RAM. */
int64_t mem_pfn_to_index(const struct guest_mem *mem, uint64_t pfn);
uint64_t mem_index_to_pfn(const struct guest_mem *mem, uint64_t index);
static inline uint64_t mem_nr_pages(const struct guest_mem *mem)
{
	return mem->size >> PAGE_SHIFT;
}

/*
 * Store len bytes at byte offset off of RAM (RAM order) without faulting
 * them into the VMM's mapping: pwrite to the RAM file (hugetlbfs has no
 * write: a copy through the mapping). Not dirty-tracked: for building
 * RAM on a restore's or migration's receiving side.
 */
int mem_store(struct guest_mem *mem, uint64_t off, const void *buf,
	      uint64_t len) __must_check;

/* Copy into guest RAM from the VMM, marking the pages dirty. */
int mem_write(struct guest_mem *mem, uint64_t gpa, const void *buf,
	      uint64_t len) __must_check;
/*
 * Mark the pages under host range [hva, hva+len) of guest RAM as written
 * by the VMM, for pre-copy; any thread. Call it after the write: a
 * migration that collects the bit before the write lands sends the page
 * again in its next round.
 */
void mem_mark_dirty(struct guest_mem *mem, const void *hva, uint64_t len);

/* Dirty logging (live migration). Bitmaps are per RAM-order page index. */
int mem_dirty_log_start(struct guest_mem *mem) __must_check;
int mem_dirty_log_stop(struct guest_mem *mem) __must_check;
/*
 * Move KVM's dirty bits and the VMM's own writes into dirty (OR-ed in) and
 * re-arm write protection for them, so the next call sees only newer
 * writes.
 */
int mem_dirty_log_sync(struct guest_mem *mem,
		       struct bitmap *dirty) __must_check;

#endif
