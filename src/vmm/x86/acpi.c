/*
 * ACPI tables (ACPI 6.5) for a hardware-reduced guest, built in a host
 * buffer and copied into guest RAM in one write.
 *
 * Layout of the area [start, end), each table at a 16-byte boundary in
 * this order (the order is fixed, so the same config gives the same bytes):
 *
 *   start+0  RSDP  36 bytes, revision 2, XSDT address only (no RSDT)
 *            DSDT  36 + AML: \_S5 package, then \_SB: virtio-mmio
 *                  devices, the power button PWRB and the Generic Event
 *                  Device GED0 that presses it (AML spelled by aml.c)
 *            FADT  276 bytes, revision 6: HW_REDUCED_ACPI, sleep control
 *                  and status registers and the reset register in SystemIO
 *                  space at the PORT_ACPI_* ports, no PM timer, no FACS
 *            MADT  44 + 8 per vCPU + 12 (I/O APIC) + 10 (IRQ0 -> GSI 2)
 *                  + 10 (IRQ9: GSI 9, level, active-high: the GED)
 *                  + 10 per ISA IRQ a virtio-mmio device uses (level)
 *            XSDT  36 + 8 per table: FADT, MADT
 *
 * With 255 vCPUs and 32 virtio-mmio devices this is under 8 KiB of the
 * 128 KiB layout.h gives it. Every table's checksum makes its bytes sum to
 * zero; the RSDP has two (first 20 bytes, all 36 bytes).
 *
 * MADT PCAT_COMPAT is set: KVM's in-kernel irqchip does have the two 8259
 * PICs, and the flag tells the guest to mask them before using the I/O
 * APIC. The IRQ0 -> GSI 2 override is the PC convention (the PIT reaches
 * I/O APIC pin 2), so the VM's GSI routing must send the PIT there too.
 * The IRQ9 override states the GED's trigger mode (as PCs do for their
 * SCI on IRQ 9), so the MADT and the GED's _CRS agree; likewise one
 * override per ISA IRQ (below 16) that a virtio-mmio device's
 * level-triggered line uses. virtio-mmio devices on pins 16-23 need none.
 */
#include "vmm/x86/acpi.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "vmm/x86/aml.h"
#include "vmm/x86/layout.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "ACPI tables are little-endian; so must the host be");

#define ACPI_OEM_TABLE_ID "GODWITVM"
#define ACPI_CREATOR_ID "GDWT"
#define ACPI_HYPERVISOR_ID "GODWITVM"
#define ACPI_TABLE_ALIGN 16

