/*
 * Where guest RAM lives in a godwit x86 VM's physical address space,
 * defined once for the VMM that lays it out (vmm/memory.c mem_plan) and
 * the stream format that checks page numbers against it
 * (format/record.c): the first RAM_LAYOUT_LOW_MAX bytes at GPA 0, the
 * rest, if any, from RAM_LAYOUT_HIGH_BASE up. Between the two is the
 * 1 GiB MMIO hole (vmm/x86/layout.h places the devices in it).
 */
#ifndef GODWIT_COMMON_RAM_LAYOUT_H
#define GODWIT_COMMON_RAM_LAYOUT_H

#include <stdbool.h>
#include <stdint.h>

#define RAM_LAYOUT_LOW_MAX 0xc0000000ULL /* the MMIO hole starts here */
#define RAM_LAYOUT_HIGH_BASE 0x100000000ULL /* and ends here */

/* How much of mem_bytes of guest RAM lies below the MMIO hole. */
static inline uint64_t ram_layout_low_bytes(uint64_t mem_bytes)
{
	return mem_bytes < RAM_LAYOUT_LOW_MAX ? mem_bytes : RAM_LAYOUT_LOW_MAX;
}

/* Is page frame pfn in guest RAM of mem_bytes? */
static inline bool ram_layout_pfn_is_ram(uint64_t mem_bytes, uint64_t pfn)
{
	uint64_t low = ram_layout_low_bytes(mem_bytes);

	if (pfn > (UINT64_MAX >> 12))
		return false;
	if ((pfn << 12) < low)
		return true;
	return (pfn << 12) >= RAM_LAYOUT_HIGH_BASE &&
	       (pfn << 12) - RAM_LAYOUT_HIGH_BASE < mem_bytes - low;
}

#endif
