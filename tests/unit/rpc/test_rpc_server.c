/*
 * Integration tests of the control protocol server and client over real
 * unix sockets in a temporary directory. The server runs on an event
 * loop in its own thread, as in the VMM and godwitd; the test thread is
 * the client, and reaches the server through evloop_call.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/clock.h"
#include "common/evloop.h"
#include "client.h"
#include "rpc/reader.h"
#include "rpc/server.h"
#include "rpc/sock.h"

#define WAIT_MS 5000

struct fixture {
	char dir[64];
	char path[128];
	struct evloop *loop;
	struct rpc_server *srv;
	pthread_t thread;
	pthread_mutex_t lock; /* protects the deferred list */
	struct rpc_call deferred[RPC_CONN_MAX + 16];
	size_t ndeferred;
};

/* ---- handlers (run on the loop thread) ---- */

static enum rpc_reply_kind h_echo(struct rpc_request *req,
				  struct json_object *args,
				  struct rpc_reply *reply)
{
	reply->ret = json_object_get(args);
	return RPC_REPLY_RETURN;
}

static enum rpc_reply_kind h_defer(struct rpc_request *req,
				   struct json_object *args,
				   struct rpc_reply *reply)
{
	struct fixture *f = req->opaque;

	pthread_mutex_lock(&f->lock);
	f->deferred[f->ndeferred++] = req->call;
	pthread_mutex_unlock(&f->lock);
	return RPC_REPLY_LATER;
}

static enum rpc_reply_kind h_take_fd(struct rpc_request *req,
				     struct json_object *args,
				     struct rpc_reply *reply)
{
	int fd = rpc_request_take_fd(req);

	if (fd < 0)
		return rpc_reply_error(reply, RPC_ERR_GENERIC,
				       "take-fd: no fd was passed");
	if (write(fd, "hello", 5) != 5) {
		close(fd);
		return rpc_reply_error(reply, RPC_ERR_GENERIC, "write failed");
	}
	close(fd);
	return RPC_REPLY_RETURN;
}

static enum rpc_reply_kind h_give_fd(struct rpc_request *req,
				     struct json_object *args,
				     struct rpc_reply *reply)
{
	int p[2];

	if (pipe(p))
		return rpc_reply_error(reply, RPC_ERR_GENERIC, "pipe failed");
	if (write(p[1], "pipe-data", 9) != 9) {
		close(p[0]);
		close(p[1]);
		return rpc_reply_error(reply, RPC_ERR_GENERIC, "write failed");
	}
	close(p[1]);
	reply->fd = p[0];
	return RPC_REPLY_RETURN;
}

static enum rpc_reply_kind h_big(struct rpc_request *req,
				 struct json_object *args,
				 struct rpc_reply *reply)
{
	size_t len = 512 * 1024;
	char *s = malloc(len);

	memset(s, 'q', len);
	reply->ret = json_object_new_string_len(s, (int)len);
	free(s);
	return RPC_REPLY_RETURN;
}

static enum rpc_reply_kind h_emit(struct rpc_request *req,
				  struct json_object *args,
				  struct rpc_reply *reply)
{
	struct fixture *f = req->opaque;

	rpc_server_event(f->srv, "EMITTED", NULL);
	return RPC_REPLY_RETURN;
}

static enum rpc_reply_kind h_whoami(struct rpc_request *req,
				    struct json_object *args,
				    struct rpc_reply *reply)
{
	reply->ret = json_object_new_object();
	json_object_object_add(reply->ret, "conn",
			       json_object_new_uint64(req->call.conn_id));
	return RPC_REPLY_RETURN;
}

static struct rpc_command cmds[] = {
	{ "echo", h_echo, NULL },	{ "defer", h_defer, NULL },
	{ "take-fd", h_take_fd, NULL }, { "give-fd", h_give_fd, NULL },
	{ "big", h_big, NULL },		{ "emit", h_emit, NULL },
	{ "whoami", h_whoami, NULL },
};

/* ---- running things on the loop thread ---- */

