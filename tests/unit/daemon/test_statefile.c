/*
 * Unit tests of the registry's state file (src/toolstack/daemon/
 * statefile.c): a record survives format and parse unchanged; unknown
 * members are ignored; missing, mistyped, out-of-range, overlong and
 * binary input is refused with a message naming the member.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "toolstack/daemon/statefile.h"

static void sample(struct dom_record *r)
{
	memset(r, 0, sizeof(*r));
	r->domid = 7;
	strcpy(r->name, "web-1");
	strcpy(r->uuid, "0dbe049e-352a-4818-883c-ba00b0c6a0e8");
	r->state = REC_RUNNING;
	r->origin = ORIGIN_MIGRATION;
	r->pid = 4242;
	strcpy(r->qmp, "/run/godwit/vm/web-1.qmp");
	strcpy(r->exit_file, "/var/lib/godwit/incoming/x-1/exit");
	strcpy(r->console, "/dev/pts/3");
	strcpy(r->peer, "10.0.0.1:40000");
	r->created = 1700000000;
	strcpy(r->reason, "a \"quoted\" reason\\with a backslash");
	r->arrival_id = 0x00c0ffee12345678ULL;
	strcpy(r->outcome_file, "/var/lib/godwit/incoming/x-1/outcome");
	r->resume = true;
	r->mem_bytes = 512ULL << 20;
	strcpy(r->home, "/var/lib/godwit/domains/0dbe049e");
}

/* Format a and parse the text back into b. */
static void round_trip(const struct dom_record *a, struct dom_record *b)
{
	char why[160], *text;

	assert_int_equal(state_format(a, &text), 0);
	assert_int_equal(state_parse(text, strlen(text), b, why, sizeof(why)),
			 0);
	free(text);
}

static void test_roundtrip(void **state)
{
	struct dom_record a, b;

	sample(&a);
	round_trip(&a, &b);
	assert_memory_equal(&a, &b, sizeof(a));
}

static void test_every_state_and_origin(void **state)
{
	struct dom_record a, b;
	int s, o;

	for (s = REC_STARTING; s <= REC_INCOMING; s++) {
		for (o = ORIGIN_CREATE; o <= ORIGIN_MIGRATION; o++) {
			sample(&a);
			a.state = s;
			a.origin = o;
			round_trip(&a, &b);
			assert_int_equal(b.state, s);
			assert_int_equal(b.origin, o);
		}
	}
}

static void test_incoming_needs_no_identity(void **state)
{
	const char *t =
		"{\"version\":1,\"state\":\"incoming\",\"origin\":\"migration\","
		"\"qmp\":\"/r/vm/.x.qmp\",\"exit-file\":\"/s/incoming/x/exit\","
		"\"pid\":12}";
	struct dom_record r;
	char why[160];

	assert_int_equal(state_parse(t, strlen(t), &r, why, sizeof(why)), 0);
	assert_int_equal(r.pid, 12);
	assert_string_equal(r.name, "");
}

static void test_unknown_members_ignored(void **state)
{
	const char *t =
		"{\"version\":1,\"domid\":3,\"name\":\"a\",\"uuid\":"
		"\"0dbe049e-352a-4818-883c-ba00b0c6a0e8\",\"state\":\"shutdown\","
		"\"origin\":\"create\",\"qmp\":\"/q\",\"exit-file\":\"/e\","
		"\"future\":{\"x\":[1,2]}}";
	struct dom_record r;
	char why[160];

	assert_int_equal(state_parse(t, strlen(t), &r, why, sizeof(why)), 0);
	assert_int_equal(r.state, REC_SHUTDOWN);
	assert_int_equal(r.domid, 3);
}

/* Each bad input is refused, and the message names the problem. */
static void expect_bad(const char *t, const char *word)
{
	struct dom_record r;
	char why[160] = "";

	assert_int_equal(state_parse(t, strlen(t), &r, why, sizeof(why)),
			 -EINVAL);
	if (!strstr(why, word))
		fail_msg("'%s': message '%s' lacks '%s'", t, why, word);
}

