/*
 * timer.elf, ring 3: read the TSC in a tight loop. Report the first time
 * it goes backwards (user_status), add up the gaps in which timer
 * interrupts may have been coalesced (timer_shared.excused_tsc), and
 * count the long gaps in which the VM did not run at all (pauses).
 */
#include "timer.h"

void guest_user_main(unsigned int cpu)
{
	struct user_status *st = &user_status[cpu];
	uint64_t per = timer_shared.period_tsc;
	uint64_t max = timer_shared.excuse_max_tsc;
	uint64_t last = rdtsc(), now;

	for (;;) {
		now = rdtsc();
		if (now < last)
			break;
		if (now - last > per && now - last < max) {
			timer_shared.excused_tsc += now - last - per;
		} else if (now - last >= max) {
			timer_shared.paused_tsc += now - last - per;
			timer_shared.last_pause_tsc = now - last;
			barrier();
			timer_shared.pauses++;
		}
		if (now - last > timer_shared.longest_gap_tsc)
			timer_shared.longest_gap_tsc = now - last;
		last = now;
	}
	st->bad_a = last;
	st->bad_b = now;
	barrier();
	st->state = USER_BAD;
}
