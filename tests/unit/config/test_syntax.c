/*
 * Config syntax: statements, comments, separators, strings and escapes,
 * numbers, lists, syntax errors with line and column, and the hard
 * limits (file, line, string, list length and depth, NUL bytes).
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

static void test_minimal_config_gets_defaults(void **state)
{
	struct parse_result *r = cfg_ok("name = \"vm\"\n");
	const struct domain_config *c = &r->cfg;

	assert_string_equal(c->name, "vm");
	assert_int_equal(c->memory_mib, 128);
	assert_int_equal(c->maxmem_mib, 128);
	assert_int_equal(c->vcpus, 1);
	assert_int_equal(c->maxvcpus, 1);
	assert_string_equal(c->cpu, "host");
	assert_string_equal(c->kernel, "");
	assert_string_equal(c->cmdline, "");
	assert_int_equal(c->serial, DOMAIN_SERIAL_STDIO);
	assert_int_equal(c->on_poweroff, DOMAIN_ACTION_DESTROY);
	assert_int_equal(c->on_reboot, DOMAIN_ACTION_RESTART);
	assert_int_equal(c->on_crash, DOMAIN_ACTION_DESTROY);
	assert_int_equal(c->nr_disks, 0);
	assert_int_equal(c->nr_vifs, 0);
	assert_int_equal(r->diag.nr_warnings, 0);
	free(r);
}

static void test_comments_blank_lines_and_separators(void **state)
{
	struct parse_result *r =
		cfg_ok("# a guest\n\n   \t\nname = 'vm' # trailing\r\n"
		       "memory = 256; vcpus = 2;\n;;\n"
		       "kernel = \"/k\" ;  # after a separator\n"
		       "# last line without newline");

	assert_string_equal(r->cfg.name, "vm");
	assert_int_equal(r->cfg.memory_mib, 256);
	assert_int_equal(r->cfg.vcpus, 2);
	assert_string_equal(r->cfg.kernel, "/k");
	free(r);
}

static void test_empty_text_lacks_name(void **state)
{
	cfg_fails("", "vm.cfg: name: required key is missing");
	cfg_fails("# only a comment\n\n",
		  "vm.cfg: name: required key is missing");
}

static void test_numbers_decimal_and_hex(void **state)
{
	struct parse_result *r =
		cfg_ok("name = \"vm\"\nmemory = 0x100\nvcpus = 0X4\n");

	assert_int_equal(r->cfg.memory_mib, 256);
	assert_int_equal(r->cfg.vcpus, 4);
	free(r);
	r = cfg_ok("name = \"vm\"\nmemory = 0xaE\nvcpus = 0x0a\n");
	assert_int_equal(r->cfg.memory_mib, 0xae);
	assert_int_equal(r->cfg.vcpus, 10);
	free(r);
}

static void test_malformed_numbers(void **state)
{
	cfg_fails(
		"name = \"vm\"\nmemory = 010\n",
		"vm.cfg:2:10: memory: malformed number \"010\" (decimal without leading zeros, or 0x hex)");
	cfg_fails(
		"name = \"vm\"\nmemory = 1.5\n",
		"vm.cfg:2:10: memory: malformed number \"1.5\" (decimal without leading zeros, or 0x hex)");
	cfg_fails(
		"name = \"vm\"\nmemory = 0x\n",
		"vm.cfg:2:10: memory: malformed number \"0x\" (decimal without leading zeros, or 0x hex)");
	cfg_fails(
		"name = \"vm\"\nmemory = 12ab\n",
		"vm.cfg:2:10: memory: malformed number \"12ab\" (decimal without leading zeros, or 0x hex)");
	cfg_fails("memory = -1\n",
		  "vm.cfg:1:10: memory: unexpected character '-'");
}

static void test_double_quoted_escapes(void **state)
{
	struct parse_result *r = cfg_ok(
		"name = \"vm\"\n"
		"cmdline = \"a\\\"b\\\\c\\n\\t\\x41\\101'\\r\\a\\b\\f\\v\\x7\"\n");

	assert_string_equal(r->cfg.cmdline, "a\"b\\c\n\tAA'\r\a\b\f\v\x07");
	free(r);
}

static void test_single_quotes_are_literal(void **state)
{
	struct parse_result *r =
		cfg_ok("name = 'vm'\nkernel = '/x\\y \"z\"'\n");

	assert_string_equal(r->cfg.kernel, "/x\\y \"z\"");
	free(r);
}

static void test_non_ascii_and_tabs_in_strings(void **state)
{
	struct parse_result *r =
		cfg_ok("name = 'vm'\nkernel = \"/boot/vml\xc3\xbcnz\t1\"\n");

	assert_string_equal(r->cfg.kernel, "/boot/vml\xc3\xbcnz\t1");
	free(r);
}

static void test_string_errors(void **state)
{
	cfg_fails("name = \"vm\n", "vm.cfg:1:8: name: unterminated string");
	cfg_fails("name = 'vm", "vm.cfg:1:8: name: unterminated string");
	cfg_fails("name = \"a\\qb\"\n",
		  "vm.cfg:1:10: name: unknown escape \\q");
	cfg_fails("cmdline = \"a\\0b\"\n",
		  "vm.cfg:1:13: cmdline: NUL character in string");
	cfg_fails("cmdline = \"a\\x00\"\n",
		  "vm.cfg:1:13: cmdline: NUL character in string");
	cfg_fails("cmdline = \"\\xg\"\n",
		  "vm.cfg:1:12: cmdline: \\x must be followed by hex digits");
	cfg_fails("cmdline = \"\\477\"\n",
		  "vm.cfg:1:12: cmdline: octal escape above \\377");
	cfg_fails(
		"cmdline = \"a\x01\"\n",
		"vm.cfg:1:13: cmdline: control character in string (write it as an escape)");
}

static void test_statement_errors(void **state)
{
	cfg_fails(
		"name = vm1\n",
		"vm.cfg:1:8: name: expected a value (a quoted string, a number or a list), got vm1");
	cfg_fails("name \"vm\"\n",
		  "vm.cfg:1:6: name: expected '=' after the key, got a string");
	cfg_fails(
		"name = \"a\" memory = 5\n",
		"vm.cfg:1:12: name: expected end of line or ';' after the value, got a bare word");
	cfg_fails(
		"= 5\n",
		"vm.cfg:1:1: expected a key at the start of a statement, got '='");
	cfg_fails(
		"name =\n\"vm\"\n",
		"vm.cfg:1:7: name: expected a value (a quoted string, a number or a list), got end of line");
	cfg_fails(
		"name = \"vm\"\nmemory = \n",
		"vm.cfg:2:10: memory: expected a value (a quoted string, a number or a list), got end of line");
	cfg_fails("name = 'vm'\n@x = 1\n",
		  "vm.cfg:2:1: unexpected character '@'");
	cfg_fails("name = 'vm'\n\xc3\xa9 = 1\n",
		  "vm.cfg:2:1: unexpected byte 0xc3");
}

static void test_lists_span_lines(void **state)
{
	struct parse_result *r =
		cfg_ok("name = 'vm'\n"
		       "disk = [ # first disk next\n"
		       "    '/a,raw,xvda,rw',\n"
		       "\n"
		       "    # a comment inside the list\n"
		       "    \"/b,raw,xvdb,ro\",   # trailing comma allowed\n"
		       "]\n"
		       "vif = []\n");

	assert_int_equal(r->cfg.nr_disks, 2);
	assert_string_equal(r->cfg.disks[1].target, "/b");
	assert_true(r->cfg.disks[1].readonly);
	assert_int_equal(r->cfg.nr_vifs, 0);
	free(r);
}

static void test_list_errors(void **state)
{
	cfg_fails("disk = [ 'a' 'b' ]\n",
		  "vm.cfg:1:14: disk: expected ',' or ']' between list items");
	cfg_fails("disk = [ , ]\n",
		  "vm.cfg:1:10: disk: expected a value or ']' before ','");
	cfg_fails("disk = [ 'a',, ]\n",
		  "vm.cfg:1:14: disk: expected a value or ']' before ','");
	cfg_fails("name = 'vm'\ndisk = [ 'a',\n  'b'\n",
		  "vm.cfg:2:8: disk: unterminated list (no closing ']')");
	cfg_fails(
		"disk = [ 'a'; ]\n",
		"vm.cfg:1:13: disk: expected a value, ',' or ']' in a list, got ';'");
	cfg_fails(
		"disk = ]\n",
		"vm.cfg:1:8: disk: expected a value (a quoted string, a number or a list), got ']'");
}

static void test_nested_lists_are_bounded(void **state)
{
	struct parse_result *r =
		cfg_ok("name = 'vm'\nvnc = [[[[[[[[1, 'x'], []]]]]]], 2]\n");

	assert_true(cfg_has_warning(
		&r->diag,
		"vm.cfg:2: vnc: ignored (xl key not implemented by godwit)"));
	free(r);
	cfg_fails("name = 'vm'\nvnc = [[[[[[[[[1]]]]]]]]]\n",
		  "vm.cfg:2:15: vnc: lists nested too deeply (max 8 levels)");
	cfg_fails("name = 'vm'\nvnc = [[1 2]]\n",
		  "vm.cfg:2:11: vnc: expected ',' or ']' between list items");
	cfg_fails("name = 'vm'\nvnc = [[1]\n",
		  "vm.cfg:2:7: vnc: unterminated list (no closing ']')");
	cfg_fails("name = 'vm'\ndisk = [['/a,raw,xvda']]\n",
		  "vm.cfg:2: disk: expected a string, got a list");
}

/* A text of n list items "1," for key. */
static char *list_of(const char *key, unsigned int n)
{
	char *text = test_alloc(64 + 3 * n);
	size_t len;
	unsigned int i;

	len = sprintf(text, "name = 'vm'\n%s = [", key);
	for (i = 0; i < n; i++)
		len += sprintf(text + len, "1,");
	strcpy(text + len, "]\n");
	return text;
}

