/*
 * Unit tests of the ssh transport's plumbing (transport/ssh.h) without
 * ssh: the command line it gives the shell (the remote command quoted as
 * one word, hosts a shell cannot misread), a child on a socketpair whose
 * stderr comes back as the last line, and the stream over a read and a
 * write fd (ssh's stdio as the receiver sees it).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "migration/transport/ssh.h"
#include "migration/transport/stream.h"

static void test_host_names(void **state)
{
	(void)state;
	assert_true(ssh_host_ok("root@10.0.0.1"));
	assert_true(ssh_host_ok("host-b.example.org"));
	assert_true(ssh_host_ok("[fe80::1]"));
	assert_false(ssh_host_ok(""));
	assert_false(ssh_host_ok("-oProxyCommand=x"));
	assert_false(ssh_host_ok("h;reboot"));
	assert_false(ssh_host_ok("h x"));
	assert_false(ssh_host_ok("$(id)"));
}

static void test_command_line(void **state)
{
	char out[256];

	(void)state;
	assert_int_equal(ssh_command_line("ssh -p 2222", "root@h",
					  "godwit migrate-receive --stdio", out,
					  sizeof(out)),
			 0);
	assert_string_equal(
		out,
		"exec ssh -p 2222 root@h 'godwit migrate-receive --stdio'");
	/* A quote in the remote command stays the remote shell's. */
	assert_int_equal(ssh_command_line("ssh", "h", "echo 'a b'", out,
					  sizeof(out)),
			 0);
	assert_string_equal(out, "exec ssh h 'echo '\\''a b'\\'''");
	assert_int_equal(ssh_command_line("ssh", "h;x", "r", out, sizeof(out)),
			 -EINVAL);
	assert_int_equal(ssh_command_line("ssh", "h", "rrrrrrrrrr", out, 20),
			 -ENAMETOOLONG);
}

/*
 * A stand-in for ssh: "sh -c SCRIPT sh HOST REMOTE" echoes its stdin
 * (our socketpair) back and says goodbye on stderr with its arguments.
 */
static void test_child_on_socketpair(void **state)
{
	struct ssh_transport t;
	char why[200], buf[6] = "";
	int fd;

	(void)state;
	assert_int_equal(
		ssh_transport_start(&t, "sh -c 'cat; echo bye $1 $2 >&2' sh",
				    "h", "the remote", &fd, why, sizeof(why)),
		0);
	assert_int_equal(write(fd, "hello", 5), 5);
	assert_int_equal(read(fd, buf, 5), 5);
	assert_string_equal(buf, "hello");
	shutdown(fd, SHUT_WR); /* cat ends, the script says bye */
	assert_int_equal(read(fd, buf, 1), 0);
	assert_int_equal(ssh_transport_end(&t, 5000), 0);
	assert_string_equal(t.last, "bye h the remote");
	ssh_transport_describe(&t, why, sizeof(why));
	assert_string_equal(why,
			    "ssh h exited with status 0: bye h the remote");
	assert_int_equal(ssh_transport_end(&t, 0), 0); /* twice: no-op */
	close(fd);
}

/* A child that hangs is killed (its whole group) after the grace. */
static void test_child_killed_after_grace(void **state)
{
	struct ssh_transport t;
	char why[200];
	int fd, st;

	(void)state;
	assert_int_equal(ssh_transport_start(&t, "sh -c 'sleep 30' sh", "h",
					     "r", &fd, why, sizeof(why)),
			 0);
	st = ssh_transport_end(&t, 100);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	ssh_transport_describe(&t, why, sizeof(why));
	assert_string_equal(why, "ssh h was killed by signal 9");
	close(fd);
}

/* Read one pipe, write another: a record goes out and comes back. */
static void test_stream_on_two_pipes(void **state)
{
	int in[2], out[2];
	struct stream s;
	char buf[8] = "";

	(void)state;
	assert_int_equal(pipe(in), 0);
	assert_int_equal(pipe(out), 0);
	assert_int_equal(stream_open_fd_pair(&s, in[0], out[1], true), 0);
	assert_int_equal(stream_set_stall_timeout(&s, 200), 0);
	assert_int_equal(write(in[1], "ping", 4), 4);
	assert_int_equal(stream_read(&s, buf, 4), 0);
	assert_string_equal(buf, "ping");
	assert_int_equal(stream_write(&s, "pong", 4), 0);
	/* A small message on a pipe, without blocking (ROUND_ACK's way). */
	assert_int_equal(stream_send_nowait(&s, "!", 1), 0);
	assert_int_equal(read(out[0], buf, 5), 5);
	assert_memory_equal(buf, "pong!", 5);
	/* Nothing more comes: the stall timeout ends the wait. */
	assert_int_equal(stream_read(&s, buf, 1), -ETIMEDOUT);
	stream_close(&s); /* closes in[0] and out[1] */
	assert_int_equal(read(out[0], buf, 1), 0);
	close(in[1]);
	close(out[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_names),
		cmocka_unit_test(test_command_line),
		cmocka_unit_test(test_child_on_socketpair),
		cmocka_unit_test(test_child_killed_after_grace),
		cmocka_unit_test(test_stream_on_two_pipes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
