/*
 * Unit tests of the stream format library (src/format): the
 * stream header, record headers, every record body's structural checks and
 * the handover messages. Layouts are checked at the byte offsets
 * docs/stream-format.md gives; each rejection must name what was wrong.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/crc32c.h"
#include "common/ram_layout.h"
#include "le.h"
#include "format/record.h"
#include "vmm/memory.h"

static const char config[] = "name = 'vm'\nmemory = 128\nkernel = '/k'\n";
#define CONFIG_LEN ((uint32_t)(sizeof(config) - 1))

/* Expect a failed check (-EINVAL) whose reason contains what. */
#define EXPECT_WHY(call, what)                                          \
	do {                                                            \
		char why[256] = "";                                     \
		int rc_ = (call);                                       \
		assert_int_equal(rc_, -EINVAL);                         \
		if (!strstr(why, (what)))                               \
			fail_msg("why '%s' does not mention '%s'", why, \
				 (what));                               \
		assert_null(strchr(why, '\n'));                         \
	} while (0)

#define EXPECT_OK(call)                                                  \
	do {                                                             \
		char why[256] = "";                                      \
		int rc_ = (call);                                        \
		if (rc_)                                                 \
			fail_msg("unexpected failure %d: %s", rc_, why); \
	} while (0)

/* ---- Stream header ----------------------------------------------------- */

static const uint8_t sid[STREAM_ID_LEN] = "0123456789abcdef";

static void make_header(struct stream_header *h)
{
	stream_header_init(h, STREAM_F_LIVE, 128 * MIB, 2, "GenuineIntel",
			   0xdeadbeef, sid, config, CONFIG_LEN);
}

static void test_header_layout(void **state)
{
	struct stream_header h;
	uint8_t tmp[80];
	uint32_t crc;

	make_header(&h);
	assert_memory_equal(&h, "\x89GDW\r\n\x1a\n", 8);
	assert_int_equal(le(&h, 8, 4), 2);
	assert_int_equal(le(&h, 12, 4), 1);
	assert_int_equal(le(&h, 16, 4), 80);
	assert_int_equal(le(&h, 20, 4), CONFIG_LEN);
	assert_int_equal(le(&h, 24, 8), 128 * MIB);
	assert_int_equal(le(&h, 32, 4), 2);
	assert_int_equal(le(&h, 36, 4), 4096);
	assert_memory_equal((uint8_t *)&h + 40, "GenuineIntel", 12);
	assert_int_equal(le(&h, 52, 4), 0xdeadbeef);
	assert_int_equal(le(&h, 56, 4), 0);
	assert_memory_equal((uint8_t *)&h + 64, sid, 16);
	/* CRC32C of the 80 bytes with the CRC zero, then the config. */
	memcpy(tmp, &h, 80);
	put32(tmp, 60, 0);
	crc = crc32c(crc32c(0, tmp, 80), config, CONFIG_LEN);
	assert_int_equal(le(&h, 60, 4), crc);
}

/* A revision 1 header: the first 64 bytes, its CRC over those. */
static void test_header_revision_1(void **state)
{
	struct stream_header h;
	uint8_t tmp[64];

	make_header(&h);
	h.version = 1;
	h.header_size = 64;
	memset(h.stream_id, 0, sizeof(h.stream_id));
	stream_header_seal(&h, config);
	memcpy(tmp, &h, 64);
	put32(tmp, 60, 0);
	assert_int_equal(h.header_crc,
			 crc32c(crc32c(0, tmp, 64), config, CONFIG_LEN));
	EXPECT_OK(stream_header_check(&h, config, why, sizeof(why)));
	assert_int_equal(stream_header_size(1), 64);
	assert_int_equal(stream_header_size(2), 80);
	assert_int_equal(stream_header_size(3), 0);
	h.header_size = 80;
	EXPECT_WHY(stream_header_check_fixed(&h, why, sizeof(why)),
		   "header_size 80, expected 64 for version 1");
}

static void test_header_round_trip(void **state)
{
	struct stream_header h;
	char *big;

	make_header(&h);
	EXPECT_OK(stream_header_check(&h, config, why, sizeof(why)));
	EXPECT_OK(stream_header_check_fixed(&h, why, sizeof(why)));
	/* Limits at their edges are accepted. */
	stream_header_init(&h, 0, 2 * MIB, 255, "AuthenticAMD", 0, sid, config,
			   1);
	EXPECT_OK(stream_header_check(&h, config, why, sizeof(why)));
	big = malloc(STREAM_CONFIG_MAX);
	assert_non_null(big);
	memset(big, '#', STREAM_CONFIG_MAX);
	stream_header_init(&h, 0, 2 * MIB, 1, "AuthenticAMD", 0, sid, big,
			   STREAM_CONFIG_MAX);
	EXPECT_OK(stream_header_check(&h, big, why, sizeof(why)));
	free(big);
}

/* Change one field of a good header and expect the fixed check to say. */
static void header_field_fails(size_t off, size_t n, uint64_t v,
			       const char *what)
{
	struct stream_header h;

	make_header(&h);
	if (n == 4)
		put32(&h, off, v);
	else if (n == 8)
		put64(&h, off, v);
	else
		((uint8_t *)&h)[off] ^= (uint8_t)v;
	EXPECT_WHY(stream_header_check_fixed(&h, why, sizeof(why)), what);
	EXPECT_WHY(stream_header_check(&h, config, why, sizeof(why)), what);
}

