/*
 * Blocking control protocol client. Commands carry increasing numeric
 * ids; replies with another id (late answers to timed-out commands) are
 * skipped. The socket is non-blocking and every wait is a poll bounded
 * by a deadline, so no call hangs longer than its timeout.
 */
#include "client.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "rpc/fdq.h"
#include "rpc/reader.h"
#include "rpc/sock.h"

#define RPC_CLIENT_CHUNK (64 * KIB)

struct rpc_client {
	int fd;
	int timeout_ms;
	uint64_t next_id;
	int broken; /* sticky -errno once the stream is unusable */
	struct rpc_reader reader;
	struct rpc_fdq fdq;
	char *buf; /* RPC_CLIENT_CHUNK bytes for recv */
	struct json_object *greeting;
	struct json_object *events[RPC_CLIENT_EVENTS_MAX]; /* ring */
	size_t ev_head, ev_count;
};

/* One message from the server with the fds that came with it. */
struct client_msg {
	struct json_object *obj;
	int fds[RPC_FDQ_MAX];
	size_t nfds;
};

static void msg_release(struct client_msg *m)
{
	size_t i;

	json_object_put(m->obj);
	m->obj = NULL;
	for (i = 0; i < m->nfds; i++)
		close(m->fds[i]);
	m->nfds = 0;
}

static int client_fail(struct rpc_client *c, int rc)
{
	if (!c->broken)
		c->broken = rc;
	return rc;
}

/* Receive more bytes (and fds) within the deadline. */
static int client_recv(struct rpc_client *c, uint64_t deadline)
{
	int fds[RPC_SOCK_FDS_MAX];
	size_t nfds, i;
	ssize_t r;
	int rc;

	for (;;) {
		r = rpc_sock_recv(c->fd, c->buf, RPC_CLIENT_CHUNK, fds, &nfds);
		if (r != -EAGAIN)
			break;
		rc = rpc_sock_wait(c->fd, POLLIN, deadline);
		if (rc)
			return rc;
	}
	if (r < 0)
		return client_fail(c, (int)r);
	if (r == 0)
		return client_fail(c, -ECONNRESET);
	for (i = 0; i < nfds; i++) {
		if (rpc_fdq_push(&c->fdq, fds[i],
				 rpc_reader_end(&c->reader) + r))
			log_warn("rpc: server passed too many fds");
	}
	if (rpc_reader_push(&c->reader, c->buf, r))
		return client_fail(c, -ENOMEM);
	return 0;
}

static const char *const read_errors[] = {
	[RPC_READ_BAD_UTF8] = "not UTF-8",
	[RPC_READ_SYNTAX] = "not JSON",
	[RPC_READ_TOO_BIG] = "too large",
};

/* Read the next whole message from the server. */
static int client_read_msg(struct rpc_client *c, uint64_t deadline,
			   struct client_msg *m)
{
	enum rpc_read_status st;
	const char *ahead;
	size_t ahead_len;
	int rc;

	m->obj = NULL;
	m->nfds = 0;
	for (;;) {
		if (c->broken)
			return c->broken;
		st = rpc_reader_next(&c->reader, &m->obj);
		if (st == RPC_READ_VALUE)
			break;
		if (st != RPC_READ_MORE) {
			log_err("rpc: bad message from server: %s",
				read_errors[st]);
			return client_fail(c, -EPROTO);
		}
		rc = client_recv(c, deadline);
		if (rc)
			return rc;
	}
	ahead = rpc_reader_ahead(&c->reader, &ahead_len);
	m->nfds = rpc_fdq_claim(&c->fdq, c->reader.value_start, c->reader.pos,
				ahead, ahead_len, m->fds);
	if (!json_object_is_type(m->obj, json_type_object)) {
		msg_release(m);
		return client_fail(c, -EPROTO);
	}
	return 0;
}

static void event_push(struct rpc_client *c, struct json_object *ev)
{
	size_t tail;

	if (c->ev_count == RPC_CLIENT_EVENTS_MAX) {
		log_warn("rpc: event queue full; oldest event dropped");
		json_object_put(c->events[c->ev_head]);
		c->ev_head = (c->ev_head + 1) % RPC_CLIENT_EVENTS_MAX;
		c->ev_count--;
	}
	tail = (c->ev_head + c->ev_count) % RPC_CLIENT_EVENTS_MAX;
	c->events[tail] = ev;
	c->ev_count++;
}

