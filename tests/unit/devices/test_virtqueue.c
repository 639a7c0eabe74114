/*
 * Unit tests of the split virtqueue (device side) against rings a test
 * driver writes into plain guest RAM: a chain of readable and writable
 * buffers, indirect tables, the used ring and its dirty pages,
 * EVENT_IDX in both directions (the device's avail_event, the driver's
 * used_event) and NO_INTERRUPT, and every rule a guest can break: rings
 * and buffers outside RAM, loops, over-long chains, an indirect table
 * inside an indirect table, bad sizes, a jumping available index. A
 * broken ring is refused with a reason, never read out of bounds.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "vdriver.h"
#include "vmm/x86/layout.h"

#define QSIZE 8
#define MAXBUF 16

struct fixture {
	struct guest_mem mem;
	struct vq q;
	struct vdq d;
	struct vq_buf bufs[MAXBUF];
	struct vq_elem e;
	char why[200];
};

static void activate(struct fixture *f, uint16_t size, bool event_idx,
		     bool indirect)
{
	vq_reset(&f->q);
	memset(&f->d, 0, sizeof(f->d));
	f->d.size = f->q.size = size;
	f->d.desc = f->q.desc_gpa = VD_RING_BASE;
	f->d.avail = f->q.avail_gpa = VD_RING_BASE + 0x4000;
	f->d.used = f->q.used_gpa = VD_RING_BASE + 0x8000;
	assert_int_equal(vq_activate(&f->q, &f->mem, 256, event_idx, indirect,
				     f->why, sizeof(f->why)),
			 0);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || mem_init(&f->mem, VD_MEM))
		return -1;
	f->e = (struct vq_elem){ .buf = f->bufs, .max = MAXBUF };
	activate(f, QSIZE, false, false);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	mem_destroy(&f->mem);
	free(f);
	return 0;
}

static int pop(struct fixture *f)
{
	f->why[0] = 0;
	return vq_pop(&f->q, &f->e, f->why, sizeof(f->why));
}

/* The guest broke a rule: refused, the reason names it, nothing taken. */
static void expect_broken(struct fixture *f, const char *what)
{
	uint16_t before = f->q.next_avail;

	assert_int_equal(pop(f), -EINVAL);
	if (!strstr(f->why, what))
		fail_msg("reason \"%s\" does not say \"%s\"", f->why, what);
	assert_int_equal(f->q.next_avail, before);
}

static bool page_dirty(struct fixture *f, uint64_t gpa)
{
	return bitmap_test(&f->mem.vmm_dirty,
			   mem_pfn_to_index(&f->mem, gpa >> PAGE_SHIFT));
}

/* 2 readable buffers and 1 writable: read, write, push, used ring. */
static void test_chain(void **state)
{
	struct fixture *f = *state;
	const uint64_t gpa[] = { VD_DATA, VD_DATA + 0x1000, VD_DATA + 0x3000 };
	const uint32_t len[] = { 5, 3, 16 };
	uint8_t got[8];
	uint16_t head;
	uint32_t id, ulen;

	memcpy(vd_ram(&f->mem, gpa[0]), "hello", 5);
	memcpy(vd_ram(&f->mem, gpa[1]), "abc", 3);
	head = vd_chain(&f->mem, &f->d, 3, gpa, len, 1);
	vd_publish(&f->mem, &f->d, head);
	assert_int_equal(vq_peek(&f->q, f->why, sizeof(f->why)), 1);
	assert_int_equal(pop(f), 1);
	assert_int_equal(f->e.head, head);
	assert_int_equal(f->e.nr_out, 2);
	assert_int_equal(f->e.nr_in, 1);
	assert_ptr_equal(f->bufs[0].hva, vd_ram(&f->mem, gpa[0]));
	assert_int_equal(vq_elem_out_bytes(&f->e), 8);
	assert_int_equal(vq_elem_in_bytes(&f->e), 16);
	/* Reads run across buffers; offsets skip into them. */
	assert_int_equal(vq_copy_from(&f->e, 3, got, sizeof(got)), 5);
	assert_memory_equal(got, "loabc", 5);
	assert_false(page_dirty(f, gpa[2]));
	assert_int_equal(vq_copy_to(&f->q, &f->e, 2, "xyz", 3), 3);
	assert_memory_equal(vd_ram(&f->mem, gpa[2] + 2), "xyz", 3);
	assert_true(page_dirty(f, gpa[2]));
	assert_false(page_dirty(f, f->d.used));
	vq_push(&f->q, &f->e, 5);
	assert_int_equal(vd_used_idx(&f->mem, &f->d), 1);
	vd_used_entry(&f->mem, &f->d, 0, &id, &ulen);
	assert_int_equal(id, head);
	assert_int_equal(ulen, 5);
	assert_true(page_dirty(f, f->d.used)); /* for pre-copy */
	assert_int_equal(pop(f), 0); /* empty */
}

