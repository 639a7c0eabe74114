/*
 * Unit tests of the control protocol without sockets: message building
 * and checking, the stream reader, fd-to-message matching, and a session
 * driven byte by byte (greeting, negotiation, ids, errors, malformed and
 * oversize input, deferred replies, events).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "rpc/fdq.h"
#include "rpc/proto.h"
#include "rpc/reader.h"
#include "rpc/session.h"

#define OUT_MAX 256

/* Everything a session sent, parsed back. */
struct capture {
	struct json_object *msgs[OUT_MAX];
	int fds[OUT_MAX];
	char *raw[OUT_MAX]; /* each message as sent, without "\r\n" */
	size_t n;
	size_t next; /* first message not looked at yet */
	int fail_with; /* make send fail with this, if non-zero */
};

struct fixture {
	struct capture cap;
	struct rpc_session s;
	struct rpc_call deferred[RPC_PENDING_MAX + 4];
	size_t ndeferred;
	int taken_fd;
};

static int capture_send(void *opaque, char *buf, size_t len, int fd)
{
	struct capture *cap = opaque;

	assert_true(len >= 2);
	assert_memory_equal(buf + len - 2, "\r\n", 2);
	/* Every message is one line. */
	assert_null(memchr(buf, '\n', len - 1));
	if (cap->fail_with) {
		free(buf);
		if (fd >= 0)
			close(fd);
		return cap->fail_with;
	}
	assert_true(cap->n < OUT_MAX);
	buf[len - 2] = 0;
	cap->msgs[cap->n] = json_tokener_parse(buf);
	assert_non_null(cap->msgs[cap->n]);
	cap->fds[cap->n] = fd;
	cap->raw[cap->n] = buf;
	cap->n++;
	return 0;
}

static const struct rpc_session_ops capture_ops = { .send = capture_send };

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
	return rpc_reply_error(reply, RPC_ERR_DEVICE_NOT_FOUND,
			       "device 'disk9'\nnot found");
}

static enum rpc_reply_kind h_defer(struct rpc_request *req,
				   struct json_object *args,
				   struct rpc_reply *reply)
{
	struct fixture *f = req->opaque;

	f->deferred[f->ndeferred++] = req->call;
	return RPC_REPLY_LATER;
}

static enum rpc_reply_kind h_take_fd(struct rpc_request *req,
				     struct json_object *args,
				     struct rpc_reply *reply)
{
	struct fixture *f = req->opaque;

	f->taken_fd = rpc_request_take_fd(req);
	if (f->taken_fd < 0)
		return rpc_reply_error(reply, RPC_ERR_GENERIC, "no fd");
	return RPC_REPLY_RETURN;
}

static enum rpc_reply_kind h_ignore_fd(struct rpc_request *req,
				       struct json_object *args,
				       struct rpc_reply *reply)
{
	return RPC_REPLY_RETURN;
}

static enum rpc_reply_kind h_big(struct rpc_request *req,
				 struct json_object *args,
				 struct rpc_reply *reply)
{
	size_t len = 2 * RPC_MSG_MAX;
	char *s = malloc(len);

	memset(s, 'z', len);
	reply->ret = json_object_new_string_len(s, (int)len);
	free(s);
	return RPC_REPLY_RETURN;
}

static struct rpc_command cmds[] = {
	{ "big", h_big, NULL },		{ "echo", h_echo, NULL },
	{ "fail", h_fail, NULL },	{ "defer", h_defer, NULL },
	{ "take-fd", h_take_fd, NULL }, { "ignore-fd", h_ignore_fd, NULL },
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cmds); i++)
		cmds[i].opaque = f;
	f->taken_fd = -1;
	assert_int_equal(rpc_session_init(&f->s, 7, cmds, ARRAY_SIZE(cmds),
					  &capture_ops, &f->cap),
			 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	size_t i;

	rpc_session_destroy(&f->s);
	rpc_session_destroy(&f->s); /* idempotent */
	for (i = 0; i < f->cap.n; i++) {
		json_object_put(f->cap.msgs[i]);
		free(f->cap.raw[i]);
		if (f->cap.fds[i] >= 0)
			close(f->cap.fds[i]);
	}
	if (f->taken_fd >= 0)
		close(f->taken_fd);
	free(f);
	return 0;
}

