/*
 * Unit tests of the ACPI tables, read back from guest RAM byte by byte at
 * the offsets of the ACPI 6.5 specification: RSDP (5.2.5.3), table header
 * (5.2.6), XSDT (5.2.8), FADT (5.2.9), MADT (5.2.12), the DSDT's AML
 * (chapter 20: \_S5, the virtio-mmio devices, whose PkgLength encodings
 * are decoded and checked, the platform's slot 0 device, the power
 * button and the Generic Event Device, compared with hand-assembled
 * bytes; the MADT overrides for virtio devices on ISA IRQs), and the
 * configuration and space errors. The expected AML was worked out from
 * the grammar of chapter 20; `iasl -d` disassembles it to the ASL in the
 * comments, and `iasl -oa` compiles that ASL back to the same bytes.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "boot_test.h"
#include "vmm/x86/acpi.h"
#include "vmm/x86/layout.h"

#define MEM_SIZE (64 * MIB)

struct fixture {
	struct guest_mem mem;
	uint64_t rsdp;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || mem_init(&f->mem, MEM_SIZE))
		return -1;
	/* Stale bytes in the area must not survive acpi_build(). */
	memset(guest(&f->mem, LAYOUT_ACPI, LAYOUT_ACPI_END - LAYOUT_ACPI), 0xaa,
	       LAYOUT_ACPI_END - LAYOUT_ACPI);
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

static int build(struct fixture *f, const struct acpi_config *cfg)
{
	return acpi_build(&f->mem, cfg, &f->rsdp);
}

/*
 * Common header checks; returns a pointer to the table. Every table lies
 * inside the ACPI area, sums to zero and carries OEM ID "GODWIT".
 */
static uint8_t *table_at(struct fixture *f, uint64_t gpa, const char *sig,
			 uint8_t revision)
{
	uint8_t *t = guest(&f->mem, gpa, 36);
	uint32_t len;

	assert_non_null(t);
	assert_memory_equal(t, sig, 4);
	len = (uint32_t)le(t, 4, 4);
	assert_true(len >= 36);
	assert_true(gpa >= LAYOUT_ACPI && gpa + len <= LAYOUT_ACPI_END);
	assert_int_equal(t[8], revision);
	assert_int_equal(byte_sum(t, len), 0);
	assert_memory_equal(t + 10, "GODWIT", 6);
	return t;
}

/* Address of the table with signature sig listed in the XSDT (or 0). */
static uint64_t xsdt_find(struct fixture *f, const char *sig)
{
	uint8_t *x = guest(&f->mem, le(guest(&f->mem, f->rsdp, 36), 24, 8), 36);
	uint32_t n = ((uint32_t)le(x, 4, 4) - 36) / 8, i;

	for (i = 0; i < n; i++) {
		uint64_t gpa = le(x, 36 + 8 * i, 8);

		if (!memcmp(guest(&f->mem, gpa, 4), sig, 4))
			return gpa;
	}
	return 0;
}

static void test_rsdp_xsdt(void **state)
{
	struct fixture *f = *state;
	struct acpi_config cfg = { .nr_vcpus = 2 };
	uint8_t *r, *x;

	assert_int_equal(build(f, &cfg), 0);
	assert_int_equal(f->rsdp, LAYOUT_ACPI);
	/* RSDP: 16-byte aligned in 0xe0000..0xfffff for the legacy scan. */
	assert_true(f->rsdp >= 0xe0000 && f->rsdp + 36 <= 0x100000);
	assert_int_equal(f->rsdp % 16, 0);
	r = guest(&f->mem, f->rsdp, 36);
	assert_memory_equal(r, "RSD PTR ", 8);
	assert_int_equal(byte_sum(r, 20), 0); /* checksum, offset 8 */
	assert_memory_equal(r + 9, "GODWIT", 6); /* OEMID */
	assert_int_equal(r[15], 2); /* revision */
	assert_int_equal(le(r, 16, 4), 0); /* no RSDT */
	assert_int_equal(le(r, 20, 4), 36); /* length */
	assert_int_equal(byte_sum(r, 36), 0); /* extended checksum, 32 */
	assert_int_equal(le(r, 33, 3), 0); /* reserved */

	x = table_at(f, le(r, 24, 8), "XSDT", 1);
	assert_int_equal(le(x, 4, 4), 36 + 2 * 8);
	assert_memory_equal(guest(&f->mem, le(x, 36, 8), 4), "FACP", 4);
	assert_memory_equal(guest(&f->mem, le(x, 44, 8), 4), "APIC", 4);
	/* Creator ID and revisions of the common header. */
	assert_int_equal(le(x, 24, 4), 1);
	assert_memory_equal(x + 28, "GDWT", 4);
}

