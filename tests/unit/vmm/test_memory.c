/*
 * Unit tests of guest RAM without KVM: how mem_plan() splits RAM around
 * the MMIO hole, the bounds of gpa -> host pointer translation, the pfn
 * <-> RAM-order index mapping, and mem_write() and mem_mark_dirty()
 * marking the pages the VMM wrote in vmm_dirty.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "vmm/memory.h"
#include "vmm/x86/layout.h"

struct region_want {
	uint64_t gpa, size, offset;
};

static void check_plan(uint64_t size, const struct region_want *want,
		       unsigned int nr_want)
{
	struct mem_region r[2];
	unsigned int nr = 99, i;

	memset(r, 0xa5, sizeof(r));
	mem_plan(size, r, &nr);
	assert_int_equal(nr, nr_want);
	for (i = 0; i < nr; i++) {
		assert_int_equal(r[i].gpa, want[i].gpa);
		assert_int_equal(r[i].size, want[i].size);
		assert_int_equal(r[i].offset, want[i].offset);
	}
}

static void test_plan_64m_is_one_low_region(void **state)
{
	const struct region_want want[] = { { 0, 64 * MIB, 0 } };

	check_plan(64 * MIB, want, 1);
}

static void test_plan_3g_fills_low_region_exactly(void **state)
{
	const struct region_want want[] = { { 0, 3 * GIB, 0 } };

	check_plan(3 * GIB, want, 1);
	assert_int_equal(3 * GIB, LAYOUT_MMIO_HOLE);
}

static void test_plan_3g_2m_spills_above_4g(void **state)
{
	const struct region_want want[] = {
		{ 0, 0xc0000000ULL, 0 },
		{ 0x100000000ULL, 2 * MIB, 0xc0000000ULL },
	};

	check_plan(3 * GIB + 2 * MIB, want, 2);
}

static void test_plan_5g_high_region_at_4g(void **state)
{
	const struct region_want want[] = {
		{ 0, 0xc0000000ULL, 0 },
		{ 0x100000000ULL, 2 * GIB, 0xc0000000ULL },
	};

	check_plan(5 * GIB, want, 2);
}

static void test_init_rejects_unaligned_sizes(void **state)
{
	static const uint64_t bad[] = { 0,	 4096,
					1 * MIB, 2 * MIB + 4096,
					3 * MIB, 64 * MIB - 1 };
	struct guest_mem mem;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(mem_init(&mem, bad[i]), -EINVAL);
		assert_int_equal(mem.memfd, -1);
		assert_int_equal(mem.vm_fd, -1);
		/* A failed init tears down cleanly, and twice. */
		mem_destroy(&mem);
		mem_destroy(&mem);
		assert_null(mem.host);
	}
}

static void test_init_small_guest(void **state)
{
	struct guest_mem mem;

	assert_int_equal(mem_init(&mem, 2 * MIB), 0);
	assert_true(mem.memfd >= 0);
	assert_int_equal(mem.vm_fd, -1);
	assert_int_equal(mem.size, 2 * MIB);
	assert_int_equal(mem.nr_regions, 1);
	assert_int_equal(mem_nr_pages(&mem), 512);
	assert_int_equal(mem.vmm_dirty.nbits, 512);
	assert_int_equal(bitmap_count(&mem.vmm_dirty), 0);
	/* RAM starts zero. */
	assert_int_equal(mem.host[0], 0);
	assert_int_equal(mem.host[2 * MIB - 1], 0);
	mem_destroy(&mem);
	assert_null(mem.host);
	assert_int_equal(mem.memfd, -1);
	mem_destroy(&mem);
}

