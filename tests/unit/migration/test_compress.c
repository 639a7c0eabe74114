/*
 * Unit tests of zstd page batches (compress.c, pages.c) and of --compress
 * auto's decision (compress_policy.c), no KVM: batches that shrink go as
 * PAGE_ZSTD and come back byte for byte, batches that do not shrink go as
 * PAGE_DATA, and a hostile PAGE_ZSTD (a bomb, a lying length, a frame
 * that is not zstd or does not decode) is refused in one line before any
 * page lands. The decision compresses exactly when the link, not the
 * compressor, is the bottleneck, and probes the other mode now and then.
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
#include <zstd.h>

#include "le.h"
#include "migration/compress.h"
#include "migration/pages.h"
#include "migration/recio.h"
#include "vmm/memory.h"

#define PG 4096u
#define MB 1000000ULL

/* ---- the decision ---- */

static void test_decide_measures_first(void **state)
{
	struct compress_rates r = { 0 };

	/* No send rate yet: send raw to measure it. */
	assert_false(compress_worth_it(&r));
	/* A send rate but no compressor figures: compress to measure. */
	r.send_bps = 100 * MB;
	assert_true(compress_worth_it(&r));
	assert_int_equal(compress_expected_bps(&r), 0);
}

static void test_decide_slow_link(void **state)
{
	/* 1 Gb/s, a compressor at 400 MB/s that halves the pages. */
	struct compress_rates r = { .send_bps = 118 * MB,
				    .comp_bps = 400 * MB,
				    .ratio_pct = 50 };

	assert_int_equal(compress_expected_bps(&r), 236 * MB);
	assert_true(compress_worth_it(&r));
	/* The compressor is the limit at 120 MB/s: no 10% gain. */
	r.comp_bps = 120 * MB;
	assert_int_equal(compress_expected_bps(&r), 120 * MB);
	assert_false(compress_worth_it(&r));
}

static void test_decide_fast_link(void **state)
{
	/* Loopback at 2 GB/s: the CPU is the bottleneck, never compress. */
	struct compress_rates r = { .send_bps = 2000 * MB,
				    .comp_bps = 400 * MB,
				    .ratio_pct = 10 };

	assert_false(compress_worth_it(&r));
}

static void test_decide_incompressible(void **state)
{
	/* Pages that do not shrink gain nothing, however slow the link. */
	struct compress_rates r = { .send_bps = 10 * MB,
				    .comp_bps = 400 * MB,
				    .ratio_pct = 100 };

	assert_false(compress_worth_it(&r));
	r.ratio_pct = 95; /* 5% is below the 10% it must gain */
	assert_false(compress_worth_it(&r));
	r.ratio_pct = 85;
	assert_true(compress_worth_it(&r));
}

static void test_decide_probes(void **state)
{
	struct compress_rates yes = { .send_bps = 100 * MB,
				      .comp_bps = 400 * MB,
				      .ratio_pct = 50 };
	struct compress_rates no = { .send_bps = 2000 * MB,
				     .comp_bps = 400 * MB,
				     .ratio_pct = 50 };

	const unsigned int every = COMPRESS_PROBE_EVERY;

	/* Staying in the chosen mode until a probe is due. */
	assert_true(compress_next_window(&yes, true, 1, every));
	assert_true(compress_next_window(&yes, true, every - 1, every));
	assert_false(compress_next_window(&yes, true, every, every));
	assert_false(compress_next_window(&no, false, 3, every));
	assert_true(compress_next_window(&no, false, every, every));
	assert_false(compress_next_window(&no, false, every, every * 2));
	/* After a probe (one window in the other mode) the figures decide. */
	assert_true(compress_next_window(&yes, false, 1, every));
	assert_false(compress_next_window(&no, true, 1, every));
	/* Probes that change nothing come ever more rarely; one that
	 * changes the decision brings them back. */
	assert_int_equal(compress_probe_interval(8, false), 16);
	assert_int_equal(compress_probe_interval(32, false), 64);
	assert_int_equal(compress_probe_interval(64, false), 64);
	assert_int_equal(compress_probe_interval(64, true), 8);
	assert_int_equal(compress_probe_interval(0, false), 8);
}

