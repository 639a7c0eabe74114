/*
 * The client library's connection: a non-blocking control socket driven
 * by the application's loop (client.h). State machine:
 *
 *   GREETING --greeting--> NEGOTIATING --capabilities ok--> READY
 *       \______________________\______________________________\--> DOWN
 *
 * Commands given before READY are serialized and held, then sent behind
 * the negotiation. Each command carries a numeric id and its own
 * deadline; replies are matched by id (a late reply to an expired
 * command is dropped). Events go to the handler or the queue. Nothing
 * here blocks: reads and writes happen in godwit_conn_dispatch when the
 * application says the socket is ready.
 */
#include "toolstack/lib/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "rpc/proto.h"
#include "rpc/reader.h"
#include "rpc/sock.h"

#define LIB_CHUNK (64 * 1024)

enum conn_state {
	CONN_GREETING,
	CONN_NEGOTIATING,
	CONN_READY,
	CONN_DOWN,
};

/* A command waiting for its reply. */
struct lib_call {
	struct lib_call *next;
	uint64_t id;
	uint64_t deadline; /* CLOCK_MONOTONIC ns; 0: none */
	godwit_reply_fn fn; /* NULL: the capabilities negotiation */
	void *opaque;
	char command[48];
};

/* Bytes waiting to be written. */
struct lib_buf {
	char *data;
	size_t len, off, cap;
};

struct godwit_conn {
	int fd;
	bool daemon;
	enum conn_state state;
	int down_rc; /* once DOWN */
	char down_why[GODWIT_ERROR_MAX];
	uint64_t greet_deadline;
	struct rpc_reader reader;
	char *rbuf; /* LIB_CHUNK bytes for recv */
	struct lib_buf out; /* sent as the socket takes it */
	struct lib_buf held; /* commands waiting for READY */
	struct lib_call *calls, **calls_tail;
	uint64_t next_id;
	godwit_event_fn ev_fn;
	void *ev_opaque;
	struct json_object *queue[LIB_EVENTS_MAX]; /* event messages, a ring */
	size_t q_head, q_count;
	unsigned int depth; /* dispatches running: close waits for them */
	bool closing;
	/*
	 * An fd that goes with the next command queued (lib_pass_fd): sent
	 * in one sendmsg with its message's first bytes (pass_len of them
	 * at pass_at in held or out), and with no byte of the next message:
	 * the server gives it to the last message begun in that read
	 * (rpc/fdq.h).
	 */
	int pass_fd;
	bool pass_queued, pass_held;
	size_t pass_at, pass_len;
};

