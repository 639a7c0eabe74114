/*
 * Unit tests of the AML encoder (src/vmm/x86/aml.c) against the byte
 * encodings of ACPI 6.5 chapter 20: NameStrings with root, dual and
 * multi-name prefixes, integer constants at each width boundary, EISA
 * IDs, PkgLength at its one/two/three-byte boundaries, NamedField bit
 * counts, and the sticky overflow. test_acpi.c checks the DSDT built
 * with it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "vmm/x86/aml.h"

#define CAP 8192

static uint8_t buf[CAP];

static struct aml fresh(size_t cap)
{
	memset(buf, 0xee, sizeof(buf));
	return (struct aml){ .buf = buf, .cap = cap };
}

#define EXPECT(a, ...)                                               \
	do {                                                         \
		const uint8_t want_[] = { __VA_ARGS__ };             \
		assert_false((a)->overflow);                         \
		assert_int_equal((a)->len, sizeof(want_));           \
		assert_memory_equal((a)->buf, want_, sizeof(want_)); \
	} while (0)

static void test_namestring(void **state)
{
	struct aml a;

	(void)state;
	a = fresh(CAP);
	aml_namestring(&a, "PWRB");
	EXPECT(&a, 'P', 'W', 'R', 'B');
	a = fresh(CAP);
	aml_namestring(&a, "\\_SB_");
	EXPECT(&a, 0x5c, '_', 'S', 'B', '_');
	a = fresh(CAP);
	aml_namestring(&a, "\\_SB_.PWRB");
	EXPECT(&a, 0x5c, 0x2e, '_', 'S', 'B', '_', 'P', 'W', 'R', 'B');
	a = fresh(CAP);
	aml_namestring(&a, "_SB_.GED0.STAT");
	EXPECT(&a, 0x2f, 3, '_', 'S', 'B', '_', 'G', 'E', 'D', '0', 'S', 'T',
	       'A', 'T');
}

static void test_namestring_malformed(void **state)
{
	/* Empty, root only, short, long, no dot, empty or short segment. */
	const char *bad[] = {
		"",	    "\\",    "PWR",   "PWRBX",
		"_SB_PWRB", "_SB_.", ".PWRB", "_SB_.PWR",
	};
	unsigned int i;
	struct aml a;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		a = fresh(CAP);
		aml_namestring(&a, bad[i]);
		assert_true(a.overflow);
	}
}

static void test_integer(void **state)
{
	struct aml a;

	(void)state;
	a = fresh(CAP);
	aml_integer(&a, 0);
	aml_integer(&a, 1);
	aml_integer(&a, 2);
	aml_integer(&a, 0xff);
	EXPECT(&a, 0x00, 0x01, 0x0a, 0x02, 0x0a, 0xff);
	a = fresh(CAP);
	aml_integer(&a, 0x100);
	aml_integer(&a, 0x608);
	EXPECT(&a, 0x0b, 0x00, 0x01, 0x0b, 0x08, 0x06);
	a = fresh(CAP);
	aml_integer(&a, 0x10000);
	aml_integer(&a, 0x100000000ULL);
	EXPECT(&a, 0x0c, 0x00, 0x00, 0x01, 0x00, 0x0e, 0x00, 0x00, 0x00, 0x00,
	       0x01, 0x00, 0x00, 0x00);
}

static void test_eisaid(void **state)
{
	struct aml a;

	(void)state;
	/* 'P'=16 'N'=14 'P'=16 -> 0 10000 01110 10000 = 0x41d0. */
	a = fresh(CAP);
	aml_eisaid(&a, "PNP0C0C");
	EXPECT(&a, 0x0c, 0x41, 0xd0, 0x0c, 0x0c);
	a = fresh(CAP);
	aml_eisaid(&a, "PNP0A03");
	EXPECT(&a, 0x0c, 0x41, 0xd0, 0x0a, 0x03);
}

/* A Scope whose body is n filler bytes: returns the PkgLength bytes. */
static size_t pkg_of(size_t body, uint8_t *enc)
{
	static uint8_t filler[5000];
	struct aml a = fresh(CAP);
	size_t pkg = aml_pkg_begin(&a), n;

	aml_bytes(&a, filler, body);
	aml_pkg_end(&a, pkg);
	assert_false(a.overflow);
	n = a.len - body;
	memcpy(enc, a.buf, n);
	return n;
}