static void test_gpa_bounds_small_guest(void **state)
{
	struct guest_mem mem;
	uint64_t end = 64 * MIB;

	assert_int_equal(mem_init(&mem, end), 0);
	assert_ptr_equal(mem_gpa_to_hva(&mem, 0, 1), mem.host);
	assert_ptr_equal(mem_gpa_to_hva(&mem, 0, end), mem.host);
	assert_ptr_equal(mem_gpa_to_hva(&mem, end - 4096, 4096),
			 mem.host + end - 4096);
	assert_ptr_equal(mem_gpa_to_hva(&mem, end - 1, 1), mem.host + end - 1);
	/* Straddling or past the end of RAM. */
	assert_null(mem_gpa_to_hva(&mem, end - 4096, 4097));
	assert_null(mem_gpa_to_hva(&mem, end - 1, 2));
	assert_null(mem_gpa_to_hva(&mem, end, 1));
	assert_null(mem_gpa_to_hva(&mem, 0, end + 1));
	assert_null(mem_gpa_to_hva(&mem, LAYOUT_MMIO_HOLE_END, 1));
	/* Overflowing gpa + len. */
	assert_null(mem_gpa_to_hva(&mem, UINT64_MAX, 2));
	assert_null(mem_gpa_to_hva(&mem, UINT64_MAX - 4095, 4096));
	assert_null(mem_gpa_to_hva(&mem, 4096, UINT64_MAX));
	assert_null(mem_gpa_to_hva(&mem, 1, UINT64_MAX));
	assert_true(mem_gpa_is_ram(&mem, 0x100000, 4096));
	assert_false(mem_gpa_is_ram(&mem, end, 4096));
	mem_destroy(&mem);
}

static void test_gpa_bounds_large_guest(void **state)
{
	struct guest_mem mem;
	const uint64_t hole = LAYOUT_MMIO_HOLE, high = LAYOUT_MMIO_HOLE_END;
	const uint64_t high_end = high + 2 * GIB;

	assert_int_equal(mem_init(&mem, 5 * GIB), 0);
	assert_int_equal(mem.nr_regions, 2);
	/* Low region end. */
	assert_ptr_equal(mem_gpa_to_hva(&mem, hole - 1, 1),
			 mem.host + hole - 1);
	assert_null(mem_gpa_to_hva(&mem, hole - 1, 2));
	assert_null(mem_gpa_to_hva(&mem, hole - 4096, 8192));
	/* The hole is not RAM, anywhere in it. */
	assert_null(mem_gpa_to_hva(&mem, hole, 1));
	assert_null(mem_gpa_to_hva(&mem, LAYOUT_IOAPIC, 4));
	assert_null(mem_gpa_to_hva(&mem, high - 1, 1));
	assert_null(mem_gpa_to_hva(&mem, high - 1, 2));
	assert_false(mem_gpa_is_ram(&mem, LAYOUT_LAPIC, 4096));
	/* A range spanning both regions across the hole is refused. */
	assert_null(mem_gpa_to_hva(&mem, hole - 4096, high - hole + 8192));
	/* The high region maps right after low RAM in the memfd. */
	assert_ptr_equal(mem_gpa_to_hva(&mem, high, 4096), mem.host + hole);
	assert_ptr_equal(mem_gpa_to_hva(&mem, high_end - 1, 1),
			 mem.host + 5 * GIB - 1);
	assert_ptr_equal(mem_gpa_to_hva(&mem, high, 2 * GIB), mem.host + hole);
	assert_null(mem_gpa_to_hva(&mem, high, 2 * GIB + 1));
	assert_null(mem_gpa_to_hva(&mem, high_end - 1, 2));
	assert_null(mem_gpa_to_hva(&mem, high_end, 1));
	assert_null(mem_gpa_to_hva(&mem, UINT64_MAX - 1, 2));
	assert_null(mem_gpa_to_hva(&mem, high, UINT64_MAX));
	mem_destroy(&mem);
}