/* Common header of every table but the RSDP (ACPI 6.5, 5.2.6). */
struct acpi_header {
	char signature[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	char creator_id[4];
	uint32_t creator_revision;
} __packed;
_Static_assert(sizeof(struct acpi_header) == 36, "table header");

/* Root System Description Pointer (5.2.5.3). */
struct acpi_rsdp {
	char signature[8];
	uint8_t checksum; /* over the first 20 bytes (ACPI 1.0 part) */
	char oem_id[6];
	uint8_t revision;
	uint32_t rsdt_address;
	uint32_t length;
	uint64_t xsdt_address;
	uint8_t extended_checksum; /* over all 36 bytes */
	uint8_t reserved[3];
} __packed;
_Static_assert(sizeof(struct acpi_rsdp) == 36, "RSDP");

/* Generic Address Structure (5.2.3.2). */
struct acpi_gas {
	uint8_t space_id;
	uint8_t bit_width;
	uint8_t bit_offset;
	uint8_t access_size;
	uint64_t address;
} __packed;
_Static_assert(sizeof(struct acpi_gas) == 12, "GAS");

#define ACPI_GAS_SYSTEM_IO 1
#define ACPI_GAS_ACCESS_BYTE 1

/* Fixed ACPI Description Table, revision 6 (5.2.9). */
struct acpi_fadt {
	struct acpi_header header;
	uint32_t firmware_ctrl;
	uint32_t dsdt;
	uint8_t reserved0;
	uint8_t preferred_pm_profile;
	uint16_t sci_int;
	uint32_t smi_cmd;
	uint8_t acpi_enable;
	uint8_t acpi_disable;
	uint8_t s4bios_req;
	uint8_t pstate_cnt;
	uint32_t pm1a_evt_blk;
	uint32_t pm1b_evt_blk;
	uint32_t pm1a_cnt_blk;
	uint32_t pm1b_cnt_blk;
	uint32_t pm2_cnt_blk;
	uint32_t pm_tmr_blk;
	uint32_t gpe0_blk;
	uint32_t gpe1_blk;
	uint8_t pm1_evt_len;
	uint8_t pm1_cnt_len;
	uint8_t pm2_cnt_len;
	uint8_t pm_tmr_len;
	uint8_t gpe0_blk_len;
	uint8_t gpe1_blk_len;
	uint8_t gpe1_base;
	uint8_t cst_cnt;
	uint16_t p_lvl2_lat;
	uint16_t p_lvl3_lat;
	uint16_t flush_size;
	uint16_t flush_stride;
	uint8_t duty_offset;
	uint8_t duty_width;
	uint8_t day_alrm;
	uint8_t mon_alrm;
	uint8_t century;
	uint16_t iapc_boot_arch;
	uint8_t reserved1;
	uint32_t flags;
	struct acpi_gas reset_reg;
	uint8_t reset_value;
	uint16_t arm_boot_arch;
	uint8_t minor_version;
	uint64_t x_firmware_ctrl;
	uint64_t x_dsdt;
	struct acpi_gas x_pm1a_evt_blk;
	struct acpi_gas x_pm1b_evt_blk;
	struct acpi_gas x_pm1a_cnt_blk;
	struct acpi_gas x_pm1b_cnt_blk;
	struct acpi_gas x_pm2_cnt_blk;
	struct acpi_gas x_pm_tmr_blk;
	struct acpi_gas x_gpe0_blk;
	struct acpi_gas x_gpe1_blk;
	struct acpi_gas sleep_control_reg;
	struct acpi_gas sleep_status_reg;
	uint64_t hypervisor_vendor_id;
} __packed;
_Static_assert(sizeof(struct acpi_fadt) == 276, "FADT rev 6");
_Static_assert(offsetof(struct acpi_fadt, flags) == 112, "FADT flags");
_Static_assert(offsetof(struct acpi_fadt, reset_reg) == 116, "RESET_REG");
_Static_assert(offsetof(struct acpi_fadt, x_dsdt) == 140, "X_DSDT");
_Static_assert(offsetof(struct acpi_fadt, sleep_control_reg) == 244,
	       "SLEEP_CONTROL_REG");
_Static_assert(offsetof(struct acpi_fadt, hypervisor_vendor_id) == 268,
	       "hypervisor vendor identity");

#define ACPI_FADT_REVISION 6
#define ACPI_FADT_MINOR_VERSION 5
#define ACPI_FADT_RESET_REG_SUP (1u << 10)
#define ACPI_FADT_HW_REDUCED_ACPI (1u << 20)
/* IA-PC boot architecture flags (5.2.9.3). */
#define ACPI_IAPC_LEGACY_DEVICES (1u << 0) /* the ISA serial port */
#define ACPI_IAPC_VGA_NOT_PRESENT (1u << 2)
#define ACPI_IAPC_CMOS_RTC_NOT_PRESENT (1u << 5)

/* Multiple APIC Description Table (5.2.12) and its entries. */
struct acpi_madt {
	struct acpi_header header;
	uint32_t lapic_address;
	uint32_t flags;
} __packed;
_Static_assert(sizeof(struct acpi_madt) == 44, "MADT");

struct acpi_madt_lapic {
	uint8_t type;
	uint8_t length;
	uint8_t processor_uid;
	uint8_t apic_id;
	uint32_t flags;
} __packed;
_Static_assert(sizeof(struct acpi_madt_lapic) == 8, "MADT local APIC");

struct acpi_madt_ioapic {
	uint8_t type;
	uint8_t length;
	uint8_t id;
	uint8_t reserved;
	uint32_t address;
	uint32_t gsi_base;
} __packed;
_Static_assert(sizeof(struct acpi_madt_ioapic) == 12, "MADT I/O APIC");

struct acpi_madt_iso {
	uint8_t type;
	uint8_t length;
	uint8_t bus;
	uint8_t source;
	uint32_t gsi;
	uint16_t flags;
} __packed;
_Static_assert(sizeof(struct acpi_madt_iso) == 10, "MADT IRQ override");

#define ACPI_MADT_REVISION 5
#define ACPI_MADT_PCAT_COMPAT (1u << 0)
#define ACPI_MADT_TYPE_LAPIC 0
#define ACPI_MADT_TYPE_IOAPIC 1
#define ACPI_MADT_TYPE_ISO 2
#define ACPI_MADT_LAPIC_ENABLED (1u << 0)
#define ACPI_ISA_IRQS 16
/* MPS INTI flags of an interrupt source override (5.2.12.5). */
#define ACPI_MPS_ACTIVE_HIGH 0x1 /* polarity, bits 0-1 */
#define ACPI_MPS_LEVEL 0xc /* trigger mode, bits 2-3 */

#define ACPI_DSDT_REVISION 2 /* AML integers are 64-bit */
/* Notify value for a power button: "S0 power button pressed" (5.6.6). */
#define ACPI_NOTIFY_POWER_BUTTON 0x80
#define ACPI_XSDT_REVISION 1
#define ACPI_XSDT_ENTRIES 2

/* The tables under construction: a host copy of the guest area. */
struct acpi_builder {
	uint8_t *buf;
	uint64_t start; /* guest address of buf[0] */
	size_t size;
	size_t used;
};

/*
 * Reserve len bytes at the next aligned offset. Returns the offset, or
 * -ENOSPC (as a negative value) if the area is full.
 */
static int64_t acpi_alloc(struct acpi_builder *b, size_t len)
{
	size_t off = ALIGN_UP(b->used, (size_t)ACPI_TABLE_ALIGN);

	if (off > b->size || len > b->size - off)
		return -ENOSPC;
	b->used = off + len;
	return (int64_t)off;
}

static uint8_t acpi_checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	while (len--)
		sum += *p++;
	return (uint8_t)-sum;
}

