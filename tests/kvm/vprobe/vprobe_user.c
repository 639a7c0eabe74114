/* vprobe.elf, ring 3: nothing to do; ring 0 drives the device. */
#include "shared.h"

void guest_user_main(unsigned int cpu)
{
	(void)cpu;
	for (;;)
		cpu_relax();
}
