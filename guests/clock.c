/*
 * Clock calibration at boot, in ring 0: the TSC against the 8254 PIT
 * (channel 0, 1193182 Hz), then the LAPIC timer against the TSC.
 *
 * Each reading of the PIT counter (latch, two port reads) is bracketed by
 * two TSC reads; the best (narrowest) of a few tries is kept, so a vCPU
 * preempted in the middle of a reading only costs a retry. The TSC rate
 * is measured over two back-to-back intervals of ~25 ms that must agree
 * within 0.2% (up to CAL_ATTEMPTS tries on a busy host); their sum is
 * the result. A reading uncertainty of a few
 * microseconds gives an error well under 0.1%. Without a PIT the guest
 * falls back to CPUID leaf 0x40000010 (hypervisor TSC kHz) or 0x15.
 */
#include "kernel.h"

#define PIT_HZ 1193182ULL
#define PIT_CH0 0x40
#define PIT_CMD 0x43
#define INTERVAL_TICKS 29830 /* 25 ms of PIT ticks */
#define SAMPLE_TRIES 4
#define CAL_ATTEMPTS 20

struct boot_facts boot_facts;

/* A counter reading bracketed by two TSC reads. */
struct sample {
	uint64_t tsc; /* middle of the TSC bracket */
	uint64_t width; /* TSC width of the bracket */
	uint32_t count;
};

static uint32_t pit_read(void)
{
	uint8_t lo, hi;

	outb(PIT_CMD, 0x00); /* latch channel 0 */
	lo = inb(PIT_CH0);
	hi = inb(PIT_CH0);
	return (uint32_t)(lo | hi << 8);
}

/* The narrowest bracket of SAMPLE_TRIES readings of read(). */
static void sample(uint32_t (*read)(void), struct sample *s)
{
	unsigned int i;

	s->width = UINT64_MAX;
	for (i = 0; i < SAMPLE_TRIES; i++) {
		uint64_t t0 = rdtsc();
		uint32_t c = read();
		uint64_t t1 = rdtsc();

		if (t1 - t0 < s->width) {
			s->width = t1 - t0;
			s->tsc = t0 + (t1 - t0) / 2;
			s->count = c;
		}
	}
}

/* Channel 0, mode 2 (rate generator), reload 65536: counts down forever. */
static void pit_free_run(void)
{
	outb(PIT_CMD, 0x34);
	outb(PIT_CH0, 0);
	outb(PIT_CH0, 0);
}

/*
 * Measure TSC ticks over at least INTERVAL_TICKS PIT ticks starting at
 * *start; *start becomes the end sample. A poll gap longer than the
 * counter's wrap (55 ms, a preempted vCPU) undercounts PIT ticks; the
 * caller's agreement check between two intervals rejects that.
 * Returns 0 if the PIT stops moving.
 */
static uint64_t measure(struct sample *start, uint64_t *pit_out)
{
	struct sample s;
	uint64_t elapsed = 0, polls = 0;
	uint16_t prev = (uint16_t)start->count;

	while (elapsed < INTERVAL_TICKS) {
		sample(pit_read, &s);
		elapsed += (uint16_t)(prev - s.count);
		prev = (uint16_t)s.count;
		if (++polls > 100000)
			return 0;
	}
	*pit_out = elapsed;
	elapsed = s.tsc - start->tsc;
	*start = s;
	return elapsed;
}

/* A missing PIT reads as a constant (0xffff). */
static bool pit_moves(void)
{
	uint32_t first = pit_read();
	unsigned int i;

	for (i = 0; i < 1000; i++) {
		if (pit_read() != first)
			return true;
	}
	return false;
}

static unsigned int cal_attempts;

static uint64_t tsc_from_pit(void)
{
	unsigned int attempt;

	pit_free_run();
	if (!pit_moves())
		return 0;
	for (attempt = 0; attempt < CAL_ATTEMPTS; attempt++) {
		struct sample s;
		uint64_t p1 = 0, p2 = 0, t1, t2, f1, f2;

		sample(pit_read, &s);
		t1 = measure(&s, &p1);
		t2 = t1 ? measure(&s, &p2) : 0;
		cal_attempts = attempt + 1;
		if (!t1 || !t2)
			continue;
		f1 = t1 * PIT_HZ / p1;
		f2 = t2 * PIT_HZ / p2;
		if (f1 / 500 >= (f1 > f2 ? f1 - f2 : f2 - f1))
			return (t1 + t2) * PIT_HZ / (p1 + p2);
	}
	return 0;
}

static uint64_t tsc_from_cpuid(void)
{
	uint32_t r[4];

	cpuid(0x40000000, 0, r);
	if (r[0] >= 0x40000010) {
		cpuid(0x40000010, 0, r);
		if (r[0])
			return (uint64_t)r[0] * 1000;
	}
	cpuid(0, 0, r);
	if (r[0] >= 0x15) {
		cpuid(0x15, 0, r);
		if (r[0] && r[1] && r[2])
			return (uint64_t)r[2] * r[1] / r[0];
	}
	return 0;
}

/* LAPIC timer ticks per second, measured against the calibrated TSC. */
static uint64_t lapic_from_tsc(uint64_t tsc_hz)
{
	struct sample a, b;
	uint64_t target;

	lapic_timer_oneshot_max();
	sample(lapic_timer_count, &a);
	target = a.tsc + tsc_hz / 50; /* 20 ms */
	while (rdtsc() < target)
		;
	sample(lapic_timer_count, &b);
	if (a.count <= b.count || b.tsc <= a.tsc)
		return 0;
	return (uint64_t)(a.count - b.count) * tsc_hz / (b.tsc - a.tsc);
}

void clock_calibrate(void)
{
	const char *how = "pit";

	boot_facts.tsc_hz = tsc_from_pit();
	if (!boot_facts.tsc_hz) {
		how = "cpuid";
		boot_facts.tsc_hz = tsc_from_cpuid();
	}
	if (!boot_facts.tsc_hz)
		con_fail(
			"cannot calibrate the TSC: no PIT and no CPUID leaf\n");
	boot_facts.lapic_hz = lapic_from_tsc(boot_facts.tsc_hz);
	if (!boot_facts.lapic_hz)
		con_fail("LAPIC timer does not count\n");
	if (debug_enabled())
		con_printf("guest: tsc_khz=%lu (%s, %u tries) lapic_khz=%lu\n",
			   boot_facts.tsc_hz / 1000, how, cal_attempts,
			   boot_facts.lapic_hz / 1000);
}

uint32_t clock_timer_count(void)
{
	return (uint32_t)(boot_facts.lapic_hz / GUEST_HZ);
}

void clock_delay_us(uint64_t us)
{
	uint64_t end = rdtsc() + boot_facts.tsc_hz / 1000000 * us;

	while (rdtsc() < end)
		;
}

/* PIT channel 0 as a periodic interrupt source (IRQ 0) at about hz. */
void pit_start_periodic(uint32_t hz)
{
	uint32_t count = (uint32_t)(PIT_HZ / hz);

	outb(PIT_CMD, 0x34);
	outb(PIT_CH0, (uint8_t)count);
	outb(PIT_CH0, (uint8_t)(count >> 8));
}
