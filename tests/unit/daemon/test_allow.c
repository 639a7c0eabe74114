/*
 * Unit tests of the relocation allow-list (src/toolstack/daemon/allow.c):
 * xend's default admits only loopback; expressions are extended regexps
 * matched against the numeric peer address; an empty list admits all;
 * bad expressions are refused by name; IPv4-mapped IPv6 peers are
 * matched as IPv4.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "toolstack/daemon/allow.h"

static void test_default(void **state)
{
	struct allow_list a;
	char why[128];

	assert_int_equal(allow_init(&a, ALLOW_DEFAULT, why, sizeof(why)), 0);
	assert_true(allow_match(&a, "127.0.0.1"));
	assert_true(allow_match(&a, "::1"));
	assert_false(allow_match(&a, "127.0.0.2"));
	assert_false(allow_match(&a, "10.0.0.1"));
	assert_false(allow_match(&a, "127.0.0.10"));
	allow_destroy(&a);
	allow_destroy(&a); /* idempotent */
}

static void test_patterns(void **state)
{
	struct allow_list a;
	char why[128];

	assert_int_equal(allow_init(&a, "  ^10\\.231\\.0\\.[0-9]+$\t^fe80::  ",
				    why, sizeof(why)),
			 0);
	assert_int_equal(a.n, 2);
	assert_true(allow_match(&a, "10.231.0.1"));
	assert_true(allow_match(&a, "10.231.0.254"));
	assert_false(allow_match(&a, "10.231.1.1"));
	assert_true(allow_match(&a, "fe80::1"));
	assert_false(allow_match(&a, "127.0.0.1"));
	allow_destroy(&a);
}

static void test_empty_allows_all(void **state)
{
	struct allow_list a;
	char why[128];

	assert_int_equal(allow_init(&a, "   ", why, sizeof(why)), 0);
	assert_int_equal(a.n, 0);
	assert_true(allow_match(&a, "192.0.2.7"));
	allow_destroy(&a);
}

static void test_bad_expression(void **state)
{
	struct allow_list a;
	char why[128] = "";

	assert_int_equal(allow_init(&a, "^127 (unclosed", why, sizeof(why)),
			 -EINVAL);
	assert_non_null(strstr(why, "(unclosed"));
	allow_destroy(&a);
}

static void test_addresses(void **state)
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
	struct sockaddr_in s4 = { .sin_family = AF_INET };
	char buf[64];

	inet_pton(AF_INET, "10.231.0.2", &s4.sin_addr);
	assert_int_equal(
		allow_addr_text((void *)&s4, sizeof(s4), buf, sizeof(buf)), 0);
	assert_string_equal(buf, "10.231.0.2");
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &s6.sin6_addr);
	assert_int_equal(
		allow_addr_text((void *)&s6, sizeof(s6), buf, sizeof(buf)), 0);
	assert_string_equal(buf, "127.0.0.1");
	inet_pton(AF_INET6, "::1", &s6.sin6_addr);
	assert_int_equal(
		allow_addr_text((void *)&s6, sizeof(s6), buf, sizeof(buf)), 0);
	assert_string_equal(buf, "::1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default),
		cmocka_unit_test(test_patterns),
		cmocka_unit_test(test_empty_allows_all),
		cmocka_unit_test(test_bad_expression),
		cmocka_unit_test(test_addresses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
