/*
 * Interrupt hardware for the guests: the local APIC in xAPIC (MMIO) mode
 * with its timer and IPIs, one IOAPIC redirection entry, and the legacy
 * 8259 PICs, which are masked so that only the LAPIC and IOAPIC deliver.
 * Ring 0 only.
 */
#include "kernel.h"

#define APIC_ID 0x20
#define APIC_TPR 0x80
#define APIC_EOI 0xb0
#define APIC_SVR 0xf0
#define APIC_ICR_LO 0x300
#define APIC_ICR_HI 0x310
#define APIC_LVT_TIMER 0x320
#define APIC_LVT_LINT0 0x350
#define APIC_LVT_LINT1 0x360
#define APIC_LVT_ERROR 0x370
#define APIC_TIMER_INIT 0x380
#define APIC_TIMER_CUR 0x390
#define APIC_TIMER_DIV 0x3e0
#define LVT_MASKED 0x10000
#define LVT_PERIODIC 0x20000
#define LVT_PENDING 0x1000
#define SVR_ENABLE 0x100
#define ICR_PENDING 0x1000
#define ICR_INIT 0x4500 /* INIT, level assert */
#define ICR_SIPI 0x4600 /* start-up, level assert */
#define DIV_BY_16 0x3
#define APIC_BASE_ENABLE 0x800

static uint64_t lapic_reg(uint32_t reg)
{
	return platform.lapic_base + reg;
}

static uint32_t lapic_read(uint32_t reg)
{
	return mmio_read32(lapic_reg(reg));
}

static void lapic_write(uint32_t reg, uint32_t v)
{
	mmio_write32(lapic_reg(reg), v);
}

void pic_mask_all(void)
{
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
}

/* Enable this CPU's LAPIC with every local interrupt masked. */
void lapic_init(void)
{
	uint64_t base = rdmsr(MSR_APIC_BASE);

	if (!(base & APIC_BASE_ENABLE))
		wrmsr(MSR_APIC_BASE, base | APIC_BASE_ENABLE);
	lapic_write(APIC_TPR, 0);
	lapic_write(APIC_SVR, SVR_ENABLE | VEC_SPURIOUS);
	lapic_write(APIC_LVT_LINT0, LVT_MASKED);
	lapic_write(APIC_LVT_LINT1, LVT_MASKED);
	lapic_write(APIC_LVT_ERROR, LVT_MASKED);
	lapic_write(APIC_LVT_TIMER, LVT_MASKED | VEC_TIMER);
	lapic_write(APIC_TIMER_DIV, DIV_BY_16);
}

uint32_t lapic_id(void)
{
	return lapic_read(APIC_ID) >> 24;
}

void lapic_eoi(void)
{
	lapic_write(APIC_EOI, 0);
}

uint32_t lapic_timer_count(void)
{
	return lapic_read(APIC_TIMER_CUR);
}

/* One-shot from the largest count, masked: for calibration. */
void lapic_timer_oneshot_max(void)
{
	lapic_write(APIC_LVT_TIMER, LVT_MASKED | VEC_TIMER);
	lapic_write(APIC_TIMER_DIV, DIV_BY_16);
	lapic_write(APIC_TIMER_INIT, 0xffffffff);
}

void lapic_timer_start(uint32_t count)
{
	lapic_write(APIC_TIMER_DIV, DIV_BY_16);
	lapic_write(APIC_LVT_TIMER, LVT_PERIODIC | VEC_TIMER);
	lapic_write(APIC_TIMER_INIT, count);
}

/* Are the timer's mode, vector, divider and initial count as started? */
bool lapic_timer_is(uint32_t count, uint32_t regs_out[3])
{
	regs_out[0] = lapic_read(APIC_LVT_TIMER);
	regs_out[1] = lapic_read(APIC_TIMER_DIV);
	regs_out[2] = lapic_read(APIC_TIMER_INIT);
	return (regs_out[0] & ~LVT_PENDING) == (LVT_PERIODIC | VEC_TIMER) &&
	       (regs_out[1] & 0xb) == DIV_BY_16 && regs_out[2] == count;
}

static void lapic_icr(uint32_t apic_id, uint32_t lo)
{
	unsigned int spins = 0;

	lapic_write(APIC_ICR_HI, apic_id << 24);
	lapic_write(APIC_ICR_LO, lo);
	while ((lapic_read(APIC_ICR_LO) & ICR_PENDING) && spins++ < 100000)
		;
}

void lapic_send_init(uint32_t apic_id)
{
	lapic_icr(apic_id, ICR_INIT);
}

void lapic_send_sipi(uint32_t apic_id, uint8_t vector)
{
	lapic_icr(apic_id, ICR_SIPI | vector);
}

/*
 * Route a GSI to vector on apic_id (no-op without an IOAPIC for it). flags
 * are the MADT override's MPS
 * INTI flags: polarity bits 0-1 (3 = active low), trigger bits 2-3
 * (3 = level); 0 means ISA defaults (active high, edge).
 */
void ioapic_route(uint32_t gsi, uint16_t flags, uint8_t vector,
		  uint32_t apic_id)
{
	uint64_t base = platform.ioapic_base;
	uint32_t pin = gsi - platform.ioapic_gsi_base;
	uint32_t lo = vector;
	unsigned int i;

	/* The IOAPIC with the highest GSI base at or below gsi serves it. */
	for (i = 0; i < platform.nioapics; i++) {
		const struct ioapic_info *io = &platform.ioapics[i];

		if (io->gsi_base <= gsi && gsi - io->gsi_base <= pin) {
			base = io->base;
			pin = gsi - io->gsi_base;
		}
	}
	if (!base)
		return;

	if ((flags & 3) == 3)
		lo |= 1 << 13;
	if (((flags >> 2) & 3) == 3)
		lo |= 1 << 15;
	mmio_write32(base, 0x10 + 2 * pin + 1);
	mmio_write32(base + 0x10, apic_id << 24);
	mmio_write32(base, 0x10 + 2 * pin);
	mmio_write32(base + 0x10, lo);
}
