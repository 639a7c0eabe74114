/*
 * Block and vif hotplug scripts (src/common/hotplug*.c, child.c) with real stand-in
 * scripts: missing, not executable, failing with a message, killed,
 * hanging past the deadline (its background children killed too),
 * succeeding with the path as the last line, a daemon left behind that
 * holds the output pipes, long output; the environment and arguments a
 * script gets, byte by byte; where a script name is looked for.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/child.h"
#include "common/clock.h"
#include "common/hotplug.h"
#include "common/util.h"

static char dir[64];
static char why[512];

static int setup(void **state)
{
	/* Orphans of killed scripts come to us, to be reaped here. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	strcpy(dir, "/tmp/godwit-hotplug-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) ? -1 : 0;
}

/* dir/name with the given shell body and mode; returns its path. */
static const char *script(const char *name, const char *body, int mode)
{
	static char path[256];
	char text[2048];
	int n = snprintf(text, sizeof(text), "#!/bin/sh\n%s\n", body);

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
	assert_int_equal(file_write_atomic(path, text, n, mode), 0);
	return path;
}

static struct hotplug_disk disk(const char *name)
{
	return (struct hotplug_disk){
		.script = name,
		.target = "vg0/root",
		.vdev = "xvda",
		.domain = "vm1",
		.uuid = "6f9619ff-8b86-d011-b42d-00c04fc964ff",
		.timeout_ms = 5000,
		.scripts_dir = dir,
	};
}

static void add_fails(const struct hotplug_disk *h, int want_rc,
		      const char *want)
{
	char path[256];

	assert_int_equal(hotplug_add(h, path, sizeof(path), why, sizeof(why)),
			 want_rc);
	assert_string_equal(why, want);
}

static void test_missing_and_not_executable(void **state)
{
	struct hotplug_disk h = disk("block-none");
	char want[512];

	snprintf(want, sizeof(want),
		 "disk xvda: hotplug script %s/block-none: does not exist",
		 dir);
	add_fails(&h, -ENOENT, want);
	script("block-plain", "exit 0", 0644);
	h = disk("block-plain");
	snprintf(
		want, sizeof(want),
		"disk xvda: hotplug script %s/block-plain is not an executable file",
		dir);
	add_fails(&h, -EACCES, want);
	h.script = dir;
	snprintf(want, sizeof(want),
		 "disk xvda: hotplug script %s is not an executable file", dir);
	add_fails(&h, -EACCES, want);
	/* Executable, but exec cannot start it (no such interpreter). */
	snprintf(want, sizeof(want), "%s/block-badshebang", dir);
	assert_int_equal(
		file_write_atomic(want, "#!/nonexistent/sh\n", 18, 0755), 0);
	h = disk("block-badshebang");
	snprintf(
		want, sizeof(want),
		"disk xvda: hotplug script %s/block-badshebang cannot run: No such file or directory",
		dir);
	add_fails(&h, -ENOENT, want);
}

static void test_failure_quotes_the_script(void **state)
{
	struct hotplug_disk h = disk("block-fail");
	char want[512];

	script("block-fail",
	       "echo 'activating vg0/root'\n"
	       "echo '  Volume group \"vg0\" not found' >&2\n"
	       "echo '' >&2\nexit 5",
	       0755);
	/* Its last non-empty line on stderr, trimmed, as printed. */
	snprintf(
		want, sizeof(want),
		"disk xvda: hotplug script %s/block-fail add failed (exit 5): \"Volume group \"vg0\" not found\"",
		dir);
	add_fails(&h, -EIO, want);
	/* Only stdout: its last line. Nothing at all: said so. */
	script("block-fail", "echo 'only on stdout'\nexit 1", 0755);
	snprintf(
		want, sizeof(want),
		"disk xvda: hotplug script %s/block-fail add failed (exit 1): \"only on stdout\"",
		dir);
	add_fails(&h, -EIO, want);
	script("block-fail", "exit 2", 0755);
	assert_int_equal(hotplug_remove(&h, why, sizeof(why)), -EIO);
	snprintf(
		want, sizeof(want),
		"disk xvda: hotplug script %s/block-fail remove failed (exit 2) (it printed nothing)",
		dir);
	assert_string_equal(why, want);
	script("block-fail", "echo dying >&2; kill -9 $$", 0755);
	snprintf(
		want, sizeof(want),
		"disk xvda: hotplug script %s/block-fail add killed by signal 9: \"dying\"",
		dir);
	add_fails(&h, -EIO, want);
}