static void acpi_header_init(struct acpi_header *h, const char *sig,
			     uint32_t len, uint8_t revision)
{
	memcpy(h->signature, sig, 4);
	h->length = len;
	h->revision = revision;
	h->checksum = 0;
	memcpy(h->oem_id, ACPI_OEM_ID, 6);
	memcpy(h->oem_table_id, ACPI_OEM_TABLE_ID, 8);
	h->oem_revision = 1;
	memcpy(h->creator_id, ACPI_CREATOR_ID, 4);
	h->creator_revision = 1;
}

/* Fill in the checksum of the table at off once its bytes are final. */
static void acpi_table_seal(struct acpi_builder *b, size_t off)
{
	struct acpi_header h;

	memcpy(&h, b->buf + off, sizeof(h));
	b->buf[off + offsetof(struct acpi_header, checksum)] =
		acpi_checksum(b->buf + off, h.length);
}

/* Name(_S5, Package() { SLP_TYPa, SLP_TYPb, reserved, reserved }). */
static void dsdt_s5(struct aml *a)
{
	size_t pkg;

	aml_name(a, "_S5_");
	aml_byte(a, AML_PACKAGE_OP);
	pkg = aml_pkg_begin(a);
	aml_byte(a, 4); /* NumElements */
	aml_integer(a, ACPI_SLP_TYP_S5);
	aml_integer(a, 0);
	aml_integer(a, 0);
	aml_integer(a, 0);
	aml_pkg_end(a, pkg);
}

