/*
 * Unit tests of page batches (pages.c) between two guest memories made
 * with mem_init(), no KVM: a save sends exactly the non-zero pages
 * (never-touched holes and zero pages stay home), a live round with
 * zero_entries sends zero pages as ZERO entries that clear stale copies,
 * the receiving memory ends up equal to the source byte for byte, and a
 * hostile batch is refused before any page lands.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "le.h"
#include "migration/pages.h"
#include "migration/recio.h"
#include "vmm/memory.h"

#define PG 4096u

static uint8_t *page(struct guest_mem *mem, uint64_t idx)
{
	return mem->host + idx * PG;
}

/* Page idx gets bytes no other page has (and is never all zero). */
static void fill_page(struct guest_mem *mem, uint64_t idx)
{
	uint8_t *p = page(mem, idx);
	unsigned int i;

	for (i = 0; i < PG; i++)
		p[i] = (uint8_t)(idx * 7 + i / 16 + 1);
	memcpy(p + 100, &idx, sizeof(idx));
}

/* Allocate a page in the memfd but leave it all zero. */
static void touch_zero(struct guest_mem *mem, uint64_t idx)
{
	fill_page(mem, idx);
	memset(page(mem, idx), 0, PG);
}

struct entry {
	uint64_t pfn;
	unsigned int type;
};

/* Parse a stream of PAGE_DATA records (no END) into its entries. */
static size_t parse_entries(const uint8_t *buf, size_t len, struct entry *out,
			    size_t max, unsigned int *records)
{
	size_t off = 0, n = 0;

	*records = 0;
	while (off < len) {
		uint32_t blen = le(buf, off + 4, 4),
			 count = le(buf, off + 16, 4);
		uint32_t i;

		assert_int_equal(le(buf, off, 4), REC_PAGE_DATA);
		for (i = 0; i < count; i++) {
			uint64_t e = le(buf, off + 24 + 8ULL * i, 8);

			assert_true(n < max);
			out[n].pfn = e & PFN_MASK;
			out[n++].type = e >> PFN_TYPE_SHIFT;
		}
		off += 16 + rec_padded(blen);
		(*records)++;
	}
	assert_int_equal(off, len);
	return n;
}

/* Apply every PAGE_DATA record of buf to mem through pages_recv(). */
static void receive_all(struct guest_mem *mem, const uint8_t *buf, size_t len,
			uint64_t *pages)
{
	struct rec_limits lim = { .nr_vcpus = 1, .mem_bytes = mem->size };
	struct rec_error err;
	struct page_rx prx;
	struct rec_hdr h;
	struct stream s;
	uint64_t n;

	*pages = 0;
	assert_int_equal(page_rx_init(&prx), 0);
	stream_open_mem_read(&s, buf, len);
	while (s.offset < len) {
		assert_int_equal(rec_read_hdr(&s, &h, &err), 0);
		assert_int_equal(h.type, REC_PAGE_DATA);
		if (pages_recv(&prx, &s, mem, &h, &lim, NULL, &err, &n))
			fail_msg("pages_recv at %llu: %s",
				 (unsigned long long)err.offset, err.why);
		*pages += n;
	}
	assert_int_equal(s.error, 0);
	stream_close(&s);
	page_rx_destroy(&prx);
}

static uint8_t *send(struct guest_mem *mem, const struct bitmap *which,
		     bool zero_entries, struct page_stats *st, size_t *len)
{
	struct stream s;
	uint8_t *buf;

	memset(st, 0, sizeof(*st));
	stream_open_mem_write(&s);
	assert_int_equal(pages_send(&s, mem, which, zero_entries, st), 0);
	buf = stream_mem_take(&s, len);
	stream_close(&s);
	return buf;
}

static void test_page_is_zero(void **state)
{
	static uint64_t p[512];
	unsigned int i;

	assert_true(page_is_zero(p));
	for (i = 0; i < 512; i++) {
		p[i] = 1ULL << (i % 64);
		assert_false(page_is_zero(p));
		p[i] = 0;
	}
	assert_true(page_is_zero(p));
}