static void test_list_length_limit(void **state)
{
	char *text = list_of("vnc", CONFIG_LIST_MAX);
	struct parse_result *r = cfg_parse(text, NULL, 0);

	assert_int_equal(r->rc, 0);
	free(r);
	free(text);
	text = list_of("vnc", CONFIG_LIST_MAX + 1);
	cfg_fails(text, "vm.cfg:2:136: vnc: list too long (max 64 items)");
	free(text);
	/* Items of deeper lists are not kept, so not counted. */
	text = test_alloc(64 + 2 * 1000);
	strcpy(text, "name = 'vm'\nvnc = [[");
	for (int i = 0; i < 1000; i++)
		strcat(text, "1,");
	strcat(text, "]]\n");
	r = cfg_parse(text, NULL, 0);
	assert_int_equal(r->rc, 0);
	free(r);
	free(text);
}

/* "key = 'xxx...'" with a string of n bytes. */
static char *long_string(const char *key, size_t n)
{
	char *text = test_alloc(64 + n);
	size_t len;

	len = sprintf(text, "name = 'vm'\n%s = '", key);
	memset(text + len, 'x', n);
	strcpy(text + len + n, "'\n");
	return text;
}

static void test_string_length_limit(void **state)
{
	char *text = long_string("extra", CONFIG_STRING_MAX);
	struct parse_result *r = cfg_parse(text, NULL, 0);

	/* The longest string is fine, but too long for a command line. */
	assert_string_equal(
		r->diag.error,
		"vm.cfg:2: extra: kernel command line from root and extra too long (max 2047 bytes)");
	free(r);
	free(text);
	text = long_string("extra", CONFIG_STRING_MAX + 1);
	cfg_fails(text, "vm.cfg:2:9: extra: string too long (max 4095 bytes)");
	free(text);
	text = long_string("kernel", DOMAIN_PATH_MAX + 1);
	cfg_fails(text, "vm.cfg:2: kernel: too long (max 1023 bytes)");
	free(text);
}

