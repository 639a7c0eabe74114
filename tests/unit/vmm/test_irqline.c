/*
 * Unit tests of the level-triggered interrupt line without KVM: a line
 * made without a VM is its two eventfds, which the test reads and writes
 * in KVM's place. Raising writes the irqfd, lowering does not (KVM lowers
 * at the guest's EOI), an EOI with the interrupt still pending raises it
 * again and one without does not; KVM_IOEVENTFD's arguments are checked
 * before any ioctl.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "vmm/irqline.h"
#include "vmm/vm.h"

/* How often the line went up since last asked (KVM's view). */
static uint64_t raised(struct irq_line *l)
{
	uint64_t n = 0;

	if (read(l->irqfd, &n, sizeof(n)) < 0)
		return 0;
	return n;
}

static void eoi(struct irq_line *l)
{
	uint64_t one = 1;

	assert_int_equal(write(l->resample_fd, &one, sizeof(one)), 8);
}

static bool resample_pending(struct irq_line *l)
{
	uint64_t n;

	return read(l->resample_fd, &n, sizeof(n)) == 8;
}

static void test_raise_and_resample(void **state)
{
	struct irq_line l;

	assert_int_equal(irqline_init(&l, NULL, 16), 0);
	assert_true(l.irqfd >= 0 && l.resample_fd >= 0);
	assert_false(l.kvm_irqfd);
	irqline_set(&l, 1);
	irqline_set(&l, 1);
	assert_int_equal(raised(&l), 2);
	irqline_set(&l, 0);
	assert_int_equal(raised(&l), 0);
	/* EOI, the device was acknowledged: the line stays down. */
	eoi(&l);
	irqline_resampled(&l, false);
	assert_int_equal(raised(&l), 0);
	assert_false(resample_pending(&l)); /* consumed */
	/* EOI with an event still unacknowledged: up again. */
	eoi(&l);
	irqline_resampled(&l, true);
	assert_int_equal(raised(&l), 1);
	assert_false(resample_pending(&l));
	/* A resample without an EOI (a spurious wakeup) is harmless. */
	irqline_resampled(&l, false);
	irqline_destroy(&l);
	irqline_destroy(&l); /* idempotent */
	assert_int_equal(l.irqfd, -1);
}

static void test_ioeventfd_args(void **state)
{
	struct vm vm = { .fd = -1 };

	assert_int_equal(vm_ioeventfd(&vm, 0xd0000050, 3, 0, 5, true), -EINVAL);
	assert_int_equal(vm_ioeventfd(&vm, 0xd0000050, 4, 0, -1, true),
			 -EINVAL);
	/* Well-formed: reaches KVM (here: no VM fd). */
	assert_int_equal(vm_ioeventfd(&vm, 0xd0000050, 4, 0, 5, true), -EBADF);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_raise_and_resample),
		cmocka_unit_test(test_ioeventfd_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
