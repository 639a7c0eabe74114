/*
 * Unit tests for src/common/net.c: "HOST[:PORT]" parsing, and sockets
 * that send small writes at once (a migration's last records must not
 * wait for the peer's delayed ACK).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/net.h"

static void test_parse_hostport(void **state)
{
	char host[NET_HOST_MAX], tiny[4];
	uint16_t port;

	(void)state;
	assert_int_equal(net_parse_hostport("10.0.0.2", host, sizeof(host),
					    &port, NET_DEFAULT_PORT),
			 0);
	assert_string_equal(host, "10.0.0.2");
	assert_int_equal(port, 8002);
	assert_int_equal(net_parse_hostport("dst:9000", host, sizeof(host),
					    &port, 8002),
			 0);
	assert_string_equal(host, "dst");
	assert_int_equal(port, 9000);
	assert_int_equal(net_parse_hostport("[::1]:7", host, sizeof(host),
					    &port, 8002),
			 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 7);
	assert_int_equal(net_parse_hostport("[::1]", host, sizeof(host), &port,
					    8002),
			 0);
	assert_int_equal(port, 8002);
	/* Bare IPv6, bad ports, no host, a host too long for the buffer. */
	assert_int_equal(net_parse_hostport("::1", host, sizeof(host), &port,
					    8002),
			 -EINVAL);
	assert_int_equal(net_parse_hostport("h:0", host, sizeof(host), &port,
					    8002),
			 -EINVAL);
	assert_int_equal(net_parse_hostport("h:65536", host, sizeof(host),
					    &port, 8002),
			 -EINVAL);
	assert_int_equal(net_parse_hostport("h:x", host, sizeof(host), &port,
					    8002),
			 -EINVAL);
	assert_int_equal(net_parse_hostport(":8002", host, sizeof(host), &port,
					    8002),
			 -EINVAL);
	assert_int_equal(net_parse_hostport("[::1", host, sizeof(host), &port,
					    8002),
			 -EINVAL);
	assert_int_equal(net_parse_hostport("longhost", tiny, sizeof(tiny),
					    &port, 8002),
			 -ENAMETOOLONG);
}

static int nodelay(int fd)
{
	int v = 0;
	socklen_t len = sizeof(v);

	assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len), 0);
	return v;
}

static void test_connect_sets_nodelay(void **state)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	char why[200];
	int lfd, cfd, afd, pair[2];

	(void)state;
	/* Port 0: the kernel picks a free one. */
	assert_int_equal(net_listen("127.0.0.1", 0, &lfd), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
	assert_int_equal(net_connect("127.0.0.1", ntohs(sa.sin_port), 1000,
				     &cfd, why, sizeof(why)),
			 0);
	assert_int_equal(nodelay(cfd), 1);
	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);
	assert_int_equal(nodelay(afd), 0);
	assert_int_equal(net_set_nodelay(afd), 0);
	assert_int_equal(nodelay(afd), 1);
	/* Not TCP: nothing to set, and not an error. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
	assert_int_equal(net_set_nodelay(pair[0]), 0);
	close(pair[0]);
	close(pair[1]);
	close(afd);
	close(cfd);
	close(lfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_hostport),
		cmocka_unit_test(test_connect_sets_nodelay),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
