/*
 * Unit tests of src/toolstack/daemon/lifecycle.c: exit files written by
 * the VMM parse into (status, kind, reason) and anything else is
 * refused; every end maps to xl's on_poweroff/on_reboot/on_crash action;
 * coredump actions are flagged; the restart guard counts only restarts
 * within its window.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "toolstack/daemon/lifecycle.h"

#define S 1000000000ULL

static void parse_ok(const char *text, int status, enum life_end end,
		     const char *reason)
{
	struct life_exit e;

	assert_int_equal(life_parse_exit(text, strlen(text), &e), 0);
	assert_int_equal(e.status, status);
	assert_int_equal(e.end, end);
	assert_string_equal(e.reason, reason);
}

static void parse_bad(const char *text, size_t len)
{
	struct life_exit e;

	assert_int_equal(life_parse_exit(text, len, &e), -EINVAL);
}

static void test_exit_files(void **state)
{
	parse_ok("0 poweroff guest powered off\n", 0, END_POWEROFF,
		 "guest powered off");
	parse_ok("120 reset guest requested a reset\n", 120, END_RESET,
		 "guest requested a reset");
	parse_ok("121 crash guest triple fault on vCPU 0 at rip 0x102285\n",
		 121, END_CRASH,
		 "guest triple fault on vCPU 0 at rip 0x102285");
	parse_ok("5 exit guest exited with status 5 (debug-exit port)\n", 5,
		 END_EXIT, "guest exited with status 5 (debug-exit port)");
	parse_ok("0 host quit requested on the control socket\n", 0, END_HOST,
		 "quit requested on the control socket");
	parse_ok("0 saved saved to /x\n", 0, END_SAVED, "saved to /x");
	parse_ok("0 migrated migrated to 1.2.3.4:8002", 0, END_MIGRATED,
		 "migrated to 1.2.3.4:8002");
	parse_ok("1 error failed to start\n", 1, END_ERROR, "failed to start");
	parse_ok("1 error\n", 1, END_ERROR, "");
}

static void test_bad_exit_files(void **state)
{
	parse_bad("", 0);
	parse_bad("\n", 1);
	parse_bad("x poweroff y\n", 12);
	parse_bad("0 killed by us\n", 15); /* killed is not a VMM's word */
	parse_bad("0 sleeping zzz\n", 15);
	parse_bad("0poweroff\n", 10);
	parse_bad("999 poweroff x\n", 15);
	parse_bad("0 poweroff a\nsecond line\n", 25);
	parse_bad("0 poweroff a\0b\n", 15);
}

static void config(struct domain_config *c, enum domain_action off,
		   enum domain_action reboot, enum domain_action crash)
{
	domain_config_init(c);
	c->on_poweroff = off;
	c->on_reboot = reboot;
	c->on_crash = crash;
}

static struct life_decision decide(enum life_end end,
				   const struct domain_config *c)
{
	struct life_exit e = { .end = end };
	struct life_decision d;

	life_decide(&e, c, NULL, 0, 5, 100 * S, &d);
	return d;
}

static void test_xl_defaults(void **state)
{
	struct domain_config c;
	struct life_decision d;

	domain_config_init(&c); /* destroy, restart, destroy */
	d = decide(END_POWEROFF, &c);
	assert_int_equal(d.verdict, LIFE_DESTROY);
	assert_string_equal(d.trigger, "on_poweroff");
	d = decide(END_RESET, &c);
	assert_int_equal(d.verdict, LIFE_RESTART);
	assert_string_equal(d.trigger, "on_reboot");
	d = decide(END_CRASH, &c);
	assert_int_equal(d.verdict, LIFE_DESTROY);
	assert_true(d.crashed);
	assert_string_equal(d.trigger, "on_crash");
}

