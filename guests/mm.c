/*
 * Guest memory: the PVH memory map, the final page tables and the RAM a
 * guest may use for its work.
 *
 * Page tables identity-map [0, max(4 GiB, end of RAM)) with 2 MiB pages,
 * or 1 GiB pages where a whole GiB is alike and the CPU has them, up to
 * MAP_LIMIT. A page that overlaps RAM is user-accessible and write-back;
 * every other page (LAPIC, IOAPIC, other MMIO) is supervisor-only and
 * uncached. The tables and every boot structure are
 * excluded from the RAM handed out by mm_take(), as is all of the first
 * MiB. Ring 0 only.
 */
#include "kernel.h"

#define MAP_LIMIT (64ULL << 30) /* highest mapped guest-physical address */
#define MAX_RAM 64
#define MAX_EXCLUDE 64
#define PTE_P 0x1ULL
#define PTE_RW 0x2ULL
#define PTE_US 0x4ULL
#define PTE_PWT 0x8ULL
#define PTE_PCD 0x10ULL
#define PTE_PS 0x80ULL
#define LOW_LIMIT 0x100000ULL /* mm_take() never hands out the first MiB */

struct range {
	uint64_t start;
	uint64_t end;
};

static struct range ram[MAX_RAM];
static unsigned int nram;
static struct range excl[MAX_EXCLUDE];
static unsigned int nexcl;
static uint64_t take_cursor = LOW_LIMIT;

static uint64_t pml4[512]
	__attribute__((aligned(PAGE_SIZE), section(".bss.noinit")));
static uint64_t pdpt[512]
	__attribute__((aligned(PAGE_SIZE), section(".bss.noinit")));
static uint64_t pd[MAP_LIMIT >> 30][512]
	__attribute__((aligned(PAGE_SIZE), section(".bss.noinit")));

extern char __image_start[], __image_end[];

void mm_exclude(uint64_t start, uint64_t len)
{
	if (nexcl < MAX_EXCLUDE && len) {
		excl[nexcl].start = start & ~(uint64_t)(PAGE_SIZE - 1);
		excl[nexcl].end = (start + len + PAGE_SIZE - 1) &
				  ~(uint64_t)(PAGE_SIZE - 1);
		nexcl++;
	}
}

/* Keep RAM ranges sorted by start (insertion sort, small n). */
static void add_ram(uint64_t start, uint64_t end)
{
	unsigned int i;

	if (end > MAP_LIMIT)
		end = MAP_LIMIT;
	if (start >= end || nram == MAX_RAM)
		return;
	for (i = nram; i > 0 && ram[i - 1].start > start; i--)
		ram[i] = ram[i - 1];
	ram[i].start = start;
	ram[i].end = end;
	nram++;
}

/* 1 GiB pages: CPUID 0x80000001 EDX bit 26. */
static bool have_1g_pages(void)
{
	uint32_t r[4];

	cpuid(0x80000000, 0, r);
	if (r[0] < 0x80000001)
		return false;
	cpuid(0x80000001, 0, r);
	return r[3] & (1u << 26);
}

/* How much of [a, a + len) is RAM: 0 none, 1 some, 2 all. */
static int ram_cover(uint64_t a, uint64_t len)
{
	uint64_t covered = 0;
	unsigned int i;

	for (i = 0; i < nram; i++) {
		uint64_t s = ram[i].start > a ? ram[i].start : a;
		uint64_t e = ram[i].end < a + len ? ram[i].end : a + len;

		if (s < e)
			covered += e - s;
	}
	return covered == 0 ? 0 : covered >= len ? 2 : 1;
}

static uint64_t page_flags(bool is_ram)
{
	uint64_t f = PTE_P | PTE_RW | PTE_PS;

	return is_ram ? f | PTE_US : f | PTE_PCD | PTE_PWT;
}

/* 2 MiB pages for one GiB; ram[] is sorted, so j only grows. */
static void build_pd(uint64_t gib)
{
	unsigned int i, j = 0;

	for (i = 0; i < 512; i++) {
		uint64_t a = gib << 30 | (uint64_t)i << 21;

		while (j < nram && ram[j].end <= a)
			j++;
		pd[gib][i] = a | page_flags(j < nram &&
					    ram[j].start < a + (1ULL << 21));
	}
}

/*
 * A GiB without RAM, or all RAM, is one 1 GiB page where the CPU has
 * them (building 512 entries costs ~8 ms of emulated ring 0).
 */