/*
 * Name(_CRS, ResourceTemplate() {
 *     Memory32Fixed(ReadWrite, base, size)
 *     Interrupt(ResourceConsumer, Level, ActiveHigh, Exclusive) { gsi }
 * })
 * Level-triggered: the device holds the line up until the guest has
 * acknowledged InterruptStatus (src/devices/virtio/mmio.c).
 */
static void dsdt_virtio_crs(struct aml *a, const struct acpi_virtio_mmio *dev)
{
	uint8_t res[AML_RES_MEM32_FIXED_LEN + AML_RES_EXT_IRQ_LEN +
		    AML_RES_END_LEN];
	size_t n;

	n = aml_res_mem32_fixed(res, true, (uint32_t)dev->base, dev->size);
	n += aml_res_ext_irq(res + n, AML_IRQ_CONSUMER, dev->gsi);
	n += aml_res_end(res + n);
	aml_name_buffer(a, "_CRS", res, n);
}

/*
 * Device(VRnn) { _HID "LNRO0005" (Linux virtio_mmio), _UID n,
 * _CCA One (DMA is cache-coherent), _CRS }, as QEMU's microvm has them.
 */
static void dsdt_virtio_device(struct aml *a, unsigned int index,
			       const struct acpi_virtio_mmio *dev)
{
	static const char hex[] = "0123456789ABCDEF";
	const char name[4] = { 'V', 'R', hex[index >> 4], hex[index & 0xf] };
	size_t pkg;

	pkg = aml_device_begin(a, name);
	aml_name(a, "_HID");
	aml_string(a, "LNRO0005");
	aml_name(a, "_UID");
	aml_integer(a, index);
	aml_name(a, "_CCA");
	aml_integer(a, 1);
	dsdt_virtio_crs(a, dev);
	aml_pkg_end(a, pkg);
}

/* Device(PWRB) { Name(_HID, EISAID("PNP0C0C")) }: the power button. */
static void dsdt_power_button(struct aml *a)
{
	size_t pkg;

	pkg = aml_device_begin(a, "PWRB");
	aml_name(a, "_HID");
	aml_eisaid(a, "PNP0C0C");
	aml_pkg_end(a, pkg);
}

/*
 *     Method(_EVT, 1) {            // Arg0: the GSI, unused
 *         Local0 = STAT
 *         If (Local0 & One) {      // power button
 *             STAT = One           // write 1 to clear
 *             Notify(\_SB.PWRB, 0x80)
 *         }
 *     }
 *
 * Acknowledging before the Notify lowers the level-triggered line before
 * the OS unmasks it again. Not serialized: it reads once and clears only
 * what it saw, so two runs cannot lose a press.
 */
static void dsdt_ged_evt(struct aml *a)
{
	size_t method, body;

	method = aml_method_begin(a, "_EVT", 1, false);
	aml_byte(a, AML_STORE_OP); /* Store(STAT, Local0) */
	aml_nameseg(a, "STAT");
	aml_byte(a, AML_LOCAL0_OP);
	body = aml_if_begin(a);
	aml_byte(a, AML_AND_OP); /* And(Local0, ACPI_GED_POWER_BUTTON) */
	aml_byte(a, AML_LOCAL0_OP);
	aml_integer(a, ACPI_GED_POWER_BUTTON);
	aml_byte(a, AML_NULL_NAME);
	aml_byte(a, AML_STORE_OP); /* Store(ACPI_GED_POWER_BUTTON, STAT) */
	aml_integer(a, ACPI_GED_POWER_BUTTON);
	aml_nameseg(a, "STAT");
	aml_byte(a, AML_NOTIFY_OP); /* Notify(\_SB.PWRB, 0x80) */
	aml_namestring(a, "\\_SB_.PWRB");
	aml_integer(a, ACPI_NOTIFY_POWER_BUTTON);
	aml_pkg_end(a, body);
	aml_pkg_end(a, method);
}

