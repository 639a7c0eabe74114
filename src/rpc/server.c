/*
 * Control protocol server: accepts connections, moves bytes between each
 * socket and its session, and closes connections safely.
 *
 * Connection life: open (reading) -> draining (no more input; after end
 * of stream, a fatal input error or rpc_server_disconnect) -> closed.
 * A draining connection closes when its output is written and, if the
 * client only shut down its sending side, its deferred commands are
 * answered. Forced draining (errors, disconnect) gives up after
 * RPC_LINGER_MS. A connection is only freed from its own fd callback,
 * from the reaper timer or from rpc_server_free, never while a handler
 * of any connection runs: paths that find a connection broken elsewhere
 * (a full output queue while queueing an event) mark it dead and arm the
 * reaper.
 *
 * Time limits (limits.h) are checked by one timer armed for the earliest
 * moment any connection may be due; a connection found over its limit is
 * told why and closed like one that broke the protocol.
 */
#include "rpc/server.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/util.h"
#include "rpc/outq.h"
#include "rpc/sock.h"

/* Bytes read per recvmsg, and reads per wakeup (fairness). */
#define RPC_READ_CHUNK (64 * KIB)
#define RPC_READS_PER_WAKEUP 16
/* Pause after accept fails for lack of fds or memory. */
#define RPC_ACCEPT_PAUSE_MS 100

struct rpc_conn {
	struct rpc_server *srv;
	uint64_t id;
	int fd;
	struct rpc_session session;
	struct rpc_outq outq;
	uint32_t events; /* what the loop watches for now */
	bool draining; /* no more input is read */
	bool forced; /* draining for an error: pending commands are moot */
	bool dead; /* to be closed as soon as possible */
	uint64_t deadline_ns; /* forced draining gives up at this time */
	struct rpc_conn_clock clock; /* for the time limits */
	struct rpc_conn *next;
};

struct rpc_server {
	struct evloop *loop;
	const struct rpc_command *cmds;
	size_t ncmds;
	int listen_fd;
	char *path; /* socket file we created, or NULL */
	struct rpc_sock_file file;
	struct rpc_conn *conns;
	size_t nconns;
	uint64_t next_conn_id;
	struct evloop_timer *reaper;
	uint64_t reap_at_ns; /* when the reaper is armed for; 0: not armed */
	struct evloop_timer *accept_timer; /* resumes accepting after errors */
	struct rpc_limits limits;
	struct evloop_timer *limit_timer; /* judges connections (limits.h) */
	uint64_t limit_at_ns; /* when limit_timer is armed for; 0: not */
	char *rbuf; /* RPC_READ_CHUNK bytes for reads */
};

static void conn_fd_cb(struct evloop *loop, int fd, uint32_t events,
		       void *opaque);

static void reap_schedule(struct rpc_server *srv, uint64_t at_ns)
{
	uint64_t now = time_mono_ns();

	if (srv->reap_at_ns && srv->reap_at_ns <= at_ns)
		return;
	srv->reap_at_ns = at_ns;
	evloop_timer_arm(srv->reaper, at_ns > now ? at_ns - now : 0, 0);
}

/* Make sure the limits are checked no later than at_ns. */
static void limit_schedule(struct rpc_server *srv, uint64_t at_ns)
{
	uint64_t now = time_mono_ns();

	if (!at_ns || (srv->limit_at_ns && srv->limit_at_ns <= at_ns))
		return;
	srv->limit_at_ns = at_ns;
	evloop_timer_arm(srv->limit_timer, at_ns > now ? at_ns - now : 0, 0);
}

/* Mark c for closing by the reaper (it may be in use on the stack). */
static void conn_kill(struct rpc_conn *c)
{
	c->dead = true;
	reap_schedule(c->srv, time_mono_ns());
}

static void conn_update_events(struct rpc_conn *c)
{
	uint32_t want = 0;

	if (c->dead)
		return;
	if (!c->draining)
		want |= EVLOOP_IN;
	if (!rpc_outq_is_empty(&c->outq))
		want |= EVLOOP_OUT;
	if (want == c->events)
		return;
	if (evloop_mod_fd(c->srv->loop, c->fd, want)) {
		conn_kill(c);
		return;
	}
	c->events = want;
}