static bool fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static int feed(struct fixture *f, const char *text)
{
	return rpc_session_feed(&f->s, text, strlen(text), NULL, 0);
}

/* The next captured message; fails the test if there is none. */
static struct json_object *next_msg(struct fixture *f)
{
	assert_true(f->cap.next < f->cap.n);
	return f->cap.msgs[f->cap.next++];
}

static void assert_no_msg(struct fixture *f)
{
	assert_int_equal(f->cap.next, f->cap.n);
}

static const char *path_str(struct json_object *obj, const char *a,
			    const char *b)
{
	struct json_object *v = obj;

	if (a && !json_object_object_get_ex(v, a, &v))
		return NULL;
	if (b && !json_object_object_get_ex(v, b, &v))
		return NULL;
	return json_object_get_string(v);
}

static const char *plain(struct json_object *v)
{
	return json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
}

/* m carries the id id_json, or none if id_json is NULL. */
static void expect_id(struct json_object *m, const char *id_json)
{
	struct json_object *id;

	if (!id_json) {
		assert_false(json_object_object_get_ex(m, "id", NULL));
		return;
	}
	assert_true(json_object_object_get_ex(m, "id", &id));
	assert_string_equal(plain(id), id_json);
}

/* Next message is an error of class cls whose desc contains text. */
static void expect_error(struct fixture *f, const char *cls, const char *text,
			 const char *id_json)
{
	struct json_object *m = next_msg(f);

	assert_string_equal(path_str(m, "error", "class"), cls);
	assert_non_null(strstr(path_str(m, "error", "desc"), text));
	assert_null(strchr(path_str(m, "error", "desc"), '\n'));
	expect_id(m, id_json);
}

/* Next message is a return whose value serializes to ret_json. */
static void expect_return(struct fixture *f, const char *ret_json,
			  const char *id_json)
{
	struct json_object *m = next_msg(f), *v;

	assert_true(json_object_object_get_ex(m, "return", &v));
	assert_string_equal(plain(v), ret_json);
	expect_id(m, id_json);
}

/* Send the greeting and skip it. */
static void greet(struct fixture *f)
{
	assert_int_equal(rpc_session_greet(&f->s), 0);
	next_msg(f);
}

static void negotiate(struct fixture *f)
{
	greet(f);
	assert_int_equal(feed(f, "{\"execute\":\"qmp_capabilities\"}"), 0);
	expect_return(f, "{}", NULL);
}

static void test_greeting(void **state)
{
	struct fixture *f = *state;
	struct json_object *m, *qmp, *ver, *v;

	assert_int_equal(rpc_session_greet(&f->s), 0);
	m = next_msg(f);
	assert_true(json_object_object_get_ex(m, "QMP", &qmp));
	assert_true(json_object_object_get_ex(qmp, "version", &ver));
	assert_true(json_object_object_get_ex(ver, "qemu", &v));
	assert_string_equal(plain(v), "{\"major\":0,\"minor\":1,\"micro\":0}");
	assert_string_equal(path_str(ver, "package", NULL), "godwit 0.1.0");
	assert_true(json_object_object_get_ex(qmp, "capabilities", &v));
	assert_true(json_object_is_type(v, json_type_array));
	assert_int_equal(json_object_array_length(v), 0);
	assert_no_msg(f);
}

static void test_commands_need_negotiation(void **state)
{
	struct fixture *f = *state;

	greet(f);
	assert_int_equal(feed(f, "{\"execute\":\"echo\",\"id\":1}"), 0);
	expect_error(f, "CommandNotFound",
		     "Expecting capabilities negotiation with "
		     "'qmp_capabilities'",
		     "1");
	assert_int_equal(feed(f, "{\"execute\":\"query-commands\"}"), 0);
	expect_error(f, "CommandNotFound", "qmp_capabilities", NULL);
	assert_false(rpc_session_is_negotiated(&f->s));
	assert_int_equal(feed(f, "{\"execute\":\"qmp_capabilities\","
				 "\"arguments\":{\"enable\":[]},\"id\":2}"),
			 0);
	expect_return(f, "{}", "2");
	assert_true(rpc_session_is_negotiated(&f->s));
	assert_int_equal(feed(f, "{\"execute\":\"qmp_capabilities\"}"), 0);
	expect_error(f, "CommandNotFound", "already complete", NULL);
	assert_int_equal(feed(f, "{\"execute\":\"echo\",\"arguments\":{}}"), 0);
	expect_return(f, "{}", NULL);
}

