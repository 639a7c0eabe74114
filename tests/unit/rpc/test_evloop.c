/*
 * Unit tests of the event loop: fd callbacks and their safe removal,
 * one-shot and periodic timers, calls queued from other threads, stop.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/clock.h"
#include "common/evloop.h"

struct pipe_watch {
	int rfd, wfd;
	int calls;
	bool remove_self;
	struct pipe_watch *victim; /* removed by this one's callback */
};

static void pipe_open(struct pipe_watch *w)
{
	int p[2];

	assert_int_equal(pipe(p), 0);
	memset(w, 0, sizeof(*w));
	w->rfd = p[0];
	w->wfd = p[1];
	assert_int_equal(write(w->wfd, "x", 1), 1);
}

static void pipe_close(struct pipe_watch *w)
{
	if (w->rfd >= 0)
		close(w->rfd);
	close(w->wfd);
}

static void pipe_cb(struct evloop *loop, int fd, uint32_t events, void *opaque)
{
	struct pipe_watch *w = opaque;

	assert_true(events & EVLOOP_IN);
	assert_int_equal(fd, w->rfd);
	w->calls++;
	if (w->victim) {
		assert_int_equal(evloop_del_fd(loop, w->victim->rfd), 0);
		close(w->victim->rfd);
		w->victim->rfd = -1;
	}
	if (w->remove_self) {
		assert_int_equal(evloop_del_fd(loop, fd), 0);
		close(fd);
		w->rfd = -1;
	}
}

static void test_fd_callback_and_self_removal(void **state)
{
	struct pipe_watch w;
	struct evloop *loop;

	assert_int_equal(evloop_new(&loop), 0);
	pipe_open(&w);
	assert_int_equal(evloop_add_fd(loop, w.rfd, EVLOOP_IN, pipe_cb, &w), 0);
	assert_int_equal(evloop_add_fd(loop, w.rfd, EVLOOP_IN, pipe_cb, &w),
			 -EEXIST);
	/* Level-triggered: called each round while data is there. */
	assert_int_equal(evloop_run_once(loop, 1000), 0);
	assert_int_equal(evloop_run_once(loop, 1000), 0);
	assert_int_equal(w.calls, 2);
	/* Stop watching output-less interest: no calls. */
	assert_int_equal(evloop_mod_fd(loop, w.rfd, 0), 0);
	assert_int_equal(evloop_run_once(loop, 10), 0);
	assert_int_equal(w.calls, 2);
	assert_int_equal(evloop_mod_fd(loop, w.rfd, EVLOOP_IN), 0);
	w.remove_self = true;
	assert_int_equal(evloop_run_once(loop, 1000), 0);
	assert_int_equal(w.calls, 3);
	assert_int_equal(w.rfd, -1);
	assert_int_equal(evloop_run_once(loop, 10), 0);
	assert_int_equal(w.calls, 3);
	assert_int_equal(evloop_del_fd(loop, 12345), -ENOENT);
	assert_int_equal(evloop_mod_fd(loop, 12345, EVLOOP_IN), -ENOENT);
	pipe_close(&w);
	evloop_free(loop);
}

/* Two fds ready in one round; whichever runs first removes the other. */
static void test_remove_other_fd_in_same_round(void **state)
{
	struct pipe_watch a, b;
	struct evloop *loop;

	assert_int_equal(evloop_new(&loop), 0);
	pipe_open(&a);
	pipe_open(&b);
	a.victim = &b;
	b.victim = &a;
	assert_int_equal(evloop_add_fd(loop, a.rfd, EVLOOP_IN, pipe_cb, &a), 0);
	assert_int_equal(evloop_add_fd(loop, b.rfd, EVLOOP_IN, pipe_cb, &b), 0);
	assert_int_equal(evloop_run_once(loop, 1000), 0);
	assert_int_equal(a.calls + b.calls, 1);
	if (a.calls)
		assert_int_equal(evloop_del_fd(loop, a.rfd), 0);
	else
		assert_int_equal(evloop_del_fd(loop, b.rfd), 0);
	pipe_close(&a);
	pipe_close(&b);
	evloop_free(loop);
}

struct timer_state {
	int fired;
	int free_after; /* free the timer itself after this many firings */
	uint64_t first_ns;
	struct evloop_timer *other; /* freed from the callback, if set */
};

static void timer_cb(struct evloop *loop, struct evloop_timer *t, void *opaque)
{
	struct timer_state *ts = opaque;

	if (!ts->fired++)
		ts->first_ns = time_mono_ns();
	if (ts->other) {
		evloop_timer_free(ts->other);
		ts->other = NULL;
	}
	if (ts->free_after && ts->fired == ts->free_after)
		evloop_timer_free(t);
}

static void run_for_ms(struct evloop *loop, int ms)
{
	uint64_t end = time_mono_ns() + (uint64_t)ms * NSEC_PER_MSEC;

	while (time_mono_ns() < end)
		assert_int_equal(evloop_run_once(loop, 5), 0);
}

