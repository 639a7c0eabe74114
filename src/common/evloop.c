/*
 * epoll event loop: fds with callbacks, timers computed into the epoll
 * timeout, and an eventfd through which other threads queue calls.
 *
 * Safe removal: epoll reports a batch of events that point at our fd
 * entries. A callback may remove any fd (or free any timer) while the
 * batch is being dispatched, so removal only marks the entry and puts it
 * on a dead list; entries are freed when the round ends. The fd-indexed
 * table is cleared at once, so the same fd number may be added again in
 * the same round without the stale events reaching the new owner.
 */
#include "common/evloop.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"

_Static_assert(EVLOOP_IN == EPOLLIN, "EVLOOP_IN matches epoll");
_Static_assert(EVLOOP_OUT == EPOLLOUT, "EVLOOP_OUT matches epoll");
_Static_assert(EVLOOP_ERR == EPOLLERR, "EVLOOP_ERR matches epoll");
_Static_assert(EVLOOP_HUP == EPOLLHUP, "EVLOOP_HUP matches epoll");

#define EVLOOP_BATCH 64

struct evloop_fd {
	int fd;
	evloop_fd_fn fn;
	void *opaque;
	bool removed;
	struct evloop_fd *next_dead;
};

struct evloop_timer {
	struct evloop *loop;
	evloop_timer_fn fn;
	void *opaque;
	uint64_t deadline_ns; /* CLOCK_MONOTONIC */
	uint64_t period_ns;
	bool armed;
	bool dead; /* freed while a round was running; swept at its end */
	struct evloop_timer *next;
};

struct evloop_callq {
	evloop_call_fn fn;
	void *opaque;
	struct evloop_callq *next;
};

struct evloop {
	int epfd;
	int wakefd;
	struct evloop_fd **fds; /* indexed by fd number */
	size_t nslots;
	struct evloop_fd *dead_fds;
	struct evloop_timer *timers;
	bool in_round;
	atomic_bool stop;
	pthread_mutex_t lock; /* protects the call queue only */
	struct evloop_callq *calls;
	struct evloop_callq **calls_tail;
};

int evloop_new(struct evloop **loop_out)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	struct evloop *loop;
	int rc;

	loop = calloc(1, sizeof(*loop));
	if (!loop)
		return -ENOMEM;
	loop->wakefd = -1;
	loop->calls_tail = &loop->calls;
	atomic_init(&loop->stop, false);
	pthread_mutex_init(&loop->lock, NULL);
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0)
		goto err_errno;
	loop->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (loop->wakefd < 0)
		goto err_errno;
	/* The wakeup eventfd is the one entry whose data.ptr is NULL. */
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->wakefd, &ev) < 0)
		goto err_errno;
	*loop_out = loop;
	return 0;

err_errno:
	rc = -errno;
	evloop_free(loop);
	return rc;
}

static void callq_free_all(struct evloop_callq *c)
{
	struct evloop_callq *next;

	for (; c; c = next) {
		next = c->next;
		free(c);
	}
}

void evloop_free(struct evloop *loop)
{
	struct evloop_timer *t, *tnext;
	struct evloop_fd *e, *enext;
	size_t i;

	if (!loop)
		return;
	for (i = 0; i < loop->nslots; i++)
		free(loop->fds[i]);
	free(loop->fds);
	for (e = loop->dead_fds; e; e = enext) {
		enext = e->next_dead;
		free(e);
	}
	for (t = loop->timers; t; t = tnext) {
		tnext = t->next;
		free(t);
	}
	callq_free_all(loop->calls);
	if (loop->wakefd >= 0)
		close(loop->wakefd);
	if (loop->epfd >= 0)
		close(loop->epfd);
	pthread_mutex_destroy(&loop->lock);
	free(loop);
}

static struct evloop_fd *fd_lookup(struct evloop *loop, int fd)
{
	if (fd < 0 || (size_t)fd >= loop->nslots)
		return NULL;
	return loop->fds[fd];
}