/* A save: only non-zero pages travel, and the copy is exact. */
static void test_save_round_trip(void **state)
{
	static const uint64_t data[] = { 0,    1,    2,	   7,	 300,
					 1023, 1024, 1025, 4095, 16383 };
	static const uint64_t zero[] = { 3, 4, 301, 9000 };
	struct guest_mem src, dst;
	struct page_stats st;
	struct entry *e = calloc(4096, sizeof(*e));
	unsigned int records;
	uint64_t i, nr_data = 0, got;
	size_t len, n, k;
	uint8_t *buf;

	assert_int_equal(mem_init(&src, 64 * MIB), 0);
	assert_int_equal(mem_init(&dst, 64 * MIB), 0);
	for (i = 0; i < ARRAY_SIZE(data); i++)
		fill_page(&src, data[i]);
	for (i = 0; i < 1500; i++) /* a run longer than one batch */
		fill_page(&src, 5000 + i);
	for (i = 0; i < ARRAY_SIZE(zero); i++)
		touch_zero(&src, zero[i]);
	nr_data = ARRAY_SIZE(data) + 1500;

	buf = send(&src, NULL, false, &st, &len);
	assert_int_equal(st.normal, nr_data);
	assert_int_equal(st.zero, 0);
	assert_true(st.skipped >= ARRAY_SIZE(zero));
	assert_int_equal(st.records, 2);
	n = parse_entries(buf, len, e, 4096, &records);
	assert_int_equal(records, 2);
	assert_int_equal(n, nr_data);
	/* Exactly the data pages, in pfn order, all NORMAL. */
	for (k = 0; k < n; k++) {
		assert_int_equal(e[k].type, PFN_TYPE_NORMAL);
		assert_false(page_is_zero(page(&src, e[k].pfn)));
		if (k)
			assert_true(e[k].pfn > e[k - 1].pfn);
	}
	/* Pages come right after their list, without a gap or a copy. */
	assert_int_equal(len, 2 * 16 + 8 * 2 + 8 * nr_data + PG * nr_data);

	receive_all(&dst, buf, len, &got);
	assert_int_equal(got, nr_data);
	assert_memory_equal(dst.host, src.host, 64 * MIB);
	free(buf);
	free(e);
	mem_destroy(&dst);
	mem_destroy(&src);
}

/* Every allocated page of mem outside idx[] is zero (holes are zero). */
static void check_only(struct guest_mem *mem, const uint64_t *idx, size_t n)
{
	off_t off = 0, end;
	uint64_t p;
	size_t i, seen = 0;

	while ((off = lseek(mem->memfd, off, SEEK_DATA)) >= 0) {
		end = lseek(mem->memfd, off, SEEK_HOLE);
		assert_true(end > off);
		for (p = off / PG; p < (uint64_t)(end + PG - 1) / PG; p++) {
			bool listed = false;

			for (i = 0; i < n; i++)
				listed |= idx[i] == p;
			if (listed)
				seen++;
			else
				assert_true(page_is_zero(page(mem, p)));
		}
		off = end;
	}
	assert_int_equal(seen, n);
}

/* A guest with RAM above 4 GiB: high pages travel under their own pfns. */
static void test_save_high_memory(void **state)
{
	const uint64_t low = 0xc0000; /* pages below the hole */
	static const uint64_t idx_list[] = { 0, 0xbffff, 0xc0000, 0xc0001,
					     0xc01ff };
	struct guest_mem src, dst;
	struct page_stats st;
	struct entry e[8];
	unsigned int records;
	uint64_t got;
	size_t len, n, i;
	uint8_t *buf;

	assert_int_equal(mem_init(&src, 3 * GIB + 2 * MIB), 0);
	assert_int_equal(mem_init(&dst, 3 * GIB + 2 * MIB), 0);
	for (i = 0; i < ARRAY_SIZE(idx_list); i++)
		fill_page(&src, idx_list[i]);
	buf = send(&src, NULL, false, &st, &len);
	assert_int_equal(st.normal, ARRAY_SIZE(idx_list));
	n = parse_entries(buf, len, e, 8, &records);
	assert_int_equal(n, 5);
	assert_int_equal(e[0].pfn, 0);
	assert_int_equal(e[1].pfn, low - 1);
	assert_int_equal(e[2].pfn, 0x100000);
	assert_int_equal(e[3].pfn, 0x100001);
	assert_int_equal(e[4].pfn, 0x1001ff);
	receive_all(&dst, buf, len, &got);
	for (i = 0; i < ARRAY_SIZE(idx_list); i++)
		assert_memory_equal(page(&dst, idx_list[i]),
				    page(&src, idx_list[i]), PG);
	/* Nothing else landed: every other allocated page of dst is zero. */
	check_only(&dst, idx_list, ARRAY_SIZE(idx_list));
	free(buf);
	mem_destroy(&dst);
	mem_destroy(&src);
}

