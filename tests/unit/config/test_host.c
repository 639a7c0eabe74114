/*
 * godwitd.conf (src/config/host.c): the default, each value of
 * on_host_stop, and one exact file:line:key error for each kind of
 * mistake; a failed parse leaves the caller's struct as it was.
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

#include "config/host_config.h"

static struct config_diag diag;

static int parse(const char *text, struct host_config *h)
{
	return host_config_parse("godwitd.conf", text, strlen(text), h, &diag);
}

static void fails(const char *text, const char *message)
{
	struct host_config h = { .on_host_stop = HOST_ON_STOP_SAVE };

	assert_int_equal(parse(text, &h), -EINVAL);
	assert_string_equal(diag.error, message);
	assert_int_equal(h.on_host_stop, HOST_ON_STOP_SAVE);
}

static void test_values(void **state)
{
	struct host_config h;

	(void)state;
	assert_int_equal(parse("", &h), 0);
	assert_int_equal(h.on_host_stop, HOST_ON_STOP_KEEP);
	assert_int_equal(parse("# host policy\non_host_stop = \"save\"\n", &h),
			 0);
	assert_int_equal(h.on_host_stop, HOST_ON_STOP_SAVE);
	assert_int_equal(parse("on_host_stop = 'keep'", &h), 0);
	assert_int_equal(h.on_host_stop, HOST_ON_STOP_KEEP);
	assert_string_equal(host_on_stop_name(HOST_ON_STOP_SAVE), "save");
}

static void test_errors(void **state)
{
	(void)state;
	fails("on_host_stop = \"suspend\"\n",
	      "godwitd.conf:1:16: on_host_stop: unknown value \"suspend\" "
	      "(expected \"keep\" or \"save\")");
	fails("\non_host_stop = 1\n",
	      "godwitd.conf:2:16: on_host_stop: expected a string");
	fails("lock_manger = \"file\"\n",
	      "godwitd.conf:1:1: lock_manger: unknown key (godwitd.conf has "
	      "on_host_stop)");
	fails("on_host_stop = \"save\n",
	      "godwitd.conf:1:16: on_host_stop: unterminated string");
}

static void test_load(void **state)
{
	char path[] = "/tmp/godwit-host-conf-XXXXXX";
	struct host_config h = { .on_host_stop = HOST_ON_STOP_SAVE };
	int fd;

	(void)state;
	assert_int_equal(host_config_load("/nonexistent/godwitd.conf", true, &h,
					  &diag),
			 0);
	assert_int_equal(h.on_host_stop, HOST_ON_STOP_KEEP);
	assert_int_equal(host_config_load("/nonexistent/godwitd.conf", false,
					  &h, &diag),
			 -ENOENT);
	assert_string_equal(diag.error, "/nonexistent/godwitd.conf: cannot "
					"read it: No such file or directory");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "on_host_stop = \"save\"\n", 22), 22);
	close(fd);
	assert_int_equal(host_config_load(path, false, &h, &diag), 0);
	assert_int_equal(h.on_host_stop, HOST_ON_STOP_SAVE);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
