/*
 * The daemon's non-blocking client of one VMM control socket.
 *
 * On open we send qmp_capabilities straight away, behind which any
 * command may be queued: the VMM reads its socket in order, greets
 * first, and answers each command by id. Replies are matched to pending
 * commands by id; a reply nobody waits for (its command timed out) is
 * dropped.
 *
 * Lifetime: every callback runs inside a dispatch bracket (depth). A
 * vmlink_free from inside one only marks the link; the memory goes when
 * the outermost bracket closes, so code on the stack never touches
 * freed memory. After any callback the link may be down: loops check.
 */
#include "toolstack/daemon/vmlink.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "rpc/outq.h"
#include "rpc/proto.h"
#include "rpc/reader.h"
#include "rpc/sock.h"

#define VL_CHUNK (64 * KIB)
#define VL_READS_PER_WAKEUP 16
#define VL_OUTQ_LIMIT (1 * MIB)

struct vl_pending {
	struct vl_pending *next;
	uint64_t id;
	uint64_t deadline_ns; /* 0: none */
	vmlink_reply_fn fn;
	void *opaque;
};

enum vl_state {
	VL_CONNECTING, /* greeting and capabilities not answered yet */
	VL_UP,
	VL_DOWN, /* socket closed; only the memory remains */
};

struct vmlink {
	struct evloop *loop;
	int fd;
	const struct vmlink_ops *ops;
	void *opaque;
	enum vl_state state;
	struct rpc_reader reader;
	struct rpc_outq outq;
	uint32_t events;
	uint64_t next_id;
	uint64_t caps_id;
	struct vl_pending *pending;
	struct evloop_timer *timer;
	char *rbuf;
	unsigned int depth;
	bool freed;
};

static void vl_enter(struct vmlink *l)
{
	l->depth++;
}

static void vl_release(struct vmlink *l)
{
	evloop_timer_free(l->timer);
	rpc_reader_destroy(&l->reader);
	rpc_outq_destroy(&l->outq);
	free(l->rbuf);
	free(l);
}

static void vl_leave(struct vmlink *l)
{
	if (--l->depth == 0 && l->freed)
		vl_release(l);
}

static void vl_err_set(struct vmlink_err *e, const char *cls, const char *desc)
{
	snprintf(e->cls, sizeof(e->cls), "%s", cls);
	snprintf(e->desc, sizeof(e->desc), "%s", desc);
}

/* Answer every pending command with rc; each is unlinked first. */
static void vl_fail_all(struct vmlink *l, int rc, const char *why)
{
	struct vmlink_err err;
	struct vl_pending *p;

	vl_err_set(&err, "", why);
	while ((p = l->pending)) {
		l->pending = p->next;
		if (p->fn)
			p->fn(p->opaque, rc, NULL, &err);
		free(p);
	}
}

static void vl_close(struct vmlink *l)
{
	if (l->state == VL_DOWN)
		return;
	l->state = VL_DOWN;
	evloop_del_fd(l->loop, l->fd);
	close(l->fd);
	l->fd = -1;
	evloop_timer_disarm(l->timer);
}

/* The connection is gone: tell the pending commands, then the owner. */
static void vl_down(struct vmlink *l, const char *why)
{
	if (l->state == VL_DOWN)
		return;
	vl_close(l);
	vl_fail_all(l, -ECONNRESET, why);
	if (!l->freed)
		l->ops->down(l, l->opaque, why);
}

static int vl_flush(struct vmlink *l)
{
	uint32_t want;
	int rc;

	rc = rpc_outq_flush(&l->outq, l->fd);
	if (rc && rc != -EAGAIN)
		return rc;
	want = EVLOOP_IN | (rc == -EAGAIN ? EVLOOP_OUT : 0);
	if (want != l->events && !evloop_mod_fd(l->loop, l->fd, want))
		l->events = want;
	return 0;
}

/* fd (taken, -1: none) goes with the command's first byte. */
static int vl_send(struct vmlink *l, const char *command,
		   struct json_object *args, uint64_t id, int fd)
{
	size_t len;
	char *buf;
	int rc;

	rc = rpc_command_serialize(command, args, id, &buf, &len);
	if (rc) {
		if (fd >= 0)
			close(fd);
		return rc;
	}
	rc = rpc_outq_push(&l->outq, buf, len, fd);
	if (!rc)
		rc = vl_flush(l);
	return rc;
}

