/*
 * Command-line overrides ("key=value" after the config file, as `xl
 * create CFG k=v`): the file's value syntax, bare words as strings, the
 * order of application, and their error messages.
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

#include "helpers.h"

static const char base[] = "name = 'vm'\nmemory = 256\nkernel = '/k'\n";

static struct parse_result *with(const char *const *ov, size_t n)
{
	struct parse_result *r = cfg_parse(base, ov, n);

	if (r->rc)
		fail_msg("parse failed (%d): %s", r->rc, r->diag.error);
	return r;
}

static void test_bare_words_and_numbers(void **state)
{
	static const char *const ov[] = {
		"memory=512",
		"name=vm2",
		" vcpus = 4 ",
		"cmdline=console=ttyS0 root=/dev/vda quiet",
		"kernel=/boot/vmlinuz-6.1.0",
		"on_crash=preserve",
		"serial=file:/tmp/serial log",
	};
	struct parse_result *r = with(ov, ARRAY_SIZE(ov));

	assert_int_equal(r->cfg.memory_mib, 512);
	assert_string_equal(r->cfg.name, "vm2");
	assert_int_equal(r->cfg.vcpus, 4);
	assert_string_equal(r->cfg.cmdline,
			    "console=ttyS0 root=/dev/vda quiet");
	assert_string_equal(r->cfg.kernel, "/boot/vmlinuz-6.1.0");
	assert_int_equal(r->cfg.on_crash, DOMAIN_ACTION_PRESERVE);
	assert_string_equal(r->cfg.serial_path, "/tmp/serial log");
	/* Overriding the file is the point: no warning. */
	assert_int_equal(r->diag.nr_warnings, 0);
	free(r);
}

static void test_quoted_values_and_lists(void **state)
{
	static const char *const ov[] = {
		"name=\"quoted\"",
		"extra='a # b'",
		"disk=['/img/a,raw,xvda,rw', '/img/b,raw,xvdb,ro']",
		"vif=[ 'bridge=br1' ] # a comment",
		"memory=\"2G\"",
		"memory=1G",
	};
	struct parse_result *r = with(ov, ARRAY_SIZE(ov));

	assert_string_equal(r->cfg.name, "quoted");
	assert_string_equal(r->cfg.cmdline, "a # b");
	assert_int_equal(r->cfg.nr_disks, 2);
	assert_true(r->cfg.disks[1].readonly);
	assert_string_equal(r->cfg.vifs[0].bridge, "br1");
	assert_int_equal(r->cfg.memory_mib, 1024);
	/* memory set twice on the command line. */
	assert_int_equal(r->diag.nr_warnings, 1);
	assert_string_equal(
		r->diag.warnings[0],
		"<command line>:6: memory: replaces the value set at <command line>:5");
	free(r);
}

static void test_empty_value_clears_a_path(void **state)
{
	static const char *const ov[] = { "kernel=" };
	struct parse_result *r = with(ov, 1);

	assert_string_equal(r->cfg.kernel, "");
	free(r);
}

static void test_overrides_can_supply_required_keys(void **state)
{
	static const char *const ov[] = { "name=from-cli" };
	struct parse_result *r = cfg_parse("memory = 64\n", ov, 1);

	assert_int_equal(r->rc, 0);
	assert_string_equal(r->cfg.name, "from-cli");
	free(r);
}

static void test_overrides_apply_in_order_after_the_file(void **state)
{
	static const char *const ov[] = { "memory=1024", "maxmem=512",
					  "memory=512" };
	struct parse_result *r = with(ov, ARRAY_SIZE(ov));

	/* Cross-key checks run once, after everything. */
	assert_int_equal(r->cfg.memory_mib, 512);
	assert_int_equal(r->cfg.maxmem_mib, 512);
	free(r);
}

static void test_override_errors(void **state)
{
	static const char *const lots[] = { "memory=lots" };
	static const char *const unknown[] = { "vcpus=2", "bogus=1" };
	static const char *const no_eq[] = { "noequals" };
	static const char *const bad_key[] = { "mem ory=1" };
	static const char *const empty_key[] = { "=1" };
	static const char *const unterminated[] = { "name=\"vm" };
	static const char *const trailing[] = { "disk=['/a,raw,xvda'] x" };
	static const char *const newline[] = { "name=a\nb" };
	static const char *const type[] = { "vcpus=[2]" };

	cfg_override_fails(
		base, lots, 1,
		"<command line>:1: memory: expected an integer (MiB), got \"lots\"");
	cfg_override_fails(base, unknown, 2,
			   "<command line>:2: bogus: unknown key");
	cfg_override_fails(
		base, no_eq, 1,
		"<command line>:1:9: expected key=value with key a name like memory");
	cfg_override_fails(
		base, bad_key, 1,
		"<command line>:1:5: expected key=value with key a name like memory");
	cfg_override_fails(
		base, empty_key, 1,
		"<command line>:1:1: expected key=value with key a name like memory");
	cfg_override_fails(base, unterminated, 1,
			   "<command line>:1:6: name: unterminated string");
	cfg_override_fails(
		base, trailing, 1,
		"<command line>:1:22: disk: expected nothing after the value, got a bare word");
	cfg_override_fails(
		base, newline, 1,
		"<command line>:1: an override must be a single line");
	cfg_override_fails(
		base, type, 1,
		"<command line>:1: vcpus: expected an integer, got a list");
}

static void test_override_length_limit(void **state)
{
	char *arg = test_alloc(CONFIG_STRING_MAX + 16);
	const char *ov[] = { arg };
	struct parse_result *r;

	strcpy(arg, "extra=");
	memset(arg + 6, 'x', CONFIG_STRING_MAX);
	r = cfg_parse(base, ov, 1);
	/* The longest string is fine, but too long for a command line. */
	assert_string_equal(
		r->diag.error,
		"<command line>:1: extra: kernel command line from root and extra too long (max 2047 bytes)");
	free(r);
	strcat(arg, "x");
	cfg_override_fails(
		base, ov, 1,
		"<command line>:1:7: extra: string too long (max 4095 bytes)");
	free(arg);
}

static void test_override_count_limit(void **state)
{
	const char *ov[CONFIG_OVERRIDES_MAX + 1];
	struct parse_result *r;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ov); i++)
		ov[i] = "vcpus=1";
	r = cfg_parse(base, ov, CONFIG_OVERRIDES_MAX);
	assert_int_equal(r->rc, 0);
	free(r);
	cfg_override_fails(base, ov, CONFIG_OVERRIDES_MAX + 1,
			   "vm.cfg: too many overrides (max 64)");
}

static void test_file_errors_come_first(void **state)
{
	static const char *const ov[] = { "memory=lots" };

	cfg_override_fails(
		"name = vm\n", ov, 1,
		"vm.cfg:1:8: name: expected a value (a quoted string, a number or a list), got vm");
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_bare_words_and_numbers),
	cmocka_unit_test(test_quoted_values_and_lists),
	cmocka_unit_test(test_empty_value_clears_a_path),
	cmocka_unit_test(test_overrides_can_supply_required_keys),
	cmocka_unit_test(test_overrides_apply_in_order_after_the_file),
	cmocka_unit_test(test_override_errors),
	cmocka_unit_test(test_override_length_limit),
	cmocka_unit_test(test_override_count_limit),
	cmocka_unit_test(test_file_errors_come_first),
};

int config_test_overrides(void)
{
	return cmocka_run_group_tests_name("config overrides", tests, NULL,
					   NULL);
}
