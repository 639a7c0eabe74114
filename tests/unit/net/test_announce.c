/*
 * Announcements (net/announce.h): QEMU's schedule with its defaults
 * (rounds at 0, 50, 200, 450, 800 ms) and other parameters, and the RARP
 * frame byte by byte as QEMU's announce_self_create() lays it out.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "net/announce.h"

static void test_default_schedule(void **state)
{
	struct announce_params p;
	uint32_t at = 0, i;
	static const uint32_t want[] = { 0, 50, 200, 450, 800 };

	announce_params_default(&p);
	assert_int_equal(p.rounds, 5);
	for (i = 1; i < p.rounds; i++) {
		at += announce_gap_ms(&p, i);
		assert_int_equal(at, want[i]);
	}
}

static void test_gap_capped_at_max(void **state)
{
	struct announce_params p = {
		.initial_ms = 100, .max_ms = 250, .rounds = 6, .step_ms = 100
	};

	assert_int_equal(announce_gap_ms(&p, 1), 100);
	assert_int_equal(announce_gap_ms(&p, 2), 200);
	assert_int_equal(announce_gap_ms(&p, 3), 250);
	assert_int_equal(announce_gap_ms(&p, 5), 250);
	p.step_ms = 0;
	assert_int_equal(announce_gap_ms(&p, 5), 100);
}

static void test_rarp_frame(void **state)
{
	static const uint8_t mac[6] = { 0x00, 0x16, 0x3e, 0x56, 0xaf, 0x69 };
	static const uint8_t want[60] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* broadcast */
		0x00, 0x16, 0x3e, 0x56, 0xaf, 0x69, /* from the NIC */
		0x80, 0x35, /* RARP */
		0x00, 0x01, 0x08, 0x00, 6,    4,    0x00, 0x03, 0x00, 0x16,
		0x3e, 0x56, 0xaf, 0x69, 0,    0,    0,	  0,	0x00, 0x16,
		0x3e, 0x56, 0xaf, 0x69, 0,    0,    0,	  0,
	};
	uint8_t f[ANNOUNCE_FRAME_LEN];

	memset(f, 0xaa, sizeof(f));
	announce_rarp(f, mac);
	assert_memory_equal(f, want, sizeof(want));
}

int main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_schedule),
		cmocka_unit_test(test_gap_capped_at_max),
		cmocka_unit_test(test_rarp_frame),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