/* A SystemIO, byte-wide Generic Address Structure at off. */
static void check_io_gas(const uint8_t *t, size_t off, uint16_t port)
{
	assert_int_equal(t[off], 1); /* address space: SystemIO */
	assert_int_equal(t[off + 1], 8); /* register bit width */
	assert_int_equal(t[off + 2], 0); /* register bit offset */
	assert_int_equal(t[off + 3], 1); /* access size: byte */
	assert_int_equal(le(t, off + 4, 8), port);
}

static void test_fadt(void **state)
{
	struct fixture *f = *state;
	struct acpi_config cfg = { .nr_vcpus = 1 };
	uint64_t gpa, dsdt;
	uint8_t *t;
	size_t off;

	assert_int_equal(build(f, &cfg), 0);
	gpa = xsdt_find(f, "FACP");
	t = table_at(f, gpa, "FACP", 6);
	assert_int_equal(le(t, 4, 4), 276);
	assert_int_equal(le(t, 36, 4), 0); /* FIRMWARE_CTRL: no FACS */
	assert_int_equal(le(t, 40, 4), 0); /* DSDT: X_DSDT is used */
	assert_int_equal(le(t, 76, 4), 0); /* PM_TMR_BLK: no PM timer */
	assert_int_equal(t[91], 0); /* PM_TMR_LEN */
	/* IAPC_BOOT_ARCH: legacy devices, no VGA, no CMOS RTC, no 8042. */
	assert_int_equal(le(t, 109, 2), (1 << 0) | (1 << 2) | (1 << 5));
	/* Flags: HW_REDUCED_ACPI (bit 20) and RESET_REG_SUP (bit 10). */
	assert_int_equal(le(t, 112, 4), (1u << 20) | (1u << 10));
	check_io_gas(t, 116, PORT_ACPI_RESET);
	assert_int_equal(t[128], ACPI_RESET_VALUE);
	assert_int_equal(t[131], 5); /* FADT minor version: ACPI 6.5 */
	assert_int_equal(le(t, 132, 8), 0); /* X_FIRMWARE_CTRL */
	dsdt = le(t, 140, 8); /* X_DSDT */
	table_at(f, dsdt, "DSDT", 2);
	/* X_PM1a_EVT_BLK .. X_GPE1_BLK: all absent in hardware-reduced. */
	for (off = 148; off < 244; off++)
		assert_int_equal(t[off], 0);
	check_io_gas(t, 244, PORT_ACPI_SLEEP_CTL);
	check_io_gas(t, 256, PORT_ACPI_SLEEP_STS);
	assert_memory_equal(t + 268, "GODWITVM", 8);
}

/* Name(_S5, Package() { 5, 0, 0, 0 }), hand-assembled. */
static const uint8_t s5_aml[] = {
	0x08, '_',
	'S',  '5',
	'_', /* NameOp, NameSeg */
	0x12, 0x07,
	0x04, /* PackageOp, PkgLength 7, NumElements 4 */
	0x0a, ACPI_SLP_TYP_S5, /* BytePrefix 5 */
	0x00, 0x00,
	0x00, /* ZeroOp x 3 */
};

