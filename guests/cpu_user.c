/*
 * cpu.elf and smp-cpu.elf, ring 3: run rounds of the register workout
 * (cpu_round.S). Each CPU starts from a state seeded by its index; each
 * round's mid-state feeds the digest and becomes the next round's start
 * state, so the digest depends on every step of every round and is the
 * same on every run with the same cmdline, CPU count and AVX use. A round
 * whose inverse half does not return to its start state is reported as
 * USER_BAD at once.
 */
#include "cpu.h"

void cpu_round_sse(const struct cpu_regs *in, struct cpu_regs *mid,
		   struct cpu_regs *out, uint64_t steps);
void cpu_round_avx(const struct cpu_regs *in, struct cpu_regs *mid,
		   struct cpu_regs *out, uint64_t steps);

struct cpu_work {
	struct cpu_regs in, mid, out;
};

static struct cpu_work work[MAX_CPUS];

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void seed(struct cpu_regs *r, unsigned int cpu, bool avx)
{
	uint64_t s = 0x676f64776974ULL + cpu; /* "godwit" */
	unsigned int i;

	memset(r, 0, sizeof(*r));
	for (i = 0; i < CPU_GPRS; i++)
		r->gpr[i] = splitmix(&s);
	for (i = 0; i < 16; i++) {
		uint64_t lo = splitmix(&s), hi = splitmix(&s);

		memcpy(&r->xmm[i][0], &lo, 8);
		memcpy(&r->xmm[i][8], &hi, 8);
		if (!avx)
			continue;
		lo = splitmix(&s);
		hi = splitmix(&s);
		memcpy(&r->ymmh[i][0], &lo, 8);
		memcpy(&r->ymmh[i][8], &hi, 8);
	}
}

static uint64_t mix(uint64_t d, uint64_t w)
{
	d ^= w;
	d *= 0x100000001b3ULL;
	return d ^ (d >> 29);
}

static uint64_t fold(uint64_t d, const struct cpu_regs *r)
{
	const uint64_t *w = (const uint64_t *)r;
	unsigned int i;

	for (i = 0; i < sizeof(*r) / 8; i++)
		d = mix(d, w[i]);
	return d;
}

static void __attribute__((noreturn)) fail(struct user_status *st)
{
	barrier();
	st->state = USER_BAD;
	for (;;)
		cpu_relax();
}

void guest_user_main(unsigned int cpu)
{
	struct cpu_work *w = &work[cpu];
	struct user_status *st = &user_status[cpu];
	bool avx = boot_facts.avx;
	uint64_t digest = 0xcbf29ce484222325ULL, round;

	seed(&w->in, cpu, avx);
	for (round = 1; !cpu_config.rounds || round <= cpu_config.rounds;
	     round++) {
		memset(&w->mid, 0, sizeof(w->mid));
		memset(&w->out, 0, sizeof(w->out));
		if (avx)
			cpu_round_avx(&w->in, &w->mid, &w->out,
				      cpu_config.steps);
		else
			cpu_round_sse(&w->in, &w->mid, &w->out,
				      cpu_config.steps);
		if (round == cpu_config.corrupt_round)
			w->out.xmm[7][3] ^= 1;
		digest = fold(digest, &w->mid);
		st->digest = digest;
		if (memcmp(&w->in, &w->out, sizeof(w->in)))
			fail(st);
		w->in = w->mid;
		barrier();
		st->progress = round;
	}
	barrier();
	st->state = USER_DONE;
}
