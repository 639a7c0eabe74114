/*
 * Unit tests for the pre-copy policy (src/migration/policy.c): a pure
 * function of measured bandwidth, dirty rate and limits.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/compiler.h"
#include "migration/policy.h"

#define MS 1000000ULL
#define MBPS (1000000ULL) /* bytes per second */

static struct precopy_stats stats(unsigned int round, uint64_t dirty,
				  uint64_t bw, uint64_t limit_ms)
{
	return (struct precopy_stats){
		.round = round,
		.dirty_pages = dirty,
		.bandwidth_bps = bw,
		.downtime_limit_ns = limit_ms * MS,
		.max_rounds = 30,
	};
}

static void test_expected_downtime(void **state)
{
	/* 1000 pages = 4096000 bytes at 4096 MB/s: 1 ms, plus the fixed part. */
	struct precopy_stats st = stats(1, 1000, 4096 * MBPS, 300);

	assert_int_equal(precopy_expected_downtime_ns(&st),
			 1 * MS + PRECOPY_FIXED_NS);
	st.dirty_pages = 0;
	assert_int_equal(precopy_expected_downtime_ns(&st), PRECOPY_FIXED_NS);
	/* Nothing measured yet: unknown, never "fits". */
	st.bandwidth_bps = 0;
	assert_true(precopy_expected_downtime_ns(&st) == UINT64_MAX);
	/* Huge sets do not overflow. */
	st = stats(1, 1ULL << 40, 1, 300);
	assert_true(precopy_expected_downtime_ns(&st) > (1ULL << 52));
}

/* A round's figures: dirty pages left, at rate_pps while they go out. */
static struct precopy_stats after(unsigned int round, uint64_t dirty,
				  uint64_t rate_pps, uint64_t bw,
				  uint64_t limit_ms)
{
	struct precopy_stats st = stats(round, dirty, bw, limit_ms);

	st.dirty_rate_pps = rate_pps;
	return st;
}

static void test_stops_when_rest_fits(void **state)
{
	/* 100 dirty pages at 500 MB/s: about 0.8 ms + 2 ms: nothing to buy. */
	struct precopy_stats st = after(1, 100, 1000000, 500 * MBPS, 5);

	assert_int_equal(precopy_decide(&st), PRECOPY_STOP_FITS);
	/* 100000 pages (400 MB, 800 ms), re-dirtied as fast as sent: over
	 * the limit and not shrinking: slow the guest (the default). */
	st.dirty_pages = 100000;
	st.dirty_rate_pps = 500 * MBPS / 4096;
	assert_int_equal(precopy_decide(&st), PRECOPY_THROTTLE);
	/* 1 s: fits, but not with a quarter of the limit in hand. */
	st.downtime_limit_ns = 1000 * MS;
	assert_int_equal(precopy_decide(&st), PRECOPY_THROTTLE);
	st.downtime_limit_ns = 1100 * MS;
	assert_int_equal(precopy_decide(&st), PRECOPY_STOP_FITS);
}

/* Never past the ceiling, a tiny rest included; a quarter in hand. */
static void test_limit_is_a_ceiling(void **state)
{
	/* 100 pages: 0.8 ms + 2 ms, below 3 ms, but over a 1 ms limit. */
	struct precopy_stats st = after(1, 100, 1000000, 500 * MBPS, 1);

	st.converge = CONVERGE_NONE;
	assert_int_equal(precopy_decide(&st), PRECOPY_CONTINUE);
	st.converge = CONVERGE_THROTTLE;
	assert_int_equal(precopy_decide(&st), PRECOPY_THROTTLE);
	/* 2800 pages at 500 MB/s: 22.9 ms + 2: over 3/4 of 30 ms. */
	st = after(1, 2800, 500 * MBPS / 4096, 500 * MBPS, 30);
	assert_int_equal(precopy_decide(&st), PRECOPY_THROTTLE);
	st.dirty_pages = 2500; /* 20.5 ms + 2: within 22.5 ms */
	assert_int_equal(precopy_decide(&st), PRECOPY_STOP_FITS);
}

