/*
 * Meaning of every key: accepted values, defaults, range and type errors
 * with their exact file:line:key messages, cross-key rules (maxmem,
 * maxvcpus, root/extra/cmdline), unknown and ignored xl keys.
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

static void test_every_key(void **state)
{
	struct parse_result *r = cfg_ok(
		"name = \"web-1.example_a\"\n"
		"uuid = \"6F9619FF-8B86-D011-B42D-00C04FC964FF\"\n"
		"memory = 1024\n"
		"maxmem = 2048\n"
		"vcpus = 2\n"
		"maxvcpus = 4\n"
		"cpu = \"x86-64-v3\"\n"
		"kernel = \"/boot/vmlinux\"\n"
		"ramdisk = \"/boot/initrd.img\"\n"
		"cmdline = \"console=hvc0 quiet\"\n"
		"serial = \"file:/var/log/vm.log\"\n"
		"on_poweroff = \"preserve\"\n"
		"on_reboot = \"rename-restart\"\n"
		"on_crash = \"coredump-restart\"\n"
		"disk = [ 'format=raw, vdev=xvda, access=rw, target=/img/a' ]\n"
		"vif = [ 'mac=00:16:3e:01:02:03, bridge=br0, model=virtio' ]\n");
	const struct domain_config *c = &r->cfg;
	static const uint8_t uuid[16] = { 0x6f, 0x96, 0x19, 0xff, 0x8b, 0x86,
					  0xd0, 0x11, 0xb4, 0x2d, 0x00, 0xc0,
					  0x4f, 0xc9, 0x64, 0xff };
	static const uint8_t mac[6] = { 0x00, 0x16, 0x3e, 0x01, 0x02, 0x03 };

	assert_string_equal(c->name, "web-1.example_a");
	assert_memory_equal(c->uuid, uuid, 16);
	assert_true(c->uuid_given);
	assert_int_equal(c->memory_mib, 1024);
	assert_int_equal(c->maxmem_mib, 2048);
	assert_int_equal(c->vcpus, 2);
	assert_int_equal(c->maxvcpus, 4);
	assert_string_equal(c->cpu, "x86-64-v3");
	assert_string_equal(c->kernel, "/boot/vmlinux");
	assert_string_equal(c->ramdisk, "/boot/initrd.img");
	assert_string_equal(c->cmdline, "console=hvc0 quiet");
	assert_int_equal(c->serial, DOMAIN_SERIAL_FILE);
	assert_string_equal(c->serial_path, "/var/log/vm.log");
	assert_int_equal(c->on_poweroff, DOMAIN_ACTION_PRESERVE);
	assert_int_equal(c->on_reboot, DOMAIN_ACTION_RENAME_RESTART);
	assert_int_equal(c->on_crash, DOMAIN_ACTION_COREDUMP_RESTART);
	assert_int_equal(c->nr_disks, 1);
	assert_string_equal(c->disks[0].target, "/img/a");
	assert_int_equal(c->nr_vifs, 1);
	assert_memory_equal(c->vifs[0].mac, mac, 6);
	assert_string_equal(c->vifs[0].bridge, "br0");
	/* Two notes: no ballooning, no vCPU hotplug. */
	assert_int_equal(r->diag.nr_warnings, 2);
	assert_string_equal(
		r->diag.warnings[0],
		"vm.cfg:4: maxmem: above memory, but ballooning is not supported: the guest gets 1024 MiB");
	assert_string_equal(
		r->diag.warnings[1],
		"vm.cfg:6: maxvcpus: above vcpus, but vCPU hotplug is not supported: the guest gets 2");
	free(r);
}

