/*
 * The client library as a program outside godwit sees it: compiled with
 * include/ alone on the include path (meson.build), so a public header
 * that needs one of godwit's internal headers fails this build. Then
 * the calls that need no running daemon: where sockets are, and what
 * "nobody answers" looks like.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#include <cmocka.h>

#include <godwit/gwdctl.h>
#include <godwit/jobinfo.h>
#include <godwit/vmctl.h>

static void test_socket_paths(void **state)
{
	char buf[256];

	(void)state;
	setenv("GODWIT_RUN_DIR", "/tmp/gw-run", 1);
	assert_int_equal(gwdctl_socket_path(buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/tmp/gw-run/godwitd.sock");
	assert_int_equal(vmctl_socket_path("web", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/tmp/gw-run/vm/web.qmp");
	/* A name with a slash is a socket path, taken as it is. */
	assert_int_equal(vmctl_socket_path("./s/a.qmp", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "./s/a.qmp");
	/* Empty means unset, for both sockets alike. */
	setenv("GODWIT_RUN_DIR", "", 1);
	assert_int_equal(gwdctl_socket_path(buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/run/godwit/godwitd.sock");
	assert_int_equal(vmctl_socket_path("web", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/run/godwit/vm/web.qmp");
	/* Too small a buffer is an error, never a cut path. */
	assert_int_not_equal(vmctl_socket_path("web", buf, 8), 0);
}

static void test_nobody_answers(void **state)
{
	struct rpc_client *c = NULL;
	char err[VMCTL_ERR_MAX] = "";
	int rc;

	(void)state;
	setenv("GODWIT_RUN_DIR", "/nonexistent/godwit-test", 1);
	rc = gwdctl_open(&c, err, sizeof(err));
	assert_true(gwdctl_is_absent(rc));
	assert_null(c);
	rc = vmctl_open("ghost", &c, err, sizeof(err));
	assert_int_equal(rc, -ENOENT);
	assert_non_null(strstr(err, "'ghost'"));
	assert_false(gwdctl_is_absent(-EACCES));
}

static void test_no_job(void **state)
{
	struct json_object *job = jobinfo_none();
	struct json_object *type;

	(void)state;
	assert_true(json_object_object_get_ex(job, "type", &type));
	assert_string_equal(json_object_get_string(type), "none");
	json_object_put(job);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_socket_paths),
		cmocka_unit_test(test_nobody_answers),
		cmocka_unit_test(test_no_job),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
