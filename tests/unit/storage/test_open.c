/*
 * Opening disks: what the guest sees (size, block size), each refusal as
 * its exact one line (missing image, not a file or device, smaller than
 * its configured size, read-only asked read-write, locked by another
 * process named by its pid), image locks between two processes (and the
 * late lock of a migration's destination), and the engine choice:
 * GODWIT_IO_ENGINE, and io_uring made to fail by a seccomp filter so the
 * thread pool takes over.
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
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/fs.h>
#include <linux/seccomp.h>

#include "helpers.h"

static int try_open(const char *path, bool ro, enum disk_lock_mode lock,
		    uint64_t size, struct disk **d, char *why)
{
	struct disk_open_args a = { .path = path,
				    .label = "xvdb",
				    .readonly = ro,
				    .lock = lock,
				    .size = size };

	why[0] = 0;
	*d = NULL;
	return disk_open(&a, d, why, DISK_WHY_MAX);
}

static void open_fails(const char *path, bool ro, uint64_t size, int want_rc,
		       const char *want)
{
	char why[DISK_WHY_MAX];
	struct disk *d;

	assert_int_equal(try_open(path, ro, DISK_LOCK_NOW, size, &d, why),
			 want_rc);
	assert_null(d);
	assert_string_equal(why, want);
}

static void test_sizes(void **state)
{
	char why[DISK_WHY_MAX];
	struct image im;
	struct disk *d;

	assert_int_equal(st_image(&im, st_dir(), BACKING_FILE, (1 << 20) + 100,
				  1, false),
			 0);
	assert_int_equal(try_open(im.path, false, DISK_LOCK_NOW, 0, &d, why),
			 0);
	/* The odd tail is not the guest's (a warning says so). */
	assert_int_equal(disk_get_info(d)->size, 1 << 20);
	assert_int_equal(disk_get_info(d)->block_size, 512);
	assert_false(disk_get_info(d)->is_blockdev);
	disk_close(d);
	/* A configured size: the guest sees exactly that. */
	assert_int_equal(
		try_open(im.path, false, DISK_LOCK_NOW, 65536, &d, why), 0);
	assert_int_equal(disk_get_info(d)->size, 65536);
	disk_close(d);
	st_image_free(&im);
}

static void test_refusals(void **state)
{
	char path[300], want[DISK_WHY_MAX + 300];
	struct image im;

	snprintf(path, sizeof(path), "%s/missing.img", st_dir());
	snprintf(want, sizeof(want), "disk xvdb: %s does not exist", path);
	open_fails(path, false, 0, -ENOENT, want);
	snprintf(want, sizeof(want),
		 "disk xvdb: %s is not a regular file or a block device",
		 st_dir());
	open_fails(st_dir(), false, 0, -EINVAL, want);
	open_fails(
		"/dev/null", true, 0, -EINVAL,
		"disk xvdb: /dev/null is not a regular file or a block device");
	assert_int_equal(st_image(&im, st_dir(), BACKING_FILE, 4096, 1, false),
			 0);
	snprintf(
		want, sizeof(want),
		"disk xvdb: %s is 4096 bytes, smaller than the disk's configured size of 8192 bytes",
		im.path);
	open_fails(im.path, false, 8192, -ENOSPC, want);
	open_fails(im.path, false, 1000, -EINVAL,
		   "disk xvdb: size 1000 is not a multiple of 512 bytes");
	st_image_free(&im);
	assert_int_equal(st_image(&im, st_dir(), BACKING_FILE, 100, 1, false),
			 0);
	snprintf(want, sizeof(want),
		 "disk xvdb: %s is 100 bytes, smaller than one 512-byte block",
		 im.path);
	open_fails(im.path, true, 0, -ENOSPC, want);
	st_image_free(&im);
}

