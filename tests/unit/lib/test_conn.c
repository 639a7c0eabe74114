/*
 * The client library against a real control protocol server over a unix
 * socket: the server (rpc/server.h) runs on an event loop in its own
 * thread, as in the VMM; the test thread is the application, driving its
 * connection with its own poll loop (the asynchronous API) or the
 * blocking layer. Also run under valgrind (meson test lib-valgrind):
 * nothing may leak, whatever the outcome of a command.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <godwit/client.h>
#include <godwit/domain.h>
#include <godwit/jobinfo.h>
#include <godwit/migrate.h>

#include "common/clock.h"
#include "common/evloop.h"
#include "rpc/msg_migrate.h"
#include "rpc/msg_save.h"
#include "rpc/server.h"

struct fixture {
	char dir[64];
	char path[128];
	struct evloop *loop;
	struct rpc_server *srv;
	pthread_t thread;
	pthread_mutex_t lock; /* the members below */
	struct rpc_migrate_args migrate; /* as the server decoded it */
	bool migrated;
	struct rpc_call held;
	bool holding;
};

/* ---- the server's commands (on its loop thread) ---- */

static enum rpc_reply_kind h_echo(struct rpc_request *req,
				  struct json_object *args,
				  struct rpc_reply *reply)
{
	int fd = rpc_request_take_fd(req);

	if (fd >= 0) { /* an fd meant for another command */
		close(fd);
		return rpc_reply_error(reply, RPC_ERR_GENERIC,
				       "echo got an fd");
	}
	reply->ret = json_object_get(args);
	return RPC_REPLY_RETURN;
}

static enum rpc_reply_kind h_hold(struct rpc_request *req,
				  struct json_object *args,
				  struct rpc_reply *reply)
{
	struct fixture *f = req->opaque;

	pthread_mutex_lock(&f->lock);
	f->held = req->call;
	f->holding = true;
	pthread_mutex_unlock(&f->lock);
	return RPC_REPLY_LATER;
}

static void emit_round(struct fixture *f, int64_t n)
{
	struct rpc_mig_round r = { .round = n, .pages_sent = 100 + n };

	rpc_server_event(f->srv, "MIGRATION_PASS",
			 rpc_msg_encode(&rpc_msg_mig_round, &r));
}

/* As the VMM does: the arguments through the codec, then the events. */
static enum rpc_reply_kind h_migrate(struct rpc_request *req,
				     struct json_object *args,
				     struct rpc_reply *reply)
{
	struct fixture *f = req->opaque;
	struct rpc_migrate_args a;
	struct rpc_migration m;
	char why[RPC_MSG_WHY_MAX];

	if (rpc_msg_decode(&rpc_msg_migrate, args, &a, why, sizeof(why)))
		return rpc_reply_error(reply, RPC_ERR_GENERIC, "%s", why);
	pthread_mutex_lock(&f->lock);
	f->migrate = a;
	f->migrated = true;
	pthread_mutex_unlock(&f->lock);
	emit_round(f, 0);
	emit_round(f, 1);
	rpc_msg_init(&rpc_msg_migration, &m);
	m.status = RPC_MIG_COMPLETED;
	m.rounds = 2;
	m.has_downtime = true;
	m.downtime_ms = 1.5;
	rpc_server_event(f->srv, "MIGRATION",
			 rpc_msg_encode(&rpc_msg_migration, &m));
	return RPC_REPLY_RETURN;
}

static enum rpc_reply_kind h_query_migrate(struct rpc_request *req,
					   struct json_object *args,
					   struct rpc_reply *reply)
{
	struct rpc_migration m;

	rpc_msg_init(&rpc_msg_migration, &m);
	reply->ret = rpc_msg_encode(&rpc_msg_migration, &m);
	return RPC_REPLY_RETURN;
}

/* save -, as the VMM takes it: the stream goes into the passed fd. */
static enum rpc_reply_kind h_save(struct rpc_request *req,
				  struct json_object *args,
				  struct rpc_reply *reply)
{
	struct rpc_save_args a;
	struct rpc_save_result s;
	char why[RPC_MSG_WHY_MAX];
	int fd = rpc_request_take_fd(req);
	ssize_t r;