/*
 * Device(GED0) {
 *     Name(_HID, "ACPI0013")
 *     Name(_CRS, ResourceTemplate() {
 *         Interrupt(ResourceConsumer, Level, ActiveHigh, Exclusive) { 9 }
 *     })
 *     OperationRegion(GEDR, SystemIO, 0x608, 1)
 *     Field(GEDR, ByteAcc, NoLock, WriteAsZeros) { STAT, 8 }
 *     Method(_EVT, 1) { ... }
 * }
 * The register and line are src/devices/ged.c's (layout.h).
 */
static void dsdt_ged(struct aml *a)
{
	uint8_t res[AML_RES_EXT_IRQ_LEN + AML_RES_END_LEN];
	size_t pkg, field, n;

	pkg = aml_device_begin(a, "GED0");
	aml_name(a, "_HID");
	aml_string(a, "ACPI0013");
	n = aml_res_ext_irq(res, AML_IRQ_CONSUMER, PORT_ACPI_GED_IRQ);
	n += aml_res_end(res + n);
	aml_name_buffer(a, "_CRS", res, n);
	aml_opregion(a, "GEDR", AML_SPACE_SYSTEM_IO, PORT_ACPI_GED, 1);
	field = aml_field_begin(a, "GEDR",
				AML_FIELD_BYTE_ACC | AML_FIELD_NO_LOCK |
					AML_FIELD_WRITE_AS_ZEROS);
	aml_field_unit(a, "STAT", 8);
	aml_pkg_end(a, field);
	dsdt_ged_evt(a);
	aml_pkg_end(a, pkg);
}

/* Scope(\_SB) { virtio-mmio devices, PWRB, GED0 }. */
static void dsdt_system_bus(struct aml *a, const struct acpi_config *cfg)
{
	unsigned int i;
	size_t pkg;

	pkg = aml_scope_begin(a, "\\_SB_");
	for (i = 0; i < cfg->nr_virtio_mmio; i++)
		dsdt_virtio_device(a, i, &cfg->virtio_mmio[i]);
	dsdt_power_button(a);
	dsdt_ged(a);
	aml_pkg_end(a, pkg);
}

static int acpi_build_dsdt(struct acpi_builder *b,
			   const struct acpi_config *cfg, uint64_t *gpa_out)
{
	size_t hdr = sizeof(struct acpi_header);
	int64_t off = acpi_alloc(b, hdr);
	struct acpi_header h;
	struct aml a;

	if (off < 0)
		return (int)off;
	a = (struct aml){ .buf = b->buf + off + hdr, .cap = b->size - b->used };
	dsdt_s5(&a);
	dsdt_system_bus(&a, cfg);
	if (a.overflow)
		return -ENOSPC;
	b->used += a.len;
	acpi_header_init(&h, "DSDT", (uint32_t)(hdr + a.len),
			 ACPI_DSDT_REVISION);
	memcpy(b->buf + off, &h, hdr);
	acpi_table_seal(b, (size_t)off);
	*gpa_out = b->start + (uint64_t)off;
	return 0;
}

static struct acpi_gas acpi_io_byte(uint16_t port)
{
	return (struct acpi_gas){
		.space_id = ACPI_GAS_SYSTEM_IO,
		.bit_width = 8,
		.bit_offset = 0,
		.access_size = ACPI_GAS_ACCESS_BYTE,
		.address = port,
	};
}

