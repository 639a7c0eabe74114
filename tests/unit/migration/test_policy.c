/*
 * Unit tests for the pre-copy policy (src/migration/policy.c): a pure
 * function of measured bandwidth, dirty rate and limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

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

static void test_stops_when_rest_fits(void **state)
{
	/* 100 dirty pages at 500 MB/s: about 0.8 ms + 2 ms < 5 ms. */
	struct precopy_stats st = stats(1, 100, 500 * MBPS, 5);

	assert_int_equal(precopy_decide(&st), PRECOPY_STOP_FITS);
	/* 100000 pages (400 MB) would take 800 ms: keep going. */
	st.dirty_pages = 100000;
	assert_int_equal(precopy_decide(&st), PRECOPY_CONTINUE);
	/* The same with a 1 s limit fits. */
	st.downtime_limit_ns = 1000 * MS;
	assert_int_equal(precopy_decide(&st), PRECOPY_STOP_FITS);
}

static void test_extra_round_when_it_pays(void **state)
{
	/*
	 * An idle guest after round 0: 972832 pages sent, 4019 dirtied
	 * meanwhile (16 MB: 8 ms at 2000 MB/s). That fits a 300 ms limit,
	 * but a round of 8 ms leaves a handful: send it with the guest up.
	 */
	struct precopy_stats st = stats(1, 4019, 2000 * MBPS, 300);

	st.sent_pages = 972832;
	assert_int_equal(precopy_decide(&st), PRECOPY_CONTINUE);
	/* Dirtying more than half of what a round sends: stop now. */
	st.sent_pages = 8037;
	assert_int_equal(precopy_decide(&st), PRECOPY_STOP_FITS);
	st.sent_pages = 8038;
	assert_int_equal(precopy_decide(&st), PRECOPY_CONTINUE);
	/* A rest sent in under PRECOPY_SMALL_NS: not worth a round. */
	st.dirty_pages = 400; /* 0.8 ms */
	assert_int_equal(precopy_decide(&st), PRECOPY_STOP_FITS);
	/* No rounds left: the rest fits, stop for that reason. */
	st.dirty_pages = 4019;
	st.round = st.max_rounds;
	assert_int_equal(precopy_decide(&st), PRECOPY_STOP_FITS);
}

static void test_round_limit(void **state)
{
	struct precopy_stats st = stats(30, 100000, 500 * MBPS, 5);

	assert_int_equal(precopy_decide(&st), PRECOPY_STOP_LIMIT);
	st.round = 29;
	assert_int_equal(precopy_decide(&st), PRECOPY_CONTINUE);
	/* Fitting wins over the limit: it is the better reason to stop. */
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

static void test_gives_up_when_not_converging(void **state)
{
	/* A guest dirtying faster than we send: the set never shrinks. */
	struct precopy_stats st = stats(4, 65536, 200 * MBPS, 5);

	st.stalled_rounds = PRECOPY_STALL_ROUNDS - 1;
	assert_int_equal(precopy_decide(&st), PRECOPY_CONTINUE);
	st.stalled_rounds = PRECOPY_STALL_ROUNDS;
	assert_int_equal(precopy_decide(&st), PRECOPY_STOP_STUCK);
}

/* A converging guest, simulated: each round sends the last round's set
 * while the guest dirties at a fixed rate; the policy stops in time. */
static void test_simulated_convergence(void **state)
{
	const uint64_t bw = 500 * MBPS, dirty_pps = 25000; /* ~100 MB/s */
	struct precopy_stats st = stats(0, 262144, bw, 5); /* 1 GiB sent */
	enum precopy_action a = PRECOPY_CONTINUE;
	uint64_t send_ns;

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

static void test_action_names(void **state)
{
	assert_string_equal(precopy_action_name(PRECOPY_CONTINUE), "continue");
	assert_string_equal(precopy_action_name(PRECOPY_STOP_STUCK),
			    "not converging");
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
		cmocka_unit_test(test_extra_round_when_it_pays),
		cmocka_unit_test(test_round_limit),
		cmocka_unit_test(test_stall_counting),
		cmocka_unit_test(test_gives_up_when_not_converging),
		cmocka_unit_test(test_simulated_convergence),
		cmocka_unit_test(test_action_names),
		cmocka_unit_test(test_paused_budget_live),
		cmocka_unit_test(test_paused_budget_not_live),
		cmocka_unit_test(test_chunk_pages),
		cmocka_unit_test(test_query_interval),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