/* Session output: queue, and watch for writability. */
static int conn_send(void *opaque, char *buf, size_t len, int fd)
{
	struct rpc_conn *c = opaque;
	int rc;

	if (c->dead) {
		free(buf);
		if (fd >= 0)
			close(fd);
		return -ENOTCONN;
	}
	c->clock.active_ns = time_mono_ns();
	rc = rpc_outq_push(&c->outq, buf, len, fd);
	if (rc) {
		log_warn("rpc: client %llu does not read its replies; dropped",
			 (unsigned long long)c->id);
		conn_kill(c);
		return rc;
	}
	conn_update_events(c);
	return 0;
}

static const struct rpc_session_ops conn_session_ops = {
	.send = conn_send,
};

static void conn_drain(struct rpc_conn *c, bool forced)
{
	c->draining = true;
	if (forced && !c->forced) {
		c->forced = true;
		c->deadline_ns = time_mono_ns() + RPC_LINGER_MS * NSEC_PER_MSEC;
		reap_schedule(c->srv, c->deadline_ns);
	}
	conn_update_events(c);
}

static bool conn_is_done(const struct rpc_conn *c, uint64_t now)
{
	if (c->dead)
		return true;
	if (!c->draining)
		return false;
	if (c->forced && now >= c->deadline_ns)
		return true;
	return rpc_outq_is_empty(&c->outq) &&
	       (c->forced || !c->session.npending);
}

static void conn_free(struct rpc_conn *c)
{
	struct rpc_server *srv = c->srv;
	struct rpc_conn **pp;

	for (pp = &srv->conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			srv->nconns--;
			break;
		}
	}
	if (c->fd >= 0) {
		evloop_del_fd(srv->loop, c->fd);
		close(c->fd);
	}
	rpc_session_destroy(&c->session);
	rpc_outq_destroy(&c->outq);
	free(c);
}

/* After input or a reply: what the limits look at, and when next. */
static void conn_clock_update(struct rpc_conn *c)
{
	struct rpc_conn_clock *k = &c->clock;
	uint64_t due;

	k->negotiated = rpc_session_is_negotiated(&c->session);
	k->pending = c->session.npending > 0;
	if (rpc_reader_is_idle(&c->session.reader))
		k->msg_start_ns = 0;
	else if (!k->msg_start_ns)
		k->msg_start_ns = time_mono_ns();
	if (rpc_conn_judge(k, &c->srv->limits, time_mono_ns(), &due) !=
	    RPC_CONN_KEEP)
		due = time_mono_ns();
	limit_schedule(c->srv, due);
}

static int conn_new(struct rpc_server *srv, int fd, uint64_t *id_out)
{
	struct rpc_conn *c = calloc(1, sizeof(*c));
	int rc;

	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->srv = srv;
	c->id = srv->next_conn_id++;
	c->fd = -1;
	c->clock.opened_ns = c->clock.active_ns = time_mono_ns();
	rpc_outq_init(&c->outq, RPC_OUTQ_LIMIT);
	rc = rpc_session_init(&c->session, c->id, srv->cmds, srv->ncmds,
			      &conn_session_ops, c);
	if (rc)
		goto err_close;
	rc = evloop_add_fd(srv->loop, fd, EVLOOP_IN, conn_fd_cb, c);
	if (rc)
		goto err_close;
	c->fd = fd;
	c->events = EVLOOP_IN;
	c->next = srv->conns;
	srv->conns = c;
	srv->nconns++;
	rc = rpc_session_greet(&c->session);
	if (rc) {
		conn_free(c);
		return rc;
	}
	conn_clock_update(c);
	*id_out = c->id;
	return 0;

err_close:
	close(fd);
	rpc_session_destroy(&c->session);
	free(c);
	return rc;
}

/* Read what the client sent; false if the connection is finished. */
static bool conn_read(struct rpc_conn *c)
{
	int fds[RPC_SOCK_FDS_MAX];
	size_t nfds;
	ssize_t r;
	int i;

	for (i = 0; i < RPC_READS_PER_WAKEUP && !c->draining && !c->dead; i++) {
		r = rpc_sock_recv(c->fd, c->srv->rbuf, RPC_READ_CHUNK, fds,
				  &nfds);
		if (r == -EAGAIN)
			return true;
		if (r < 0)
			return false;
		if (r == 0) {
			/* End of stream: answer what was asked, then close. */
			conn_drain(c, false);
			return true;
		}
		c->clock.active_ns = time_mono_ns();
		if (rpc_session_feed(&c->session, c->srv->rbuf, r, fds, nfds))
			conn_drain(c, true);
		conn_clock_update(c);
	}
	return true;
}