static void test_next_rest(void **state)
{
	/* 4096 pages at 4096 MB/s take 4.096 ms; at 100000 pages/s 409. */
	struct precopy_stats st = after(1, 4096, 100000, 4096 * MBPS, 30);

	assert_int_equal(precopy_next_rest(&st), 409);
	/* The peak rate counts when it is the higher one. */
	st.peak_rate_pps = 1000000;
	assert_int_equal(precopy_next_rest(&st), 4096);
	st.bandwidth_bps = 0;
	assert_true(precopy_next_rest(&st) == UINT64_MAX);
	/* Huge figures do not overflow. */
	st = after(1, 1ULL << 40, 1ULL << 20, 4096, 30);
	assert_true(precopy_next_rest(&st) == 1ULL << 60);
	st.dirty_rate_pps = 1ULL << 40;
	assert_true(precopy_next_rest(&st) == UINT64_MAX - 1);
}

/*
 * The bimodal case this policy fixes: a 512 MiB guest with 64 MiB hot,
 * after round 0 the 16384 hot pages are dirty (34 ms at 2 GB/s) which
 * fits a 300 ms limit; the old policy stopped there whenever round 0 had
 * sent less than twice that. The guest dirties 1 GB/s: a round shrinks
 * the rest to half: go on.
 */
static void test_round_zero_rest_is_not_the_end(void **state)
{
	struct precopy_stats st =
		after(1, 16384, 1000 * MBPS / 4096, 2000 * MBPS, 300);

	st.sent_pages = 17000;
	assert_int_equal(precopy_decide(&st), PRECOPY_CONTINUE);
	/* Dirtying 90% of the bandwidth, a round buys too little: stop
	 * (it fits); over the limit it would throttle. */
	st.dirty_rate_pps = 1800 * MBPS / 4096;
	assert_int_equal(precopy_decide(&st), PRECOPY_STOP_FITS);
	st.downtime_limit_ns = 30 * MS;
	assert_int_equal(precopy_decide(&st), PRECOPY_THROTTLE);
}

static void test_extra_round_when_it_pays(void **state)
{
	/*
	 * An idle guest after round 0: 4019 pages (8 ms at 2000 MB/s)
	 * dirtied during a 450 ms round 0. That fits a 300 ms limit, but a
	 * round of 8 ms leaves a handful: send it with the guest up.
	 */
	struct precopy_stats st = after(1, 4019, 9000, 2000 * MBPS, 300);

	assert_int_equal(precopy_decide(&st), PRECOPY_CONTINUE);
	/* A rest sent in under PRECOPY_SMALL_NS: not worth a round. */
	st.dirty_pages = 400; /* 0.8 ms */
	assert_int_equal(precopy_decide(&st), PRECOPY_STOP_FITS);
	/* No rounds left: the rest fits, stop. */
	st.dirty_pages = 4019;
	st.round = st.max_rounds;
	assert_int_equal(precopy_decide(&st), PRECOPY_STOP_FITS);
}

/* Over the limit after the last round: never stop and copy anyway. */
static void test_round_limit(void **state)
{
	struct precopy_stats st = after(30, 100000, 1000, 500 * MBPS, 5);

	st.converge = CONVERGE_THROTTLE;
	assert_int_equal(precopy_decide(&st), PRECOPY_FAIL);
	st.converge = CONVERGE_AUTO;
	assert_int_equal(precopy_decide(&st), PRECOPY_POSTCOPY);
	st.converge = CONVERGE_NONE;
	assert_int_equal(precopy_decide(&st), PRECOPY_FAIL);
	/* One round earlier, rounds still shrink it: continue. */
	st.round = 29;
	assert_int_equal(precopy_decide(&st), PRECOPY_CONTINUE);
	/* Fitting wins over the limit. */
	st.round = 30;
	st.dirty_pages = 10;
	assert_int_equal(precopy_decide(&st), PRECOPY_STOP_FITS);
}