static int acpi_build_fadt(struct acpi_builder *b, uint64_t dsdt_gpa,
			   uint64_t *gpa_out)
{
	int64_t off = acpi_alloc(b, sizeof(struct acpi_fadt));
	struct acpi_fadt f = { 0 };

	if (off < 0)
		return (int)off;
	acpi_header_init(&f.header, "FACP", sizeof(f), ACPI_FADT_REVISION);
	f.minor_version = ACPI_FADT_MINOR_VERSION;
	f.flags = ACPI_FADT_HW_REDUCED_ACPI | ACPI_FADT_RESET_REG_SUP;
	/*
	 * No VGA, no CMOS RTC: Linux then leaves the legacy VGA window and
	 * ports 0x70/0x71 alone. No 8042 bit: it skips the PS/2 probe too.
	 */
	f.iapc_boot_arch = ACPI_IAPC_LEGACY_DEVICES |
			   ACPI_IAPC_VGA_NOT_PRESENT |
			   ACPI_IAPC_CMOS_RTC_NOT_PRESENT;
	f.reset_reg = acpi_io_byte(PORT_ACPI_RESET);
	f.reset_value = ACPI_RESET_VALUE;
	/* The 32-bit DSDT field stays 0: X_DSDT is the one to use. */
	f.x_dsdt = dsdt_gpa;
	f.sleep_control_reg = acpi_io_byte(PORT_ACPI_SLEEP_CTL);
	f.sleep_status_reg = acpi_io_byte(PORT_ACPI_SLEEP_STS);
	memcpy(&f.hypervisor_vendor_id, ACPI_HYPERVISOR_ID, 8);
	memcpy(b->buf + off, &f, sizeof(f));
	acpi_table_seal(b, (size_t)off);
	*gpa_out = b->start + (uint64_t)off;
	return 0;
}

/* Append one MADT entry at *pos and advance it. */
static void acpi_madt_put(struct acpi_builder *b, size_t *pos, const void *e,
			  size_t len)
{
	memcpy(b->buf + *pos, e, len);
	*pos += len;
}

/* Does a virtio-mmio device use ISA IRQ / GSI gsi (below 16)? */
static bool acpi_virtio_uses(const struct acpi_config *cfg, uint32_t gsi)
{
	unsigned int i;

	for (i = 0; i < cfg->nr_virtio_mmio; i++)
		if (cfg->virtio_mmio[i].gsi == gsi)
			return true;
	return false;
}

/* Level, active-high overrides for the ISA IRQs virtio devices use. */
static unsigned int acpi_madt_virtio_isos(struct acpi_builder *b, size_t *pos,
					  const struct acpi_config *cfg)
{
	unsigned int gsi, n = 0;

	for (gsi = 0; gsi < ACPI_ISA_IRQS; gsi++) {
		struct acpi_madt_iso iso = { .type = ACPI_MADT_TYPE_ISO,
					     .length = sizeof(iso),
					     .source = (uint8_t)gsi,
					     .gsi = gsi,
					     .flags = ACPI_MPS_ACTIVE_HIGH |
						      ACPI_MPS_LEVEL };

		if (!acpi_virtio_uses(cfg, gsi))
			continue;
		n++;
		if (b)
			acpi_madt_put(b, pos, &iso, sizeof(iso));
	}
	return n;
}