static void build_tables(uint64_t top)
{
	bool big = have_1g_pages();
	uint64_t gib;

	memset(pml4, 0, sizeof(pml4));
	memset(pdpt, 0, sizeof(pdpt));
	pml4[0] = (uint64_t)pdpt | PTE_P | PTE_RW | PTE_US;
	for (gib = 0; gib < top >> 30; gib++) {
		int cover = ram_cover(gib << 30, 1ULL << 30);

		if (big && cover != 1) {
			pdpt[gib] = gib << 30 | page_flags(cover == 2);
			continue;
		}
		build_pd(gib);
		pdpt[gib] = (uint64_t)pd[gib] | PTE_P | PTE_RW | PTE_US;
	}
}

void mm_init(const struct hvm_memmap_entry *map, uint32_t n)
{
	uint64_t top = 1ULL << 32;
	uint32_t i;

	for (i = 0; i < n; i++) {
		uint64_t end = map[i].addr + map[i].size;

		if (map[i].type == HVM_MEMMAP_RAM)
			add_ram(map[i].addr, end);
		else
			mm_exclude(map[i].addr, map[i].size);
	}
	for (i = 0; i < nram; i++) {
		if (ram[i].end > top)
			top = ram[i].end;
	}
	top = (top + (1ULL << 30) - 1) & ~((1ULL << 30) - 1);
	if (top > MAP_LIMIT)
		top = MAP_LIMIT;
	mm_exclude((uint64_t)__image_start,
		   (uint64_t)(__image_end - __image_start));
	build_tables(top);
}

uint64_t mm_cr3(void)
{
	return (uint64_t)pml4;
}

uint64_t mm_ram_bytes(void)
{
	uint64_t sum = 0;
	unsigned int i;

	for (i = 0; i < nram; i++)
		sum += ram[i].end - ram[i].start;
	return sum;
}

/* Move a past any exclusion containing it; false if none did. */
static bool skip_excluded(uint64_t *a)
{
	unsigned int i;

	for (i = 0; i < nexcl; i++) {
		if (excl[i].start <= *a && *a < excl[i].end) {
			*a = excl[i].end;
			return true;
		}
	}
	return false;
}

/* The next free page-aligned run at or after a inside r: [*s, *e). */
static bool next_free(const struct range *r, uint64_t a, uint64_t *s,
		      uint64_t *e)
{
	unsigned int i;

	a = (a + PAGE_SIZE - 1) & ~(uint64_t)(PAGE_SIZE - 1);
	if (a < r->start)
		a = (r->start + PAGE_SIZE - 1) & ~(uint64_t)(PAGE_SIZE - 1);
	while (skip_excluded(&a))
		;
	*s = a;
	*e = r->end & ~(uint64_t)(PAGE_SIZE - 1);
	for (i = 0; i < nexcl; i++) {
		if (excl[i].start > a && excl[i].start < *e)
			*e = excl[i].start;
	}
	return *s < *e;
}

bool mm_take(uint64_t pages, struct extent *ext, unsigned int max,
	     unsigned int *n_out)
{
	unsigned int i, n = 0;
	uint64_t s, e;

	for (i = 0; i < nram && pages; i++) {
		uint64_t a = take_cursor;

		while (pages && next_free(&ram[i], a, &s, &e)) {
			uint64_t cnt = (e - s) / PAGE_SIZE;

			if (n == max)
				return false;
			if (cnt > pages)
				cnt = pages;
			ext[n].pfn = s / PAGE_SIZE;
			ext[n].count = cnt;
			n++;
			pages -= cnt;
			a = s + cnt * PAGE_SIZE;
			take_cursor = a;
		}
	}
	*n_out = n;
	return pages == 0;
}

void *mm_alloc(uint64_t bytes)
{
	struct extent ext;
	unsigned int n;
	uint64_t pages = (bytes + PAGE_SIZE - 1) / PAGE_SIZE;
	void *p;

	if (!mm_take(pages, &ext, 1, &n))
		con_fail("no %lu KiB of contiguous RAM for the guest\n",
			 pages * (PAGE_SIZE / 1024));
	p = phys_ptr(ext.pfn * PAGE_SIZE);
	memset(p, 0, pages * PAGE_SIZE);
	return p;
}

uint64_t mm_free_bytes(void)
{
	uint64_t sum = 0, s, e;
	unsigned int i;

	for (i = 0; i < nram; i++) {
		uint64_t a = take_cursor;

		while (next_free(&ram[i], a, &s, &e)) {
			sum += e - s;
			a = e;
		}
	}
	return sum;
}