static void test_mode_names(void **state)
{
	enum compress_mode m;

	assert_int_equal(compress_mode_parse("auto", &m), 0);
	assert_int_equal(m, COMPRESS_AUTO);
	assert_int_equal(compress_mode_parse("zstd", &m), 0);
	assert_int_equal(m, COMPRESS_ZSTD);
	assert_int_equal(compress_mode_parse("none", &m), 0);
	assert_int_equal(m, COMPRESS_NONE);
	assert_int_equal(compress_mode_parse("lz4", &m), -EINVAL);
	assert_string_equal(compress_mode_name(COMPRESS_AUTO), "auto");
}

/* ---- batches ---- */

static uint8_t *page(struct guest_mem *mem, uint64_t idx)
{
	return mem->host + idx * PG;
}

/* Compressible: the dirty guest's way, a few words and zeros. */
static void fill_sparse(struct guest_mem *mem, uint64_t idx)
{
	uint64_t *p = (uint64_t *)page(mem, idx);

	p[0] = idx;
	p[1] = 0x5a5a;
	p[511] = idx * 3 + 1;
}

/* Incompressible: xorshift noise. */
static void fill_noise(struct guest_mem *mem, uint64_t idx)
{
	uint64_t *p = (uint64_t *)page(mem, idx),
		 x = idx * 0x9e3779b97f4a7c15ULL + 1;
	unsigned int i;

	for (i = 0; i < PG / 8; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = x;
	}
}

/* Record types of a stream of page batches, in order. */
static size_t record_types(const uint8_t *buf, size_t len, uint32_t *out,
			   size_t max)
{
	size_t off = 0, n = 0;

	while (off < len) {
		assert_true(n < max);
		out[n++] = le(buf, off, 4);
		off += 16 + rec_padded(le(buf, off + 4, 4));
	}
	assert_int_equal(off, len);
	return n;
}

static uint8_t *send_compressed(struct guest_mem *mem, enum compress_mode mode,
				size_t *len, struct compress_counters *n)
{
	struct page_stats st = { 0 };
	struct stream s;
	uint8_t *buf;

	stream_open_mem_write(&s);
	assert_int_equal(compress_attach(&s, mode), 0);
	assert_int_equal(pages_send(&s, mem, NULL, 0, &st), 0);
	memset(n, 0, sizeof(*n));
	compress_detach(&s, n);
	assert_null(s.compress);
	buf = stream_mem_take(&s, len);
	stream_close(&s);
	return buf;
}

/* Every batch of buf into mem; 0, or pages_recv's error with err. */
static int receive_all(struct guest_mem *mem, const uint8_t *buf, size_t len,
		       struct rec_error *err, struct page_rx *prx)
{
	struct rec_limits lim = { .nr_vcpus = 1, .mem_bytes = mem->size };
	struct rec_hdr h;
	struct stream s;
	uint64_t n;
	int rc = 0;

	assert_int_equal(page_rx_init(prx), 0);
	stream_open_mem_read(&s, buf, len);
	while (!rc && s.offset < len) {
		rc = rec_read_hdr(&s, &h, err);
		if (!rc)
			rc = pages_recv(prx, &s, mem, &h, &lim, NULL, err, &n);
	}
	stream_close(&s);
	return rc;
}