static void test_header_rejections(void **state)
{
	size_t i;

	for (i = 0; i < 8; i++)
		header_field_fails(i, 1, 0x40, "bad magic");
	header_field_fails(8, 4, 0, "stream version 0 is not supported");
	header_field_fails(8, 4, 3, "stream version 3 is not supported");
	header_field_fails(8, 4, 3, "reads versions 1 to 2");
	header_field_fails(12, 4, 4, "unknown flags 0x4");
	header_field_fails(12, 4, 0x80000001, "unknown flags 0x80000000");
	header_field_fails(16, 4, 56, "header_size 56");
	header_field_fails(16, 4, 72, "header_size 72");
	header_field_fails(16, 4, 64, "header_size 64, expected 80");
	header_field_fails(20, 4, 0, "config_len 0 is out of range");
	header_field_fails(20, 4, STREAM_CONFIG_MAX + 1,
			   "config_len 131073 is out of range");
	header_field_fails(24, 8, 0, "mem_bytes 0 is not a valid RAM size");
	header_field_fails(24, 8, 1 * MIB, "mem_bytes 1048576");
	header_field_fails(24, 8, 128 * MIB + 4096, "mem_bytes 134221824");
	header_field_fails(24, 8, 3 * MIB, "mem_bytes 3145728");
	header_field_fails(32, 4, 0, "nr_vcpus 0 is out of range");
	header_field_fails(32, 4, 256, "nr_vcpus 256 is out of range");
	header_field_fails(36, 4, 8192, "page_size 8192");
	header_field_fails(36, 4, 0, "page_size 0");
	header_field_fails(56, 4, 1, "reserved field is not zero");
}

static void test_header_crc_and_config(void **state)
{
	struct stream_header h;
	char bad[sizeof(config)];
	size_t i;

	/* Every byte of the header and the config is covered by the CRC. */
	for (i = 40; i < sizeof(h); i++) {
		if (i >= 56 && i < 60)
			continue; /* reserved: refused before the CRC */
		make_header(&h);
		((uint8_t *)&h)[i] ^= 0x01;
		EXPECT_WHY(stream_header_check(&h, config, why, sizeof(why)),
			   "header CRC mismatch");
	}
	for (i = 0; i < CONFIG_LEN; i++) {
		make_header(&h);
		memcpy(bad, config, sizeof(config));
		bad[i] ^= 0x20;
		EXPECT_WHY(stream_header_check(&h, bad, why, sizeof(why)),
			   "header CRC mismatch");
	}
	/* A NUL inside the config text, with a correct CRC. */
	memcpy(bad, config, sizeof(config));
	bad[5] = 0;
	stream_header_init(&h, 0, 128 * MIB, 1, "GenuineIntel", 1, sid, bad,
			   CONFIG_LEN);
	EXPECT_WHY(stream_header_check(&h, bad, why, sizeof(why)),
		   "config text contains a NUL byte");
	/* Only config_len bytes count: the NUL after the text is fine. */
	stream_header_init(&h, 0, 128 * MIB, 1, "GenuineIntel", 1, sid, config,
			   CONFIG_LEN);
	EXPECT_OK(stream_header_check(&h, config, why, sizeof(why)));
}

/* ---- Guest RAM pfns ------------------------------------------------------ */

/* The page check the format uses agrees with the VMM's mem_plan(). */
static void check_pfn_layout(uint64_t mem_bytes)
{
	struct guest_mem mem = { .memfd = -1 };
	uint64_t edges[16], pfn;
	unsigned int n = 0, i, r;
	int d;

	mem_plan(mem_bytes, mem.regions, &mem.nr_regions);
	mem.size = mem_bytes;
	for (r = 0; r < mem.nr_regions; r++) {
		edges[n++] = mem.regions[r].gpa >> 12;
		edges[n++] = (mem.regions[r].gpa + mem.regions[r].size) >> 12;
	}
	edges[n++] = 0xc0000;
	edges[n++] = 0x100000;
	for (i = 0; i < n; i++) {
		for (d = -2; d <= 2; d++) {
			if (d < 0 && edges[i] < (uint64_t)-d)
				continue;
			pfn = edges[i] + d;
			assert_int_equal(ram_layout_pfn_is_ram(mem_bytes, pfn),
					 mem_pfn_to_index(&mem, pfn) >= 0);
		}
	}
}

static void test_pfn_is_ram(void **state)
{
	/* 64 MiB: [0, 0x4000). */
	assert_true(ram_layout_pfn_is_ram(64 * MIB, 0));
	assert_true(ram_layout_pfn_is_ram(64 * MIB, 0x3fff));
	assert_false(ram_layout_pfn_is_ram(64 * MIB, 0x4000));
	assert_false(ram_layout_pfn_is_ram(64 * MIB, 0x100000));
	/* 3 GiB: all below the hole. */
	assert_true(ram_layout_pfn_is_ram(3 * GIB, 0xbffff));
	assert_false(ram_layout_pfn_is_ram(3 * GIB, 0xc0000));
	assert_false(ram_layout_pfn_is_ram(3 * GIB, 0x100000));
	/* 3 GiB + 2 MiB: 512 pages at 4 GiB. */
	assert_true(ram_layout_pfn_is_ram(3 * GIB + 2 * MIB, 0xbffff));
	assert_false(ram_layout_pfn_is_ram(3 * GIB + 2 * MIB, 0xc0000));
	assert_false(ram_layout_pfn_is_ram(3 * GIB + 2 * MIB, 0xfffff));
	assert_true(ram_layout_pfn_is_ram(3 * GIB + 2 * MIB, 0x100000));
	assert_true(ram_layout_pfn_is_ram(3 * GIB + 2 * MIB, 0x1001ff));
	assert_false(ram_layout_pfn_is_ram(3 * GIB + 2 * MIB, 0x100200));
	/* 5 GiB: 2 GiB at 4 GiB. */
	assert_true(ram_layout_pfn_is_ram(5 * GIB, 0x17ffff));
	assert_false(ram_layout_pfn_is_ram(5 * GIB, 0x180000));
	assert_false(ram_layout_pfn_is_ram(5 * GIB, 0xdffff));
	/* Pfns whose address overflows. */
	assert_false(ram_layout_pfn_is_ram(5 * GIB, PFN_MASK));
	assert_false(ram_layout_pfn_is_ram(5 * GIB, UINT64_MAX >> 12));
	assert_false(ram_layout_pfn_is_ram(5 * GIB, (UINT64_MAX >> 12) + 1));
	assert_false(ram_layout_pfn_is_ram(5 * GIB, UINT64_MAX));

	check_pfn_layout(64 * MIB);
	check_pfn_layout(3 * GIB - 2 * MIB);
	check_pfn_layout(3 * GIB);
	check_pfn_layout(3 * GIB + 2 * MIB);
	check_pfn_layout(5 * GIB);
	check_pfn_layout(64 * GIB);
}

