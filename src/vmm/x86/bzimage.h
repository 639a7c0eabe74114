/*
 * Loader for Linux bzImage kernels through the x86 64-bit boot protocol
 * (Documentation/arch/x86/boot.rst): the protected-mode kernel goes into
 * guest RAM, boot_params (the "zero page") describes memory, command line,
 * initrd and ACPI, and the boot vCPU starts in long mode at the 64-bit
 * entry with an identity map and a flat GDT written here.
 */
#ifndef GODWIT_VMM_X86_BZIMAGE_H
#define GODWIT_VMM_X86_BZIMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"
#include "vmm/memory.h"
#include "vmm/x86/boot.h"

/*
 * The GDT at LAYOUT_BOOT_GDT: entries 0 and 1 null, then the selectors the
 * boot protocol names (__BOOT_CS, __BOOT_DS), both flat over 4 GiB with the
 * accessed bit already set so the CPU never writes the table. The vCPU's
 * hidden segment state must match: code type 0xb with L=1, data type 0x3.
 */
#define BZIMAGE_GDT_ENTRIES 4
#define BZIMAGE_BOOT_CS 0x10
#define BZIMAGE_BOOT_DS 0x18
#define BZIMAGE_GDT_CODE64 0x00af9b000000ffffULL
#define BZIMAGE_GDT_DATA 0x00cf93000000ffffULL

/* Oldest boot protocol accepted: 2.12 brought xloadflags (XLF_KERNEL_64). */
#define BZIMAGE_MIN_PROTOCOL 0x020c

/* Does image start like a bzImage (boot sector signature and "HdrS")? */
bool bzimage_probe(const void *image, size_t len);

/*
 * Load the bzImage image[0..len) into mem for a 64-bit entry:
 *  - the protected-mode kernel at its pref_address when it is relocatable
 *    and its init_size fits there in low RAM, else at 1 MiB;
 *  - initrd (may be NULL with initrd_len 0) page-aligned at the top of low
 *    RAM, under initrd_addr_max and above everything the kernel uses;
 *  - cmdline (NULL for none) at LAYOUT_CMDLINE;
 *  - boot_params at LAYOUT_ZERO_PAGE with the image's setup header, the
 *    e820 map, and rsdp_gpa (0 for none) as acpi_rsdp_addr;
 *  - a 4 GiB identity map (2 MiB pages) at LAYOUT_BOOT_PML4/PDPT/PD and
 *    the GDT above at LAYOUT_BOOT_GDT.
 * Fills *entry_out (BOOT_LINUX64, rip = load address + 0x200, arg =
 * LAYOUT_ZERO_PAGE). Returns 0 or, with one log line naming the problem:
 * -ENODATA truncated image, -ENOEXEC not a bzImage, -EPROTONOSUPPORT
 * protocol older than 2.12, -EBADMSG inconsistent setup header, -ENOTSUP
 * no 64-bit entry, -E2BIG command line too long, -EFBIG kernel does not
 * fit in low RAM, -ENOSPC initrd does not fit, -EINVAL bad arguments,
 * -EFAULT guest RAM too small for the boot structures.
 */
int bzimage_load(struct guest_mem *mem, const void *image, size_t len,
		 const char *cmdline, const void *initrd, size_t initrd_len,
		 uint64_t rsdp_gpa, struct boot_entry *entry_out) __must_check;

#endif