static void test_pkglength(void **state)
{
	uint8_t e[4];

	(void)state;
	/* One byte up to 63, counting itself. */
	assert_int_equal(pkg_of(62, e), 1);
	assert_int_equal(e[0], 63);
	/* 63 + 1 does not fit: two bytes, value 65. */
	assert_int_equal(pkg_of(63, e), 2);
	assert_int_equal(e[0], 0x40 | (65 & 0xf));
	assert_int_equal(e[1], 65 >> 4);
	/* Two bytes hold values up to 4095. */
	assert_int_equal(pkg_of(4093, e), 2);
	assert_int_equal(e[0], 0x40 | 0xf);
	assert_int_equal(e[1], 0xff);
	assert_int_equal(pkg_of(4094, e), 3);
	assert_int_equal(e[0], 0x80 | ((4097) & 0xf));
	assert_int_equal(e[1], (4097 >> 4) & 0xff);
	assert_int_equal(e[2], 4097 >> 12);
}

static void test_field_unit(void **state)
{
	struct aml a;

	(void)state;
	a = fresh(CAP);
	aml_field_unit(&a, "STAT", 8);
	EXPECT(&a, 'S', 'T', 'A', 'T', 0x08);
	/* Bit counts are plain numbers: 64 needs the two-byte form. */
	a = fresh(CAP);
	aml_field_unit(&a, "WIDE", 64);
	EXPECT(&a, 'W', 'I', 'D', 'E', 0x40, 0x04);
	a = fresh(CAP);
	aml_field_unit(&a, "HUGE", 1u << 28);
	assert_true(a.overflow);
}

/* Method(_EVT, 1) { If (Arg0) { } } and the method flags. */
static void test_method_if(void **state)
{
	struct aml a = fresh(CAP);
	size_t m, i;

	(void)state;
	m = aml_method_begin(&a, "_EVT", 1, false);
	i = aml_if_begin(&a);
	aml_byte(&a, AML_ARG0_OP);
	aml_pkg_end(&a, i);
	aml_pkg_end(&a, m);
	EXPECT(&a, 0x14, 0x09, '_', 'E', 'V', 'T', 0x01, 0xa0, 0x02, 0x68);
	a = fresh(CAP);
	m = aml_method_begin(&a, "_EVT", 7, true);
	aml_pkg_end(&a, m);
	EXPECT(&a, 0x14, 0x06, '_', 'E', 'V', 'T', 0x0f);
	a = fresh(CAP);
	aml_method_begin(&a, "_EVT", 8, false);
	assert_true(a.overflow);
}

static void test_resources(void **state)
{
	uint8_t r[16];

	(void)state;
	assert_int_equal(aml_res_ext_irq(r, AML_IRQ_CONSUMER, 9), 9);
	assert_memory_equal(r, "\x89\x06\x00\x01\x01\x09\x00\x00\x00", 9);
	assert_int_equal(aml_res_ext_irq(r,
					 AML_IRQ_CONSUMER | AML_IRQ_EDGE |
						 AML_IRQ_ACTIVE_LOW |
						 AML_IRQ_SHARED,
					 0x12345678),
			 9);
	assert_memory_equal(r, "\x89\x06\x00\x0f\x01\x78\x56\x34\x12", 9);
	assert_int_equal(aml_res_mem32_fixed(r, true, 0xd0000000, 0x1000), 12);
	assert_memory_equal(
		r, "\x86\x09\x00\x01\x00\x00\x00\xd0\x00\x10\x00\x00", 12);
	assert_int_equal(aml_res_end(r), 2);
	assert_memory_equal(r, "\x79\x00", 2);
}

/* Once full, nothing more is written and overflow stays set. */
static void test_overflow_sticky(void **state)
{
	struct aml a = fresh(6);
	size_t pkg;

	(void)state;
	aml_name(&a, "_UID");
	aml_bytes(&a, "xy", 2); /* does not fit in the last byte */
	assert_true(a.overflow);
	assert_int_equal(a.len, 5);
	aml_byte(&a, 0); /* would fit, but the error is sticky */
	assert_int_equal(a.len, 5);
	assert_int_equal(buf[5], 0xee);
	/* A PkgLength that no longer fits sets it too. */
	a = fresh(3);
	pkg = aml_pkg_begin(&a);
	aml_bytes(&a, "abc", 3);
	aml_pkg_end(&a, pkg);
	assert_true(a.overflow);
	assert_int_equal(a.len, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_namestring),
		cmocka_unit_test(test_namestring_malformed),
		cmocka_unit_test(test_integer),
		cmocka_unit_test(test_eisaid),
		cmocka_unit_test(test_pkglength),
		cmocka_unit_test(test_field_unit),
		cmocka_unit_test(test_method_if),
		cmocka_unit_test(test_resources),
		cmocka_unit_test(test_overflow_sticky),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