static struct json_object *event_pop(struct rpc_client *c)
{
	struct json_object *ev;

	if (!c->ev_count)
		return NULL;
	ev = c->events[c->ev_head];
	c->ev_head = (c->ev_head + 1) % RPC_CLIENT_EVENTS_MAX;
	c->ev_count--;
	return ev;
}

/* Queue m if it is an event (taking it); true if it was. */
static bool msg_take_event(struct rpc_client *c, struct client_msg *m)
{
	if (!json_object_object_get_ex(m->obj, "event", NULL))
		return false;
	event_push(c, m->obj);
	m->obj = NULL;
	msg_release(m);
	return true;
}

/* Is m the reply to command id? */
static bool msg_is_reply_to(struct client_msg *m, uint64_t id)
{
	struct json_object *jid;

	if (!json_object_object_get_ex(m->obj, "return", NULL) &&
	    !json_object_object_get_ex(m->obj, "error", NULL))
		return false;
	if (!json_object_object_get_ex(m->obj, "id", &jid) ||
	    !json_object_is_type(jid, json_type_int))
		return false;
	return json_object_get_uint64(jid) == id;
}

/* Fill res from reply m (its return value and first fd are taken). */
static int result_fill(struct client_msg *m, struct rpc_result *res)
{
	struct json_object *err;

	if (json_object_object_get_ex(m->obj, "error", &err)) {
		snprintf(res->err_class, sizeof(res->err_class), "%s",
			 rpc_json_str(err, "class", ""));
		snprintf(res->err_desc, sizeof(res->err_desc), "%s",
			 rpc_json_str(err, "desc", ""));
		msg_release(m);
		return -EREMOTEIO;
	}
	json_object_object_get_ex(m->obj, "return", &res->ret);
	json_object_get(res->ret);
	if (m->nfds) {
		res->fd = m->fds[0];
		memmove(m->fds, m->fds + 1, --m->nfds * sizeof(int));
	}
	msg_release(m);
	return 0;
}

static int wait_reply(struct rpc_client *c, uint64_t id, uint64_t deadline,
		      struct rpc_result *res)
{
	struct client_msg m;
	int rc;

	for (;;) {
		rc = client_read_msg(c, deadline, &m);
		if (rc)
			return rc;
		if (msg_take_event(c, &m))
			continue;
		if (msg_is_reply_to(&m, id))
			return result_fill(&m, res);
		msg_release(&m); /* late reply, or stray greeting */
	}
}

/* Write all of buf, fd going with the first byte. */
static int send_all(struct rpc_client *c, const char *buf, size_t len, int fd,
		    uint64_t deadline)
{
	size_t off = 0;
	ssize_t r;
	int rc;

	while (off < len) {
		r = rpc_sock_send(c->fd, buf + off, len - off, off ? -1 : fd);
		if (r == -EAGAIN) {
			rc = rpc_sock_wait(c->fd, POLLOUT, deadline);
			if (rc)
				return off ? client_fail(c, rc) : rc;
			continue;
		}
		/* Either way the server is gone. */
		if (r == -EPIPE)
			r = -ECONNRESET;
		if (r < 0)
			return client_fail(c, (int)r);
		off += r;
	}
	return 0;
}

/*
 * Commands are sent without the trailing newline: the fd passed with a
 * command must arrive with the command's last bytes (see fdq.h).
 */
static int send_command(struct rpc_client *c, const char *command,
			struct json_object *args, int fd, uint64_t id,
			uint64_t deadline)
{
	size_t len;
	char *buf;
	int rc;

	rc = rpc_command_serialize(command, args, id, &buf, &len);
	if (rc)
		return rc;
	rc = send_all(c, buf, len - 2, fd, deadline);
	free(buf);
	return rc;
}

static void result_init(struct rpc_result *res)
{
	res->ret = NULL;
	res->fd = -1;
	res->err_class[0] = 0;
	res->err_desc[0] = 0;
}

void rpc_result_release(struct rpc_result *res)
{
	json_object_put(res->ret);
	if (res->fd >= 0)
		close(res->fd);
	result_init(res);
}