/* The device never reports more written than the writable part holds. */
static void test_push_clamps(void **state)
{
	struct fixture *f = *state;
	const uint64_t gpa[] = { VD_DATA };
	const uint32_t len[] = { 4 };
	uint32_t id, ulen;

	vd_publish(&f->mem, &f->d, vd_chain(&f->mem, &f->d, 1, gpa, len, 1));
	assert_int_equal(pop(f), 1);
	vq_push(&f->q, &f->e, 4096);
	vd_used_entry(&f->mem, &f->d, 0, &id, &ulen);
	assert_int_equal(ulen, 4);
}

/* An indirect table of three entries behind one descriptor. */
static void test_indirect(void **state)
{
	struct fixture *f = *state;
	uint64_t table = VD_DATA + 0x10000;

	activate(f, QSIZE, false, true);
	vd_desc(&f->mem, table, 0, VD_DATA, 10, VQ_DESC_F_NEXT, 2);
	vd_desc(&f->mem, table, 2, VD_DATA + 0x100, 20, VQ_DESC_F_NEXT, 1);
	vd_desc(&f->mem, table, 1, VD_DATA + 0x200, 30, VQ_DESC_F_WRITE, 0);
	vd_desc(&f->mem, f->d.desc, 5, table, 3 * 16, VQ_DESC_F_INDIRECT, 0);
	vd_publish(&f->mem, &f->d, 5);
	assert_int_equal(pop(f), 1);
	assert_int_equal(f->e.head, 5);
	assert_int_equal(f->e.nr_out, 2);
	assert_int_equal(f->e.nr_in, 1);
	assert_int_equal(f->bufs[1].len, 20);
	assert_int_equal(f->bufs[2].len, 30);
	/* Direct descriptors may lead to the indirect one. */
	vd_desc(&f->mem, table + 0x100, 0, VD_DATA + 0x400, 40, 0, 0);
	vd_desc(&f->mem, f->d.desc, 6, VD_DATA + 0x300, 1, VQ_DESC_F_NEXT, 7);
	vd_desc(&f->mem, f->d.desc, 7, table + 0x100, 16, VQ_DESC_F_INDIRECT,
		0);
	vd_publish(&f->mem, &f->d, 6);
	assert_int_equal(pop(f), 1);
	assert_int_equal(f->e.nr_out, 2);
}

/* Driver -> device suppression: avail_event asks for the next kick. */
static void test_event_idx_avail_event(void **state)
{
	struct fixture *f = *state;
	const uint64_t gpa[] = { VD_DATA };
	const uint32_t len[] = { 1 };
	uint64_t avail_event = f->d.used + 4 + 8 * QSIZE;
	int i;

	activate(f, QSIZE, true, false);
	for (i = 0; i < 3; i++)
		vd_publish(&f->mem, &f->d,
			   vd_chain(&f->mem, &f->d, 1, gpa, len, 0));
	vd_put16(&f->mem, avail_event, 0xffff);
	while (pop(f) == 1)
		vq_push(&f->q, &f->e, 0);
	/* Emptied the ring: kick me when entry 3 is there. */
	assert_int_equal(vd_get16(&f->mem, avail_event), 3);
	assert_true(page_dirty(f, avail_event));
	/* An entry published meanwhile is still found after arming. */
	vd_publish(&f->mem, &f->d, vd_chain(&f->mem, &f->d, 1, gpa, len, 0));
	assert_int_equal(pop(f), 1);
	assert_int_equal(pop(f), 0);
	assert_int_equal(vd_get16(&f->mem, avail_event), 4);
}