/* ---- Record headers ---------------------------------------------------- */

static void test_rec_hdr_check(void **state)
{
	static const uint32_t known[] = {
		REC_END,	   REC_PAGE_DATA,      REC_VCPU_REGS,
		REC_VCPU_SREGS,	   REC_VCPU_XSAVE,     REC_VCPU_XCRS,
		REC_VCPU_MSRS,	   REC_VCPU_LAPIC,     REC_VCPU_EVENTS,
		REC_VCPU_MP_STATE, REC_VCPU_DEBUGREGS, REC_IRQCHIP,
		REC_PIT,	   REC_CLOCK,	       REC_DEVICE,
		REC_ROUND,	   REC_SAVE_INFO,      REC_OPTIONAL | 0x11,
		0xffffffffu,
	};
	struct rec_hdr h;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(known); i++) {
		rec_hdr_init(&h, known[i], 8, 0x1234, 7);
		EXPECT_OK(rec_hdr_check(&h, 2, 7, why, sizeof(why)));
		h.seq = 0;
		EXPECT_OK(rec_hdr_check(&h, 1, 0, why, sizeof(why)));
	}
	rec_hdr_init(&h, REC_PAGE_DATA, REC_MAX_LENGTH, 0, 0);
	EXPECT_OK(rec_hdr_check(&h, 2, 0, why, sizeof(why)));
	rec_hdr_init(&h, REC_PAGE_DATA, REC_MAX_LENGTH + 1, 0, 0);
	EXPECT_WHY(rec_hdr_check(&h, 2, 0, why, sizeof(why)),
		   "length 16777217 exceeds the maximum 16777216");
	rec_hdr_init(&h, REC_OPTIONAL | 0x20, UINT32_MAX, 0, 0);
	EXPECT_WHY(rec_hdr_check(&h, 2, 0, why, sizeof(why)),
		   "exceeds the maximum");
	/* Revision 1: the word at 12 is reserved. */
	rec_hdr_init(&h, REC_CLOCK, 24, 0, 4);
	EXPECT_WHY(rec_hdr_check(&h, 1, 0, why, sizeof(why)),
		   "reserved header field is 0x4");
	/* Revision 2: it is the sequence number, off by one either way. */
	EXPECT_OK(rec_hdr_check(&h, 2, 4, why, sizeof(why)));
	EXPECT_WHY(rec_hdr_check(&h, 2, 5, why, sizeof(why)),
		   "sequence number 4, expected 5");
	EXPECT_WHY(rec_hdr_check(&h, 2, 3, why, sizeof(why)),
		   "sequence number 4, expected 3");
	/* Mandatory types nobody defined, including ROUND's number. */
	rec_hdr_init(&h, 0x11, 0, 0, 0);
	EXPECT_WHY(rec_hdr_check(&h, 2, 0, why, sizeof(why)),
		   "unknown mandatory record type 0x11");
	rec_hdr_init(&h, 0x0f, 0, 0, 0);
	EXPECT_WHY(rec_hdr_check(&h, 2, 0, why, sizeof(why)),
		   "unknown mandatory record type 0xf");
	rec_hdr_init(&h, 0x7fffffff, 0, 0, 0);
	EXPECT_WHY(rec_hdr_check(&h, 2, 0, why, sizeof(why)),
		   "unknown mandatory record type 0x7fffffff");
}

static void test_rec_hdr_layout(void **state)
{
	struct rec_hdr h;
	uint8_t tls[12] = { 0x0d, 0, 0, 0, 24, 0, 0, 0, 9, 0, 0, 0 };

	rec_hdr_init(&h, REC_CLOCK, 24, 0xcafef00d, 9);
	assert_int_equal(le(&h, 0, 4), 0x0d);
	assert_int_equal(le(&h, 4, 4), 24);
	assert_int_equal(le(&h, 8, 4), 0xcafef00d);
	assert_int_equal(le(&h, 12, 4), 9);
	/* Revision 2: continued from the chain over type, length and seq. */
	assert_int_equal(rec_crc_begin(2, 0x12345678, &h),
			 crc32c(0x12345678, tls, 12));
	/* Revision 1: from zero over type and length only. */
	assert_int_equal(rec_crc_begin(1, 0x12345678, &h), crc32c(0, tls, 8));
	assert_int_equal(rec_padded(0), 0);
	assert_int_equal(rec_padded(1), 8);
	assert_int_equal(rec_padded(8), 8);
	assert_int_equal(rec_padded(9), 16);
	assert_int_equal(rec_padded(152), 152);
	assert_int_equal(rec_padded(REC_MAX_LENGTH - 1), REC_MAX_LENGTH);
}