static void test_pfn_index_mapping(void **state)
{
	struct guest_mem mem;
	const uint64_t low_pages = LAYOUT_MMIO_HOLE >> 12;
	const uint64_t high_pfn = LAYOUT_MMIO_HOLE_END >> 12;
	uint64_t i;

	assert_int_equal(mem_init(&mem, 5 * GIB), 0);
	assert_int_equal(mem_nr_pages(&mem), (5 * GIB) >> 12);
	assert_int_equal(mem_pfn_limit(&mem), (6 * GIB) >> 12);

	assert_int_equal(mem_pfn_to_index(&mem, 0), 0);
	assert_int_equal(mem_pfn_to_index(&mem, low_pages - 1), low_pages - 1);
	assert_int_equal(mem_pfn_to_index(&mem, low_pages), -1);
	assert_int_equal(mem_pfn_to_index(&mem, high_pfn - 1), -1);
	assert_int_equal(mem_pfn_to_index(&mem, high_pfn), low_pages);
	assert_int_equal(mem_pfn_to_index(&mem, mem_pfn_limit(&mem) - 1),
			 mem_nr_pages(&mem) - 1);
	assert_int_equal(mem_pfn_to_index(&mem, mem_pfn_limit(&mem)), -1);
	assert_int_equal(mem_pfn_to_index(&mem, UINT64_MAX >> 12), -1);
	assert_int_equal(mem_pfn_to_index(&mem, (UINT64_MAX >> 12) + 1), -1);
	assert_int_equal(mem_pfn_to_index(&mem, UINT64_MAX), -1);

	assert_int_equal(mem_index_to_pfn(&mem, 0), 0);
	assert_int_equal(mem_index_to_pfn(&mem, low_pages - 1), low_pages - 1);
	assert_int_equal(mem_index_to_pfn(&mem, low_pages), high_pfn);
	assert_int_equal(mem_index_to_pfn(&mem, mem_nr_pages(&mem) - 1),
			 mem_pfn_limit(&mem) - 1);
	assert_int_equal(mem_index_to_pfn(&mem, mem_nr_pages(&mem)),
			 UINT64_MAX);

	/* The two directions are inverses on every page (sampled). */
	for (i = 0; i < mem_nr_pages(&mem); i += 4093) {
		uint64_t pfn = mem_index_to_pfn(&mem, i);

		assert_int_equal(mem_pfn_to_index(&mem, pfn), i);
		assert_ptr_equal(mem_gpa_to_hva(&mem, pfn << 12, 4096),
				 mem.host + (i << 12));
	}
	mem_destroy(&mem);
}

static void test_pfn_mapping_small_guest(void **state)
{
	struct guest_mem mem;

	assert_int_equal(mem_init(&mem, 64 * MIB), 0);
	assert_int_equal(mem_pfn_limit(&mem), (64 * MIB) >> 12);
	assert_int_equal(mem_pfn_to_index(&mem, 100), 100);
	assert_int_equal(mem_pfn_to_index(&mem, (64 * MIB) >> 12), -1);
	assert_int_equal(mem_pfn_to_index(&mem, LAYOUT_MMIO_HOLE_END >> 12),
			 -1);
	assert_int_equal(mem_index_to_pfn(&mem, 100), 100);
	assert_int_equal(mem_index_to_pfn(&mem, (64 * MIB) >> 12), UINT64_MAX);
	mem_destroy(&mem);
}

static void expect_dirty(const struct guest_mem *mem, const size_t *pages,
			 size_t n)
{
	size_t i;

	assert_int_equal(bitmap_count(&mem->vmm_dirty), n);
	for (i = 0; i < n; i++)
		assert_true(bitmap_test(&mem->vmm_dirty, pages[i]));
}

static void test_mem_write_marks_pages(void **state)
{
	static uint8_t buf[3 * 4096 + 10];
	struct guest_mem mem;
	size_t i;

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 1);
	assert_int_equal(mem_init(&mem, 16 * MIB), 0);

	/* Inside one page. */
	assert_int_equal(mem_write(&mem, 0x5010, buf, 16), 0);
	assert_memory_equal(mem.host + 0x5010, buf, 16);
	expect_dirty(&mem, (const size_t[]){ 5 }, 1);

	/* Three bytes across a page boundary mark both pages. */
	bitmap_clear_all(&mem.vmm_dirty);
	assert_int_equal(mem_write(&mem, 0x7ffe, buf, 3), 0);
	expect_dirty(&mem, (const size_t[]){ 7, 8 }, 2);

	/* A multi-page unaligned write marks every page it touches. */
	bitmap_clear_all(&mem.vmm_dirty);
	assert_int_equal(mem_write(&mem, 0x100ffc, buf, sizeof(buf)), 0);
	assert_memory_equal(mem.host + 0x100ffc, buf, sizeof(buf));
	expect_dirty(&mem,
		     (const size_t[]){ 0x100, 0x101, 0x102, 0x103, 0x104 }, 5);

	/* Exactly one aligned page marks one page. */
	bitmap_clear_all(&mem.vmm_dirty);
	assert_int_equal(mem_write(&mem, 0x200000, buf, 4096), 0);
	expect_dirty(&mem, (const size_t[]){ 0x200 }, 1);

	/* Nothing written, nothing marked. */
	bitmap_clear_all(&mem.vmm_dirty);
	assert_int_equal(mem_write(&mem, 0x3000, buf, 0), 0);
	expect_dirty(&mem, NULL, 0);

	/* Outside RAM: refused, nothing marked or written. */
	assert_int_equal(mem_write(&mem, 16 * MIB - 2, buf, 3), -EFAULT);
	assert_int_equal(mem_write(&mem, 16 * MIB, buf, 1), -EFAULT);
	assert_int_equal(mem_write(&mem, UINT64_MAX, buf, 2), -EFAULT);
	expect_dirty(&mem, NULL, 0);
	assert_int_equal(mem.host[16 * MIB - 2], 0);
	mem_destroy(&mem);
}

