/*
 * Leases: the interface (engines by name, adding resources, acquiring
 * them all or none) and the file engine in a temporary lease directory:
 * generations bump on every acquire, a held lease is refused naming the
 * holder (host, pid), "only if the generation is still N" refuses a
 * lease taken in between, a process that dies lets go of its leases,
 * and a damaged or foreign lease file is refused with one line. Also
 * the checks of the LEASE record and of the lease file record.
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
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "format/lease.h"
#include "lease/lease.h"

static char dir[64];
static const uint8_t uuid_a[16] = { 0xaa, 1 }, uuid_b[16] = { 0xbb, 2 };

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/godwit-lease-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) ? -1 : 0;
}

/* A VM's set of one file lease on resource. */
static void one(struct lease_set *s, const uint8_t *uuid, const char *label,
		const char *resource)
{
	struct lease_owner o;
	char why[LEASE_WHY_MAX];

	lease_owner_self(&o, uuid);
	lease_set_init(s, &lease_file_engine, dir, &o);
	assert_int_equal(lease_add(s, label, resource, why, sizeof(why)), 0);
}

static void test_engines(void **state)
{
	const struct lease_engine *e;
	char why[LEASE_WHY_MAX];

	(void)state;
	assert_int_equal(lease_engine_find("file", &e, why, sizeof(why)), 0);
	assert_ptr_equal(e, &lease_file_engine);
	assert_int_equal(lease_engine_find("none", &e, why, sizeof(why)), 0);
	assert_null(e);
	assert_int_equal(lease_engine_find("sanlock", &e, why, sizeof(why)),
			 -ENOTSUP);
	assert_string_equal(
		why, "lock_manager \"sanlock\": sanlock engine not built yet");
	assert_int_equal(lease_engine_find("flock", &e, why, sizeof(why)),
			 -EINVAL);
	assert_string_equal(
		why, "lock_manager \"flock\": expected \"file\" or \"none\"");
}

static void test_none_holds_nothing(void **state)
{
	struct lease_set a, b;
	struct lease_owner o;
	char why[LEASE_WHY_MAX];

	(void)state;
	lease_owner_self(&o, uuid_a);
	lease_set_init(&a, NULL, dir, &o);
	lease_set_init(&b, NULL, dir, &o);
	assert_int_equal(lease_add(&a, "disk xvda", "/img", why, sizeof(why)),
			 0);
	assert_int_equal(lease_add(&b, "disk xvda", "/img", why, sizeof(why)),
			 0);
	assert_int_equal(lease_acquire_all(&a, false, why, sizeof(why)), 0);
	assert_int_equal(lease_acquire_all(&b, false, why, sizeof(why)), 0);
	assert_false(lease_any_held(&a));
}

static void test_add_refusals(void **state)
{
	char why[LEASE_WHY_MAX], big[LEASE_RESOURCE_LEN + 1];
	struct lease_set s;

	(void)state;
	one(&s, uuid_a, "disk xvda", "/img/a");
	assert_int_equal(lease_add(&s, "disk xvdb", "/img/a", why, sizeof(why)),
			 -EEXIST);
	assert_string_equal(why,
			    "disk xvdb: /img/a is also the lease of disk xvda");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	assert_int_equal(lease_add(&s, "lease big", big, why, sizeof(why)),
			 -ENAMETOOLONG);
	assert_int_equal(lease_add(&s, "lease bad", "a\tb", why, sizeof(why)),
			 -EINVAL);
}