static void test_rec_type_names(void **state)
{
	assert_string_equal(rec_type_name(REC_END), "END");
	assert_string_equal(rec_type_name(REC_PAGE_DATA), "PAGE_DATA");
	assert_string_equal(rec_type_name(REC_VCPU_XSAVE), "VCPU_XSAVE");
	assert_string_equal(rec_type_name(REC_VCPU_DEBUGREGS),
			    "VCPU_DEBUGREGS");
	assert_string_equal(rec_type_name(REC_DEVICE), "DEVICE");
	assert_string_equal(rec_type_name(REC_ROUND), "ROUND");
	assert_string_equal(rec_type_name(REC_SAVE_INFO), "SAVE_INFO");
	assert_string_equal(rec_type_name(0x0f), "unknown");
	assert_string_equal(rec_type_name(0x80000020), "unknown optional");
}

/* ---- PAGE_DATA --------------------------------------------------------- */

static const struct rec_limits lim64 = { .nr_vcpus = 2, .mem_bytes = 64 * MIB };

struct batch {
	uint32_t count, reserved;
	uint64_t e[PAGE_BATCH_MAX + 1];
};

#define NORMAL(pfn) ((uint64_t)(pfn))
#define ZERO(pfn) ((uint64_t)(pfn) | (PFN_TYPE_ZERO << PFN_TYPE_SHIFT))

static uint32_t batch_len(uint32_t count, uint32_t normal)
{
	return 8 + 8 * count + 4096 * normal;
}

static int page_check(const struct batch *b, uint32_t len,
		      const struct rec_limits *lim, uint32_t *pages, char *why,
		      size_t whylen)
{
	return rec_page_data_check(b, 8 + 8ULL * MIN(b->count, PAGE_BATCH_MAX),
				   len, lim, pages, why, whylen);
}

static void test_page_data_valid(void **state)
{
	struct batch b = { .count = 3,
			   .e = { NORMAL(0), ZERO(0x1234), NORMAL(0x3fff) } };
	const struct rec_limits lim5g = { 1, 5 * GIB, 2 };
	uint32_t pages = 99, i;

	EXPECT_OK(page_check(&b, batch_len(3, 2), &lim64, &pages, why,
			     sizeof(why)));
	assert_int_equal(pages, 2);
	/* All ZERO: the body is just the list. */
	b = (struct batch){ .count = 2, .e = { ZERO(1), ZERO(2) } };
	EXPECT_OK(page_check(&b, batch_len(2, 0), &lim64, &pages, why,
			     sizeof(why)));
	assert_int_equal(pages, 0);
	/* A full batch; pfns above 4 GiB in a large guest. */
	b.count = PAGE_BATCH_MAX;
	for (i = 0; i < PAGE_BATCH_MAX; i++)
		b.e[i] = NORMAL(0x100000 + i);
	EXPECT_OK(page_check(&b, batch_len(PAGE_BATCH_MAX, PAGE_BATCH_MAX),
			     &lim5g, &pages, why, sizeof(why)));
	assert_int_equal(pages, PAGE_BATCH_MAX);
}

static void test_page_data_rejections(void **state)
{
	struct batch b = { .count = 3, .e = { NORMAL(0), ZERO(5), NORMAL(7) } };
	const struct rec_limits lim5g = { 1, 5 * GIB, 2 };
	uint32_t pages, len = batch_len(3, 2);

	b.count = 0;
	EXPECT_WHY(page_check(&b, 8, &lim64, &pages, why, sizeof(why)),
		   "count 0 is out of range (1..1024)");
	b.count = PAGE_BATCH_MAX + 1;
	EXPECT_WHY(page_check(&b, batch_len(1025, 0), &lim64, &pages, why,
			      sizeof(why)),
		   "count 1025 is out of range");
	b.count = 3;
	b.reserved = 1;
	EXPECT_WHY(page_check(&b, len, &lim64, &pages, why, sizeof(why)),
		   "reserved field is not zero");
	b.reserved = 0;
	/* Too short to hold even the count. */
	EXPECT_WHY(rec_page_data_check(&b, 8, 4, &lim64, &pages, why,
				       sizeof(why)),
		   "body of 4 bytes is too short");
	EXPECT_WHY(rec_page_data_check(&b, 4, len, &lim64, &pages, why,
				       sizeof(why)),
		   "too short");
	/* The caller read less of the list than count says. */
	EXPECT_WHY(rec_page_data_check(&b, 8 + 16, len, &lim64, &pages, why,
				       sizeof(why)),
		   "pfn list of 3 entries is truncated");
	/* Reserved bits 52..55 of an entry. */
	b.e[1] = ZERO(5) | (1ULL << 52);
	EXPECT_WHY(page_check(&b, len, &lim64, &pages, why, sizeof(why)),
		   "entry 1: reserved bits set");
	b.e[1] = ZERO(5) | (1ULL << 55);
	EXPECT_WHY(page_check(&b, len, &lim64, &pages, why, sizeof(why)),
		   "entry 1: reserved bits set");
	b.e[1] = ZERO(5);
	/* Unknown page types. */
	b.e[2] = 7 | (2ULL << PFN_TYPE_SHIFT);
	EXPECT_WHY(page_check(&b, len, &lim64, &pages, why, sizeof(why)),
		   "entry 2: unknown page type 2");
	b.e[2] = 7 | (0xffULL << PFN_TYPE_SHIFT);
	EXPECT_WHY(page_check(&b, len, &lim64, &pages, why, sizeof(why)),
		   "entry 2: unknown page type 255");
	/* Pfns beyond RAM, in the hole, and at the top of the pfn range. */
	b.e[2] = NORMAL(0x4000);
	EXPECT_WHY(page_check(&b, len, &lim64, &pages, why, sizeof(why)),
		   "entry 2: pfn 0x4000 is beyond guest memory (64 MiB)");
	b.e[2] = NORMAL(0xc0000);
	EXPECT_WHY(page_check(&b, len, &lim5g, &pages, why, sizeof(why)),
		   "entry 2: pfn 0xc0000 is beyond guest memory (5120 MiB)");
	b.e[0] = ZERO(PFN_MASK);
	EXPECT_WHY(page_check(&b, len, &lim5g, &pages, why, sizeof(why)),
		   "entry 0: pfn 0xfffffffffffff is beyond");
	b.e[0] = NORMAL(0);
	b.e[2] = NORMAL(7);
	/* Length must match the NORMAL/ZERO mix exactly. */
	EXPECT_OK(page_check(&b, len, &lim64, &pages, why, sizeof(why)));
	EXPECT_WHY(page_check(&b, len + 4096, &lim64, &pages, why, sizeof(why)),
		   "does not match 3 entries with 2 data pages");
	EXPECT_WHY(page_check(&b, len - 4096, &lim64, &pages, why, sizeof(why)),
		   "does not match 3 entries with 2 data pages");
	EXPECT_WHY(page_check(&b, len + 1, &lim64, &pages, why, sizeof(why)),
		   "length 8225 does not match");
	EXPECT_WHY(page_check(&b, len - 8, &lim64, &pages, why, sizeof(why)),
		   "does not match");
	/* One ZERO entry turned NORMAL needs one more page of data. */
	b.e[1] = NORMAL(5);
	EXPECT_WHY(page_check(&b, len, &lim64, &pages, why, sizeof(why)),
		   "3 entries with 3 data pages");
	EXPECT_OK(page_check(&b, len + 4096, &lim64, &pages, why, sizeof(why)));
	assert_int_equal(pages, 3);
}

