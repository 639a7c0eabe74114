/*
 * How a loaded kernel wants its boot vCPU started. Loaders (PVH ELF,
 * bzImage) fill this in; the vCPU setup code turns it into registers.
 */
#ifndef GODWIT_VMM_X86_BOOT_H
#define GODWIT_VMM_X86_BOOT_H

#include <stdint.h>

enum boot_mode {
	/* PVH: 32-bit protected mode, paging off, EBX = hvm_start_info. */
	BOOT_PVH32,
	/*
	 * Linux 64-bit boot protocol: long mode with the identity map and GDT
	 * that bzimage_load() wrote at LAYOUT_BOOT_*, RSI = boot_params.
	 */
	BOOT_LINUX64,
};

struct boot_entry {
	enum boot_mode mode;
	uint64_t rip;
	uint64_t arg; /* EBX (PVH) or RSI (Linux64) */
};

#endif