/* Decode a PkgLength at p: value in *len, encoding size returned. */
static size_t pkglength(const uint8_t *p, size_t *len)
{
	size_t n = (p[0] >> 6) + 1, i;

	if (n == 1) {
		*len = p[0] & 0x3f;
		return 1;
	}
	*len = p[0] & 0x0f;
	for (i = 1; i < n; i++)
		*len |= (size_t)p[i] << (4 + 8 * (i - 1));
	return n;
}

/* One Device(VRnn) of the \_SB scope; returns the bytes it spans. */
static size_t check_virtio_device(const uint8_t *p, unsigned int i,
				  const struct acpi_virtio_mmio *d)
{
	static const char hex[] = "0123456789ABCDEF";
	const char name[4] = { 'V', 'R', hex[i >> 4], hex[i & 15] };
	size_t len, n, crs_len;
	const uint8_t *q, *res;

	assert_int_equal(p[0], 0x5b); /* ExtOpPrefix */
	assert_int_equal(p[1], 0x82); /* DeviceOp */
	n = pkglength(p + 2, &len);
	q = p + 2 + n;
	assert_memory_equal(q, name, 4);
	assert_memory_equal(q + 4, "\x08_HID\x0dLNRO0005", 15);
	q += 4 + 15;
	assert_memory_equal(q, "\x08_UID", 5);
	q += 5;
	if (i <= 1) {
		assert_int_equal(q[0], i); /* ZeroOp / OneOp */
		q += 1;
	} else {
		assert_int_equal(q[0], 0x0a);
		assert_int_equal(q[1], i);
		q += 2;
	}
	assert_memory_equal(q, "\x08_CCA\x01", 6); /* _CCA One */
	q += 6;
	assert_memory_equal(q, "\x08_CRS\x11", 6); /* NameOp, BufferOp */
	n = pkglength(q + 6, &crs_len);
	assert_int_equal(crs_len, n + 2 + 23);
	assert_int_equal(q[6 + n], 0x0a); /* BufferSize: BytePrefix 23 */
	assert_int_equal(q[7 + n], 23);
	res = q + 8 + n;
	/* Memory32Fixed: tag 0x86, length 9, read-write, base, length. */
	assert_memory_equal(res, "\x86\x09\x00\x01", 4);
	assert_int_equal(le(res, 4, 4), d->base);
	assert_int_equal(le(res, 8, 4), d->size);
	/* Extended interrupt: consumer, level, active-high, exclusive. */
	assert_memory_equal(res + 12, "\x89\x06\x00\x01\x01", 5);
	assert_int_equal(le(res, 17, 4), d->gsi);
	assert_memory_equal(res + 21, "\x79\x00", 2); /* end tag */
	/* The device's PkgLength covers exactly what was read. */
	assert_int_equal(2 + len, (size_t)(res + 23 - p));
	return 2 + len;
}

/*
 * Hand-assembled AML, one production per line (clang-format would put
 * every byte on its own line).
 */
/* clang-format off */

/* Device(PWRB) { Name(_HID, EisaId("PNP0C0C")) } */
static const uint8_t pwrb_aml[] = {
	0x5b, 0x82, 0x0f,		/* DeviceOp, PkgLength 15 */
	'P', 'W', 'R', 'B',		/* NameSeg */
	0x08, '_', 'H', 'I', 'D',	/* NameOp _HID */
	/* DWordConst: "PNP" in 5-bit letters 0x41d0, product 0x0c0c,
	 * both big-endian. */
	0x0c, 0x41, 0xd0, 0x0c, 0x0c,
};

/*
 * Device(GED0) {
 *     Name(_HID, "ACPI0013")
 *     Name(_CRS, ResourceTemplate() {
 *         Interrupt(ResourceConsumer, Level, ActiveHigh, Exclusive) { 9 }
 *     })
 *     OperationRegion(GEDR, SystemIO, 0x0608, One)
 *     Field(GEDR, ByteAcc, NoLock, WriteAsZeros) { STAT, 8 }
 *     Method(_EVT, 1, NotSerialized) {
 *         Local0 = STAT
 *         If ((Local0 & One)) {
 *             STAT = One
 *             Notify(\_SB.PWRB, 0x80)
 *         }
 *     }
 * }
 */
