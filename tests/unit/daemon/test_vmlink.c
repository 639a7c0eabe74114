/*
 * Unit tests of godwitd's VMM link (src/toolstack/daemon/vmlink.c)
 * against a real rpc server on the same event loop: negotiation, replies
 * matched to their commands, events, server errors with their class,
 * timeouts, the server going away (pending commands get -ECONNRESET,
 * then down), the owner freeing the link from a callback (-ECANCELED
 * for the rest, no use after free), and nothing listening.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/clock.h"
#include "common/evloop.h"
#include "toolstack/daemon/vmlink.h"
#include "rpc/server.h"

struct fixture {
	char dir[64];
	char path[96];
	struct evloop *loop;
	struct rpc_server *srv;
	struct vmlink *link;
	int ups, downs, events;
	char last_event[32];
};

struct result {
	int calls, rc;
	char cls[32], desc[256];
	int64_t value;
	struct fixture *f;
	bool free_link; /* free the link from this callback */
};

static enum rpc_reply_kind cmd_echo(struct rpc_request *req,
				    struct json_object *args,
				    struct rpc_reply *reply)
{
	reply->ret = json_object_get(args);
	return RPC_REPLY_RETURN;
}

static enum rpc_reply_kind cmd_later(struct rpc_request *req,
				     struct json_object *args,
				     struct rpc_reply *reply)
{
	return RPC_REPLY_LATER; /* never answered */
}

static enum rpc_reply_kind cmd_boom(struct rpc_request *req,
				    struct json_object *args,
				    struct rpc_reply *reply)
{
	return rpc_reply_error(reply, RPC_ERR_DEVICE_NOT_ACTIVE, "it broke");
}

static enum rpc_reply_kind cmd_poke(struct rpc_request *req,
				    struct json_object *args,
				    struct rpc_reply *reply)
{
	struct fixture *f = req->opaque;

	rpc_server_event(f->srv, "POKED", json_object_new_object());
	return RPC_REPLY_RETURN;
}

static struct rpc_command cmds[] = {
	{ "echo", cmd_echo, NULL },
	{ "later", cmd_later, NULL },
	{ "boom", cmd_boom, NULL },
	{ "poke", cmd_poke, NULL },
};

static void on_up(struct vmlink *l, void *opaque)
{
	((struct fixture *)opaque)->ups++;
}

static void on_event(struct vmlink *l, void *opaque, const char *name,
		     struct json_object *data)
{
	struct fixture *f = opaque;

	f->events++;
	snprintf(f->last_event, sizeof(f->last_event), "%s", name);
}

static void on_down(struct vmlink *l, void *opaque, const char *why)
{
	struct fixture *f = opaque;

	f->downs++;
	vmlink_free(f->link); /* as the daemon does */
	f->link = NULL;
}

static const struct vmlink_ops ops = { on_up, on_event, on_down };

static void on_reply(void *opaque, int rc, struct json_object *ret,
		     const struct vmlink_err *err)
{
	struct result *r = opaque;
	struct json_object *v;

	r->calls++;
	r->rc = rc;
	snprintf(r->cls, sizeof(r->cls), "%s", err ? err->cls : "");
	snprintf(r->desc, sizeof(r->desc), "%s", err ? err->desc : "");
	if (ret && json_object_object_get_ex(ret, "v", &v))
		r->value = json_object_get_int64(v);
	if (r->free_link) {
		vmlink_free(r->f->link);
		r->f->link = NULL;
	}
}

