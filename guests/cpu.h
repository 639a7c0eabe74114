/*
 * cpu.elf and smp-cpu.elf: the register state of the workout (layout
 * fixed by cpu_round.S) and the configuration ring 0 hands to ring 3.
 */
#ifndef GUEST_CPU_H
#define GUEST_CPU_H

#include "shared.h"

#define CPU_GPRS 13

struct cpu_regs {
	uint64_t gpr[16]; /* CPU_GPRS used, the rest stay zero */
	uint8_t xmm[16][16];
	uint8_t ymmh[16][16]; /* upper ymm halves (AVX variant) */
} __attribute__((aligned(CACHELINE)));

_Static_assert(sizeof(struct cpu_regs) == 640, "layout of cpu_round.S");

struct cpu_config {
	uint64_t rounds; /* per CPU; 0: forever */
	uint64_t steps; /* iterations of the step block per half round */
	uint64_t corrupt_round; /* self-test: damage the result of it */
};

extern struct cpu_config cpu_config;

/*
 * user_status for the cpu guests: progress = rounds completed, digest =
 * digest of every mid-state so far (updated before progress).
 */

#endif