static const uint8_t ged_aml[] = {
	/* DeviceOp, PkgLength 103 in two bytes: 0x40 | (103 & 0xf), 103 >> 4 */
	0x5b, 0x82, 0x47, 0x06,
	'G', 'E', 'D', '0',
	0x08, '_', 'H', 'I', 'D',	/* NameOp _HID, String */
	0x0d, 'A', 'C', 'P', 'I', '0', '0', '1', '3', 0x00,
	0x08, '_', 'C', 'R', 'S',	/* NameOp _CRS */
	0x11, 0x0e, 0x0a, 0x0b,		/* BufferOp, PkgLength 14, BufferSize 11 */
	/* Extended Interrupt: tag, length 6, flags consumer | level |
	 * active-high | exclusive, one interrupt: GSI 9. */
	0x89, 0x06, 0x00, 0x01, 0x01, 0x09, 0x00, 0x00, 0x00,
	0x79, 0x00,			/* End tag */
	/* OpRegionOp GEDR, SystemIO, WordConst 0x0608, One */
	0x5b, 0x80, 'G', 'E', 'D', 'R', 0x01, 0x0b, 0x08, 0x06, 0x01,
	/* FieldOp, PkgLength 11, GEDR, ByteAcc | NoLock | WriteAsZeros,
	 * NamedField STAT of 8 bits */
	0x5b, 0x81, 0x0b, 'G', 'E', 'D', 'R', 0x41, 'S', 'T', 'A', 'T', 0x08,
	/* MethodOp, PkgLength 37, _EVT, one argument, not serialized */
	0x14, 0x25, '_', 'E', 'V', 'T', 0x01,
	0x70, 'S', 'T', 'A', 'T', 0x60,	/* Store(STAT, Local0) */
	0xa0, 0x18,			/* IfOp, PkgLength 24 */
	0x7b, 0x60, 0x01, 0x00,		/* And(Local0, One, NullName) */
	0x70, 0x01, 'S', 'T', 'A', 'T',	/* Store(One, STAT) */
	/* NotifyOp, \ DualNamePrefix _SB_ PWRB, BytePrefix 0x80 */
	0x86, 0x5c, 0x2e, '_', 'S', 'B', '_', 'P', 'W', 'R', 'B', 0x0a, 0x80,
};

/*
 * Device(VR00) {                   // virtio-mmio slot 0 (layout.h)
 *     Name(_HID, "LNRO0005")
 *     Name(_UID, Zero)
 *     Name(_CCA, One)
 *     Name(_CRS, ResourceTemplate() {
 *         Memory32Fixed(ReadWrite, 0xD0000000, 0x00000200)
 *         Interrupt(ResourceConsumer, Level, ActiveHigh, Exclusive) { 16 }
 *     })
 * }
 */
static const uint8_t vr00_aml[] = {
	/* DeviceOp, PkgLength 65 in two bytes: 0x40 | (65 & 0xf), 65 >> 4 */
	0x5b, 0x82, 0x41, 0x04,
	'V', 'R', '0', '0',
	0x08, '_', 'H', 'I', 'D',	/* NameOp _HID, String */
	0x0d, 'L', 'N', 'R', 'O', '0', '0', '0', '5', 0x00,
	0x08, '_', 'U', 'I', 'D', 0x00,	/* NameOp _UID, ZeroOp */
	0x08, '_', 'C', 'C', 'A', 0x01,	/* NameOp _CCA, OneOp */
	0x08, '_', 'C', 'R', 'S',	/* NameOp _CRS */
	0x11, 0x1a, 0x0a, 0x17,		/* BufferOp, PkgLength 26, BufferSize 23 */
	/* Memory32Fixed: tag, length 9, read-write, base, length */
	0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xd0, 0x00, 0x02, 0x00, 0x00,
	/* Extended Interrupt: tag, length 6, consumer | level | active-high
	 * | exclusive, one interrupt: GSI 16 */
	0x89, 0x06, 0x00, 0x01, 0x01, 0x10, 0x00, 0x00, 0x00,
	0x79, 0x00,			/* End tag */
};