/* Host ranges: every page touched counts; outside RAM is ignored. */
static void test_mark_dirty(void **state)
{
	struct guest_mem mem;

	assert_int_equal(mem_init(&mem, 16 * MIB), 0);
	mem_mark_dirty(&mem, mem.host + 0x2fff, 2);
	expect_dirty(&mem, (const size_t[]){ 2, 3 }, 2);
	bitmap_clear_all(&mem.vmm_dirty);
	mem_mark_dirty(&mem, mem.host + 16 * MIB - 1, 2);
	mem_mark_dirty(&mem, mem.host - 4096, 1);
	mem_mark_dirty(&mem, mem.host, 0);
	expect_dirty(&mem, NULL, 0);
	mem_mark_dirty(&mem, mem.host + 16 * MIB - 1, 1);
	expect_dirty(&mem, (const size_t[]){ 4095 }, 1);
	mem_destroy(&mem);
}

static void test_mem_write_high_region(void **state)
{
	const uint8_t buf[10] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
	const uint64_t low_pages = LAYOUT_MMIO_HOLE >> 12;
	struct guest_mem mem;

	assert_int_equal(mem_init(&mem, 3 * GIB + 2 * MIB), 0);
	assert_int_equal(mem_write(&mem, LAYOUT_MMIO_HOLE_END + 4090, buf, 10),
			 0);
	assert_memory_equal(mem.host + LAYOUT_MMIO_HOLE + 4090, buf, 10);
	expect_dirty(&mem, (const size_t[]){ low_pages, low_pages + 1 }, 2);
	/* Into the hole, and across the end of low RAM. */
	assert_int_equal(mem_write(&mem, LAYOUT_MMIO_HOLE, buf, 1), -EFAULT);
	assert_int_equal(mem_write(&mem, LAYOUT_MMIO_HOLE - 5, buf, 10),
			 -EFAULT);
	assert_int_equal(mem_write(&mem, LAYOUT_MMIO_HOLE_END + 2 * MIB - 5,
				   buf, 10),
			 -EFAULT);
	expect_dirty(&mem, (const size_t[]){ low_pages, low_pages + 1 }, 2);
	mem_destroy(&mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_64m_is_one_low_region),
		cmocka_unit_test(test_plan_3g_fills_low_region_exactly),
		cmocka_unit_test(test_plan_3g_2m_spills_above_4g),
		cmocka_unit_test(test_plan_5g_high_region_at_4g),
		cmocka_unit_test(test_init_rejects_unaligned_sizes),
		cmocka_unit_test(test_init_small_guest),
		cmocka_unit_test(test_gpa_bounds_small_guest),
		cmocka_unit_test(test_gpa_bounds_large_guest),
		cmocka_unit_test(test_pfn_index_mapping),
		cmocka_unit_test(test_pfn_mapping_small_guest),
		cmocka_unit_test(test_mem_write_marks_pages),
		cmocka_unit_test(test_mark_dirty),
		cmocka_unit_test(test_mem_write_high_region),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
