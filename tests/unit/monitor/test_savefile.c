/*
 * Unit tests of save targets (src/monitor/savefile.c) on the real
 * filesystem, in a temporary directory: a new or replaced regular file
 * appears only at commit, with and without O_TMPFILE; of two saves
 * racing to one file the second to commit fails and leaves nothing;
 * links, directories and FIFOs without a reader are refused; a FIFO with
 * a reader is written straight into.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "monitor/savefile.h"

struct dir {
	char path[64];
	char file[96];
};

static void dir_make(struct dir *d)
{
	strcpy(d->path, "/tmp/godwit-savefile-XXXXXX");
	assert_non_null(mkdtemp(d->path));
	snprintf(d->file, sizeof(d->file), "%s/f.sav", d->path);
}

/* Names in the directory other than keep; fails on any. */
static void dir_only(struct dir *d, const char *keep, const char *keep2)
{
	char cmd[160], out[256] = "";
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ls -A %s", d->path);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(out, sizeof(out), p)) {
		out[strcspn(out, "\n")] = 0;
		if (strcmp(out, keep) && (!keep2 || strcmp(out, keep2)))
			fail_msg("left in the directory: %s", out);
	}
	pclose(p);
}

static void dir_remove(struct dir *d)
{
	char cmd[96];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", d->path);
	assert_int_equal(system(cmd), 0);
}

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void expect_text(const char *path, const char *text)
{
	char buf[64] = "";
	FILE *f = fopen(path, "r");

	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f) ?: buf);
	fclose(f);
	assert_string_equal(buf, text);
}

/* Open a target for d->file and write text into it (4 KiB if direct). */
static void open_write(struct save_target *t, const char *path, bool no_tmp,
		       const char *text)
{
	char why[256];
	void *buf = NULL;

	save_target_init(t);
	t->no_tmpfile = no_tmp;
	if (save_target_open(t, path, why, sizeof(why)))
		fail_msg("open: %s", why);
	assert_true(t->regular);
	/* O_DIRECT wants aligned, whole blocks: write one, then trim. */
	assert_int_equal(posix_memalign(&buf, 4096, 4096), 0);
	memset(buf, 0, 4096);
	strcpy(buf, text);
	assert_int_equal(write(t->fd, buf, 4096), 4096);
	assert_int_equal(ftruncate(t->fd, strlen(text)), 0);
	free(buf);
}

static void commit_ok(struct save_target *t, bool sync)
{
	char why[256];

	if (save_target_commit(t, sync, why, sizeof(why)))
		fail_msg("commit: %s", why);
	save_target_close(t);
}