static int execute_until(struct rpc_client *c, const char *command,
			 struct json_object *args, int fd, uint64_t deadline,
			 struct rpc_result *res)
{
	uint64_t id = c->next_id++;
	int rc;

	result_init(res);
	if (c->broken)
		return c->broken;
	rc = send_command(c, command, args, fd, id, deadline);
	if (rc)
		return rc;
	return wait_reply(c, id, deadline, res);
}

int rpc_client_execute(struct rpc_client *c, const char *command,
		       struct json_object *args, int fd,
		       struct rpc_result *res_out)
{
	return execute_until(c, command, args, fd, rpc_deadline(c->timeout_ms),
			     res_out);
}

int rpc_client_next_event(struct rpc_client *c, int timeout_ms,
			  struct json_object **event_out)
{
	uint64_t deadline = rpc_deadline(timeout_ms);
	struct client_msg m;
	int rc;

	/* With a zero timeout recv still runs once: arrived bytes count. */
	while (!(*event_out = event_pop(c))) {
		rc = client_read_msg(c, deadline, &m);
		if (rc)
			return rc;
		if (!msg_take_event(c, &m))
			msg_release(&m);
	}
	return 0;
}

/* The first message must be the greeting. */
static int read_greeting(struct rpc_client *c, uint64_t deadline)
{
	struct client_msg m;
	int rc;

	rc = client_read_msg(c, deadline, &m);
	if (rc)
		return rc;
	if (!json_object_object_get_ex(m.obj, "QMP", NULL)) {
		msg_release(&m);
		return client_fail(c, -EPROTO);
	}
	c->greeting = m.obj;
	m.obj = NULL;
	msg_release(&m);
	return 0;
}

static int negotiate(struct rpc_client *c, uint64_t deadline)
{
	struct rpc_result res;
	int rc;

	rc = read_greeting(c, deadline);
	if (rc)
		return rc;
	rc = execute_until(c, "qmp_capabilities", NULL, -1, deadline, &res);
	if (rc == -EREMOTEIO)
		log_err("rpc: capabilities negotiation refused: %s",
			res.err_desc);
	rpc_result_release(&res);
	return rc == -EREMOTEIO ? -EPROTO : rc;
}

/* Set up a client on connected socket fd (taken); negotiate by deadline. */
static int client_open(int fd, uint64_t deadline,
		       struct rpc_client **client_out)
{
	struct rpc_client *c;
	int rc;

	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->fd = fd;
	c->timeout_ms = RPC_CLIENT_TIMEOUT_MS;
	c->next_id = 1;
	rpc_fdq_init(&c->fdq);
	c->buf = malloc(RPC_CLIENT_CHUNK);
	rc = c->buf ? rpc_reader_init(&c->reader, RPC_MSG_MAX) : -ENOMEM;
	if (!rc)
		rc = fd_set_nonblock(fd, true);
	if (!rc)
		rc = negotiate(c, deadline);
	if (rc) {
		rpc_client_close(c);
		return rc;
	}
	*client_out = c;
	return 0;
}

int rpc_client_open_fd(int fd, int timeout_ms, struct rpc_client **client_out)
{
	return client_open(fd, rpc_deadline(timeout_ms), client_out);
}

int rpc_client_connect(const char *path, int timeout_ms,
		       struct rpc_client **client_out)
{
	uint64_t deadline = rpc_deadline(timeout_ms);
	int fd;

	fd = rpc_sock_connect(path, timeout_ms);
	if (fd < 0)
		return fd;
	/* What is left of the timeout goes to greeting and negotiation. */
	return client_open(fd, deadline, client_out);
}

void rpc_client_close(struct rpc_client *c)
{
	struct json_object *ev;

	if (!c)
		return;
	while ((ev = event_pop(c)))
		json_object_put(ev);
	json_object_put(c->greeting);
	rpc_fdq_close_all(&c->fdq);
	rpc_reader_destroy(&c->reader);
	free(c->buf);
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

void rpc_client_set_timeout(struct rpc_client *c, int timeout_ms)
{
	c->timeout_ms = timeout_ms;
}

struct json_object *rpc_client_greeting(const struct rpc_client *c)
{
	return c->greeting;
}