static void test_capabilities_unknown(void **state)
{
	struct fixture *f = *state;

	greet(f);
	assert_int_equal(feed(f, "{\"execute\":\"qmp_capabilities\","
				 "\"arguments\":{\"enable\":[\"oob\"]}}"),
			 0);
	expect_error(f, "GenericError", "no capability", NULL);
	assert_int_equal(feed(f, "{\"execute\":\"qmp_capabilities\","
				 "\"arguments\":{\"x\":1}}"),
			 0);
	expect_error(f, "GenericError", "'x'", NULL);
	assert_false(rpc_session_is_negotiated(&f->s));
}

static void test_execute_ids(void **state)
{
	struct fixture *f = *state;

	negotiate(f);
	assert_int_equal(feed(f, "{\"execute\":\"echo\",\"arguments\":"
				 "{\"a\":[1,2]},\"id\":\"abc\"}"),
			 0);
	expect_return(f, "{\"a\":[1,2]}", "\"abc\"");
	assert_int_equal(feed(f, "{\"id\":{\"n\":5},\"execute\":\"fail\"}"), 0);
	/* The handler's newline is flattened: descriptions are one line. */
	expect_error(f, "DeviceNotFound", "device 'disk9' not found",
		     "{\"n\":5}");
	assert_int_equal(feed(f, "{\"execute\":\"nope\",\"id\":3}"), 0);
	expect_error(f, "CommandNotFound", "command 'nope' not found", "3");
	assert_int_equal(feed(f, "{\"execute\":\"query-version\",\"id\":4}"),
			 0);
	expect_return(f,
		      "{\"qemu\":{\"major\":0,\"minor\":1,\"micro\":0},"
		      "\"package\":\"godwit 0.1.0\"}",
		      "4");
	assert_int_equal(feed(f, "{\"execute\":\"query-commands\"}"), 0);
	assert_non_null(
		strstr(json_object_to_json_string(next_msg(f)), "\"take-fd\""));
}

/* Feed text one byte at a time: a value split over many reads. */
static void feed_bytewise(struct fixture *f, const char *text)
{
	size_t i;

	for (i = 0; text[i]; i++)
		assert_int_equal(rpc_session_feed(&f->s, text + i, 1, NULL, 0),
				 0);
}

/*
 * Ids come back exactly as sent, whatever number the client wrote:
 * json-c alone clamps integers beyond 64 bits and writes -0 as 0.
 */
static void test_ids_round_trip_exactly(void **state)
{
	static const char *const ids[] = {
		"18446744073709551616",
		"-9223372036854775809",
		"123456789012345678901234567890",
		"-0",
		"18446744073709551615",
		"9223372036854775807",
		"1.0000000000000000001",
		"1e400",
		"0",
		"\"12\"",
		"\"\\u0041\\/\\u00e9\"",
	};
	struct fixture *f = *state;
	char msg[256], want[128];
	const char *raw;
	size_t i;

	negotiate(f);
	for (i = 0; i < ARRAY_SIZE(ids); i++) {
		snprintf(msg, sizeof(msg),
			 "{\"id\":1,\"execute\":\"echo\",\"arguments\":"
			 "{\"id\":[7, \"}\\\"\"]}, \"\\u0069d\" : %s }",
			 ids[i]);
		if (i % 2)
			feed_bytewise(f, msg);
		else
			assert_int_equal(feed(f, msg), 0);
		raw = f->cap.raw[f->cap.next];
		next_msg(f);
		snprintf(want, sizeof(want), ",\"id\":%s}", ids[i]);
		assert_non_null(strstr(raw, want));
		assert_int_equal(strlen(strstr(raw, want)), strlen(want));
	}
	/* A raw line break in a string id (json-c takes it) is escaped:
	 * every reply stays one line (capture_send checks). */
	assert_int_equal(feed(f, "{\"execute\":\"echo\",\"id\":\"a\nb\"}"), 0);
	expect_return(f, "{}", "\"a\\nb\"");
	/* Also on an error reply, and for a command that is not one. */
	assert_int_equal(feed(f, "{\"execute\":\"nope\",\"id\":-0}"), 0);
	raw = f->cap.raw[f->cap.next];
	expect_error(f, "CommandNotFound", "nope", "0");
	assert_non_null(strstr(raw, "\"id\":-0}"));
	assert_int_equal(feed(f, "{\"id\":99999999999999999999,\"x\":1}"), 0);
	raw = f->cap.raw[f->cap.next];
	next_msg(f);
	assert_non_null(strstr(raw, "\"id\":99999999999999999999}"));
}