static int buf_add(struct lib_buf *b, const char *data, size_t len)
{
	char *grown;
	size_t cap;

	if (b->off == b->len)
		b->off = b->len = 0;
	if (b->len + len > b->cap) {
		cap = (b->len + len) * 2;
		grown = realloc(b->data, cap);
		if (!grown)
			return -ENOMEM;
		b->data = grown;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
	return 0;
}

static struct lib_call *call_take(struct godwit_conn *c, uint64_t id)
{
	struct lib_call **p, *k;

	for (p = &c->calls; (k = *p); p = &k->next) {
		if (k->id != id)
			continue;
		*p = k->next;
		if (c->calls_tail == &k->next)
			c->calls_tail = p;
		return k;
	}
	return NULL;
}

/* Run k's callback (and free k): rc with ret, or rc with a reason. */
static void call_finish(struct godwit_conn *c, struct lib_call *k, int rc,
			struct json_object *ret, const char *cls,
			const char *why)
{
	struct godwit_reply r = { .rc = rc,
				  .ret = rc ? NULL : ret,
				  .error_class = cls ? cls : "",
				  .error = why ? why : "" };

	if (k->fn)
		k->fn(c, &r, k->opaque);
	free(k);
}

/* What a broken connection means for a command, in one line. */
static void down_line(const struct godwit_conn *c, const char *command,
		      char *out, size_t len)
{
	if (c->down_rc == -ECONNRESET && c->daemon)
		snprintf(
			out, len,
			"%s: godwitd went away before answering (its connection closed)",
			command);
	else if (c->down_rc == -ECONNRESET)
		snprintf(out, len, "%s: the VM process went away", command);
	else
		snprintf(out, len, "%s: %s", command, c->down_why);
}

/* The connection broke: every pending command learns it now. */
static void conn_down(struct godwit_conn *c, int rc, const char *why)
{
	char line[GODWIT_ERROR_MAX];
	struct lib_call *k;

	if (c->state == CONN_DOWN)
		return;
	c->state = CONN_DOWN;
	c->down_rc = rc;
	snprintf(c->down_why, sizeof(c->down_why), "%s", why);
	while ((k = c->calls)) {
		c->calls = k->next;
		if (!c->calls)
			c->calls_tail = &c->calls;
		down_line(c, k->command, line, sizeof(line));
		call_finish(c, k, rc, NULL, "", line);
	}
}

int lib_conn_error(const struct godwit_conn *c)
{
	return c->state == CONN_DOWN ? c->down_rc : 0;
}

/* ---- sending ---- */

/*
 * How much to send next: up to the passed fd's message, then that
 * message alone with the fd.
 */
static size_t pass_limit(struct godwit_conn *c, int *fd)
{
	*fd = -1;
	if (c->pass_fd < 0 || !c->pass_queued || c->pass_held)
		return c->out.len - c->out.off;
	if (c->out.off < c->pass_at)
		return c->pass_at - c->out.off;
	*fd = c->pass_fd;
	return c->pass_len;
}

static int flush(struct godwit_conn *c)
{
	size_t len;
	ssize_t r;
	int fd;

	while (c->out.off < c->out.len) {
		len = pass_limit(c, &fd);
		r = rpc_sock_send(c->fd, c->out.data + c->out.off, len, fd);
		if (r > 0 && fd >= 0) { /* the kernel holds its own reference */
			close(c->pass_fd);
			c->pass_fd = -1;
		}
		if (r == -EAGAIN)
			return 0;
		if (r < 0) {
			conn_down(c, r == -EPIPE ? -ECONNRESET : (int)r,
				  strerror((int)-r));
			return (int)r;
		}
		c->out.off += r;
	}
	return 0;
}

static struct lib_call *call_new(struct godwit_conn *c, const char *command,
				 int timeout_ms, godwit_reply_fn fn,
				 void *opaque)
{
	struct lib_call *k = calloc(1, sizeof(*k));

	if (!k)
		return NULL;
	k->id = c->next_id++;
	k->deadline = timeout_ms < 0 ? 0 : rpc_deadline(timeout_ms);
	k->fn = fn;
	k->opaque = opaque;
	snprintf(k->command, sizeof(k->command), "%s", command);
	return k;
}

/* Serialize and queue; held until READY unless now. */
static int queue_call(struct godwit_conn *c, struct lib_call *k,
		      struct json_object *args, bool now)
{
	struct lib_buf *b;
	size_t len;
	char *text;
	int rc;

	rc = rpc_command_serialize(k->command, args, k->id, &text, &len);
	if (rc)
		return rc;
	b = now || c->state == CONN_READY ? &c->out : &c->held;
	rc = buf_add(b, text, len);
	free(text);
	if (rc)
		return rc;
	if (c->pass_fd >= 0 && !c->pass_queued && !now) {
		c->pass_queued = true;
		c->pass_held = b == &c->held;
		c->pass_at = b->len - len;
		c->pass_len = len;
	}
	k->next = NULL;
	*c->calls_tail = k;
	c->calls_tail = &k->next;
	return 0;
}

int godwit_call(struct godwit_conn *c, const char *command,
		struct json_object *args, int timeout_ms, godwit_reply_fn fn,
		void *opaque)
{
	struct lib_call *k;
	int rc;

	if (c->state == CONN_DOWN)
		return c->down_rc;
	if (!fn)
		return -EINVAL;
	k = call_new(c, command, timeout_ms, fn, opaque);
	if (!k)
		return -ENOMEM;
	rc = queue_call(c, k, args, false);
	if (rc)
		free(k);
	return rc;
}

/* ---- receiving ---- */

static void on_greeting(struct godwit_conn *c)
{
	struct lib_call *k;

	if (c->state != CONN_GREETING)
		return; /* a second greeting is noise */
	k = call_new(c, "qmp_capabilities", -1, NULL, NULL);
	if (!k || queue_call(c, k, NULL, true)) {
		free(k);
		conn_down(c, -ENOMEM, "out of memory");
		return;
	}
	c->state = CONN_NEGOTIATING;
}

static void on_negotiated(struct godwit_conn *c, struct json_object *err)
{
	char why[GODWIT_ERROR_MAX];

	if (err) {
		snprintf(why, sizeof(why),
			 "the server refused the capabilities negotiation: %s",
			 rpc_json_str(err, "desc", ""));
		conn_down(c, -EPROTO, why);
		return;
	}
	c->state = CONN_READY;
	if (buf_add(&c->out, c->held.data + c->held.off,
		    c->held.len - c->held.off))
		conn_down(c, -ENOMEM, "out of memory");
	if (c->pass_held) { /* held's bytes now end out */
		c->pass_at = c->out.len - (c->held.len - c->pass_at);
		c->pass_held = false;
	}
	c->held.off = c->held.len = 0;
}

static void on_reply(struct godwit_conn *c, struct json_object *msg)
{
	struct json_object *jid, *err = NULL, *ret = NULL;
	struct lib_call *k;

	if (!json_object_object_get_ex(msg, "id", &jid) ||
	    !json_object_is_type(jid, json_type_int))
		return;
	k = call_take(c, json_object_get_uint64(jid));
	if (!k)
		return; /* late: its command timed out */
	json_object_object_get_ex(msg, "error", &err);
	json_object_object_get_ex(msg, "return", &ret);
	if (!k->fn) {
		free(k);
		on_negotiated(c, err);
		return;
	}
	if (err)
		call_finish(c, k, -EREMOTEIO, NULL,
			    rpc_json_str(err, "class", ""),
			    rpc_json_str(err, "desc", ""));
	else
		call_finish(c, k, 0, ret, "", "");
}

static void queue_event(struct godwit_conn *c, struct json_object *msg)
{
	size_t tail;

	if (c->q_count == LIB_EVENTS_MAX) {
		json_object_put(c->queue[c->q_head]);
		c->q_head = (c->q_head + 1) % LIB_EVENTS_MAX;
		c->q_count--;
	}
	tail = (c->q_head + c->q_count) % LIB_EVENTS_MAX;
	c->queue[tail] = json_object_get(msg);
	c->q_count++;
}

static void on_event(struct godwit_conn *c, struct json_object *msg)
{
	char domain[GODWIT_DOMAIN_MAX];
	struct godwit_event *e;

	if (!c->ev_fn) {
		queue_event(c, msg);
		return;
	}
	e = malloc(sizeof(*e)); /* large: the typed views are a union */
	if (!e)
		return;
	lib_event_from_msg(msg, e, domain, sizeof(domain));
	c->ev_fn(c, e, c->ev_opaque);
	free(e);
}

static void on_message(struct godwit_conn *c, struct json_object *msg)
{
	if (!json_object_is_type(msg, json_type_object))
		return;
	if (json_object_object_get_ex(msg, "QMP", NULL))
		on_greeting(c);
	else if (json_object_object_get_ex(msg, "event", NULL))
		on_event(c, msg);
	else if (json_object_object_get_ex(msg, "return", NULL) ||
		 json_object_object_get_ex(msg, "error", NULL))
		on_reply(c, msg);
}

/* Take the complete messages read so far, stopping if c is closed. */
static void parse(struct godwit_conn *c)
{
	struct json_object *msg;
	enum rpc_read_status st;
	char why[128];

	while (c->state != CONN_DOWN && !c->closing) {
		st = rpc_reader_next(&c->reader, &msg);
		if (st == RPC_READ_MORE)
			return;
		if (st == RPC_READ_BAD_UTF8)
			continue;
		if (st != RPC_READ_VALUE) {
			snprintf(why, sizeof(why), "the server sent %s",
				 st == RPC_READ_TOO_BIG ?
					 "a message over 1 MiB" :
					 "something that is not JSON");
			conn_down(c, -EPROTO, why);
			return;
		}
		on_message(c, msg);
		json_object_put(msg);
	}
}

static void receive(struct godwit_conn *c)
{
	int fds[RPC_SOCK_FDS_MAX];
	size_t nfds = 0, i;
	ssize_t r;

	r = rpc_sock_recv(c->fd, c->rbuf, LIB_CHUNK, fds, &nfds);
	for (i = 0; i < nfds; i++)
		close(fds[i]); /* no command of ours takes one */
	if (r == -EAGAIN)
		return;
	if (r == 0) {
		conn_down(c, -ECONNRESET, "the server closed the connection");
		return;
	}
	if (r < 0) {
		conn_down(c, (int)r, strerror((int)-r));
		return;
	}
	if (rpc_reader_push(&c->reader, c->rbuf, r)) {
		conn_down(c, -ENOMEM, "out of memory");
		return;
	}
	parse(c);
}

/* ---- deadlines ---- */

static void expire(struct godwit_conn *c, uint64_t now)
{
	char why[GODWIT_ERROR_MAX];
	struct lib_call *k, **p;

	if (c->state < CONN_READY && now >= c->greet_deadline) {
		conn_down(c, -EPROTO,
			  "the server did not greet and negotiate within 5 s");
		return;
	}
	for (p = &c->calls; (k = *p) && !c->closing;) {
		if (!k->deadline || now < k->deadline) {
			p = &k->next;
			continue;
		}
		*p = k->next;
		if (c->calls_tail == &k->next)
			c->calls_tail = p;
		snprintf(why, sizeof(why), "%s: no answer in time", k->command);
		call_finish(c, k, -ETIMEDOUT, NULL, "", why);
		p = &c->calls; /* the callback may have changed the list */
	}
}

int godwit_conn_timeout(const struct godwit_conn *c)
{
	uint64_t next = 0, now = time_mono_ns();
	const struct lib_call *k;

	if (c->state == CONN_DOWN)
		return -1;
	if (c->state < CONN_READY)
		next = c->greet_deadline;
	for (k = c->calls; k; k = k->next)
		if (k->deadline && (!next || k->deadline < next))
			next = k->deadline;
	if (!next)
		return -1;
	if (next <= now)
		return 0;
	return (int)((next - now + NSEC_PER_MSEC - 1) / NSEC_PER_MSEC);
}

/* ---- the application's side ---- */

static void conn_free(struct godwit_conn *c)
{
	conn_down(c, -ECANCELED, "the connection was closed");
	while (c->q_count) {
		json_object_put(c->queue[c->q_head]);
		c->q_head = (c->q_head + 1) % LIB_EVENTS_MAX;
		c->q_count--;
	}
	rpc_reader_destroy(&c->reader);
	free(c->rbuf);
	free(c->out.data);
	free(c->held.data);
	if (c->pass_fd >= 0)
		close(c->pass_fd);
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

void lib_pass_fd_drop(struct godwit_conn *c)
{
	if (c->pass_fd >= 0 && !c->pass_queued) {
		close(c->pass_fd);
		c->pass_fd = -1;
	}
}

int lib_pass_fd(struct godwit_conn *c, int fd)
{
	if (c->pass_fd >= 0)
		return -EBUSY;
	c->pass_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	c->pass_queued = false;
	return c->pass_fd < 0 ? -errno : 0;
}

int godwit_conn_dispatch(struct godwit_conn *c, short revents)
{
	int rc;

	c->depth++;
	if (c->state != CONN_DOWN && (revents & POLLOUT))
		flush(c);
	if (c->state != CONN_DOWN && (revents & (POLLIN | POLLHUP | POLLERR)))
		receive(c);
	if (c->state != CONN_DOWN && !c->closing)
		flush(c);
	if (c->state != CONN_DOWN && !c->closing)
		expire(c, time_mono_ns());
	c->depth--;
	rc = lib_conn_error(c);
	if (c->closing && !c->depth) {
		conn_free(c);
		return -ECANCELED;
	}
	return rc;
}

int godwit_conn_fd(const struct godwit_conn *c)
{
	return c->fd;
}

short godwit_conn_events(const struct godwit_conn *c)
{
	if (c->state == CONN_DOWN)
		return 0;
	return POLLIN | (c->out.off < c->out.len ? POLLOUT : 0);
}

bool godwit_conn_is_daemon(const struct godwit_conn *c)
{
	return c->daemon;
}

void godwit_set_event_handler(struct godwit_conn *c, godwit_event_fn fn,
			      void *opaque)
{
	c->ev_fn = fn;
	c->ev_opaque = opaque;
}

struct lib_event *lib_event_pop(struct godwit_conn *c)
{
	struct lib_event *e;

	if (!c->q_count)
		return NULL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->msg = c->queue[c->q_head];
	c->q_head = (c->q_head + 1) % LIB_EVENTS_MAX;
	c->q_count--;
	lib_event_from_msg(e->msg, &e->ev, e->domain, sizeof(e->domain));
	return e;
}

void godwit_conn_close(struct godwit_conn *c)
{
	if (!c)
		return;
	if (c->depth) {
		c->closing = true; /* freed when the dispatch returns */
		return;
	}
	conn_free(c);
}

/* A connection on socket path; daemon says which kind of peer it is. */
int lib_conn_open(const char *path, bool daemon, struct godwit_conn **c_out)
{
	struct godwit_conn *c;
	int fd, rc;

	fd = rpc_sock_connect(path, LIB_CONNECT_MS);
	if (fd < 0)
		return fd;
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->fd = fd;
	c->pass_fd = -1;
	c->daemon = daemon;
	c->next_id = 1;
	c->calls_tail = &c->calls;
	c->greet_deadline = rpc_deadline(LIB_GREETING_MS);
	c->rbuf = malloc(LIB_CHUNK);
	rc = c->rbuf ? rpc_reader_init(&c->reader, RPC_MSG_MAX) : -ENOMEM;
	if (rc) {
		free(c->rbuf);
		close(fd);
		free(c);
		return rc;
	}
	*c_out = c;
	return 0;
}