/* ---- Record bodies ----------------------------------------------------- */

static uint8_t body[8 + XSAVE_MAX + 64];

static int body_check(uint32_t type, uint32_t len, char *why, size_t whylen)
{
	return rec_body_check(type, body, len, &lim64, why, whylen);
}

static void vcpu_hdr(uint32_t vcpu, uint32_t arg)
{
	memset(body, 0, sizeof(body));
	put32(body, 0, vcpu);
	put32(body, 4, arg);
}

/* A type whose body is size bytes long refuses a body of len bytes. */
static void expect_wrong_length(uint32_t type, uint32_t len, uint32_t size)
{
	char want[64];

	snprintf(want, sizeof(want), "length %u, expected %u", len, size);
	EXPECT_WHY(body_check(type, len, why, sizeof(why)), want);
}

static void test_body_end(void **state)
{
	const struct rec_limits v1 = { .nr_vcpus = 1,
				       .mem_bytes = 64 * MIB,
				       .version = 1 };
	struct rec_end e = { .records = 5, .bytes = 1000, .digest = 0xabc };

	/* Revision 2 (the default): 24 bytes, reserved zero. */
	memset(body, 0, sizeof(body));
	EXPECT_OK(body_check(REC_END, 24, why, sizeof(why)));
	expect_wrong_length(REC_END, 0, 24);
	expect_wrong_length(REC_END, 32, 24);
	put32(body, 20, 1);
	EXPECT_WHY(body_check(REC_END, 24, why, sizeof(why)),
		   "reserved field is not zero");
	/* Revision 1: empty. */
	EXPECT_OK(rec_body_check(REC_END, body, 0, &v1, why, sizeof(why)));
	EXPECT_WHY(rec_body_check(REC_END, body, 8, &v1, why, sizeof(why)),
		   "END has a body of 8 bytes");
	/* What END says against what the reader saw. */
	EXPECT_OK(rec_end_check(&e, 5, 1000, 0xabc, why, sizeof(why)));
	EXPECT_WHY(rec_end_check(&e, 6, 1000, 0xabc, why, sizeof(why)),
		   "END counts 5 records, the stream had 6");
	EXPECT_WHY(rec_end_check(&e, 5, 1008, 0xabc, why, sizeof(why)),
		   "END counts 1000 bytes, the stream had 1008");
	EXPECT_WHY(rec_end_check(&e, 5, 1000, 0xabd, why, sizeof(why)),
		   "END is from another stream");
}

static void test_body_fixed_vcpu_records(void **state)
{
	static const struct {
		uint32_t type, size;
	} t[] = {
		{ REC_VCPU_REGS, 152 },	     { REC_VCPU_SREGS, 320 },
		{ REC_VCPU_XCRS, 400 },	     { REC_VCPU_LAPIC, 1032 },
		{ REC_VCPU_EVENTS, 72 },     { REC_VCPU_MP_STATE, 8 },
		{ REC_VCPU_DEBUGREGS, 136 },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(t); i++) {
		vcpu_hdr(1, 0);
		EXPECT_OK(body_check(t[i].type, t[i].size, why, sizeof(why)));
		expect_wrong_length(t[i].type, t[i].size + 8, t[i].size);
		if (t[i].size > 8)
			expect_wrong_length(t[i].type, t[i].size - 8,
					    t[i].size);
		EXPECT_WHY(body_check(t[i].type, 4, why, sizeof(why)),
			   "body of 4 bytes is too short");
		vcpu_hdr(2, 0);
		EXPECT_WHY(body_check(t[i].type, t[i].size, why, sizeof(why)),
			   "vcpu 2 does not exist (the VM has 2)");
		vcpu_hdr(UINT32_MAX, 0);
		EXPECT_WHY(body_check(t[i].type, t[i].size, why, sizeof(why)),
			   "does not exist");
		if (t[i].type != REC_VCPU_MP_STATE) {
			vcpu_hdr(0, 1);
			EXPECT_WHY(body_check(t[i].type, t[i].size, why,
					      sizeof(why)),
				   "reserved field is not zero");
		}
	}
	/* MP_STATE carries the state in the header's second word. */
	vcpu_hdr(0, MP_STATE_MAX_KNOWN);
	EXPECT_OK(body_check(REC_VCPU_MP_STATE, 8, why, sizeof(why)));
	vcpu_hdr(0, MP_STATE_MAX_KNOWN + 1);
	EXPECT_WHY(body_check(REC_VCPU_MP_STATE, 8, why, sizeof(why)),
		   "mp_state 10 is unknown");
}

