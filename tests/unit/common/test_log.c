/*
 * Unit tests for src/common/log.c: journal entries carry the syslog
 * priority and the log context's fields; under a journal stream (as
 * systemd sets JOURNAL_STREAM) every line goes to the journal socket,
 * with the right priority and fields, and not to stderr; the first
 * error is kept for a VMM's exit file.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/log.h"

static void test_journal_fields(void **state)
{
	struct log_ctx ctx = { .domain = "web", .uuid = "u-1", .job = "" };
	char buf[512];
	size_t n;

	n = log_journal_format(buf, sizeof(buf), 3, "godwitd", "a\nb", &ctx);
	buf[n] = 0;
	/* A line break in a value would start a field of its own. */
	assert_string_equal(buf, "PRIORITY=3\nSYSLOG_IDENTIFIER=godwitd\n"
				 "MESSAGE=a b\nGODWIT_DOMAIN=web\n"
				 "GODWIT_UUID=u-1\n");
	n = log_journal_format(buf, 40, 6, "godwit",
			       "a long message that is cut", NULL);
	assert_true(n < 40);
}

/* Receive one datagram from the fake journal. */
static void recv_entry(int fd, char *buf, size_t size)
{
	ssize_t n = recv(fd, buf, size - 1, MSG_DONTWAIT);

	assert_true(n > 0);
	buf[n] = 0;
}

static void test_journal_stream(void **state)
{
	char dir[] = "/tmp/godwit-log-XXXXXX", path[64], js[64], buf[1024];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/journal", dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	/* What systemd says when our stderr is its stream. */
	assert_int_equal(fstat(STDERR_FILENO, &st), 0);
	snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", js, 1);
	setenv("GODWIT_JOURNAL_SOCKET", path, 1);
	log_set_prefix("godwit[web]");
	log_ctx_default("web", "1234");
	assert_string_equal(log_first_error(), "");

	log_info("vm %s: started", "web");
	assert_true(log_to_journal());
	recv_entry(fd, buf, sizeof(buf));
	assert_string_equal(buf, "PRIORITY=6\nSYSLOG_IDENTIFIER=godwit\n"
				 "MESSAGE=web: vm web: started\n"
				 "GODWIT_DOMAIN=web\nGODWIT_UUID=1234\n");
	log_ctx_set("web", "1234", "migrate 10.0.0.2:8002");
	log_err("kernel %s: no such file", "/k");
	recv_entry(fd, buf, sizeof(buf));
	assert_non_null(strstr(buf, "PRIORITY=3\n"));
	assert_non_null(
		strstr(buf, "MESSAGE=web: error: kernel /k: no such file\n"));
	assert_non_null(strstr(buf, "GODWIT_JOB=migrate 10.0.0.2:8002\n"));
	log_ctx_reset();
	log_warn("later");
	recv_entry(fd, buf, sizeof(buf));
	assert_non_null(strstr(buf, "PRIORITY=4\n"));
	assert_null(strstr(buf, "GODWIT_JOB"));
	log_err("a second error");
	recv_entry(fd, buf, sizeof(buf));
	/* The first error is the one that says why. */
	assert_string_equal(log_first_error(), "kernel /k: no such file");
	close(fd);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_journal_fields),
		cmocka_unit_test(test_journal_stream),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
