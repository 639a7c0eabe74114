/*
 * The blocking layer (client.h): the loop a simple tool would write,
 * poll on the connection's fd for its events and timeout, then
 * dispatch, run until a command is answered or an event comes.
 */
#include "toolstack/lib/internal.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "rpc/sock.h"

/* One round: wait for the socket (at most wait_ms), then dispatch. */
static int run_once(struct godwit_conn *c, int wait_ms)
{
	struct pollfd p = { .fd = godwit_conn_fd(c),
			    .events = godwit_conn_events(c) };
	int t = godwit_conn_timeout(c), r;

	if (t >= 0 && (wait_ms < 0 || t < wait_ms))
		wait_ms = t;
	r = poll(&p, 1, wait_ms);
	if (r < 0 && errno != EINTR)
		return -errno;
	return godwit_conn_dispatch(c, r > 0 ? p.revents : 0);
}

void godwit_result_fn(struct godwit_conn *c, const struct godwit_reply *r,
		      void *opaque)
{
	struct godwit_result *res = opaque;

	res->done = true;
	res->rc = r->rc;
	res->ret = r->rc ? NULL : json_object_get(r->ret);
	snprintf(res->error_class, sizeof(res->error_class), "%s",
		 r->error_class);
	snprintf(res->error, sizeof(res->error), "%s", r->error);
}

int godwit_result_wait(struct godwit_conn *c, struct godwit_result *res)
{
	int rc;

	while (!res->done) {
		rc = run_once(c, -1);
		if (rc && !res->done) {
			/* Down before the command even went out. */
			res->done = true;
			res->rc = rc;
			snprintf(res->error, sizeof(res->error), "%s",
				 strerror(-rc));
		}
	}
	return res->rc;
}

void godwit_result_release(struct godwit_result *res)
{
	json_object_put(res->ret);
	*res = (struct godwit_result)GODWIT_RESULT_INIT;
}

int godwit_execute(struct godwit_conn *c, const char *command,
		   struct json_object *args, int timeout_ms,
		   struct json_object **ret_out, char *err, size_t errlen)
{
	struct godwit_result res = GODWIT_RESULT_INIT;
	int rc;

	rc = godwit_call(c, command, args, timeout_ms, godwit_result_fn, &res);
	if (rc) {
		snprintf(err, errlen, "%s: %s", command, strerror(-rc));
		return rc;
	}
	rc = godwit_result_wait(c, &res);
	if (rc)
		snprintf(err, errlen, "%s", res.error);
	else if (ret_out)
		*ret_out = json_object_get(res.ret);
	godwit_result_release(&res);
	return rc;
}

/* Milliseconds from now until until (CLOCK_MONOTONIC ns), rounded up. */
static int ms_until(uint64_t until)
{
	uint64_t now = time_mono_ns();

	return until > now ? (int)((until - now + NSEC_PER_MSEC - 1) /
				   NSEC_PER_MSEC) :
			     0;
}

int godwit_next_event(struct godwit_conn *c, int timeout_ms,
		      struct godwit_event **event_out)
{
	uint64_t until = rpc_deadline(timeout_ms);
	struct lib_event *e;
	bool first = true;
	int rc;

	*event_out = NULL;
	for (;; first = false) {
		e = lib_event_pop(c);
		if (e) {
			*event_out = &e->ev;
			return 0;
		}
		rc = lib_conn_error(c);
		if (rc)
			return rc;
		/* Even a zero timeout reads what has arrived, once. */
		if (!first && timeout_ms >= 0 && !ms_until(until))
			return -ETIMEDOUT;
		run_once(c, timeout_ms < 0 ? -1 : ms_until(until));
	}
}

void godwit_event_free(struct godwit_event *event)
{
	struct lib_event *e = (struct lib_event *)event;

	if (!e)
		return;
	json_object_put(e->msg);
	free(e);
}
