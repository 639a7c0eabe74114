/*
 * Unit tests of the guests' virtio-mmio discovery (guests/virtio_find.c),
 * compiled for the host with stubs for the ring-0 services it uses:
 * DSDTs built here byte by byte in the shapes QEMU microvm and other
 * VMMs emit (Memory32Fixed, DWord and QWord memory; Extended Interrupt
 * and IRQ descriptors; 1- and 2-byte PkgLengths; _HID before or after
 * _CRS; other devices around), truncated and random AML that must not
 * be read out of bounds or yield a wrong window, and the
 * virtio_mmio.device= command-line forms, good and bad.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "virtio_mmio.h"

#define INTI_LEVEL_HIGH 0x0d /* MPS INTI: trigger 3 (level), polarity 1 */
#define INTI_LEVEL_LOW 0x0f
#define INTI_EDGE_LOW 0x07
#define INTI_EDGE_HIGH 0x05

struct window {
	uint64_t base;
	uint32_t gsi;
	uint16_t flags;
	bool has_gsi;
	const char *source;
};

static struct window found[16];
static unsigned int nfound;
static const uint8_t *dsdt;
static uint32_t dsdt_len;
static const char *tokens[8];
static jmp_buf on_fail;
static char failure[256];

/* Stubs of the ring-0 services virtio_find.c calls. */
const uint8_t *acpi_dsdt(uint32_t *len_out)
{
	*len_out = dsdt_len;
	return dsdt;
}

bool cmdline_str_nth(const char *key, unsigned int n, char *buf, size_t len)
{
	assert_string_equal(key, "virtio_mmio.device");
	if (n >= 8 || !tokens[n])
		return false;
	snprintf(buf, len, "%s", tokens[n]);
	return true;
}

void virtio_add_window(uint64_t base, uint32_t gsi, uint16_t irq_flags,
		       bool has_gsi, const char *source)
{
	assert_true(nfound < 16);
	found[nfound++] =
		(struct window){ base, gsi, irq_flags, has_gsi, source };
}

bool debug_enabled(void)
{
	return false;
}

void con_printf(const char *fmt, ...)
{
	(void)fmt;
}

void con_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(failure, sizeof(failure), fmt, ap);
	va_end(ap);
	longjmp(on_fail, 1);
}

/* --- a small AML writer -------------------------------------------------- */

struct aml {
	uint8_t b[8192];
	size_t n;
};

static void put(struct aml *a, const void *p, size_t n)
{
	assert_true(a->n + n <= sizeof(a->b));
	memcpy(a->b + a->n, p, n);
	a->n += n;
}

static void byte(struct aml *a, uint8_t v)
{
	put(a, &v, 1);
}

static void le32(struct aml *a, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		byte(a, (uint8_t)(v >> (8 * i)));
}

static void le64(struct aml *a, uint64_t v)
{
	le32(a, (uint32_t)v);
	le32(a, (uint32_t)(v >> 32));
}

/* PkgLength (counting itself) followed by body. */
static void pkg(struct aml *a, const struct aml *body)
{
	size_t n = body->n;

	if (n + 1 <= 63) {
		byte(a, (uint8_t)(n + 1));
	} else {
		size_t total = n + 2;

		assert_true(total < (1 << 12));
		byte(a, (uint8_t)(0x40 | (total & 0x0f)));
		byte(a, (uint8_t)(total >> 4));
	}
	put(a, body->b, body->n);
}

static void name_string(struct aml *a, const char *seg, const char *s)
{
	byte(a, 0x08);
	put(a, seg, 4);
	byte(a, 0x0d);
	put(a, s, strlen(s) + 1);
}

/* Name(_CRS, Buffer(n) {resources}) with a byte or word BufferSize. */
static void name_crs(struct aml *a, const struct aml *res, bool word_size)
{
	struct aml buf = { .n = 0 };

	if (word_size) {
		byte(&buf, 0x0b);
		byte(&buf, (uint8_t)res->n);
		byte(&buf, (uint8_t)(res->n >> 8));
	} else {
		byte(&buf, 0x0a);
		byte(&buf, (uint8_t)res->n);
	}
	put(&buf, res->b, res->n);
	byte(a, 0x08);
	put(a, "_CRS", 4);
	byte(a, 0x11);
	pkg(a, &buf);
}

static void mem32fixed(struct aml *r, uint32_t base, uint32_t len)
{
	static const uint8_t head[] = { 0x86, 0x09, 0x00, 0x01 };

	put(r, head, sizeof(head));
	le32(r, base);
	le32(r, len);
}

static void dword_mem(struct aml *r, uint32_t base, uint32_t len)
{
	static const uint8_t head[] = { 0x87, 0x17, 0x00, 0x00, 0x0c, 0x01 };

	put(r, head, sizeof(head));
	le32(r, 0);
	le32(r, base);
	le32(r, base + len - 1);
	le32(r, 0);
	le32(r, len);
}