/* The optional members: absent is 0 or "", bad ones are refused. */
static void test_optional_members(void **state)
{
	static const char *const bad[] = {
		"\"arrival-id\":\"00000000000000000\"", /* 17 digits */
		"\"arrival-id\":\"0000000000000000\"", /* zero */
		"\"arrival-id\":\"00C0FFEE12345678\"", /* upper case */
		"\"arrival-id\":12",
		"\"resume\":1",
		"\"mem-bytes\":-1",
		"\"home\":false",
	};
	const char *base = "{\"version\":1,\"state\":\"incoming\","
			   "\"origin\":\"migration\",\"qmp\":\"/q\","
			   "\"exit-file\":\"/e\"%s%s}";
	struct dom_record r;
	char text[512], why[160];
	size_t i;

	snprintf(text, sizeof(text), base, "", "");
	assert_int_equal(state_parse(text, strlen(text), &r, why, sizeof(why)),
			 0);
	assert_true(!r.arrival_id && !r.resume && !r.mem_bytes && !r.home[0] &&
		    !r.outcome_file[0]);
	snprintf(text, sizeof(text), base, ",",
		 "\"arrival-id\":\"ffffffffffffffff\",\"resume\":false");
	assert_int_equal(state_parse(text, strlen(text), &r, why, sizeof(why)),
			 0);
	assert_true(r.arrival_id == UINT64_MAX && !r.resume);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), base, ",", bad[i]);
		assert_int_equal(state_parse(text, strlen(text), &r, why,
					     sizeof(why)),
				 -EINVAL);
		assert_non_null(strchr(why, '\''));
	}
}

static void test_bad_files(void **state)
{
	expect_bad("", "JSON");
	expect_bad("[1,2]", "JSON");
	expect_bad("{\"version\":1", "JSON");
	expect_bad("{}", "version");
	expect_bad("{\"version\":2}", "version");
	expect_bad("{\"version\":\"1\"}", "version");
	expect_bad("{\"version\":1,\"state\":\"flying\",\"origin\":\"create\"}",
		   "state");
	expect_bad("{\"version\":1,\"state\":\"running\"}", "origin");
	expect_bad(
		"{\"version\":1,\"state\":\"running\",\"origin\":\"create\"}",
		"qmp");
	expect_bad("{\"version\":1,\"state\":\"running\",\"origin\":\"create\","
		   "\"qmp\":\"/q\"}",
		   "exit-file");
	expect_bad("{\"version\":1,\"pid\":-3}", "pid");
	expect_bad("{\"version\":1,\"domid\":4294967296}", "domid");
	expect_bad("{\"version\":1,\"state\":\"running\",\"origin\":\"create\","
		   "\"qmp\":7,\"exit-file\":\"/e\"}",
		   "qmp");
	/* A registered domain needs a name, a domid and a real uuid. */
	expect_bad(
		"{\"version\":1,\"state\":\"running\",\"origin\":\"create\","
		"\"qmp\":\"/q\",\"exit-file\":\"/e\",\"domid\":1,\"name\":\"a\","
		"\"uuid\":\"nope\"}",
		"uuid");
	expect_bad("{\"version\":1,\"state\":\"running\",\"origin\":\"create\","
		   "\"qmp\":\"/q\",\"exit-file\":\"/e\",\"domid\":1}",
		   "name");
}

static void test_overlong_and_binary(void **state)
{
	static const char head[] =
		"{\"version\":1,\"state\":\"incoming\","
		"\"origin\":\"restore\",\"exit-file\":\"/e\","
		"\"qmp\":\"";
	size_t n = 8192, hl = strlen(head);
	struct dom_record r;
	char why[160], *t;

	/* A path longer than PATH_MAX. */
	t = malloc(hl + n + 3);
	assert_non_null(t);
	memcpy(t, head, hl);
	memset(t + hl, 'a', n);
	strcpy(t + hl + n, "\"}");
	assert_int_equal(state_parse(t, strlen(t), &r, why, sizeof(why)),
			 -EINVAL);
	assert_non_null(strstr(why, "qmp"));
	free(t);
	/* A NUL inside. */
	assert_int_equal(state_parse("{\"version\"\0:1}", 14, &r, why,
				     sizeof(why)),
			 -EINVAL);
	/* Larger than any state file. */
	t = malloc(STATE_FILE_MAX + 1);
	assert_non_null(t);
	memset(t, ' ', STATE_FILE_MAX + 1);
	assert_int_equal(state_parse(t, STATE_FILE_MAX + 1, &r, why,
				     sizeof(why)),
			 -EINVAL);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_every_state_and_origin),
		cmocka_unit_test(test_incoming_needs_no_identity),
		cmocka_unit_test(test_unknown_members_ignored),
		cmocka_unit_test(test_optional_members),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_overlong_and_binary),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