static void test_unknown_command_name_sanitized(void **state)
{
	struct fixture *f = *state;
	struct json_object *m;
	char big[300];

	negotiate(f);
	assert_int_equal(feed(f, "{\"execute\":\"a\\nb\\u0001c\"}"), 0);
	expect_error(f, "CommandNotFound", "'a b?c'", NULL);
	memset(big, 'x', sizeof(big));
	memcpy(big, "{\"execute\":\"", 12);
	memcpy(big + sizeof(big) - 3, "\"}", 3);
	assert_int_equal(feed(f, big), 0);
	m = next_msg(f);
	assert_true(strlen(path_str(m, "error", "desc")) < 120);
	assert_non_null(strstr(path_str(m, "error", "desc"), "..."));
	assert_int_equal(feed(f, "{\"execute\":\"echo\\u0000x\",\"id\":9}"), 0);
	expect_error(f, "GenericError", "NUL", "9");
}

static void test_error_desc_made_valid_utf8(void **state)
{
	struct fixture *f = *state;
	struct rpc_reply reply;
	const char *desc;

	negotiate(f);
	assert_int_equal(feed(f, "{\"execute\":\"defer\"}"), 0);
	rpc_reply_init(&reply);
	rpc_reply_error(&reply, RPC_ERR_GENERIC, "bad name \xe9t\xe9\r\n");
	assert_int_equal(rpc_session_reply(&f->s, f->deferred[0].seq,
					   RPC_REPLY_ERROR, &reply),
			 0);
	desc = path_str(next_msg(f), "error", "desc");
	assert_string_equal(desc, "bad name ?t?  ");
}

static void test_malformed_messages(void **state)
{
	struct fixture *f = *state;

	negotiate(f);
	assert_int_equal(feed(f, "[1,2]"), 0);
	expect_error(f, "GenericError", "not a JSON object", NULL);
	assert_int_equal(feed(f, "\"str\" 12 null "), 0);
	expect_error(f, "GenericError", "not a JSON object", NULL);
	expect_error(f, "GenericError", "not a JSON object", NULL);
	expect_error(f, "GenericError", "not a JSON object", NULL);
	assert_int_equal(feed(f, "{\"id\":1}"), 0);
	expect_error(f, "GenericError", "no member 'execute'", "1");
	assert_int_equal(feed(f, "{\"execute\":5,\"id\":2}"), 0);
	expect_error(f, "GenericError", "'execute' must be a string", "2");
	assert_int_equal(feed(f, "{\"execute\":\"echo\",\"arguments\":[],"
				 "\"id\":3}"),
			 0);
	expect_error(f, "GenericError", "'arguments' must be an object", "3");
	assert_int_equal(feed(f, "{\"execute\":\"echo\",\"bogus\":1,\"id\":4}"),
			 0);
	expect_error(f, "GenericError", "unknown member 'bogus'", "4");
	/* The stream goes on after each of those. */
	assert_int_equal(feed(f, "{\"execute\":\"echo\",\"id\":5}"), 0);
	expect_return(f, "{}", "5");
	assert_no_msg(f);
}

/* As QEMU's monitor: answered, and reading resumes at the next line. */
static void test_syntax_error_resumes_at_next_line(void **state)
{
	struct fixture *f = *state;

	negotiate(f);
	assert_int_equal(feed(f, "{\"execute\":\"echo\"} {\"execute\" 1}"
				 "{\"execute\":\"echo\",\"id\":9}\r\n"
				 "{\"execute\":\"echo\",\"id\":1}\n"),
			 0);
	expect_return(f, "{}", NULL);
	expect_error(f, "GenericError", "JSON parse error", NULL);
	/* The rest of the bad line is dropped, the next one read. */
	expect_return(f, "{}", "1");
	assert_no_msg(f);
	/* A bad line split over reads: dropped until its line break. */
	assert_int_equal(feed(f, "nonsense"), 0);
	expect_error(f, "GenericError", "JSON parse error", NULL);
	assert_int_equal(feed(f, " {\"execute\":\"echo\",\"id\":8}"), 0);
	assert_int_equal(feed(f, " more\n{\"execute\":\"echo\",\"id\":2}"), 0);
	expect_return(f, "{}", "2");
	assert_no_msg(f);
}