static void test_generations(void **state)
{
	struct lease_set a, b;
	struct lease_holder h;
	char why[LEASE_WHY_MAX], st[128];

	(void)state;
	one(&a, uuid_a, "disk xvda", "/img/gen");
	one(&b, uuid_b, "disk xvda", "/img/gen");
	assert_int_equal(lease_acquire_all(&a, false, why, sizeof(why)), 0);
	assert_true(a.l[0].held);
	assert_int_equal(a.l[0].generation, 1);
	assert_int_equal(lease_state(&a, &a.l[0], st, sizeof(st)), 0);
	assert_string_equal(st, "file:/img/gen:1");
	assert_int_equal(lease_inquire(&b, &b.l[0], &h, why, sizeof(why)), 0);
	assert_true(h.held && h.known);
	assert_int_equal(h.generation, 1);
	assert_int_equal(h.owner.pid, getpid());
	assert_memory_equal(h.owner.uuid, uuid_a, 16);
	/* Released at a pause, taken back with the same generation. */
	lease_release_all(&a);
	assert_false(a.l[0].held);
	assert_int_equal(lease_inquire(&b, &b.l[0], &h, why, sizeof(why)), 0);
	assert_false(h.held);
	assert_int_equal(lease_acquire_all(&a, true, why, sizeof(why)), 0);
	assert_int_equal(a.l[0].generation, 2);
	lease_release_all(&a);
	/* Anyone may take it now; then a's generation has moved. */
	assert_int_equal(lease_acquire_all(&b, false, why, sizeof(why)), 0);
	assert_int_equal(b.l[0].generation, 3);
	lease_release_all(&b);
	assert_int_equal(lease_acquire_all(&a, true, why, sizeof(why)),
			 -ESTALE);
	assert_false(a.l[0].held);
	assert_non_null(
		strstr(why, "disk xvda: /img/gen was taken by VM bb02"));
	assert_non_null(strstr(
		why,
		"generation 3) since this VM held it at generation 2; the VM must not run"));
}

static void test_held_names_holder(void **state)
{
	struct lease_set a, b;
	char why[LEASE_WHY_MAX], want[LEASE_WHY_MAX], host[64] = "";

	(void)state;
	one(&a, uuid_a, "disk xvda", "/img/held");
	one(&b, uuid_b, "disk xvdc", "/img/held");
	assert_int_equal(lease_acquire_all(&a, false, why, sizeof(why)), 0);
	assert_int_equal(lease_acquire_all(&b, false, why, sizeof(why)),
			 -EBUSY);
	gethostname(host, sizeof(host) - 1);
	snprintf(
		want, sizeof(want),
		"disk xvdc: /img/held is in use by VM aa010000-0000-0000-0000-000000000000 (pid %d on host %s, generation 1)",
		(int)getpid(), host);
	assert_string_equal(why, want);
	assert_false(b.l[0].held);
	lease_release_all(&a);
}

/* A refusal of the second lease gives back the first. */
static void test_all_or_none(void **state)
{
	struct lease_set a, b;
	char why[LEASE_WHY_MAX];

	(void)state;
	one(&a, uuid_a, "disk xvdb", "/img/second");
	one(&b, uuid_b, "disk xvda", "/img/first");
	assert_int_equal(
		lease_add(&b, "disk xvdb", "/img/second", why, sizeof(why)), 0);
	assert_int_equal(lease_acquire_all(&a, false, why, sizeof(why)), 0);
	assert_int_equal(lease_acquire_all(&b, false, why, sizeof(why)),
			 -EBUSY);
	assert_false(b.l[0].held);
	lease_release_all(&a);
	one(&a, uuid_a, "disk xvda", "/img/first");
	assert_int_equal(lease_acquire_all(&a, false, why, sizeof(why)), 0);
	lease_release_all(&a);
}

/* Many leases: taken, synced together, each with its own record. */
static void test_many_at_once(void **state)
{
	char why[LEASE_WHY_MAX], res[16];
	struct lease_holder h;
	struct lease_set a, b;
	struct lease_owner o;
	unsigned int i;

	(void)state;
	lease_owner_self(&o, uuid_a);
	lease_set_init(&a, &lease_file_engine, dir, &o);
	for (i = 0; i < LEASE_SET_MAX; i++) {
		snprintf(res, sizeof(res), "r%u", i);
		assert_int_equal(lease_add(&a, res, res, why, sizeof(why)), 0);
	}
	assert_int_equal(lease_acquire_all(&a, true, why, sizeof(why)), 0);
	for (i = 0; i < LEASE_SET_MAX; i++) {
		assert_true(a.l[i].held);
		assert_int_equal(a.l[i].generation, 1);
		one(&b, uuid_b, "x", a.l[i].resource);
		assert_int_equal(
			lease_inquire(&b, &b.l[0], &h, why, sizeof(why)), 0);
		assert_true(h.held && h.known && h.generation == 1);
	}
	lease_release_all(&a);
	assert_false(lease_any_held(&a));
}