/* A live round: dirty pages only; zero ones as ZERO entries. */
static void test_zero_entries_clear_stale_pages(void **state)
{
	struct guest_mem src, dst;
	struct bitmap which;
	struct page_stats st;
	struct entry e[8];
	unsigned int records;
	uint64_t got;
	size_t len, n;
	uint8_t *buf;

	assert_int_equal(mem_init(&src, 16 * MIB), 0);
	assert_int_equal(mem_init(&dst, 16 * MIB), 0);
	assert_int_equal(bitmap_init(&which, mem_nr_pages(&src)), 0);
	fill_page(&src, 0);
	fill_page(&src, 7);
	touch_zero(&src, 3);
	fill_page(&src, 9); /* not dirty: must not travel */
	bitmap_set(&which, 0);
	bitmap_set(&which, 3);
	bitmap_set(&which, 7);
	bitmap_set(&which, 50); /* never allocated: zero */
	/* The destination has older copies of 3 and 50. */
	fill_page(&dst, 3);
	fill_page(&dst, 50);

	buf = send(&src, &which, true, &st, &len);
	assert_int_equal(st.normal, 2);
	assert_int_equal(st.zero, 2);
	assert_int_equal(st.skipped, 0);
	n = parse_entries(buf, len, e, 8, &records);
	assert_int_equal(n, 4);
	assert_int_equal(e[0].pfn, 0);
	assert_int_equal(e[0].type, PFN_TYPE_NORMAL);
	assert_int_equal(e[1].pfn, 3);
	assert_int_equal(e[1].type, PFN_TYPE_ZERO);
	assert_int_equal(e[2].pfn, 7);
	assert_int_equal(e[2].type, PFN_TYPE_NORMAL);
	assert_int_equal(e[3].pfn, 50);
	assert_int_equal(e[3].type, PFN_TYPE_ZERO);
	assert_int_equal(len, 16 + 8 + 4 * 8 + 2 * PG);
	receive_all(&dst, buf, len, &got);
	assert_int_equal(got, 4);
	assert_memory_equal(page(&dst, 0), page(&src, 0), PG);
	assert_memory_equal(page(&dst, 7), page(&src, 7), PG);
	assert_true(page_is_zero(page(&dst, 3)));
	assert_true(page_is_zero(page(&dst, 50)));
	assert_true(page_is_zero(page(&dst, 9)));
	free(buf);

	/* Without zero_entries the same set leaves zero pages out. */
	buf = send(&src, &which, false, &st, &len);
	assert_int_equal(st.normal, 2);
	assert_int_equal(st.zero, 0);
	assert_int_equal(st.skipped, 2);
	n = parse_entries(buf, len, e, 8, &records);
	assert_int_equal(n, 2);
	free(buf);

	/* An empty set writes nothing at all. */
	bitmap_clear_all(&which);
	buf = send(&src, &which, true, &st, &len);
	assert_int_equal(len, 0);
	assert_int_equal(st.records, 0);
	free(buf);
	bitmap_destroy(&which);
	mem_destroy(&dst);
	mem_destroy(&src);
}

/* ---- Hostile batches ---------------------------------------------------- */