static void test_name_rules(void **state)
{
	struct parse_result *r = cfg_ok("name = 42\n");
	char text[128];

	assert_string_equal(r->cfg.name, "42");
	free(r);
	memset(text, 0, sizeof(text));
	strcpy(text, "name = '");
	memset(text + 8, 'n', DOMAIN_NAME_MAX);
	strcat(text, "'\n");
	r = cfg_ok(text);
	assert_int_equal(strlen(r->cfg.name), DOMAIN_NAME_MAX);
	free(r);
	strcpy(text + 8 + DOMAIN_NAME_MAX, "n'\n");
	cfg_fails(text, "vm.cfg:1: name: too long (max 63 bytes)");
	cfg_fails(
		"name = 'my vm'\n",
		"vm.cfg:1: name: invalid character in \"my vm\" (allowed: A-Z a-z 0-9 _ . -)");
	cfg_fails(
		"name = 'a/b'\n",
		"vm.cfg:1: name: invalid character in \"a/b\" (allowed: A-Z a-z 0-9 _ . -)");
	cfg_fails("name = ''\n", "vm.cfg:1: name: must not be empty");
	cfg_fails("name = '-vm'\n",
		  "vm.cfg:1: name: must not start with '-' or '.'");
	cfg_fails("name = '..'\n",
		  "vm.cfg:1: name: must not start with '-' or '.'");
	cfg_fails("name = ['vm']\n",
		  "vm.cfg:1: name: expected a string, got a list");
	cfg_fails("memory = 512\n", "vm.cfg: name: required key is missing");
}

static void test_uuid_generated_when_absent(void **state)
{
	struct parse_result *a = cfg_ok("name = 'vm'\n");
	struct parse_result *b = cfg_ok("name = 'vm'\n");
	static const uint8_t nil[16];

	assert_false(a->cfg.uuid_given);
	assert_memory_not_equal(a->cfg.uuid, nil, 16);
	assert_memory_not_equal(a->cfg.uuid, b->cfg.uuid, 16);
	/* Version 4, RFC 4122 variant. */
	assert_int_equal(a->cfg.uuid[6] >> 4, 4);
	assert_int_equal(a->cfg.uuid[8] >> 6, 2);
	free(a);
	free(b);
}

static void test_uuid_errors(void **state)
{
	cfg_fails(
		"name = 'vm'\nuuid = 'xyz'\n",
		"vm.cfg:2: uuid: expected a UUID like 01234567-89ab-cdef-0123-456789abcdef, got \"xyz\"");
	cfg_fails(
		"name = 'vm'\nuuid = '6f9619ff-8b86-d011-b42d-00c04fc964f'\n",
		"vm.cfg:2: uuid: expected a UUID like 01234567-89ab-cdef-0123-456789abcdef, got \"6f9619ff-8b86-d011-b42d-00c04fc964f\"");
	cfg_fails(
		"name = 'vm'\nuuid = '6f9619ff8b86-d011-b42d-00c04fc964ff0'\n",
		"vm.cfg:2: uuid: expected a UUID like 01234567-89ab-cdef-0123-456789abcdef, got \"6f9619ff8b86-d011-b42d-00c04fc964ff0\"");
	cfg_fails(
		"name = 'vm'\nuuid = '00000000-0000-0000-0000-000000000000'\n",
		"vm.cfg:2: uuid: the nil UUID is not allowed");
	cfg_fails(
		"name = 'vm'\nuuid = 5\n",
		"vm.cfg:2: uuid: expected a UUID like 01234567-89ab-cdef-0123-456789abcdef, got 5");
}

static void test_uuid_text_helpers(void **state)
{
	uint8_t uuid[16];
	char text[DOMAIN_UUID_STR_LEN + 1];

	assert_int_equal(domain_config_uuid_parse(
				 "6F9619FF-8B86-D011-B42D-00C04FC964FF", uuid),
			 0);
	domain_config_uuid_format(uuid, text);
	assert_string_equal(text, "6f9619ff-8b86-d011-b42d-00c04fc964ff");
	assert_int_equal(domain_config_uuid_parse(
				 "6f9619ff-8b86-d011-b42d-00c04fc964fg", uuid),
			 -EINVAL);
	assert_int_equal(domain_config_uuid_parse("", uuid), -EINVAL);
	assert_int_equal(domain_config_uuid_generate(uuid), 0);
	assert_int_equal(uuid[6] >> 4, 4);
}

