/*
 * timer.elf, ring 0: counts LAPIC timer interrupts (GUEST_HZ, periodic)
 * against the TSC.
 *
 * cmdline: seconds=S (5; 0: forever) window=W (5 s)
 *          inject=stop|double|jump|back|stall (self-test of the checks,
 *          after 2 s: stop the LAPIC timer, halve its period (and expect
 *          that: a fast timer for the rate check), move the TSC as the
 *          handler sees it 1 s forward or back (software KVM ignores
 *          writes to the TSC MSR, so the skew is applied to the
 *          handler's readings), or stall 1.5 s inside the handler, as a
 *          vCPU saved there and restored later does: that must pass)
 * Output:  "timer: ready seconds=S window=W", "timer: tick N" each time
 *          another GUEST_HZ ticks have arrived (about once a second; N is
 *          the tick count), then "timer: ok" (exit 0) after S*GUEST_HZ
 *          ticks, or "timer: BAD <reason>" (exit 3).
 *
 * Checks:
 *  - the TSC never goes backwards (ring 3 watches it continuously, the
 *    handler between ticks);
 *  - over every window of W seconds of TSC time, and over the whole run,
 *    the tick count is at most 5% above TSC time / tick period: a timer
 *    running fast or a TSC running slow (e.g. another TSC rate after a
 *    migration). A starved vCPU coalesces ticks, so on a heavily
 *    overloaded host a fast timer can go unseen here;
 *  - and at most 5% below it, after excusing the ticks that may have
 *    been coalesced while the vCPU did not run: ring 3 measures gaps in
 *    its TSC loop and excuses those under 100 ms. A loaded host makes
 *    many short gaps and passes; a timer running slow fails;
 *  - a gap of 100 ms or more is the VM not running at all: paused,
 *    saved, or in migration downtime, while the TSC ran on (a VMM on
 *    hardware KVM holds the guest TSC still across a pause; KVM without
 *    TSC offsets cannot). It is reported as "timer: pause N ms" and left
 *    out of the rate check; how long a pause may be is the test's call.
 *    A TSC jump the guest did not live through (inject=jump: the
 *    handler's readings move, ring 3's do not) still fails the rate;
 *  - the LAPIC timer registers (mode, vector, divider, initial count)
 *    hold what was programmed, checked at every tick;
 *  - a stopped LAPIC timer: the PIT (channel 0, ~20 Hz, IRQ 0 routed
 *    through the IOAPIC as the MADT says) is a watchdog; 3 s of PIT
 *    interrupts without a LAPIC tick is "lapic timer stopped". Without a
 *    PIT interrupt this check is silently absent (debug=1 shows the
 *    count at the end).
 */
#include "kernel.h"
#include "timer.h"

#define TOLERANCE_PCT 5
#define WATCHDOG_HZ 20
#define WATCHDOG_LIMIT (3 * WATCHDOG_HZ)

enum inject { INJ_NONE, INJ_STOP, INJ_DOUBLE, INJ_JUMP, INJ_BACK, INJ_STALL };

/* TSC time, ticks and excused time at a starting point. */
struct span {
	uint64_t tsc;
	uint64_t ticks;
	uint64_t excused;
};

struct timer_state {
	uint64_t seconds;
	uint64_t window_tsc;
	uint64_t last_tsc;
	uint64_t ticks;
	struct span run, win;
	uint64_t wd_seen_ticks, wd_stale, wd_count;
	enum inject inject;
	uint64_t skew; /* added to every TSC reading (inject=jump|back) */
	uint64_t raw_tsc; /* this tick's reading without the skew */
	uint32_t count; /* LAPIC timer initial count we programmed */
	uint64_t pauses_seen; /* timer_shared.pauses already reported */
};

struct timer_shared timer_shared;
static struct timer_state ts;
static const char *const keys[] = { "seconds", "window", "inject", NULL };

static enum inject parse_inject(void)
{
	static const char *const names[] = { "none", "stop", "double",
					     "jump", "back", "stall" };
	char buf[16];
	unsigned int i;

