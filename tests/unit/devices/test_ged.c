/*
 * Unit tests of the ACPI Generic Event Device model through its bus
 * callback, as the DSDT's _EVT method uses it: a press sets bit 0 and
 * raises the level-triggered line, writing 1s clears and lowers it,
 * writing 0s changes nothing, wide accesses see zeros above the byte;
 * presses from another thread while a vCPU acknowledges are never lost;
 * then save -> restore round trips (a pending press survives and the
 * line is driven again), the checks on a saved state and the registry
 * entries.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "devices/ged.h"
#include "devices/platform.h"
#include "devices/registry.h"
#include "vmm/vm.h"
#include "vmm/x86/layout.h"

/* IRQ line as the interrupt controller sees it. */
struct line {
	int level;
	int changes;
	int raises;
};

static void set_irq(void *opaque, int level)
{
	struct line *l = opaque;

	l->level = level;
	l->changes++;
	l->raises += level;
}

static uint8_t rd(struct ged *g)
{
	uint8_t d = 0xaa;

	ged_io(g, 0, &d, 1, false);
	return d;
}

static void wr(struct ged *g, uint8_t v)
{
	ged_io(g, 0, &v, 1, true);
}

struct fixture {
	struct ged g;
	struct line irq;
};

static int setup(void **state)
{
	static struct fixture f;

	memset(&f, 0, sizeof(f));
	ged_init(&f.g, set_irq, &f.irq);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	ged_destroy(&f->g);
	return 0;
}

static void test_reset_state(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(rd(&f->g), 0);
	assert_int_equal(f->irq.changes, 0); /* the line starts low */
}

static void test_press_and_acknowledge(void **state)
{
	struct fixture *f = *state;

	ged_power_button(&f->g);
	assert_int_equal(f->irq.level, 1);
	assert_int_equal(rd(&f->g), ACPI_GED_POWER_BUTTON);
	/* Reading does not acknowledge: the line stays up. */
	assert_int_equal(rd(&f->g), ACPI_GED_POWER_BUTTON);
	assert_int_equal(f->irq.level, 1);
	/* Writing 0s clears nothing. */
	wr(&f->g, 0);
	assert_int_equal(rd(&f->g), ACPI_GED_POWER_BUTTON);
	assert_int_equal(f->irq.changes, 1);
	/* Write 1 to clear: the event goes, the line drops. */
	wr(&f->g, ACPI_GED_POWER_BUTTON);
	assert_int_equal(rd(&f->g), 0);
	assert_int_equal(f->irq.level, 0);
	assert_int_equal(f->irq.changes, 2);
	assert_int_equal(f->g.presses, 1);
}

/* A second press before the acknowledgement is one pending event. */
static void test_press_twice(void **state)
{
	struct fixture *f = *state;

	ged_power_button(&f->g);
	ged_power_button(&f->g);
	assert_int_equal(f->irq.changes, 1);
	assert_int_equal(rd(&f->g), ACPI_GED_POWER_BUTTON);
	wr(&f->g, 0xff); /* unknown bits written as 1 are harmless */
	assert_int_equal(rd(&f->g), 0);
	assert_int_equal(f->irq.level, 0);
	/* A press after the acknowledgement raises the line again. */
	ged_power_button(&f->g);
	assert_int_equal(f->irq.level, 1);
	assert_int_equal(f->irq.raises, 2);
	assert_int_equal(f->g.presses, 3);
}

static void test_wide_access(void **state)
{
	struct fixture *f = *state;
	uint8_t d[4] = { 0xaa, 0xaa, 0xaa, 0xaa };
	uint8_t w[4] = { ACPI_GED_POWER_BUTTON, 0xff, 0xff, 0xff };

	ged_power_button(&f->g);
	ged_io(&f->g, 0, d, 4, false);
	assert_memory_equal(d, "\x01\x00\x00\x00", 4);
	ged_io(&f->g, 0, w, 4, true);
	assert_int_equal(rd(&f->g), 0);
}

static void test_attach_port(void **state)
{
	struct fixture *f = *state;
	struct vm vm;
	uint8_t d = 0xaa;

	memset(&vm, 0, sizeof(vm));
	assert_int_equal(ged_attach(&f->g, &vm), 0);
	ged_power_button(&f->g);
	assert_true(bus_access(&vm.pio, PORT_ACPI_GED, &d, 1, false));
	assert_int_equal(d, ACPI_GED_POWER_BUTTON);
	/* One port: its neighbours belong to nobody. */
	assert_false(bus_access(&vm.pio, PORT_ACPI_GED + 1, &d, 1, false));
	assert_false(bus_access(&vm.pio, PORT_ACPI_GED - 1, &d, 1, false));
}

/* ---- Threads ----------------------------------------------------------- */

#define RACE_PRESSES 20000

struct race {
	struct ged *g;
	int done;
};

