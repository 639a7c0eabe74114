/*
 * Unit tests of a destination's extra connections (multiconn_rx.c), no
 * KVM: a socketpair plays the extra connection, the test plays the main
 * reader. The round barrier holds a page of round 1 back until the main
 * connection finished round 0, so an older copy never lands over a newer
 * one; a hello for another stream, a connection that ends early and one
 * that never comes are each refused in one line naming the connection.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "migration/multiconn.h"
#include "migration/recio.h"
#include "vmm/memory.h"

#define PG 4096u
#define PFN 5

static void header(struct stream_header *h)
{
	memset(h, 0, sizeof(*h));
	h->version = STREAM_VERSION;
	memset(h->stream_id, 0x42, sizeof(h->stream_id));
	h->header_crc = 0x12345678;
}

/* An extra connection's bytes: hello, then records from the hello on. */
struct extra {
	struct stream s;
	struct conn_hello hello;
};

static void extra_begin(struct extra *e, const struct stream_header *h,
			uint32_t index, uint32_t count)
{
	conn_hello_init(&e->hello, h, index, count);
	stream_open_mem_write(&e->s);
	assert_int_equal(stream_write(&e->s, &e->hello, sizeof(e->hello)), 0);
	rec_stream_start_conn(&e->s, &e->hello);
}

static void extra_round(struct extra *e, uint32_t round)
{
	struct rec_round r = { .round = round };

	assert_int_equal(rec_write_buf(&e->s, REC_ROUND, &r, sizeof(r)), 0);
}

static void extra_page(struct extra *e, uint64_t pfn, uint8_t fill)
{
	struct rec_page_data d = { .count = 1 };
	uint8_t page[PG];
	struct iovec iov[3] = { { &d, sizeof(d) },
				{ &pfn, sizeof(pfn) },
				{ page, PG } };

	memset(page, fill, PG);
	assert_int_equal(rec_write(&e->s, REC_PAGE_DATA, iov, 3), 0);
}

/* The bytes so far into a socketpair; returns the reader's end. */
static int extra_send(struct extra *e, bool end)
{
	uint8_t *buf;
	size_t len;
	int sv[2];

	if (end)
		assert_int_equal(rec_write_end(&e->s), 0);
	buf = stream_mem_take(&e->s, &len);
	stream_close(&e->s);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	assert_int_equal(write(sv[1], buf, len), (ssize_t)len);
	close(sv[1]); /* the extra connection ends after these bytes */
	free(buf);
	return sv[0];
}

struct rig {
	struct stream_header h;
	struct guest_mem mem;
	struct conn_inbox *inbox;
	struct multiconn_rx mc;
	struct rec_limits lim;
	char why[400];
};

static void rig_init(struct rig *r, int fd)
{
	header(&r->h);
	assert_int_equal(mem_init(&r->mem, 8 * MIB), 0);
	r->inbox = conn_inbox_new();
	assert_non_null(r->inbox);
	if (fd >= 0)
		assert_true(conn_inbox_offer(r->inbox, fd));
	multiconn_rx_init(&r->mc, r->inbox, NULL, 1000, -1);
	r->lim = (struct rec_limits){ .nr_vcpus = 1,
				      .mem_bytes = r->mem.size,
				      .version = STREAM_VERSION };
}

static void rig_destroy(struct rig *r)
{
	multiconn_rx_destroy(&r->mc);
	conn_inbox_free(r->inbox);
	mem_destroy(&r->mem);
}

static uint8_t byte_of(struct rig *r, uint64_t pfn)
{
	return r->mem.host[pfn * PG + 100];
}