	if (!cmdline_str("inject", buf, sizeof(buf)))
		return INJ_NONE;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (str_eq(buf, names[i]))
			return (enum inject)i;
	}
	con_fail("inject=%s unknown\n", buf);
}

/*
 * Self-test: break time on purpose and the checks must notice; or stall
 * as a saved vCPU does, which they must not mistake for a slow timer.
 */
static void do_inject(void)
{
	uint64_t stall_from;

	switch (ts.inject) {
	case INJ_NONE:
		break;
	case INJ_STOP:
		lapic_timer_start(0);
		break;
	case INJ_DOUBLE:
		/* A fast timer whose registers look right: for the rate check. */
		ts.count = clock_timer_count() / 2;
		lapic_timer_start(ts.count);
		break;
	case INJ_JUMP:
		ts.skew = boot_facts.tsc_hz;
		break;
	case INJ_BACK:
		ts.skew = -boot_facts.tsc_hz;
		break;
	case INJ_STALL:
		/* Ticks expire meanwhile; the next one comes before ring 3. */
		stall_from = rdtsc();
		while (rdtsc() - stall_from < boot_facts.tsc_hz * 3 / 2)
			cpu_relax();
		break;
	}
}

/*
 * PIT interrupts on the GSI the MADT names for IRQ 0, and also on IOAPIC
 * pins 0 and 2: VMMs differ (QEMU wires the PIT to pin 2 with no
 * override in microvm's MADT; KVM's default routing raises GSI 0 even
 * where the MADT says 2). A PIT seen on two pins only makes the
 * watchdog twice as quick, still far slower than the LAPIC timer.
 */
static void watchdog_start(void)
{
	uint32_t bsp = platform.apic_id[0];
	uint32_t base = platform.ioapic_gsi_base;

	pit_start_periodic(WATCHDOG_HZ);
	ioapic_route(platform.irq0_gsi, platform.irq0_flags, VEC_WATCHDOG, bsp);
	if (platform.irq0_gsi != base)
		ioapic_route(base, 0, VEC_WATCHDOG, bsp);
	if (platform.irq0_gsi != base + 2)
		ioapic_route(base + 2, 0, VEC_WATCHDOG, bsp);
}

static void setup(void)
{
	uint64_t window;

	cmdline_check_keys(keys);
	ts.seconds = cmdline_u64("seconds", 5);
	window = cmdline_u64("window", 5);
	if (!window || window > 3600)
		con_fail("window=%lu must be 1-3600\n", window);
	if (ts.seconds > 1000000000)
		con_fail("seconds=%lu too large\n", ts.seconds);
	ts.window_tsc = boot_facts.tsc_hz * window;
	ts.inject = parse_inject();
	ts.count = clock_timer_count();
	timer_shared.period_tsc =
		boot_facts.tsc_hz * clock_timer_count() / boot_facts.lapic_hz;
	timer_shared.excuse_max_tsc = boot_facts.tsc_hz / 10;
	con_say("ready seconds=%lu window=%lu\n", ts.seconds, window);
	if (platform.ioapic_base)
		watchdog_start();
}

/*
 * Time up to this tick in which ticks may have been lost without the timer
 * being at fault: ring 3's excused and paused gaps, plus the gap still
 * open since its latest reading. A tick can come before ring 3 has run
 * again: the vCPU was saved inside the tick handler, and the timer
 * expired while the VM was away. Counting that open gap now, and at a
 * span's start, puts each part of it into the span it belongs to.
 */
static uint64_t excused_until_now(void)
{
	const struct gap_snapshot *g = &timer_shared.snap[timer_shared.cur];
	uint64_t total = g->excused_tsc + g->paused_tsc;
	uint64_t open = ts.raw_tsc - g->last_tsc; /* ring 3 never skews */

	if (ts.raw_tsc > g->last_tsc && open > timer_shared.period_tsc)
		total += open - timer_shared.period_tsc;
	return total;
}

static void span_start(struct span *s, uint64_t tsc)
{
	s->tsc = tsc;
	s->ticks = ts.ticks;
	s->excused = excused_until_now();
}

