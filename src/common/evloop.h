/*
 * A small epoll event loop for the single-threaded owners of sockets: the
 * VMM's main thread and godwitd. One thread runs the loop and is the only
 * one that may add, change or remove fds and timers. Any thread may ask
 * the loop thread to run a function (evloop_call), wake it, or stop it.
 *
 * Callbacks run on the loop thread, one at a time, never nested. A
 * callback may remove any fd or free any timer, its own included: the
 * loop defers freeing its bookkeeping until the current dispatch round
 * ends and never calls a callback whose fd was removed meanwhile.
 */
#ifndef GODWIT_COMMON_EVLOOP_H
#define GODWIT_COMMON_EVLOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "common/compiler.h"

/* Event bits for fds; the same values as EPOLLIN, EPOLLOUT, ... */
#define EVLOOP_IN 0x001u
#define EVLOOP_OUT 0x004u
#define EVLOOP_ERR 0x008u /* always reported, need not be asked for */
#define EVLOOP_HUP 0x010u /* always reported, need not be asked for */

struct evloop;
struct evloop_timer;

/*
 * Called on the loop thread when fd has any of the requested events (or
 * an error or hangup). events holds the EVLOOP_* bits that are ready.
 */
typedef void (*evloop_fd_fn)(struct evloop *loop, int fd, uint32_t events,
			     void *opaque);
/* Called on the loop thread when a timer expires. */
typedef void (*evloop_timer_fn)(struct evloop *loop, struct evloop_timer *t,
				void *opaque);
/* Called on the loop thread on behalf of another thread (evloop_call). */
typedef void (*evloop_call_fn)(struct evloop *loop, void *opaque);

int evloop_new(struct evloop **loop_out) __must_check;
/*
 * Free the loop. Registered fds are forgotten but not closed (their
 * owners close them); timers are freed; queued calls are dropped without
 * being run. Not from inside a callback. NULL is a no-op.
 */
void evloop_free(struct evloop *loop);

/*
 * Watch fd for events (EVLOOP_IN, EVLOOP_OUT). The loop does not own fd:
 * remove it before closing it. -EEXIST if fd is already watched.
 */
int evloop_add_fd(struct evloop *loop, int fd, uint32_t events, evloop_fd_fn fn,
		  void *opaque) __must_check;
/* Change the events a watched fd waits for. -ENOENT if not watched. */
int evloop_mod_fd(struct evloop *loop, int fd, uint32_t events) __must_check;
/*
 * Stop watching fd; its callback is not called again, even for events
 * already collected in the current round. Safe from any callback,
 * including fd's own. -ENOENT if not watched.
 */
int evloop_del_fd(struct evloop *loop, int fd);

/* Create a disarmed timer. */
int evloop_timer_new(struct evloop *loop, evloop_timer_fn fn, void *opaque,
		     struct evloop_timer **timer_out) __must_check;
/*
 * Arm (or re-arm) t to fire delay_ns from now, then every period_ns if
 * period_ns is not zero. A one-shot timer is disarmed once it fired but
 * stays allocated until evloop_timer_free. Resolution is a millisecond.
 */
void evloop_timer_arm(struct evloop_timer *t, uint64_t delay_ns,
		      uint64_t period_ns);
void evloop_timer_disarm(struct evloop_timer *t);
bool evloop_timer_is_armed(const struct evloop_timer *t);
/* Disarm and free t. Safe from any callback, t's own included. NULL ok. */
void evloop_timer_free(struct evloop_timer *t);

/*
 * Thread-safe: queue fn(loop, opaque) to run on the loop thread in a
 * later round, in the order queued. -ENOMEM if the call cannot be queued.
 */
int evloop_call(struct evloop *loop, evloop_call_fn fn,
		void *opaque) __must_check;
/* Thread-safe: make a blocked evloop_run_once return soon. */
void evloop_wakeup(struct evloop *loop);
/*
 * Thread-safe: make evloop_run return after the current round. A stop
 * requested before evloop_run starts makes it return at once.
 */
void evloop_stop(struct evloop *loop);

/*
 * Wait up to timeout_ms (-1: until something happens) and dispatch one
 * round: ready fds, expired timers, queued calls. Returns 0 or -errno
 * from epoll.
 */
int evloop_run_once(struct evloop *loop, int timeout_ms) __must_check;
/* Dispatch rounds until evloop_stop; clears the stop request on return. */
int evloop_run(struct evloop *loop) __must_check;

#endif