static void test_body_xsave(void **state)
{
	static const uint32_t ok[] = { 4096, 4160, 8192, 65536 - 64, 65536 };
	static const uint32_t bad[] = { 0,    64,    4032,  4100,
					4097, 65537, 65600, UINT32_MAX };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ok); i++) {
		vcpu_hdr(1, ok[i]);
		EXPECT_OK(body_check(REC_VCPU_XSAVE, 8 + ok[i], why,
				     sizeof(why)));
		EXPECT_WHY(body_check(REC_VCPU_XSAVE, 8 + ok[i] - 64, why,
				      sizeof(why)),
			   "does not match XSAVE size");
		EXPECT_WHY(body_check(REC_VCPU_XSAVE, 8 + ok[i] + 8, why,
				      sizeof(why)),
			   "does not match XSAVE size");
	}
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		char want[64];

		vcpu_hdr(0, bad[i]);
		snprintf(want, sizeof(want), "XSAVE size %u is invalid",
			 bad[i]);
		EXPECT_WHY(body_check(REC_VCPU_XSAVE,
				      bad[i] <= XSAVE_MAX ? 8 + bad[i] : 8, why,
				      sizeof(why)),
			   want);
	}
	vcpu_hdr(2, 4096);
	EXPECT_WHY(body_check(REC_VCPU_XSAVE, 8 + 4096, why, sizeof(why)),
		   "vcpu 2 does not exist");
	EXPECT_WHY(body_check(REC_VCPU_XSAVE, 7, why, sizeof(why)),
		   "too short");
}

static void test_body_msrs(void **state)
{
	vcpu_hdr(0, 1);
	EXPECT_OK(body_check(REC_VCPU_MSRS, 8 + 16, why, sizeof(why)));
	vcpu_hdr(1, MSR_MAX);
	EXPECT_OK(
		body_check(REC_VCPU_MSRS, 8 + 16 * MSR_MAX, why, sizeof(why)));
	vcpu_hdr(0, 0);
	EXPECT_WHY(body_check(REC_VCPU_MSRS, 8, why, sizeof(why)),
		   "MSR count 0 is out of range (1..1024)");
	vcpu_hdr(0, MSR_MAX + 1);
	EXPECT_WHY(body_check(REC_VCPU_MSRS, 8 + 16 * (MSR_MAX + 1), why,
			      sizeof(why)),
		   "MSR count 1025 is out of range");
	vcpu_hdr(0, 4);
	EXPECT_WHY(body_check(REC_VCPU_MSRS, 8 + 16 * 3, why, sizeof(why)),
		   "length 56 does not match 4 MSRs");
	EXPECT_WHY(body_check(REC_VCPU_MSRS, 8 + 16 * 4 + 8, why, sizeof(why)),
		   "does not match 4 MSRs");
	/* The reserved word of entry 3 (offset 8 + 3 * 16 + 4). */
	put32(body, 8 + 3 * 16 + 4, 1);
	EXPECT_WHY(body_check(REC_VCPU_MSRS, 8 + 16 * 4, why, sizeof(why)),
		   "MSR entry 3: reserved field is not zero");
	/* Indices and values may be anything. */
	vcpu_hdr(0, 1);
	put32(body, 8, 0xffffffff);
	put64(body, 16, UINT64_MAX);
	EXPECT_OK(body_check(REC_VCPU_MSRS, 8 + 16, why, sizeof(why)));
	vcpu_hdr(2, 1);
	EXPECT_WHY(body_check(REC_VCPU_MSRS, 8 + 16, why, sizeof(why)),
		   "vcpu 2 does not exist");
}

static void test_body_irqchip(void **state)
{
	uint32_t chip;

	for (chip = 0; chip < 3; chip++) {
		memset(body, 0xee, sizeof(body));
		put32(body, 0, chip);
		put32(body, 4, 0);
		EXPECT_OK(body_check(REC_IRQCHIP, 520, why, sizeof(why)));
	}
	put32(body, 0, 3);
	EXPECT_WHY(body_check(REC_IRQCHIP, 520, why, sizeof(why)),
		   "chip 3 is unknown (0..2)");
	put32(body, 0, 0);
	put32(body, 4, 1);
	EXPECT_WHY(body_check(REC_IRQCHIP, 520, why, sizeof(why)),
		   "reserved field is not zero");
	put32(body, 4, 0);
	expect_wrong_length(REC_IRQCHIP, 512, 520);
	expect_wrong_length(REC_IRQCHIP, 528, 520);
}

static void test_body_pit_clock(void **state)
{
	memset(body, 0xff, sizeof(body));
	EXPECT_OK(body_check(REC_PIT, 112, why, sizeof(why)));
	expect_wrong_length(REC_PIT, 104, 112);
	expect_wrong_length(REC_PIT, 120, 112);

	memset(body, 0xff, 20); /* guest_tsc, kvmclock_ns, tsc_khz */
	put32(body, 20, 0);
	EXPECT_OK(body_check(REC_CLOCK, 24, why, sizeof(why)));
	put32(body, 20, 0x100);
	EXPECT_WHY(body_check(REC_CLOCK, 24, why, sizeof(why)),
		   "reserved field is not zero");
	put32(body, 20, 0);
	expect_wrong_length(REC_CLOCK, 16, 24);
	expect_wrong_length(REC_CLOCK, 32, 24);
}

