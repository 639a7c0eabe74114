/*
 * lifecycle.elf, ring 3: nothing to compute; spin so the VM stays busy
 * while ring 0 handles the action (echo, hang, powerbutton).
 */
#include "shared.h"

void guest_user_main(unsigned int cpu)
{
	(void)cpu;
	for (;;)
		cpu_relax();
}