/* Running? (A zombie is dead; we reap orphans as they come.) */
static bool pid_alive(pid_t pid)
{
	char path[64], stat[512] = "", *p;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	if (!fgets(stat, sizeof(stat), f))
		stat[0] = 0;
	fclose(f);
	p = strrchr(stat, ')');
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

/* Past the deadline it is killed, with what it started in the background. */
static void test_hanging_script_is_killed(void **state)
{
	struct hotplug_disk h = disk("block-hang");
	char want[512], pidfile[128], *text = NULL;
	uint64_t start = time_mono_ns(), ms;
	size_t len;
	pid_t bg;

	snprintf(pidfile, sizeof(pidfile), "%s/bg.pid", dir);
	snprintf(want, sizeof(want), "sleep 60 &\necho $! > %s\nsleep 60",
		 pidfile);
	script("block-hang", want, 0755);
	h.timeout_ms = 300;
	snprintf(
		want, sizeof(want),
		"disk xvda: hotplug script %s/block-hang add did not finish within 300 ms (killed)",
		dir);
	add_fails(&h, -ETIMEDOUT, want);
	ms = (time_mono_ns() - start) / NSEC_PER_MSEC;
	assert_true(ms >= 300 && ms < 3000);
	assert_int_equal(file_read_all(pidfile, 64, (void **)&text, &len), 0);
	bg = atoi(text);
	free(text);
	assert_true(bg > 0);
	for (int i = 0; i < 100 && pid_alive(bg); i++)
		usleep(10000);
	assert_false(pid_alive(bg));
}

static void test_success_gives_the_last_line(void **state)
{
	struct hotplug_disk h = disk("block-ok");
	char path[256];

	script("block-ok",
	       "echo 'lvchange -ay vg0/root'\necho 'warning: slow' >&2\n"
	       "echo /dev/vg0/root\necho",
	       0755);
	assert_int_equal(hotplug_add(&h, path, sizeof(path), why, sizeof(why)),
			 0);
	assert_string_equal(path, "/dev/vg0/root");
	assert_int_equal(hotplug_remove(&h, why, sizeof(why)), 0);
	/* Long output: the path is still the last line. */
	script("block-ok",
	       "head -c 20000 /dev/zero | tr '\\0' x\necho\n"
	       "head -c 9000 /dev/zero | tr '\\0' y >&2\n"
	       "echo /srv/img.raw",
	       0755);
	assert_int_equal(hotplug_add(&h, path, sizeof(path), why, sizeof(why)),
			 0);
	assert_string_equal(path, "/srv/img.raw");
	/* No path, or a relative one. */
	script("block-ok", "echo activated", 0755);
	assert_int_equal(hotplug_add(&h, path, sizeof(path), why, sizeof(why)),
			 -EINVAL);
	assert_non_null(strstr(
		why,
		"add printed no absolute path of a device or file (last line on stdout: \"activated\")"));
}

/* A daemon left behind with our pipes does not hold up the start. */
static void test_daemon_left_behind(void **state)
{
	struct hotplug_disk h = disk("block-daemon");
	char path[256], body[256];
	uint64_t start = time_mono_ns();

	snprintf(body, sizeof(body),
		 "sleep 20 &\necho $! > %s/daemon.pid\necho /dev/nbd0", dir);
	script("block-daemon", body, 0755);
	assert_int_equal(hotplug_add(&h, path, sizeof(path), why, sizeof(why)),
			 0);
	assert_string_equal(path, "/dev/nbd0");
	assert_true(time_mono_ns() - start < 3 * NSEC_PER_SEC);
	snprintf(body, sizeof(body), "kill $(cat %s/daemon.pid)", dir);
	assert_int_equal(system(body), 0);
}

/* Exactly this environment and these arguments, byte by byte. */
static void test_environment(void **state)
{
	struct hotplug_disk h = disk("block-env");
	char body[512], want[1024], file[128], path[256], *got = NULL;
	size_t len, n;

	snprintf(file, sizeof(file), "%s/env", dir);
	snprintf(
		body, sizeof(body),
		"cat /proc/$$/environ > %s\nprintf '%%s|%%s|%%s' \"$#\" \"$1\" \"$0\" >> %s\n"
		"echo /dev/vg0/root",
		file, file);
	script("block-env", body, 0755);
	h.readonly = true;
	assert_int_equal(hotplug_add(&h, path, sizeof(path), why, sizeof(why)),
			 0);
	n = snprintf(want, sizeof(want),
		     "PATH=" HOTPLUG_PATH "%cscript=%s/block-env%c"
		     "GODWIT_ACTION=add%cGODWIT_PARAMS=vg0/root%c"
		     "GODWIT_MODE=r%cGODWIT_VDEV=xvda%cGODWIT_DOMAIN=vm1%c"
		     "GODWIT_UUID=6f9619ff-8b86-d011-b42d-00c04fc964ff%c"
		     "1|add|%s/block-env",
		     0, dir, 0, 0, 0, 0, 0, 0, 0, dir);
	assert_int_equal(file_read_all(file, 4096, (void **)&got, &len), 0);
	assert_int_equal(len, n);
	assert_memory_equal(got, want, n);
	free(got);
	/* remove: read-write now, and GODWIT_DEVICE is what add printed. */
	h.readonly = false;
	h.device = path;
	assert_int_equal(hotplug_remove(&h, why, sizeof(why)), 0);
	n = snprintf(want, sizeof(want),
		     "PATH=" HOTPLUG_PATH "%cscript=%s/block-env%c"
		     "GODWIT_ACTION=remove%cGODWIT_PARAMS=vg0/root%c"
		     "GODWIT_MODE=w%cGODWIT_VDEV=xvda%cGODWIT_DOMAIN=vm1%c"
		     "GODWIT_UUID=6f9619ff-8b86-d011-b42d-00c04fc964ff%c"
		     "GODWIT_DEVICE=/dev/vg0/root%c1|remove|%s/block-env",
		     0, dir, 0, 0, 0, 0, 0, 0, 0, 0, dir);
	assert_int_equal(file_read_all(file, 4096, (void **)&got, &len), 0);
	assert_int_equal(len, n);
	assert_memory_equal(got, want, n);
	free(got);
}

static struct hotplug_vif vif(const char *name)
{
	return (struct hotplug_vif){
		.script = name,
		.vif = "gw7.1",
		.bridge = "br0",
		.mac = "00:16:3e:56:af:69",
		.ip = "10.0.0.2 fe80::1",
		.devid = 1,
		.domain = "vm1",
		.uuid = "6f9619ff-8b86-d011-b42d-00c04fc964ff",
		.timeout_ms = 5000,
		.scripts_dir = dir,
	};
}

/* A vif script: Xen's arguments, exactly this environment. */
static void test_vif_environment(void **state)
{
	struct hotplug_vif h = vif("vif-env");
	char body[512], want[1024], file[128], *got = NULL;
	size_t len, n;

	snprintf(file, sizeof(file), "%s/env", dir);
	snprintf(body, sizeof(body),
		 "cat /proc/$$/environ > %s\n"
		 "printf '%%s|%%s|%%s|%%s' \"$#\" \"$1\" \"$2\" \"$0\" >> %s",
		 file, file);
	script("vif-env", body, 0755);
	assert_int_equal(hotplug_vif_online(&h, why, sizeof(why)), 0);
	n = snprintf(want, sizeof(want),
		     "PATH=" HOTPLUG_PATH "%cscript=%s/vif-env%cvif=gw7.1%c"
		     "netdev=%cGODWIT_ACTION=online%cGODWIT_VIF=gw7.1%c"
		     "GODWIT_BRIDGE=br0%cGODWIT_MAC=00:16:3e:56:af:69%c"
		     "GODWIT_IP=10.0.0.2 fe80::1%cGODWIT_DEVID=1%c"
		     "GODWIT_DOMAIN=vm1%c"
		     "GODWIT_UUID=6f9619ff-8b86-d011-b42d-00c04fc964ff%c"
		     "2|online|type_if=vif|%s/vif-env",
		     0, dir, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, dir);
	assert_int_equal(file_read_all(file, 4096, (void **)&got, &len), 0);
	assert_int_equal(len, n);
	assert_memory_equal(got, want, n);
	free(got);
	/* offline, without a bridge or addresses: those are not set. */
	h.bridge = "";
	h.ip = NULL;
	assert_int_equal(hotplug_vif_offline(&h, why, sizeof(why)), 0);
	n = snprintf(want, sizeof(want),
		     "PATH=" HOTPLUG_PATH "%cscript=%s/vif-env%cvif=gw7.1%c"
		     "netdev=%cGODWIT_ACTION=offline%cGODWIT_VIF=gw7.1%c"
		     "GODWIT_MAC=00:16:3e:56:af:69%cGODWIT_DEVID=1%c"
		     "GODWIT_DOMAIN=vm1%c"
		     "GODWIT_UUID=6f9619ff-8b86-d011-b42d-00c04fc964ff%c"
		     "2|offline|type_if=vif|%s/vif-env",
		     0, dir, 0, 0, 0, 0, 0, 0, 0, 0, 0, dir);
	assert_int_equal(file_read_all(file, 4096, (void **)&got, &len), 0);
	assert_int_equal(len, n);
	assert_memory_equal(got, want, n);
	free(got);
}

/* A failing vif script: one line naming the vif, quoting the script. */
static void test_vif_failure(void **state)
{
	struct hotplug_vif h = vif("vif-bad");
	char want[512];

	script("vif-bad",
	       "echo 'setting up' ; echo 'bridge br0 not found' >&2; exit 3",
	       0755);
	assert_int_equal(hotplug_vif_online(&h, why, sizeof(why)), -EIO);
	snprintf(
		want, sizeof(want),
		"vif gw7.1: hotplug script %s/vif-bad online failed (exit 3): \"bridge br0 not found\"",
		dir);
	assert_string_equal(why, want);
	h.script = "vif-missing";
	assert_int_equal(hotplug_vif_online(&h, why, sizeof(why)), -ENOENT);
	snprintf(want, sizeof(want),
		 "vif gw7.1: hotplug script %s/vif-missing: does not exist",
		 dir);
	assert_string_equal(why, want);
}

static void test_script_lookup(void **state)
{
	struct hotplug_disk h = disk("block-x");
	char out[256];

	assert_int_equal(hotplug_script_path(&h, out, sizeof(out)), 0);
	assert_string_equal(out,
			    strcat(strcpy((char[128]){ 0 }, dir), "/block-x"));
	h.scripts_dir = NULL;
	unsetenv("GODWIT_SCRIPTS_DIR");
	assert_int_equal(hotplug_script_path(&h, out, sizeof(out)), 0);
	assert_string_equal(out, "/etc/godwit/scripts/block-x");
	setenv("GODWIT_SCRIPTS_DIR", "/opt/s", 1);
	assert_int_equal(hotplug_script_path(&h, out, sizeof(out)), 0);
	assert_string_equal(out, "/opt/s/block-x");
	unsetenv("GODWIT_SCRIPTS_DIR");
	h.script = "./scripts/block-x";
	assert_int_equal(hotplug_script_path(&h, out, sizeof(out)), 0);
	assert_string_equal(out, "./scripts/block-x");
}

static void test_last_line(void **state)
{
	char out[64];

	child_last_line("a\nb\n\n  \n", out, sizeof(out));
	assert_string_equal(out, "b");
	child_last_line("  one  \r\n", out, sizeof(out));
	assert_string_equal(out, "one");
	child_last_line("", out, sizeof(out));
	assert_string_equal(out, "");
	child_last_line("\n\n", out, sizeof(out));
	assert_string_equal(out, "");
	child_last_line("x", out, sizeof(out));
	assert_string_equal(out, "x");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_missing_and_not_executable),
		cmocka_unit_test(test_failure_quotes_the_script),
		cmocka_unit_test(test_hanging_script_is_killed),
		cmocka_unit_test(test_success_gives_the_last_line),
		cmocka_unit_test(test_daemon_left_behind),
		cmocka_unit_test(test_environment),
		cmocka_unit_test(test_vif_environment),
		cmocka_unit_test(test_vif_failure),
		cmocka_unit_test(test_script_lookup),
		cmocka_unit_test(test_last_line),
	};

	return cmocka_run_group_tests_name("hotplug", tests, setup, teardown);
}