/* A read-only loop device asked read-write, and an immutable file. */
static void test_readonly_image_asked_readwrite(void **state)
{
	char want[DISK_WHY_MAX + 300], why[DISK_WHY_MAX];
	struct image im;
	struct disk *d;
	int rc, fd, flags = FS_IMMUTABLE_FL;

	assert_int_equal(st_image(&im, st_dir(), BACKING_FILE, 8192, 1, false),
			 0);
	fd = open(im.path, O_RDONLY);
	assert_true(fd >= 0);
	if (ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0) {
		snprintf(
			want, sizeof(want),
			"disk xvdb: %s is read-only (Operation not permitted): use access=ro to give it to the guest read-only",
			im.path);
		open_fails(im.path, false, 0, -EPERM, want);
		assert_int_equal(
			try_open(im.path, true, DISK_LOCK_NOW, 0, &d, why), 0);
		disk_close(d);
		flags = 0;
		assert_int_equal(ioctl(fd, FS_IOC_SETFLAGS, &flags), 0);
	} else {
		fprintf(stderr, "SKIP: chattr +i not possible here\n");
	}
	close(fd);
	st_image_free(&im);
	rc = st_image(&im, st_dir(), BACKING_LOOP, 8192, 1, true);
	if (rc)
		st_skip_no_loop(rc);
	snprintf(
		want, sizeof(want),
		"disk xvdb: %s is read-only (Permission denied): use access=ro to give it to the guest read-only",
		im.path);
	open_fails(im.path, false, 0, -EACCES, want);
	assert_int_equal(try_open(im.path, true, DISK_LOCK_NOW, 0, &d, why), 0);
	assert_true(disk_get_info(d)->is_blockdev);
	assert_int_equal(disk_get_info(d)->size, 8192);
	disk_close(d);
	st_image_free(&im);
}

/* A child holding path open (ro or rw) until told to go. */
struct holder {
	pid_t pid;
	int go; /* write end: closing it lets the child close and exit */
};

static void holder_start(struct holder *h, const char *path, bool ro)
{
	char why[DISK_WHY_MAX], c;
	int ready[2], go[2];
	struct disk *d;

	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	h->pid = fork();
	assert_true(h->pid >= 0);
	if (h->pid == 0) {
		close(ready[0]);
		close(go[1]);
		if (try_open(path, ro, DISK_LOCK_NOW, 0, &d, why))
			_exit(3);
		if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) < 0)
			_exit(4);
		disk_close(d);
		_exit(0);
	}
	close(ready[1]);
	close(go[0]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	h->go = go[1];
}

