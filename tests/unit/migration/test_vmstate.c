/*
 * Unit tests of collecting machine state on restore (vmstate_rx_*), no
 * KVM: synthetic, structurally valid records go in; each lands in the
 * right place, a second copy of any record is refused, vmstate_rx_complete
 * names the first missing record, and DEVICE records are matched by id and
 * checked by the device's own check op (the serial port's, through the
 * registry); a device added after the first streams ("ged0") may be
 * absent.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "devices/ged.h"
#include "devices/platform.h"
#include "devices/registry.h"
#include "devices/serial.h"
#include "format/record.h"
#include "migration/vmstate.h"

#define NR_VCPUS 2

static const uint32_t vcpu_types[] = {
	REC_VCPU_REGS,	 REC_VCPU_SREGS,    REC_VCPU_XSAVE,
	REC_VCPU_XCRS,	 REC_VCPU_MSRS,	    REC_VCPU_LAPIC,
	REC_VCPU_EVENTS, REC_VCPU_MP_STATE, REC_VCPU_DEBUGREGS,
};

struct rec {
	uint32_t type, len;
	uint8_t body[8 + 8192];
};

/* A structurally valid body of type for vcpu, filled with fill. */
static void make_vcpu(struct rec *r, uint32_t type, uint32_t vcpu, uint8_t fill)
{
	uint32_t arg = 0, size;

	switch (type) {
	case REC_VCPU_REGS:
		size = 144;
		break;
	case REC_VCPU_SREGS:
		size = 312;
		break;
	case REC_VCPU_XSAVE:
		size = 8192;
		arg = 8192;
		break;
	case REC_VCPU_XCRS:
		size = 392;
		break;
	case REC_VCPU_MSRS:
		size = 3 * 16;
		arg = 3;
		break;
	case REC_VCPU_LAPIC:
		size = 1024;
		break;
	case REC_VCPU_EVENTS:
		size = 64;
		break;
	case REC_VCPU_MP_STATE:
		size = 0;
		arg = 4;
		break;
	default:
		size = 128;
		break;
	}
	r->type = type;
	r->len = 8 + size;
	memset(r->body, fill, r->len);
	memcpy(r->body, &vcpu, 4);
	memcpy(r->body + 4, &arg, 4);
	if (type == REC_VCPU_MSRS) {
		struct rec_msr m[3] = { { 0x10 + vcpu, 0, 100 },
					{ 0x174, 0, 200 + vcpu },
					{ 0xc0000100, 0, 0xfffff000 } };

		memcpy(r->body + 8, m, sizeof(m));
	}
}

static void make_chip(struct rec *r, uint32_t chip)
{
	r->type = REC_IRQCHIP;
	r->len = sizeof(struct rec_irqchip);
	memset(r->body, 0x40 + chip, r->len);
	memcpy(r->body, &chip, 4);
	memset(r->body + 4, 0, 4);
}

static void make_pit(struct rec *r)
{
	r->type = REC_PIT;
	r->len = sizeof(struct rec_pit);
	memset(r->body, 0x99, r->len);
}

static void make_clock(struct rec *r)
{
	struct rec_clock c = { 123456789, 987654321, 2500000, 0 };

	r->type = REC_CLOCK;
	r->len = sizeof(c);
	memcpy(r->body, &c, sizeof(c));
}

static void make_device_state(struct rec *r, const char *id, uint32_t version,
			      const void *st, uint32_t len)
{
	struct rec_device d = { .version = version, .length = len };

	strncpy(d.id, id, sizeof(d.id) - 1);
	r->type = REC_DEVICE;
	r->len = sizeof(d) + len;
	memcpy(r->body, &d, sizeof(d));
	memcpy(r->body + sizeof(d), st, len);
}

static void make_device(struct rec *r, const char *id, uint32_t version,
			const struct serial_state *st)
{
	make_device_state(r, id, version, st, sizeof(*st));
}

static const struct serial_state good_serial = {
	.ier = 1,
	.lcr = 3,
	.mcr = 0x0b,
	.dll = 1,
	.fcr = 0xc1,
	.rx_head = 10,
	.rx_count = 3,
	.rx_fifo = { [10] = 'a', 'b', 'c' },
};

static const struct dev_slot serial_slot = { "serial0", &serial_type,
					     .res = { 0 } };
static const struct dev_slot ged_slot = { "ged0", &ged_type, .res = { 0 },
					  .may_be_absent = true };

