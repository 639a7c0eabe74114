/*
 * Unit tests of `godwit run` / `godwit restore` option parsing
 * (src/toolstack/cli/vmopts.c): defaults, every option and its checks,
 * a config file with key=value overrides under the command-line options,
 * restore's options around FILE, and the exit statuses (1 bad value,
 * 2 usage). stderr and stdout are captured to check the messages, which
 * must be one line each.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <unistd.h>
#include <cmocka.h>

#include "toolstack/cli/cli.h"
#include "toolstack/cli/vmopts.h"
#include "monitor/monitor.h"

#define MAX_ARGS 32

struct run {
	int rc;
	int first;
	int argc;
	char *argv[MAX_ARGS + 1];
	struct monitor_opts o;
	char err[4096]; /* what went to stderr */
	char out[4096]; /* what went to stdout */
};

static int usage_calls;

static void test_usage(FILE *f)
{
	usage_calls++;
	fprintf(f, "usage: godwit test [OPTIONS]\n");
}

/* Point fd (1 or 2) at a fresh memfd; returns the saved original. */
static int capture_start(int fd, int *mfd)
{
	int saved = dup(fd);

	*mfd = memfd_create("vmopts-capture", MFD_CLOEXEC);
	assert_true(saved >= 0 && *mfd >= 0);
	assert_int_equal(dup2(*mfd, fd), fd);
	return saved;
}

static void capture_end(int fd, int saved, int mfd, char *buf, size_t len)
{
	ssize_t n;

	assert_int_equal(dup2(saved, fd), fd);
	close(saved);
	n = pread(mfd, buf, len - 1, 0);
	assert_true(n >= 0);
	buf[n] = 0;
	close(mfd);
}

/* Parse "verb args..." (NULL-terminated) in mode, capturing output. */
static struct run *parse_v(enum vmopts_mode mode, const char *const *args)
{
	struct run *r = calloc(1, sizeof(*r));
	int e_saved, e_mfd, o_saved, o_mfd;

	assert_non_null(r);
	while (args[r->argc]) {
		assert_true(r->argc < MAX_ARGS);
		r->argv[r->argc] = strdup(args[r->argc]);
		r->argc++;
	}
	usage_calls = 0;
	fflush(stdout);
	fflush(stderr);
	e_saved = capture_start(2, &e_mfd);
	o_saved = capture_start(1, &o_mfd);
	r->first = -1;
	r->rc = vmopts_parse(r->argc, r->argv, mode, &r->o, test_usage,
			     &r->first);
	fflush(stdout);
	fflush(stderr);
	capture_end(1, o_saved, o_mfd, r->out, sizeof(r->out));
	capture_end(2, e_saved, e_mfd, r->err, sizeof(r->err));
	return r;
}

#define RUN(...) \
	parse_v(VMOPTS_RUN, (const char *const[]){ "run", __VA_ARGS__, NULL })
#define RESTORE(...)            \
	parse_v(VMOPTS_RESTORE, \
		(const char *const[]){ "restore", __VA_ARGS__, NULL })

static void done(struct run *r)
{
	int i;

	for (i = 0; i < r->argc; i++)
		free(r->argv[i]);
	free(r);
}

static void expect_ok(struct run *r)
{
	if (r->rc)
		fail_msg("rc %d, stderr: %s", r->rc, r->err);
}

/* rc, and exactly one stderr line containing what. */
static void expect_fail(struct run *r, int rc, const char *what)
{
	char *nl;

	assert_int_equal(r->rc, rc);
	if (!strstr(r->err, what))
		fail_msg("stderr '%s' does not mention '%s'", r->err, what);
	assert_memory_equal(r->err, "godwit: ", 8);
	nl = strchr(r->err, '\n');
	assert_non_null(nl);
	assert_int_equal(nl[1], 0);
}