static void test_stall_counting(void **state)
{
	struct precopy_stats st = stats(3, 1000, 500 * MBPS, 5);

	/* Shrinking by at least an eighth is progress. */
	st.sent_pages = 2000;
	st.stalled_rounds = 2;
	assert_int_equal(precopy_stall_count(&st), 0);
	/* Not shrinking (or growing) is a stalled round. */
	st.sent_pages = 1050;
	assert_int_equal(precopy_stall_count(&st), 3);
	st.sent_pages = 900;
	assert_int_equal(precopy_stall_count(&st), 3);
	/* Round 1 compares with round 0's full copy: never a stall. */
	st.round = 1;
	assert_int_equal(precopy_stall_count(&st), 0);
}

/* A guest dirtying as fast as we send, by --converge. */
static void test_not_converging(void **state)
{
	struct precopy_stats st =
		after(4, 65536, 200 * MBPS / 4096, 200 * MBPS, 5);

	st.converge = CONVERGE_NONE;
	st.stalled_rounds = PRECOPY_STALL_ROUNDS - 1;
	assert_int_equal(precopy_decide(&st), PRECOPY_CONTINUE);
	st.stalled_rounds = PRECOPY_STALL_ROUNDS;
	assert_int_equal(precopy_decide(&st), PRECOPY_FAIL);
	/* throttle: slow down until the most, then give up. */
	st.converge = CONVERGE_THROTTLE;
	st.stalled_rounds = 0;
	assert_int_equal(precopy_decide(&st), PRECOPY_THROTTLE);
	st.throttle_pct = POLICY_THROTTLE_MAX;
	assert_int_equal(precopy_decide(&st), PRECOPY_CONTINUE);
	st.stalled_rounds = PRECOPY_STALL_ROUNDS;
	assert_int_equal(precopy_decide(&st), PRECOPY_FAIL);
	/* auto: the same, but post-copy instead of failing. */
	st.converge = CONVERGE_AUTO;
	assert_int_equal(precopy_decide(&st), PRECOPY_POSTCOPY);
	st.throttle_pct = 50;
	assert_int_equal(precopy_decide(&st), PRECOPY_THROTTLE);
	/* postcopy: switch as soon as rounds do not fit. */
	st.converge = CONVERGE_POSTCOPY;
	st.stalled_rounds = 0;
	st.throttle_pct = 0;
	assert_int_equal(precopy_decide(&st), PRECOPY_POSTCOPY);
	/* --postcopy: after round 0 whatever the rest, even a tiny one. */
	st.postcopy_now = true;
	st.dirty_pages = 1;
	assert_int_equal(precopy_decide(&st), PRECOPY_POSTCOPY);
}

/* A converging guest, simulated: each round sends the last round's set
 * while the guest dirties at a fixed rate; the policy stops in time. */
static void test_simulated_convergence(void **state)
{
	const uint64_t bw = 500 * MBPS, dirty_pps = 25000; /* ~100 MB/s */
	struct precopy_stats st = stats(0, 262144, bw, 5); /* 1 GiB sent */
	enum precopy_action a = PRECOPY_CONTINUE;
	uint64_t send_ns;

	st.dirty_rate_pps = dirty_pps;
	while (a == PRECOPY_CONTINUE) {
		send_ns = st.dirty_pages * 4096 * 1000000000ULL / bw;
		st.sent_pages = st.dirty_pages;
		st.dirty_pages = dirty_pps * send_ns / 1000000000ULL;
		st.round++;
		st.stalled_rounds = precopy_stall_count(&st);
		a = precopy_decide(&st);
		assert_true(st.round < 20);
	}
	assert_int_equal(a, PRECOPY_STOP_FITS);
	/* Dirtying a fifth of the bandwidth: rounds go on to a tiny rest. */
	assert_true(precopy_expected_downtime_ns(&st) <=
		    PRECOPY_FIXED_NS + PRECOPY_SMALL_NS);
}

/*
 * A native-speed dirtier, simulated with the throttle: 256 MiB hot,
 * dirtied at 20 times the bandwidth while it runs (its rate falls with
 * its share of run time). The throttle brings it under the 30 ms limit
 * within a few rounds, and the rounds then go on to a small rest.
 */