/* Run the loop until *flag becomes non-zero (or 5 s pass). */
static void spin(struct fixture *f, int *flag)
{
	uint64_t end = time_mono_ns() + 5 * NSEC_PER_SEC;

	while (!*flag && time_mono_ns() < end)
		assert_int_equal(evloop_run_once(f->loop, 50), 0);
	assert_true(*flag);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	size_t i;

	assert_non_null(f);
	strcpy(f->dir, "/tmp/gw-vmlink-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/vm.qmp", f->dir);
	assert_int_equal(evloop_new(&f->loop), 0);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		cmds[i].opaque = f;
	assert_int_equal(rpc_server_new(f->loop, cmds, 4, &f->srv), 0);
	assert_int_equal(rpc_server_listen(f->srv, f->path), 0);
	assert_int_equal(vmlink_open(f->loop, f->path, &ops, f, &f->link), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	vmlink_free(f->link);
	rpc_server_free(f->srv);
	evloop_free(f->loop);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void test_reply_and_event(void **state)
{
	struct fixture *f = *state;
	struct json_object *args = json_object_new_object();
	struct result r = { .f = f }, p = { .f = f };

	/* Queued before negotiation finished: still answered in order. */
	json_object_object_add(args, "v", json_object_new_int(42));
	assert_int_equal(vmlink_call(f->link, "echo", args, 1000, on_reply, &r),
			 0);
	json_object_put(args);
	spin(f, &r.calls);
	assert_int_equal(f->ups, 1);
	assert_true(vmlink_is_up(f->link));
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.value, 42);
	assert_int_equal(vmlink_call(f->link, "poke", NULL, 1000, on_reply, &p),
			 0);
	spin(f, &p.calls);
	spin(f, &f->events);
	assert_string_equal(f->last_event, "POKED");
}

static void test_errors_and_timeout(void **state)
{
	struct fixture *f = *state;
	struct result b = { .f = f }, u = { .f = f }, t = { .f = f };

	assert_int_equal(vmlink_call(f->link, "boom", NULL, 1000, on_reply, &b),
			 0);
	assert_int_equal(
		vmlink_call(f->link, "nosuch", NULL, 1000, on_reply, &u), 0);
	assert_int_equal(vmlink_call(f->link, "later", NULL, 100, on_reply, &t),
			 0);
	spin(f, &u.calls);
	assert_int_equal(b.rc, -EREMOTEIO);
	assert_string_equal(b.cls, "DeviceNotActive");
	assert_string_equal(b.desc, "it broke");
	assert_int_equal(u.rc, -EREMOTEIO);
	assert_string_equal(u.cls, "CommandNotFound");
	spin(f, &t.calls);
	assert_int_equal(t.rc, -ETIMEDOUT);
	assert_int_equal(t.calls, 1);
}

static void test_server_goes_away(void **state)
{
	struct fixture *f = *state;
	struct result r = { .f = f }, first = { .f = f };

	assert_int_equal(
		vmlink_call(f->link, "echo", NULL, 1000, on_reply, &first), 0);
	spin(f, &first.calls);
	assert_int_equal(vmlink_call(f->link, "later", NULL, -1, on_reply, &r),
			 0);
	assert_int_equal(evloop_run_once(f->loop, 50), 0);
	rpc_server_free(f->srv);
	f->srv = NULL;
	spin(f, &f->downs);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.rc, -ECONNRESET);
	assert_null(f->link);
}

static void test_free_from_callback(void **state)
{
	struct fixture *f = *state;
	struct result a = { .f = f, .free_link = true }, b = { .f = f };

	assert_int_equal(vmlink_call(f->link, "echo", NULL, 1000, on_reply, &a),
			 0);
	assert_int_equal(vmlink_call(f->link, "later", NULL, -1, on_reply, &b),
			 0);
	spin(f, &a.calls);
	assert_int_equal(a.rc, 0);
	assert_int_equal(b.calls, 1);
	assert_int_equal(b.rc, -ECANCELED);
	assert_null(f->link);
	assert_int_equal(f->downs, 0);
	/* The loop goes on without the link. */
	assert_int_equal(evloop_run_once(f->loop, 10), 0);
}

static void test_nothing_listens(void **state)
{
	struct fixture *f = *state;
	struct vmlink *l;
	char path[128];

	snprintf(path, sizeof(path), "%s/none.qmp", f->dir);
	assert_int_equal(vmlink_open(f->loop, path, &ops, f, &l), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reply_and_event, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_errors_and_timeout, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_server_goes_away, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_free_from_callback, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_nothing_listens, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