/* A bad value for one option: status 1 and one line. */
static void bad_value(const char *opt, const char *arg, const char *what)
{
	struct run *r = RUN("--kernel", "/k", opt, arg);
	char want[200];

	snprintf(want, sizeof(want), "godwit: %s '%s': %s", opt, arg, what);
	expect_fail(r, CLI_FAIL, want);
	done(r);
}

static char *write_config(const char *text)
{
	char *path = strdup("/tmp/godwit-vmopts-XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

/* ---- godwit run -------------------------------------------------------- */

static void test_defaults(void **state)
{
	struct run *r = RUN("--kernel", "/boot/vmlinux");
	const struct domain_config *c = &r->o.cfg;

	expect_ok(r);
	assert_int_equal(r->first, r->argc);
	assert_string_equal(c->kernel, "/boot/vmlinux");
	assert_string_equal(c->ramdisk, "");
	assert_string_equal(c->cmdline, "");
	assert_int_equal(c->memory_mib, 128);
	assert_int_equal(c->maxmem_mib, 128);
	assert_int_equal(c->vcpus, 1);
	assert_int_equal(c->maxvcpus, 1);
	assert_string_equal(c->cpu, "host");
	assert_string_equal(c->name, "godwit");
	assert_int_equal(c->serial, DOMAIN_SERIAL_STDIO);
	assert_false(r->o.paused);
	assert_false(r->o.no_qmp);
	assert_false(r->o.serial_set);
	assert_string_equal(r->o.qmp_path, "");
	assert_int_equal(r->o.restore_fd, -1);
	assert_string_equal(r->err, "");
	assert_string_equal(r->out, "");
	done(r);
}

static void test_every_option(void **state)
{
	struct run *r = RUN("--kernel", "/k", "--initrd", "/initrd.img",
			    "--cmdline", "console=ttyS0 quiet", "--memory",
			    "256", "--vcpus", "4", "--cpu", "x86-64-v3",
			    "--serial", "file:/tmp/serial.log", "--name",
			    "vm-1.a_B", "--qmp", "/tmp/vm.qmp", "-p");
	const struct domain_config *c = &r->o.cfg;

	expect_ok(r);
	assert_string_equal(c->kernel, "/k");
	assert_string_equal(c->ramdisk, "/initrd.img");
	assert_string_equal(c->cmdline, "console=ttyS0 quiet");
	assert_int_equal(c->memory_mib, 256);
	assert_int_equal(c->maxmem_mib, 256);
	assert_int_equal(c->vcpus, 4);
	assert_int_equal(c->maxvcpus, 4);
	assert_string_equal(c->cpu, "x86-64-v3");
	assert_int_equal(c->serial, DOMAIN_SERIAL_FILE);
	assert_string_equal(c->serial_path, "/tmp/serial.log");
	assert_string_equal(c->name, "vm-1.a_B");
	assert_string_equal(r->o.qmp_path, "/tmp/vm.qmp");
	assert_false(r->o.no_qmp);
	assert_true(r->o.paused);
	assert_int_equal(r->first, r->argc);
	done(r);

	/* --opt=value, --paused, and a later option wins. */
	r = RUN("--kernel=/a", "--memory=64", "--paused", "--qmp", "none",
		"--memory", "32", "--kernel", "/b");
	expect_ok(r);
	assert_string_equal(r->o.cfg.kernel, "/b");
	assert_int_equal(r->o.cfg.memory_mib, 32);
	assert_true(r->o.paused);
	assert_true(r->o.no_qmp);
	done(r);
}

static void test_memory_sizes(void **state)
{
	static const struct {
		const char *arg;
		uint64_t mib;
	} ok[] = {
		{ "4", 4 },	{ "256", 256 },	   { "1g", 1024 },
		{ "1G", 1024 }, { "2048M", 2048 }, { "64MiB", 64 },
		{ "4096k", 4 }, { "6m", 6 },	   { "1GB", 1024 },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ok); i++) {
		struct run *r = RUN("--kernel", "/k", "--memory", ok[i].arg);

		expect_ok(r);
		assert_int_equal(r->o.cfg.memory_mib, ok[i].mib);
		done(r);
	}
}

static void test_memory_rejections(void **state)
{
	uint64_t host = (uint64_t)get_phys_pages() * getpagesize();
	uint64_t over = (host / (2 << 20) + 1) * 2; /* MiB, 2 MiB multiple */
	char arg[32], why[96];

	bad_value("--memory", "abc", "not a size");
	bad_value("--memory", "", "not a size");
	bad_value("--memory", "12q", "not a size");
	bad_value("--memory", "-4", "not a size");
	bad_value("--memory", "99999999999999999999", "not a size");
	bad_value("--memory", "5",
		  "must be a multiple of 2 MiB and at least 4 MiB");
	bad_value("--memory", "3", "must be a multiple of 2 MiB");
	bad_value("--memory", "2",
		  "must be a multiple of 2 MiB and at least 4 MiB");
	bad_value("--memory", "0",
		  "must be a multiple of 2 MiB and at least 4 MiB");
	bad_value("--memory", "4097k", "must be a multiple of 2 MiB");
	snprintf(arg, sizeof(arg), "%llu", (unsigned long long)over);
	snprintf(why, sizeof(why), "more than this host's %llu MiB of RAM",
		 (unsigned long long)(host >> 20));
	bad_value("--memory", arg, why);
	bad_value("--memory", "1024t", "more than this host's");
}

static void test_vcpus(void **state)
{
	static const char *const bad[] = { "0", "256", "-1", "x",
					   "",	"4x",  " 4", "99999999999" };
	struct run *r = RUN("--kernel", "/k", "--vcpus", "255");
	size_t i;

	expect_ok(r);
	assert_int_equal(r->o.cfg.vcpus, 255);
	assert_int_equal(r->o.cfg.maxvcpus, 255);
	done(r);
	r = RUN("--kernel", "/k", "--vcpus", "1");
	expect_ok(r);
	assert_int_equal(r->o.cfg.vcpus, 1);
	done(r);
	for (i = 0; i < ARRAY_SIZE(bad); i++)
		bad_value("--vcpus", bad[i], "must be a number from 1 to 255");
}

static void test_cpu_models(void **state)
{
	static const char *const ok[] = { "host", "x86-64-v1", "x86-64-v2",
					  "x86-64-v3", "x86-64-v4" };
	static const char *const bad[] = { "x86-64-v5", "HOST", "", "haswell",
					   "x86-64-v3 " };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ok); i++) {
		struct run *r = RUN("--kernel", "/k", "--cpu", ok[i]);

		expect_ok(r);
		assert_string_equal(r->o.cfg.cpu, ok[i]);
		done(r);
	}
	for (i = 0; i < ARRAY_SIZE(bad); i++)
		bad_value("--cpu", bad[i], "unknown model (host, x86-64-v1");
}

