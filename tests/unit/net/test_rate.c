/*
 * The transmit token bucket (net/rate.h): a full bucket at start, the
 * cap (one interval's credit, at least RATE_BURST_MIN), the wait it
 * names is exactly when the credit covers the frame, no drift over a
 * long run, frames beyond the cap, unlimited buckets, time going back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "net/rate.h"

#define MS 1000000ULL
#define S 1000000000ULL

static void test_unlimited_never_waits(void **state)
{
	struct rate_bucket b;

	rate_init(&b, 0, 50000, 0);
	assert_false(rate_limited(&b));
	assert_int_equal(rate_take(&b, 1 << 30, 0), 0);
	assert_int_equal(rate_take(&b, 1 << 30, 0), 0);
}

/* 10 MB/s over 50 ms: a 500000-byte credit, full at start. */
static void test_burst_then_wait(void **state)
{
	struct rate_bucket b;
	uint64_t wait;

	rate_init(&b, 10000000, 50000, 1 * S);
	assert_true(rate_limited(&b));
	assert_int_equal(b.cap, 500000);
	assert_int_equal(rate_take(&b, 400000, 1 * S), 0);
	assert_int_equal(rate_take(&b, 100000, 1 * S), 0);
	/* Empty: 1500 bytes take 150 us at 10 MB/s. */
	wait = rate_take(&b, 1500, 1 * S);
	assert_int_equal(wait, 150000);
	/* One ns early is still too early; on time it goes. */
	assert_int_equal(rate_take(&b, 1500, 1 * S + wait - 1), 1);
	assert_int_equal(rate_take(&b, 1500, 1 * S + wait), 0);
	assert_int_equal(b.credit, 0);
}

/* A slow rate still lets a 64 KiB frame through: the 128 KiB floor. */
static void test_cap_floor_and_big_frames(void **state)
{
	struct rate_bucket b;

	rate_init(&b, 1000, 50000, 0); /* 50 bytes per interval */
	assert_int_equal(b.cap, RATE_BURST_MIN);
	assert_int_equal(rate_take(&b, 65550, 0), 0);
	/* 2 * 65550 > 128 KiB: the second waits for 28 bytes (28 ms). */
	assert_int_equal(rate_take(&b, 65550, 0), 28 * MS);
	assert_int_equal(rate_take(&b, 65550, 28 * MS), 0);
	/* A frame beyond the cap needs a full bucket, never more. */
	rate_init(&b, 1000000, 50000, 0);
	assert_int_equal(rate_take(&b, 1 << 20, 0), 0);
	assert_int_equal(rate_take(&b, 1 << 20, 0), RATE_BURST_MIN * 1000ULL);
}

/* Many small takes over 10 s move exactly rate * 10 s (plus the burst). */
static void test_no_drift(void **state)
{
	struct rate_bucket b;
	uint64_t now = 0, sent = 0, wait;

	rate_init(&b, 3333333, 20000, 0); /* odd numbers: remainders */
	while (now <= 10 * S) {
		wait = rate_take(&b, 777, now);
		if (!wait)
			sent += 777;
		else
			now += wait;
	}
	/* Credit at start (the cap) plus 10 s of accrual, within a frame. */
	assert_true(sent <= b.cap + 33333330ULL + 777);
	assert_true(sent + 777 >= b.cap + 33333330ULL);
}

/* Refill never exceeds the cap, and a clock going back adds nothing. */
static void test_refill_capped_and_monotonic(void **state)
{
	struct rate_bucket b;

	rate_init(&b, 1000000, 200000, 5 * S); /* cap 200000 */
	assert_int_equal(rate_take(&b, 200000, 5 * S), 0);
	assert_int_equal(rate_take(&b, 1, 4 * S), 1000); /* back: none */
	assert_int_equal(rate_take(&b, 1, 4 * S + 999), 1000);
	assert_int_equal(rate_take(&b, 0, 60 * S), 0);
	assert_int_equal(b.credit, 200000);
	/* More than the cap goes on a full bucket and empties it. */
	assert_int_equal(rate_take(&b, 200001, 60 * S), 0);
	assert_int_equal(rate_take(&b, 1, 60 * S), 1000);
}

int main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unlimited_never_waits),
		cmocka_unit_test(test_burst_then_wait),
		cmocka_unit_test(test_cap_floor_and_big_frames),
		cmocka_unit_test(test_no_drift),
		cmocka_unit_test(test_refill_capped_and_monotonic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