struct sync_call {
	void (*fn)(struct fixture *f, void *arg);
	struct fixture *f;
	void *arg;
	bool done;
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

static void sync_trampoline(struct evloop *loop, void *opaque)
{
	struct sync_call *sc = opaque;

	sc->fn(sc->f, sc->arg);
	pthread_mutex_lock(&sc->lock);
	sc->done = true;
	pthread_cond_signal(&sc->cond);
	pthread_mutex_unlock(&sc->lock);
}

/* Run fn(f, arg) on the loop thread and wait for it. */
static void on_loop(struct fixture *f, void (*fn)(struct fixture *, void *),
		    void *arg)
{
	struct sync_call sc = { .fn = fn, .f = f, .arg = arg };

	pthread_mutex_init(&sc.lock, NULL);
	pthread_cond_init(&sc.cond, NULL);
	assert_int_equal(evloop_call(f->loop, sync_trampoline, &sc), 0);
	pthread_mutex_lock(&sc.lock);
	while (!sc.done)
		pthread_cond_wait(&sc.cond, &sc.lock);
	pthread_mutex_unlock(&sc.lock);
	pthread_mutex_destroy(&sc.lock);
	pthread_cond_destroy(&sc.cond);
}

static void get_conn_count(struct fixture *f, void *arg)
{
	*(size_t *)arg = rpc_server_conn_count(f->srv);
}

static size_t conn_count(struct fixture *f)
{
	size_t n;

	on_loop(f, get_conn_count, &n);
	return n;
}

/* Wait until the server has n connections. */
static void wait_conn_count(struct fixture *f, size_t n)
{
	uint64_t end = time_mono_ns() + WAIT_MS * NSEC_PER_MSEC;

	while (conn_count(f) != n) {
		assert_true(time_mono_ns() < end);
		usleep(2000);
	}
}

static void wait_deferred(struct fixture *f, size_t n)
{
	uint64_t end = time_mono_ns() + WAIT_MS * NSEC_PER_MSEC;
	size_t have;

	for (;;) {
		pthread_mutex_lock(&f->lock);
		have = f->ndeferred;
		pthread_mutex_unlock(&f->lock);
		if (have >= n)
			return;
		assert_true(time_mono_ns() < end);
		usleep(2000);
	}
}

/* The i-th deferred command's handle, once its handler ran. */
static struct rpc_call deferred_at(struct fixture *f, size_t i)
{
	struct rpc_call call;

	wait_deferred(f, i + 1);
	pthread_mutex_lock(&f->lock);
	call = f->deferred[i];
	pthread_mutex_unlock(&f->lock);
	return call;
}

struct reply_args {
	struct rpc_call call;
	const char *ret_json; /* NULL: reply with an error */
	int rc;
};

static void do_reply(struct fixture *f, void *arg)
{
	struct reply_args *ra = arg;

	if (ra->ret_json)
		ra->rc = rpc_server_reply(f->srv, ra->call,
					  json_tokener_parse(ra->ret_json), -1);
	else
		ra->rc = rpc_server_reply_error(
			f->srv, ra->call, RPC_ERR_GENERIC, "failed: %d", 42);
}

static int reply_on_loop(struct fixture *f, struct rpc_call call,
			 const char *ret_json)
{
	struct reply_args ra = { .call = call, .ret_json = ret_json };

	on_loop(f, do_reply, &ra);
	return ra.rc;
}

static void *loop_thread(void *arg)
{
	struct fixture *f = arg;

	assert_int_equal(evloop_run(f->loop), 0);
	return NULL;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cmds); i++)
		cmds[i].opaque = f;
	pthread_mutex_init(&f->lock, NULL);
	snprintf(f->dir, sizeof(f->dir), "/tmp/godwit-rpc-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/run/ctl.sock", f->dir);
	assert_int_equal(evloop_new(&f->loop), 0);
	assert_int_equal(
		rpc_server_new(f->loop, cmds, ARRAY_SIZE(cmds), &f->srv), 0);
	assert_int_equal(rpc_server_listen(f->srv, f->path), 0);
	assert_int_equal(pthread_create(&f->thread, NULL, loop_thread, f), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char sub[128];

	evloop_stop(f->loop);
	pthread_join(f->thread, NULL);
	rpc_server_free(f->srv);
	evloop_free(f->loop);
	/* The server removed its socket file: the directories are empty. */
	snprintf(sub, sizeof(sub), "%s/run", f->dir);
	assert_int_equal(rmdir(sub), 0);
	assert_int_equal(rmdir(f->dir), 0);
	pthread_mutex_destroy(&f->lock);
	free(f);
	return 0;
}

/* ---- a raw client, to send what rpc_client never would ---- */

struct raw {
	int fd;
	struct rpc_reader r;
};

