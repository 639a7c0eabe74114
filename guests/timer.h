/*
 * timer.elf: what ring 0 and ring 3 share. Ring 3 watches the TSC in a
 * tight loop; a gap between two of its readings is time the vCPU spent
 * outside ring 3 (interrupt handling, or the host not running it).
 */
#ifndef GUEST_TIMER_H
#define GUEST_TIMER_H

#include "shared.h"

/*
 * Ring 3's accounting at its latest TSC reading. Ring 3 fills the spare
 * copy and then flips timer_shared.cur in one store, so a tick that
 * interrupts it anywhere reads a consistent snapshot: the totals always
 * match the reading they were counted up to.
 */
struct gap_snapshot {
	/*
	 * Sum over ring-3 gaps longer than a period and shorter than
	 * excuse_max_tsc of (gap - period): time in which timer
	 * expirations may have been coalesced because the vCPU did not
	 * run.
	 */
	uint64_t excused_tsc;
	/*
	 * Gaps of excuse_max_tsc or more: the VM was not running at all (a
	 * pause, a save, migration downtime) and the TSC ran on, which
	 * happens where KVM cannot offset the guest TSC. Summed (minus a
	 * period).
	 */
	uint64_t paused_tsc;
	uint64_t last_tsc; /* ring 3's latest reading */
};

struct timer_shared {
	uint64_t period_tsc; /* TSC ticks per LAPIC timer period */
	uint64_t excuse_max_tsc; /* longest gap that is excused (100 ms) */
	struct gap_snapshot snap[2]; /* written by ring 3 only */
	volatile uint64_t cur; /* index of the snapshot ring 0 may read */
	volatile uint64_t longest_gap_tsc; /* since boot, for messages */
	/* Pauses counted and the latest kept, for "timer: pause" lines. */
	volatile uint64_t pauses;
	volatile uint64_t last_pause_tsc;
} __attribute__((aligned(CACHELINE)));

extern struct timer_shared timer_shared;

/* user_status: on USER_BAD the TSC went from bad_a back to bad_b. */

#endif