	if (rpc_msg_decode(&rpc_msg_save, args, &a, why, sizeof(why)) ||
	    strcmp(a.file, "-") || fd < 0) {
		if (fd >= 0)
			close(fd);
		return rpc_reply_error(reply, RPC_ERR_GENERIC,
				       "save: no fd with file '-'");
	}
	r = write(fd, "STREAM", 6);
	close(fd);
	rpc_msg_init(&rpc_msg_save_result, &s);
	s.status = RPC_SAVE_COMPLETED;
	s.bytes = r;
	snprintf(s.file, sizeof(s.file), "-");
	reply->ret = rpc_msg_encode(&rpc_msg_save_result, &s);
	return RPC_REPLY_RETURN;
}

static enum rpc_reply_kind h_query_save(struct rpc_request *req,
					struct json_object *args,
					struct rpc_reply *reply)
{
	struct rpc_save_result s;

	rpc_msg_init(&rpc_msg_save_result, &s);
	s.status = RPC_SAVE_COMPLETED;
	s.bytes = 3 << 20;
	snprintf(s.file, sizeof(s.file), "/srv/vm.save");
	reply->ret = rpc_msg_encode(&rpc_msg_save_result, &s);
	return RPC_REPLY_RETURN;
}

/* As the VMM's stop: a state change event. */
static enum rpc_reply_kind h_stop(struct rpc_request *req,
				  struct json_object *args,
				  struct rpc_reply *reply)
{
	struct fixture *f = req->opaque;

	rpc_server_event(f->srv, "STOP", NULL);
	return RPC_REPLY_RETURN;
}

static struct rpc_command cmds[] = {
	{ "echo", h_echo, NULL },
	{ "stop", h_stop, NULL },
	{ "hold", h_hold, NULL },
	{ "migrate", h_migrate, NULL },
	{ "query-migrate", h_query_migrate, NULL },
	{ "query-save", h_query_save, NULL },
	{ "save", h_save, NULL },
};

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

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		cmds[i].opaque = f;
	pthread_mutex_init(&f->lock, NULL);
	snprintf(f->dir, sizeof(f->dir), "/tmp/godwit-lib-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/vm.qmp", f->dir);
	assert_int_equal(evloop_new(&f->loop), 0);
	assert_int_equal(rpc_server_new(f->loop, cmds,
					sizeof(cmds) / sizeof(cmds[0]),
					&f->srv),
			 0);
	assert_int_equal(rpc_server_listen(f->srv, f->path), 0);
	assert_int_equal(pthread_create(&f->thread, NULL, loop_thread, f), 0);
	*state = f;
	return 0;
}

/* The server goes away (its loop stops, its connections close). */
static void server_stop(struct fixture *f)
{
	if (!f->srv)
		return;
	evloop_stop(f->loop);
	pthread_join(f->thread, NULL);
	rpc_server_free(f->srv);
	f->srv = NULL;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	server_stop(f);
	evloop_free(f->loop);
	assert_int_equal(rmdir(f->dir), 0);
	pthread_mutex_destroy(&f->lock);
	free(f);
	return 0;
}

/* ---- the application's side ---- */

/* What the callbacks saw. */
struct seen {
	int replies, rc, errors;
	struct godwit_save_result save;
	char error[GODWIT_ERROR_MAX];
	struct json_object *ret;
	int rounds, outcomes;
	struct godwit_migration_round last_round;
	struct godwit_migration outcome;
	bool close_in_callback;
};

static void on_reply(struct godwit_conn *c, const struct godwit_reply *r,
		     void *opaque)
{
	struct seen *s = opaque;

	s->replies++;
	s->rc = r->rc;
	s->errors += r->rc != 0;
	snprintf(s->error, sizeof(s->error), "%s", r->error);
	json_object_put(s->ret);
	s->ret = json_object_get(r->ret);
	if (s->close_in_callback)
		godwit_conn_close(c);
}

static void on_event(struct godwit_conn *c, const struct godwit_event *e,
		     void *opaque)
{
	struct seen *s = opaque;

	assert_int_equal(e->domid, -1); /* a VM's own socket */
	if (e->kind == GODWIT_EVENT_MIGRATION_ROUND) {
		s->rounds++;
		s->last_round = e->as.round;
	} else if (e->kind == GODWIT_EVENT_MIGRATION) {
		s->outcomes++;
		s->outcome = e->as.migration;
	}
}

/* The application's loop: poll as the connection asks, then dispatch. */
static int run_until(struct godwit_conn *c, const int *counter, int want)
{
	uint64_t end = time_mono_ns() + 5000 * NSEC_PER_MSEC;
	struct pollfd p;
	int rc = 0, r;

	while (*counter < want && !rc) {
		assert_true(time_mono_ns() < end);
		p = (struct pollfd){ .fd = godwit_conn_fd(c),
				     .events = godwit_conn_events(c) };
		r = poll(&p, 1, godwit_conn_timeout(c));
		assert_true(r >= 0);
		rc = godwit_conn_dispatch(c, r ? p.revents : 0);
	}
	return rc;
}