struct fixture {
	struct vmstate_rx rx;
	struct dev_registry devs;
	struct serial ser;
	struct rec r;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || vmstate_rx_init(&f->rx, NR_VCPUS))
		return -1;
	serial_init(&f->ser, -1, NULL, NULL);
	if (devreg_add_list(&f->devs, &serial_slot, 1) ||
	    devreg_attach(&f->devs, "serial0", &f->ser))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	vmstate_rx_free(&f->rx);
	serial_destroy(&f->ser);
	free(f);
	return 0;
}

/* Add f->r; it must pass the format check first, as in restore. */
static int add(struct fixture *f, char *why, size_t whylen)
{
	const struct rec_limits lim = { .nr_vcpus = NR_VCPUS,
					.mem_bytes = 64 << 20 };

	if (rec_body_check(f->r.type, f->r.body, f->r.len, &lim, why, whylen))
		fail_msg("synthetic %s record is invalid: %s",
			 rec_type_name(f->r.type), why);
	return vmstate_rx_add(&f->rx, &f->devs, f->r.type, f->r.body, f->r.len,
			      0, why, whylen);
}

static void add_ok(struct fixture *f)
{
	char why[256] = "";

	if (add(f, why, sizeof(why)))
		fail_msg("%s: %s", rec_type_name(f->r.type), why);
}

static void add_refused(struct fixture *f, const char *what)
{
	char why[256] = "";

	assert_int_equal(add(f, why, sizeof(why)), -EINVAL);
	if (!strstr(why, what))
		fail_msg("why '%s' does not mention '%s'", why, what);
}

static void expect_incomplete(struct fixture *f, const char *what)
{
	char why[256] = "";

	assert_int_equal(vmstate_rx_complete(&f->rx, &f->devs, why,
					     sizeof(why)),
			 -EINVAL);
	if (!strstr(why, what))
		fail_msg("why '%s' does not mention '%s'", why, what);
}

/* Everything except what skip says. */
struct skip {
	int vcpu; /* with type: leave out that vCPU record */
	uint32_t type;
	int chip; /* leave out that IRQCHIP */
	bool pit, clock, device;
};

static void add_all(struct fixture *f, const struct skip *sk)
{
	unsigned int v, t;

	for (v = 0; v < NR_VCPUS; v++)
		for (t = 0; t < ARRAY_SIZE(vcpu_types); t++) {
			if (sk && sk->vcpu == (int)v &&
			    sk->type == vcpu_types[t])
				continue;
			make_vcpu(&f->r, vcpu_types[t], v, 0x10 * (v + 1) + t);
			add_ok(f);
		}
	for (t = 0; t < 3; t++) {
		if (sk && sk->chip == (int)t)
			continue;
		make_chip(&f->r, t);
		add_ok(f);
	}
	if (!sk || !sk->pit) {
		make_pit(&f->r);
		add_ok(f);
	}
	if (!sk || !sk->clock) {
		make_clock(&f->r);
		add_ok(f);
	}
	if (!sk || !sk->device) {
		make_device(&f->r, "serial0", 1, &good_serial);
		add_ok(f);
	}
}

static void test_complete_set(void **state)
{
	struct fixture *f = *state;
	struct x86_vcpu_state *v1 = &f->rx.vcpus[1];
	char why[256] = "";

	expect_incomplete(f, "no VCPU_REGS record for vCPU 0");
	add_all(f, NULL);
	if (vmstate_rx_complete(&f->rx, &f->devs, why, sizeof(why)))
		fail_msg("%s", why);
	/* Each record's contents landed where it belongs. */
	assert_int_equal(((uint8_t *)&v1->regs)[0], 0x20);
	assert_int_equal(((uint8_t *)&v1->sregs)[311], 0x21);
	assert_int_equal(v1->xsave_size, 8192);
	assert_int_equal(v1->xsave[8191], 0x22);
	assert_int_equal(((uint8_t *)&v1->xcrs)[0], 0x23);
	assert_int_equal(v1->nmsrs, 3);
	assert_int_equal(v1->msrs[0].index, 0x11);
	assert_int_equal(v1->msrs[1].data, 201);
	assert_int_equal(v1->msrs[2].index, 0xc0000100);
	assert_int_equal(((uint8_t *)&v1->lapic)[1023], 0x25);
	assert_int_equal(((uint8_t *)&v1->events)[0], 0x26);
	assert_int_equal(v1->mp_state.mp_state, 4);
	assert_int_equal(((uint8_t *)&v1->dregs)[0], 0x28);
	assert_int_equal(f->rx.vcpus[0].msrs[0].index, 0x10);
	assert_int_equal(f->rx.vm.chip[0].chip_id, 0);
	assert_int_equal(f->rx.vm.chip[2].chip_id, 2);
	assert_int_equal(f->rx.vm.chip[1].chip.pic.irr, 0x41);
	assert_int_equal(((uint8_t *)&f->rx.vm.pit)[0], 0x99);
	assert_int_equal(f->rx.clock.guest_tsc, 123456789);
	assert_int_equal(f->rx.clock.kvmclock_ns, 987654321);
	assert_int_equal(f->rx.clock.tsc_khz, 2500000);
	assert_true(f->rx.have_dev[0]);
	assert_memory_equal(f->rx.dev_state[0], &good_serial,
			    sizeof(good_serial));
}