static void qword_mem(struct aml *r, uint64_t base, uint64_t len)
{
	static const uint8_t head[] = { 0x8a, 0x2b, 0x00, 0x00, 0x0c, 0x01 };

	put(r, head, sizeof(head));
	le64(r, 0);
	le64(r, base);
	le64(r, base + len - 1);
	le64(r, 0);
	le64(r, len);
}

/* Extended Interrupt: flags bit 1 edge, bit 2 active low. */
static void ext_irq(struct aml *r, uint32_t gsi, bool edge, bool low)
{
	byte(r, 0x89);
	byte(r, 0x06);
	byte(r, 0x00);
	byte(r, (uint8_t)(0x01 | (edge ? 2 : 0) | (low ? 4 : 0)));
	byte(r, 0x01);
	le32(r, gsi);
}

/* IRQ descriptor with flags: bit 0 edge, bit 3 active low, bit 4 shared. */
static void small_irq(struct aml *r, unsigned int irq, bool edge, bool low)
{
	byte(r, 0x23);
	byte(r, (uint8_t)(1u << irq));
	byte(r, (uint8_t)((1u << irq) >> 8));
	byte(r, (uint8_t)((edge ? 1 : 0) | (low ? 8 : 0) | 0x10));
}

static void end_tag(struct aml *r)
{
	byte(r, 0x79);
	byte(r, 0x00);
}

/* Device(name) { _HID, [filler], _CRS } (or _CRS first). */
static void device(struct aml *a, const char *name, const char *hid,
		   const struct aml *res, bool crs_first, size_t filler)
{
	struct aml body = { .n = 0 };
	char ddn[128];

	put(&body, name, 4);
	if (crs_first)
		name_crs(&body, res, false);
	name_string(&body, "_HID", hid);
	byte(&body, 0x08);
	put(&body, "_UID", 4);
	byte(&body, 0x0a);
	byte(&body, 0x17);
	if (filler) {
		assert_true(filler < sizeof(ddn));
		memset(ddn, 'x', filler);
		ddn[filler] = 0;
		name_string(&body, "_DDN", ddn);
	}
	if (!crs_first)
		name_crs(&body, res, filler > 0);
	byte(a, 0x5b);
	byte(a, 0x82);
	pkg(a, &body);
}

/* A DSDT: 36-byte header, then Scope(\_SB) { devices }. */
static void finish(struct aml *table, const struct aml *devices)
{
	struct aml scope = { .n = 0 };

	memset(table->b, 0, 36);
	memcpy(table->b, "DSDT", 4);
	table->n = 36;
	put(&scope, "_SB_", 4);
	put(&scope, devices->b, devices->n);
	byte(table, 0x10);
	pkg(table, &scope);
	dsdt = table->b;
	dsdt_len = (uint32_t)table->n;
}

static int reset(void **state)
{
	(void)state;
	nfound = 0;
	dsdt = NULL;
	dsdt_len = 0;
	memset(tokens, 0, sizeof(tokens));
	failure[0] = 0;
	return 0;
}

static void qemu_device(struct aml *devs, const char *name, uint32_t base,
			uint32_t gsi)
{
	struct aml res = { .n = 0 };

	mem32fixed(&res, base, 0x200);
	ext_irq(&res, gsi, false, false);
	end_tag(&res);
	device(devs, name, "LNRO0005", &res, false, 0);
}

/* --- tests ----------------------------------------------------------------- */

static void test_qemu_microvm_shape(void **state)
{
	static struct aml table, devs;

	(void)state;
	devs.n = 0;
	qemu_device(&devs, "VR23", 0xfeb02e00, 47);
	finish(&table, &devs);
	virtio_find_windows();
	assert_int_equal(nfound, 1);
	assert_int_equal(found[0].base, 0xfeb02e00);
	assert_int_equal(found[0].gsi, 47);
	assert_int_equal(found[0].flags, INTI_LEVEL_HIGH);
	assert_true(found[0].has_gsi);
	assert_string_equal(found[0].source, "acpi");
}

static void test_other_descriptors(void **state)
{
	static struct aml table, devs;
	struct aml r1 = { .n = 0 }, r2 = { .n = 0 }, r3 = { .n = 0 };

	(void)state;
	devs.n = 0;
	dword_mem(&r1, 0xd0000000, 0x1000);
	small_irq(&r1, 5, false, true);
	end_tag(&r1);
	device(&devs, "VIO0", "LNRO0005", &r1, true, 0);
	ext_irq(&r2, 33, true, true);
	qword_mem(&r2, 0xfe000000, 0x200);
	mem32fixed(&r2, 0x12340000, 0x200); /* a second window: ignored */
	ext_irq(&r2, 34, false, false); /* a second interrupt: ignored */
	end_tag(&r2);
	device(&devs, "VIO1", "LNRO0005", &r2, false, 0);
	small_irq(&r3, 7, true, false);
	end_tag(&r3); /* no window: no device */
	device(&devs, "VIO2", "LNRO0005", &r3, false, 0);
	finish(&table, &devs);
	virtio_find_windows();
	assert_int_equal(nfound, 2);
	assert_int_equal(found[0].base, 0xd0000000);
	assert_int_equal(found[0].gsi, 5);
	assert_int_equal(found[0].flags, INTI_LEVEL_LOW);
	assert_int_equal(found[1].base, 0xfe000000);
	assert_int_equal(found[1].gsi, 33);
	assert_int_equal(found[1].flags, INTI_EDGE_LOW);
}