static void test_async_call_and_events(void **state)
{
	struct fixture *f = *state;
	struct godwit_migrate_params p;
	struct json_object *args = json_tokener_parse("{\"x\": [1, \"two\"]}");
	struct godwit_conn *c;
	struct seen s = { 0 };
	char err[GODWIT_ERROR_MAX];

	assert_int_equal(godwit_open_vm(f->path, &c, err, sizeof(err)), 0);
	assert_false(godwit_conn_is_daemon(c));
	godwit_set_event_handler(c, on_event, &s);
	/* Usable at once: the command waits for the negotiation. */
	assert_int_equal(godwit_call(c, "echo", args, 5000, on_reply, &s), 0);
	json_object_put(args);
	assert_int_equal(s.replies, 0); /* only ever inside dispatch */
	assert_int_equal(run_until(c, &s.replies, 1), 0);
	assert_int_equal(s.rc, 0);
	assert_string_equal(json_object_to_json_string(s.ret),
			    "{ \"x\": [ 1, \"two\" ] }");
	godwit_migrate_params_init(&p);
	p.destination = "tcp:dest.example:7000";
	p.max_rounds = 5;
	p.compress = GODWIT_COMPRESS_AUTO;
	p.connections = 4;
	assert_int_equal(godwit_migrate(c, "ignored", &p, 5000, on_reply, &s,
					err, sizeof(err)),
			 0);
	/* The server sends the events before its reply; one read may end
	 * between them. */
	assert_int_equal(run_until(c, &s.outcomes, 1), 0);
	assert_int_equal(run_until(c, &s.replies, 2), 0);
	assert_int_equal(s.rc, 0);
	assert_int_equal(s.rounds, 2);
	assert_int_equal(s.last_round.round, 1);
	assert_int_equal(s.last_round.pages_sent, 101);
	assert_int_equal(s.outcome.status, GODWIT_MIGRATION_COMPLETED);
	assert_true(s.outcome.has_downtime);
	/* The VMM read what the library sent, through the same codec. */
	pthread_mutex_lock(&f->lock);
	assert_true(f->migrated);
	assert_string_equal(f->migrate.uri, "dest.example:7000");
	assert_int_equal(f->migrate.max_rounds, 5);
	assert_int_equal(f->migrate.downtime_ms, 30);
	assert_int_equal(f->migrate.compress, RPC_COMPRESS_AUTO);
	assert_int_equal(f->migrate.connections, 4);
	assert_string_equal(f->migrate.domain, "");
	pthread_mutex_unlock(&f->lock);
	json_object_put(s.ret);
	godwit_conn_close(c);
}

/* A parameter out of range is refused before anything is sent. */
static void test_bad_params(void **state)
{
	struct fixture *f = *state;
	struct godwit_migrate_params p;
	struct godwit_conn *c;
	struct seen s = { 0 };
	char err[GODWIT_ERROR_MAX];

	assert_int_equal(godwit_open_vm(f->path, &c, err, sizeof(err)), 0);
	godwit_migrate_params_init(&p);
	p.destination = "h";
	p.stall_timeout_ms = 5;
	assert_int_equal(godwit_migrate(c, NULL, &p, 5000, on_reply, &s, err,
					sizeof(err)),
			 -EINVAL);
	assert_string_equal(
		err,
		"migrate: 'stall-timeout-ms' must be an integer from 100 to 3600000");
	p.stall_timeout_ms = 1000;
	p.destination = "a:b:c";
	assert_int_equal(godwit_migrate(c, NULL, &p, 5000, on_reply, &s, err,
					sizeof(err)),
			 -EINVAL);
	assert_int_equal(godwit_conn_timeout(c) > 0, true); /* the greeting */
	godwit_conn_close(c);
	assert_int_equal(s.replies, 0);
	pthread_mutex_lock(&f->lock);
	assert_false(f->migrated);
	pthread_mutex_unlock(&f->lock);
}