static void test_line_length_limit(void **state)
{
	size_t n = CONFIG_LINE_MAX + 2;
	char *text = test_alloc(n + 32);

	strcpy(text, "name = 'vm'\n# ");
	memset(text + 14, 'c', CONFIG_LINE_MAX - 2);
	strcpy(text + 12 + CONFIG_LINE_MAX, "\n");
	free(cfg_ok(text));
	strcpy(text + 12 + CONFIG_LINE_MAX, "c\n");
	cfg_fails(text, "vm.cfg:2:16385: line too long (max 16384 bytes)");
	free(text);
}

static void test_value_size_limit(void **state)
{
	/* 17 strings of 4000 bytes exceed one statement's 64 KiB. */
	char *text = test_alloc(17 * 4010 + 64);
	size_t len;
	int i;

	len = sprintf(text, "name = 'vm'\nvnc = [\n");
	for (i = 0; i < 17; i++) {
		text[len++] = '\'';
		memset(text + len, 'v', 4000);
		len += 4000;
		len += sprintf(text + len, "',\n");
	}
	strcpy(text + len, "]\n");
	cfg_fails(text, "vm.cfg:19:1: vnc: value too large (max 65536 bytes)");
	free(text);
}

static void test_file_size_limit(void **state)
{
	size_t n = CONFIG_FILE_MAX + 1;
	char *text = test_alloc(n + 1);
	struct parse_result *r;

	memset(text, '\n', n);
	memcpy(text, "name='vm'", 9);
	text[n] = 0;
	cfg_fails(text, "vm.cfg: file too large (max 1048576 bytes)");
	r = cfg_parse_len(text, n - 1, NULL, 0);
	assert_int_equal(r->rc, 0);
	free(r);
	free(text);
}