static void vl_arm(struct vmlink *l)
{
	uint64_t first = 0, now = time_mono_ns();
	struct vl_pending *p;

	for (p = l->pending; p; p = p->next)
		if (p->deadline_ns && (!first || p->deadline_ns < first))
			first = p->deadline_ns;
	if (!first)
		evloop_timer_disarm(l->timer);
	else
		evloop_timer_arm(l->timer, first > now ? first - now : 0, 0);
}

static void vl_on_timer(struct evloop *loop, struct evloop_timer *t,
			void *opaque)
{
	struct vmlink *l = opaque;
	uint64_t now = time_mono_ns();
	struct vl_pending **pp, *p;
	struct vmlink_err err;

	vl_enter(l);
	vl_err_set(&err, "", "the VMM did not answer in time");
	pp = &l->pending;
	while (l->state != VL_DOWN && (p = *pp)) {
		if (!p->deadline_ns || p->deadline_ns > now) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		p->fn(p->opaque, -ETIMEDOUT, NULL, &err);
		free(p);
		pp = &l->pending; /* the callback may have changed the list */
	}
	if (l->state != VL_DOWN)
		vl_arm(l);
	vl_leave(l);
}

static struct vl_pending *vl_take(struct vmlink *l, uint64_t id)
{
	struct vl_pending **pp, *p;

	for (pp = &l->pending; (p = *pp); pp = &p->next) {
		if (p->id == id) {
			*pp = p->next;
			return p;
		}
	}
	return NULL;
}

static void vl_on_caps(struct vmlink *l, struct json_object *msg)
{
	if (json_object_object_get_ex(msg, "error", NULL)) {
		vl_down(l, "the VMM refused capabilities negotiation");
		return;
	}
	l->state = VL_UP;
	if (!l->freed)
		l->ops->up(l, l->opaque);
}

static void vl_on_reply(struct vmlink *l, struct json_object *msg, uint64_t id)
{
	struct json_object *ret = NULL, *e, *empty = NULL;
	struct vl_pending *p = vl_take(l, id);
	struct vmlink_err err = { "", "" };

	if (!p)
		return; /* its command timed out: too late */
	if (json_object_object_get_ex(msg, "error", &e)) {
		vl_err_set(&err, rpc_json_str(e, "class", ""),
			   rpc_json_str(e, "desc", ""));
		p->fn(p->opaque, -EREMOTEIO, NULL, &err);
	} else {
		json_object_object_get_ex(msg, "return", &ret);
		if (!ret)
			ret = empty = json_object_new_object();
		p->fn(p->opaque, 0, ret, &err);
		json_object_put(empty);
	}
	free(p);
	if (l->state != VL_DOWN)
		vl_arm(l);
}

static void vl_on_msg(struct vmlink *l, struct json_object *msg)
{
	struct json_object *id, *data = NULL;

	if (!json_object_is_type(msg, json_type_object)) {
		vl_down(l, "the VMM sent something that is not a message");
		return;
	}
	if (json_object_object_get_ex(msg, "event", NULL)) {
		json_object_object_get_ex(msg, "data", &data);
		if (l->state == VL_UP && !l->freed)
			l->ops->event(l, l->opaque,
				      rpc_json_str(msg, "event", ""), data);
		return;
	}
	if (json_object_object_get_ex(msg, "QMP", NULL))
		return; /* the greeting: our capabilities are on their way */
	if (!json_object_object_get_ex(msg, "id", &id) ||
	    !json_object_is_type(id, json_type_int))
		return;
	if ((uint64_t)json_object_get_int64(id) == l->caps_id &&
	    l->state == VL_CONNECTING)
		vl_on_caps(l, msg);
	else
		vl_on_reply(l, msg, json_object_get_int64(id));
}

/* Hand every complete message to vl_on_msg. */
static void vl_drain(struct vmlink *l)
{
	enum rpc_read_status st;
	struct json_object *msg;

	while (l->state != VL_DOWN) {
		msg = NULL;
		st = rpc_reader_next(&l->reader, &msg);
		if (st == RPC_READ_MORE)
			return;
		if (st == RPC_READ_BAD_UTF8)
			continue;
		if (st != RPC_READ_VALUE) {
			vl_down(l,
				"the VMM sent garbage on its control socket");
			return;
		}
		vl_on_msg(l, msg);
		json_object_put(msg);
	}
}