static int acpi_build_madt(struct acpi_builder *b,
			   const struct acpi_config *cfg, uint64_t *gpa_out)
{
	size_t len = sizeof(struct acpi_madt) +
		     cfg->nr_vcpus * sizeof(struct acpi_madt_lapic) +
		     sizeof(struct acpi_madt_ioapic) +
		     (2 + acpi_madt_virtio_isos(NULL, NULL, cfg)) *
			     sizeof(struct acpi_madt_iso);
	int64_t off = acpi_alloc(b, len);
	struct acpi_madt m = { .lapic_address = (uint32_t)LAYOUT_LAPIC,
			       .flags = ACPI_MADT_PCAT_COMPAT };
	struct acpi_madt_ioapic io = { .type = ACPI_MADT_TYPE_IOAPIC,
				       .length = sizeof(io),
				       .id = cfg->ioapic_id,
				       .address = (uint32_t)LAYOUT_IOAPIC,
				       .gsi_base = 0 };
	/* ISA IRQ0 (the PIT) is GSI 2; flags 0: ISA's edge, active-high. */
	struct acpi_madt_iso iso = { .type = ACPI_MADT_TYPE_ISO,
				     .length = sizeof(iso),
				     .bus = 0,
				     .source = 0,
				     .gsi = 2,
				     .flags = 0 };
	/* ISA IRQ9 is the GED's line: GSI 9, level-triggered, active-high. */
	struct acpi_madt_iso ged = { .type = ACPI_MADT_TYPE_ISO,
				     .length = sizeof(ged),
				     .bus = 0,
				     .source = PORT_ACPI_GED_IRQ,
				     .gsi = PORT_ACPI_GED_IRQ,
				     .flags = ACPI_MPS_ACTIVE_HIGH |
					      ACPI_MPS_LEVEL };
	size_t pos;
	unsigned int i;

	if (off < 0)
		return (int)off;
	pos = (size_t)off;
	acpi_header_init(&m.header, "APIC", (uint32_t)len, ACPI_MADT_REVISION);
	acpi_madt_put(b, &pos, &m, sizeof(m));
	for (i = 0; i < cfg->nr_vcpus; i++) {
		struct acpi_madt_lapic l = { .type = ACPI_MADT_TYPE_LAPIC,
					     .length = sizeof(l),
					     .processor_uid = (uint8_t)i,
					     .apic_id = (uint8_t)i,
					     .flags = ACPI_MADT_LAPIC_ENABLED };

		acpi_madt_put(b, &pos, &l, sizeof(l));
	}
	acpi_madt_put(b, &pos, &io, sizeof(io));
	acpi_madt_put(b, &pos, &iso, sizeof(iso));
	acpi_madt_put(b, &pos, &ged, sizeof(ged));
	acpi_madt_virtio_isos(b, &pos, cfg);
	acpi_table_seal(b, (size_t)off);
	*gpa_out = b->start + (uint64_t)off;
	return 0;
}

static int acpi_build_xsdt(struct acpi_builder *b,
			   const uint64_t entries[ACPI_XSDT_ENTRIES],
			   uint64_t *gpa_out)
{
	size_t len = sizeof(struct acpi_header) + 8 * ACPI_XSDT_ENTRIES;
	int64_t off = acpi_alloc(b, len);
	struct acpi_header h;

	if (off < 0)
		return (int)off;
	acpi_header_init(&h, "XSDT", (uint32_t)len, ACPI_XSDT_REVISION);
	memcpy(b->buf + off, &h, sizeof(h));
	memcpy(b->buf + off + sizeof(h), entries, 8 * ACPI_XSDT_ENTRIES);
	acpi_table_seal(b, (size_t)off);
	*gpa_out = b->start + (uint64_t)off;
	return 0;
}

/* The RSDP was reserved first, at offset 0; fill it in last. */
static void acpi_fill_rsdp(struct acpi_builder *b, uint64_t xsdt_gpa)
{
	struct acpi_rsdp r = { .revision = 2,
			       .rsdt_address = 0,
			       .length = sizeof(r),
			       .xsdt_address = xsdt_gpa };

	memcpy(r.signature, "RSD PTR ", 8);
	memcpy(r.oem_id, ACPI_OEM_ID, 6);
	r.checksum = acpi_checksum((const uint8_t *)&r, 20);
	r.extended_checksum = acpi_checksum((const uint8_t *)&r, sizeof(r));
	memcpy(b->buf, &r, sizeof(r));
}

static int acpi_build_tables(struct acpi_builder *b,
			     const struct acpi_config *cfg)
{
	uint64_t dsdt = 0, xsdt = 0, entries[ACPI_XSDT_ENTRIES] = { 0 };
	int64_t rsdp = acpi_alloc(b, sizeof(struct acpi_rsdp));
	int rc;

	if (rsdp < 0)
		return (int)rsdp;
	rc = acpi_build_dsdt(b, cfg, &dsdt);
	if (!rc)
		rc = acpi_build_fadt(b, dsdt, &entries[0]);
	if (!rc)
		rc = acpi_build_madt(b, cfg, &entries[1]);
	if (!rc)
		rc = acpi_build_xsdt(b, entries, &xsdt);
	if (rc)
		return rc;
	acpi_fill_rsdp(b, xsdt);
	return 0;
}

