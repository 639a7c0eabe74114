/*
 * The client library as a program outside godwit sees it: compiled with
 * include/ alone on the include path (meson.build), so a public header
 * that needs one of godwit's internal headers fails this build. Then
 * what needs no server: where sockets are, what "nobody answers" looks
 * like, the defaults, and reading answers into the public structs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#include <cmocka.h>

#include <godwit/client.h>
#include <godwit/domain.h>
#include <godwit/jobinfo.h>
#include <godwit/managed.h>
#include <godwit/migrate.h>

static void test_socket_paths(void **state)
{
	char buf[256];

	(void)state;
	setenv("GODWIT_RUN_DIR", "/tmp/gw-run", 1);
	assert_int_equal(godwit_daemon_socket_path(buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/tmp/gw-run/godwitd.sock");
	assert_int_equal(godwit_vm_socket_path("web", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/tmp/gw-run/vm/web.qmp");
	/* A name with a slash is a socket path, taken as it is. */
	assert_int_equal(godwit_vm_socket_path("./s/a.qmp", buf, sizeof(buf)),
			 0);
	assert_string_equal(buf, "./s/a.qmp");
	/* Empty means unset, for both sockets alike. */
	setenv("GODWIT_RUN_DIR", "", 1);
	assert_string_equal(godwit_run_dir(), "/run/godwit");
	assert_int_equal(godwit_daemon_socket_path(buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/run/godwit/godwitd.sock");
	/* Too small a buffer is an error, never a cut path. */
	assert_int_not_equal(godwit_vm_socket_path("web", buf, 8), 0);
}

static void test_nobody_answers(void **state)
{
	struct godwit_conn *c = (struct godwit_conn *)&c;
	char err[GODWIT_ERROR_MAX] = "";
	int rc;

	(void)state;
	setenv("GODWIT_RUN_DIR", "/nonexistent/godwit-test", 1);
	rc = godwit_open_daemon(&c, err, sizeof(err));
	assert_true(godwit_error_is_absent(rc));
	assert_null(c);
	assert_non_null(strstr(err, "no godwitd is running"));
	rc = godwit_open_vm("ghost", &c, err, sizeof(err));
	assert_int_equal(rc, -ENOENT);
	assert_non_null(strstr(err, "'ghost'"));
	/* No daemon: a domain's name means its VM socket. */
	rc = godwit_open_domain("ghost", false, &c, err, sizeof(err));
	assert_non_null(strstr(err, "no VM 'ghost'"));
	rc = godwit_open_domain("ghost", true, &c, err, sizeof(err));
	assert_non_null(strstr(err, "no godwitd"));
	assert_false(godwit_error_is_absent(-EACCES));
	godwit_conn_close(NULL);
	godwit_event_free(NULL);
}

static void test_migrate_defaults(void **state)
{
	struct godwit_migrate_params p;

	(void)state;
	godwit_migrate_params_init(&p);
	assert_true(p.live);
	assert_int_equal(p.downtime_ms, 30);
	assert_int_equal(p.max_rounds, 30);
	assert_int_equal(p.stall_timeout_ms, 8000);
	assert_int_equal(p.bandwidth_mibps, 0);
	assert_string_equal(
		godwit_migration_status_name(GODWIT_MIGRATION_UNCONFIRMED),
		"unconfirmed");
}

static void test_decoders(void **state)
{
	struct json_object *o;
	struct godwit_migrate_started st;
	struct godwit_domain_info *list;
	struct godwit_domain_made made;
	char err[GODWIT_ERROR_MAX];
	size_t n;

	(void)state;
	o = json_tokener_parse("{\"domain\": \"web\", \"domid\": 7, "
			       "\"qmp\": \"/q\", \"exit-file\": \"/e\"}");
	assert_int_equal(godwit_decode_started(o, &st, err, sizeof(err)), 0);
	assert_int_equal(st.domid, 7);
	assert_string_equal(st.exit_file, "/e");
	json_object_put(o);
	o = json_object_new_object(); /* a VM socket's answer */
	assert_int_equal(godwit_decode_started(o, &st, err, sizeof(err)), 0);
	assert_int_equal(st.domid, -1);
	json_object_put(o);
	o = json_tokener_parse("[{\"name\": \"a\", \"domid\": 1, \"disks\": "
			       "[{\"vdev\": \"xvda\", \"access\": \"ro\"}], "
			       "\"vifs\": [{\"mac\": \"00:16:3e:01:02:03\", "
			       "\"bridge\": \"br0\"}]}, "
			       "{\"name\": \"b\"}]");
	assert_int_equal(godwit_decode_list(o, &list, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[1].name, "b");
	assert_int_equal(list[0].nr_disks, 1);
	assert_string_equal(list[0].disks[0].access, "ro");
	assert_int_equal(list[0].nr_vifs, 1);
	assert_string_equal(list[0].vifs[0].mac, "00:16:3e:01:02:03");
	assert_string_equal(list[0].vifs[0].bridge, "br0");
	assert_string_equal(list[0].vifs[0].vifname, "");
	assert_int_equal(list[1].nr_vifs, 0);
	godwit_domain_list_free(list);
	json_object_put(o);
	o = json_tokener_parse("{\"domid\": \"one\"}");
	assert_int_equal(godwit_decode_made(o, &made, err, sizeof(err)),
			 -EPROTO);
	assert_non_null(strstr(err, "'domid' must be an integer"));
	json_object_put(o);
}

/* virsh domjobinfo's table from job-info's answer. */
static void test_job_print(void **state)
{
	struct json_object *o = json_tokener_parse(
		"{\"type\": \"unbounded\", \"operation\": \"outgoing migration\","
		" \"target\": \"h:8002\", \"data-processed\": 1048576,"
		" \"iteration\": 3}");
	char err[GODWIT_ERROR_MAX], out[1024] = "";
	struct godwit_job job;
	FILE *f = fmemopen(out, sizeof(out) - 1, "w");

	(void)state;
	assert_int_equal(godwit_decode_job(o, &job, err, sizeof(err)), 0);
	godwit_job_print(f, &job);
	fclose(f);
	assert_string_equal(out, "Job type:         Unbounded\n"
				 "Operation:        Outgoing migration\n"
				 "Destination:      h:8002\n"
				 "Data processed:   1.000 MiB\n"
				 "Iteration:        3            \n");
	json_object_put(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_socket_paths),
		cmocka_unit_test(test_nobody_answers),
		cmocka_unit_test(test_migrate_defaults),
		cmocka_unit_test(test_decoders),
		cmocka_unit_test(test_job_print),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