static void vl_read(struct vmlink *l)
{
	int fds[RPC_SOCK_FDS_MAX];
	size_t nfds, i;
	ssize_t r;
	int n;

	for (n = 0; n < VL_READS_PER_WAKEUP && l->state != VL_DOWN; n++) {
		r = rpc_sock_recv(l->fd, l->rbuf, VL_CHUNK, fds, &nfds);
		for (i = 0; r > 0 && i < nfds; i++)
			close(fds[i]); /* VMMs pass none to us */
		if (r == -EAGAIN)
			return;
		if (r <= 0) {
			vl_down(l, r ? "the control socket failed" :
				       "the VMM closed its control socket");
			return;
		}
		if (rpc_reader_push(&l->reader, l->rbuf, r)) {
			vl_down(l, "out of memory");
			return;
		}
		vl_drain(l);
	}
}

static void vl_on_io(struct evloop *loop, int fd, uint32_t events, void *opaque)
{
	struct vmlink *l = opaque;

	vl_enter(l);
	if ((events & EVLOOP_OUT) && vl_flush(l))
		vl_down(l, "cannot write to the VMM's control socket");
	if (l->state != VL_DOWN && (events & ~EVLOOP_OUT))
		vl_read(l);
	vl_leave(l);
}

static int vl_init(struct vmlink *l, struct evloop *loop, int fd)
{
	int rc;

	l->loop = loop;
	l->fd = fd;
	l->events = EVLOOP_IN;
	l->next_id = 1;
	rpc_outq_init(&l->outq, VL_OUTQ_LIMIT);
	l->rbuf = malloc(VL_CHUNK);
	if (!l->rbuf)
		return -ENOMEM;
	rc = rpc_reader_init(&l->reader, RPC_MSG_MAX);
	if (!rc)
		rc = evloop_timer_new(loop, vl_on_timer, l, &l->timer);
	if (!rc)
		rc = evloop_add_fd(loop, fd, EVLOOP_IN, vl_on_io, l);
	if (rc)
		return rc;
	l->caps_id = l->next_id++;
	return vl_send(l, "qmp_capabilities", NULL, l->caps_id, -1);
}

int vmlink_open(struct evloop *loop, const char *path,
		const struct vmlink_ops *ops, void *opaque,
		struct vmlink **l_out)
{
	struct vmlink *l;
	int fd, rc;

	fd = rpc_sock_connect(path, 0);
	if (fd < 0)
		return fd;
	l = calloc(1, sizeof(*l));
	if (!l) {
		close(fd);
		return -ENOMEM;
	}
	l->ops = ops;
	l->opaque = opaque;
	rc = vl_init(l, loop, fd);
	if (rc) {
		evloop_del_fd(loop, fd);
		close(fd);
		l->state = VL_DOWN;
		vl_release(l);
		return rc;
	}
	*l_out = l;
	return 0;
}

int vmlink_call(struct vmlink *l, const char *command, struct json_object *args,
		int timeout_ms, vmlink_reply_fn fn, void *opaque)
{
	return vmlink_call_fd(l, command, args, -1, timeout_ms, fn, opaque);
}

int vmlink_call_fd(struct vmlink *l, const char *command,
		   struct json_object *args, int fd, int timeout_ms,
		   vmlink_reply_fn fn, void *opaque)
{
	struct vl_pending *p, **pp;
	int rc;

	p = l->state == VL_DOWN || l->freed ? NULL : calloc(1, sizeof(*p));
	if (!p) {
		if (fd >= 0)
			close(fd);
		return l->state == VL_DOWN || l->freed ? -ESHUTDOWN : -ENOMEM;
	}
	p->id = l->next_id++;
	p->fn = fn;
	p->opaque = opaque;
	if (timeout_ms >= 0)
		p->deadline_ns =
			time_mono_ns() + (uint64_t)timeout_ms * NSEC_PER_MSEC;
	rc = vl_send(l, command, args, p->id, fd);
	if (rc) {
		free(p);
		return rc;
	}
	for (pp = &l->pending; *pp; pp = &(*pp)->next)
		;
	*pp = p;
	vl_arm(l);
	return 0;
}

bool vmlink_is_up(const struct vmlink *l)
{
	return l && l->state == VL_UP && !l->freed;
}

void vmlink_drain(struct vmlink *l)
{
	if (!l || l->state == VL_DOWN || l->freed)
		return;
	vl_enter(l);
	vl_read(l);
	vl_leave(l);
}

void vmlink_free(struct vmlink *l)
{
	if (!l || l->freed)
		return;
	l->freed = true;
	vl_enter(l);
	vl_close(l);
	vl_fail_all(l, -ECANCELED, "the daemon closed its link to the VMM");
	vl_leave(l);
}
