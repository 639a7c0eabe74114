/*
 * Kernel loading for a new VM: ACPI tables, then a PVH ELF or a bzImage
 * with its initrd and command line, ending in the boot vCPU's registers.
 */
#ifndef GODWIT_VMM_X86_LOADER_H
#define GODWIT_VMM_X86_LOADER_H

#include "common/compiler.h"

struct vm;

struct boot_config {
	const char *kernel; /* path: PVH ELF or bzImage */
	const char *initrd; /* path or NULL */
	const char *cmdline;
};

/* Logs one line naming the file and the problem on failure. */
int boot_load(struct vm *vm, const struct boot_config *cfg) __must_check;

#endif