static void device_body(const char *id, uint32_t version, uint32_t length)
{
	memset(body, 0, sizeof(body));
	memcpy(body, id, strnlen(id, 16));
	put32(body, 16, version);
	put32(body, 20, length);
}

static void test_body_device(void **state)
{
	device_body("serial0", 1, 80);
	EXPECT_OK(body_check(REC_DEVICE, 24 + 80, why, sizeof(why)));
	/* Structure only: the registry checks the id and version later. */
	device_body("no-such-device", 77, 0);
	EXPECT_OK(body_check(REC_DEVICE, 24, why, sizeof(why)));
	device_body("0123456789abcde", 1, DEVICE_STATE_MAX);
	EXPECT_OK(body_check(REC_DEVICE, 24 + DEVICE_STATE_MAX, why,
			     sizeof(why)));

	device_body("", 1, 80);
	EXPECT_WHY(body_check(REC_DEVICE, 24 + 80, why, sizeof(why)),
		   "device id is empty or not NUL-terminated");
	device_body("0123456789abcdef", 1, 80); /* 16 bytes, no NUL */
	EXPECT_WHY(body_check(REC_DEVICE, 24 + 80, why, sizeof(why)),
		   "device id is empty or not NUL-terminated");
	device_body("serial0", 1, 80);
	EXPECT_WHY(body_check(REC_DEVICE, 24 + 72, why, sizeof(why)),
		   "state length 80 does not match the body (96 bytes)");
	EXPECT_WHY(body_check(REC_DEVICE, 24 + 88, why, sizeof(why)),
		   "state length 80 does not match");
	device_body("serial0", 1, DEVICE_STATE_MAX + 8);
	EXPECT_WHY(body_check(REC_DEVICE, 24 + DEVICE_STATE_MAX + 8, why,
			      sizeof(why)),
		   "state length 65544 does not match");
	/* A length that wraps 24 + length in 32 bits. */
	device_body("serial0", 1, UINT32_MAX - 23);
	EXPECT_WHY(body_check(REC_DEVICE, 0, why, sizeof(why)), "too short");
	EXPECT_WHY(body_check(REC_DEVICE, 24, why, sizeof(why)),
		   "does not match");
	EXPECT_WHY(body_check(REC_DEVICE, 23, why, sizeof(why)),
		   "body of 23 bytes is too short");
}

static void test_body_optional_records(void **state)
{
	memset(body, 0, sizeof(body));
	put32(body, 0, 7);
	put64(body, 8, 1000);
	EXPECT_OK(body_check(REC_ROUND, 32, why, sizeof(why)));
	put32(body, 4, 1);
	EXPECT_WHY(body_check(REC_ROUND, 32, why, sizeof(why)),
		   "reserved field is not zero");
	put32(body, 4, 0);
	expect_wrong_length(REC_ROUND, 24, 32);

	memset(body, 0, sizeof(body));
	memcpy(body + 8, "godwit 0.1.0", 12);
	EXPECT_OK(body_check(REC_SAVE_INFO, 64, why, sizeof(why)));
	expect_wrong_length(REC_SAVE_INFO, 56, 64);

	/* Optional records nobody knows are skipped, whatever they hold. */
	memset(body, 0xff, 64);
	EXPECT_OK(body_check(REC_OPTIONAL | 0x55, 64, why, sizeof(why)));
	EXPECT_WHY(body_check(REC_PAGE_DATA, 64, why, sizeof(why)),
		   "rec_page_data_check");
}

/* ---- Handover ---------------------------------------------------------- */

static void test_handover_layout(void **state)
{
	struct handover_msg m, tmp;

	handover_msg_init(&m, HANDOVER_YOURS, 0x1122334455667788ULL,
			  0x99aabbccddeeff00ULL, 0, NULL);
	assert_int_equal(le(&m, 0, 4), 0x48574447);
	assert_memory_equal(&m, "GDWH", 4);
	assert_int_equal(le(&m, 4, 4), 2);
	assert_int_equal(le(&m, 8, 8), 0x1122334455667788ULL);
	assert_int_equal(le(&m, 16, 4), 0);
	assert_int_equal(le(&m, 20, 4), 0);
	assert_int_equal(le(&m, 24, 8), 0x99aabbccddeeff00ULL);
	assert_int_equal(((uint8_t *)&m)[32], 0);
	assert_int_equal(le(&m, 128, 4), 0);
	tmp = m;
	put32(&tmp, 132, 0);
	assert_int_equal(le(&m, 132, 4), crc32c(0, &tmp, sizeof(tmp)));
	EXPECT_OK(handover_msg_check(&m, why, sizeof(why)));
}

static void test_handover_round_trip(void **state)
{
	char long_text[200];
	struct handover_msg m;
	uint32_t t;

	for (t = HANDOVER_RECEIVED; t <= HANDOVER_FAILED; t++) {
		handover_msg_init(&m, t, 1, 0, 0, NULL);
		EXPECT_OK(handover_msg_check(&m, why, sizeof(why)));
		assert_int_equal(m.type, t);
	}
	handover_msg_init(&m, HANDOVER_FAILED, 5, 0, -ENOSPC,
			  "cannot allocate guest RAM");
	EXPECT_OK(handover_msg_check(&m, why, sizeof(why)));
	assert_int_equal((int32_t)le(&m, 16, 4), -ENOSPC);
	assert_string_equal(m.text, "cannot allocate guest RAM");
	/* A long reason is cut to 95 bytes and stays terminated. */
	memset(long_text, 'x', sizeof(long_text) - 1);
	long_text[sizeof(long_text) - 1] = 0;
	handover_msg_init(&m, HANDOVER_FAILED, 5, 0, -EIO, long_text);
	EXPECT_OK(handover_msg_check(&m, why, sizeof(why)));
	assert_int_equal(strlen(m.text), 95);
}