static void test_nul_bytes_are_refused(void **state)
{
	static const char text[] = "name = 'vm'\nmemo\0ry = 5\n";
	struct parse_result *r = cfg_parse_len(text, sizeof(text) - 1, NULL, 0);

	assert_int_equal(r->rc, -EINVAL);
	assert_string_equal(r->diag.error, "vm.cfg:2:5: NUL byte in input");
	free(r);
	r = cfg_parse_len("name = 'vm'\0", 12, NULL, 0);
	assert_string_equal(r->diag.error, "vm.cfg:1:12: NUL byte in input");
	free(r);
}

static void test_key_length_limit(void **state)
{
	char text[128];

	memset(text, 'k', CONFIG_KEY_MAX + 1);
	strcpy(text + CONFIG_KEY_MAX + 1, " = 1\n");
	cfg_fails(text, "vm.cfg:1:1: key too long (max 63 bytes)");
}

static void test_last_value_wins_with_warning(void **state)
{
	struct parse_result *r =
		cfg_ok("name = 'a'\nmemory = 256\nname = 'b'\nmemory = 512\n");

	assert_string_equal(r->cfg.name, "b");
	assert_int_equal(r->cfg.memory_mib, 512);
	assert_int_equal(r->diag.nr_warnings, 2);
	assert_string_equal(
		r->diag.warnings[0],
		"vm.cfg:3: name: replaces the value set at vm.cfg:1");
	assert_string_equal(
		r->diag.warnings[1],
		"vm.cfg:4: memory: replaces the value set at vm.cfg:2");
	free(r);
}

static void test_replaced_bad_value_is_still_an_error(void **state)
{
	cfg_fails("name = 'vm'\nmemory = 'lots'\nmemory = 512\n",
		  "vm.cfg:2: memory: expected an integer (MiB), got \"lots\"");
}

static void test_message_excerpts_stay_on_one_line(void **state)
{
	cfg_fails(
		"name = \"a\\nb\"\n",
		"vm.cfg:1: name: invalid character in \"a\\x0ab\" (allowed: A-Z a-z 0-9 _ . -)");
	cfg_fails(
		"name = 'vm'\ncpu = \"0123456789012345678901234567890123456789abc\"\n",
		"vm.cfg:2: cpu: unknown model \"0123456789012345678901234567890123456789\"... (host, x86-64-v1, x86-64-v2, x86-64-v3, x86-64-v4)");
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_minimal_config_gets_defaults),
	cmocka_unit_test(test_comments_blank_lines_and_separators),
	cmocka_unit_test(test_empty_text_lacks_name),
	cmocka_unit_test(test_numbers_decimal_and_hex),
	cmocka_unit_test(test_malformed_numbers),
	cmocka_unit_test(test_double_quoted_escapes),
	cmocka_unit_test(test_single_quotes_are_literal),
	cmocka_unit_test(test_non_ascii_and_tabs_in_strings),
	cmocka_unit_test(test_string_errors),
	cmocka_unit_test(test_statement_errors),
	cmocka_unit_test(test_lists_span_lines),
	cmocka_unit_test(test_list_errors),
	cmocka_unit_test(test_nested_lists_are_bounded),
	cmocka_unit_test(test_list_length_limit),
	cmocka_unit_test(test_string_length_limit),
	cmocka_unit_test(test_line_length_limit),
	cmocka_unit_test(test_value_size_limit),
	cmocka_unit_test(test_file_size_limit),
	cmocka_unit_test(test_nul_bytes_are_refused),
	cmocka_unit_test(test_key_length_limit),
	cmocka_unit_test(test_last_value_wins_with_warning),
	cmocka_unit_test(test_replaced_bad_value_is_still_an_error),
	cmocka_unit_test(test_message_excerpts_stay_on_one_line),
};

int config_test_syntax(void)
{
	return cmocka_run_group_tests_name("config syntax", tests, NULL, NULL);
}
