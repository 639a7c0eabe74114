/*
 * vprobe.elf, ring 3: with fill=MIB, write one word into every page ring
 * 0 took, once (so a migration has real data to copy); then spin while
 * ring 0 drives the device.
 */
#include "shared.h"
#include "vprobe.h"

void guest_user_main(unsigned int cpu)
{
	unsigned int i;
	uint64_t p;

	for (i = 0; i < vprobe_fill.nr; i++)
		for (p = 0; p < vprobe_fill.ext[i].count; p++)
			*(volatile uint64_t *)((vprobe_fill.ext[i].pfn + p) *
					       PAGE_SIZE) = 0x5a5a0000 + p;
	(void)cpu;
	for (;;)
		cpu_relax();
}
