/*
 * Ring-0 interfaces shared by the guests: port and MMIO access, console,
 * firmware tables, memory map, LAPIC/IOAPIC, clocks, SMP start-up and the
 * operations each guest implements. Everything declared here runs in
 * emulated ring 0 on software KVM: integer code only (the objects are
 * built with -mgeneral-regs-only), no loops over large data.
 */
#ifndef GUEST_KERNEL_H
#define GUEST_KERNEL_H

#include <stdarg.h>

#include "pvh.h"
#include "shared.h"

#define EXIT_OK 0
#define EXIT_FAIL 3

/* Operations a guest implements (its ring-0 file defines guest_ops). */
struct guest_ops {
	/* Prefix of every output line, e.g. "dirty". */
	const char *name;
	/* Most CPUs the guest uses: 1, or MAX_CPUS for the SMP guests. */
	unsigned int max_cpus;
	/*
	 * BSP, ring 0, after boot (clocks calibrated, all CPUs started)
	 * and before ring 3 starts: read the cmdline, prepare the work,
	 * print the ready line. Exits the VM on bad input.
	 */
	void (*setup)(void);
	/* BSP, ring 0, timer interrupt: read user_status, print, exit. */
	void (*tick)(uint64_t tsc);
	/* BSP, ring 0: an interrupt other than the timer (VEC_WATCHDOG). */
	void (*irq)(unsigned int vector);
	/*
	 * BSP, ring 0, after an interrupt that came from ring 3 (EOI done):
	 * true while ring 3 has nothing to do before the next interrupt.
	 * The CPU then halts (sti; hlt), the next interrupt is handled on
	 * top, and idle is asked again; ring 3 resumes once it says false.
	 * A halted vCPU leaves the host CPU to the VMM's I/O threads. NULL:
	 * ring 3 always has work (it measures time, or computes).
	 */
	bool (*idle)(void);
};

extern const struct guest_ops guest_ops;