static void test_memory_values(void **state)
{
	static const struct {
		const char *value;
		uint64_t mib;
	} ok[] = {
		{ "512", 512 },	     { "'512'", 512 },	     { "\"2G\"", 2048 },
		{ "'1536M'", 1536 }, { "'4096k'", 4 },	     { "'1GiB'", 1024 },
		{ "0x400", 1024 },   { "1048576", 1048576 },
	};
	char text[128];
	struct parse_result *r;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ok); i++) {
		snprintf(text, sizeof(text), "name='vm'\nmemory = %s\n",
			 ok[i].value);
		r = cfg_ok(text);
		assert_int_equal(r->cfg.memory_mib, ok[i].mib);
		assert_int_equal(r->cfg.maxmem_mib, ok[i].mib);
		free(r);
	}
}

static void test_memory_errors(void **state)
{
	cfg_fails("name = 'vm'\n\n\n\n\n\nmemory = \"lots\"\n",
		  "vm.cfg:7: memory: expected an integer (MiB), got \"lots\"");
	cfg_fails("name = 'vm'\nmemory = [512]\n",
		  "vm.cfg:2: memory: expected an integer (MiB), got a list");
	cfg_fails("name = 'vm'\nmemory = 0\n",
		  "vm.cfg:2: memory: 0 is out of range (1..1048576 MiB)");
	cfg_fails("name = 'vm'\nmemory = 1048577\n",
		  "vm.cfg:2: memory: 1048577 is out of range (1..1048576 MiB)");
	cfg_fails(
		"name = 'vm'\nmemory = 99999999999999999999\n",
		"vm.cfg:2: memory: 99999999999999999999 is out of range (1..1048576 MiB)");
	cfg_fails("name = 'vm'\nmemory = '2T'\n",
		  "vm.cfg:2: memory: \"2T\" is out of range (1..1048576 MiB)");
	cfg_fails("name = 'vm'\nmemory = '1k'\n",
		  "vm.cfg:2: memory: \"1k\" is not a whole number of MiB");
	cfg_fails("name = 'vm'\nmemory = '1.5G'\n",
		  "vm.cfg:2: memory: expected an integer (MiB), got \"1.5G\"");
	/* Guest RAM comes in 2 MiB steps: said here, not when the VM starts. */
	cfg_fails("name = 'vm'\nmemory = 3\n",
		  "vm.cfg:2: memory: 3 MiB is not a multiple of 2 MiB");
	cfg_fails("name = 'vm'\nmemory = '5M'\n",
		  "vm.cfg:2: memory: 5 MiB is not a multiple of 2 MiB");
	cfg_fails("name = 'vm'\nmemory = ' 512'\n",
		  "vm.cfg:2: memory: expected an integer (MiB), got \" 512\"");
}

static void test_maxmem_rules(void **state)
{
	struct parse_result *r =
		cfg_ok("name='vm'\nmemory = 512\nmaxmem = 512\n");

	assert_int_equal(r->cfg.maxmem_mib, 512);
	assert_int_equal(r->diag.nr_warnings, 0);
	free(r);
	r = cfg_ok("name='vm'\nmaxmem = 512\n");
	assert_int_equal(r->cfg.memory_mib, 128);
	assert_int_equal(r->cfg.maxmem_mib, 512);
	free(r);
	cfg_fails("name='vm'\nmemory = 512\nmaxmem = 256\n",
		  "vm.cfg:3: maxmem: 256 MiB is below memory (512 MiB)");
	cfg_fails("name='vm'\nmaxmem = 64\n",
		  "vm.cfg:2: maxmem: 64 MiB is below memory (128 MiB)");
}

static void test_vcpus_rules(void **state)
{
	struct parse_result *r = cfg_ok("name='vm'\nvcpus = '4'\n");

	assert_int_equal(r->cfg.vcpus, 4);
	assert_int_equal(r->cfg.maxvcpus, 4);
	free(r);
	r = cfg_ok("name='vm'\nvcpus = 255\nmaxvcpus = 255\n");
	assert_int_equal(r->cfg.maxvcpus, 255);
	free(r);
	cfg_fails("name='vm'\nvcpus = 0\n",
		  "vm.cfg:2: vcpus: 0 is out of range (1..255)");
	cfg_fails("name='vm'\nvcpus = 256\n",
		  "vm.cfg:2: vcpus: 256 is out of range (1..255)");
	cfg_fails("name='vm'\nvcpus = [1]\n",
		  "vm.cfg:2: vcpus: expected an integer, got a list");
	cfg_fails("name='vm'\nvcpus = 'two'\n",
		  "vm.cfg:2: vcpus: expected an integer, got \"two\"");
	cfg_fails("name='vm'\nvcpus = 4\nmaxvcpus = 2\n",
		  "vm.cfg:3: maxvcpus: 2 is below vcpus (4)");
	cfg_fails("name='vm'\nmaxvcpus = 256\n",
		  "vm.cfg:2: maxvcpus: 256 is out of range (1..255)");
}