static void test_simulated_throttle(void **state)
{
	const uint64_t bw = 2000 * MBPS, bw_pps = bw / 4096;
	const uint64_t hot = 65536, full_pps = 20 * bw_pps;
	struct precopy_stats st = stats(0, hot, bw, 30);
	struct throttle_in t = { .bandwidth_bps = bw, .nr_vcpus = 1 };
	enum precopy_action a = PRECOPY_CONTINUE;
	uint64_t rate = full_pps, send_ns;

	st.converge = CONVERGE_THROTTLE;
	do {
		if (a == PRECOPY_THROTTLE) {
			t.run_rate_pps = full_pps;
			t.pct = st.throttle_pct;
			st.throttle_pct = policy_throttle_pct(&t);
			rate = full_pps * (100 - st.throttle_pct) / 100;
		}
		send_ns = st.dirty_pages * 4096 * 1000000000ULL / bw;
		st.sent_pages = st.dirty_pages;
		st.dirty_pages = MIN(hot, rate * send_ns / 1000000000ULL);
		st.dirty_rate_pps = st.dirty_pages * 1000000000ULL / send_ns;
		st.peak_rate_pps = rate;
		st.round++;
		st.stalled_rounds = precopy_stall_count(&st);
		a = precopy_decide(&st);
		assert_true(st.round < 15);
	} while (a == PRECOPY_CONTINUE || a == PRECOPY_THROTTLE);
	assert_int_equal(a, PRECOPY_STOP_FITS);
	assert_true(st.throttle_pct >= 90 && st.throttle_pct <= 99);
	assert_true(precopy_expected_downtime_ns(&st) <= 30 * MS);
}

static void test_throttle_pct(void **state)
{
	/* 20x the target rate: run a twentieth as much: 95%. */
	struct throttle_in t = { .run_rate_pps = 20 * 1000,
				 .bandwidth_bps = 2 * 1000 * 4096,
				 .nr_vcpus = 1 };

	assert_int_equal(policy_throttle_pct(&t), 95);
	/* At 50% it still dirties 10x the target: to 95% too. */
	t.pct = 50;
	assert_int_equal(policy_throttle_pct(&t), 95);
	/* Running at 95%, a twentieth of 20x: the target. Unchanged. */
	t.pct = 95;
	assert_int_equal(policy_throttle_pct(&t), 95);
	/* Within the target: unchanged, never lowered. */
	t.pct = 50;
	t.run_rate_pps = 1800;
	assert_int_equal(policy_throttle_pct(&t), 50);
	/* Just over the target: at least one step up. */
	t.run_rate_pps = 2200;
	assert_int_equal(policy_throttle_pct(&t), 50 + POLICY_THROTTLE_STEP);
	/* Never past the most. */
	t.run_rate_pps = 1000000;
	t.pct = 98;
	assert_int_equal(policy_throttle_pct(&t), POLICY_THROTTLE_MAX);
}

static void test_throttle_spares_quiet_vcpus(void **state)
{
	/* 4 vCPUs; one did 1000 of the 100000 pages: left alone. */
	struct throttle_in t = { .run_rate_pps = 20 * 1000,
				 .bandwidth_bps = 2 * 1000 * 4096,
				 .vcpu_pages = 1000,
				 .total_pages = 100000,
				 .nr_vcpus = 4 };

	assert_int_equal(policy_throttle_pct(&t), 0);
	/* A fair share (a quarter of an even one is enough): slowed. */
	t.vcpu_pages = 6250;
	assert_int_equal(policy_throttle_pct(&t), 95);
	/* Without per-vCPU counts (dirty bitmap), every vCPU is. */
	t.vcpu_pages = t.total_pages = 0;
	assert_int_equal(policy_throttle_pct(&t), 95);
}

static void test_names(void **state)
{
	enum precopy_converge c;

	assert_string_equal(precopy_action_name(PRECOPY_CONTINUE), "continue");
	assert_string_equal(precopy_action_name(PRECOPY_FAIL),
			    "does not fit the downtime limit");
	assert_string_equal(precopy_converge_name(CONVERGE_AUTO), "auto");
	assert_int_equal(precopy_converge_parse("postcopy", &c), 0);
	assert_int_equal(c, CONVERGE_POSTCOPY);
	assert_int_equal(precopy_converge_parse("none", &c), 0);
	assert_int_equal(c, CONVERGE_NONE);
	assert_int_equal(precopy_converge_parse("sometimes", &c), -EINVAL);
}