static void conn_fd_cb(struct evloop *loop, int fd, uint32_t events,
		       void *opaque)
{
	struct rpc_conn *c = opaque;
	int rc;

	if (c->dead)
		goto close;
	if (events & EVLOOP_ERR)
		goto close;
	if ((events & (EVLOOP_IN | EVLOOP_HUP)) && !c->draining &&
	    !conn_read(c))
		goto close;
	rc = rpc_outq_flush(&c->outq, c->fd);
	if (rc && rc != -EAGAIN)
		goto close;
	/* Peer gone entirely: nothing more can be delivered. */
	if ((events & EVLOOP_HUP) && c->draining)
		goto close;
	if (conn_is_done(c, time_mono_ns()))
		goto close;
	conn_update_events(c);
	return;

close:
	conn_free(c);
}

/* Tell c why it is closed, try to get that out, and close it now. */
static void conn_evict(struct rpc_conn *c, const char *why)
{
	/* Best effort: it is closed whatever the flush says. */
	if (!c->dead &&
	    !rpc_session_send_error(&c->session, RPC_ERR_GENERIC, why) &&
	    rpc_outq_flush(&c->outq, c->fd))
		log_debug("rpc: client %llu did not get why it was closed",
			  (unsigned long long)c->id);
	conn_free(c);
}

/*
 * Below RPC_CONN_MAX connections, or made so by closing the one
 * rpc_conn_pick_victim names (dead and draining ones go first: they are
 * on their way out anyway). Not from a connection's own callback.
 */
static bool make_room(struct rpc_server *srv)
{
	struct rpc_conn_clock clocks[RPC_CONN_MAX * 2];
	struct rpc_conn *conns[RPC_CONN_MAX * 2], *c;
	size_t n = 0;
	int victim;

	if (srv->nconns < RPC_CONN_MAX)
		return true;
	for (c = srv->conns; c && n < ARRAY_SIZE(conns); c = c->next) {
		if (c->dead || c->draining) {
			conn_free(c);
			return true;
		}
		clocks[n] = c->clock;
		conns[n++] = c;
	}
	victim = rpc_conn_pick_victim(clocks, n);
	if (victim < 0)
		return false;
	c = conns[victim];
	log_info(
		"rpc: %zu connections: closing client %llu (idle %llu ms) to let a new one in",
		srv->nconns, (unsigned long long)c->id,
		(unsigned long long)((time_mono_ns() - c->clock.active_ns) /
				     NSEC_PER_MSEC));
	conn_evict(
		c,
		"too many connections: this idle one is closed to make room");
	return true;
}

/* The limit timer: close connections over their limits, re-arm. */
static void limit_cb(struct evloop *loop, struct evloop_timer *t, void *opaque)
{
	struct rpc_server *srv = opaque;
	uint64_t now = time_mono_ns(), next = 0, due;
	enum rpc_conn_verdict v;
	struct rpc_conn *c;

	srv->limit_at_ns = 0;
	for (c = srv->conns; c; c = c->next) {
		if (c->dead || c->draining)
			continue;
		v = rpc_conn_judge(&c->clock, &srv->limits, now, &due);
		if (v == RPC_CONN_KEEP) {
			if (due && (!next || due < next))
				next = due;
			continue;
		}
		log_info("rpc: client %llu: %s", (unsigned long long)c->id,
			 rpc_conn_verdict_text(v));
		if (rpc_session_send_error(&c->session, RPC_ERR_GENERIC,
					   rpc_conn_verdict_text(v)))
			conn_kill(c);
		else
			conn_drain(c, true);
	}
	limit_schedule(srv, next);
}

/* Out of fds or memory: stop accepting for a while, not spin. */
static void accept_pause(struct rpc_server *srv)
{
	log_warn("rpc: accept: %s; pausing", strerror(errno));
	if (!evloop_mod_fd(srv->loop, srv->listen_fd, 0))
		evloop_timer_arm(srv->accept_timer,
				 RPC_ACCEPT_PAUSE_MS * NSEC_PER_MSEC, 0);
}

static void accept_resume_cb(struct evloop *loop, struct evloop_timer *t,
			     void *opaque)
{
	struct rpc_server *srv = opaque;

	if (evloop_mod_fd(loop, srv->listen_fd, EVLOOP_IN))
		evloop_timer_arm(t, RPC_ACCEPT_PAUSE_MS * NSEC_PER_MSEC, 0);
}

