/*
 * PVH boot: an ELF kernel with a XEN_ELFNOTE_PHYS32_ENTRY note, entered in
 * 32-bit protected mode with EBX pointing at struct hvm_start_info. The
 * layouts below are the Xen PVH ABI (xen/include/public/arch-x86/
 * hvm/start_info.h), version 1, written down here with size checks.
 */
#ifndef GODWIT_VMM_X86_PVH_H
#define GODWIT_VMM_X86_PVH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"
#include "vmm/memory.h"
#include "vmm/x86/boot.h"

#define HVM_START_MAGIC 0x336ec578u
#define XEN_ELFNOTE_PHYS32_ENTRY 18

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr; /* version 1 */
	uint32_t memmap_entries; /* version 1 */
	uint32_t reserved;
};
_Static_assert(sizeof(struct hvm_start_info) == 56, "hvm_start_info");

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};
_Static_assert(sizeof(struct hvm_modlist_entry) == 32, "hvm_modlist_entry");

struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};
_Static_assert(sizeof(struct hvm_memmap_table_entry) == 24, "memmap entry");

/* The range an ELF kernel occupies once loaded, and its PVH entry. */
struct pvh_image {
	uint64_t entry;
	uint64_t start; /* lowest loaded guest physical address */
	uint64_t end; /* one past the highest */
};

bool pvh_elf_probe(const void *image, size_t len);
/*
 * Validate an ELF kernel and copy its PT_LOAD segments into guest RAM.
 * On failure why gets one line naming the problem.
 */
int pvh_elf_load(struct guest_mem *mem, const void *image, size_t len,
		 struct pvh_image *out, char *why, size_t whylen) __must_check;
/*
 * Write hvm_start_info, the memory map, the command line and the initrd
 * (module 0, placed at the top of low RAM above kernel_end), and fill
 * entry for the boot vCPU.
 */
int pvh_setup(struct guest_mem *mem, const struct pvh_image *img,
	      const char *cmdline, const void *initrd, size_t initrd_len,
	      uint64_t rsdp_gpa, struct boot_entry *entry, char *why,
	      size_t whylen) __must_check;

#endif