static void test_serial_forms(void **state)
{
	static const struct {
		const char *arg;
		enum domain_serial kind;
		const char *path;
	} ok[] = {
		{ "stdio", DOMAIN_SERIAL_STDIO, "" },
		{ "none", DOMAIN_SERIAL_NONE, "" },
		{ "pty", DOMAIN_SERIAL_PTY, "" },
		{ "file:/var/log/vm.log", DOMAIN_SERIAL_FILE,
		  "/var/log/vm.log" },
		{ "file:rel ative", DOMAIN_SERIAL_FILE, "rel ative" },
	};
	char long_path[1100] = "file:";
	struct run *r;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ok); i++) {
		r = RUN("--kernel", "/k", "--serial", ok[i].arg);
		expect_ok(r);
		assert_true(r->o.serial_set);
		assert_int_equal(r->o.serial, ok[i].kind);
		assert_int_equal(r->o.cfg.serial, ok[i].kind);
		assert_string_equal(r->o.cfg.serial_path, ok[i].path);
		done(r);
	}
	bad_value("--serial",
		  "file:", "expected stdio, file:PATH, pty or none");
	bad_value("--serial", "tcp:1234",
		  "expected stdio, file:PATH, pty or none");
	bad_value("--serial", "STDIO", "expected stdio");
	bad_value("--serial", "", "expected stdio");
	memset(long_path + 5, 'p', 1024);
	long_path[5 + 1024] = 0;
	r = RUN("--kernel", "/k", "--serial", long_path);
	expect_fail(r, CLI_FAIL, "godwit: --serial '");
	/* The whole argument is echoed, file: included. */
	assert_non_null(strstr(r->err, "'file:ppp"));
	assert_non_null(strstr(r->err, "pppp': file path too long\n"));
	done(r);
}

