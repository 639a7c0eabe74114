/*
 * cpu.elf and smp-cpu.elf (GUEST_SMP), ring 0: configure the register
 * workout (cpu_user.c, cpu_round.S) and report it.
 *
 * cmdline: rounds=N (per CPU; default CPU_DEFAULT_ROUNDS, about 5 s on
 *          software KVM; 0: forever) corrupt=R (0: off; self-test: damage
 *          round R's result)
 * Output:  "cpu: ready rounds=N avx=0|1" (SMP: "... cpus=C"), at most ten
 *          "cpu: progress N" lines a second (rounds every CPU completed),
 *          then "cpu: digest=HEX ok" (exit 0) or "cpu: digest=HEX BAD"
 *          (exit 3) as soon as a round fails its check.
 */
#include "cpu.h"
#include "kernel.h"

#ifndef GUEST_SMP
#define GUEST_SMP 0
#endif

#define CPU_DEFAULT_ROUNDS 13000
#define CPU_STEPS 10000
#define PRINT_EVERY_TICKS (GUEST_HZ / 10)

struct cpu_config cpu_config;

static const char *const keys[] = { "rounds", "corrupt", NULL };
static uint64_t last_printed;

static void setup(void)
{
	cmdline_check_keys(keys);
	cpu_config.rounds = cmdline_u64("rounds", CPU_DEFAULT_ROUNDS);
	cpu_config.corrupt_round = cmdline_u64("corrupt", 0);
	cpu_config.steps = CPU_STEPS;
	if (GUEST_SMP)
		con_say("ready rounds=%lu avx=%u cpus=%u\n", cpu_config.rounds,
			boot_facts.avx ? 1 : 0, boot_facts.ncpus);
	else
		con_say("ready rounds=%lu avx=%u\n", cpu_config.rounds,
			boot_facts.avx ? 1 : 0);
}

/* The digest of all CPUs, in CPU order (CPU 0's own with one CPU). */
static uint64_t total_digest(void)
{
	uint64_t d;
	uint32_t cpu;

	if (boot_facts.ncpus == 1)
		return user_status[0].digest;
	d = 0xcbf29ce484222325ULL;
	for (cpu = 0; cpu < boot_facts.ncpus; cpu++) {
		d ^= user_status[cpu].digest;
		d *= 0x100000001b3ULL;
		d ^= d >> 29;
	}
	return d;
}

static void tick(uint64_t tsc)
{
	const struct user_status *bad;
	uint64_t min;
	bool done;

	(void)tsc;
	bad = user_status_scan(&min, &done);
	if (bad) {
		con_say("digest=%016lx BAD\n", bad->digest);
		guest_exit(EXIT_FAIL);
	}
	if (done) {
		con_say("digest=%016lx ok\n", total_digest());
		guest_exit(EXIT_OK);
	}
	if (cpu_ticks[0] % PRINT_EVERY_TICKS || min == last_printed)
		return;
	con_say("progress %lu\n", min);
	last_printed = min;
}

static void irq(unsigned int vector)
{
	(void)vector;
}

const struct guest_ops guest_ops = {
	.name = "cpu",
	.max_cpus = GUEST_SMP ? MAX_CPUS : 1,
	.setup = setup,
	.tick = tick,
	.irq = irq,
};