/* Records may come in any order. */
static void test_any_order(void **state)
{
	struct fixture *f = *state;
	char why[256] = "";
	int t, v;

	make_device(&f->r, "serial0", 1, &good_serial);
	add_ok(f);
	make_clock(&f->r);
	add_ok(f);
	for (t = ARRAY_SIZE(vcpu_types) - 1; t >= 0; t--)
		for (v = NR_VCPUS - 1; v >= 0; v--) {
			make_vcpu(&f->r, vcpu_types[t], v, 1);
			add_ok(f);
		}
	make_pit(&f->r);
	add_ok(f);
	for (t = 2; t >= 0; t--) {
		make_chip(&f->r, t);
		add_ok(f);
	}
	assert_int_equal(
		vmstate_rx_complete(&f->rx, &f->devs, why, sizeof(why)), 0);
}

static void test_duplicates_refused(void **state)
{
	struct fixture *f = *state;
	char want[64];
	unsigned int t;

	add_all(f, NULL);
	for (t = 0; t < ARRAY_SIZE(vcpu_types); t++) {
		make_vcpu(&f->r, vcpu_types[t], 1, 0);
		snprintf(want, sizeof(want), "second %s record for vCPU 1",
			 rec_type_name(vcpu_types[t]));
		add_refused(f, want);
	}
	make_chip(&f->r, 1);
	add_refused(f, "second IRQCHIP record for chip 1");
	make_pit(&f->r);
	add_refused(f, "second PIT record");
	make_clock(&f->r);
	add_refused(f, "second CLOCK record");
	make_device(&f->r, "serial0", 1, &good_serial);
	add_refused(f, "second DEVICE record for 'serial0'");
	/* The first copies are kept. */
	assert_int_equal(f->rx.vcpus[1].mp_state.mp_state, 4);
	assert_int_equal(f->rx.clock.tsc_khz, 2500000);
}

/* On a fresh fixture, everything but what sk says is incomplete. */
static void expect_missing(void **state, const struct skip *sk,
			   const char *what)
{
	teardown(state);
	assert_int_equal(setup(state), 0);
	add_all(*state, sk);
	expect_incomplete(*state, what);
}

static void test_missing_records_named(void **state)
{
	unsigned int t;
	char want[64];

	for (t = 0; t < ARRAY_SIZE(vcpu_types); t++) {
		snprintf(want, sizeof(want), "no %s record for vCPU 1",
			 rec_type_name(vcpu_types[t]));
		expect_missing(state,
			       &(struct skip){ .vcpu = 1,
					       .type = vcpu_types[t],
					       .chip = -1 },
			       want);
	}
	for (t = 0; t < 3; t++) {
		snprintf(want, sizeof(want), "no IRQCHIP record for chip %u",
			 t);
		expect_missing(state, &(struct skip){ .vcpu = -1, .chip = t },
			       want);
	}
	expect_missing(state,
		       &(struct skip){ .vcpu = -1, .chip = -1, .pit = true },
		       "no PIT record");
	expect_missing(state,
		       &(struct skip){ .vcpu = -1, .chip = -1, .clock = true },
		       "no CLOCK record");
	expect_missing(state,
		       &(struct skip){ .vcpu = -1, .chip = -1, .device = true },
		       "no DEVICE record for 'serial0'");
}