static void *presser(void *opaque)
{
	struct race *r = opaque;
	unsigned int i;

	for (i = 0; i < RACE_PRESSES; i++)
		ged_power_button(r->g);
	__atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * The monitor presses while a vCPU runs _EVT over and over. Whatever the
 * interleaving, a press that landed after the guest's read is still
 * pending after its write (write-1-to-clear clears only what the guest
 * saw), and the line ends matching the register.
 */
static void test_press_races_acknowledge(void **state)
{
	struct fixture *f = *state;
	struct race r = { .g = &f->g };
	struct ged_state st;
	unsigned int handled = 0;
	pthread_t t;
	uint8_t seen;

	assert_int_equal(pthread_create(&t, NULL, presser, &r), 0);
	while (!__atomic_load_n(&r.done, __ATOMIC_ACQUIRE)) {
		seen = rd(&f->g);
		if (seen) {
			wr(&f->g, seen);
			handled++;
		}
	}
	assert_int_equal(pthread_join(t, NULL), 0);
	/* The last press came after the last acknowledgement, or was it. */
	ged_save(&f->g, &st);
	assert_int_equal(f->irq.level, st.events != 0);
	if (rd(&f->g)) {
		wr(&f->g, ACPI_GED_POWER_BUTTON);
		handled++;
	}
	assert_true(handled >= 1);
	assert_int_equal(f->irq.level, 0);
	assert_int_equal(f->g.presses, RACE_PRESSES);
}

/* ---- Save and restore -------------------------------------------------- */

/* A press the guest has not seen survives into a new device. */
static void test_round_trip_pending_press(void **state)
{
	struct fixture *f = *state;
	struct ged g2;
	struct line l2 = { 0 };
	struct ged_state st;

	ged_power_button(&f->g);
	memset(&st, 0x5a, sizeof(st));
	ged_save(&f->g, &st);
	assert_int_equal(st.events, ACPI_GED_POWER_BUTTON);
	assert_int_equal(st.reserved, 0);
	ged_init(&g2, set_irq, &l2);
	assert_int_equal(ged_restore(&g2, &st), 0);
	/* The restored device raises the line of the new VM at once. */
	assert_int_equal(l2.level, 1);
	assert_int_equal(l2.changes, 1);
	assert_int_equal(rd(&g2), ACPI_GED_POWER_BUTTON);
	wr(&g2, ACPI_GED_POWER_BUTTON);
	assert_int_equal(l2.level, 0);
	ged_destroy(&g2);
}

static void test_round_trip_idle(void **state)
{
	struct fixture *f = *state;
	struct ged_state st;

	ged_save(&f->g, &st);
	assert_int_equal(st.events, 0);
	assert_int_equal(st.reserved, 0);
	/* Restoring an idle state over a pending one drives the line low. */
	ged_power_button(&f->g);
	assert_int_equal(ged_restore(&f->g, &st), 0);
	assert_int_equal(f->irq.level, 0);
	assert_int_equal(rd(&f->g), 0);
}

static void test_state_checks(void **state)
{
	struct fixture *f = *state;
	struct ged_state st = { .events = 0x2 };
	char why[128];

	assert_int_equal(ged_state_check(&st, why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "events 0x2 sets bits the GED does not have");
	st = (struct ged_state){ .events = 0x80000001u };
	assert_int_equal(ged_state_check(&st, why, sizeof(why)), -EINVAL);
	st = (struct ged_state){ .events = 1, .reserved = 1 };
	assert_int_equal(ged_state_check(&st, why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "reserved field is not zero");
	st = (struct ged_state){ .events = 1 };
	assert_int_equal(ged_state_check(&st, why, sizeof(why)), 0);
	/* A refused restore leaves the device and its line as they were. */
	st.events = 0x4;
	assert_int_equal(ged_restore(&f->g, &st), -EINVAL);
	assert_int_equal(rd(&f->g), 0);
	assert_int_equal(f->irq.changes, 0);
}

/* Every VM has "ged0"; the registry saves and restores it by that id. */
static void test_registry(void **state)
{
	struct fixture *f = *state;
	struct dev_registry r = { .nr = 0 };
	struct ged_state st = { 0 };
	const struct dev_env env = { 0 };
	struct dev_entry *d;
	char why[64];

	assert_int_equal(platform_describe(&r, 64 << 20), 0);
	d = devreg_find(&r, "ged0");
	assert_non_null(d);
	assert_ptr_equal(d->type, &ged_type);
	assert_true(d->may_be_absent); /* godwit 0.1.0 streams lack it */
	assert_int_equal(d->type->state_version, GED_STATE_VERSION);
	assert_int_equal(d->type->state_size, sizeof(struct ged_state));
	st.events = 0x8;
	assert_int_equal(d->type->check(&env, &st, why, sizeof(why)), -EINVAL);

	assert_int_equal(devreg_attach(&r, "ged0", &f->g), 0);
	assert_int_equal(devreg_attach(&r, "ged0", &f->g), -EEXIST);
	assert_int_equal(devreg_attach(&r, "ged1", &f->g), -ENOENT);
	ged_power_button(&f->g);
	memset(&st, 0, sizeof(st));
	assert_ptr_equal(devreg_dev(&r, "ged0"), &f->g);
	d->type->save(d->dev, &st);
	assert_int_equal(st.events, ACPI_GED_POWER_BUTTON);
	wr(&f->g, ACPI_GED_POWER_BUTTON);
	assert_int_equal(d->type->load(d->dev, &st), 0);
	assert_int_equal(rd(&f->g), ACPI_GED_POWER_BUTTON);
	assert_int_equal(f->irq.level, 1);
	devreg_destroy(&r); /* borrowed: the fixture still owns it */
	assert_int_equal(rd(&f->g), ACPI_GED_POWER_BUTTON);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_reset_state),
		T(test_press_and_acknowledge),
		T(test_press_twice),
		T(test_wide_access),
		T(test_attach_port),
		T(test_press_races_acknowledge),
		T(test_round_trip_pending_press),
		T(test_round_trip_idle),
		T(test_state_checks),
		T(test_registry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