/* Fail unless the ticks since s match its TSC time (see the header). */
static void check_span(const struct span *s, uint64_t tsc, const char *what)
{
	uint64_t per = timer_shared.period_tsc;
	uint64_t ticks = ts.ticks - s->ticks;
	uint64_t expected = (tsc - s->tsc) / per;
	uint64_t excused = (excused_until_now() - s->excused) / per;
	uint64_t ms = (tsc - s->tsc) / (boot_facts.tsc_hz / 1000);

	if (ticks * 100 > expected * (100 + TOLERANCE_PCT) + 100)
		con_fail(
			"rate too high over %s: ticks=%lu expected=%lu in %lu ms\n",
			what, ticks, expected, ms);
	if ((ticks + excused) * 100 < expected * (100 - TOLERANCE_PCT))
		con_fail(
			"rate too low over %s: ticks=%lu expected=%lu in %lu ms (excused %lu, longest ring-3 gap %lu ms)\n",
			what, ticks, expected, ms, excused,
			timer_shared.longest_gap_tsc /
				(boot_facts.tsc_hz / 1000));
}

/* A restore must bring back the timer exactly as it was programmed. */
static void check_lapic(void)
{
	uint32_t r[3];

	if (!lapic_timer_is(ts.count, r))
		con_fail(
			"lapic timer changed: lvt=%x div=%x initial=%x (want initial=%x)\n",
			r[0], r[1], r[2], ts.count);
}

static void check_user(void)
{
	if (user_status[0].state == USER_BAD)
		con_fail("tsc went backwards in ring 3: %lx then %lx\n",
			 user_status[0].bad_a, user_status[0].bad_b);
}

static void finish(uint64_t tsc)
{
	if (tsc - ts.win.tsc >= boot_facts.tsc_hz)
		check_span(&ts.win, tsc, "last window");
	check_span(&ts.run, tsc, "whole run");
	if (debug_enabled())
		con_printf("guest: watchdog interrupts=%lu excused_ms=%lu\n",
			   ts.wd_count,
			   excused_until_now() / (boot_facts.tsc_hz / 1000));
	con_say("ok\n");
	guest_exit(EXIT_OK);
}

static void tick(uint64_t tsc)
{
	ts.raw_tsc = tsc;
	tsc += ts.skew;
	check_user();
	check_lapic();
	if (!ts.run.tsc) {
		ts.last_tsc = tsc;
		span_start(&ts.run, tsc);
		span_start(&ts.win, tsc);
		return;
	}
	if (tsc < ts.last_tsc)
		con_fail("tsc went backwards between ticks: %lx then %lx\n",
			 ts.last_tsc, tsc);
	ts.last_tsc = tsc;
	ts.ticks++;
	if (timer_shared.pauses != ts.pauses_seen) {
		ts.pauses_seen = timer_shared.pauses;
		con_say("pause %lu ms\n", timer_shared.last_pause_tsc /
						  (boot_facts.tsc_hz / 1000));
	}
	if (tsc - ts.win.tsc >= ts.window_tsc) {
		check_span(&ts.win, tsc, "window");
		span_start(&ts.win, tsc);
	}
	if (ts.ticks % GUEST_HZ == 0)
		con_say("tick %lu\n", ts.ticks);
	if (ts.ticks == 2 * GUEST_HZ)
		do_inject();
	if (ts.seconds && ts.ticks >= ts.seconds * GUEST_HZ)
		finish(tsc);
}

static void irq(unsigned int vector)
{
	if (vector != VEC_WATCHDOG)
		return;
	ts.wd_count++;
	if (cpu_ticks[0] != ts.wd_seen_ticks) {
		ts.wd_seen_ticks = cpu_ticks[0];
		ts.wd_stale = 0;
	} else if (++ts.wd_stale >= WATCHDOG_LIMIT) {
		con_fail("lapic timer stopped (no tick for %u s of PIT)\n",
			 WATCHDOG_LIMIT / WATCHDOG_HZ);
	}
}

const struct guest_ops guest_ops = {
	.name = "timer",
	.max_cpus = 1,
	.setup = setup,
	.tick = tick,
	.irq = irq,
};