static void test_invalid_utf8_refused(void **state)
{
	struct fixture *f = *state;

	negotiate(f);
	/* The framing is intact, so the stream goes on. */
	assert_int_equal(feed(f, "{\"execute\":\"\xff\xfe\",\"id\":1}"
				 "{\"execute\":\"echo\",\"arguments\":"
				 "{\"\xc3\":1}}"
				 "{\"execute\":\"echo\",\"id\":2}"),
			 0);
	expect_error(f, "GenericError", "not valid UTF-8", NULL);
	expect_error(f, "GenericError", "not valid UTF-8", NULL);
	expect_return(f, "{}", "2");
	/* Bytes after a complete command do not undo it. */
	assert_int_equal(feed(f, "{\"execute\":\"echo\",\"id\":3} \xff"), 0);
	expect_return(f, "{}", "3");
	expect_error(f, "GenericError", "JSON parse error", NULL);
}

static void test_split_and_joined_input(void **state)
{
	struct fixture *f = *state;
	const char *text = " {\"execute\":\"echo\",\"id\":1}\r\n"
			   "{\"execute\":\"echo\",\"id\":2}"
			   "{\"execute\":\"echo\",\"arguments\":{\"s\":"
			   "\"\\u00e9\\\"}\"},\"id\":3}\n\n";
	size_t i;

	negotiate(f);
	for (i = 0; text[i]; i++)
		assert_int_equal(rpc_session_feed(&f->s, text + i, 1, NULL, 0),
				 0);
	expect_return(f, "{}", "1");
	expect_return(f, "{}", "2");
	expect_return(f, "{\"s\":\"\xc3\xa9\\\"}\"}", "3");
	assert_int_equal(feed(f, text), 0);
	expect_return(f, "{}", "1");
	expect_return(f, "{}", "2");
	expect_return(f, "{\"s\":\"\xc3\xa9\\\"}\"}", "3");
	assert_no_msg(f);
}

static void test_oversize_message(void **state)
{
	struct fixture *f = *state;
	size_t chunk = 64 * 1024, fed = 0;
	char *buf = malloc(chunk);
	int rc = 0;

	negotiate(f);
	memset(buf, 'a', chunk);
	assert_int_equal(
		feed(f, "{\"execute\":\"echo\",\"arguments\":{\"s\":\""), 0);
	while (!rc && fed < 4 * RPC_MSG_MAX) {
		rc = rpc_session_feed(&f->s, buf, chunk, NULL, 0);
		fed += chunk;
	}
	assert_int_equal(rc, -EMSGSIZE);
	assert_true(fed <= RPC_MSG_MAX + chunk);
	expect_error(f, "GenericError", "exceeds the limit", NULL);
	assert_no_msg(f);
	free(buf);
}

static void test_message_at_limit_passes(void **state)
{
	struct fixture *f = *state;
	const char *head = "{\"execute\":\"echo\",\"arguments\":{\"s\":\"";
	size_t len = RPC_MSG_MAX;
	char *msg = malloc(len + 1);
	struct json_object *m, *ret, *s;

	negotiate(f);
	memset(msg, 'b', len);
	memcpy(msg, head, strlen(head));
	memcpy(msg + len - 3, "\"}}", 3);
	msg[len] = 0;
	assert_int_equal(rpc_session_feed(&f->s, msg, len, NULL, 0), 0);
	m = next_msg(f);
	assert_true(json_object_object_get_ex(m, "return", &ret));
	assert_true(json_object_object_get_ex(ret, "s", &s));
	assert_int_equal(json_object_get_string_len(s), len - strlen(head) - 3);
	free(msg);
}

static void test_reply_too_large(void **state)
{
	struct fixture *f = *state;

	negotiate(f);
	assert_int_equal(feed(f, "{\"execute\":\"big\",\"id\":1}"), 0);
	expect_error(f, "GenericError", "reply exceeds", "1");
	assert_int_equal(feed(f, "{\"execute\":\"echo\"}"), 0);
	expect_return(f, "{}", NULL);
}