static int fd_slots_reserve(struct evloop *loop, int fd)
{
	struct evloop_fd **fds;
	size_t n, i;

	if ((size_t)fd < loop->nslots)
		return 0;
	n = MAX((size_t)fd + 1, loop->nslots * 2);
	fds = realloc(loop->fds, n * sizeof(*fds));
	if (!fds)
		return -ENOMEM;
	for (i = loop->nslots; i < n; i++)
		fds[i] = NULL;
	loop->fds = fds;
	loop->nslots = n;
	return 0;
}

int evloop_add_fd(struct evloop *loop, int fd, uint32_t events, evloop_fd_fn fn,
		  void *opaque)
{
	struct epoll_event ev = { .events = events };
	struct evloop_fd *e;
	int rc;

	if (fd < 0 || !fn)
		return -EINVAL;
	if (fd_lookup(loop, fd))
		return -EEXIST;
	rc = fd_slots_reserve(loop, fd);
	if (rc)
		return rc;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->fd = fd;
	e->fn = fn;
	e->opaque = opaque;
	ev.data.ptr = e;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		rc = -errno;
		free(e);
		return rc;
	}
	loop->fds[fd] = e;
	return 0;
}

int evloop_mod_fd(struct evloop *loop, int fd, uint32_t events)
{
	struct evloop_fd *e = fd_lookup(loop, fd);
	struct epoll_event ev = { .events = events };

	if (!e)
		return -ENOENT;
	ev.data.ptr = e;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
		return -errno;
	return 0;
}

int evloop_del_fd(struct evloop *loop, int fd)
{
	struct evloop_fd *e = fd_lookup(loop, fd);

	if (!e)
		return -ENOENT;
	/* Fails only if fd was closed already, which also unregistered it. */
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	loop->fds[fd] = NULL;
	if (!loop->in_round) {
		free(e);
		return 0;
	}
	e->removed = true;
	e->next_dead = loop->dead_fds;
	loop->dead_fds = e;
	return 0;
}

int evloop_timer_new(struct evloop *loop, evloop_timer_fn fn, void *opaque,
		     struct evloop_timer **timer_out)
{
	struct evloop_timer *t;

	if (!fn)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->loop = loop;
	t->fn = fn;
	t->opaque = opaque;
	/* New timers go first: a running timer round does not see them. */
	t->next = loop->timers;
	loop->timers = t;
	*timer_out = t;
	return 0;
}

void evloop_timer_arm(struct evloop_timer *t, uint64_t delay_ns,
		      uint64_t period_ns)
{
	t->deadline_ns = time_mono_ns() + delay_ns;
	t->period_ns = period_ns;
	t->armed = true;
}

void evloop_timer_disarm(struct evloop_timer *t)
{
	t->armed = false;
}

bool evloop_timer_is_armed(const struct evloop_timer *t)
{
	return t->armed;
}

static void timer_unlink(struct evloop *loop, struct evloop_timer *t)
{
	struct evloop_timer **pp;

	for (pp = &loop->timers; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			return;
		}
	}
}

void evloop_timer_free(struct evloop_timer *t)
{
	if (!t)
		return;
	t->armed = false;
	if (t->loop->in_round) {
		t->dead = true;
		return;
	}
	timer_unlink(t->loop, t);
	free(t);
}

