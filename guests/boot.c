/*
 * Boot of every guest, in ring 0. The BSP arrives from entry.S in long
 * mode on the boot page tables and:
 *   1. checks hvm_start_info, copies the cmdline, builds the final page
 *      tables from the PVH memory map (mm.c);
 *   2. loads its TSS and IDT, enables SSE (and AVX where offered) for
 *      ring 3;
 *   3. reads the ACPI tables, enables its LAPIC, masks the 8259s and
 *      calibrates the TSC and the LAPIC timer against the PIT;
 *   4. starts the APs (SMP guests), runs the guest's setup, starts its
 *      100 Hz LAPIC timer and drops into ring 3 (user_start).
 * The interrupt dispatcher also lives here.
 */
#include "kernel.h"

struct tss {
	uint32_t reserved0;
	uint64_t rsp0;
	uint64_t rsp1;
	uint64_t rsp2;
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
} __attribute__((packed));

_Static_assert(sizeof(struct tss) == 104, "tss");

struct idt_gate {
	uint16_t offset_lo;
	uint16_t selector;
	uint8_t ist;
	uint8_t type;
	uint16_t offset_mid;
	uint32_t offset_hi;
	uint32_t reserved;
} __attribute__((packed));

/* The frame isr_common builds (lowest address first). */
struct isr_frame {
	uint64_t r11, r10, r9, r8, rdi, rsi, rdx, rcx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;
};

uint64_t gdt[GDT_SLOTS] __attribute__((aligned(16))) = {
	[GDT_KCODE64 / 8] = 0x00af9a000000ffffULL,
	[GDT_KDATA / 8] = 0x00cf92000000ffffULL,
	[GDT_KCODE32 / 8] = 0x00cf9a000000ffffULL,
	[GDT_UDATA / 8] = 0x00cff2000000ffffULL,
	[GDT_UCODE64 / 8] = 0x00affa000000ffffULL,
};

uint8_t kstack[MAX_CPUS][KSTACK_SIZE]
	__attribute__((aligned(PAGE_SIZE), section(".bss.noinit")));
static uint8_t ustack[MAX_CPUS][USTACK_SIZE]
	__attribute__((aligned(PAGE_SIZE), section(".bss.noinit")));
static struct tss tss[MAX_CPUS] __attribute__((aligned(CACHELINE)));
static struct idt_gate idt[256] __attribute__((aligned(16)));

volatile uint32_t boot_go;
volatile uint64_t cpu_ticks[MAX_CPUS];
struct user_status user_status[MAX_CPUS];

extern uint64_t boot_start_info;
extern const uint64_t isr_exc_table[32];
extern const uint64_t isr_virtio_table[VEC_VIRTIO_COUNT];
extern char __bss_start[], __bss_end[];
void isr_timer(void);
void isr_watchdog(void);
void isr_spurious(void);
void enter_user(uint64_t rip, uint64_t rsp, uint64_t arg)
	__attribute__((noreturn));
void boot_main(void) __attribute__((noreturn));
void ap_main(void) __attribute__((noreturn));
void isr_dispatch(struct isr_frame *f);

/* Set by the BSP for the AP being started (smp.c). */
volatile uint64_t ap_kstack_top;
volatile uint32_t ap_cpu;
volatile uint32_t ap_started;

static uint64_t read_cr0(void)
{
	uint64_t v;

	asm volatile("mov %%cr0, %0" : "=r"(v));
	return v;
}

static uint64_t read_cr4(void)
{
	uint64_t v;

	asm volatile("mov %%cr4, %0" : "=r"(v));
	return v;
}

static void write_cr0(uint64_t v)
{
	asm volatile("mov %0, %%cr0" : : "r"(v) : "memory");
}

static void write_cr3(uint64_t v)
{
	asm volatile("mov %0, %%cr3" : : "r"(v) : "memory");
}

static void write_cr4(uint64_t v)
{
	asm volatile("mov %0, %%cr4" : : "r"(v) : "memory");
}