static void test_name_rules(void **state)
{
	char name[70];
	struct run *r;

	memset(name, 'n', 63);
	name[63] = 0;
	r = RUN("--kernel", "/k", "--name", name);
	expect_ok(r);
	assert_string_equal(r->o.cfg.name, name);
	done(r);
	r = RUN("--kernel", "/k", "--name", "x");
	expect_ok(r);
	assert_string_equal(r->o.cfg.name, "x");
	done(r);
	name[63] = 'n';
	name[64] = 0;
	bad_value("--name", name, "must be 1 to 63 characters");
	bad_value("--name", "", "must be 1 to 63 characters");
	bad_value("--name", "my vm",
		  "may only contain letters, digits, '_', '.' and '-'");
	bad_value("--name", "a/b", "may only contain");
	bad_value("--name", "vm\xc3\xa9", "may only contain");
	bad_value("--name", "a:b", "may only contain");
}

static void test_string_lengths(void **state)
{
	char big[2100];

	memset(big, 'k', 1024);
	big[1024] = 0;
	bad_value("--kernel", big, "too long");
	bad_value("--initrd", big, "too long");
	big[1023] = 0; /* 1023: the most a path may have */
	{
		struct run *r = RUN("--kernel", big);

		expect_ok(r);
		done(r);
	}
	memset(big, 'c', 2048);
	big[2048] = 0;
	bad_value("--cmdline", big, "too long");
}

/* ---- Config file, overrides, options ------------------------------------ */

static const char cfg_text[] = "name = 'fromfile'\n"
			       "memory = 256\n"
			       "vcpus = 2\n"
			       "kernel = '/boot/file-kernel'\n"
			       "cmdline = 'console=ttyS0'\n"
			       "cpu = 'x86-64-v2'\n"
			       "serial = 'none'\n";

static void test_config_file(void **state)
{
	char *path = write_config(cfg_text);
	struct run *r = RUN(path);
	const struct domain_config *c = &r->o.cfg;

	expect_ok(r);
	assert_int_equal(r->first, 1);
	assert_string_equal(c->name, "fromfile");
	assert_int_equal(c->memory_mib, 256);
	assert_int_equal(c->vcpus, 2);
	assert_string_equal(c->kernel, "/boot/file-kernel");
	assert_string_equal(c->cmdline, "console=ttyS0");
	assert_string_equal(c->cpu, "x86-64-v2");
	assert_int_equal(c->serial, DOMAIN_SERIAL_NONE);
	assert_false(r->o.serial_set);
	done(r);
	unlink(path);
	free(path);
}

