/*
 * timer.elf, ring 3: read the TSC in a tight loop. Report the first time
 * it goes backwards (user_status), add up the gaps in which timer
 * interrupts may have been coalesced and the long gaps in which the VM
 * did not run at all (pauses), and publish both with the reading they
 * were counted up to (timer.h: struct gap_snapshot).
 */
#include "timer.h"

/* Fill the spare snapshot, then make it current in one store. */
static void publish(const struct gap_snapshot *g)
{
	struct gap_snapshot *spare = &timer_shared.snap[timer_shared.cur ^ 1];

	*spare = *g;
	barrier();
	timer_shared.cur ^= 1;
	barrier();
}

void guest_user_main(unsigned int cpu)
{
	struct user_status *st = &user_status[cpu];
	uint64_t per = timer_shared.period_tsc;
	uint64_t max = timer_shared.excuse_max_tsc;
	struct gap_snapshot g = { .last_tsc = rdtsc() };
	uint64_t now;

	publish(&g);
	for (;;) {
		now = rdtsc();
		if (now < g.last_tsc)
			break;
		if (now - g.last_tsc > per && now - g.last_tsc < max) {
			g.excused_tsc += now - g.last_tsc - per;
		} else if (now - g.last_tsc >= max) {
			g.paused_tsc += now - g.last_tsc - per;
			timer_shared.last_pause_tsc = now - g.last_tsc;
			barrier();
			timer_shared.pauses++;
		}
		if (now - g.last_tsc > timer_shared.longest_gap_tsc)
			timer_shared.longest_gap_tsc = now - g.last_tsc;
		g.last_tsc = now;
		publish(&g);
	}
	st->bad_a = g.last_tsc;
	st->bad_b = now;
	barrier();
	st->state = USER_BAD;
}