static void test_cpu_models(void **state)
{
	static const char *const models[] = { "host", "x86-64-v1", "x86-64-v2",
					      "x86-64-v3", "x86-64-v4" };
	char text[64];
	struct parse_result *r;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(models); i++) {
		snprintf(text, sizeof(text), "name='vm'\ncpu='%s'\n",
			 models[i]);
		r = cfg_ok(text);
		assert_string_equal(r->cfg.cpu, models[i]);
		free(r);
	}
	cfg_fails(
		"name='vm'\ncpu = 'pentium'\n",
		"vm.cfg:2: cpu: unknown model \"pentium\" (host, x86-64-v1, x86-64-v2, x86-64-v3, x86-64-v4)");
	cfg_fails("name='vm'\ncpu = ['host']\n",
		  "vm.cfg:2: cpu: expected a string, got a list");
}

static void test_paths(void **state)
{
	struct parse_result *r = cfg_ok(
		"name='vm'\nkernel = '/k'\nramdisk = '/r'\nramdisk = ''\n");

	assert_string_equal(r->cfg.kernel, "/k");
	assert_string_equal(r->cfg.ramdisk, "");
	free(r);
	cfg_fails("name='vm'\nkernel = ['/k']\n",
		  "vm.cfg:2: kernel: expected a string, got a list");
	cfg_fails("name='vm'\nramdisk = ['/r']\n",
		  "vm.cfg:2: ramdisk: expected a string, got a list");
}

static void test_root_and_extra_make_the_cmdline(void **state)
{
	struct parse_result *r = cfg_ok("name='vm'\nroot = '/dev/xvda1 ro'\n");

	assert_string_equal(r->cfg.cmdline, "root=/dev/xvda1 ro");
	free(r);
	r = cfg_ok("name='vm'\nextra = 'console=hvc0'\n");
	assert_string_equal(r->cfg.cmdline, "console=hvc0");
	free(r);
	r = cfg_ok("name='vm'\nextra = 'console=hvc0'\nroot = '/dev/xvda1'\n");
	assert_string_equal(r->cfg.cmdline, "root=/dev/xvda1 console=hvc0");
	assert_int_equal(r->diag.nr_warnings, 0);
	free(r);
	r = cfg_ok("name='vm'\nroot = '/dev/xvda1'\ncmdline = 'quiet'\n"
		   "extra = 'x'\n");
	assert_string_equal(r->cfg.cmdline, "quiet");
	assert_true(cfg_has_warning(
		&r->diag,
		"vm.cfg:3: cmdline: set, so root and extra are ignored"));
	free(r);
}

static void test_cmdline_limit(void **state)
{
	char *text = test_alloc(DOMAIN_CMDLINE_MAX + 64);
	size_t len;

	len = sprintf(text, "name='vm'\ncmdline = '");
	memset(text + len, 'c', DOMAIN_CMDLINE_MAX);
	strcpy(text + len + DOMAIN_CMDLINE_MAX, "'\n");
	free(cfg_ok(text));
	strcpy(text + len + DOMAIN_CMDLINE_MAX, "c'\n");
	cfg_fails(text, "vm.cfg:2: cmdline: too long (max 2047 bytes)");
	len = sprintf(text, "name='vm'\nroot='/dev/xvda'\nextra = '");
	/* "root=/dev/xvda " takes 15 bytes. */
	memset(text + len, 'e', DOMAIN_CMDLINE_MAX - 15);
	strcpy(text + len + DOMAIN_CMDLINE_MAX - 15, "'\n");
	free(cfg_ok(text));
	strcpy(text + len + DOMAIN_CMDLINE_MAX - 15, "e'\n");
	cfg_fails(
		text,
		"vm.cfg:3: extra: kernel command line from root and extra too long (max 2047 bytes)");
	free(text);
}