/* A command's deadline; its late answer is dropped; the rest goes on. */
static void test_timeout(void **state)
{
	struct fixture *f = *state;
	struct godwit_conn *c;
	struct seen s = { 0 };
	char err[GODWIT_ERROR_MAX];
	struct json_object *ret = NULL;

	assert_int_equal(godwit_open_vm(f->path, &c, err, sizeof(err)), 0);
	assert_int_equal(godwit_call(c, "hold", NULL, 100, on_reply, &s), 0);
	assert_int_equal(run_until(c, &s.replies, 1), 0);
	assert_int_equal(s.rc, -ETIMEDOUT);
	assert_string_equal(s.error, "hold: no answer in time");
	assert_int_equal(godwit_conn_timeout(c), -1);
	assert_int_equal(godwit_execute(c, "echo", NULL, 5000, &ret, err,
					sizeof(err)),
			 0);
	json_object_put(ret);
	assert_int_equal(s.replies, 1);
	godwit_conn_close(c);
}

/* Closing: pending commands learn it; a callback may close. */
static void test_close(void **state)
{
	struct fixture *f = *state;
	struct godwit_conn *c;
	struct seen s = { 0 }, t = { .close_in_callback = true };
	char err[GODWIT_ERROR_MAX];

	assert_int_equal(godwit_open_vm(f->path, &c, err, sizeof(err)), 0);
	assert_int_equal(godwit_call(c, "hold", NULL, -1, on_reply, &s), 0);
	godwit_conn_close(c);
	assert_int_equal(s.replies, 1);
	assert_int_equal(s.rc, -ECANCELED);
	assert_int_equal(godwit_open_vm(f->path, &c, err, sizeof(err)), 0);
	assert_int_equal(godwit_call(c, "echo", NULL, 5000, on_reply, &t), 0);
	assert_int_equal(godwit_call(c, "hold", NULL, -1, on_reply, &s), 0);
	/* The echo's callback closes c: the hold is cancelled, and c is
	 * freed when the dispatch returns (valgrind checks both). */
	assert_int_equal(run_until(c, &t.replies, 1), -ECANCELED);
	assert_int_equal(s.replies, 2);
	assert_int_equal(s.rc, -ECANCELED);
	json_object_put(t.ret);
}

/* The blocking layer: execute, the event queue, a composite command. */
static void test_blocking(void **state)
{
	struct fixture *f = *state;
	struct godwit_result res = GODWIT_RESULT_INIT;
	struct godwit_migrate_params p;
	enum godwit_event_kind kind;
	struct godwit_event *ev;
	struct godwit_conn *c;
	struct godwit_job job;
	char err[GODWIT_ERROR_MAX];

	assert_int_equal(
		godwit_open_domain(f->path, false, &c, err, sizeof(err)), 0);
	assert_int_equal(godwit_next_event(c, 0, &ev), -ETIMEDOUT);
	godwit_migrate_params_init(&p);
	p.destination = "[::1]:9";
	assert_int_equal(godwit_migrate(c, NULL, &p, 5000, godwit_result_fn,
					&res, err, sizeof(err)),
			 0);
	assert_int_equal(godwit_result_wait(c, &res), 0);
	godwit_result_release(&res);
	assert_null(res.ret);
	assert_int_equal(godwit_next_event(c, 5000, &ev), 0);
	assert_int_equal(ev->kind, GODWIT_EVENT_MIGRATION_ROUND);
	assert_string_equal(ev->name, "MIGRATION_PASS");
	godwit_event_free(ev);
	/* A state change, from a typed verb. */
	assert_int_equal(godwit_domain_verb(c, NULL, GODWIT_VERB_PAUSE, 5000,
					    godwit_result_fn, &res),
			 0);
	assert_int_equal(godwit_result_wait(c, &res), 0);
	godwit_result_release(&res);
	do {
		assert_int_equal(godwit_next_event(c, 5000, &ev), 0);
		kind = ev->kind;
		if (kind == GODWIT_EVENT_STATE)
			assert_string_equal(ev->name, "STOP");
		godwit_event_free(ev);
	} while (kind != GODWIT_EVENT_STATE);
	/* The rest stay queued until asked for; closing frees them. */
	/* On a VM socket job-info takes two queries; one answer comes. */
	assert_int_equal(godwit_job_info(c, NULL, 5000, godwit_result_fn, &res),
			 0);
	assert_int_equal(godwit_result_wait(c, &res), 0);
	assert_int_equal(godwit_decode_job(res.ret, &job, err, sizeof(err)), 0);
	assert_int_equal(job.type, GODWIT_JOB_COMPLETED);
	assert_string_equal(job.operation, "save");
	assert_true(job.has_data_processed);
	assert_int_equal(job.data_processed, 3 << 20);
	godwit_result_release(&res);
	godwit_conn_close(c);
}