static void test_device_checks(void **state)
{
	struct fixture *f = *state;
	struct serial_state st = good_serial;

	make_device(&f->r, "serial1", 1, &st);
	add_refused(f, "device 'serial1' does not exist in this VM");
	make_device(&f->r, "serial", 1, &st);
	add_refused(f, "device 'serial' does not exist");
	make_device(&f->r, "serial0", 2, &st);
	add_refused(
		f,
		"device 'serial0' state version 2 (80 bytes) is not supported (expected version 1, 80 bytes)");
	/* The device model's own check names the field. */
	st.rx_count = 65;
	make_device(&f->r, "serial0", 1, &st);
	add_refused(f,
		    "device 'serial0': rx_count 65 exceeds the 64-byte FIFO");
	st = good_serial;
	st.rx_head = 64;
	make_device(&f->r, "serial0", 1, &st);
	add_refused(f, "device 'serial0': rx_head 64 is outside the FIFO");
	st = good_serial;
	st.reserved[3] = 1;
	make_device(&f->r, "serial0", 1, &st);
	add_refused(f, "device 'serial0': reserved byte 3 is not zero");
	/* None of them counted: a good one is still accepted. */
	assert_false(f->rx.have_dev[0]);
	make_device(&f->r, "serial0", 1, &good_serial);
	add_ok(f);
}

/* A state length the registry does not expect for the version. */
static void test_device_length_mismatch(void **state)
{
	struct fixture *f = *state;
	struct rec_device d = { .id = "serial0", .version = 1, .length = 72 };
	char why[256] = "";

	memcpy(f->r.body, &d, sizeof(d));
	memset(f->r.body + sizeof(d), 0, 72);
	assert_int_equal(vmstate_rx_add(&f->rx, &f->devs, REC_DEVICE, f->r.body,
					sizeof(d) + 72, 0, why, sizeof(why)),
			 -EINVAL);
	assert_non_null(
		strstr(why, "state version 1 (72 bytes) is not supported"));
}

/* The platform registry (godwit inspect's) checks without a device. */
static void test_platform_registry(void **state)
{
	struct dev_registry devs = { .nr = 0 };
	struct vmstate_rx rx;
	struct serial_state st = good_serial;
	struct rec r;
	char why[256] = "";

	assert_int_equal(platform_describe(&devs, 64 << 20), 0);
	assert_int_equal(devreg_add_list(&devs, &serial_slot, 1), -EEXIST);
	assert_int_equal(vmstate_rx_init(&rx, 1), 0);
	st.thr_ipending = 2;
	make_device(&r, "serial0", 1, &st);
	assert_int_equal(vmstate_rx_add(&rx, &devs, REC_DEVICE, r.body, r.len,
					0, why, sizeof(why)),
			 -EINVAL);
	assert_non_null(strstr(why, "thr_ipending 2 is not 0 or 1"));
	make_device(&r, "serial0", 1, &good_serial);
	assert_int_equal(vmstate_rx_add(&rx, &devs, REC_DEVICE, r.body, r.len,
					0, why, sizeof(why)),
			 0);
	vmstate_rx_free(&rx);
	vmstate_rx_free(&rx); /* idempotent */
}

/*
 * "ged0" came after the first streams were written: a stream without it
 * is complete (the GED stays idle), one with it is checked and kept.
 */
static void test_ged_record_optional(void **state)
{
	struct fixture *f = *state;
	struct ged_state gs = { .events = 2 };
	char why[256] = "";
	struct ged g;

	ged_init(&g, NULL, NULL);
	assert_int_equal(devreg_add_list(&f->devs, &ged_slot, 1), 0);
	assert_int_equal(devreg_attach(&f->devs, "ged0", &g), 0);
	add_all(f, NULL);
	if (vmstate_rx_complete(&f->rx, &f->devs, why, sizeof(why)))
		fail_msg("%s", why);
	assert_false(f->rx.have_dev[1]);
	make_device_state(&f->r, "ged0", GED_STATE_VERSION, &gs, sizeof(gs));
	add_refused(
		f, "device 'ged0': events 0x2 sets bits the GED does not have");
	gs.events = 1;
	make_device_state(&f->r, "ged0", GED_STATE_VERSION, &gs, sizeof(gs));
	add_ok(f);
	assert_true(f->rx.have_dev[1]);
	assert_memory_equal(f->rx.dev_state[1], &gs, sizeof(gs));
	/* serial0 is not optional. */
	teardown(state);
	assert_int_equal(setup(state), 0);
	f = *state;
	assert_int_equal(devreg_add_list(&f->devs, &ged_slot, 1), 0);
	assert_int_equal(devreg_attach(&f->devs, "ged0", &g), 0);
	add_all(f, &(struct skip){ .vcpu = -1, .chip = -1, .device = true });
	expect_incomplete(f, "no DEVICE record for 'serial0'");
	ged_destroy(&g);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_complete_set),
		T(test_any_order),
		T(test_duplicates_refused),
		T(test_missing_records_named),
		T(test_device_checks),
		T(test_device_length_mismatch),
		cmocka_unit_test(test_platform_registry),
		T(test_ged_record_optional),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