static void xsetbv(uint32_t reg, uint64_t v)
{
	asm volatile("xsetbv"
		     :
		     : "c"(reg), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

static void set_gate(unsigned int vec, uint64_t handler)
{
	struct idt_gate *g = &idt[vec];

	g->offset_lo = (uint16_t)handler;
	g->selector = GDT_KCODE64;
	g->ist = 0;
	g->type = 0x8e; /* present, DPL 0, 64-bit interrupt gate */
	g->offset_mid = (uint16_t)(handler >> 16);
	g->offset_hi = (uint32_t)(handler >> 32);
	g->reserved = 0;
}

static void idt_init(void)
{
	unsigned int v;

	for (v = 0; v < 32; v++)
		set_gate(v, isr_exc_table[v]);
	for (v = 0; v < VEC_VIRTIO_COUNT; v++)
		set_gate(VEC_VIRTIO + v, isr_virtio_table[v]);
	set_gate(VEC_TIMER, (uint64_t)isr_timer);
	set_gate(VEC_WATCHDOG, (uint64_t)isr_watchdog);
	set_gate(VEC_SPURIOUS, (uint64_t)isr_spurious);
}

static void load_idt(void)
{
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) ptr = { sizeof(idt) - 1, (uint64_t)idt };

	asm volatile("lidt %0" : : "m"(ptr));
}

static void load_tss(unsigned int cpu)
{
	uint64_t base = (uint64_t)&tss[cpu];
	uint64_t limit = sizeof(struct tss) - 1;
	unsigned int slot = GDT_FIXED + 2 * cpu;

	tss[cpu].rsp0 = (uint64_t)kstack[cpu] + KSTACK_SIZE;
	tss[cpu].iomap_base = sizeof(struct tss); /* no I/O bitmap */
	gdt[slot] = (limit & 0xffff) | (base & 0xffffff) << 16 | 0x89ULL << 40 |
		    ((limit >> 16) & 0xf) << 48 | ((base >> 24) & 0xff) << 56;
	gdt[slot + 1] = base >> 32;
	asm volatile("ltr %w0" : : "r"(GDT_TSS0 + 16 * cpu));
}

/* AVX state is enabled when the CPU offers XSAVE, AVX and XCR0.AVX. */
static bool avx_offered(void)
{
	uint32_t r[4];

	cpuid(1, 0, r);
	if (!(r[2] & (1u << 26)) || !(r[2] & (1u << 28)))
		return false;
	cpuid(0xd, 0, r);
	return (r[0] & 7) == 7;
}

/* SSE (and AVX) for ring 3; ring 0 itself never uses them. */
static void fpu_init(void)
{
	uint64_t cr0 = read_cr0(), cr4 = read_cr4();

	cr0 = (cr0 & ~(uint64_t)(CR0_EM | CR0_TS)) | CR0_MP | CR0_NE | CR0_WP;
	write_cr0(cr0);
	cr4 |= CR4_OSFXSR | CR4_OSXMMEXCPT;
	if (boot_facts.avx)
		cr4 |= CR4_OSXSAVE;
	write_cr4(cr4);
	if (boot_facts.avx)
		xsetbv(0, 7); /* x87 | SSE | AVX */
}

/* Per-CPU ring-0 state: TSS, IDT, FPU control bits, page tables. */
void cpu_local_init(unsigned int cpu)
{
	write_cr3(mm_cr3());
	load_tss(cpu);
	load_idt();
	fpu_init();
}

/* The CPU index, from the ring-0 stack the interrupt arrived on. */
unsigned int this_cpu(void)
{
	uint64_t sp = (uint64_t)__builtin_frame_address(0);

	return (unsigned int)((sp - (uint64_t)kstack) / KSTACK_SIZE);
}

static uint64_t ustack_top(unsigned int cpu)
{
	/* As if called: RSP + 8 is 16-byte aligned at user_start. */
	return (uint64_t)ustack[cpu] + USTACK_SIZE - 8;
}

/* Halt with interrupts on while the guest says ring 3 is idle. */
static void idle_while(bool (*idle)(void))
{
	while (idle())
		asm volatile("sti; hlt; cli" ::: "memory");
}

void isr_dispatch(struct isr_frame *f)
{
	unsigned int cpu = this_cpu();

	if (f->vector < 32)
		con_fail("exception %lu error=%lx rip=%lx cpu=%u\n", f->vector,
			 f->error, f->rip, cpu);
	if (f->vector == VEC_TIMER) {
		cpu_ticks[cpu]++;
		if (cpu == 0)
			guest_ops.tick(rdtsc());
	} else if (f->vector >= VEC_VIRTIO &&
		   f->vector < VEC_VIRTIO + VEC_VIRTIO_COUNT) {
		virtio_irq((unsigned int)f->vector);
	} else if (cpu == 0) {
		guest_ops.irq((unsigned int)f->vector);
	}
	lapic_eoi();
	if (cpu == 0 && (f->cs & 3) == 3 && guest_ops.idle)
		idle_while(guest_ops.idle);
}

const struct user_status *user_status_scan(uint64_t *min_out, bool *done_out)
{
	uint32_t cpu;

	*min_out = UINT64_MAX;
	*done_out = true;
	for (cpu = 0; cpu < boot_facts.ncpus; cpu++) {
		const struct user_status *st = &user_status[cpu];

		if (st->state == USER_BAD)
			return st;
		if (st->state != USER_DONE)
			*done_out = false;
		if (st->progress < *min_out)
			*min_out = st->progress;
	}
	return NULL;
}

static const struct hvm_start_info *start_info(void)
{
	const struct hvm_start_info *si =
		(const struct hvm_start_info *)boot_start_info;

	if (!si || si->magic != HVM_START_MAGIC)
		con_fail("no PVH start info (magic)\n");
	if (si->version < 1 || !si->memmap_paddr || !si->memmap_entries)
		con_fail("PVH start info has no memory map\n");
	mm_exclude((uint64_t)si, sizeof(*si));
	mm_exclude(si->memmap_paddr,
		   si->memmap_entries * sizeof(struct hvm_memmap_entry));
	if (si->nr_modules)
		mm_exclude(si->modlist_paddr,
			   si->nr_modules * sizeof(struct hvm_modlist_entry));
	return si;
}

static void boot_memory(const struct hvm_start_info *si)
{
	const char *cmdline = (const char *)si->cmdline_paddr;

	if (cmdline) {
		cmdline_init(cmdline);
		mm_exclude(si->cmdline_paddr, strlen(cmdline) + 1);
	}
	mm_init((const struct hvm_memmap_entry *)si->memmap_paddr,
		si->memmap_entries);
}

static void debug_report(void)
{
	unsigned int i;
	uint32_t r[4];

	cpuid(1, 0, r);
	con_printf("guest: cpuid1 ecx=%x edx=%x\n", r[2], r[3]);
	con_printf("guest: cpus=%u (%s) ram_mib=%lu avx=%u apic_ids=",
		   platform.ncpus, platform.cpu_source, mm_ram_bytes() >> 20,
		   boot_facts.avx ? 1 : 0);
	for (i = 0; i < platform.ncpus; i++)
		con_printf("%s%u", i ? "," : "", platform.apic_id[i]);
	con_printf(" sleep=%u reset=%u ioapic=%lx irq0_gsi=%u\n",
		   platform.have_sleep, platform.have_reset,
		   platform.ioapic_base, platform.irq0_gsi);
}

void boot_main(void)
{
	uint64_t t0 = rdtsc();
	const struct hvm_start_info *si;

	memset(__bss_start, 0, (size_t)(__bss_end - __bss_start));
	con_init();
	si = start_info();
	boot_memory(si);
	idt_init();
	boot_facts.avx = avx_offered() && cmdline_u64("avx", 1);
	cpu_local_init(0);
	platform.lapic_base = rdmsr(MSR_APIC_BASE) & ~0xfffULL;
	lapic_init();
	pic_mask_all();
	acpi_init(si->rsdp_paddr, lapic_id());
	clock_calibrate();
	con_virtio_init();
	if (debug_enabled())
		debug_report();
	boot_facts.ncpus = smp_start();
	guest_ops.setup();
	lapic_timer_start(clock_timer_count());
	if (debug_enabled())
		con_printf("guest: boot took %lu ms\n",
			   (rdtsc() - t0) / (boot_facts.tsc_hz / 1000));
	boot_go = 1;
	enter_user((uint64_t)user_start, ustack_top(0), 0);
}

void ap_main(void)
{
	unsigned int cpu = ap_cpu;

	cpu_local_init(cpu);
	lapic_init();
	lapic_timer_start(clock_timer_count());
	ap_started = 1;
	enter_user((uint64_t)user_start, ustack_top(cpu), cpu);
}
