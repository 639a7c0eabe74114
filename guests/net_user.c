/*
 * net.elf, ring 3: nothing to compute. Replies leave from the receive
 * interrupt in ring 0 (net.c explains why); ring 3 spins.
 */
#include "shared.h"

void guest_user_main(unsigned int cpu)
{
	(void)cpu;
	for (;;)
		cpu_relax();
}