static void holder_stop(struct holder *h)
{
	int status;

	close(h->go);
	assert_int_equal(waitpid(h->pid, &status, 0), h->pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* The refusal names the holder: "... opened MODE by process PID (". */
static void assert_refused_by(const char *path, bool ro, const char *mode,
			      pid_t pid)
{
	char why[DISK_WHY_MAX], want[DISK_WHY_MAX + 300];
	struct disk *d;

	assert_int_equal(try_open(path, ro, DISK_LOCK_NOW, 0, &d, why),
			 -EAGAIN);
	snprintf(want, sizeof(want),
		 "disk xvdb: %s is in use: opened %s by process %d (", path,
		 mode, (int)pid);
	if (strncmp(why, want, strlen(want)))
		fail_msg("got: %s\nwant: %s...", why, want);
	assert_non_null(strstr(why, "test_storage"));
}

static void lock_cases(const char *path)
{
	char why[DISK_WHY_MAX];
	struct disk *a, *b;
	struct holder h;

	/* A writer excludes writers and readers. */
	holder_start(&h, path, false);
	assert_refused_by(path, false, "read-write", h.pid);
	assert_refused_by(path, true, "read-write", h.pid);
	holder_stop(&h);
	/* Readers share; a reader excludes a writer. */
	holder_start(&h, path, true);
	assert_int_equal(try_open(path, true, DISK_LOCK_NOW, 0, &a, why), 0);
	assert_refused_by(path, false, "read-only", h.pid);
	disk_close(a);
	holder_stop(&h);
	/* Gone: free again, and the same process twice is told apart. */
	assert_int_equal(try_open(path, false, DISK_LOCK_NOW, 0, &a, why), 0);
	assert_int_equal(try_open(path, false, DISK_LOCK_NOW, 0, &b, why),
			 -EAGAIN);
	assert_non_null(
		strstr(why, "already in use by another disk of this VM"));
	disk_close(a);
}

/* A device claimed by someone else (a mount does that) is refused rw. */
static void exclusive_claim(const char *path)
{
	char why[DISK_WHY_MAX], want[DISK_WHY_MAX + 300];
	int fd = open(path, O_RDONLY | O_EXCL | O_CLOEXEC);
	struct disk *d;

	assert_true(fd >= 0);
	snprintf(
		want, sizeof(want),
		"disk xvdb: %s is in use (mounted, or opened exclusively by another program)",
		path);
	open_fails(path, false, 0, -EBUSY, want);
	assert_int_equal(try_open(path, true, DISK_LOCK_NOW, 0, &d, why), 0);
	disk_close(d);
	close(fd);
	assert_int_equal(try_open(path, false, DISK_LOCK_NOW, 0, &d, why), 0);
	disk_close(d);
}

static void test_locks_between_processes(void **state)
{
	struct image im;
	int rc;

	assert_int_equal(st_image(&im, st_dir(), BACKING_FILE, 8192, 1, false),
			 0);
	lock_cases(im.path);
	st_image_free(&im);
	rc = st_image(&im, st_dir(), BACKING_LOOP, 8192, 1, false);
	if (rc)
		st_skip_no_loop(rc);
	lock_cases(im.path);
	exclusive_claim(im.path);
	st_image_free(&im);
}

/* The destination of a migration opens first and locks at handover. */
static void test_late_lock(void **state)
{
	char why[DISK_WHY_MAX];
	struct holder h;
	struct image im;
	struct disk *d;

	assert_int_equal(st_image(&im, st_dir(), BACKING_FILE, 8192, 1, false),
			 0);
	holder_start(&h, im.path, false);
	assert_int_equal(try_open(im.path, false, DISK_LOCK_LATER, 0, &d, why),
			 0);
	assert_int_equal(disk_lock(d, 100, why, sizeof(why)), -EAGAIN);
	assert_non_null(strstr(why, "opened read-write by process"));
	/* The holder lets go while we wait: the lock is ours. */
	close(h.go);
	assert_int_equal(disk_lock(d, 10000, why, sizeof(why)), 0);
	h.go = open("/dev/null", O_RDONLY);
	holder_stop(&h);
	/* Given up (the source side of a handover): another can take it. */
	disk_unlock(d);
	holder_start(&h, im.path, false);
	holder_stop(&h);
	assert_int_equal(disk_lock(d, 0, why, sizeof(why)), 0);
	disk_close(d);
	st_image_free(&im);
}

static void test_engine_parse(void **state)
{
	enum disk_engine e;

	assert_int_equal(disk_engine_parse(NULL, &e), 0);
	assert_int_equal(e, DISK_ENGINE_AUTO);
	assert_int_equal(disk_engine_parse("", &e), 0);
	assert_int_equal(e, DISK_ENGINE_AUTO);
	assert_int_equal(disk_engine_parse("auto", &e), 0);
	assert_int_equal(e, DISK_ENGINE_AUTO);
	assert_int_equal(disk_engine_parse("io_uring", &e), 0);
	assert_int_equal(e, DISK_ENGINE_URING);
	assert_int_equal(disk_engine_parse("threads", &e), 0);
	assert_int_equal(e, DISK_ENGINE_THREADS);
	assert_int_equal(disk_engine_parse("uring", &e), -EINVAL);
}

/* The engine an AUTO open picks with GODWIT_IO_ENGINE set to env. */
static int auto_open(const char *path, const char *env, enum disk_engine *e,
		     char *why)
{
	struct disk_open_args a = { .path = path, .label = "xvdb" };
	struct disk *d;
	int rc;

	if (env)
		setenv("GODWIT_IO_ENGINE", env, 1);
	else
		unsetenv("GODWIT_IO_ENGINE");
	rc = disk_open(&a, &d, why, DISK_WHY_MAX);
	unsetenv("GODWIT_IO_ENGINE");
	if (rc)
		return rc;
	*e = disk_get_info(d)->engine;
	disk_close(d);
	return 0;
}

static void test_engine_from_env(void **state)
{
	char why[DISK_WHY_MAX];
	enum disk_engine e;
	struct image im;

	assert_int_equal(st_image(&im, st_dir(), BACKING_FILE, 8192, 1, false),
			 0);
	assert_int_equal(auto_open(im.path, NULL, &e, why), 0);
	assert_int_equal(e, DISK_ENGINE_URING); /* it works here */
	assert_int_equal(auto_open(im.path, "threads", &e, why), 0);
	assert_int_equal(e, DISK_ENGINE_THREADS);
	assert_int_equal(auto_open(im.path, "io_uring", &e, why), 0);
	assert_int_equal(e, DISK_ENGINE_URING);
	assert_int_equal(auto_open(im.path, "fast", &e, why), -EINVAL);
	assert_string_equal(
		why,
		"disk xvdb: GODWIT_IO_ENGINE=fast: expected io_uring, threads or auto");
	st_image_free(&im);
}

/* Make io_uring_setup fail with err in this process, as seccomp does. */
static int deny_io_uring(int err)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (err & 0xfff)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { ARRAY_SIZE(f), f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
		return -errno;
	return 0;
}

/*
 * In a child without io_uring: AUTO falls back to the threads, which
 * then do I/O; io_uring forced is refused with the reason. Exit 0 if so.
 */
static int child_without_uring(const char *path, int err)
{
	char why[DISK_WHY_MAX], want[DISK_WHY_MAX];
	struct disk_queue *q;
	enum disk_engine e;
	uint8_t buf[512];
	struct disk *d;

	if (deny_io_uring(err))
		return 10;
	if (auto_open(path, NULL, &e, why) || e != DISK_ENGINE_THREADS)
		return 11;
	snprintf(
		want, sizeof(want),
		"disk xvdb: io_uring was asked for but cannot be set up here: %s",
		strerror(err));
	if (auto_open(path, "io_uring", &e, why) != -err || strcmp(why, want))
		return 12;
	if (try_open(path, false, DISK_LOCK_NOW, 0, &d, why) ||
	    disk_get_info(d)->engine != DISK_ENGINE_THREADS ||
	    disk_queue_new(d, 0, &q))
		return 13;
	memset(buf, 7, sizeof(buf));
	if (st_do(q, DISK_OP_WRITE, 512, buf, 512, 0) ||
	    st_do(q, DISK_OP_READ, 0, buf, 512, 0))
		return 14;
	disk_queue_free(q, 1000);
	disk_close(d);
	return 0;
}

static void test_io_uring_unavailable(void **state)
{
	static const int errs[] = { ENOSYS, EPERM };
	struct image im;
	int status;
	size_t i;
	pid_t pid;

	assert_int_equal(st_image(&im, st_dir(), BACKING_FILE, 8192, 1, false),
			 0);
	for (i = 0; i < ARRAY_SIZE(errs); i++) {
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0)
			_exit(child_without_uring(im.path, errs[i]));
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	st_image_free(&im);
}

int storage_test_open(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_readonly_image_asked_readwrite),
		cmocka_unit_test(test_locks_between_processes),
		cmocka_unit_test(test_late_lock),
		cmocka_unit_test(test_engine_parse),
		cmocka_unit_test(test_engine_from_env),
		cmocka_unit_test(test_io_uring_unavailable),
	};

	return cmocka_run_group_tests_name("storage open", tests, NULL, NULL);
}