/* Device -> driver suppression: interrupt only when used_event passed. */
static void test_event_idx_used_event(void **state)
{
	struct fixture *f = *state;
	const uint64_t gpa[] = { VD_DATA };
	const uint32_t len[] = { 1 };
	uint64_t used_event = f->d.avail + 4 + 2 * QSIZE;
	int i;

	activate(f, QSIZE, true, false);
	for (i = 0; i < 6; i++)
		vd_publish(&f->mem, &f->d,
			   vd_chain(&f->mem, &f->d, 1, gpa, len, 0));
	/* Nothing used: no interrupt, whatever used_event says. */
	assert_false(vq_should_notify(&f->q));
	/* The first check after activation always interrupts. */
	assert_int_equal(pop(f), 1);
	vq_push(&f->q, &f->e, 0);
	assert_true(vq_should_notify(&f->q));
	/* Nothing new since: no interrupt. */
	assert_false(vq_should_notify(&f->q));
	/* The driver wants one once entry 3 is used (idx passes 3). */
	vd_put16(&f->mem, used_event, 3);
	assert_int_equal(pop(f), 1);
	vq_push(&f->q, &f->e, 0); /* used idx 2 */
	assert_false(vq_should_notify(&f->q));
	assert_int_equal(pop(f), 1);
	vq_push(&f->q, &f->e, 0); /* used idx 3: not past 3 yet */
	assert_false(vq_should_notify(&f->q));
	assert_int_equal(pop(f), 1);
	vq_push(&f->q, &f->e, 0); /* used idx 4: entry 3 used */
	assert_true(vq_should_notify(&f->q));
	/* Several pushes crossing it in one batch interrupt once. */
	vd_put16(&f->mem, used_event, 4);
	assert_int_equal(pop(f), 1);
	vq_push(&f->q, &f->e, 0);
	assert_int_equal(pop(f), 1);
	vq_push(&f->q, &f->e, 0);
	assert_true(vq_should_notify(&f->q));
	assert_false(vq_should_notify(&f->q));
}

/* Without EVENT_IDX the driver's NO_INTERRUPT flag decides. */
static void test_no_interrupt_flag(void **state)
{
	struct fixture *f = *state;
	const uint64_t gpa[] = { VD_DATA };
	const uint32_t len[] = { 1 };

	vd_publish(&f->mem, &f->d, vd_chain(&f->mem, &f->d, 1, gpa, len, 0));
	assert_int_equal(pop(f), 1);
	vq_push(&f->q, &f->e, 0);
	vd_put16(&f->mem, f->d.avail, VQ_AVAIL_F_NO_INTERRUPT);
	assert_false(vq_should_notify(&f->q));
	vd_put16(&f->mem, f->d.avail, 0);
	assert_false(vq_should_notify(&f->q)); /* nothing new */
	vd_publish(&f->mem, &f->d, vd_chain(&f->mem, &f->d, 1, gpa, len, 0));
	assert_int_equal(pop(f), 1);
	vq_push(&f->q, &f->e, 0);
	assert_true(vq_should_notify(&f->q));
}

/* Indices wrap at 2^16; entries at idx % size. */
static void test_index_wrap(void **state)
{
	struct fixture *f = *state;
	const uint64_t gpa[] = { VD_DATA };
	const uint32_t len[] = { 16 };
	uint32_t id, ulen;
	int i;

	f->q.next_avail = f->q.next_used = 65534;
	f->d.avail_idx = 65534;
	vd_put16(&f->mem, f->d.used + 2, 65534);
	for (i = 0; i < 4; i++) {
		uint16_t head = vd_chain(&f->mem, &f->d, 1, gpa, len, 1);

		vd_publish(&f->mem, &f->d, head);
		assert_int_equal(pop(f), 1);
		assert_int_equal(f->e.head, head);
		vq_push(&f->q, &f->e, i);
		vd_used_entry(&f->mem, &f->d, (uint16_t)(65534 + i), &id,
			      &ulen);
		assert_int_equal(id, head);
		assert_int_equal(ulen, i);
	}
	assert_int_equal(vd_used_idx(&f->mem, &f->d), 2);
}

static void test_buffer_outside_ram(void **state)
{
	struct fixture *f = *state;
	const uint64_t gpa[] = { VD_MEM - 8 };
	const uint32_t len[] = { 16 };

	vd_publish(&f->mem, &f->d, vd_chain(&f->mem, &f->d, 1, gpa, len, 0));
	expect_broken(f, "buffer at 0x3ffff8 (16 bytes) is outside RAM");
	/* In the MMIO hole, and wrapping around the address space. */
	vd_desc(&f->mem, f->d.desc, 0, LAYOUT_VIRTIO_MMIO, 4, 0, 0);
	expect_broken(f, "outside RAM");
	vd_desc(&f->mem, f->d.desc, 0, ~0ULL - 1, 4, 0, 0);
	expect_broken(f, "outside RAM");
}

