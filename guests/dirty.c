/*
 * dirty.elf and smp-dirty.elf (GUEST_SMP), ring 0: choose the area, split
 * it among the CPUs, and report what ring 3 (dirty_user.c) does.
 *
 * cmdline: mib=N (64) rate=MIBPS (0: unlimited) sweeps=K (0: forever)
 *          fill=1 (first sweep at full speed, then rate: an area full
 *          of data that is then almost idle, for migration benchmarks)
 *          corrupt=S (0: off; self-test: damage a page after sweep S)
 *          stats=1 (a sweep line every tick, 100 a second, even without
 *          progress: the host measures the guest's speed from them)
 * Output:  "dirty: ready mib=N" (SMP: "... cpus=C"), then at most ten
 *          "dirty: sweep N" lines a second (the latest sweep every CPU
 *          has completed), then "dirty: done sweeps=K" (exit 0) or
 *          "dirty: CORRUPT pfn=X expected=Y found=Z" (hex, exit 3).
 */
#include "dirty.h"
#include "kernel.h"

#ifndef GUEST_SMP
#define GUEST_SMP 0
#endif

#define MAX_AREA_EXTENTS 64
#define PRINT_EVERY_TICKS (GUEST_HZ / 10)
#define MAX_RATE 1000000 /* MiB/s */

struct dirty_config dirty_config;

static const char *const keys[] = { "mib",  "rate",  "sweeps", "corrupt",
				    "fill", "stats", NULL };
static uint64_t last_printed, print_every = PRINT_EVERY_TICKS;
static bool print_always;

/* Hand pages [from the extent list] to one CPU's slice. */
static void fill_slice(struct dirty_slice *sl, struct extent *ext,
		       unsigned int n, unsigned int *cur, uint64_t pages)
{
	sl->pages = pages;
	while (pages && *cur < n) {
		struct extent *e = &ext[*cur];
		uint64_t take = e->count < pages ? e->count : pages;

		if (sl->nr == DIRTY_MAX_EXTENTS)
			con_fail("area too fragmented\n");
		sl->pfn[sl->nr] = e->pfn;
		sl->count[sl->nr] = take;
		sl->nr++;
		e->pfn += take;
		e->count -= take;
		pages -= take;
		if (!e->count)
			(*cur)++;
	}
}

static void split_area(uint64_t mib, uint32_t ncpus)
{
	struct extent ext[MAX_AREA_EXTENTS];
	uint64_t pages = mib * (1024 * 1024 / PAGE_SIZE);
	unsigned int n, cur = 0;
	uint32_t cpu;

	if (!mib || mib > (1ULL << 20) ||
	    !mm_take(pages, ext, MAX_AREA_EXTENTS, &n))
		con_fail("mib=%lu does not fit\n", mib);
	for (cpu = 0; cpu < ncpus; cpu++) {
		uint64_t share = pages / ncpus + (cpu < pages % ncpus);

		fill_slice(&dirty_config.slice[cpu], ext, n, &cur, share);
	}
	if (debug_enabled()) {
		for (cur = 0; cur < dirty_config.slice[0].nr; cur++)
			con_printf("guest: cpu0 area pfn=%lx pages=%lu\n",
				   dirty_config.slice[0].pfn[cur],
				   dirty_config.slice[0].count[cur]);
	}
}

static void setup(void)
{
	uint64_t mib, rate;
	uint32_t ncpus = boot_facts.ncpus;

	cmdline_check_keys(keys);
	mib = cmdline_u64("mib", 64);
	rate = cmdline_u64("rate", 0);
	if (rate > MAX_RATE)
		con_fail("rate=%lu above %u MiB/s\n", rate, MAX_RATE);
	dirty_config.sweeps = cmdline_u64("sweeps", 0);
	dirty_config.corrupt_sweep = cmdline_u64("corrupt", 0);
	dirty_config.fill = cmdline_u64("fill", 0);
	if (cmdline_u64("stats", 0)) {
		print_every = 1;
		print_always = true;
	}
	split_area(mib, ncpus);
	/* Each CPU gets rate/ncpus MiB/s = rate * 16 / ncpus chunks/s. */
	if (rate)
		dirty_config.tsc_per_chunk =
			boot_facts.tsc_hz * ncpus / (rate * 16);
	if (GUEST_SMP)
		con_say("ready mib=%lu cpus=%u\n", mib, ncpus);
	else
		con_say("ready mib=%lu\n", mib);
}

static void tick(uint64_t tsc)
{
	const struct user_status *bad;
	uint64_t sweep;
	bool done;

	(void)tsc;
	bad = user_status_scan(&sweep, &done);
	if (bad) {
		con_say("CORRUPT pfn=%lx expected=%lx found=%lx\n", bad->bad_a,
			bad->bad_b, bad->bad_c);
		guest_exit(EXIT_FAIL);
	}
	if (done) {
		if (sweep != last_printed)
			con_say("sweep %lu\n", sweep);
		con_say("done sweeps=%lu\n", dirty_config.sweeps);
		guest_exit(EXIT_OK);
	}
	if (cpu_ticks[0] % print_every ||
	    (sweep == last_printed && !print_always))
		return;
	con_say("sweep %lu\n", sweep);
	last_printed = sweep;
}

static void irq(unsigned int vector)
{
	(void)vector;
}

const struct guest_ops guest_ops = {
	.name = "dirty",
	.max_cpus = GUEST_SMP ? MAX_CPUS : 1,
	.setup = setup,
	.tick = tick,
	.irq = irq,
};