/* Port I/O and MSRs. */
static inline void outb(uint16_t port, uint8_t v)
{
	asm volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outw(uint16_t port, uint16_t v)
{
	asm volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outl(uint16_t port, uint32_t v)
{
	asm volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;

	asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;

	asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((uint64_t)hi << 32) | lo;
}

static inline void wrmsr(uint32_t msr, uint64_t v)
{
	asm volatile("wrmsr"
		     :
		     : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	asm volatile("cpuid"
		     : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
		     : "a"(leaf), "c"(sub));
}

/*
 * A pointer to guest-physical address a (identity mapped). The empty asm
 * hides the constant from gcc's array-bounds checks on low addresses.
 */
static inline void *phys_ptr(uint64_t a)
{
	asm("" : "+r"(a));
	return (void *)a;
}

static inline uint32_t mmio_read32(uint64_t addr)
{
	return *(volatile uint32_t *)addr;
}

static inline void mmio_write32(uint64_t addr, uint32_t v)
{
	*(volatile uint32_t *)addr = v;
}

/*
 * con.c: 8250 UART at 0x3f8 (polled) and the debug-exit port; with
 * console=virtio on the command line, lines go to virtio-console port 0
 * (vcon.c) once con_virtio_init has found it.
 */
void con_init(void);
void con_virtio_init(void);
void con_vcon_stuck(uint64_t base) __attribute__((noreturn));
bool vcon_init(void);
void vcon_putc(char c);
bool vcon_read(uint8_t *c_out);
void con_putc(char c);
void con_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void con_vprintf(const char *fmt, va_list ap);
/* Print "<guest>: " then the message. */
void con_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "<guest>: BAD <message>" and exit with EXIT_FAIL. */
void con_fail(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
bool con_read(uint8_t *c_out);
/* Write code to the debug-exit port; halts if the VMM does not exit. */
void guest_exit(int code) __attribute__((noreturn));
void halt_forever(void) __attribute__((noreturn));

/* cmdline.c: key=value tokens of the PVH command line. */
void cmdline_init(const char *src);
/* Value of key as a number (decimal or 0x hex); def if absent. */
uint64_t cmdline_u64(const char *key, uint64_t def);
/* Value of key copied into buf (NUL-terminated); false if absent. */
bool cmdline_str(const char *key, char *buf, size_t len);
/* The same for the nth (from 0) token with this key. */
bool cmdline_str_nth(const char *key, unsigned int n, char *buf, size_t len);
/* Reject keys not in the NULL-terminated list (typos fail loudly). */
void cmdline_check_keys(const char *const *keys);
bool debug_enabled(void);

/* acpi.c: RSDP, MADT (CPUs, IOAPIC), FADT (power) and the MP table. */
#define MAX_IOAPICS 4

struct ioapic_info {
	uint64_t base;
	uint32_t gsi_base;
};

struct platform {
	uint32_t ncpus; /* enabled CPUs found (at least 1) */
	uint32_t apic_id[MAX_CPUS]; /* index 0 is the BSP */
	uint64_t lapic_base;
	uint64_t ioapic_base; /* 0 if none */
	uint32_t ioapic_gsi_base;
	struct ioapic_info ioapics[MAX_IOAPICS]; /* every IOAPIC listed */
	uint32_t nioapics;
	uint32_t irq0_gsi; /* GSI of ISA IRQ 0 (PIT) */
	uint16_t irq0_flags; /* MPS INTI flags of that override */
	bool have_sleep; /* FADT sleep control register */
	bool have_reset; /* FADT reset register */
	uint8_t sleep_gas[12];
	uint8_t reset_gas[12];
	uint8_t reset_value;
	uint64_t dsdt; /* from the FADT; 0 if none */
	const char *cpu_source; /* "madt", "mptable" or "none" */
};

extern struct platform platform;
void acpi_init(uint64_t rsdp_paddr, uint32_t bsp_apic_id);
void acpi_poweroff(void);
void acpi_reset(void);
/* ACPI address spaces (generic address structures, OperationRegions). */
#define ACPI_SPACE_MEMORY 0
#define ACPI_SPACE_IO 1
/* The GED's event register (DSDT scan): ACPI address space and address. */
bool acpi_find_ged(uint8_t *space_out, uint64_t *addr_out);
/* The DSDT (checksum valid) and its length, or NULL. */
const uint8_t *acpi_dsdt(uint32_t *len_out);

/* mm.c: memory map, page tables, RAM for the guest's work. */
struct extent {
	uint64_t pfn;
	uint64_t count;
};

void mm_init(const struct hvm_memmap_entry *map, uint32_t n);
void mm_exclude(uint64_t start, uint64_t len);
/*
 * Take pages of RAM (>= 1 MiB, not excluded), lowest first, as at most
 * max extents. Returns false if they do not fit.
 */
bool mm_take(uint64_t pages, struct extent *ext, unsigned int max,
	     unsigned int *n_out);
/* Zeroed contiguous RAM from mm_take (exits the VM if there is none). */
void *mm_alloc(uint64_t bytes);
/* RAM mm_take could still hand out. */
uint64_t mm_free_bytes(void);
uint64_t mm_cr3(void);
uint64_t mm_ram_bytes(void);

/* lapic.c: local APIC, its timer, IPIs; IOAPIC; 8259 masking. */
void lapic_init(void);
uint32_t lapic_id(void);
void lapic_eoi(void);
uint32_t lapic_timer_count(void);
void lapic_timer_oneshot_max(void);
void lapic_timer_start(uint32_t count);
bool lapic_timer_is(uint32_t count, uint32_t regs_out[3]);
void lapic_send_init(uint32_t apic_id);
void lapic_send_sipi(uint32_t apic_id, uint8_t vector);
void ioapic_route(uint32_t gsi, uint16_t flags, uint8_t vector,
		  uint32_t apic_id);
void pic_mask_all(void);

/* clock.c: TSC and LAPIC timer calibration against the PIT. */
void clock_calibrate(void);
void clock_delay_us(uint64_t us);
void pit_start_periodic(uint32_t hz);
uint32_t clock_timer_count(void); /* LAPIC initial count for GUEST_HZ */

/* smp.c and boot.c: CPUs. */
unsigned int smp_start(void);
void cpu_local_init(unsigned int cpu);
unsigned int this_cpu(void);
extern volatile uint64_t cpu_ticks[MAX_CPUS];
/*
 * BSP, ring 0: read user_status of every CPU. Returns the first CPU's
 * status that is USER_BAD (NULL if none); *min_out is the least progress
 * and *done_out whether every CPU is USER_DONE.
 */
const struct user_status *user_status_scan(uint64_t *min_out, bool *done_out);

/* virtio_mmio.c: the interrupt dispatcher boot.c calls. */
void virtio_irq(unsigned int vector);

/* String helpers for ring 0. */
bool str_eq(const char *a, const char *b);

#endif