static void raw_open(struct raw *raw, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	raw->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(raw->fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(connect(raw->fd, (struct sockaddr *)&sa, sizeof(sa)),
			 0);
	assert_int_equal(rpc_reader_init(&raw->r, 8 * RPC_MSG_MAX), 0);
}

static void raw_close(struct raw *raw)
{
	if (raw->fd >= 0)
		close(raw->fd);
	raw->fd = -1;
	rpc_reader_destroy(&raw->r);
}

static void raw_send(struct raw *raw, const char *text)
{
	assert_int_equal(send(raw->fd, text, strlen(text), MSG_NOSIGNAL),
			 (ssize_t)strlen(text));
}

/* Next message; -ETIMEDOUT, or -EPIPE / -ECONNRESET when closed. */
static int raw_read(struct raw *raw, int timeout_ms, struct json_object **out)
{
	uint64_t deadline = rpc_deadline(timeout_ms);
	enum rpc_read_status st;
	char buf[4096];
	ssize_t r;
	int rc;

	for (;;) {
		st = rpc_reader_next(&raw->r, out);
		if (st == RPC_READ_VALUE)
			return 0;
		assert_int_equal(st, RPC_READ_MORE);
		rc = rpc_sock_wait(raw->fd, POLLIN, deadline);
		if (rc)
			return rc;
		r = recv(raw->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (r < 0 && errno == EAGAIN)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EPIPE;
		assert_int_equal(rpc_reader_push(&raw->r, buf, r), 0);
	}
}

static struct json_object *raw_expect(struct raw *raw)
{
	struct json_object *m = NULL;

	assert_int_equal(raw_read(raw, WAIT_MS, &m), 0);
	return m;
}

static const char *member_str(struct json_object *obj, const char *a,
			      const char *b)
{
	struct json_object *v = obj;

	if (a && !json_object_object_get_ex(v, a, &v))
		return "";
	if (b && !json_object_object_get_ex(v, b, &v))
		return "";
	return json_object_get_string(v);
}

static void raw_expect_greeting(struct raw *raw)
{
	struct json_object *m = raw_expect(raw);

	assert_true(json_object_object_get_ex(m, "QMP", NULL));
	json_object_put(m);
}

/* Read the greeting and negotiate on a raw connection. */
static void raw_negotiate(struct raw *raw)
{
	struct json_object *m;

	raw_expect_greeting(raw);
	raw_send(raw, "{\"execute\":\"qmp_capabilities\"}\r\n");
	m = raw_expect(raw);
	assert_true(json_object_object_get_ex(m, "return", NULL));
	json_object_put(m);
}

/* The connection ends: EOF or a reset, with no further message. */
static void raw_expect_closed(struct raw *raw)
{
	struct json_object *m = NULL;
	int rc = raw_read(raw, WAIT_MS, &m);

	assert_true(rc == -EPIPE || rc == -ECONNRESET);
}

static struct rpc_client *client_open(struct fixture *f)
{
	struct rpc_client *c = NULL;

	assert_int_equal(rpc_client_connect(f->path, WAIT_MS, &c), 0);
	return c;
}

/* The server still answers c. */
static void expect_echo(struct rpc_client *c)
{
	struct rpc_result res;

	assert_int_equal(rpc_client_execute(c, "echo", NULL, -1, &res), 0);
	rpc_result_release(&res);
}

static size_t open_fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* ---- tests ---- */

static void test_client_execute(void **state)
{
	struct fixture *f = *state;
	struct rpc_client *c = client_open(f);
	struct json_object *args = json_tokener_parse("{\"x\":[1,\"two\"]}");
	struct rpc_result res;

	assert_true(
		json_object_object_get_ex(rpc_client_greeting(c), "QMP", NULL));
	assert_int_equal(rpc_client_execute(c, "echo", args, -1, &res), 0);
	assert_string_equal(
		json_object_to_json_string_ext(res.ret, JSON_C_TO_STRING_PLAIN),
		"{\"x\":[1,\"two\"]}");
	assert_int_equal(res.fd, -1);
	rpc_result_release(&res);
	assert_int_equal(rpc_client_execute(c, "no-such", NULL, -1, &res),
			 -EREMOTEIO);
	assert_string_equal(res.err_class, "CommandNotFound");
	assert_non_null(strstr(res.err_desc, "no-such"));
	assert_null(res.ret);
	rpc_result_release(&res);
	assert_int_equal(rpc_client_execute(c, "query-version", NULL, -1, &res),
			 0);
	assert_string_equal(member_str(res.ret, "package", NULL),
			    "godwit 0.1.0");
	rpc_result_release(&res);
	json_object_put(args);
	rpc_client_close(c);
}

static void test_raw_protocol(void **state)
{
	struct fixture *f = *state;
	struct json_object *m;
	struct raw raw;

	raw_open(&raw, f->path);
	raw_expect_greeting(&raw);
	raw_send(&raw, "{\"execute\":\"echo\",\"id\":1}");
	m = raw_expect(&raw);
	assert_string_equal(member_str(m, "error", "class"), "CommandNotFound");
	assert_string_equal(
		member_str(m, "error", "desc"),
		"Expecting capabilities negotiation with 'qmp_capabilities'");
	assert_string_equal(member_str(m, "id", NULL), "1");
	json_object_put(m);
	/* Two commands in one write, no separator. */
	raw_send(&raw, "{\"execute\":\"qmp_capabilities\",\"id\":2}"
		       "{\"execute\":\"echo\",\"id\":\"x\","
		       "\"arguments\":{\"k\":true}}");
	m = raw_expect(&raw);
	assert_string_equal(member_str(m, "id", NULL), "2");
	json_object_put(m);
	m = raw_expect(&raw);
	assert_string_equal(member_str(m, "return", "k"), "true");
	assert_string_equal(member_str(m, "id", NULL), "x");
	json_object_put(m);
	raw_send(&raw, "[1]\n");
	m = raw_expect(&raw);
	assert_string_equal(member_str(m, "error", "class"), "GenericError");
	json_object_put(m);
	/* A syntax error: one error reply, and the connection goes on. */
	raw_send(&raw, "{\"execute\":}\n");
	m = raw_expect(&raw);
	assert_non_null(
		strstr(member_str(m, "error", "desc"), "JSON parse error"));
	json_object_put(m);
	raw_send(&raw, "{\"execute\":\"query-version\",\"id\":3}\n");
	m = raw_expect(&raw);
	assert_string_equal(member_str(m, "id", NULL), "3");
	json_object_put(m);
	raw_close(&raw);
	wait_conn_count(f, 0);
}

struct flood {
	int fd;
	size_t sent;
};

/* Send an endless string value: 100 MB unless the server hangs up. */
static void *flood_thread(void *arg)
{
	static char chunk[64 * 1024];
	struct flood *fl = arg;
	const char *head = "{\"execute\":\"echo\",\"arguments\":{\"s\":\"";
	ssize_t r;

	memset(chunk, 'a', sizeof(chunk));
	if (send(fl->fd, head, strlen(head), MSG_NOSIGNAL) < 0)
		return NULL;
	while (fl->sent < 100 * MIB) {
		r = send(fl->fd, chunk, sizeof(chunk), MSG_NOSIGNAL);
		if (r <= 0)
			break;
		fl->sent += r;
	}
	return NULL;
}

static long max_rss_kib(void)
{
	struct rusage ru;

	assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
	return ru.ru_maxrss;
}

static void test_oversize_message_closes(void **state)
{
	struct fixture *f = *state;
	struct flood fl = { 0 };
	struct json_object *m;
	struct rpc_client *c;
	long rss_before = max_rss_kib();
	struct raw raw;
	pthread_t th;

	raw_open(&raw, f->path);
	raw_negotiate(&raw);
	fl.fd = raw.fd;
	assert_int_equal(pthread_create(&th, NULL, flood_thread, &fl), 0);
	m = raw_expect(&raw);
	assert_string_equal(member_str(m, "error", "class"), "GenericError");
	assert_non_null(strstr(member_str(m, "error", "desc"), "exceeds"));
	json_object_put(m);
	raw_expect_closed(&raw);
	pthread_join(th, NULL);
	/* The server stopped reading long before 100 MB. */
	assert_true(fl.sent < 16 * MIB);
	assert_true(max_rss_kib() - rss_before < 32 * 1024);
	raw_close(&raw);
	wait_conn_count(f, 0);
	/* Others are not affected. */
	c = client_open(f);
	expect_echo(c);
	rpc_client_close(c);
}

static void test_disconnect_mid_request(void **state)
{
	struct fixture *f = *state;
	struct rpc_client *c = client_open(f);
	struct raw raw;

	raw_open(&raw, f->path);
	raw_negotiate(&raw);
	wait_conn_count(f, 2);
	raw_send(&raw, "{\"execute\":\"echo\",\"argum");
	raw_close(&raw);
	wait_conn_count(f, 1);
	/* A complete command followed by an immediate hang-up. */
	raw_open(&raw, f->path);
	raw_negotiate(&raw);
	raw_send(&raw, "{\"execute\":\"big\"}");
	raw_close(&raw);
	wait_conn_count(f, 1);
	expect_echo(c);
	rpc_client_close(c);
	wait_conn_count(f, 0);
}

struct bg_exec {
	struct rpc_client *c;
	const char *cmd;
	int rc;
	struct rpc_result res;
};

static void *exec_thread(void *arg)
{
	struct bg_exec *bg = arg;

	bg->rc = rpc_client_execute(bg->c, bg->cmd, NULL, -1, &bg->res);
	return NULL;
}

static void test_deferred_reply_does_not_block_others(void **state)
{
	struct fixture *f = *state;
	struct bg_exec bg = { .cmd = "defer" };
	struct rpc_client *b = client_open(f);
	pthread_t th;

	bg.c = client_open(f);
	assert_int_equal(pthread_create(&th, NULL, exec_thread, &bg), 0);
	wait_deferred(f, 1);
	/* While "defer" is outstanding, another client is served. */
	expect_echo(b);
	assert_int_equal(
		reply_on_loop(f, deferred_at(f, 0), "{\"saved\":true}"), 0);
	pthread_join(th, NULL);
	assert_int_equal(bg.rc, 0);
	assert_string_equal(member_str(bg.res.ret, "saved", NULL), "true");
	rpc_result_release(&bg.res);
	/* Answering it twice: dropped. */
	assert_int_equal(reply_on_loop(f, deferred_at(f, 0), "{}"), -ENOENT);
	/* A deferred error. */
	assert_int_equal(pthread_create(&th, NULL, exec_thread, &bg), 0);
	wait_deferred(f, 2);
	assert_int_equal(reply_on_loop(f, deferred_at(f, 1), NULL), 0);
	pthread_join(th, NULL);
	assert_int_equal(bg.rc, -EREMOTEIO);
	assert_string_equal(bg.res.err_desc, "failed: 42");
	rpc_result_release(&bg.res);
	rpc_client_close(bg.c);
	rpc_client_close(b);
}

static void test_deferred_reply_to_gone_client(void **state)
{
	struct fixture *f = *state;
	struct rpc_client *c = client_open(f);
	struct raw raw;

	raw_open(&raw, f->path);
	raw_negotiate(&raw);
	raw_send(&raw, "{\"execute\":\"defer\",\"id\":7}");
	wait_deferred(f, 1);
	raw_close(&raw);
	wait_conn_count(f, 1);
	assert_int_equal(reply_on_loop(f, deferred_at(f, 0), "{}"), -ENOTCONN);
	assert_int_equal(reply_on_loop(f, deferred_at(f, 0), NULL), -ENOTCONN);
	expect_echo(c);
	rpc_client_close(c);
}

/* A client that only shut down its sending side still gets its answer. */
static void test_half_closed_client_gets_deferred_reply(void **state)
{
	struct fixture *f = *state;
	struct json_object *m;
	struct raw raw;

	raw_open(&raw, f->path);
	raw_negotiate(&raw);
	raw_send(&raw, "{\"execute\":\"defer\",\"id\":8}");
	wait_deferred(f, 1);
	assert_int_equal(shutdown(raw.fd, SHUT_WR), 0);
	usleep(20000);
	assert_int_equal(conn_count(f), 1);
	assert_int_equal(reply_on_loop(f, deferred_at(f, 0), "{\"ok\":1}"), 0);
	m = raw_expect(&raw);
	assert_string_equal(member_str(m, "return", "ok"), "1");
	assert_string_equal(member_str(m, "id", NULL), "8");
	json_object_put(m);
	raw_expect_closed(&raw);
	raw_close(&raw);
	wait_conn_count(f, 0);
}

struct event_args {
	const char *name;
	int flush_rc;
};

static void do_event(struct fixture *f, void *arg)
{
	struct event_args *ea = arg;
	struct json_object *data = json_object_new_object();

	json_object_object_add(data, "n", json_object_new_int(1));
	rpc_server_event(f->srv, ea->name, data);
	ea->flush_rc = rpc_server_flush(f->srv, 1000);
}

static void check_event(struct json_object *ev, const char *name)
{
	struct json_object *ts, *v;
	int64_t now = (int64_t)(time_real_ns() / NSEC_PER_SEC);

	assert_string_equal(member_str(ev, "event", NULL), name);
	assert_true(json_object_object_get_ex(ev, "timestamp", &ts));
	assert_true(json_object_object_get_ex(ts, "seconds", &v));
	assert_true(json_object_get_int64(v) <= now &&
		    json_object_get_int64(v) > now - 60);
	assert_true(json_object_object_get_ex(ts, "microseconds", &v));
	assert_true(json_object_get_int64(v) >= 0 &&
		    json_object_get_int64(v) < 1000000);
}

static void test_events_after_negotiation_only(void **state)
{
	struct fixture *f = *state;
	struct event_args ea = { .name = "STOP" };
	struct rpc_client *c = client_open(f);
	struct json_object *m, *ev;
	struct rpc_result res;
	struct raw raw;

	raw_open(&raw, f->path);
	m = raw_expect(&raw); /* greeting only: not negotiated */
	json_object_put(m);
	wait_conn_count(f, 2);
	on_loop(f, do_event, &ea);
	assert_int_equal(ea.flush_rc, 0);
	assert_int_equal(rpc_client_next_event(c, WAIT_MS, &ev), 0);
	check_event(ev, "STOP");
	assert_string_equal(member_str(ev, "data", "n"), "1");
	json_object_put(ev);
	/* The raw connection got nothing: its next message is the return. */
	raw_send(&raw, "{\"execute\":\"qmp_capabilities\",\"id\":1}");
	m = raw_expect(&raw);
	assert_true(json_object_object_get_ex(m, "return", NULL));
	json_object_put(m);
	ea.name = "RESUME";
	on_loop(f, do_event, &ea);
	m = raw_expect(&raw);
	check_event(m, "RESUME");
	json_object_put(m);
	/* An event sent while a command runs is queued for later. */
	assert_int_equal(rpc_client_execute(c, "emit", NULL, -1, &res), 0);
	rpc_result_release(&res);
	assert_int_equal(rpc_client_next_event(c, 0, &ev), 0);
	check_event(ev, "RESUME");
	json_object_put(ev);
	assert_int_equal(rpc_client_next_event(c, 0, &ev), 0);
	check_event(ev, "EMITTED");
	assert_false(json_object_object_get_ex(ev, "data", NULL));
	json_object_put(ev);
	assert_int_equal(rpc_client_next_event(c, 50, &ev), -ETIMEDOUT);
	raw_close(&raw);
	rpc_client_close(c);
}

static void test_fd_passing_both_ways(void **state)
{
	struct fixture *f = *state;
	size_t fds_before = open_fd_count();
	struct rpc_client *c = client_open(f);
	struct rpc_result res;
	char buf[16] = { 0 };
	int p[2];

	assert_int_equal(pipe(p), 0);
	/* Client to server: the handler writes into our pipe. */
	assert_int_equal(rpc_client_execute(c, "take-fd", NULL, p[1], &res), 0);
	rpc_result_release(&res);
	close(p[1]);
	assert_int_equal(read(p[0], buf, sizeof(buf)), 5);
	assert_string_equal(buf, "hello");
	close(p[0]);
	/* A command sent without an fd gets none (no stale one either). */
	assert_int_equal(rpc_client_execute(c, "take-fd", NULL, -1, &res),
			 -EREMOTEIO);
	assert_non_null(strstr(res.err_desc, "no fd"));
	rpc_result_release(&res);
	/* Server to client: the reply carries a pipe's read end. */
	assert_int_equal(rpc_client_execute(c, "give-fd", NULL, -1, &res), 0);
	assert_true(res.fd >= 0);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(read(res.fd, buf, sizeof(buf)), 9);
	assert_string_equal(buf, "pipe-data");
	rpc_result_release(&res);
	assert_int_equal(res.fd, -1);
	/* An fd passed with a command that does not want it is closed. */
	assert_int_equal(pipe(p), 0);
	assert_int_equal(rpc_client_execute(c, "echo", NULL, p[1], &res), 0);
	rpc_result_release(&res);
	close(p[1]);
	/* The server's copy is gone too: the read end sees end of file. */
	assert_int_equal(read(p[0], buf, sizeof(buf)), 0);
	close(p[0]);
	rpc_client_close(c);
	wait_conn_count(f, 0);
	assert_int_equal(open_fd_count(), fds_before);
}

static void test_client_not_reading_is_dropped(void **state)
{
	struct fixture *f = *state;
	struct rpc_client *c = client_open(f);
	char many[32 * 20] = "";
	struct raw raw;
	int i;

	raw_open(&raw, f->path);
	raw_negotiate(&raw);
	/* 16 MiB of replies asked for, none read. */
	for (i = 0; i < 32; i++)
		strcat(many, "{\"execute\":\"big\"}");
	raw_send(&raw, many);
	wait_conn_count(f, 1);
	/* The server was never blocked. */
	expect_echo(c);
	raw_close(&raw);
	rpc_client_close(c);
}

static void test_client_timeout_skips_late_reply(void **state)
{
	struct fixture *f = *state;
	struct rpc_client *c = client_open(f);
	struct json_object *args = json_tokener_parse("{\"n\":2}");
	struct rpc_result res;

	rpc_client_set_timeout(c, 100);
	assert_int_equal(rpc_client_execute(c, "defer", NULL, -1, &res),
			 -ETIMEDOUT);
	rpc_result_release(&res);
	assert_int_equal(reply_on_loop(f, deferred_at(f, 0), "{\"late\":1}"),
			 0);
	rpc_client_set_timeout(c, WAIT_MS);
	assert_int_equal(rpc_client_execute(c, "echo", args, -1, &res), 0);
	assert_string_equal(member_str(res.ret, "n", NULL), "2");
	rpc_result_release(&res);
	json_object_put(args);
	rpc_client_close(c);
}

struct disconnect_args {
	uint64_t conn_id;
};

static void do_disconnect(struct fixture *f, void *arg)
{
	struct disconnect_args *da = arg;

	rpc_server_disconnect(f->srv, da->conn_id);
	rpc_server_disconnect(f->srv, 99999); /* unknown: no-op */
}

static void test_server_disconnects_client(void **state)
{
	struct fixture *f = *state;
	struct rpc_client *c = client_open(f);
	struct disconnect_args da;
	struct json_object *id;
	struct rpc_result res;

	assert_int_equal(rpc_client_execute(c, "whoami", NULL, -1, &res), 0);
	assert_true(json_object_object_get_ex(res.ret, "conn", &id));
	da.conn_id = json_object_get_uint64(id);
	rpc_result_release(&res);
	on_loop(f, do_disconnect, &da);
	wait_conn_count(f, 0);
	assert_int_equal(rpc_client_execute(c, "echo", NULL, -1, &res),
			 -ECONNRESET);
	rpc_client_close(c);
}

static void test_socketpair_connection(void **state)
{
	struct fixture *f = *state;
	struct rpc_client *c;
	struct rpc_result res;
	uint64_t id = 0;
	int sp[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	/* Server calls belong on the loop thread; stop it meanwhile. */
	evloop_stop(f->loop);
	pthread_join(f->thread, NULL);
	assert_int_equal(rpc_server_add_conn(f->srv, sp[0], &id), 0);
	assert_true(id > 0);
	assert_int_equal(pthread_create(&f->thread, NULL, loop_thread, f), 0);
	assert_int_equal(rpc_client_open_fd(sp[1], WAIT_MS, &c), 0);
	assert_int_equal(rpc_client_execute(c, "whoami", NULL, -1, &res), 0);
	assert_int_equal(
		json_object_get_uint64(json_object_object_get(res.ret, "conn")),
		id);
	rpc_result_release(&res);
	rpc_client_close(c);
}

/* Connections that only read the greeting (they never negotiate). */
static struct raw *open_silent(struct fixture *f, int n)
{
	struct raw *raws = calloc(n, sizeof(*raws));
	int i;

	for (i = 0; i < n; i++) {
		raw_open(&raws[i], f->path);
		raw_expect_greeting(&raws[i]);
		wait_conn_count(f, i + 1);
	}
	return raws;
}

/* The next message is an error whose desc contains text, then EOF. */
static void raw_expect_closed_why(struct raw *raw, const char *text)
{
	struct json_object *m = raw_expect(raw);

	assert_non_null(strstr(member_str(m, "error", "desc"), text));
	json_object_put(m);
	raw_expect_closed(raw);
}

/* A full table makes room: the longest idle silent client goes. */
static void test_connection_limit_makes_room(void **state)
{
	struct fixture *f = *state;
	struct raw *raws = open_silent(f, RPC_CONN_MAX);
	struct rpc_client *c;
	int i;

	c = client_open(f);
	expect_echo(c);
	raw_expect_closed_why(&raws[0], "closed to make room");
	assert_int_equal(conn_count(f), RPC_CONN_MAX);
	/* The others are still there: the next newcomer takes raws[1]. */
	rpc_client_close(c);
	wait_conn_count(f, RPC_CONN_MAX - 1);
	for (i = 0; i < RPC_CONN_MAX; i++)
		raw_close(&raws[i]);
	free(raws);
	wait_conn_count(f, 0);
}

/* Only when every slot waits for an answer is a newcomer refused. */
static void test_connection_limit_all_pending(void **state)
{
	struct fixture *f = *state;
	struct raw *raws = calloc(RPC_CONN_MAX + 1, sizeof(*raws));
	int i;

	for (i = 0; i < RPC_CONN_MAX; i++) {
		raw_open(&raws[i], f->path);
		raw_negotiate(&raws[i]);
		raw_send(&raws[i], "{\"execute\":\"defer\"}");
		wait_deferred(f, i + 1);
	}
	raw_open(&raws[RPC_CONN_MAX], f->path);
	raw_expect_closed(&raws[RPC_CONN_MAX]);
	/* One answer arrives: that slot may be taken again. */
	assert_int_equal(reply_on_loop(f, deferred_at(f, 0), "{}"), 0);
	json_object_put(raw_expect(&raws[0]));
	raw_close(&raws[RPC_CONN_MAX]);
	raw_open(&raws[RPC_CONN_MAX], f->path);
	raw_negotiate(&raws[RPC_CONN_MAX]);
	raw_expect_closed_why(&raws[0], "closed to make room");
	for (i = 0; i <= RPC_CONN_MAX; i++)
		raw_close(&raws[i]);
	free(raws);
	wait_conn_count(f, 0);
}

static void do_set_limits(struct fixture *f, void *arg)
{
	rpc_server_set_limits(f->srv, arg);
}

/* Silent and half-sent clients are closed in time; others are not. */
static void test_time_limits(void **state)
{
	struct fixture *f = *state;
	struct rpc_limits lim = { .hello_ms = 300, .request_ms = 300 };
	struct raw silent, half, slow, idle;
	uint64_t start;

	on_loop(f, do_set_limits, &lim);
	start = time_mono_ns();
	raw_open(&silent, f->path);
	raw_expect_greeting(&silent);
	raw_open(&half, f->path);
	raw_negotiate(&half);
	raw_send(&half, "{\"execute\":\"ec");
	raw_open(&idle, f->path);
	raw_negotiate(&idle);
	raw_open(&slow, f->path);
	raw_negotiate(&slow);
	raw_expect_closed_why(&silent, "no capabilities negotiation");
	raw_expect_closed_why(&half, "not completed in time");
	assert_true(time_mono_ns() - start >= 300 * NSEC_PER_MSEC);
	/* A message sent in pieces within the limit is fine. */
	raw_send(&slow, "{\"execute\":");
	usleep(100000);
	raw_send(&slow, "\"echo\"}");
	json_object_put(raw_expect(&slow));
	/* Idle clients stay (no idle limit by default)... */
	usleep(400000);
	raw_send(&idle, "{\"execute\":\"echo\"}");
	json_object_put(raw_expect(&idle));
	/* ...unless one is set; a pending command keeps its client. */
	lim.idle_ms = 300;
	raw_send(&slow, "{\"execute\":\"defer\"}");
	wait_deferred(f, 1);
	on_loop(f, do_set_limits, &lim);
	raw_expect_closed_why(&idle, "idle for too long");
	usleep(200000);
	assert_int_equal(reply_on_loop(f, deferred_at(f, 0), "{}"), 0);
	json_object_put(raw_expect(&slow));
	raw_expect_closed_why(&slow, "idle for too long");
	raw_close(&silent);
	raw_close(&half);
	raw_close(&idle);
	raw_close(&slow);
	wait_conn_count(f, 0);
}

/* Out of fds: the server pauses accepting, then serves the client. */
static void test_accept_out_of_fds(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fillers[64], nfill = 0, fd, i;
	struct rlimit old, low;
	struct raw raw;

	raw.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(raw.fd >= 0);
	assert_int_equal(rpc_reader_init(&raw.r, RPC_MSG_MAX), 0);
	/* No fd number left below the limit. */
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = raw.fd + 1;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	while (nfill < 64 && (fd = dup(0)) >= 0)
		fillers[nfill++] = fd;
	assert_int_equal(errno, EMFILE);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
	assert_int_equal(connect(raw.fd, (struct sockaddr *)&sa, sizeof(sa)),
			 0);
	usleep(50000);
	for (i = 0; i < nfill; i++)
		close(fillers[i]);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	raw_expect_greeting(&raw);
	raw_close(&raw);
	wait_conn_count(f, 0);
}

static void test_listen_socket_file(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct rpc_server *other;
	struct evloop *loop2;
	char path[100];
	struct stat st;
	int fd;

	assert_int_equal(stat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	/* The other server lives on a loop of its own, not running. */
	assert_int_equal(evloop_new(&loop2), 0);
	assert_int_equal(rpc_server_new(loop2, cmds, ARRAY_SIZE(cmds), &other),
			 0);
	/* A live server's socket is not taken over. */
	assert_int_equal(rpc_server_listen(other, f->path), -EADDRINUSE);
	/* A stale socket file (its server died) is replaced. */
	snprintf(path, sizeof(path), "%s/run/stale.sock", f->dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	assert_int_equal(rpc_server_listen(other, path), 0);
	assert_int_equal(rpc_server_listen(other, path), -EBUSY);
	rpc_server_free(other);
	assert_int_equal(stat(path, &st), -1);
	/* Something that is not a socket is left alone. */
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(rpc_server_new(loop2, cmds, ARRAY_SIZE(cmds), &other),
			 0);
	assert_int_equal(rpc_server_listen(other, path), -EEXIST);
	rpc_server_free(other);
	evloop_free(loop2);
	assert_int_equal(unlink(path), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_client_execute),
		T(test_raw_protocol),
		T(test_oversize_message_closes),
		T(test_disconnect_mid_request),
		T(test_deferred_reply_does_not_block_others),
		T(test_deferred_reply_to_gone_client),
		T(test_half_closed_client_gets_deferred_reply),
		T(test_events_after_negotiation_only),
		T(test_fd_passing_both_ways),
		T(test_client_not_reading_is_dropped),
		T(test_client_timeout_skips_late_reply),
		T(test_server_disconnects_client),
		T(test_socketpair_connection),
		T(test_connection_limit_makes_room),
		T(test_connection_limit_all_pending),
		T(test_time_limits),
		T(test_accept_out_of_fds),
		T(test_listen_socket_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