/* A PAGE_DATA record with the given entries and data pages. */
static uint8_t *craft(const uint64_t *ent, uint32_t count, uint32_t data_pages,
		      uint32_t extra, size_t *len)
{
	uint32_t hdr[2] = { count, 0 };
	uint8_t *data = calloc(data_pages ? data_pages : 1, PG);
	struct iovec iov[3] = {
		{ hdr, 8 },
		{ (void *)ent, 8 * count },
		{ data, (size_t)data_pages * PG + extra },
	};
	struct stream s;
	uint8_t *buf;

	memset(data, 0xcd, (size_t)(data_pages ? data_pages : 1) * PG);
	stream_open_mem_write(&s);
	assert_int_equal(rec_write(&s, REC_PAGE_DATA, iov, 3), 0);
	buf = stream_mem_take(&s, len);
	stream_close(&s);
	free(data);
	return buf;
}

static int recv_seen(struct guest_mem *mem, const uint8_t *buf, size_t len,
		     struct bitmap *seen, struct rec_error *err)
{
	struct rec_limits lim = { .nr_vcpus = 1, .mem_bytes = mem->size };
	struct page_rx prx;
	struct rec_hdr h;
	struct stream s;
	uint64_t n;
	int rc;

	assert_int_equal(page_rx_init(&prx), 0);
	stream_open_mem_read(&s, buf, len);
	rc = rec_read_hdr(&s, &h, err);
	if (!rc)
		rc = pages_recv(&prx, &s, mem, &h, &lim, seen, err, &n);
	assert_int_equal(rc, s.error);
	stream_close(&s);
	page_rx_destroy(&prx);
	return rc;
}

static int recv_one(struct guest_mem *mem, const uint8_t *buf, size_t len,
		    struct rec_error *err)
{
	return recv_seen(mem, buf, len, NULL, err);
}

static void expect_refused(struct guest_mem *mem, const uint64_t *ent,
			   uint32_t count, uint32_t data_pages, int rc,
			   const char *what)
{
	struct rec_error err;
	size_t len;
	uint8_t *buf = craft(ent, count, data_pages, 0, &len);

	assert_int_equal(recv_one(mem, buf, len, &err), rc);
	if (!strstr(err.why, what))
		fail_msg("why '%s' does not mention '%s'", err.why, what);
	free(buf);
}

/*
 * A pfn twice in one batch is refused; across batches it is refused in a
 * stream without the LIVE flag (seen) and accepted in a live one.
 */
static void test_recv_repeated_pfns(void **state)
{
	const uint64_t zero = PFN_TYPE_ZERO << PFN_TYPE_SHIFT;
	struct guest_mem mem;
	struct rec_error err;
	struct bitmap seen;
	uint8_t *buf;
	size_t len;

	assert_int_equal(mem_init(&mem, 16 * MIB), 0);
	assert_int_equal(bitmap_init(&seen, mem_nr_pages(&mem)), 0);
	expect_refused(&mem, (const uint64_t[]){ 7, 8, 7 | zero }, 3, 2,
		       -EINVAL, "pfn 0x7 appears twice in one batch");
	buf = craft((const uint64_t[]){ 9, 10 }, 2, 2, 0, &len);
	assert_int_equal(recv_seen(&mem, buf, len, &seen, &err), 0);
	assert_int_equal(recv_one(&mem, buf, len, &err), 0); /* live */
	assert_int_equal(recv_seen(&mem, buf, len, &seen, &err), -EINVAL);
	assert_non_null(strstr(err.why, "pfn 0x9 sent again in a stream "
					"without the LIVE flag"));
	free(buf);
	bitmap_destroy(&seen);
	mem_destroy(&mem);
}