/* clang-format on */

/* A Device whose PkgLength covers exactly the expected bytes. */
static size_t check_device_bytes(const uint8_t *p, const uint8_t *want,
				 size_t n)
{
	size_t len;

	assert_memory_equal(p, want, n);
	pkglength(p + 2, &len);
	assert_int_equal(2 + len, n);
	return n;
}

static void check_virtio_dsdt(struct fixture *f, const struct acpi_config *cfg)
{
	uint8_t *t, *p;
	size_t total, len, n, pos;
	unsigned int i;

	assert_int_equal(build(f, cfg), 0);
	t = table_at(f, le(guest(&f->mem, xsdt_find(f, "FACP"), 148), 140, 8),
		     "DSDT", 2);
	total = le(t, 4, 4);
	assert_memory_equal(t + 36, s5_aml, sizeof(s5_aml));
	p = t + 36 + sizeof(s5_aml);
	assert_int_equal(p[0], 0x10); /* ScopeOp */
	n = pkglength(p + 1, &len);
	/* The scope runs to the end of the table. */
	assert_int_equal(36 + sizeof(s5_aml) + 1 + len, total);
	assert_memory_equal(p + 1 + n, "\\_SB_", 5);
	pos = 1 + n + 5;
	for (i = 0; i < cfg->nr_virtio_mmio; i++)
		pos += check_virtio_device(p + pos, i, &cfg->virtio_mmio[i]);
	pos += check_device_bytes(p + pos, pwrb_aml, sizeof(pwrb_aml));
	pos += check_device_bytes(p + pos, ged_aml, sizeof(ged_aml));
	assert_int_equal(pos, 1 + len);
}

/* Without virtio devices: \_S5, then \_SB with PWRB and GED0 only. */
static void test_dsdt_s5_ged(void **state)
{
	struct fixture *f = *state;
	struct acpi_config cfg = { .nr_vcpus = 1 };
	/* clang-format off */
	static const uint8_t scope[] = {
		0x10, 0x41, 0x08,	/* ScopeOp, PkgLength 129 in 2 bytes */
		0x5c, '_', 'S', 'B', '_', /* \_SB_ */
	};
	/* clang-format on */
	uint8_t *t;

	check_virtio_dsdt(f, &cfg);
	t = table_at(f, le(guest(&f->mem, xsdt_find(f, "FACP"), 148), 140, 8),
		     "DSDT", 2);
	assert_int_equal(le(t, 4, 4), 36 + sizeof(s5_aml) + sizeof(scope) +
					      sizeof(pwrb_aml) +
					      sizeof(ged_aml));
	assert_memory_equal(t + 36 + sizeof(s5_aml), scope, sizeof(scope));
}

static void test_dsdt_virtio(void **state)
{
	struct fixture *f = *state;
	struct acpi_config cfg = { .nr_vcpus = 1, .nr_virtio_mmio = 2 };
	unsigned int i;

	cfg.virtio_mmio[0] =
		(struct acpi_virtio_mmio){ LAYOUT_VIRTIO_MMIO, 0x1000, 5 };
	cfg.virtio_mmio[1] =
		(struct acpi_virtio_mmio){ LAYOUT_VIRTIO_MMIO + 0x1000, 0x1000,
					   6 };
	check_virtio_dsdt(f, &cfg);
	/* 32 devices: multi-byte PkgLength for the scope; GSIs 10-23. */
	cfg.nr_virtio_mmio = ACPI_MAX_VIRTIO_MMIO;
	for (i = 0; i < ACPI_MAX_VIRTIO_MMIO; i++)
		cfg.virtio_mmio[i] = (struct acpi_virtio_mmio){
			LAYOUT_VIRTIO_MMIO + i * 0x1000ULL, 0x1000, 10 + i % 14
		};
	check_virtio_dsdt(f, &cfg);
}

