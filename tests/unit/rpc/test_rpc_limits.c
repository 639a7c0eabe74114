/*
 * Unit tests of the control connections' time limits and of who makes
 * room when every slot is taken (rpc/limits.h): pure functions of a
 * connection's clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "common/clock.h"
#include "rpc/limits.h"

#define S NSEC_PER_SEC
#define MS NSEC_PER_MSEC

static const struct rpc_limits lim = { .hello_ms = 10000,
				       .request_ms = 5000,
				       .idle_ms = 0 };

static enum rpc_conn_verdict judge(const struct rpc_conn_clock *c,
				   const struct rpc_limits *l, uint64_t now,
				   uint64_t *due)
{
	return rpc_conn_judge(c, l, now, due);
}

static void test_defaults(void **state)
{
	struct rpc_limits l;

	rpc_limits_default(&l);
	assert_int_equal(l.hello_ms, 10000);
	assert_int_equal(l.request_ms, 10000);
	assert_int_equal(l.idle_ms, 0);
}

/* A client that says nothing has hello_ms to negotiate. */
static void test_silent(void **state)
{
	struct rpc_conn_clock c = { .opened_ns = 100 * S,
				    .active_ns = 100 * S };
	uint64_t due;

	assert_int_equal(judge(&c, &lim, 105 * S, &due), RPC_CONN_KEEP);
	assert_int_equal(due, 110 * S);
	assert_int_equal(judge(&c, &lim, 110 * S - 1, &due), RPC_CONN_KEEP);
	assert_int_equal(judge(&c, &lim, 110 * S, &due), RPC_CONN_SILENT);
	/* Bytes that never make a negotiation do not help. */
	c.active_ns = 109 * S;
	assert_int_equal(judge(&c, &lim, 111 * S, &due), RPC_CONN_SILENT);
	/* Negotiated: no limit at all while idle_ms is 0. */
	c.negotiated = true;
	assert_int_equal(judge(&c, &lim, 1000 * S, &due), RPC_CONN_KEEP);
	assert_int_equal(due, 0);
}

/* A message must be complete request_ms after its first byte. */
static void test_partial(void **state)
{
	struct rpc_conn_clock c = { .opened_ns = 0,
				    .active_ns = 60 * S,
				    .msg_start_ns = 50 * S,
				    .negotiated = true };
	uint64_t due;

	assert_int_equal(judge(&c, &lim, 54 * S, &due), RPC_CONN_KEEP);
	assert_int_equal(due, 55 * S);
	/* A byte now and then does not extend it (no slow-drip). */
	c.active_ns = 54 * S + 900 * MS;
	assert_int_equal(judge(&c, &lim, 55 * S, &due), RPC_CONN_PARTIAL);
	/* Even with a command pending. */
	c.pending = true;
	assert_int_equal(judge(&c, &lim, 55 * S, &due), RPC_CONN_PARTIAL);
	/* Before negotiation the earlier of the two limits applies. */
	c = (struct rpc_conn_clock){ .opened_ns = 0, .msg_start_ns = 9 * S };
	assert_int_equal(judge(&c, &lim, 9 * S, &due), RPC_CONN_KEEP);
	assert_int_equal(due, 10 * S);
	assert_int_equal(judge(&c, &lim, 10 * S, &due), RPC_CONN_SILENT);
}

static void test_idle(void **state)
{
	struct rpc_limits l = lim;
	struct rpc_conn_clock c = { .opened_ns = 0,
				    .active_ns = 20 * S,
				    .negotiated = true };
	uint64_t due;

	l.idle_ms = 60000;
	assert_int_equal(judge(&c, &l, 79 * S, &due), RPC_CONN_KEEP);
	assert_int_equal(due, 80 * S);
	assert_int_equal(judge(&c, &l, 80 * S, &due), RPC_CONN_IDLE);
	/* A pending command is the handler's business. */
	c.pending = true;
	assert_int_equal(judge(&c, &l, 1000 * S, &due), RPC_CONN_KEEP);
	assert_int_equal(due, 0);
	/* A limit of 0 is no limit. */
	l = (struct rpc_limits){ 0 };
	c = (struct rpc_conn_clock){ .msg_start_ns = 1 };
	assert_int_equal(judge(&c, &l, UINT64_MAX / 2, &due), RPC_CONN_KEEP);
	assert_int_equal(due, 0);
}

static void test_pick_victim(void **state)
{
	struct rpc_conn_clock c[4] = {
		{ .active_ns = 10 * S, .negotiated = true },
		{ .active_ns = 5 * S, .negotiated = true, .pending = true },
		{ .active_ns = 30 * S, .negotiated = false },
		{ .active_ns = 8 * S, .negotiated = true },
	};

	/* Not negotiated goes first, even if it spoke last. */
	assert_int_equal(rpc_conn_pick_victim(c, 4), 2);
	/* Then the longest idle without a pending command. */
	assert_int_equal(rpc_conn_pick_victim(c, 2), 0);
	c[2].negotiated = true;
	assert_int_equal(rpc_conn_pick_victim(c, 4), 3);
	/* All pending: nobody. */
	c[0].pending = c[2].pending = c[3].pending = true;
	assert_int_equal(rpc_conn_pick_victim(c, 4), -1);
	assert_int_equal(rpc_conn_pick_victim(c, 0), -1);
}

static void test_texts(void **state)
{
	assert_non_null(
		strstr(rpc_conn_verdict_text(RPC_CONN_SILENT), "negotiation"));
	assert_non_null(strstr(rpc_conn_verdict_text(RPC_CONN_PARTIAL),
			       "not completed"));
	assert_non_null(strstr(rpc_conn_verdict_text(RPC_CONN_IDLE), "idle"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_silent),
		cmocka_unit_test(test_partial),
		cmocka_unit_test(test_idle),
		cmocka_unit_test(test_pick_victim),
		cmocka_unit_test(test_texts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