static int acpi_check_config(const struct acpi_config *cfg)
{
	unsigned int i;

	if (cfg->nr_vcpus < 1 || cfg->nr_vcpus > ACPI_MAX_VCPUS) {
		log_err("ACPI: %u vCPUs, need 1..%u", cfg->nr_vcpus,
			ACPI_MAX_VCPUS);
		return -EINVAL;
	}
	if (cfg->ioapic_id == 0xff) {
		log_err("ACPI: I/O APIC ID 0xff is the broadcast ID");
		return -EINVAL;
	}
	if (cfg->nr_virtio_mmio > ACPI_MAX_VIRTIO_MMIO) {
		log_err("ACPI: %u virtio-mmio devices, at most %u",
			cfg->nr_virtio_mmio, ACPI_MAX_VIRTIO_MMIO);
		return -EINVAL;
	}
	for (i = 0; i < cfg->nr_virtio_mmio; i++) {
		const struct acpi_virtio_mmio *d = &cfg->virtio_mmio[i];

		if (!d->size || d->base >= (1ULL << 32) ||
		    d->size > (1ULL << 32) - d->base ||
		    d->gsi >= ACPI_IOAPIC_PINS) {
			log_err("ACPI: virtio-mmio device %u at 0x%llx size 0x%x gsi %u is not a 32-bit window on an I/O APIC pin",
				i, (unsigned long long)d->base, d->size,
				d->gsi);
			return -EINVAL;
		}
		if (d->gsi == 0 || d->gsi == 2 || d->gsi == PORT_SERIAL0_IRQ ||
		    d->gsi == PORT_ACPI_GED_IRQ) {
			log_err("ACPI: virtio-mmio device %u: gsi %u belongs to the timer, the UART or the GED",
				i, d->gsi);
			return -EINVAL;
		}
	}
	return 0;
}

int acpi_build_range(struct guest_mem *mem, const struct acpi_config *cfg,
		     uint64_t start, uint64_t end, uint64_t *rsdp_gpa_out)
{
	struct acpi_builder b = { .start = start };
	int rc;

	rc = acpi_check_config(cfg);
	if (rc)
		return rc;
	if (end <= start || !IS_ALIGNED(start, ACPI_TABLE_ALIGN)) {
		log_err("ACPI: area [0x%llx, 0x%llx) is empty or not 16-byte aligned",
			(unsigned long long)start, (unsigned long long)end);
		return -EINVAL;
	}
	if (!mem_gpa_is_ram(mem, start, end - start)) {
		log_err("ACPI: area [0x%llx, 0x%llx) is not guest RAM",
			(unsigned long long)start, (unsigned long long)end);
		return -EFAULT;
	}
	b.size = end - start;
	b.buf = calloc(1, b.size);
	if (!b.buf)
		return -ENOMEM;
	rc = acpi_build_tables(&b, cfg);
	if (rc) {
		log_err("ACPI: tables for %u vCPUs and %u devices do not fit in %zu bytes",
			cfg->nr_vcpus, cfg->nr_virtio_mmio, b.size);
		goto out_free;
	}
	rc = mem_write(mem, start, b.buf, b.size);
	if (rc)
		goto out_free;
	*rsdp_gpa_out = start;
out_free:
	free(b.buf);
	return rc;
}

int acpi_build(struct guest_mem *mem, const struct acpi_config *cfg,
	       uint64_t *rsdp_gpa_out)
{
	return acpi_build_range(mem, cfg, LAYOUT_ACPI, LAYOUT_ACPI_END,
				rsdp_gpa_out);
}