/* The platform's console0 (slot 0): exactly the bytes of vr00_aml. */
static void test_dsdt_virtio_slot0(void **state)
{
	struct fixture *f = *state;
	struct acpi_config cfg = { .nr_vcpus = 1, .nr_virtio_mmio = 1 };
	uint8_t *t, *p;
	size_t len, n;

	cfg.virtio_mmio[0] = (struct acpi_virtio_mmio){ LAYOUT_VIRTIO_MMIO,
							LAYOUT_VIRTIO_MMIO_SIZE,
							LAYOUT_VIRTIO_GSI(0) };
	check_virtio_dsdt(f, &cfg);
	t = table_at(f, le(guest(&f->mem, xsdt_find(f, "FACP"), 148), 140, 8),
		     "DSDT", 2);
	p = t + 36 + sizeof(s5_aml);
	n = pkglength(p + 1, &len);
	check_device_bytes(p + 1 + n + 5, vr00_aml, sizeof(vr00_aml));
	assert_int_equal(le(t, 4, 4),
			 36 + sizeof(s5_aml) + 1 + n + 5 + sizeof(vr00_aml) +
				 sizeof(pwrb_aml) + sizeof(ged_aml));
}

static void check_madt(struct fixture *f, unsigned int nr_vcpus,
		       uint8_t ioapic_id)
{
	struct acpi_config cfg = { .nr_vcpus = nr_vcpus,
				   .ioapic_id = ioapic_id };
	uint8_t *t, *e;
	unsigned int i;

	assert_int_equal(build(f, &cfg), 0);
	t = table_at(f, xsdt_find(f, "APIC"), "APIC", 5);
	assert_int_equal(le(t, 4, 4), 44 + 8 * nr_vcpus + 12 + 10 + 10);
	assert_int_equal(le(t, 36, 4), LAYOUT_LAPIC); /* local APIC address */
	assert_int_equal(le(t, 40, 4), 1); /* PCAT_COMPAT */
	e = t + 44;
	for (i = 0; i < nr_vcpus; i++, e += 8) {
		assert_int_equal(e[0], 0); /* Processor Local APIC */
		assert_int_equal(e[1], 8);
		assert_int_equal(e[2], i); /* ACPI processor UID */
		assert_int_equal(e[3], i); /* APIC ID */
		assert_int_equal(le(e, 4, 4), 1); /* enabled */
	}
	assert_int_equal(e[0], 1); /* I/O APIC */
	assert_int_equal(e[1], 12);
	assert_int_equal(e[2], ioapic_id);
	assert_int_equal(e[3], 0);
	assert_int_equal(le(e, 4, 4), LAYOUT_IOAPIC);
	assert_int_equal(le(e, 8, 4), 0); /* GSI base */
	e += 12;
	assert_int_equal(e[0], 2); /* Interrupt Source Override */
	assert_int_equal(e[1], 10);
	assert_int_equal(e[2], 0); /* bus: ISA */
	assert_int_equal(e[3], 0); /* source: IRQ0 */
	assert_int_equal(le(e, 4, 4), 2); /* GSI 2 */
	assert_int_equal(le(e, 8, 2), 0); /* conforms to the bus */
	e += 10;
	assert_int_equal(e[0], 2); /* Interrupt Source Override */
	assert_int_equal(e[1], 10);
	assert_int_equal(e[2], 0); /* bus: ISA */
	assert_int_equal(e[3], PORT_ACPI_GED_IRQ); /* source: IRQ9 */
	assert_int_equal(le(e, 4, 4), PORT_ACPI_GED_IRQ); /* GSI 9 */
	/* MPS INTI flags: active-high (01), level-triggered (11 << 2). */
	assert_int_equal(le(e, 8, 2), 0x0d);
}

