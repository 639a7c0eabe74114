/*
 * Unit tests of the e820 memory map: exact maps for small (64 MiB), medium
 * (2 GiB) and large (5 GiB, RAM above 4 GiB) guests, the invariants every
 * map must keep (sorted, disjoint, ACPI tables and the MMIO hole never in
 * RAM) and the error cases.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "vmm/x86/e820.h"
#include "vmm/x86/layout.h"

struct expect {
	uint64_t addr, size;
	uint32_t type;
};

static void check_map(uint64_t mem_size, const struct expect *want,
		      unsigned int nr_want)
{
	struct e820_entry map[E820_MAX_ENTRIES];
	struct guest_mem mem;
	unsigned int nr, i;

	assert_int_equal(mem_init(&mem, mem_size), 0);
	assert_int_equal(e820_build(&mem, map, E820_MAX_ENTRIES, &nr), 0);
	assert_int_equal(nr, nr_want);
	for (i = 0; i < nr; i++) {
		assert_int_equal(map[i].addr, want[i].addr);
		assert_int_equal(map[i].size, want[i].size);
		assert_int_equal(map[i].type, want[i].type);
	}
	mem_destroy(&mem);
}

/* The part of every map below 1 MiB. */
#define LOW_RAM                      \
	{                            \
		0, 0x9fc00, E820_RAM \
	}
#define LOW_RESERVED                                       \
	{                                                  \
		0x9fc00, 0x100000 - 0x9fc00, E820_RESERVED \
	}

static void test_map_64m(void **state)
{
	const struct expect want[] = {
		LOW_RAM,
		LOW_RESERVED,
		{ 0x100000, 64 * MIB - 0x100000, E820_RAM },
	};

	check_map(64 * MIB, want, 3);
}

static void test_map_2g(void **state)
{
	const struct expect want[] = {
		LOW_RAM,
		LOW_RESERVED,
		{ 0x100000, 2 * GIB - 0x100000, E820_RAM },
	};

	check_map(2 * GIB, want, 3);
}

/* 5 GiB: 3 GiB below the MMIO hole, 2 GiB from 4 GiB up. */
static void test_map_5g(void **state)
{
	const struct expect want[] = {
		LOW_RAM,
		LOW_RESERVED,
		{ 0x100000, 0xc0000000 - 0x100000, E820_RAM },
		{ 0x100000000, 2 * GIB, E820_RAM },
	};

	check_map(5 * GIB, want, 4);
}

/* Exactly the low area: no high entry; one 2 MiB step more: a high one. */
static void test_map_hole_edge(void **state)
{
	const struct expect exact[] = {
		LOW_RAM,
		LOW_RESERVED,
		{ 0x100000, 0xc0000000 - 0x100000, E820_RAM },
	};
	const struct expect over[] = {
		LOW_RAM,
		LOW_RESERVED,
		{ 0x100000, 0xc0000000 - 0x100000, E820_RAM },
		{ 0x100000000, 2 * MIB, E820_RAM },
	};

	check_map(3 * GIB, exact, 3);
	check_map(3 * GIB + 2 * MIB, over, 4);
}

static bool covered_by(const struct e820_entry *e, uint64_t a, uint64_t b)
{
	return a >= e->addr && b <= e->addr + e->size;
}

/*
 * For many sizes: sorted and disjoint, RAM adds up to the guest's size
 * minus the reserved part below 1 MiB, the ACPI area and the legacy hole
 * are inside a non-RAM entry, and no entry touches the MMIO hole.
 */
static void test_map_invariants(void **state)
{
	static const uint64_t sizes[] = { 2 * MIB,	     4 * MIB, 128 * MIB,
					  1 * GIB,	     3 * GIB, 4 * GIB,
					  16 * GIB + 2 * MIB };
	unsigned int s;

	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		struct e820_entry map[E820_MAX_ENTRIES];
		struct guest_mem mem;
		uint64_t ram = 0;
		bool acpi_ok = false, hole_ok = false;
		unsigned int nr, i;

		assert_int_equal(mem_init(&mem, sizes[s]), 0);
		assert_int_equal(e820_build(&mem, map, E820_MAX_ENTRIES, &nr),
				 0);
		for (i = 0; i < nr; i++) {
			const struct e820_entry *e = &map[i];

			assert_true(e->size > 0);
			if (i)
				assert_true(e->addr >=
					    map[i - 1].addr + map[i - 1].size);
			assert_true(e->addr + e->size <= LAYOUT_MMIO_HOLE ||
				    e->addr >= LAYOUT_MMIO_HOLE_END);
			if (e->type == E820_RAM)
				ram += e->size;
			else if (covered_by(e, LAYOUT_ACPI, LAYOUT_ACPI_END))
				acpi_ok = true;
			if (e->type != E820_RAM &&
			    covered_by(e, LAYOUT_LEGACY_HOLE, LAYOUT_ACPI))
				hole_ok = true;
		}
		assert_true(acpi_ok);
		assert_true(hole_ok);
		assert_int_equal(ram, sizes[s] - (0x100000 - 0x9fc00));
		mem_destroy(&mem);
	}
}

static void test_map_errors(void **state)
{
	struct e820_entry map[E820_MAX_ENTRIES];
	struct guest_mem mem, fake = { 0 };
	unsigned int nr = 99;

	assert_int_equal(mem_init(&mem, 5 * GIB), 0);
	assert_int_equal(e820_build(&mem, map, 3, &nr), -ENOSPC);
	assert_int_equal(nr, 0);
	assert_int_equal(e820_build(&mem, map, 4, &nr), 0);
	assert_int_equal(nr, 4);
	mem_destroy(&mem);

	/* No RAM above 1 MiB: nowhere to put a kernel. */
	fake.nr_regions = 1;
	fake.regions[0] = (struct mem_region){ .gpa = 0, .size = 1 * MIB };
	assert_int_equal(e820_build(&fake, map, E820_MAX_ENTRIES, &nr),
			 -EINVAL);
	/* A layout mem_plan() never makes: high RAM not at 4 GiB. */
	fake.nr_regions = 2;
	fake.regions[0].size = LAYOUT_MMIO_HOLE;
	fake.regions[1] =
		(struct mem_region){ .gpa = 0x200000000ULL, .size = 2 * MIB };
	assert_int_equal(e820_build(&fake, map, E820_MAX_ENTRIES, &nr),
			 -EINVAL);
	fake.nr_regions = 0;
	assert_int_equal(e820_build(&fake, map, E820_MAX_ENTRIES, &nr),
			 -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_map_64m),
		cmocka_unit_test(test_map_2g),
		cmocka_unit_test(test_map_5g),
		cmocka_unit_test(test_map_hole_edge),
		cmocka_unit_test(test_map_invariants),
		cmocka_unit_test(test_map_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
