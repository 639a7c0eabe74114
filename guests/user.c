/*
 * First ring-3 code on every CPU: wait until the BSP has finished the
 * guest's setup, then run the guest's work. Ring 3 never traps on
 * purpose; when the work ends it spins, and the BSP's timer handler
 * reports the outcome.
 */
#include "shared.h"

void user_start(unsigned int cpu)
{
	while (!boot_go)
		cpu_relax();
	guest_user_main(cpu);
	for (;;)
		cpu_relax();
}