static void test_one_shot_timer(void **state)
{
	struct timer_state ts = { 0 };
	struct evloop_timer *t;
	struct evloop *loop;
	uint64_t start;

	assert_int_equal(evloop_new(&loop), 0);
	assert_int_equal(evloop_timer_new(loop, timer_cb, &ts, &t), 0);
	assert_false(evloop_timer_is_armed(t));
	start = time_mono_ns();
	evloop_timer_arm(t, 30 * NSEC_PER_MSEC, 0);
	assert_true(evloop_timer_is_armed(t));
	/* Waits in epoll until the timer is due, not a busy loop. */
	while (!ts.fired)
		assert_int_equal(evloop_run_once(loop, -1), 0);
	assert_true(ts.first_ns - start >= 30 * NSEC_PER_MSEC);
	assert_false(evloop_timer_is_armed(t));
	run_for_ms(loop, 50);
	assert_int_equal(ts.fired, 1);
	/* Re-arm, then disarm before it fires. */
	evloop_timer_arm(t, 20 * NSEC_PER_MSEC, 0);
	evloop_timer_disarm(t);
	run_for_ms(loop, 40);
	assert_int_equal(ts.fired, 1);
	evloop_timer_free(t);
	evloop_free(loop);
}

static void test_periodic_timer_frees_itself(void **state)
{
	struct timer_state ts = { .free_after = 5 };
	struct evloop_timer *t;
	struct evloop *loop;

	assert_int_equal(evloop_new(&loop), 0);
	assert_int_equal(evloop_timer_new(loop, timer_cb, &ts, &t), 0);
	evloop_timer_arm(t, 0, 5 * NSEC_PER_MSEC);
	run_for_ms(loop, 150);
	assert_int_equal(ts.fired, 5);
	evloop_free(loop);
}

static void test_timer_frees_other_timer(void **state)
{
	struct timer_state a = { 0 }, b = { 0 };
	struct evloop_timer *ta, *tb;
	struct evloop *loop;

	assert_int_equal(evloop_new(&loop), 0);
	assert_int_equal(evloop_timer_new(loop, timer_cb, &a, &ta), 0);
	assert_int_equal(evloop_timer_new(loop, timer_cb, &b, &tb), 0);
	a.other = tb;
	b.other = ta;
	/* Both due in the same round: the first one frees the second. */
	evloop_timer_arm(ta, 0, 0);
	evloop_timer_arm(tb, 0, 0);
	assert_int_equal(evloop_run_once(loop, 100), 0);
	assert_int_equal(a.fired + b.fired, 1);
	evloop_timer_free(a.fired ? ta : tb);
	evloop_free(loop);
}

#define CALL_THREADS 4
#define CALLS_PER_THREAD 500

struct call_state {
	struct evloop *loop;
	pthread_t loop_thread;
	int count; /* touched by the loop thread only */
	bool wrong_thread;
};

static void count_call(struct evloop *loop, void *opaque)
{
	struct call_state *cs = opaque;

	if (!pthread_equal(pthread_self(), cs->loop_thread))
		cs->wrong_thread = true;
	if (++cs->count == CALL_THREADS * CALLS_PER_THREAD)
		evloop_stop(loop);
}

static void *caller_thread(void *arg)
{
	struct call_state *cs = arg;
	int i;

	for (i = 0; i < CALLS_PER_THREAD; i++) {
		while (evloop_call(cs->loop, count_call, cs))
			usleep(100);
	}
	return NULL;
}

static void test_calls_from_other_threads(void **state)
{
	struct call_state cs = { 0 };
	pthread_t th[CALL_THREADS];
	int i;

	assert_int_equal(evloop_new(&cs.loop), 0);
	cs.loop_thread = pthread_self();
	for (i = 0; i < CALL_THREADS; i++)
		assert_int_equal(
			pthread_create(&th[i], NULL, caller_thread, &cs), 0);
	assert_int_equal(evloop_run(cs.loop), 0);
	for (i = 0; i < CALL_THREADS; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(cs.count, CALL_THREADS * CALLS_PER_THREAD);
	assert_false(cs.wrong_thread);
	evloop_free(cs.loop);
}

static void *stopper_thread(void *arg)
{
	usleep(20000);
	evloop_stop(arg);
	return NULL;
}

static void test_stop(void **state)
{
	struct evloop *loop;
	pthread_t th;

	assert_int_equal(evloop_new(&loop), 0);
	/* A stop requested before run makes run return at once. */
	evloop_stop(loop);
	assert_int_equal(evloop_run(loop), 0);
	/* From another thread while blocked in epoll. */
	assert_int_equal(pthread_create(&th, NULL, stopper_thread, loop), 0);
	assert_int_equal(evloop_run(loop), 0);
	pthread_join(th, NULL);
	/* A wakeup alone only ends one wait. */
	evloop_wakeup(loop);
	assert_int_equal(evloop_run_once(loop, 1000), 0);
	evloop_free(loop);
}

static void never_call(struct evloop *loop, void *opaque)
{
	fail();
}

static void test_free_drops_queued_calls(void **state)
{
	struct evloop *loop;

	assert_int_equal(evloop_new(&loop), 0);
	assert_int_equal(evloop_call(loop, never_call, NULL), 0);
	evloop_free(loop);
	evloop_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fd_callback_and_self_removal),
		cmocka_unit_test(test_remove_other_fd_in_same_round),
		cmocka_unit_test(test_one_shot_timer),
		cmocka_unit_test(test_periodic_timer_frees_itself),
		cmocka_unit_test(test_timer_frees_other_timer),
		cmocka_unit_test(test_calls_from_other_threads),
		cmocka_unit_test(test_stop),
		cmocka_unit_test(test_free_drops_queued_calls),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