static void test_recv_rejects_before_writing(void **state)
{
	const uint64_t zero = PFN_TYPE_ZERO << PFN_TYPE_SHIFT;
	struct guest_mem mem;
	struct rec_error err;
	size_t len;
	uint8_t *buf;

	assert_int_equal(mem_init(&mem, 16 * MIB), 0);
	fill_page(&mem, 5);
	fill_page(&mem, 6);
	/* A good entry, then one past RAM: page 5 must not change. */
	expect_refused(&mem, (const uint64_t[]){ 5, 0x1000 }, 2, 2, -EINVAL,
		       "entry 1: pfn 0x1000 is beyond guest memory (16 MiB)");
	expect_refused(&mem, (const uint64_t[]){ 6 | zero, 1ULL << 53 }, 2, 0,
		       -EINVAL, "reserved bits");
	expect_refused(&mem, (const uint64_t[]){ 5, 6 | (3ULL << 56) }, 2, 1,
		       -EINVAL, "unknown page type 3");
	/* Data for two pages, one entry. */
	expect_refused(&mem, (const uint64_t[]){ 5 }, 1, 2, -EINVAL,
		       "does not match 1 entries with 1 data pages");
	assert_false(page_is_zero(page(&mem, 5)));
	assert_false(page_is_zero(page(&mem, 6)));
	assert_int_equal(page(&mem, 5)[0], 5 * 7 + 1);
	expect_refused(&mem, NULL, 0, 0, -EINVAL, "count 0 is out of range");
	buf = craft((const uint64_t[]){ 5 }, 1, 0, 4, &len);
	/* A body of 20 bytes cannot hold 1 entry plus a page. */
	assert_int_equal(recv_one(&mem, buf, len, &err), -EINVAL);
	free(buf);
	mem_destroy(&mem);
}

static void test_recv_count_beyond_body(void **state)
{
	struct guest_mem mem;
	struct rec_error err;
	uint32_t body[2] = { 1000, 0 };
	struct stream s;
	uint8_t *buf;
	size_t len;

	assert_int_equal(mem_init(&mem, 16 * MIB), 0);
	/* A count whose list would run past the body is refused unread. */
	stream_open_mem_write(&s);
	assert_int_equal(rec_write_buf(&s, REC_PAGE_DATA, body, 8), 0);
	buf = stream_mem_take(&s, &len);
	stream_close(&s);
	assert_int_equal(recv_one(&mem, buf, len, &err), -EINVAL);
	assert_non_null(strstr(err.why, "exceeds the body"));
	free(buf);
	/* A body shorter than the batch header. */
	stream_open_mem_write(&s);
	assert_int_equal(rec_write_buf(&s, REC_PAGE_DATA, body, 4), 0);
	buf = stream_mem_take(&s, &len);
	stream_close(&s);
	assert_int_equal(recv_one(&mem, buf, len, &err), -EINVAL);
	assert_non_null(strstr(err.why, "too short for a batch"));
	free(buf);
	mem_destroy(&mem);
}

static void test_recv_crc_covers_page_data(void **state)
{
	struct guest_mem src, dst;
	struct page_stats st;
	struct rec_error err;
	size_t len, i;
	uint8_t *buf;

	assert_int_equal(mem_init(&src, 4 * MIB), 0);
	assert_int_equal(mem_init(&dst, 4 * MIB), 0);
	fill_page(&src, 10);
	fill_page(&src, 11);
	buf = send(&src, NULL, false, &st, &len);
	assert_int_equal(len, 16 + 8 + 16 + 2 * PG);
	/* Any byte: list, data or CRC. */
	for (i = 8; i < len; i += 97) {
		buf[i] ^= 0x40;
		assert_true(recv_one(&dst, buf, len, &err) < 0);
		buf[i] ^= 0x40;
	}
	buf[16 + 8 + 16 + PG + 5] ^= 1; /* second page's data */
	assert_int_equal(recv_one(&dst, buf, len, &err), -EBADMSG);
	assert_non_null(strstr(err.why, "CRC mismatch"));
	buf[16 + 8 + 16 + PG + 5] ^= 1;
	assert_int_equal(recv_one(&dst, buf, len, &err), 0);
	assert_memory_equal(dst.host, src.host, 4 * MIB);
	/* Cut short in the page data. */
	assert_int_equal(recv_one(&dst, buf, len - PG, &err), -EPIPE);
	assert_non_null(strstr(err.why, "page data"));
	free(buf);
	mem_destroy(&dst);
	mem_destroy(&src);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_page_is_zero),
		cmocka_unit_test(test_save_round_trip),
		cmocka_unit_test(test_save_high_memory),
		cmocka_unit_test(test_zero_entries_clear_stale_pages),
		cmocka_unit_test(test_recv_rejects_before_writing),
		cmocka_unit_test(test_recv_repeated_pfns),
		cmocka_unit_test(test_recv_count_beyond_body),
		cmocka_unit_test(test_recv_crc_covers_page_data),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
