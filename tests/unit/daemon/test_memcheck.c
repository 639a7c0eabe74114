/*
 * Unit tests of godwitd's memory reservation (memcheck.h): the decision
 * from what the host and each cgroup level have free and what the
 * daemon's domains were promised but have not touched, and the parsing
 * of /proc/meminfo and /proc/self/cgroup.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "common/memcheck.h"

static void host(struct memcheck_view *v, uint64_t free)
{
	struct memcheck_room *r = &v->rooms[v->n++];

	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "the host");
	r->free = free;
}

static void cgroup(struct memcheck_view *v, const char *name, uint64_t limit,
		   uint64_t used)
{
	struct memcheck_room *r = &v->rooms[v->n++];

	snprintf(r->name, sizeof(r->name), "cgroup %s", name);
	r->cgroup = true;
	r->limit = limit;
	r->used = used;
	r->free = limit > used ? limit - used : 0;
}

/*
 * The campaign's case: eight 512 MiB guests into a 1.5 GiB cgroup. Each
 * created guest has touched almost nothing yet, so the cgroup's usage
 * alone would let all eight in; counting what was promised, the third
 * is refused.
 */
static void test_promised_memory_counts(void **state)
{
	uint64_t need = 512 * MIB + MEMCHECK_VMM_OVERHEAD, used = 4 * MIB;
	struct memcheck_view v = { 0 };
	char why[512];
	int started = 0;

	for (;;) {
		v.n = 0;
		host(&v, 64 * GIB);
		cgroup(&v, "/system.slice/godwitd.service", 1536 * MIB, used);
		if (memcheck_admit(&v, need, why, sizeof(why)))
			break;
		started++;
		v.promised += 510 * MIB; /* touched 2 MiB of its 512 */
		used += 2 * MIB + MEMCHECK_VMM_OVERHEAD;
	}
	assert_int_equal(started, 2);
	assert_string_equal(
		why,
		"not enough memory: 520 MiB needed, cgroup /system.slice/godwitd.service has 1512 MiB free (limit 1536 MiB, 24 MiB used), 1020 MiB of it promised to domains that have not touched their memory yet: 28 MiB missing");
}

/* The room that lacks the most is named; enough everywhere is fine. */
static void test_tightest_room(void **state)
{
	struct memcheck_view v = { 0 };
	char why[512];

	host(&v, 300 * MIB);
	cgroup(&v, "/a/b", 8 * GIB, 1 * GIB);
	cgroup(&v, "/a", 2 * GIB, 1900 * MIB);
	assert_int_equal(memcheck_admit(&v, 100 * MIB, why, sizeof(why)), 0);
	assert_int_equal(memcheck_admit(&v, 250 * MIB, why, sizeof(why)),
			 -ENOMEM);
	assert_non_null(strstr(why, "cgroup /a has 148 MiB free"));
	assert_non_null(strstr(why, "102 MiB missing"));
	assert_null(strstr(why, "promised")); /* nothing was */
	v.promised = 100 * MIB;
	assert_int_equal(memcheck_admit(&v, 40 * MIB, why, sizeof(why)), 0);
	assert_int_equal(memcheck_admit(&v, 50 * MIB, why, sizeof(why)),
			 -ENOMEM);
	assert_non_null(strstr(why, "cgroup /a has 148 MiB free (limit 2048 "
				    "MiB, 1900 MiB used), 100 MiB of it "
				    "promised"));
	assert_non_null(strstr(why, ": 2 MiB missing"));
	/* The host alone. */
	v.n = 0;
	host(&v, 300 * MIB);
	assert_int_equal(memcheck_admit(&v, 250 * MIB, why, sizeof(why)),
			 -ENOMEM);
	assert_non_null(strstr(why, "the host has 300 MiB free, 100 MiB of"));
	assert_null(strstr(why, "limit"));
	/* Promised beyond what is free leaves nothing, not a wrap. */
	v.promised = 10 * GIB;
	assert_int_equal(memcheck_admit(&v, 1, why, sizeof(why)), -ENOMEM);
	/* No room known at all: nothing to refuse on. */
	v.n = 0;
	assert_int_equal(memcheck_admit(&v, 64 * GIB, why, sizeof(why)), 0);
	/* A short buffer still gets a terminated line. */
	host(&v, MIB);
	assert_int_equal(memcheck_admit(&v, 2 * MIB, why, 20), -ENOMEM);
	assert_int_equal(strlen(why), 19);
}

static void test_meminfo(void **state)
{
	uint64_t avail = 0;

	assert_int_equal(memcheck_parse_meminfo("MemTotal:       32000000 kB\n"
						"MemFree:          100000 kB\n"
						"MemAvailable:   24270676 kB\n",
						&avail),
			 0);
	assert_int_equal(avail, 24270676ULL * 1024);
	assert_int_equal(memcheck_parse_meminfo("MemTotal: 1 kB\n", &avail),
			 -EINVAL);
	assert_int_equal(memcheck_parse_meminfo("XMemAvailable: 1 kB\n",
						&avail),
			 -EINVAL);
	assert_int_equal(memcheck_parse_meminfo("MemAvailable: lots\n", &avail),
			 -EINVAL);
}

static void test_cgroup_lines(void **state)
{
	char v2[64], v1[64];

	/* A hybrid host: v1's memory controller, v2 with nothing. */
	memcheck_parse_cgroup("9:name=systemd:/\n4:memory:/process_api/72c0\n"
			      "2:cpu,cpuacct:/x\n0::/\n",
			      v2, v1, sizeof(v2));
	assert_string_equal(v2, "/");
	assert_string_equal(v1, "/process_api/72c0");
	memcheck_parse_cgroup("0::/system.slice/godwitd.service\n", v2, v1,
			      sizeof(v2));
	assert_string_equal(v2, "/system.slice/godwitd.service");
	assert_string_equal(v1, "");
	/* Controller lists match whole names only. */
	memcheck_parse_cgroup("5:memoryx,blkio:/a\n6:blkio,memory:/b", v2, v1,
			      sizeof(v2));
	assert_string_equal(v1, "/b");
	/* Too long for the buffer: left out, not cut. */
	memcheck_parse_cgroup(
		"0::/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
		v2, v1, sizeof(v2));
	assert_string_equal(v2, "");
	memcheck_parse_cgroup("garbage\n::\n0:\n", v2, v1, sizeof(v2));
	assert_string_equal(v2, "");
	assert_string_equal(v1, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_promised_memory_counts),
		cmocka_unit_test(test_tightest_room),
		cmocka_unit_test(test_meminfo),
		cmocka_unit_test(test_cgroup_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