static void refresh_crc(struct handover_msg *m)
{
	m->crc = 0;
	m->crc = crc32c(0, m, sizeof(*m));
}

static void test_handover_rejections(void **state)
{
	struct handover_msg m;
	size_t i;

	/* Every byte is covered by the CRC (the magic is checked first). */
	for (i = 4; i < sizeof(m); i++) {
		handover_msg_init(&m, HANDOVER_CONFIRMED, 42, 0, 0, NULL);
		((uint8_t *)&m)[i] ^= 0x10;
		EXPECT_WHY(handover_msg_check(&m, why, sizeof(why)),
			   "handover message CRC mismatch");
	}
	handover_msg_init(&m, HANDOVER_CONFIRMED, 42, 0, 0, NULL);
	m.magic = 0x48574448;
	EXPECT_WHY(handover_msg_check(&m, why, sizeof(why)),
		   "handover message has bad magic 0x48574448");
	refresh_crc(&m);
	EXPECT_WHY(handover_msg_check(&m, why, sizeof(why)), "bad magic");

	handover_msg_init(&m, 0, 42, 0, 0, NULL);
	EXPECT_WHY(handover_msg_check(&m, why, sizeof(why)),
		   "handover message type 0 is unknown");
	handover_msg_init(&m, 8, 42, 0, 0, NULL);
	EXPECT_WHY(handover_msg_check(&m, why, sizeof(why)),
		   "handover message type 8 is unknown");
	/* RECEIVED, QUERY and OUTCOME carry the arrival id. */
	handover_msg_init(&m, HANDOVER_RECEIVED, 42, 0x1234, 0, NULL);
	EXPECT_OK(handover_msg_check(&m, why, sizeof(why)));
	handover_msg_init(&m, HANDOVER_QUERY, 42, 0x1234, 0, NULL);
	EXPECT_OK(handover_msg_check(&m, why, sizeof(why)));
	handover_msg_outcome_init(&m, 42, 0x1234, HANDOVER_OUTCOME_DISCARDED);
	EXPECT_OK(handover_msg_check(&m, why, sizeof(why)));
	handover_msg_outcome_init(&m, 42, 0x1234, 0);
	EXPECT_WHY(handover_msg_check(&m, why, sizeof(why)),
		   "handover message 7 has a bad outcome 0");
	handover_msg_outcome_init(&m, 42, 0x1234, HANDOVER_OUTCOME_UNKNOWN + 1);
	EXPECT_WHY(handover_msg_check(&m, why, sizeof(why)), "bad outcome 5");
	handover_msg_init(&m, HANDOVER_QUERY, 42, 0x1234, 0, NULL);
	m.arg = HANDOVER_OUTCOME_RUNNING;
	refresh_crc(&m);
	EXPECT_WHY(handover_msg_check(&m, why, sizeof(why)),
		   "handover message 6 has a bad outcome 1");
	/* ROUND_ACK carries its round in value; others may not. */
	handover_msg_init(&m, HANDOVER_ROUND_ACK, 42, 7, 0, NULL);
	EXPECT_OK(handover_msg_check(&m, why, sizeof(why)));
	handover_msg_init(&m, HANDOVER_CONFIRMED, 42, 7, 0, NULL);
	EXPECT_WHY(handover_msg_check(&m, why, sizeof(why)),
		   "handover message 3 carries a value");

	handover_msg_init(&m, HANDOVER_RECEIVED, 42, 0, 0, NULL);
	m.reserved2 = 0x80000000;
	refresh_crc(&m);
	EXPECT_WHY(handover_msg_check(&m, why, sizeof(why)),
		   "reserved field is not zero");

	handover_msg_init(&m, HANDOVER_FAILED, 42, 0, -EIO, NULL);
	memset(m.text, 'y', sizeof(m.text));
	refresh_crc(&m);
	EXPECT_WHY(handover_msg_check(&m, why, sizeof(why)),
		   "text is not NUL-terminated");
}

int format_test_postcopy(void);

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_layout),
		cmocka_unit_test(test_header_revision_1),
		cmocka_unit_test(test_header_round_trip),
		cmocka_unit_test(test_header_rejections),
		cmocka_unit_test(test_header_crc_and_config),
		cmocka_unit_test(test_pfn_is_ram),
		cmocka_unit_test(test_rec_hdr_check),
		cmocka_unit_test(test_rec_hdr_layout),
		cmocka_unit_test(test_rec_type_names),
		cmocka_unit_test(test_page_data_valid),
		cmocka_unit_test(test_page_data_rejections),
		cmocka_unit_test(test_body_end),
		cmocka_unit_test(test_body_fixed_vcpu_records),
		cmocka_unit_test(test_body_xsave),
		cmocka_unit_test(test_body_msrs),
		cmocka_unit_test(test_body_irqchip),
		cmocka_unit_test(test_body_pit_clock),
		cmocka_unit_test(test_body_device),
		cmocka_unit_test(test_body_optional_records),
		cmocka_unit_test(test_handover_layout),
		cmocka_unit_test(test_handover_round_trip),
		cmocka_unit_test(test_handover_rejections),
	};

	return cmocka_run_group_tests(tests, NULL, NULL) |
	       format_test_postcopy();
}
