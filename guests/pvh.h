/*
 * The PVH boot ABI as the guests see it: hvm_start_info (EBX at entry)
 * and its memory map entries. Layouts follow Xen's public arch-x86
 * hvm/start_info.h; only the fields the guests read are named.
 */
#ifndef GUEST_PVH_H
#define GUEST_PVH_H

#include <stdint.h>

#define HVM_START_MAGIC 0x336ec578

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr; /* byte offset 24 */
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr; /* version >= 1 */
	uint32_t memmap_entries;
	uint32_t reserved;
};

_Static_assert(sizeof(struct hvm_start_info) == 56, "start info");

#define HVM_MEMMAP_RAM 1

struct hvm_memmap_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

_Static_assert(sizeof(struct hvm_memmap_entry) == 24, "memmap entry");

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

#endif