static void test_barrier_keeps_newer_copy(void **state)
{
	struct extra e;
	struct rig r;

	/* The extra connection: round 0 is empty, round 1 has PFN "new". */
	header(&r.h);
	extra_begin(&e, &r.h, 1, 2);
	extra_round(&e, 0);
	extra_page(&e, PFN, 0xbb);
	extra_round(&e, 1);
	rig_init(&r, extra_send(&e, true));
	assert_int_equal(multiconn_rx_start(&r.mc, &r.h, 2, &r.mem, &r.lim,
					    r.why, sizeof(r.why)),
			 0);
	/* The main connection is slow with round 0, which holds PFN "old". */
	usleep(200 * 1000);
	assert_int_equal(byte_of(&r, PFN), 0); /* held back at the barrier */
	memset(r.mem.host + PFN * PG, 0xaa, PG);
	assert_int_equal(multiconn_rx_round(&r.mc, 0, r.why, sizeof(r.why)), 0);
	assert_int_equal(multiconn_rx_round(&r.mc, 1, r.why, sizeof(r.why)), 0);
	assert_int_equal(multiconn_rx_finish(&r.mc, r.why, sizeof(r.why)), 0);
	/* Round 1's copy is the one that stays. */
	assert_int_equal(byte_of(&r, PFN), 0xbb);
	rig_destroy(&r);
}

static void test_connection_ending_early_fails(void **state)
{
	struct extra e;
	struct rig r;

	header(&r.h);
	extra_begin(&e, &r.h, 1, 2);
	extra_page(&e, PFN, 0xbb); /* then it ends: no ROUND, no END */
	rig_init(&r, extra_send(&e, false));
	assert_int_equal(multiconn_rx_start(&r.mc, &r.h, 2, &r.mem, &r.lim,
					    r.why, sizeof(r.why)),
			 0);
	assert_int_not_equal(multiconn_rx_round(&r.mc, 0, r.why, sizeof(r.why)),
			     0);
	assert_non_null(strstr(r.why, "connection 2 of 2: record header"));
	assert_non_null(strstr(r.why, "truncated"));
	assert_null(strchr(r.why, '\n'));
	rig_destroy(&r);
}

static void test_hello_for_another_stream_refused(void **state)
{
	struct stream_header other;
	struct extra e;
	struct rig r;

	header(&other);
	other.stream_id[0] ^= 1;
	extra_begin(&e, &other, 1, 2);
	rig_init(&r, extra_send(&e, true));
	assert_int_not_equal(multiconn_rx_start(&r.mc, &r.h, 2, &r.mem, &r.lim,
						r.why, sizeof(r.why)),
			     0);
	assert_string_equal(r.why, "connection hello is for another stream");
	rig_destroy(&r);
}

static void test_missing_connection_times_out(void **state)
{
	struct rig r;

	rig_init(&r, -1);
	assert_int_equal(multiconn_rx_start(&r.mc, &r.h, 3, &r.mem, &r.lim,
					    r.why, sizeof(r.why)),
			 -ETIMEDOUT);
	assert_non_null(strstr(r.why, "0 of 2 came within the stall timeout"));
	rig_destroy(&r);
}

static void test_one_connection_reader_refuses(void **state)
{
	struct rig r;

	rig_init(&r, -1);
	r.mc.inbox = NULL; /* godwitd's relocation server: one connection */
	assert_int_equal(multiconn_rx_start(&r.mc, &r.h, 4, &r.mem, &r.lim,
					    r.why, sizeof(r.why)),
			 -EINVAL);
	assert_non_null(strstr(
		r.why, "takes one connection here, not 4 (--connections 1)"));
	rig_destroy(&r);
}

static void test_not_a_hello_is_left_alone(void **state)
{
	struct conn_inbox *in = conn_inbox_new();
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(write(sv[1], "GDWH....", 8), 8); /* a QUERY's start */
	assert_false(conn_inbox_offer(in, sv[0]));
	close(sv[0]);
	close(sv[1]);
	conn_inbox_free(in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_barrier_keeps_newer_copy),
		cmocka_unit_test(test_connection_ending_early_fails),
		cmocka_unit_test(test_hello_for_another_stream_refused),
		cmocka_unit_test(test_missing_connection_times_out),
		cmocka_unit_test(test_one_connection_reader_refuses),
		cmocka_unit_test(test_not_a_hello_is_left_alone),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