static void test_round_trip_mixed(void **state)
{
	struct guest_mem src, dst;
	struct compress_counters n;
	struct rec_error err;
	struct page_rx prx;
	uint32_t types[16];
	uint64_t i;
	size_t len, k;
	uint8_t *buf;

	assert_int_equal(mem_init(&src, 32 * MIB), 0);
	assert_int_equal(mem_init(&dst, 32 * MIB), 0);
	/* Batch 1 (pfn 0..1023) shrinks, batch 2 (1024..2047) does not. */
	for (i = 0; i < 1024; i++)
		fill_sparse(&src, i);
	for (i = 1024; i < 2048; i++)
		fill_noise(&src, i);
	for (i = 3000; i < 3100; i++)
		fill_sparse(&src, i);
	buf = send_compressed(&src, COMPRESS_ZSTD, &len, &n);
	k = record_types(buf, len, types, 16);
	assert_int_equal(k, 3);
	assert_int_equal(types[0], REC_PAGE_ZSTD);
	assert_int_equal(types[1], REC_PAGE_DATA);
	assert_int_equal(types[2], REC_PAGE_ZSTD);
	assert_int_equal(n.batches, 3);
	assert_int_equal(n.zstd_batches, 2);
	/* The noise went raw: the stream is about its size plus little. */
	assert_true(len < 1024 * PG + 64 * 1024);
	if (receive_all(&dst, buf, len, &err, &prx))
		fail_msg("%s", err.why);
	assert_int_equal(prx.zstd_batches, 2);
	assert_int_equal(prx.data_pages, 2148);
	page_rx_destroy(&prx);
	assert_memory_equal(dst.host, src.host, 32 * MIB);
	free(buf);
	mem_destroy(&dst);
	mem_destroy(&src);
}

/* --compress none leaves every batch raw; auto starts raw to measure. */
static void test_none_and_auto_start_raw(void **state)
{
	struct compress_counters n;
	struct guest_mem src;
	uint32_t types[8];
	size_t len;
	uint8_t *buf;
	uint64_t i;

	assert_int_equal(mem_init(&src, 8 * MIB), 0);
	for (i = 0; i < 100; i++)
		fill_sparse(&src, i);
	buf = send_compressed(&src, COMPRESS_NONE, &len, &n);
	assert_int_equal(record_types(buf, len, types, 8), 1);
	assert_int_equal(types[0], REC_PAGE_DATA);
	free(buf);
	buf = send_compressed(&src, COMPRESS_AUTO, &len, &n);
	assert_int_equal(record_types(buf, len, types, 8), 1);
	assert_int_equal(types[0], REC_PAGE_DATA);
	assert_int_equal(n.zstd_batches, 0);
	free(buf);
	mem_destroy(&src);
}

/*
 * A PAGE_ZSTD record of count entries (pfn 0..), the first normal of
 * them NORMAL, saying data_pages, with frame (flen bytes, declared as frame_len) as its data;
 * correctly framed and checksummed, so only the batch's checks can
 * refuse it.
 */
static uint8_t *zstd_record(uint32_t count, uint32_t normal,
			    uint32_t data_pages, uint32_t frame_len,
			    const void *frame, size_t flen, size_t *len)
{
	struct rec_page_zstd z = { .count = count,
				   .data_pages = data_pages,
				   .frame_len = frame_len };
	uint64_t pfn[PAGE_BATCH_MAX];
	struct iovec iov[3];
	struct stream s;
	uint32_t i;
	uint8_t *buf;

	for (i = 0; i < count; i++)
		pfn[i] = i | (i < normal ? 0 : PFN_TYPE_ZERO << PFN_TYPE_SHIFT);
	iov[0] = (struct iovec){ &z, sizeof(z) };
	iov[1] = (struct iovec){ pfn, 8ULL * count };
	iov[2] = (struct iovec){ (void *)frame, flen };
	stream_open_mem_write(&s);
	assert_int_equal(rec_write(&s, REC_PAGE_ZSTD, iov, 3), 0);
	buf = stream_mem_take(&s, len);
	stream_close(&s);
	return buf;
}

/* Refused with a line containing want, and no page landed. */
static void refused(const uint8_t *rec, size_t len, const char *want)
{
	struct guest_mem dst;
	struct rec_error err;
	struct page_rx prx;

	assert_int_equal(mem_init(&dst, 8 * MIB), 0);
	assert_int_not_equal(receive_all(&dst, rec, len, &err, &prx), 0);
	page_rx_destroy(&prx);
	if (!strstr(err.why, want))
		fail_msg("want '%s' in: %s", want, err.why);
	assert_null(strchr(err.why, '\n'));
	assert_int_equal(err.type, REC_PAGE_ZSTD);
	assert_true(page_is_zero(page(&dst, 0)));
	mem_destroy(&dst);
}