static void test_config_overrides_then_options(void **state)
{
	char *path = write_config(cfg_text);
	struct run *r;
	const struct domain_config *c;

	/* key=value after the file override it. */
	r = RUN(path, "memory=512", "vcpus=3", "name=over");
	c = &r->o.cfg;
	expect_ok(r);
	assert_int_equal(r->first, 1);
	assert_int_equal(c->memory_mib, 512);
	assert_int_equal(c->vcpus, 3);
	assert_string_equal(c->name, "over");
	assert_string_equal(c->cpu, "x86-64-v2");
	done(r);

	/* Options override both the file and its overrides. */
	r = RUN("--memory", "1024", "--name", "cli", "--serial", "file:/tmp/s",
		"--cpu", "host", "--kernel", "/cli-kernel", path, "memory=512",
		"cmdline=quiet");
	c = &r->o.cfg;
	expect_ok(r);
	assert_int_equal(r->first, 11);
	assert_string_equal(r->argv[r->first], path);
	assert_int_equal(c->memory_mib, 1024);
	assert_true(c->maxmem_mib >= 1024);
	assert_string_equal(c->name, "cli");
	assert_int_equal(c->serial, DOMAIN_SERIAL_FILE);
	assert_string_equal(c->serial_path, "/tmp/s");
	assert_string_equal(c->cpu, "host");
	assert_string_equal(c->kernel, "/cli-kernel");
	assert_string_equal(c->cmdline, "quiet"); /* from the override */
	assert_int_equal(c->vcpus, 2); /* from the file */
	done(r);

	/* Options stop at CONFIG: what follows is key=value, not options. */
	r = RUN(path, "--memory", "64");
	assert_int_equal(r->rc, CLI_FAIL);
	assert_memory_equal(r->err, "godwit: ", 8);
	done(r);

	/* A bad override is the config's error, one line. */
	r = RUN(path, "memory=lots");
	expect_fail(r, CLI_FAIL, "memory");
	done(r);
	unlink(path);
	free(path);
}

static void test_config_errors(void **state)
{
	char *path;
	struct run *r;

	r = RUN("/nonexistent/godwit.cfg");
	expect_fail(r, CLI_FAIL, "/nonexistent/godwit.cfg");
	done(r);

	path = write_config("name = 'x'\nmemory = \n");
	r = RUN(path);
	expect_fail(r, CLI_FAIL, path);
	done(r);
	unlink(path);
	free(path);

	/* A key godwit ignores is a warning, not an error. */
	path = write_config("name = 'w'\nkernel = '/k'\nvnc = 1\n");
	r = RUN(path);
	expect_ok(r);
	assert_non_null(strstr(r->err, "godwit: warning: "));
	assert_non_null(strstr(r->err, "vnc"));
	done(r);
	unlink(path);
	free(path);

	/* A config without a kernel, and no --kernel: a usage error. */
	path = write_config("name = 'nok'\n");
	r = RUN(path);
	expect_fail(r, CLI_USAGE, "no kernel given");
	done(r);
	r = RUN("--kernel", "/k", path);
	expect_ok(r);
	assert_string_equal(r->o.cfg.name, "nok");
	done(r);
	unlink(path);
	free(path);
}

/* ---- Usage errors and help ---------------------------------------------- */

static void test_usage_errors(void **state)
{
	struct run *r;

	r = RUN("--kernel", "/k", "--bogus");
	assert_int_equal(r->rc, CLI_USAGE);
	assert_int_equal(usage_calls, 1);
	assert_non_null(strstr(r->err, "usage: godwit test"));
	assert_string_equal(r->out, "");
	done(r);

	r = RUN("--kernel", "/k", "-x");
	assert_int_equal(r->rc, CLI_USAGE);
	done(r);

	/* A missing argument. */
	r = RUN("--kernel", "/k", "--memory");
	assert_int_equal(r->rc, CLI_USAGE);
	assert_non_null(strstr(r->err, "usage:"));
	done(r);

	/* No kernel at all. */
	r = parse_v(VMOPTS_RUN, (const char *const[]){ "run", NULL });
	expect_fail(r, CLI_USAGE, "godwit: run: no kernel given");
	done(r);

	/* A bad value is not a usage error. */
	r = RUN("--kernel", "/k", "--vcpus", "0");
	assert_int_equal(r->rc, CLI_FAIL);
	assert_int_equal(usage_calls, 0);
	done(r);
}

