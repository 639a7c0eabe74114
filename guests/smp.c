/*
 * AP start-up for the SMP guests, in ring 0 on the BSP. The real-mode
 * trampoline (entry.S, .text16) is copied to TRAMP_ADDR with a GDTR for
 * the image's GDT; each AP is then started in turn with INIT, SIPI, SIPI
 * and must report ap_started within a second. APs are started one at a
 * time, so the hand-over variables need no atomics.
 */
#include "kernel.h"

#define AP_TIMEOUT_US 1000000

extern char tramp_start[], tramp_end[];
extern uint8_t kstack[MAX_CPUS][KSTACK_SIZE];
extern uint64_t gdt[GDT_SLOTS];
extern volatile uint64_t ap_kstack_top;
extern volatile uint32_t ap_cpu;
extern volatile uint32_t ap_started;

static void tramp_install(void)
{
	uint8_t *page = phys_ptr(TRAMP_ADDR);
	uint16_t limit = GDT_SLOTS * 8 - 1;
	uint32_t base = (uint32_t)(uint64_t)gdt;

	memcpy(page, tramp_start, (size_t)(tramp_end - tramp_start));
	memcpy(page + TRAMP_GDTR_OFF, &limit, 2);
	memcpy(page + TRAMP_GDTR_OFF + 2, &base, 4);
}

static bool ap_wait(uint64_t us)
{
	uint64_t end = rdtsc() + boot_facts.tsc_hz / 1000000 * us;

	while (rdtsc() < end) {
		if (ap_started)
			return true;
	}
	return ap_started != 0;
}

static bool start_one(unsigned int cpu)
{
	uint32_t id = platform.apic_id[cpu];

	ap_cpu = cpu;
	ap_kstack_top = (uint64_t)kstack[cpu] + KSTACK_SIZE;
	ap_started = 0;
	lapic_send_init(id);
	clock_delay_us(10000);
	lapic_send_sipi(id, TRAMP_VECTOR);
	if (ap_wait(1000))
		return true;
	lapic_send_sipi(id, TRAMP_VECTOR);
	return ap_wait(AP_TIMEOUT_US);
}

/* Start every AP the firmware tables list; returns the CPU count. */
unsigned int smp_start(void)
{
	unsigned int cpu;

	if (platform.ncpus < 2)
		return 1;
	tramp_install();
	for (cpu = 1; cpu < platform.ncpus; cpu++) {
		if (!start_one(cpu))
			con_fail("cpu %u (apic id %u) did not start\n", cpu,
				 platform.apic_id[cpu]);
	}
	return platform.ncpus;
}