static void test_each_action(void **state)
{
	struct domain_config c;
	struct life_decision d;

	config(&c, DOMAIN_ACTION_PRESERVE, DOMAIN_ACTION_RENAME_RESTART,
	       DOMAIN_ACTION_COREDUMP_RESTART);
	d = decide(END_EXIT, &c); /* debug-exit counts as a power-off */
	assert_int_equal(d.verdict, LIFE_PRESERVE);
	assert_false(d.crashed);
	d = decide(END_RESET, &c);
	assert_int_equal(d.verdict, LIFE_RENAME_RESTART);
	d = decide(END_CRASH, &c);
	assert_int_equal(d.verdict, LIFE_RESTART);
	assert_true(d.no_coredump);
	/* A VMM killed by a signal is a crash too. */
	d = decide(END_KILLED, &c);
	assert_int_equal(d.verdict, LIFE_RESTART);
	assert_true(d.crashed);
	config(&c, DOMAIN_ACTION_COREDUMP_DESTROY, DOMAIN_ACTION_DESTROY,
	       DOMAIN_ACTION_PRESERVE);
	d = decide(END_POWEROFF, &c);
	assert_int_equal(d.verdict, LIFE_DESTROY);
	assert_true(d.no_coredump);
	d = decide(END_KILLED, &c);
	assert_int_equal(d.verdict, LIFE_PRESERVE);
	assert_true(d.crashed);
}

static void test_not_the_guests_end(void **state)
{
	struct domain_config c;
	struct life_decision d;

	config(&c, DOMAIN_ACTION_RESTART, DOMAIN_ACTION_RESTART,
	       DOMAIN_ACTION_RESTART);
	d = decide(END_SAVED, &c);
	assert_int_equal(d.verdict, LIFE_DESTROY);
	assert_null(d.trigger);
	d = decide(END_MIGRATED, &c);
	assert_int_equal(d.verdict, LIFE_DESTROY);
	d = decide(END_HOST, &c);
	assert_int_equal(d.verdict, LIFE_DESTROY);
	/* A restart that never booted stays listed, crashed. */
	d = decide(END_ERROR, &c);
	assert_int_equal(d.verdict, LIFE_PRESERVE);
	assert_true(d.crashed);
}

static void test_restart_guard(void **state)
{
	uint64_t t[LIFE_RESTARTS_KEPT];
	struct life_exit e = { .end = END_RESET };
	struct domain_config c;
	struct life_decision d;
	unsigned int n = 0, i;

	config(&c, DOMAIN_ACTION_DESTROY, DOMAIN_ACTION_RESTART,
	       DOMAIN_ACTION_DESTROY);
	for (i = 0; i < 4; i++)
		life_note_restart(t, &n, (10 + i) * S);
	life_decide(&e, &c, t, n, 5, 20 * S, &d);
	assert_int_equal(d.verdict, LIFE_RESTART);
	life_note_restart(t, &n, 15 * S);
	life_decide(&e, &c, t, n, 5, 20 * S, &d);
	assert_int_equal(d.verdict, LIFE_PRESERVE);
	assert_true(d.loop_guard);
	assert_false(d.crashed);
	/* A minute later the old restarts no longer count. */
	life_decide(&e, &c, t, n, 5, 80 * S, &d);
	assert_int_equal(d.verdict, LIFE_RESTART);
	/* Limit 0: never restart. */
	life_decide(&e, &c, NULL, 0, 0, 80 * S, &d);
	assert_int_equal(d.verdict, LIFE_PRESERVE);
	/* The record keeps the latest restarts. */
	for (i = 0; i < 3 * LIFE_RESTARTS_KEPT; i++)
		life_note_restart(t, &n, (100 + i) * S);
	assert_int_equal(n, LIFE_RESTARTS_KEPT);
	assert_true(t[n - 1] == (100 + 3 * LIFE_RESTARTS_KEPT - 1) * S);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exit_files),
		cmocka_unit_test(test_bad_exit_files),
		cmocka_unit_test(test_xl_defaults),
		cmocka_unit_test(test_each_action),
		cmocka_unit_test(test_not_the_guests_end),
		cmocka_unit_test(test_restart_guard),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
