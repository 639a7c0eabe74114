/*
 * libFuzzer target for the control protocol server: the input is a
 * client's byte stream, fed to a server session (parser, negotiation,
 * dispatch, deferred replies) with a small command table, no sockets.
 *
 * Checks besides the sanitizers: every message the server sends is one
 * line holding one JSON object that our client accepts, and the output
 * does not depend on how the input was split into reads (the stream is
 * fed once whole and once in pseudo-random chunks, and both outputs must
 * be equal, except for json-c's wording of a syntax error).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rpc/proto.h"
#include "rpc/reader.h"
#include "rpc/session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_DEFERRED_MAX 8

struct sink {
	char *out; /* everything sent, concatenated */
	size_t len, cap;
	uint64_t deferred[FUZZ_DEFERRED_MAX];
	size_t ndeferred;
};

/* One line holding one object that our own client's reader accepts. */
static void check_message(const char *buf, size_t len)
{
	struct json_object *obj = NULL;
	struct rpc_reader r;

	if (len < 2 || memcmp(buf + len - 2, "\r\n", 2) ||
	    memchr(buf, '\n', len - 1))
		abort();
	if (rpc_reader_init(&r, RPC_MSG_MAX) || rpc_reader_push(&r, buf, len))
		abort();
	if (rpc_reader_next(&r, &obj) != RPC_READ_VALUE ||
	    !json_object_is_type(obj, json_type_object))
		abort();
	json_object_put(obj);
	/* Nothing but the line end may follow. */
	if (rpc_reader_next(&r, &obj) != RPC_READ_MORE ||
	    !rpc_reader_is_idle(&r))
		abort();
	rpc_reader_destroy(&r);
}

static int sink_send(void *opaque, char *buf, size_t len, int fd)
{
	struct sink *s = opaque;
	char *grown;

	if (fd >= 0)
		close(fd);
	check_message(buf, len);
	/* json-c words some syntax errors differently by chunking. */
	if (memmem(buf, len, "JSON parse error: ", 18)) {
		free(buf);
		buf = strdup("PARSE ERROR\r\n");
		if (!buf)
			abort();
		len = strlen(buf);
	}
	if (s->len + len > s->cap) {
		s->cap = (s->len + len) * 2;
		grown = realloc(s->out, s->cap);
		if (!grown)
			abort();
		s->out = grown;
	}
	memcpy(s->out + s->len, buf, len);
	s->len += len;
	free(buf);
	return 0;
}

static const struct rpc_session_ops sink_ops = { .send = sink_send };

static enum rpc_reply_kind h_echo(struct rpc_request *req,
				  struct json_object *args,
				  struct rpc_reply *reply)
{
	reply->ret = json_object_get(args);
	return RPC_REPLY_RETURN;
}

static enum rpc_reply_kind h_fail(struct rpc_request *req,
				  struct json_object *args,
				  struct rpc_reply *reply)
{
	return rpc_reply_error(reply, RPC_ERR_DEVICE_NOT_FOUND, "no device %s",
			       json_object_to_json_string(args));
}

static enum rpc_reply_kind h_defer(struct rpc_request *req,
				   struct json_object *args,
				   struct rpc_reply *reply)
{
	struct sink *s = req->opaque;

	if (s->ndeferred == FUZZ_DEFERRED_MAX)
		return rpc_reply_error(reply, RPC_ERR_GENERIC, "busy");
	s->deferred[s->ndeferred++] = req->call.seq;
	return RPC_REPLY_LATER;
}

static enum rpc_reply_kind h_take_fd(struct rpc_request *req,
				     struct json_object *args,
				     struct rpc_reply *reply)
{
	if (rpc_request_take_fd(req) != -ENOENT)
		abort(); /* no fds are ever passed here */
	return RPC_REPLY_RETURN;
}

/* Answer the deferred commands, then one of them a second time. */
static void answer_deferred(struct rpc_session *s, struct sink *sink)
{
	struct rpc_reply reply;
	size_t i;

	for (i = 0; i < sink->ndeferred; i++) {
		rpc_reply_init(&reply);
		if (i % 2) {
			rpc_reply_error(&reply, RPC_ERR_GENERIC, "failed");
			rpc_session_reply(s, sink->deferred[i], RPC_REPLY_ERROR,
					  &reply);
		} else {
			reply.ret = json_object_new_int((int)i);
			rpc_session_reply(s, sink->deferred[i],
					  RPC_REPLY_RETURN, &reply);
		}
	}
	if (sink->ndeferred) {
		rpc_reply_init(&reply);
		reply.ret = json_object_new_object();
		if (rpc_session_reply(s, sink->deferred[0], RPC_REPLY_RETURN,
				      &reply) != -ENOENT)
			abort();
	}
}

static void send_event(struct rpc_session *s)
{
	struct json_object *ev = rpc_event_new("FUZZ", NULL, 0);
	size_t len;
	char *buf;

	if (ev && !rpc_msg_serialize(ev, &buf, &len))
		rpc_session_send_event(s, buf, len);
	json_object_put(ev);
}

/* Feed data whole (chunked == false) or in pseudo-random pieces. */
static void run_session(const uint8_t *data, size_t size, bool chunked,
			struct sink *sink)
{
	struct rpc_command cmds[] = {
		{ "echo", h_echo, sink },
		{ "fail", h_fail, sink },
		{ "defer", h_defer, sink },
		{ "take-fd", h_take_fd, sink },
	};
	uint32_t rnd = (uint32_t)size * 2654435761u + 1;
	struct rpc_session s;
	size_t off = 0, n;

	if (rpc_session_init(&s, 1, cmds, ARRAY_SIZE(cmds), &sink_ops, sink) ||
	    rpc_session_greet(&s))
		abort();
	while (off < size) {
		n = size - off;
		if (chunked) {
			rnd = rnd * 1103515245u + 12345u;
			n = MIN(n, 1 + (rnd >> 16) % 64);
		}
		if (rpc_session_feed(&s, (const char *)data + off, n, NULL, 0))
			break;
		off += n;
	}
	answer_deferred(&s, sink);
	send_event(&s);
	rpc_session_destroy(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sink whole = { 0 }, pieces = { 0 };

	run_session(data, size, false, &whole);
	run_session(data, size, true, &pieces);
	if (whole.len != pieces.len ||
	    (whole.len && memcmp(whole.out, pieces.out, whole.len)))
		abort();
	free(whole.out);
	free(pieces.out);
	return 0;
}