int evloop_call(struct evloop *loop, evloop_call_fn fn, void *opaque)
{
	struct evloop_callq *c = malloc(sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->fn = fn;
	c->opaque = opaque;
	c->next = NULL;
	pthread_mutex_lock(&loop->lock);
	*loop->calls_tail = c;
	loop->calls_tail = &c->next;
	pthread_mutex_unlock(&loop->lock);
	evloop_wakeup(loop);
	return 0;
}

void evloop_wakeup(struct evloop *loop)
{
	uint64_t one = 1;

	/* EAGAIN means the counter is saturated: a wakeup is pending. */
	if (write(loop->wakefd, &one, sizeof(one)) < 0) {
		/* Nothing to do. */
	}
}

void evloop_stop(struct evloop *loop)
{
	atomic_store(&loop->stop, true);
	evloop_wakeup(loop);
}

static void wake_drain(struct evloop *loop)
{
	uint64_t v;

	if (read(loop->wakefd, &v, sizeof(v)) < 0) {
		/* EAGAIN: already drained. */
	}
}

/* Milliseconds until the next timer, rounded up; -1 if none is armed. */
static int timers_timeout_ms(struct evloop *loop, uint64_t now)
{
	uint64_t next = UINT64_MAX, ms;
	struct evloop_timer *t;

	for (t = loop->timers; t; t = t->next) {
		if (t->armed && t->deadline_ns < next)
			next = t->deadline_ns;
	}
	if (next == UINT64_MAX)
		return -1;
	if (next <= now)
		return 0;
	ms = DIV_ROUND_UP(next - now, NSEC_PER_MSEC);
	return ms > 60000 ? 60000 : (int)ms;
}

static int timeout_min(int a, int b)
{
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return MIN(a, b);
}

static void timers_dispatch(struct evloop *loop)
{
	uint64_t now = time_mono_ns();
	struct evloop_timer *t;

	for (t = loop->timers; t; t = t->next) {
		if (!t->armed || t->dead || t->deadline_ns > now)
			continue;
		if (t->period_ns) {
			t->deadline_ns += t->period_ns;
			/* Missed periods are skipped, not replayed. */
			if (t->deadline_ns <= now)
				t->deadline_ns = now + t->period_ns;
		} else {
			t->armed = false;
		}
		log_ctx_reset(); /* each callback says whose it is */
		t->fn(loop, t, t->opaque);
	}
}

static void calls_dispatch(struct evloop *loop)
{
	struct evloop_callq *c, *next;

	pthread_mutex_lock(&loop->lock);
	c = loop->calls;
	loop->calls = NULL;
	loop->calls_tail = &loop->calls;
	pthread_mutex_unlock(&loop->lock);
	for (; c; c = next) {
		next = c->next;
		log_ctx_reset(); /* each callback says whose it is */
		c->fn(loop, c->opaque);
		free(c);
	}
}

static void round_sweep(struct evloop *loop)
{
	struct evloop_timer **pp = &loop->timers, *t;
	struct evloop_fd *e;

	while ((e = loop->dead_fds)) {
		loop->dead_fds = e->next_dead;
		free(e);
	}
	while ((t = *pp)) {
		if (t->dead) {
			*pp = t->next;
			free(t);
		} else {
			pp = &t->next;
		}
	}
}

static void fds_dispatch(struct evloop *loop, struct epoll_event *evs, int n)
{
	struct evloop_fd *e;
	int i;

	for (i = 0; i < n; i++) {
		e = evs[i].data.ptr;
		if (!e) {
			wake_drain(loop);
			continue;
		}
		log_ctx_reset(); /* each callback says whose it is */
		if (!e->removed)
			e->fn(loop, e->fd, evs[i].events, e->opaque);
	}
}

int evloop_run_once(struct evloop *loop, int timeout_ms)
{
	struct epoll_event evs[EVLOOP_BATCH];
	int n, timeout;

	timeout = timeout_min(timeout_ms,
			      timers_timeout_ms(loop, time_mono_ns()));
	n = epoll_wait(loop->epfd, evs, EVLOOP_BATCH, timeout);
	if (n < 0 && errno != EINTR)
		return -errno;
	loop->in_round = true;
	if (n > 0)
		fds_dispatch(loop, evs, n);
	timers_dispatch(loop);
	calls_dispatch(loop);
	loop->in_round = false;
	round_sweep(loop);
	return 0;
}

int evloop_run(struct evloop *loop)
{
	int rc = 0;

	while (!atomic_load(&loop->stop)) {
		rc = evloop_run_once(loop, -1);
		if (rc)
			break;
	}
	atomic_store(&loop->stop, false);
	return rc;
}