static void new_and_replaced(bool no_tmp)
{
	struct save_target t;
	struct dir d;
	struct stat st;

	dir_make(&d);
	open_write(&t, d.file, no_tmp, "one");
	/* Nothing at FILE until the commit. */
	assert_int_equal(access(d.file, F_OK), -1);
	commit_ok(&t, true);
	expect_text(d.file, "one");
	assert_int_equal(stat(d.file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	open_write(&t, d.file, no_tmp, "two");
	expect_text(d.file, "one");
	commit_ok(&t, false);
	expect_text(d.file, "two");
	dir_only(&d, "f.sav", NULL);
	dir_remove(&d);
}

static void test_new_and_replaced(void **state)
{
	new_and_replaced(false);
}

static void test_new_and_replaced_without_tmpfile(void **state)
{
	new_and_replaced(true);
}

/* Two saves begin from the same FILE (or none): the second loses. */
static void race(bool existed, bool no_tmp)
{
	struct save_target a, b;
	struct dir d;
	char why[256];

	dir_make(&d);
	if (existed)
		put(d.file, "old");
	open_write(&a, d.file, no_tmp, "a");
	open_write(&b, d.file, no_tmp, "b");
	commit_ok(&a, false);
	assert_int_equal(save_target_commit(&b, false, why, sizeof(why)),
			 -ESTALE);
	assert_non_null(strstr(why, existed ?
					    "f.sav was replaced while saving" :
					    "f.sav was created while saving"));
	assert_non_null(strstr(why, "not replacing it"));
	save_target_close(&b);
	expect_text(d.file, "a");
	dir_only(&d, "f.sav", NULL);
	dir_remove(&d);
}

static void test_race(void **state)
{
	race(true, false);
	race(false, false);
	race(true, true);
	race(false, true);
}

/* FILE swapped for a link during the save: not replaced, not followed. */
static void test_replaced_by_link_meanwhile(void **state)
{
	struct save_target t;
	struct dir d;
	char why[256], victim[128];

	dir_make(&d);
	snprintf(victim, sizeof(victim), "%s/victim", d.path);
	put(victim, "precious");
	put(d.file, "old");
	open_write(&t, d.file, false, "new");
	assert_int_equal(unlink(d.file), 0);
	assert_int_equal(symlink(victim, d.file), 0);
	assert_int_equal(save_target_commit(&t, false, why, sizeof(why)),
			 -ESTALE);
	save_target_close(&t);
	expect_text(victim, "precious");
	dir_only(&d, "f.sav", "victim");
	dir_remove(&d);
}

static void expect_refused(const char *path, const char *what)
{
	struct save_target t;
	char why[256];

	save_target_init(&t);
	assert_true(save_target_open(&t, path, why, sizeof(why)) < 0);
	if (!strstr(why, what))
		fail_msg("'%s' does not say '%s'", why, what);
	save_target_close(&t);
}

static void test_refused_kinds(void **state)
{
	struct dir d;
	char link[128];

	dir_make(&d);
	snprintf(link, sizeof(link), "%s/link", d.path);
	assert_int_equal(symlink("/etc/passwd", link), 0);
	expect_refused(link, "link is a symbolic link");
	expect_refused(d.path, "is a directory");
	expect_refused("/", "is a directory");
	assert_int_equal(mkfifo(d.file, 0600), 0);
	expect_refused(d.file, "f.sav is a FIFO with no reader");
	expect_refused("/nonexistent-godwit-dir/f", "cannot open");
	dir_only(&d, "f.sav", "link");
	dir_remove(&d);
}

static void test_fifo_with_reader(void **state)
{
	struct save_target t;
	struct dir d;
	char why[256], buf[8] = "";
	int r;

	dir_make(&d);
	assert_int_equal(mkfifo(d.file, 0600), 0);
	r = open(d.file, O_RDONLY | O_NONBLOCK);
	assert_true(r >= 0);
	save_target_init(&t);
	if (save_target_open(&t, d.file, why, sizeof(why)))
		fail_msg("open: %s", why);
	assert_false(t.regular);
	assert_false(t.direct);
	assert_false(fcntl(t.fd, F_GETFL) & O_NONBLOCK);
	assert_int_equal(write(t.fd, "abc", 3), 3);
	commit_ok(&t, true); /* nothing to sync in a FIFO: fine */
	assert_int_equal(read(r, buf, sizeof(buf)), 3);
	assert_string_equal(buf, "abc");
	close(r);
	dir_only(&d, "f.sav", NULL);
	dir_remove(&d);
}

static int waits;

/* The hook gives up on the third call. */
static int give_up_third(void *opaque)
{
	return ++waits == 3 ? -ETIMEDOUT : 0;
}

/* A FIFO without a reader: tried again while the hook says so. */
static void test_fifo_reader_wait(void **state)
{
	struct save_target t;
	struct dir d;
	char why[256];

	dir_make(&d);
	assert_int_equal(mkfifo(d.file, 0600), 0);
	save_target_init(&t);
	t.wait_reader = give_up_third;
	waits = 0;
	assert_int_equal(save_target_open(&t, d.file, why, sizeof(why)),
			 -ETIMEDOUT);
	assert_int_equal(waits, 3);
	save_target_close(&t);
	dir_only(&d, "f.sav", NULL);
	dir_remove(&d);
}

static void *unlock_later(void *arg)
{
	usleep(100000);
	flock(*(int *)arg, LOCK_UN);
	return NULL;
}

/* Another saver holding FILE's lock for a moment delays, not fails. */
static void test_lock_waits(void **state)
{
	struct save_target t;
	struct dir d;
	pthread_t th;
	int fd;

	dir_make(&d);
	put(d.file, "old");
	open_write(&t, d.file, false, "new");
	fd = open(d.file, O_RDONLY);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	assert_int_equal(pthread_create(&th, NULL, unlock_later, &fd), 0);
	commit_ok(&t, false);
	pthread_join(th, NULL);
	close(fd);
	expect_text(d.file, "new");
	dir_remove(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_and_replaced),
		cmocka_unit_test(test_new_and_replaced_without_tmpfile),
		cmocka_unit_test(test_race),
		cmocka_unit_test(test_replaced_by_link_meanwhile),
		cmocka_unit_test(test_refused_kinds),
		cmocka_unit_test(test_fifo_with_reader),
		cmocka_unit_test(test_fifo_reader_wait),
		cmocka_unit_test(test_lock_waits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