/* A process that dies holding a lease lets go of it, with no daemon. */
static void test_crash_frees(void **state)
{
	int gate[2], status;
	struct lease_set a;
	char why[LEASE_WHY_MAX], c;
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(gate), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		one(&a, uuid_b, "disk xvda", "/img/crash");
		if (lease_acquire_all(&a, false, why, sizeof(why)))
			_exit(1);
		if (write(gate[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(gate[1]);
	assert_int_equal(read(gate[0], &c, 1), 1);
	one(&a, uuid_a, "disk xvda", "/img/crash");
	assert_int_equal(lease_acquire_all(&a, false, why, sizeof(why)),
			 -EBUSY);
	assert_non_null(strstr(why, "VM bb020000"));
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(lease_acquire_all(&a, false, why, sizeof(why)), 0);
	assert_int_equal(a.l[0].generation, 2);
	lease_release_all(&a);
	close(gate[0]);
}

/* The only lease file in dir. */
static void lease_file(char *buf, size_t len)
{
	char cmd[128];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ls %s/*.lease", dir);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(buf, len, p));
	buf[strcspn(buf, "\n")] = 0;
	pclose(p);
}

static void test_damaged_refused(void **state)
{
	char why[LEASE_WHY_MAX], path[256];
	struct lease_set a;
	int fd;

	(void)state;
	one(&a, uuid_a, "disk xvda", "/img/damaged");
	assert_int_equal(lease_acquire_all(&a, false, why, sizeof(why)), 0);
	lease_release_all(&a);
	lease_file(path, sizeof(path));
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "\x07", 1, 20), 1);
	close(fd);
	assert_int_equal(lease_acquire_all(&a, false, why, sizeof(why)),
			 -EUCLEAN);
	assert_non_null(strstr(
		why,
		"is damaged (checksum mismatch); remove it if no VM uses /img/damaged"));
	/* Emptied by hand: a new start. */
	assert_int_equal(truncate(path, 0), 0);
	assert_int_equal(lease_acquire_all(&a, true, why, sizeof(why)), 0);
	assert_int_equal(a.l[0].generation, 2);
	lease_release_all(&a);
}

/* Another resource's record under our file name (a hash collision). */
static void test_foreign_refused(void **state)
{
	char why[LEASE_WHY_MAX], path[256], other[256];
	struct lease_set a, b;

	(void)state;
	one(&a, uuid_a, "disk xvda", "/img/mine");
	assert_int_equal(lease_acquire_all(&a, false, why, sizeof(why)), 0);
	lease_release_all(&a);
	lease_file(path, sizeof(path));
	one(&b, uuid_b, "disk xvda", "/img/theirs");
	assert_int_equal(lease_acquire_all(&b, false, why, sizeof(why)), 0);
	lease_release_all(&b);
	snprintf(other, sizeof(other), "%s", path);
	/* The two files now: copy theirs over mine. */
	snprintf(
		why, sizeof(why),
		"cd %s && for f in *.lease; do [ %s = %s/$f ] || cp $f %s; done",
		dir, path, dir, path);
	assert_int_equal(system(why), 0);
	assert_int_equal(lease_acquire_all(&a, false, why, sizeof(why)),
			 -EEXIST);
	assert_non_null(
		strstr(why, "belongs to /img/theirs, not to /img/mine"));
}

/* Expecting a generation where the resource has no record yet. */
static void test_expect_without_record(void **state)
{
	char why[LEASE_WHY_MAX];
	struct lease_set a;

	(void)state;
	one(&a, uuid_a, "lease db", "db");
	a.l[0].generation = 41;
	assert_int_equal(lease_acquire_all(&a, true, why, sizeof(why)), 0);
	assert_int_equal(a.l[0].generation, 42);
	lease_release_all(&a);
}

static void test_rec_lease_check(void **state)
{
	union {
		struct rec_lease l;
		uint8_t b[64];
	} u;
	char why[160];

	(void)state;
	memset(&u, 0, sizeof(u));
	strcpy(u.l.engine, "file");
	u.l.generation = 3;
	u.l.resource_len = 4;
	memcpy(u.l.resource, "/img", 4);
	assert_int_equal(rec_lease_check(&u, 36, why, sizeof(why)), 0);
	assert_int_equal(rec_lease_check(&u, 37, why, sizeof(why)), -EINVAL);
	assert_string_equal(
		why, "resource length 4 does not match the body (37 bytes)");
	assert_int_equal(rec_lease_check(&u, 16, why, sizeof(why)), -EINVAL);
	u.l.engine[10] = 'x';
	assert_int_equal(rec_lease_check(&u, 36, why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "engine name is not [a-z0-9]+, NUL-padded");
	u.l.engine[10] = 0;
	u.l.generation = 0;
	assert_int_equal(rec_lease_check(&u, 36, why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "generation is 0");
	u.l.generation = 1;
	u.l.resource[1] = '\n';
	assert_int_equal(rec_lease_check(&u, 36, why, sizeof(why)), -EINVAL);
	u.l.resource[1] = 'i';
	u.l.reserved = 1;
	assert_int_equal(rec_lease_check(&u, 36, why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "reserved field is not zero");
}

static void valid_file_rec(struct lease_file_rec *r)
{
	memset(r, 0, sizeof(*r));
	memcpy(r->magic, LEASE_FILE_MAGIC, 8);
	r->version = LEASE_FILE_VERSION;
	r->size = sizeof(*r);
	r->generation = 7;
	r->resource_len = 2;
	strcpy(r->host, "h1");
	strcpy(r->resource, "db");
	lease_file_rec_seal(r);
}

static void test_file_rec_check(void **state)
{
	struct lease_file_rec r;
	char why[160];

	(void)state;
	valid_file_rec(&r);
	assert_int_equal(lease_file_rec_check(&r, sizeof(r), why, sizeof(why)),
			 0);
	assert_int_equal(lease_file_rec_check(&r, 100, why, sizeof(why)),
			 -EINVAL);
	assert_string_equal(why, "100 bytes, a lease record has 1152");
	r.pid = 5;
	assert_int_equal(lease_file_rec_check(&r, sizeof(r), why, sizeof(why)),
			 -EINVAL);
	assert_string_equal(why, "checksum mismatch");
	valid_file_rec(&r);
	r.magic[0] = 'X';
	assert_int_equal(lease_file_rec_check(&r, sizeof(r), why, sizeof(why)),
			 -EINVAL);
	assert_string_equal(why, "not a lease file (magic)");
	valid_file_rec(&r);
	r.generation = 0;
	lease_file_rec_seal(&r);
	assert_int_equal(lease_file_rec_check(&r, sizeof(r), why, sizeof(why)),
			 -EINVAL);
	valid_file_rec(&r);
	memset(r.host, 'h', sizeof(r.host));
	lease_file_rec_seal(&r);
	assert_int_equal(lease_file_rec_check(&r, sizeof(r), why, sizeof(why)),
			 -EINVAL);
	assert_string_equal(why, "host name is not NUL-terminated and padded");
	valid_file_rec(&r);
	r.resource[5] = 'z';
	lease_file_rec_seal(&r);
	assert_int_equal(lease_file_rec_check(&r, sizeof(r), why, sizeof(why)),
			 -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_engines),
		cmocka_unit_test_setup_teardown(test_none_holds_nothing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_add_refusals, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_generations, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_held_names_holder, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_all_or_none, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_many_at_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_crash_frees, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_damaged_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_foreign_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_expect_without_record,
						setup, teardown),
		cmocka_unit_test(test_rec_lease_check),
		cmocka_unit_test(test_file_rec_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