static void listen_fd_cb(struct evloop *loop, int fd, uint32_t events,
			 void *opaque)
{
	struct rpc_server *srv = opaque;
	uint64_t id;
	int cfd;

	for (;;) {
		cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0 && (errno == EINTR || errno == ECONNABORTED))
			continue;
		if (cfd < 0) {
			if (errno != EAGAIN)
				accept_pause(srv);
			return;
		}
		if (!make_room(srv)) {
			log_warn(
				"rpc: %zu connections, each waiting for an answer; one refused",
				srv->nconns);
			close(cfd);
			continue;
		}
		if (conn_new(srv, cfd, &id))
			log_warn("rpc: cannot set up a new connection");
	}
}

static void reaper_cb(struct evloop *loop, struct evloop_timer *t, void *opaque)
{
	struct rpc_server *srv = opaque;
	uint64_t now = time_mono_ns(), next = 0;
	struct rpc_conn *c, *cnext;

	srv->reap_at_ns = 0;
	for (c = srv->conns; c; c = cnext) {
		cnext = c->next;
		if (conn_is_done(c, now))
			conn_free(c);
		else if (c->forced && (!next || c->deadline_ns < next))
			next = c->deadline_ns;
	}
	if (next)
		reap_schedule(srv, next);
}

int rpc_server_new(struct evloop *loop, const struct rpc_command *cmds,
		   size_t ncmds, struct rpc_server **srv_out)
{
	struct rpc_server *srv = calloc(1, sizeof(*srv));
	int rc = -ENOMEM;

	if (!srv)
		return -ENOMEM;
	srv->loop = loop;
	srv->cmds = cmds;
	srv->ncmds = ncmds;
	srv->listen_fd = -1;
	srv->next_conn_id = 1;
	srv->rbuf = malloc(RPC_READ_CHUNK);
	if (!srv->rbuf)
		goto err;
	rpc_limits_default(&srv->limits);
	rc = evloop_timer_new(loop, reaper_cb, srv, &srv->reaper);
	if (!rc)
		rc = evloop_timer_new(loop, accept_resume_cb, srv,
				      &srv->accept_timer);
	if (!rc)
		rc = evloop_timer_new(loop, limit_cb, srv, &srv->limit_timer);
	if (rc)
		goto err;
	*srv_out = srv;
	return 0;

err:
	rpc_server_free(srv);
	return rc;
}

void rpc_server_free(struct rpc_server *srv)
{
	if (!srv)
		return;
	while (srv->conns)
		conn_free(srv->conns);
	if (srv->listen_fd >= 0) {
		evloop_del_fd(srv->loop, srv->listen_fd);
		close(srv->listen_fd);
	}
	if (srv->path)
		rpc_sock_unlink(srv->path, &srv->file);
	free(srv->path);
	evloop_timer_free(srv->reaper);
	evloop_timer_free(srv->accept_timer);
	evloop_timer_free(srv->limit_timer);
	free(srv->rbuf);
	free(srv);
}

int rpc_server_listen(struct rpc_server *srv, const char *path)
{
	int fd, rc;

	if (srv->listen_fd >= 0)
		return -EBUSY;
	srv->path = strdup(path);
	if (!srv->path)
		return -ENOMEM;
	fd = rpc_sock_listen(path, &srv->file);
	if (fd < 0) {
		rc = fd;
		goto err_path;
	}
	rc = evloop_add_fd(srv->loop, fd, EVLOOP_IN, listen_fd_cb, srv);
	if (rc)
		goto err_sock;
	srv->listen_fd = fd;
	return 0;

err_sock:
	close(fd);
	rpc_sock_unlink(path, &srv->file);
err_path:
	free(srv->path);
	srv->path = NULL;
	return rc;
}

int rpc_server_add_conn(struct rpc_server *srv, int fd, uint64_t *conn_id_out)
{
	int rc;

	rc = fd_set_nonblock(fd, true);
	if (!rc)
		rc = fd_set_cloexec(fd);
	if (rc) {
		close(fd);
		return rc;
	}
	if (!make_room(srv)) {
		close(fd);
		return -EMFILE;
	}
	return conn_new(srv, fd, conn_id_out);
}

void rpc_server_set_limits(struct rpc_server *srv, const struct rpc_limits *l)
{
	srv->limits = *l;
	srv->limit_at_ns = 0;
	evloop_timer_arm(srv->limit_timer, 0, 0);
}

