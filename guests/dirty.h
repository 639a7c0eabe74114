/*
 * dirty.elf and smp-dirty.elf: the work description ring 0 hands to ring
 * 3, and the page format. Every 4 KiB page of the area starts with a
 * 16-byte header {pfn, sweep} and ends with an identical 16-byte trailer;
 * a page never written holds zeros.
 */
#ifndef GUEST_DIRTY_H
#define GUEST_DIRTY_H

#include "shared.h"

#define DIRTY_MAX_EXTENTS 16 /* per CPU */
#define DIRTY_CHUNK_PAGES 16 /* rate limiting granularity (64 KiB) */
#define DIRTY_DATA_MAX 4064 /* a page less its header and trailer */

/* One CPU's slice of the area, as runs of consecutive pfns. */
struct dirty_slice {
	uint64_t pfn[DIRTY_MAX_EXTENTS];
	uint64_t count[DIRTY_MAX_EXTENTS];
	uint32_t nr;
	uint64_t pages;
} __attribute__((aligned(CACHELINE)));

struct dirty_config {
	uint64_t sweeps; /* 0: forever */
	uint64_t tsc_per_chunk; /* per CPU; 0: unlimited rate */
	uint64_t corrupt_sweep; /* self-test: damage a page after it */
	uint64_t fill; /* 1: the first sweep ignores the rate limit */
	uint64_t data; /* bytes of noise after each page's header */
	struct dirty_slice slice[MAX_CPUS];
};

extern struct dirty_config dirty_config;

/*
 * user_status fields for the dirty guests: progress = last completed
 * sweep; on USER_BAD, bad_a = pfn, bad_b = expected, bad_c = found.
 */

#endif