static size_t compress_bytes(void *out, size_t cap, const void *in,
			     size_t inlen)
{
	size_t r = ZSTD_compress(out, cap, in, inlen, 1);

	assert_false(ZSTD_isError(r));
	return r;
}

static void test_bomb_refused(void **state)
{
	size_t big = 64 * MIB, flen, len;
	uint8_t *zeros = calloc(1, big), frame[65536];
	uint8_t *rec;

	/* 64 MiB of zeros in a few hundred bytes, for a one-page batch. */
	flen = compress_bytes(frame, sizeof(frame), zeros, big);
	assert_true(flen < PG);
	rec = zstd_record(1, 1, 1, flen, frame, flen, &len);
	refused(rec, len, "the zstd frame holds 67108864 bytes");
	free(rec);
	free(zeros);
}

static void test_lying_lengths_refused(void **state)
{
	uint8_t pages[2 * PG] = { 1, 2, 3 }, frame[2 * PG], *rec;
	size_t flen, len;

	flen = compress_bytes(frame, sizeof(frame), pages, sizeof(pages));
	/* frame_len one short of the body: the record says otherwise. */
	rec = zstd_record(2, 2, 2, flen - 1, frame, flen, &len);
	refused(rec, len, "does not match 2 entries and a frame");
	free(rec);
	/* A frame cut short, with frame_len telling its cut length. */
	rec = zstd_record(2, 2, 2, flen - 3, frame, flen - 3, &len);
	refused(rec, len, "the zstd frame");
	free(rec);
	/* data_pages that the entries do not say. */
	rec = zstd_record(2, 2, 1, flen, frame, flen, &len);
	refused(rec, len, "data_pages 1, but the batch has 2 NORMAL");
	free(rec);
	/* A frame of one page for a batch of two. */
	flen = compress_bytes(frame, sizeof(frame), pages, PG);
	rec = zstd_record(2, 2, 2, flen, frame, flen, &len);
	refused(rec, len, "holds 4096 bytes, the batch's pages 8192");
	free(rec);
	/* A "frame" no smaller than its pages. */
	memset(frame, 0x77, sizeof(frame));
	rec = zstd_record(1, 1, 1, PG, frame, PG, &len);
	refused(rec, len, "frame_len 4096 is out of range");
	free(rec);
}

static void test_garbage_frames_refused(void **state)
{
	uint8_t pages[PG] = { 9 }, frame[PG], *rec;
	size_t flen, len;

	memset(frame, 0x42, 100);
	rec = zstd_record(1, 1, 1, 100, frame, 100, &len);
	refused(rec, len, "not a zstd frame");
	free(rec);
	/* A good frame with its compressed block damaged (CRC rewritten). */
	flen = compress_bytes(frame, sizeof(frame), pages, PG);
	frame[flen - 2] ^= 0xff;
	frame[flen / 2 + 3] ^= 0x5a;
	rec = zstd_record(1, 1, 1, flen, frame, flen, &len);
	refused(rec, len, "the zstd frame");
	free(rec);
}

/* The record's own CRC catches a damaged compressed batch first. */
static void test_corrupted_batch_crc(void **state)
{
	uint8_t pages[PG] = { 9 }, frame[PG], *rec;
	size_t flen, len;

	flen = compress_bytes(frame, sizeof(frame), pages, PG);
	rec = zstd_record(1, 1, 1, flen, frame, flen, &len);
	rec[16 + 16 + 8 + flen / 2] ^= 1;
	refused(rec, len, "CRC mismatch");
	free(rec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decide_measures_first),
		cmocka_unit_test(test_decide_slow_link),
		cmocka_unit_test(test_decide_fast_link),
		cmocka_unit_test(test_decide_incompressible),
		cmocka_unit_test(test_decide_probes),
		cmocka_unit_test(test_mode_names),
		cmocka_unit_test(test_round_trip_mixed),
		cmocka_unit_test(test_none_and_auto_start_raw),
		cmocka_unit_test(test_bomb_refused),
		cmocka_unit_test(test_lying_lengths_refused),
		cmocka_unit_test(test_garbage_frames_refused),
		cmocka_unit_test(test_corrupted_batch_crc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