static void test_loop(void **state)
{
	struct fixture *f = *state;

	vd_desc(&f->mem, f->d.desc, 0, VD_DATA, 1, VQ_DESC_F_NEXT, 1);
	vd_desc(&f->mem, f->d.desc, 1, VD_DATA, 1, VQ_DESC_F_NEXT, 0);
	vd_publish(&f->mem, &f->d, 0);
	expect_broken(f, "longer than its table (8): a loop?");
	/* A descriptor that names itself. */
	vd_desc(&f->mem, f->d.desc, 0, VD_DATA, 1, VQ_DESC_F_NEXT, 0);
	expect_broken(f, "a loop?");
}

static void test_loop_in_indirect(void **state)
{
	struct fixture *f = *state;
	uint64_t table = VD_DATA + 0x10000;

	activate(f, QSIZE, false, true);
	vd_desc(&f->mem, table, 0, VD_DATA, 1, VQ_DESC_F_NEXT, 1);
	vd_desc(&f->mem, table, 1, VD_DATA, 1, VQ_DESC_F_NEXT, 0);
	vd_desc(&f->mem, f->d.desc, 0, table, 2 * 16, VQ_DESC_F_INDIRECT, 0);
	vd_publish(&f->mem, &f->d, 0);
	expect_broken(f, "longer than its table (2)");
}

/* A chain may be as long as the queue, never longer; nor than max. */
static void test_over_long_chain(void **state)
{
	struct fixture *f = *state;
	unsigned int i;

	for (i = 0; i < QSIZE; i++)
		vd_desc(&f->mem, f->d.desc, i, VD_DATA, 1,
			i + 1 < QSIZE ? VQ_DESC_F_NEXT : 0, i + 1);
	vd_publish(&f->mem, &f->d, 0);
	assert_int_equal(pop(f), 1);
	assert_int_equal(f->e.nr_out, QSIZE);
	f->e.max = QSIZE - 1;
	vd_publish(&f->mem, &f->d, 0);
	expect_broken(f, "chain of more than 7 buffers");
}

static void test_indirect_rules(void **state)
{
	struct fixture *f = *state;
	uint64_t t1 = VD_DATA + 0x10000, t2 = VD_DATA + 0x11000;

	/* Without the feature. */
	vd_desc(&f->mem, f->d.desc, 0, t1, 16, VQ_DESC_F_INDIRECT, 0);
	vd_publish(&f->mem, &f->d, 0);
	expect_broken(f, "INDIRECT_DESC was not negotiated");
	activate(f, QSIZE, false, true);
	vd_publish(&f->mem, &f->d, 0);
	/* A table inside a table. */
	vd_desc(&f->mem, t1, 0, t2, 16, VQ_DESC_F_INDIRECT, 0);
	vd_desc(&f->mem, t2, 0, VD_DATA, 1, 0, 0);
	expect_broken(f, "indirect table inside an indirect table");
	/* The ring's own table used as an indirect table, naming itself
	 * (found by the fuzzer: it used to walk forever). */
	vd_desc(&f->mem, f->d.desc, 0, f->d.desc, 16 * QSIZE,
		VQ_DESC_F_INDIRECT, 0);
	expect_broken(f, "indirect table inside an indirect table");
	/* INDIRECT with NEXT. */
	vd_desc(&f->mem, f->d.desc, 0, t2, 16,
		VQ_DESC_F_INDIRECT | VQ_DESC_F_NEXT, 1);
	expect_broken(f, "indirect descriptor also has NEXT");
	/* A length that is not whole descriptors, or none. */
	vd_desc(&f->mem, f->d.desc, 0, t2, 24, VQ_DESC_F_INDIRECT, 0);
	expect_broken(f, "indirect table of 24 bytes");
	vd_desc(&f->mem, f->d.desc, 0, t2, 0, VQ_DESC_F_INDIRECT, 0);
	expect_broken(f, "indirect table of 0 bytes");
	/* A table outside RAM. */
	vd_desc(&f->mem, f->d.desc, 0, VD_MEM - 16, 32, VQ_DESC_F_INDIRECT, 0);
	expect_broken(f, "indirect table at 0x3ffff0 is outside RAM");
	/* next beyond the indirect table's end. */
	vd_desc(&f->mem, t2, 0, VD_DATA, 1, VQ_DESC_F_NEXT, 1);
	vd_desc(&f->mem, f->d.desc, 0, t2, 16, VQ_DESC_F_INDIRECT, 0);
	expect_broken(f, "next descriptor 1 is beyond its table (1)");
}