/* Paused at the source: the downtime limit plus a margin of max(1 s, it). */
static void test_paused_budget_live(void **state)
{
	struct paused_budget b = { .live = true, .downtime_limit_ns = 30 * MS };

	assert_int_equal(policy_paused_margin_ns(&b), 1000 * MS);
	assert_int_equal(policy_paused_budget_ns(&b), 1030 * MS);
	b.downtime_limit_ns = 3000 * MS; /* a long limit: its own margin */
	assert_int_equal(policy_paused_budget_ns(&b), 6000 * MS);
	b.margin_ns = 200 * MS; /* configured */
	assert_int_equal(policy_paused_budget_ns(&b), 3200 * MS);
	/* Data size does not matter: only the rest is sent paused. */
	b.data_bytes = 1ULL << 40;
	assert_int_equal(policy_paused_budget_ns(&b), 3200 * MS);
}

/* --no-live: everything is sent paused, at the floor bandwidth at least. */
static void test_paused_budget_not_live(void **state)
{
	struct paused_budget b = { .downtime_limit_ns = 30 * MS,
				   .data_bytes = 256ULL << 20 };

	/* 256 MiB at 16 MiB/s: 16 s, plus the 1 s margin. */
	assert_int_equal(policy_paused_budget_ns(&b), 17000 * MS);
	/* A small guest still gets the downtime limit. */
	b.data_bytes = 4096;
	b.downtime_limit_ns = 2000 * MS;
	assert_int_equal(policy_paused_budget_ns(&b), 4000 * MS);
	/* A terabyte does not overflow: 65536 s. */
	b.data_bytes = 1ULL << 40;
	b.downtime_limit_ns = 30 * MS;
	assert_int_equal(policy_paused_budget_ns(&b),
			 65536000 * MS + 1000 * MS);
}

static void test_chunk_pages(void **state)
{
	assert_int_equal(policy_chunk_pages(0), POLICY_CHUNK_PAGES_MAX);
	/* 32 MiB/s: a quarter second is 8 MiB, 2048 pages. */
	assert_int_equal(policy_chunk_pages(32ULL << 20), 2048);
	assert_int_equal(policy_chunk_pages(1ULL << 20),
			 POLICY_CHUNK_PAGES_MIN);
	assert_int_equal(policy_chunk_pages(1ULL << 40),
			 POLICY_CHUNK_PAGES_MAX);
}

/* QUERY retries: 1 s, 2 s, 4 s, then every 5 s. */
static void test_query_interval(void **state)
{
	assert_int_equal(policy_query_interval_ms(0), 1000);
	assert_int_equal(policy_query_interval_ms(1), 2000);
	assert_int_equal(policy_query_interval_ms(2), 4000);
	assert_int_equal(policy_query_interval_ms(3), 5000);
	assert_int_equal(policy_query_interval_ms(4000000000u), 5000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_expected_downtime),
		cmocka_unit_test(test_stops_when_rest_fits),
		cmocka_unit_test(test_limit_is_a_ceiling),
		cmocka_unit_test(test_next_rest),
		cmocka_unit_test(test_round_zero_rest_is_not_the_end),
		cmocka_unit_test(test_extra_round_when_it_pays),
		cmocka_unit_test(test_round_limit),
		cmocka_unit_test(test_stall_counting),
		cmocka_unit_test(test_not_converging),
		cmocka_unit_test(test_simulated_convergence),
		cmocka_unit_test(test_simulated_throttle),
		cmocka_unit_test(test_throttle_pct),
		cmocka_unit_test(test_throttle_spares_quiet_vcpus),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_paused_budget_live),
		cmocka_unit_test(test_paused_budget_not_live),
		cmocka_unit_test(test_chunk_pages),
		cmocka_unit_test(test_query_interval),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
