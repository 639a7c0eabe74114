/*
 * Data shared between a guest's ring-0 code and its ring-3 code. All guest
 * RAM is mapped user-accessible, so ring 3 reads and writes these objects
 * directly; ring 0 publishes configuration before ring 3 starts (boot_go)
 * and afterwards only reads what ring 3 writes. Objects written by one CPU
 * and read by another sit in their own 64-byte lines.
 */
#ifndef GUEST_SHARED_H
#define GUEST_SHARED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "defs.h"

#define CACHELINE 64
#define GUEST_HZ 100 /* LAPIC timer interrupts per second, every CPU */

/* What ring 3 of one CPU reports; the BSP's timer handler reads it. */
enum user_state {
	USER_RUNNING = 0,
	USER_DONE = 1, /* finished its work without fault */
	USER_BAD = 2, /* detected a failure: see the bad_* fields */
};

struct user_status {
	volatile uint64_t progress; /* sweeps or rounds completed */
	volatile uint64_t state; /* enum user_state */
	volatile uint64_t digest; /* cpu guests: digest so far */
	volatile uint64_t bad_a; /* guest-defined failure details */
	volatile uint64_t bad_b;
	volatile uint64_t bad_c;
	uint64_t pad[2];
} __attribute__((aligned(CACHELINE)));

_Static_assert(sizeof(struct user_status) == CACHELINE, "status line");

/* Boot facts ring 0 publishes once, before ring 3 starts. */
struct boot_facts {
	uint64_t tsc_hz; /* calibrated TSC frequency */
	uint64_t lapic_hz; /* LAPIC timer input after the divider */
	uint32_t ncpus; /* CPUs running the guest (BSP is index 0) */
	bool avx; /* CR4.OSXSAVE and XCR0 enable AVX state */
};

extern struct boot_facts boot_facts;
extern volatile uint32_t boot_go; /* set by the BSP: ring 3 may start */
extern struct user_status user_status[MAX_CPUS];

/* Ring 3: the guest's work on CPU cpu (0 = BSP). Never returns. */
void guest_user_main(unsigned int cpu);
/* Ring 3: first code run in ring 3 on every CPU. */
void user_start(unsigned int cpu);

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

static inline void cpu_relax(void)
{
	asm volatile("pause" ::: "memory");
}

static inline void barrier(void)
{
	asm volatile("" ::: "memory");
}

/* Library functions (lib.c); usable from both rings. */
void *memset(void *dst, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strncmp(const char *a, const char *b, size_t n);

#endif