static void reply_deferred(struct fixture *f, size_t i, const char *val)
{
	struct rpc_reply reply;

	rpc_reply_init(&reply);
	reply.ret = json_tokener_parse(val);
	assert_int_equal(rpc_session_reply(&f->s, f->deferred[i].seq,
					   RPC_REPLY_RETURN, &reply),
			 0);
}

static void test_deferred_replies(void **state)
{
	struct fixture *f = *state;
	struct rpc_reply reply;

	negotiate(f);
	assert_int_equal(feed(f, "{\"execute\":\"defer\",\"id\":\"a\"}"
				 "{\"execute\":\"defer\",\"id\":\"b\"}"
				 "{\"execute\":\"echo\",\"id\":\"c\"}"),
			 0);
	/* Deferred commands do not hold up later ones. */
	expect_return(f, "{}", "\"c\"");
	assert_no_msg(f);
	assert_int_equal(f->ndeferred, 2);
	assert_int_equal(f->deferred[0].conn_id, 7);
	assert_true(f->deferred[0].seq != f->deferred[1].seq);
	reply_deferred(f, 1, "{\"done\":2}");
	expect_return(f, "{\"done\":2}", "\"b\"");
	rpc_reply_init(&reply);
	rpc_reply_error(&reply, RPC_ERR_GENERIC, "save failed: %s", "ENOSPC");
	assert_int_equal(rpc_session_reply(&f->s, f->deferred[0].seq,
					   RPC_REPLY_ERROR, &reply),
			 0);
	expect_error(f, "GenericError", "save failed: ENOSPC", "\"a\"");
	/* A second answer to the same command goes nowhere. */
	rpc_reply_init(&reply);
	reply.ret = json_object_new_object();
	assert_int_equal(rpc_session_reply(&f->s, f->deferred[0].seq,
					   RPC_REPLY_RETURN, &reply),
			 -ENOENT);
	assert_null(reply.ret);
	assert_no_msg(f);
}

static void test_deferred_limit(void **state)
{
	struct fixture *f = *state;
	size_t i;

	negotiate(f);
	for (i = 0; i < RPC_PENDING_MAX; i++)
		assert_int_equal(feed(f, "{\"execute\":\"defer\"}"), 0);
	assert_no_msg(f);
	assert_int_equal(feed(f, "{\"execute\":\"defer\",\"id\":1}"), 0);
	expect_error(f, "GenericError", "too many commands", "1");
	reply_deferred(f, 0, "{}");
	expect_return(f, "{}", NULL);
	assert_int_equal(feed(f, "{\"execute\":\"defer\"}"), 0);
	assert_no_msg(f);
	assert_int_equal(f->ndeferred, RPC_PENDING_MAX + 1);
	/* destroy forgets the rest (checked for leaks by sanitizers). */
}

static void test_events_after_negotiation(void **state)
{
	struct fixture *f = *state;
	struct json_object *ev = rpc_event_new("STOP", NULL, 1500000123456789);
	struct json_object *m, *ts, *v;
	char *buf, *copy;
	size_t len;

	assert_non_null(ev);
	assert_int_equal(rpc_msg_serialize(ev, &buf, &len), 0);
	greet(f);
	copy = malloc(len);
	memcpy(copy, buf, len);
	assert_int_equal(rpc_session_send_event(&f->s, copy, len), 0);
	assert_no_msg(f);
	assert_int_equal(feed(f, "{\"execute\":\"qmp_capabilities\"}"), 0);
	expect_return(f, "{}", NULL);
	assert_int_equal(rpc_session_send_event(&f->s, buf, len), 0);
	m = next_msg(f);
	assert_string_equal(path_str(m, "event", NULL), "STOP");
	assert_false(json_object_object_get_ex(m, "data", NULL));
	assert_true(json_object_object_get_ex(m, "timestamp", &ts));
	assert_true(json_object_object_get_ex(ts, "seconds", &v));
	assert_int_equal(json_object_get_int64(v), 1500000);
	assert_true(json_object_object_get_ex(ts, "microseconds", &v));
	assert_int_equal(json_object_get_int64(v), 123456);
	json_object_put(ev);
}

static void test_send_failure_is_sticky(void **state)
{
	struct fixture *f = *state;

	negotiate(f);
	f->cap.fail_with = -ENOBUFS;
	assert_int_equal(feed(f, "{\"execute\":\"echo\"}"), -ENOBUFS);
	f->cap.fail_with = 0;
	assert_int_equal(feed(f, "{\"execute\":\"echo\"}"), -ENOBUFS);
	assert_no_msg(f);
}