static void test_order_and_next(void **state)
{
	struct fixture *f = *state;

	/* Writable, then readable. */
	vd_desc(&f->mem, f->d.desc, 0, VD_DATA, 1,
		VQ_DESC_F_WRITE | VQ_DESC_F_NEXT, 1);
	vd_desc(&f->mem, f->d.desc, 1, VD_DATA, 1, 0, 0);
	vd_publish(&f->mem, &f->d, 0);
	expect_broken(f, "a readable buffer follows a writable one");
	/* next past the ring's table. */
	vd_desc(&f->mem, f->d.desc, 0, VD_DATA, 1, VQ_DESC_F_NEXT, QSIZE);
	expect_broken(f, "next descriptor 8 is beyond its table (8)");
}

static void test_bad_head_and_jump(void **state)
{
	struct fixture *f = *state;

	vd_publish(&f->mem, &f->d, QSIZE);
	expect_broken(f, "available entry 0 names descriptor 8 of 8");
	/* avail idx more than a queue's worth ahead of the device. */
	vd_put16(&f->mem, f->d.avail + 2, QSIZE + 1);
	expect_broken(f, "available index jumped from 0 to 9");
	/* Or behind it (a wrap the other way). */
	vd_put16(&f->mem, f->d.avail + 2, 0xffff);
	expect_broken(f, "available index jumped from 0 to 65535");
	assert_int_equal(vq_peek(&f->q, f->why, sizeof(f->why)), -EINVAL);
	/* Exactly a queue's worth is allowed. */
	vd_put16(&f->mem, f->d.avail + 2, QSIZE);
	assert_int_equal(vq_peek(&f->q, f->why, sizeof(f->why)), 1);
}

static void check_layout(struct fixture *f, uint16_t size, uint64_t desc,
			 uint64_t avail, uint64_t used, const char *what)
{
	f->why[0] = 0;
	assert_int_equal(vq_layout_check(&f->mem, size, 256, desc, avail, used,
					 f->why, sizeof(f->why)),
			 what ? -EINVAL : 0);
	if (what && !strstr(f->why, what))
		fail_msg("reason \"%s\" does not say \"%s\"", f->why, what);
}

/* Ring placement rules, and activation refusing them. */
static void test_layout(void **state)
{
	struct fixture *f = *state;
	uint64_t d = VD_RING_BASE, a = d + 0x4000, u = d + 0x8000;

	check_layout(f, 256, d, a, u, NULL);
	check_layout(f, 1, d, a, u, NULL);
	check_layout(f, 0, d, a, u, "queue size 0 is not a power of two");
	check_layout(f, 6, d, a, u, "queue size 6 is not a power of two");
	check_layout(f, 512, d, a, u,
		     "queue size 512 is not a power of two in 1..256");
	check_layout(f, 8, d + 8, a, u, "not aligned");
	check_layout(f, 8, d, a + 1, u, "not aligned");
	check_layout(f, 8, d, a, u + 2, "not aligned");
	check_layout(f, 8, VD_MEM - 64, a, u,
		     "descriptor table at 0x3fffc0 is outside RAM");
	check_layout(f, 8, d, VD_MEM - 2, u,
		     "available ring at 0x3ffffe is outside RAM");
	check_layout(f, 8, d, a, VD_MEM - 4,
		     "used ring at 0x3ffffc is outside RAM");
	check_layout(f, 8, d, a, LAYOUT_IOAPIC, "used ring");
	f->q.ready = false;
	f->q.size = 6;
	assert_int_equal(vq_activate(&f->q, &f->mem, 256, false, false, f->why,
				     sizeof(f->why)),
			 -EINVAL);
	assert_false(f->q.ready);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_chain),
		T(test_push_clamps),
		T(test_indirect),
		T(test_event_idx_avail_event),
		T(test_event_idx_used_event),
		T(test_no_interrupt_flag),
		T(test_index_wrap),
		T(test_buffer_outside_ram),
		T(test_loop),
		T(test_loop_in_indirect),
		T(test_over_long_chain),
		T(test_indirect_rules),
		T(test_order_and_next),
		T(test_bad_head_and_jump),
		T(test_layout),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
