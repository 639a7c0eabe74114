/*
 * Unit tests for the direct I/O file backend (transport/direct.c) and for
 * page batches on it: the file gets exactly the bytes written, whatever
 * their alignment, and page data lands on 4 KiB boundaries. Skipped where
 * the test directory's filesystem refuses O_DIRECT (tmpfs).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/util.h"
#include "le.h"
#include "migration/pages.h"
#include "migration/recio.h"
#include "migration/transport/stream.h"

struct tmpf {
	char path[64];
	int fd; /* O_DIRECT */
};

/* A file opened with O_DIRECT, or a skipped test. */
static void tmp_direct(struct tmpf *t)
{
	int fd;

	strcpy(t->path, "godwit-direct-XXXXXX");
	fd = mkstemp(t->path);
	assert_true(fd >= 0);
	close(fd);
	t->fd = open(t->path, O_WRONLY | O_TRUNC | O_DIRECT);
	if (t->fd < 0) {
		unlink(t->path);
		skip(); /* the filesystem has no direct I/O */
	}
}

static uint8_t *slurp(const char *path, size_t *len)
{
	void *buf;

	assert_int_equal(file_read_all(path, SIZE_MAX, &buf, len), 0);
	return buf;
}

static void fill(uint8_t *p, size_t len, unsigned int seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 31 + seed);
}

static void test_any_alignment_round_trips(void **state)
{
	size_t big = (3 << 20) + 123, len, off = 0;
	uint8_t *pages = NULL, *odd, *want, *got;
	struct stream s;
	struct tmpf t;

	tmp_direct(&t);
	assert_int_equal(posix_memalign((void **)&pages, 4096, 3 * 4096), 0);
	odd = malloc(big);
	want = malloc(big + 8 * 4096);
	fill(pages, 3 * 4096, 1);
	fill(odd, big, 2);
	assert_int_equal(stream_open_direct(&s, t.fd, true), 0);
	/* 4000 + 96: an aligned offset, where aligned pages go direct. */
	stream_write(&s, odd, 4000);
	stream_write(&s, odd + 4000, 96);
	stream_write(&s, pages, 3 * 4096);
	/* Then pages at an odd offset: through the staging buffer. */
	stream_write(&s, odd, 10);
	stream_write(&s, pages, 3 * 4096);
	stream_write(&s, odd, big); /* more than the staging buffer */
	assert_int_equal(stream_flush(&s), 0);
	stream_close(&s);
	memcpy(want + off, odd, 4096), off += 4096;
	memcpy(want + off, pages, 3 * 4096), off += 3 * 4096;
	memcpy(want + off, odd, 10), off += 10;
	memcpy(want + off, pages, 3 * 4096), off += 3 * 4096;
	memcpy(want + off, odd, big), off += big;
	got = slurp(t.path, &len);
	assert_int_equal(len, off); /* trimmed to the stream's length */
	assert_memory_equal(got, want, off);
	unlink(t.path);
	free(got);
	free(want);
	free(odd);
	free(pages);
}

static void test_empty_flush(void **state)
{
	struct stream s;
	struct tmpf t;
	size_t len;
	uint8_t *got;

	tmp_direct(&t);
	assert_int_equal(stream_open_direct(&s, t.fd, true), 0);
	assert_int_equal(stream_flush(&s), 0);
	stream_close(&s);
	got = slurp(t.path, &len);
	assert_int_equal(len, 0);
	free(got);
	unlink(t.path);
}

/* Page batches on a direct stream: PADDING puts every page on 4 KiB. */
static void test_page_data_aligned(void **state)
{
	struct page_stats st = { 0 };
	struct guest_mem src, dst;
	struct rec_limits lim;
	struct page_rx prx;
	struct rec_error err;
	struct rec_hdr h;
	uint8_t pad[PADDING_MAX];
	struct stream s;
	struct tmpf t;
	uint8_t *buf;
	uint64_t i, n, padding = 0;
	size_t len;

	tmp_direct(&t);
	assert_int_equal(mem_init(&src, 16 << 20), 0);
	assert_int_equal(mem_init(&dst, 16 << 20), 0);
	for (i = 0; i < 3000; i += 1 + i % 3) /* batches of odd sizes */
		fill(src.host + i * 4096, 4096, i);
	assert_int_equal(stream_open_direct(&s, t.fd, true), 0);
	stream_write(&s, "12345678", 8); /* start off any alignment */
	assert_int_equal(pages_send(&s, &src, NULL, 0, &st), 0);
	assert_int_equal(stream_flush(&s), 0);
	stream_close(&s);
	buf = slurp(t.path, &len);
	lim = (struct rec_limits){ .nr_vcpus = 1, .mem_bytes = src.size };
	assert_int_equal(page_rx_init(&prx), 0);
	stream_open_mem_read(&s, buf, len);
	assert_int_equal(stream_skip(&s, 8), 0);
	while (s.offset < len) {
		assert_int_equal(rec_read_hdr(&s, &h, &err), 0);
		if (h.type == REC_PADDING) {
			/* Read, not skipped: it is a link of the chain. */
			padding++;
			assert_true(h.length <= sizeof(pad));
			assert_int_equal(rec_read_body(&s, &h, pad, &err), 0);
			continue;
		}
		assert_int_equal(h.type, REC_PAGE_DATA);
		/* Header, count, pfns: then the data, on a 4 KiB boundary. */
		assert_int_equal(
			(s.offset + 8 + 8 * le(buf, s.offset, 4)) % 4096, 0);
		assert_int_equal(pages_recv(&prx, &s, &dst, &h, &lim, NULL,
					    &err, &n),
				 0);
	}
	assert_true(padding > 0);
	assert_memory_equal(dst.host, src.host, src.size);
	page_rx_destroy(&prx);
	stream_close(&s);
	free(buf);
	mem_destroy(&src);
	mem_destroy(&dst);
	unlink(t.path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_any_alignment_round_trips),
		cmocka_unit_test(test_empty_flush),
		cmocka_unit_test(test_page_data_aligned),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