static void test_fd_goes_with_its_message(void **state)
{
	struct fixture *f = *state;
	const char *a = "{\"execute\":\"echo\"}";
	const char *b = "{\"execute\":\"take-fd\",\"id\":1}";
	const char *c = "{\"execute\":\"ignore-fd\"}";
	char both[128];
	int p[2];

	negotiate(f);
	assert_int_equal(pipe(p), 0);
	/* a completes in the same read, but the fd came with b's bytes. */
	snprintf(both, sizeof(both), "%s%.10s", a, b);
	assert_int_equal(rpc_session_feed(&f->s, both, strlen(both), &p[1], 1),
			 0);
	expect_return(f, "{}", NULL);
	assert_int_equal(feed(f, b + 10), 0);
	expect_return(f, "{}", "1");
	assert_int_equal(f->taken_fd, p[1]);
	close(p[1]);
	f->taken_fd = -1;
	/* An fd nobody takes is closed when its command is done. */
	assert_int_equal(rpc_session_feed(&f->s, c, strlen(c), &p[0], 1), 0);
	expect_return(f, "{}", NULL);
	assert_false(fd_is_open(p[0]));
	/* And a command without one gets none. */
	assert_int_equal(feed(f, "{\"execute\":\"take-fd\"}"), 0);
	expect_error(f, "GenericError", "no fd", NULL);
}

static void test_fdq_claim(void **state)
{
	struct rpc_fdq q;
	int p[2], out[RPC_FDQ_MAX];

	assert_int_equal(pipe(p), 0);
	rpc_fdq_init(&q);
	/* Arrived with the read ending at 30: message [20, 40) owns it. */
	assert_int_equal(rpc_fdq_push(&q, p[0], 30), 0);
	assert_int_equal(rpc_fdq_claim(&q, 0, 20, "{\"execute\":", 12, out), 0);
	assert_int_equal(q.n, 1);
	assert_int_equal(rpc_fdq_claim(&q, 20, 40, "", 0, out), 1);
	assert_int_equal(out[0], p[0]);
	/* Tag after the end but only "\r\n" in between: still this one. */
	assert_int_equal(rpc_fdq_push(&q, p[0], 42), 0);
	assert_int_equal(rpc_fdq_claim(&q, 20, 40, "\r\n{", 3, out), 1);
	/* Another message starts before the tag: it is that one's. */
	assert_int_equal(rpc_fdq_push(&q, p[0], 43), 0);
	assert_int_equal(rpc_fdq_claim(&q, 20, 40, "\r\n{", 3, out), 0);
	/* A message starting at or after the tag: the fd was stale. */
	assert_int_equal(rpc_fdq_claim(&q, 43, 50, "", 0, out), 0);
	assert_int_equal(q.n, 0);
	assert_false(fd_is_open(p[0]));
	close(p[1]);
}

static void test_fdq_full(void **state)
{
	struct rpc_fdq q;
	int i, fd;

	rpc_fdq_init(&q);
	for (i = 0; i < RPC_FDQ_MAX; i++)
		assert_int_equal(rpc_fdq_push(&q, dup(0), 1), 0);
	fd = dup(0);
	assert_int_equal(rpc_fdq_push(&q, fd, 1), -EMFILE);
	assert_false(fd_is_open(fd));
	rpc_fdq_close_all(&q);
	assert_int_equal(q.n, 0);
}

static enum rpc_read_status push_next(struct rpc_reader *r, const char *s,
				      struct json_object **v)
{
	assert_int_equal(rpc_reader_push(r, s, strlen(s)), 0);
	return rpc_reader_next(r, v);
}

