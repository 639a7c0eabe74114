/*
 * dirty.elf and smp-dirty.elf, ring 3: sweep this CPU's slice of the
 * area forever (or dirty_config.sweeps times). Before a page is written
 * in sweep s, its header and trailer must hold exactly what sweep s-1
 * wrote there (zeros before sweep 1); any difference is a lost, stale,
 * torn or misplaced page and is reported through user_status. The rate
 * limit paces chunks of pages against the TSC, with a bounded catch-up
 * so that a paused VM does not burst afterwards.
 */
#include "dirty.h"

#define CATCHUP_CHUNKS 16

struct pacer {
	uint64_t next; /* TSC before which the next chunk must not start */
	uint64_t per_chunk;
	uint64_t in_chunk;
};

static void pace(struct pacer *p)
{
	uint64_t now;

	if (!p->per_chunk || ++p->in_chunk < DIRTY_CHUNK_PAGES)
		return;
	p->in_chunk = 0;
	p->next += p->per_chunk;
	while ((now = rdtsc()) < p->next)
		cpu_relax();
	if (now - p->next > CATCHUP_CHUNKS * p->per_chunk)
		p->next = now - CATCHUP_CHUNKS * p->per_chunk;
}

static void report(struct user_status *st, uint64_t pfn, uint64_t expected,
		   uint64_t found)
{
	st->bad_a = pfn;
	st->bad_b = expected;
	st->bad_c = found;
	barrier();
	st->state = USER_BAD;
	for (;;)
		cpu_relax();
}

/* data=N: the noise word i of page pfn (xorshift64). */
static uint64_t noise(uint64_t pfn, unsigned int i)
{
	uint64_t x = (pfn + 1) * 0x9e3779b97f4a7c15ULL + i;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return x;
}

/*
 * data=N: sweep 1 writes N bytes of noise after the header; later sweeps
 * check the first and last noise words (a page whose body went stale or
 * was torn shows there, for the price of two reads).
 */
static void body(struct user_status *st, volatile uint64_t *p, uint64_t pfn,
		 uint64_t sweep)
{
	unsigned int i, words = dirty_config.data / 8;

	if (!words)
		return;
	if (sweep == 1) {
		for (i = 0; i < words; i++)
			p[2 + i] = noise(pfn, i);
		return;
	}
	if (p[2] != noise(pfn, 0))
		report(st, pfn, noise(pfn, 0), p[2]);
	if (p[1 + words] != noise(pfn, words - 1))
		report(st, pfn, noise(pfn, words - 1), p[1 + words]);
}

/* Check one page against sweep-1, then stamp it with sweep. */
static void touch(struct user_status *st, uint64_t pfn, uint64_t sweep)
{
	volatile uint64_t *p = (volatile uint64_t *)(pfn * PAGE_SIZE);
	uint64_t want_pfn = sweep > 1 ? pfn : 0;
	const unsigned int at[4] = { 0, 1, 510, 511 };
	unsigned int i;

	for (i = 0; i < 4; i++) {
		uint64_t want = (at[i] & 1) ? sweep - 1 : want_pfn;
		uint64_t v = p[at[i]];

		if (v != want)
			report(st, pfn, want, v);
	}
	body(st, p, pfn, sweep);
	p[0] = pfn;
	p[1] = sweep;
	p[510] = pfn;
	p[511] = sweep;
}

static void sweep_slice(const struct dirty_slice *sl, struct user_status *st,
			struct pacer *pc, uint64_t sweep)
{
	uint32_t e;
	uint64_t i;

	for (e = 0; e < sl->nr; e++) {
		for (i = 0; i < sl->count[e]; i++) {
			touch(st, sl->pfn[e] + i, sweep);
			pace(pc);
		}
	}
}

/* Self-test (corrupt=K): make one page look stale, as a lost copy would. */
static void damage(const struct dirty_slice *sl)
{
	volatile uint64_t *p;

	if (!sl->nr)
		return;
	p = (volatile uint64_t *)((sl->pfn[0] + sl->count[0] / 2) * PAGE_SIZE);
	p[511] -= 1;
}

void guest_user_main(unsigned int cpu)
{
	const struct dirty_slice *sl = &dirty_config.slice[cpu];
	struct user_status *st = &user_status[cpu];
	struct pacer pc = { rdtsc(), dirty_config.tsc_per_chunk, 0 };
	uint64_t sweep;

	if (dirty_config.fill)
		pc.per_chunk = 0; /* fill=1: the first sweep unpaced */
	for (sweep = 1; !dirty_config.sweeps || sweep <= dirty_config.sweeps;
	     sweep++) {
		sweep_slice(sl, st, &pc, sweep);
		if (sweep == 1 && dirty_config.fill) {
			pc.per_chunk = dirty_config.tsc_per_chunk;
			pc.next = rdtsc();
		}
		if (cpu == 0 && sweep == dirty_config.corrupt_sweep)
			damage(sl);
		st->progress = sweep;
	}
	st->state = USER_DONE;
}