/* One save -: its answer, and what the "VMM" wrote into the pipe. */
static void on_save_reply(struct godwit_conn *c, const struct godwit_reply *r,
			  void *opaque)
{
	struct seen *s = opaque;
	char err[GODWIT_ERROR_MAX];

	on_reply(c, r, opaque);
	assert_int_equal(r->rc, 0);
	assert_int_equal(godwit_decode_save(r->ret, &s->save, err, sizeof(err)),
			 0);
}

/* One save -, then an echo queued behind it that must not get the fd. */
static void save_to_pipe(struct godwit_conn *c, struct seen *s, int want)
{
	struct godwit_save_result r;
	char err[GODWIT_ERROR_MAX], buf[16];
	int p[2];

	assert_int_equal(pipe(p), 0);
	assert_int_equal(godwit_save_to_fd(c, "ignored", p[1], 0, 5000,
					   on_save_reply, s, err, sizeof(err)),
			 0);
	close(p[1]); /* the library holds its own duplicate */
	assert_int_equal(godwit_call(c, "echo", NULL, 5000, on_reply, s), 0);
	assert_int_equal(run_until(c, &s->replies, want), 0);
	assert_int_equal(s->errors, 0);
	r = s->save;
	assert_string_equal(r.file, "-");
	assert_int_equal(r.bytes, 6);
	/* Sent and closed: the pipe ends after the stream. */
	assert_int_equal(read(p[0], buf, sizeof(buf)), 6);
	assert_memory_equal(buf, "STREAM", 6);
	assert_int_equal(read(p[0], buf, sizeof(buf)), 0);
	close(p[0]);
}

/*
 * godwit_save_to_fd: the fd goes with the save and no other command
 * (one before it, one after it), whether queued before the negotiation or
 * after.
 */
static void test_save_to_fd(void **state)
{
	struct fixture *f = *state;
	struct godwit_conn *c;
	struct seen s = { 0 };
	char err[GODWIT_ERROR_MAX];

	assert_int_equal(godwit_open_vm(f->path, &c, err, sizeof(err)), 0);
	assert_int_equal(godwit_call(c, "echo", NULL, 5000, on_reply, &s), 0);
	save_to_pipe(c, &s, 3); /* all three held for the negotiation */
	save_to_pipe(c, &s, 5);
	assert_int_equal(s.errors, 0); /* no echo got the fd */
	/* A save refused before it is sent keeps no fd for the next. */
	assert_int_equal(godwit_save_to_fd(c, "x", STDERR_FILENO,
					   GODWIT_SAVE_KEEP_RUNNING |
						   GODWIT_SAVE_LEAVE_PAUSED,
					   5000, on_save_reply, &s, err,
					   sizeof(err)),
			 -EINVAL);
	assert_int_equal(godwit_call(c, "echo", NULL, 5000, on_reply, &s), 0);
	assert_int_equal(run_until(c, &s.replies, 6), 0);
	assert_int_equal(s.errors, 0);
	json_object_put(s.ret);
	godwit_conn_close(c);
}

/* The server goes away: the waiting command says so; so does dispatch. */
static void test_server_gone(void **state)
{
	struct fixture *f = *state;
	struct godwit_conn *c;
	struct seen s = { 0 };
	char err[GODWIT_ERROR_MAX];
	bool holding = false;
	uint64_t end = time_mono_ns() + 5000 * NSEC_PER_MSEC;

	assert_int_equal(godwit_open_vm(f->path, &c, err, sizeof(err)), 0);
	assert_int_equal(godwit_call(c, "hold", NULL, -1, on_reply, &s), 0);
	while (!holding) {
		assert_true(time_mono_ns() < end);
		assert_int_equal(godwit_conn_dispatch(c, POLLIN | POLLOUT), 0);
		usleep(1000);
		pthread_mutex_lock(&f->lock);
		holding = f->holding;
		pthread_mutex_unlock(&f->lock);
	}
	server_stop(f);
	assert_int_equal(run_until(c, &s.replies, 1), -ECONNRESET);
	assert_int_equal(s.rc, -ECONNRESET);
	assert_string_equal(s.error, "hold: the VM process went away");
	assert_int_equal(godwit_conn_dispatch(c, POLLIN), -ECONNRESET);
	assert_int_equal(godwit_call(c, "echo", NULL, -1, on_reply, &s),
			 -ECONNRESET);
	godwit_conn_close(c);
	/* Nobody there now. */
	assert_true(godwit_error_is_absent(
		godwit_open_vm(f->path, &c, err, sizeof(err))));
	assert_null(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_async_call_and_events,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_params, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blocking, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_gone, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_save_to_fd, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