static void test_reader_limits(void **state)
{
	struct rpc_reader r;
	struct json_object *v;
	size_t ahead;

	assert_int_equal(rpc_reader_init(&r, 16), 0);
	assert_int_equal(push_next(&r, "  \r\n", &v), RPC_READ_MORE);
	assert_true(rpc_reader_is_idle(&r));
	/* 16 bytes exactly is allowed. */
	assert_int_equal(push_next(&r, "{\"a\":\"01234567\"}  {", &v),
			 RPC_READ_VALUE);
	assert_int_equal(r.value_start, 4);
	assert_int_equal(r.pos, 20);
	assert_memory_equal(rpc_reader_ahead(&r, &ahead), "  {", 3);
	assert_int_equal(ahead, 3);
	assert_int_equal(rpc_reader_end(&r), 23);
	json_object_put(v);
	assert_int_equal(push_next(&r, "\"a\":\"012345678\"}", &v),
			 RPC_READ_TOO_BIG);
	rpc_reader_destroy(&r);
	rpc_reader_destroy(&r);

	assert_int_equal(rpc_reader_init(&r, 16), 0);
	assert_int_equal(push_next(&r, "{\"a\":", &v), RPC_READ_MORE);
	assert_false(rpc_reader_is_idle(&r));
	assert_int_equal(push_next(&r, "}", &v), RPC_READ_SYNTAX);
	assert_true(strlen(r.err) > 0);
	rpc_reader_destroy(&r);
}

/* A number split between reads is parsed as if it came in one piece. */
static void test_reader_split_numbers(void **state)
{
	struct rpc_reader r;
	struct json_object *v;

	assert_int_equal(rpc_reader_init(&r, 64), 0);
	assert_int_equal(push_next(&r, "[5,0", &v), RPC_READ_MORE);
	assert_int_equal(push_next(&r, "-", &v), RPC_READ_MORE);
	assert_int_equal(push_next(&r, "2]", &v), RPC_READ_SYNTAX);
	rpc_reader_destroy(&r);

	assert_int_equal(rpc_reader_init(&r, 64), 0);
	assert_int_equal(push_next(&r, "[1", &v), RPC_READ_MORE);
	assert_int_equal(push_next(&r, "2", &v), RPC_READ_MORE);
	assert_int_equal(push_next(&r, "3.5e", &v), RPC_READ_MORE);
	assert_int_equal(push_next(&r, "1]", &v), RPC_READ_VALUE);
	assert_string_equal(json_object_to_json_string(v), "[ 123.5e1 ]");
	json_object_put(v);
	/* Held bytes still count against the limit. */
	assert_int_equal(push_next(&r, "[1111111111", &v), RPC_READ_MORE);
	assert_int_equal(push_next(&r,
				   "11111111111111111111111111111111"
				   "11111111111111111111111111111111",
				   &v),
			 RPC_READ_TOO_BIG);
	rpc_reader_destroy(&r);
}

static void test_sanitize(void **state)
{
	char out[8];

	rpc_sanitize(out, sizeof(out), "ab\ncd", 5);
	assert_string_equal(out, "ab cd");
	rpc_sanitize(out, sizeof(out), "a\xff\xc3", 3);
	assert_string_equal(out, "a??");
	rpc_sanitize(out, sizeof(out), "\xc3\xa9t\xc3\xa9", 5);
	assert_string_equal(out, "\xc3\xa9t\xc3\xa9");
	/* Cut between characters, never inside one. */
	rpc_sanitize(out, sizeof(out), "aaa\xc3\xa9zzzz", 9);
	assert_string_equal(out, "aaa...");
	rpc_sanitize(out, sizeof(out), "abc\0def", 7);
	assert_string_equal(out, "abc?def");
	rpc_sanitize(out, sizeof(out), "abcdefghij", 10);
	assert_string_equal(out, "abcd...");
	assert_string_equal(rpc_err_class_name(RPC_ERR_KVM_MISSING_CAP),
			    "KVMMissingCap");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_greeting),
		T(test_commands_need_negotiation),
		T(test_capabilities_unknown),
		T(test_ids_round_trip_exactly),
		T(test_execute_ids),
		T(test_unknown_command_name_sanitized),
		T(test_error_desc_made_valid_utf8),
		T(test_malformed_messages),
		T(test_syntax_error_resumes_at_next_line),
		T(test_invalid_utf8_refused),
		T(test_split_and_joined_input),
		T(test_oversize_message),
		T(test_message_at_limit_passes),
		T(test_reply_too_large),
		T(test_deferred_replies),
		T(test_deferred_limit),
		T(test_events_after_negotiation),
		T(test_send_failure_is_sticky),
		T(test_fd_goes_with_its_message),
		cmocka_unit_test(test_fdq_claim),
		cmocka_unit_test(test_fdq_full),
		cmocka_unit_test(test_reader_limits),
		cmocka_unit_test(test_reader_split_numbers),
		cmocka_unit_test(test_sanitize),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
