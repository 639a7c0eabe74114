/*
 * Unit tests of post-copy's wire structures (src/format/postcopy.c): the
 * POSTCOPY record body against the VM's RAM, and the messages of the
 * post-copy connections, each rule with the line it gives.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "format/postcopy.h"

#define MEM_64M (64ULL << 20) /* 32 regions: one map word */

static const struct rec_limits lim = { .nr_vcpus = 1, .mem_bytes = MEM_64M };

struct body {
	struct rec_postcopy r;
	uint64_t map[1];
};

static struct body good_body(void)
{
	return (struct body){ .r = { .region_pages = POSTCOPY_REGION_PAGES,
				     .port = 4000,
				     .nr_regions = 32,
				     .pending = 2 },
			      .map = { 0x80000001ULL } };
}

static void body_fails(struct body *b, uint32_t len, const char *want)
{
	char why[256];

	assert_int_equal(rec_body_check(REC_POSTCOPY, b, len, &lim, why,
					sizeof(why)),
			 -EINVAL);
	assert_string_equal(why, want);
}

static void test_record_body(void **state)
{
	struct body b = good_body();
	char why[256];

	assert_int_equal(rec_body_check(REC_POSTCOPY, &b, sizeof(b), &lim, why,
					sizeof(why)),
			 0);
	assert_string_equal(rec_type_name(REC_POSTCOPY), "POSTCOPY");
	assert_true(rec_type_known(REC_POSTCOPY));
	body_fails(&b, 8, "length 8 is too short for POSTCOPY");
	b.r.region_pages = 1;
	body_fails(&b, sizeof(b), "region of 1 pages, expected 512");
	b = good_body();
	b.r.port = 0;
	body_fails(&b, sizeof(b), "port 0, or reserved field not zero");
	b = good_body();
	b.r.nr_regions = 33;
	body_fails(&b, sizeof(b), "33 regions, but guest RAM has 32");
	b = good_body();
	body_fails(&b, sizeof(b) - 8, "length 24, expected 32 for 32 regions");
	b.r.pending = 3;
	body_fails(&b, sizeof(b), "map has 2 regions set, the record says 3");
}

static void test_map_bits_past_ram(void **state)
{
	/* 6 MiB: 3 regions; bit 3 names a fourth that does not exist. */
	struct rec_limits small = { .nr_vcpus = 1, .mem_bytes = 6ULL << 20 };
	struct body b = good_body();
	char why[256];

	b.r.nr_regions = 3;
	b.r.pending = 1;
	b.map[0] = 1ULL << 3;
	assert_int_equal(rec_body_check(REC_POSTCOPY, &b, sizeof(b), &small,
					why, sizeof(why)),
			 -EINVAL);
	assert_string_equal(why,
			    "region map names regions past the 3 of guest RAM");
}

static void test_messages(void **state)
{
	static const uint8_t id[STREAM_ID_LEN] = "0123456789abcde";
	uint8_t hello[STREAM_ID_LEN + 8] = { 0 };
	struct postcopy_msg m;
	char why[256];

	postcopy_msg_init(&m, POSTCOPY_REQUEST, 31, 0, NULL, 0);
	assert_int_equal(postcopy_msg_check(&m, 32, why, sizeof(why)), 0);
	assert_int_equal(postcopy_msg_check(&m, 31, why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "REQUEST names region 31 of 31");
	m.region = 1; /* changed after sealing */
	assert_int_equal(postcopy_msg_check(&m, 32, why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "post-copy message CRC mismatch");
	/* A zero region carries nothing; a full one exactly 2 MiB. */
	postcopy_msg_init(&m, POSTCOPY_REGION, 3, POSTCOPY_F_ZERO, NULL, 0);
	assert_int_equal(postcopy_msg_check(&m, 32, why, sizeof(why)), 0);
	postcopy_msg_init(&m, POSTCOPY_REGION, 3, 0, NULL, 0);
	assert_int_equal(postcopy_msg_check(&m, 32, why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "REGION carries 0 bytes, expected 2097152");
	/* HELLO: the stream id, and for the pages role the map. */
	memcpy(hello, id, STREAM_ID_LEN);
	hello[STREAM_ID_LEN] = 0x5;
	postcopy_msg_init(&m, POSTCOPY_HELLO, 0, POSTCOPY_ROLE_PAGES, hello,
			  sizeof(hello));
	assert_int_equal(postcopy_msg_check(&m, 32, why, sizeof(why)), 0);
	assert_int_equal(postcopy_data_check(&m, hello, why, sizeof(why)), 0);
	assert_int_equal(
		postcopy_hello_check(&m, hello, id, 32, why, sizeof(why)), 0);
	hello[0] ^= 1;
	assert_int_equal(postcopy_data_check(&m, hello, why, sizeof(why)),
			 -EINVAL);
	assert_int_equal(postcopy_hello_check(&m, hello, id, 32, why,
					      sizeof(why)),
			 -EINVAL);
	assert_string_equal(why, "HELLO is for another migration (stream id)");
	postcopy_msg_init(&m, POSTCOPY_HELLO, 0, POSTCOPY_ROLE_FAULTS, hello,
			  sizeof(hello));
	assert_int_equal(postcopy_msg_check(&m, 32, why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "HELLO carries 24 bytes, expected 16");
	postcopy_msg_init(&m, POSTCOPY_BYE, 0, 1, NULL, 0);
	assert_int_equal(postcopy_msg_check(&m, 32, why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "BYE carries a region, flags or data");
	postcopy_msg_init(&m, 9, 0, 0, NULL, 0);
	assert_int_equal(postcopy_msg_check(&m, 32, why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "post-copy message type 9 is unknown");
}

int format_test_postcopy(void);
int format_test_postcopy(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_body),
		cmocka_unit_test(test_map_bits_past_ram),
		cmocka_unit_test(test_messages),
	};

	return cmocka_run_group_tests_name("format postcopy", tests, NULL,
					   NULL);
}