static void test_serial_values(void **state)
{
	static const struct {
		const char *value;
		enum domain_serial serial;
		const char *path;
	} ok[] = {
		{ "'stdio'", DOMAIN_SERIAL_STDIO, "" },
		{ "'pty'", DOMAIN_SERIAL_PTY, "" },
		{ "'none'", DOMAIN_SERIAL_NONE, "" },
		{ "['pty']", DOMAIN_SERIAL_PTY, "" },
		{ "'file:/tmp/a b'", DOMAIN_SERIAL_FILE, "/tmp/a b" },
		{ "[ 'file:x' ]", DOMAIN_SERIAL_FILE, "x" },
	};
	char text[128];
	struct parse_result *r;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ok); i++) {
		snprintf(text, sizeof(text),
			 "name='vm'\nserial='file:/old'\nserial = %s\n",
			 ok[i].value);
		r = cfg_ok(text);
		assert_int_equal(r->cfg.serial, ok[i].serial);
		assert_string_equal(r->cfg.serial_path, ok[i].path);
		free(r);
	}
}

static void test_serial_errors(void **state)
{
	cfg_fails(
		"name='vm'\nserial = 'tcp:localhost:4555'\n",
		"vm.cfg:2: serial: expected \"stdio\", \"pty\", \"none\" or \"file:PATH\", got \"tcp:localhost:4555\"");
	cfg_fails(
		"name='vm'\nserial = 'file:'\n",
		"vm.cfg:2: serial: expected \"stdio\", \"pty\", \"none\" or \"file:PATH\", got \"file:\"");
	cfg_fails(
		"name='vm'\nserial = ['pty', 'pty']\n",
		"vm.cfg:2: serial: expected one serial port, got a list of 2");
	cfg_fails(
		"name='vm'\nserial = []\n",
		"vm.cfg:2: serial: expected one serial port, got a list of 0");
	cfg_fails(
		"name='vm'\nserial = 1\n",
		"vm.cfg:2: serial: expected \"stdio\", \"pty\", \"none\" or \"file:PATH\", got 1");
}

static void test_actions(void **state)
{
	static const char *const words[] = {
		"destroy",	  "restart",	      "preserve",
		"rename-restart", "coredump-destroy", "coredump-restart",
	};
	char text[128];
	struct parse_result *r;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(words); i++) {
		snprintf(text, sizeof(text),
			 "name='vm'\non_poweroff='%s'\non_reboot='%s'\n"
			 "on_crash='%s'\n",
			 words[i], words[i], words[i]);
		r = cfg_ok(text);
		assert_int_equal(r->cfg.on_poweroff, i);
		assert_int_equal(r->cfg.on_reboot, i);
		assert_int_equal(r->cfg.on_crash, i);
		assert_string_equal(domain_config_action_name(i), words[i]);
		free(r);
	}
	assert_string_equal(domain_config_action_name(99), "?");
	cfg_fails(
		"name='vm'\non_crash = 'explode'\n",
		"vm.cfg:2: on_crash: expected destroy, restart, preserve, rename-restart, coredump-destroy or coredump-restart, got \"explode\"");
	cfg_fails(
		"name='vm'\non_reboot = ['restart']\n",
		"vm.cfg:2: on_reboot: expected destroy, restart, preserve, rename-restart, coredump-destroy or coredump-restart, got a list");
}

static void test_memory_backing(void **state)
{
	static const char *const words[] = { "thp", "small", "hugepages" };
	char text[128], out[DOMAIN_CONFIG_TEXT_MAX];
	struct parse_result *r;
	size_t i;

	r = cfg_ok("name='vm'\n");
	assert_int_equal(r->cfg.memory_backing, DOMAIN_MEMORY_THP);
	/* The default is not written: older readers do not know the key. */
	assert_int_equal(domain_config_format(&r->cfg, out, sizeof(out)), 0);
	assert_null(strstr(out, "memory_backing"));
	free(r);
	for (i = 0; i < ARRAY_SIZE(words); i++) {
		snprintf(text, sizeof(text), "name='vm'\nmemory_backing='%s'\n",
			 words[i]);
		r = cfg_ok(text);
		assert_int_equal(r->cfg.memory_backing, i);
		assert_string_equal(domain_config_backing_name(i), words[i]);
		assert_int_equal(
			domain_config_format(&r->cfg, out, sizeof(out)), 0);
		assert_true(!i || strstr(out, words[i]));
		free(r);
	}
	assert_string_equal(domain_config_backing_name(7), "?");
	cfg_fails(
		"name='vm'\nmemory_backing = 'huge'\n",
		"vm.cfg:2: memory_backing: expected thp, small or hugepages, got \"huge\"");
}