static void test_madt(void **state)
{
	struct fixture *f = *state;

	check_madt(f, 1, 0);
	check_madt(f, 2, 0);
	check_madt(f, 4, 8);
	check_madt(f, ACPI_MAX_VCPUS, 0);
}

/*
 * virtio-mmio devices on ISA IRQs get a level, active-high override each
 * (once per IRQ, in IRQ order); pins 16-23 need none.
 */
static void test_madt_virtio(void **state)
{
	struct fixture *f = *state;
	struct acpi_config cfg = { .nr_vcpus = 1, .nr_virtio_mmio = 4 };
	static const uint32_t gsis[] = { 16, 10, 5, 10 };
	unsigned int i;
	uint8_t *t, *e;

	for (i = 0; i < 4; i++)
		cfg.virtio_mmio[i] = (struct acpi_virtio_mmio){
			LAYOUT_VIRTIO_MMIO + i * LAYOUT_VIRTIO_MMIO_STRIDE,
			LAYOUT_VIRTIO_MMIO_SIZE, gsis[i]
		};
	assert_int_equal(build(f, &cfg), 0);
	t = table_at(f, xsdt_find(f, "APIC"), "APIC", 5);
	assert_int_equal(le(t, 4, 4), 44 + 8 + 12 + 4 * 10);
	e = t + 44 + 8 + 12 + 2 * 10; /* after the IRQ0 and IRQ9 overrides */
	for (i = 0; i < 2; i++, e += 10) {
		assert_memory_equal(e, "\x02\x0a\x00", 3); /* ISO, ISA */
		assert_int_equal(e[3], i ? 10 : 5); /* source IRQ */
		assert_int_equal(le(e, 4, 4), i ? 10 : 5); /* same GSI */
		assert_int_equal(le(e, 8, 2), 0x0d); /* level, active-high */
	}
}

/* Nothing but the tables: the rest of the area reads as zero. */
static void test_area_zeroed(void **state)
{
	struct fixture *f = *state;
	struct acpi_config cfg = { .nr_vcpus = 3 };
	uint64_t end = 0, gpa;
	const char *sigs[] = { "FACP", "APIC", "XSDT" };
	uint8_t *area;
	unsigned int i;

	assert_int_equal(build(f, &cfg), 0);
	for (i = 0; i < 3; i++) {
		gpa = i < 2 ? xsdt_find(f, sigs[i]) :
			      le(guest(&f->mem, f->rsdp, 36), 24, 8);
		end = MAX(end, gpa + le(guest(&f->mem, gpa, 8), 4, 4));
	}
	area = guest(&f->mem, LAYOUT_ACPI, LAYOUT_ACPI_END - LAYOUT_ACPI);
	for (gpa = end; gpa < LAYOUT_ACPI_END; gpa++)
		assert_int_equal(area[gpa - LAYOUT_ACPI], 0);
	assert_true(end - LAYOUT_ACPI < 4096);
}

