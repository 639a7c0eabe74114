/*
 * The guest's physical memory map in the BIOS e820 vocabulary. One builder
 * serves every boot path: the PVH loader copies it into
 * hvm_memmap_table_entry records, the bzImage loader into
 * boot_params.e820_table, so both kinds of guest see the same machine.
 */
#ifndef GODWIT_VMM_X86_E820_H
#define GODWIT_VMM_X86_E820_H

#include <stdint.h>

#include "common/compiler.h"
#include "vmm/memory.h"

/* Range types (ACPI "Address Range Types"; PVH uses the same numbers). */
#define E820_RAM 1
#define E820_RESERVED 2
#define E820_ACPI 3 /* ACPI tables, reclaimable after parsing */
#define E820_NVS 4
#define E820_UNUSABLE 5
#define E820_PMEM 7

/* A map never has more entries than this (it has 4 today). */
#define E820_MAX_ENTRIES 8

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};

/*
 * Fill table[0..max) with the map of mem in ascending address order:
 *   RAM      [0, LAYOUT_EBDA)                 real-mode area, boot structures
 *   reserved [LAYOUT_EBDA, LAYOUT_HIGH_MEM)   EBDA, VGA hole, ACPI tables, BIOS
 *   RAM      [LAYOUT_HIGH_MEM, end of low RAM)
 *   RAM      [4 GiB, 4 GiB + high RAM)        only for guests past the hole
 * The MMIO hole is left out of the map (a gap), as on real machines.
 * Returns 0 and the count in *nr_out, -EINVAL if mem has no RAM above
 * 1 MiB (no room for a kernel) or a layout mem_plan() never makes, or
 * -ENOSPC if max is too small.
 */
int e820_build(const struct guest_mem *mem, struct e820_entry *table,
	       unsigned int max, unsigned int *nr_out) __must_check;

#endif