static void test_long_device_and_neighbours(void **state)
{
	static struct aml table, devs;
	struct aml res = { .n = 0 }, uart = { .n = 0 };

	(void)state;
	devs.n = 0;
	mem32fixed(&uart, 0x3f8, 8);
	small_irq(&uart, 4, true, false);
	end_tag(&uart);
	device(&devs, "COM1", "PNP0501", &uart, false, 0);
	mem32fixed(&res, 0xfeb00000, 0x200);
	ext_irq(&res, 16, true, false);
	end_tag(&res);
	device(&devs, "VR00", "LNRO0005", &res, false, 100); /* 2-byte pkg */
	qemu_device(&devs, "VR01", 0xfeb00200, 17);
	finish(&table, &devs);
	virtio_find_windows();
	assert_int_equal(nfound, 2);
	assert_int_equal(found[0].base, 0xfeb00000);
	assert_int_equal(found[0].flags, INTI_EDGE_HIGH);
	assert_int_equal(found[1].base, 0xfeb00200);
	assert_int_equal(found[1].gsi, 17);
}

/* Every truncation: no window, or exactly the right one. */
static void test_truncated(void **state)
{
	static struct aml table, devs;
	uint32_t full;

	(void)state;
	devs.n = 0;
	qemu_device(&devs, "VR23", 0xfeb02e00, 47);
	finish(&table, &devs);
	full = dsdt_len;
	for (dsdt_len = 0; dsdt_len < full; dsdt_len++) {
		nfound = 0;
		virtio_find_windows();
		assert_true(nfound <= 1);
		if (nfound)
			assert_int_equal(found[0].base, 0xfeb02e00);
	}
}

/* Random bytes (and random bytes after a real device) never crash. */
static void test_garbage(void **state)
{
	static struct aml table;
	unsigned int round, i;

	(void)state;
	srand(7);
	for (round = 0; round < 3000; round++) {
		table.n = 36 + (size_t)(rand() % 600);
		for (i = 36; i < table.n; i++) {
			int r = rand() % 8;

			/* Bias toward AML the parser looks for. */
			table.b[i] = r == 0 ? 0x5b :
				     r == 1 ? 0x82 :
				     r == 2 ? 0x08 :
					      (uint8_t)rand();
		}
		dsdt = table.b;
		dsdt_len = (uint32_t)table.n;
		nfound = 0;
		virtio_find_windows();
	}
	dsdt = NULL;
}

static void test_no_dsdt(void **state)
{
	(void)state;
	virtio_find_windows();
	assert_int_equal(nfound, 0);
}

static void test_cmdline(void **state)
{
	(void)state;
	tokens[0] = "512@0xfeb00e00:12";
	tokens[1] = "4K@0xd0001000:5:3";
	tokens[2] = "0x200@4096:7";
	virtio_find_windows();
	assert_int_equal(nfound, 3);
	assert_int_equal(found[0].base, 0xfeb00e00);
	assert_int_equal(found[0].gsi, 12);
	assert_int_equal(found[0].flags, INTI_LEVEL_HIGH);
	assert_string_equal(found[0].source, "cmdline");
	assert_int_equal(found[1].base, 0xd0001000);
	assert_int_equal(found[1].gsi, 5);
	assert_int_equal(found[2].base, 4096);
	assert_int_equal(found[2].gsi, 7);
}

static void test_cmdline_bad(void **state)
{
	static const char *const bad[] = {
		"512",	       "512@",	      "512@0xfeb00e00", "@0x1000:5",
		"512@0x1000:", "64@0x1000:5", "512@0x1000:5x",	"512#0x1000:5"
	};
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		reset(NULL);
		tokens[0] = bad[i];
		if (!setjmp(on_fail)) {
			virtio_find_windows();
			fail_msg("token %s accepted", bad[i]);
		}
		assert_string_equal(failure, "cmdline virtio_mmio.device= is "
					     "not <size>@<base>:<irq>\n");
		assert_int_equal(nfound, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_qemu_microvm_shape, reset),
		cmocka_unit_test_setup(test_other_descriptors, reset),
		cmocka_unit_test_setup(test_long_device_and_neighbours, reset),
		cmocka_unit_test_setup(test_truncated, reset),
		cmocka_unit_test_setup(test_garbage, reset),
		cmocka_unit_test_setup(test_no_dsdt, reset),
		cmocka_unit_test_setup(test_cmdline, reset),
		cmocka_unit_test_setup(test_cmdline_bad, reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