static void test_help(void **state)
{
	struct run *r = RUN("--kernel", "/k", "-h");

	assert_int_equal(r->rc, VMOPTS_HELP);
	assert_int_equal(usage_calls, 1);
	assert_non_null(strstr(r->out, "usage: godwit test"));
	assert_string_equal(r->err, "");
	done(r);
	r = RESTORE("--help");
	assert_int_equal(r->rc, VMOPTS_HELP);
	assert_non_null(strstr(r->out, "usage:"));
	done(r);
}

static void test_usage_text(void **state)
{
	char buf[4096];
	FILE *f = fmemopen(buf, sizeof(buf), "w");

	vmopts_usage(f, VMOPTS_RUN);
	fclose(f);
	assert_non_null(strstr(buf, "--memory SIZE"));
	assert_non_null(strstr(buf, "--serial SPEC"));
	f = fmemopen(buf, sizeof(buf), "w");
	vmopts_usage(f, VMOPTS_RESTORE);
	fclose(f);
	assert_null(strstr(buf, "--memory"));
	assert_null(strstr(buf, "--kernel"));
	assert_non_null(strstr(buf, "--serial SPEC"));
	assert_non_null(strstr(buf, "-p, --paused"));
}

/* ---- godwit restore ----------------------------------------------------- */

static void test_restore_options_after_file(void **state)
{
	struct run *r = RESTORE("saved.gdw", "-p", "--serial", "none", "--qmp",
				"/tmp/r.qmp");

	expect_ok(r);
	assert_int_equal(r->argc - r->first, 1);
	assert_string_equal(r->argv[r->first], "saved.gdw");
	assert_true(r->o.paused);
	assert_true(r->o.serial_set);
	assert_int_equal(r->o.serial, DOMAIN_SERIAL_NONE);
	assert_string_equal(r->o.qmp_path, "/tmp/r.qmp");
	/* Restore takes the machine from the stream: cfg stays default. */
	assert_int_equal(r->o.cfg.serial, DOMAIN_SERIAL_STDIO);
	assert_string_equal(r->o.cfg.kernel, "");
	done(r);

	/* Before FILE, and mixed around it. */
	r = RESTORE("--serial", "file:/tmp/con", "saved.gdw", "--paused");
	expect_ok(r);
	assert_string_equal(r->argv[r->first], "saved.gdw");
	assert_int_equal(r->argc - r->first, 1);
	assert_int_equal(r->o.serial, DOMAIN_SERIAL_FILE);
	assert_string_equal(r->o.serial_path, "/tmp/con");
	assert_true(r->o.paused);
	done(r);

	/* No FILE: parsing succeeds; the verb counts what is left. */
	r = RESTORE("-p");
	expect_ok(r);
	assert_int_equal(r->first, r->argc);
	done(r);
	r = RESTORE("a", "b");
	expect_ok(r);
	assert_int_equal(r->argc - r->first, 2);
	done(r);
}

static void test_restore_rejects_machine_options(void **state)
{
	static const char *const opts[] = { "--memory", "--vcpus", "--kernel",
					    "--cpu",	"--name",  "--initrd",
					    "--cmdline" };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(opts); i++) {
		struct run *r = RESTORE("saved.gdw", opts[i], "1");

		assert_int_equal(r->rc, CLI_USAGE);
		assert_int_equal(usage_calls, 1);
		done(r);
	}
	{
		struct run *r = RESTORE("saved.gdw", "--serial", "bogus");

		expect_fail(r, CLI_FAIL, "godwit: --serial 'bogus': expected");
		done(r);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_option),
		cmocka_unit_test(test_memory_sizes),
		cmocka_unit_test(test_memory_rejections),
		cmocka_unit_test(test_vcpus),
		cmocka_unit_test(test_cpu_models),
		cmocka_unit_test(test_serial_forms),
		cmocka_unit_test(test_name_rules),
		cmocka_unit_test(test_string_lengths),
		cmocka_unit_test(test_config_file),
		cmocka_unit_test(test_config_overrides_then_options),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_usage_errors),
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_usage_text),
		cmocka_unit_test(test_restore_options_after_file),
		cmocka_unit_test(test_restore_rejects_machine_options),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