static void test_unknown_key_is_an_error(void **state)
{
	cfg_fails("name='vm'\n\nbootloader = 'pygrub'\n",
		  "vm.cfg:3: bootloader: unknown key");
	cfg_fails("name='vm'\nMemory = 5\n", "vm.cfg:2: Memory: unknown key");
}

static void test_ignored_xl_keys_warn(void **state)
{
	struct parse_result *r = cfg_ok(
		"name='vm'\nbuilder = 'hvm'\ntype = 'pvh'\n"
		"device_model_version = 'qemu-xen'\nboot = 'c'\nvnc = 1\n"
		"sdl = 0\non_watchdog = 'destroy'\n");

	assert_int_equal(r->diag.nr_warnings, 7);
	assert_string_equal(
		r->diag.warnings[0],
		"vm.cfg:2: builder: ignored (xl key not implemented by godwit)");
	assert_string_equal(
		r->diag.warnings[6],
		"vm.cfg:8: on_watchdog: ignored (xl key not implemented by godwit)");
	free(r);
}

static void test_warnings_are_bounded(void **state)
{
	char text[1024] = "name='vm'\n";
	struct parse_result *r;
	int i;

	for (i = 0; i < 20; i++)
		strcat(text, "vnc = 1\n");
	r = cfg_ok(text);
	assert_int_equal(r->diag.nr_warnings, CONFIG_WARN_MAX);
	assert_int_equal(r->diag.warnings_dropped, 20 - CONFIG_WARN_MAX);
	free(r);
}

static void test_failure_leaves_output_untouched(void **state)
{
	struct domain_config cfg;
	struct config_diag diag;

	memset(&cfg, 0xa5, sizeof(cfg));
	assert_int_equal(domain_config_parse("x.cfg", "memory = 'x'", 12, NULL,
					     0, &cfg, &diag),
			 -EINVAL);
	assert_int_equal(cfg.name[0], (char)0xa5);
	assert_string_equal(
		diag.error,
		"x.cfg:1: memory: expected an integer (MiB), got \"x\"");
	/* Without a diag the result is the same, just silent. */
	assert_int_equal(domain_config_parse("x.cfg", "memory = 'x'", 12, NULL,
					     0, &cfg, NULL),
			 -EINVAL);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_every_key),
	cmocka_unit_test(test_name_rules),
	cmocka_unit_test(test_uuid_generated_when_absent),
	cmocka_unit_test(test_uuid_errors),
	cmocka_unit_test(test_uuid_text_helpers),
	cmocka_unit_test(test_memory_values),
	cmocka_unit_test(test_memory_errors),
	cmocka_unit_test(test_maxmem_rules),
	cmocka_unit_test(test_vcpus_rules),
	cmocka_unit_test(test_cpu_models),
	cmocka_unit_test(test_paths),
	cmocka_unit_test(test_root_and_extra_make_the_cmdline),
	cmocka_unit_test(test_cmdline_limit),
	cmocka_unit_test(test_serial_values),
	cmocka_unit_test(test_serial_errors),
	cmocka_unit_test(test_actions),
	cmocka_unit_test(test_memory_backing),
	cmocka_unit_test(test_unknown_key_is_an_error),
	cmocka_unit_test(test_ignored_xl_keys_warn),
	cmocka_unit_test(test_warnings_are_bounded),
	cmocka_unit_test(test_failure_leaves_output_untouched),
};

int config_test_keys(void)
{
	return cmocka_run_group_tests_name("config keys", tests, NULL, NULL);
}