static struct rpc_conn *conn_find(const struct rpc_server *srv, uint64_t id)
{
	struct rpc_conn *c;

	for (c = srv->conns; c; c = c->next) {
		if (c->id == id)
			return c->dead ? NULL : c;
	}
	return NULL;
}

/* Route a deferred answer to its connection; reply's contents taken. */
static int server_reply(struct rpc_server *srv, struct rpc_call call,
			enum rpc_reply_kind kind, struct rpc_reply *reply)
{
	struct rpc_conn *c = conn_find(srv, call.conn_id);
	int rc;

	if (!c) {
		rpc_reply_release(reply);
		return -ENOTCONN;
	}
	rc = rpc_session_reply(&c->session, call.seq, kind, reply);
	/* A half-closed client may have been waiting only for this. */
	if (!rc && c->draining)
		reap_schedule(srv, time_mono_ns());
	if (!c->dead)
		conn_clock_update(c);
	return rc;
}

int rpc_server_reply(struct rpc_server *srv, struct rpc_call call,
		     struct json_object *ret, int fd)
{
	struct rpc_reply reply;

	rpc_reply_init(&reply);
	reply.ret = ret;
	reply.fd = fd;
	return server_reply(srv, call, RPC_REPLY_RETURN, &reply);
}

int rpc_server_reply_error(struct rpc_server *srv, struct rpc_call call,
			   enum rpc_err_class cls, const char *fmt, ...)
{
	struct rpc_reply reply;
	va_list ap;

	rpc_reply_init(&reply);
	va_start(ap, fmt);
	rpc_reply_verror(&reply, cls, fmt, ap);
	va_end(ap);
	return server_reply(srv, call, RPC_REPLY_ERROR, &reply);
}

void rpc_server_event(struct rpc_server *srv, const char *name,
		      struct json_object *data)
{
	struct json_object *msg = rpc_event_new(name, data, time_real_ns());
	struct rpc_conn *c;
	size_t len;
	char *buf, *copy;

	if (!msg || rpc_msg_serialize(msg, &buf, &len)) {
		log_warn("rpc: event %s could not be sent", name);
		json_object_put(msg);
		return;
	}
	json_object_put(msg);
	for (c = srv->conns; c; c = c->next) {
		if (c->dead || !rpc_session_is_negotiated(&c->session))
			continue;
		copy = malloc(len);
		if (!copy) {
			conn_kill(c); /* it would miss an event */
			continue;
		}
		memcpy(copy, buf, len);
		/* On failure conn_send has already marked c dead. */
		rpc_session_send_event(&c->session, copy, len);
	}
	free(buf);
}

void rpc_server_disconnect(struct rpc_server *srv, uint64_t conn_id)
{
	struct rpc_conn *c = conn_find(srv, conn_id);

	if (!c)
		return;
	conn_drain(c, true);
	reap_schedule(srv, time_mono_ns());
}

/* One pass writing every queue; how many still have output left. */
static size_t flush_pass(struct rpc_server *srv, struct pollfd *pfds)
{
	struct rpc_conn *c;
	size_t n = 0;
	int rc;

	for (c = srv->conns; c; c = c->next) {
		if (c->dead || rpc_outq_is_empty(&c->outq))
			continue;
		rc = rpc_outq_flush(&c->outq, c->fd);
		if (rc == -EAGAIN) {
			pfds[n].fd = c->fd;
			pfds[n].events = POLLOUT;
			n++;
		} else if (rc) {
			conn_kill(c);
		}
	}
	return n;
}

int rpc_server_flush(struct rpc_server *srv, int timeout_ms)
{
	uint64_t deadline = rpc_deadline(timeout_ms);
	struct pollfd pfds[RPC_CONN_MAX];
	struct rpc_conn *c;
	uint64_t now;
	int wait_ms;
	size_t n;

	while ((n = flush_pass(srv, pfds))) {
		now = time_mono_ns();
		if (deadline && now >= deadline)
			return -ETIMEDOUT;
		wait_ms = deadline ? (int)DIV_ROUND_UP(deadline - now,
						       NSEC_PER_MSEC) :
				     -1;
		if (poll(pfds, n, wait_ms) < 0 && errno != EINTR)
			return -errno;
	}
	/* Queues that emptied no longer need the loop to watch for output. */
	for (c = srv->conns; c; c = c->next)
		conn_update_events(c);
	return 0;
}

size_t rpc_server_conn_count(const struct rpc_server *srv)
{
	return srv->nconns;
}
