/*
 * libFuzzer target: arbitrary bytes as a kernel image, through the PVH
 * ELF loader (with hvm_start_info set-up) and the bzImage loader, into a
 * 64 MiB guest memory without KVM. Kernels are files users hand us; any
 * crash or sanitizer report is a loader bug.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/memory.h"
#include "vmm/x86/boot.h"
#include "vmm/x86/bzimage.h"
#include "vmm/x86/pvh.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct guest_mem mem;
static int mem_ready;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char initrd[] = "initrd";
	struct boot_entry entry;
	struct pvh_image img;
	char why[256];

	/* One guest memory for the whole run: mem_init is the slow part. */
	if (!mem_ready) {
		if (mem_init(&mem, 64 << 20))
			abort();
		mem_ready = 1;
	}
	if (pvh_elf_probe(data, size) &&
	    pvh_elf_load(&mem, data, size, &img, why, sizeof(why)) == 0 &&
	    pvh_setup(&mem, &img, "console=ttyS0", initrd, sizeof(initrd),
		      0xe0000, &entry, why, sizeof(why)) == 0 &&
	    (entry.rip < img.start || entry.rip >= img.end))
		abort(); /* an accepted entry must lie in the image */
	if (bzimage_probe(data, size) &&
	    bzimage_load(&mem, data, size, "console=ttyS0", initrd,
			 sizeof(initrd), 0xe0000, &entry) == 0 &&
	    entry.mode != BOOT_LINUX64)
		abort();
	return 0;
}