static void test_config_errors(void **state)
{
	struct fixture *f = *state;
	struct acpi_config cfg = { .nr_vcpus = 0 };
	uint8_t *area = guest(&f->mem, LAYOUT_ACPI, 16);

	assert_int_equal(build(f, &cfg), -EINVAL);
	cfg.nr_vcpus = ACPI_MAX_VCPUS + 1;
	assert_int_equal(build(f, &cfg), -EINVAL);
	cfg.nr_vcpus = 1;
	cfg.ioapic_id = 0xff;
	assert_int_equal(build(f, &cfg), -EINVAL);
	cfg.ioapic_id = 0;
	cfg.nr_virtio_mmio = ACPI_MAX_VIRTIO_MMIO + 1;
	assert_int_equal(build(f, &cfg), -EINVAL);
	cfg.nr_virtio_mmio = 1;
	cfg.virtio_mmio[0] =
		(struct acpi_virtio_mmio){ LAYOUT_VIRTIO_MMIO, 0x1000, 24 };
	assert_int_equal(build(f, &cfg), -EINVAL);
	/* The GED's, the UART's and the timer's GSIs are not for virtio. */
	cfg.virtio_mmio[0].gsi = PORT_ACPI_GED_IRQ;
	assert_int_equal(build(f, &cfg), -EINVAL);
	cfg.virtio_mmio[0].gsi = PORT_SERIAL0_IRQ;
	assert_int_equal(build(f, &cfg), -EINVAL);
	cfg.virtio_mmio[0].gsi = 2;
	assert_int_equal(build(f, &cfg), -EINVAL);
	cfg.virtio_mmio[0].gsi = 0;
	assert_int_equal(build(f, &cfg), -EINVAL);
	cfg.virtio_mmio[0] = (struct acpi_virtio_mmio){ 0xfffff000, 0x2000, 5 };
	assert_int_equal(build(f, &cfg), -EINVAL);
	cfg.virtio_mmio[0].size = 0;
	assert_int_equal(build(f, &cfg), -EINVAL);
	/* Rejected configs leave the area as it was. */
	assert_int_equal(area[0], 0xaa);
}

static void test_space_errors(void **state)
{
	struct fixture *f = *state;
	struct acpi_config cfg = { .nr_vcpus = ACPI_MAX_VCPUS };
	uint64_t rsdp = 0;

	/* 255 vCPUs need a 2106-byte MADT alone. */
	assert_int_equal(acpi_build_range(&f->mem, &cfg, 0x200000, 0x200800,
					  &rsdp),
			 -ENOSPC);
	cfg.nr_vcpus = 1;
	assert_int_equal(acpi_build_range(&f->mem, &cfg, 0x200000, 0x200040,
					  &rsdp),
			 -ENOSPC);
	assert_int_equal(rsdp, 0);
	/* Not guest RAM, not aligned, empty. */
	assert_int_equal(acpi_build_range(&f->mem, &cfg, MEM_SIZE - 0x1000,
					  MEM_SIZE + 0x1000, &rsdp),
			 -EFAULT);
	assert_int_equal(acpi_build_range(&f->mem, &cfg, 0x200008, 0x210000,
					  &rsdp),
			 -EINVAL);
	assert_int_equal(acpi_build_range(&f->mem, &cfg, 0x200000, 0x200000,
					  &rsdp),
			 -EINVAL);
	/* Elsewhere in RAM, with room: the same tables, relocated. */
	assert_int_equal(
		acpi_build_range(&f->mem, &cfg, 0x200000, 0x210000, &rsdp), 0);
	assert_int_equal(rsdp, 0x200000);
	assert_memory_equal(guest(&f->mem, rsdp, 8), "RSD PTR ", 8);
	assert_int_equal(byte_sum(guest(&f->mem, rsdp, 36), 36), 0);
}

/* The same config gives the same bytes: tables are deterministic. */
static void test_deterministic(void **state)
{
	struct fixture *f = *state;
	struct acpi_config cfg = { .nr_vcpus = 7, .ioapic_id = 1 };
	size_t n = LAYOUT_ACPI_END - LAYOUT_ACPI;
	uint8_t *copy = malloc(n);

	assert_non_null(copy);
	assert_int_equal(build(f, &cfg), 0);
	memcpy(copy, guest(&f->mem, LAYOUT_ACPI, n), n);
	assert_int_equal(build(f, &cfg), 0);
	assert_memory_equal(copy, guest(&f->mem, LAYOUT_ACPI, n), n);
	free(copy);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rsdp_xsdt, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fadt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dsdt_s5_ged, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_dsdt_virtio_slot0, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_madt_virtio, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_dsdt_virtio, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_madt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_area_zeroed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_config_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_space_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_deterministic, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
