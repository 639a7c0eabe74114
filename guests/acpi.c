/*
 * Firmware tables the guests read at boot: the ACPI RSDP (from
 * hvm_start_info or the BIOS area), the MADT for the CPU list, the IOAPIC
 * and the ISA IRQ 0 override, and the FADT for hardware-reduced power-off
 * (SLEEP_CONTROL_REG), reset (RESET_REG) and the DSDT's address. Without
 * a MADT the MP table supplies the CPUs; without either the guest runs on
 * the BSP alone. On request, a scan of the DSDT finds the register of the
 * Generic Event Device (acpi_find_ged); virtio_find.c reads the DSDT too.
 * Every table read is excluded from the RAM the guests dirty.
 * Ring 0 only; tables live below 4 GiB (identity mapped).
 */
#include "kernel.h"

struct platform platform;

struct sdt_header {
	char sig[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem[6];
	char oem_table[8];
	uint32_t oem_revision;
	uint32_t creator;
	uint32_t creator_revision;
} __attribute__((packed));

_Static_assert(sizeof(struct sdt_header) == 36, "sdt header");

#define TABLE_MAX_LEN 0x10000
#define FADT_RESET_REG 116
#define FADT_RESET_VALUE 128
#define FADT_SLEEP_CONTROL 244
#define FADT_DSDT 40
#define FADT_X_DSDT 140
#define SLP_TYP_S5 5
#define SLP_EN 0x20

static uint8_t sum_bytes(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t s = 0;

	while (len--)
		s = (uint8_t)(s + *b++);
	return s;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
	return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static bool rsdp_valid(uint64_t addr)
{
	const uint8_t *p = (const uint8_t *)addr;

	return !strncmp((const char *)p, "RSD PTR ", 8) && !sum_bytes(p, 20);
}

static uint64_t find_rsdp(uint64_t hint)
{
	uint64_t a;

	if (hint && rsdp_valid(hint))
		return hint;
	for (a = 0xe0000; a < 0x100000; a += 16) {
		if (rsdp_valid(a))
			return a;
	}
	return 0;
}

/* A table at addr with a valid header and checksum, else NULL. */
static const struct sdt_header *table_at(uint64_t addr)
{
	const struct sdt_header *h = (const struct sdt_header *)addr;

	if (!addr || addr >= 0x100000000ULL)
		return NULL;
	if (h->length < sizeof(*h) || h->length > TABLE_MAX_LEN)
		return NULL;
	if (sum_bytes(h, h->length))
		return NULL;
	mm_exclude(addr, h->length);
	return h;
}

/* Find the table with signature sig through the XSDT or RSDT. */
static const struct sdt_header *find_table(uint64_t rsdp, const char *sig)
{
	const uint8_t *r = (const uint8_t *)rsdp;
	uint64_t xsdt = r[15] >= 2 ? rd64(r + 24) : 0;
	const struct sdt_header *root = table_at(xsdt ? xsdt : rd32(r + 16));
	unsigned int esize = xsdt ? 8 : 4;
	uint32_t off;

	if (!root)
		return NULL;
	for (off = sizeof(*root); off + esize <= root->length; off += esize) {
		const uint8_t *e = (const uint8_t *)root + off;
		uint64_t addr = esize == 8 ? rd64(e) : rd32(e);
		const struct sdt_header *t = table_at(addr);

		if (t && !strncmp(t->sig, sig, 4))
			return t;
	}
	return NULL;
}

static void add_cpu(uint32_t apic_id, uint32_t bsp_id)
{
	if (apic_id == bsp_id || apic_id >= 0xff)
		return; /* the BSP is index 0; xAPIC cannot reach >= 0xff */
	if (platform.ncpus < guest_ops.max_cpus && platform.ncpus < MAX_CPUS)
		platform.apic_id[platform.ncpus++] = apic_id;
}

/* Every IOAPIC (virtio-mmio lines may sit on a second one, GSI 24+). */
static void add_ioapic(uint64_t base, uint32_t gsi_base)
{
	if (platform.nioapics < MAX_IOAPICS) {
		platform.ioapics[platform.nioapics].base = base;
		platform.ioapics[platform.nioapics].gsi_base = gsi_base;
		platform.nioapics++;
	}
}

static void madt_entry(const uint8_t *e, uint32_t bsp_id)
{
	switch (e[0]) {
	case 0: /* processor local APIC */
		if (e[1] >= 8 && (rd32(e + 4) & 1))
			add_cpu(e[3], bsp_id);
		break;
	case 1: /* IOAPIC: the one at GSI 0 serves the ISA IRQs */
		if (e[1] < 12)
			break;
		add_ioapic(rd32(e + 4), rd32(e + 8));
		if (rd32(e + 8) == 0) {
			platform.ioapic_base = rd32(e + 4);
			platform.ioapic_gsi_base = rd32(e + 8);
		}
		break;
	case 2: /* interrupt source override */
		if (e[1] >= 10 && e[2] == 0 && e[3] == 0) {
			platform.irq0_gsi = rd32(e + 4);
			platform.irq0_flags = (uint16_t)(e[8] | e[9] << 8);
		}
		break;
	case 9: /* processor local x2APIC */
		if (e[1] >= 16 && (rd32(e + 8) & 1))
			add_cpu(rd32(e + 4), bsp_id);
		break;
	}
}

static bool parse_madt(const struct sdt_header *madt, uint32_t bsp_id)
{
	const uint8_t *p = (const uint8_t *)madt;
	uint32_t off = 44;

	if (madt->length < off)
		return false;
	while (off + 2 <= madt->length && p[off + 1] >= 2 &&
	       off + p[off + 1] <= madt->length) {
		madt_entry(p + off, bsp_id);
		off += p[off + 1];
	}
	platform.cpu_source = "madt";
	return true;
}

static uint64_t find_mp_floating(void)
{
	uint64_t ebda = (uint64_t) * (const uint16_t *)phys_ptr(0x40e) << 4;
	const uint64_t ranges[3][2] = {
		{ ebda, ebda + 1024 },
		{ 0x9fc00, 0xa0000 },
		{ 0xf0000, 0x100000 },
	};
	unsigned int i;
	uint64_t a;

	for (i = 0; i < 3; i++) {
		if (!ranges[i][0] && i == 0)
			continue;
		for (a = ranges[i][0]; a + 16 <= ranges[i][1]; a += 16) {
			const uint8_t *p = (const uint8_t *)a;

			if (!strncmp((const char *)p, "_MP_", 4) &&
			    !sum_bytes(p, 16))
				return a;
		}
	}
	return 0;
}

static bool parse_mptable(uint32_t bsp_id)
{
	uint64_t fp = find_mp_floating();
	const uint8_t *t, *e;
	uint32_t len;

	if (!fp || !rd32((const uint8_t *)fp + 4))
		return false;
	t = (const uint8_t *)(uint64_t)rd32((const uint8_t *)fp + 4);
	len = (uint32_t)(t[4] | t[5] << 8);
	if (strncmp((const char *)t, "PCMP", 4) || len < 44 ||
	    sum_bytes(t, len))
		return false;
	mm_exclude(fp, 16);
	mm_exclude((uint64_t)t, len);
	/* Walk by length, as Linux does: some tables leave the count 0. */
	e = t + 44;
	while (e + 8 <= t + len) {
		if (e[0] == 0) { /* processor: 20 bytes */
			if (e[3] & 1)
				add_cpu(e[1], bsp_id);
			e += 20;
		} else if (e[0] == 2 && (e[3] & 1)) { /* IOAPIC, 24 pins each */
			add_ioapic(rd32(e + 4), 24 * platform.nioapics);
			e += 8;
		} else {
			e += 8;
		}
	}
	platform.cpu_source = "mptable";
	return true;
}

static void parse_fadt(const struct sdt_header *fadt)
{
	const uint8_t *p = (const uint8_t *)fadt;

	if (fadt->length >= FADT_RESET_VALUE + 1 &&
	    rd64(p + FADT_RESET_REG + 4)) {
		memcpy(platform.reset_gas, p + FADT_RESET_REG, 12);
		platform.reset_value = p[FADT_RESET_VALUE];
		platform.have_reset = true;
	}
	if (fadt->length >= FADT_SLEEP_CONTROL + 12 &&
	    rd64(p + FADT_SLEEP_CONTROL + 4)) {
		memcpy(platform.sleep_gas, p + FADT_SLEEP_CONTROL, 12);
		platform.have_sleep = true;
	}
	if (fadt->length >= FADT_X_DSDT + 8)
		platform.dsdt = rd64(p + FADT_X_DSDT);
	if (!platform.dsdt && fadt->length >= FADT_DSDT + 4)
		platform.dsdt = rd32(p + FADT_DSDT);
}

void acpi_init(uint64_t rsdp_hint, uint32_t bsp_id)
{
	uint64_t rsdp = find_rsdp(rsdp_hint);
	const struct sdt_header *madt = NULL, *fadt = NULL;

	platform.ncpus = 1;
	platform.apic_id[0] = bsp_id;
	platform.cpu_source = "none";
	if (rsdp) {
		mm_exclude(rsdp, 36);
		madt = find_table(rsdp, "APIC");
		fadt = find_table(rsdp, "FACP");
	}
	if (!madt || !parse_madt(madt, bsp_id))
		parse_mptable(bsp_id);
	if (!platform.ioapic_base && platform.nioapics &&
	    !platform.ioapics[0].gsi_base)
		platform.ioapic_base = platform.ioapics[0].base;
	if (fadt)
		parse_fadt(fadt);
}

const uint8_t *acpi_dsdt(uint32_t *len_out)
{
	const struct sdt_header *dsdt = table_at(platform.dsdt);

	if (!dsdt || strncmp(dsdt->sig, "DSDT", 4))
		return NULL;
	*len_out = dsdt->length;
	return (const uint8_t *)dsdt;
}

/* Offset of the first copy of pat in p[from, len), or len. */
static uint32_t find_bytes(const uint8_t *p, uint32_t from, uint32_t len,
			   const uint8_t *pat, uint32_t n)
{
	uint32_t i;

	for (i = from; i + n <= len; i++)
		if (p[i] == pat[0] && !memcmp(p + i, pat, n))
			return i;
	return len;
}

/* An AML integer constant at p[0..avail): ZeroOp, OneOp or a prefix. */
static bool aml_const(const uint8_t *p, uint32_t avail, uint64_t *v_out)
{
	static const uint8_t width[] = {
		[0x0a] = 1, [0x0b] = 2, [0x0c] = 4, [0x0e] = 8
	};
	uint32_t n, i;

	if (!avail)
		return false;
	if (p[0] <= 1) {
		*v_out = p[0];
		return true;
	}
	n = p[0] < sizeof(width) ? width[p[0]] : 0;
	if (!n || n + 1 > avail)
		return false;
	*v_out = 0;
	for (i = n; i > 0; i--)
		*v_out = *v_out << 8 | p[i];
	return true;
}

/*
 * The Generic Event Device's register, found without an AML interpreter
 * (the convention of guests/README.md): in the DSDT, the first
 * OperationRegion after the bytes of Name(_HID, "ACPI0013"), with a
 * constant offset. Returns its address space (0 memory, 1 I/O) and
 * address; false if the DSDT has no such device.
 */
bool acpi_find_ged(uint8_t *space_out, uint64_t *addr_out)
{
	static const uint8_t hid[] = { 0x08, '_', 'H', 'I', 'D', 0x0d, 'A', 'C',
				       'P',  'I', '0', '0', '1', '3',  0x00 };
	static const uint8_t opregion[] = { 0x5b, 0x80 };
	uint32_t len, at;
	const uint8_t *p = acpi_dsdt(&len);

	if (!p)
		return false;
	at = find_bytes(p, sizeof(struct sdt_header), len, hid, sizeof(hid));
	if (at == len)
		return false;
	/* ExtOpPrefix OpRegionOp NameSeg RegionSpace RegionOffset. */
	at = find_bytes(p, at + sizeof(hid), len, opregion, sizeof(opregion));
	if (at + 7 > len)
		return false;
	*space_out = p[at + 6];
	return aml_const(p + at + 7, len - at - 7, addr_out);
}

static void gas_write(const uint8_t *gas, uint32_t v)
{
	uint64_t addr = rd64(gas + 4);
	unsigned int width = gas[1] ? gas[1] : 8;

	if (gas[0] == ACPI_SPACE_IO) {
		if (width == 32)
			outl((uint16_t)addr, v);
		else if (width == 16)
			outw((uint16_t)addr, (uint16_t)v);
		else
			outb((uint16_t)addr, (uint8_t)v);
	} else if (gas[0] == ACPI_SPACE_MEMORY && addr < 0x100000000ULL) {
		if (width == 32)
			*(volatile uint32_t *)addr = v;
		else if (width == 16)
			*(volatile uint16_t *)addr = (uint16_t)v;
		else
			*(volatile uint8_t *)addr = (uint8_t)v;
	}
}

void acpi_poweroff(void)
{
	if (platform.have_sleep)
		gas_write(platform.sleep_gas, SLP_TYP_S5 << 2 | SLP_EN);
}

void acpi_reset(void)
{
	if (platform.have_reset)
		gas_write(platform.reset_gas, platform.reset_value);
}
