/*
 * Constants shared by the guests' assembly and C: segment selectors, the
 * fixed guest-physical places the guests use, control register bits and
 * interrupt vectors. Usable from .S files (no C declarations here).
 */
#ifndef GUEST_DEFS_H
#define GUEST_DEFS_H

#define MAX_CPUS 64
#define KSTACK_SIZE 8192 /* ring-0 stack per CPU (interrupts, boot) */
#define USTACK_SIZE 16384 /* ring-3 stack per CPU */
#define PAGE_SIZE 4096
#define IMAGE_BASE 0x100000 /* link address: 1 MiB */

/* GDT: fixed descriptors, then one 16-byte TSS descriptor per CPU. */
#define GDT_KCODE64 0x08
#define GDT_KDATA 0x10
#define GDT_KCODE32 0x18
#define GDT_UDATA 0x20 /* used with RPL 3 */
#define GDT_UCODE64 0x28 /* used with RPL 3 */
#define GDT_TSS0 0x30
#define GDT_FIXED 6 /* 8-byte slots before the TSS descriptors */
#define GDT_SLOTS (GDT_FIXED + 2 * MAX_CPUS)

/*
 * AP start-up: the real-mode trampoline is copied to this page (vector
 * 0x11 of the SIPI); the BSP writes a 32-bit GDTR at TRAMP_GDTR_OFF.
 */
#define TRAMP_ADDR 0x11000
#define TRAMP_VECTOR 0x11
#define TRAMP_GDTR_OFF 0xf00

/* Interrupt vectors. */
#define VEC_TIMER 0x40 /* LAPIC timer, every CPU */
#define VEC_WATCHDOG 0x41 /* PIT through the IOAPIC (timer guest) */
#define VEC_VIRTIO 0x50 /* virtio-mmio interrupts: VEC_VIRTIO + n */
#define VEC_VIRTIO_COUNT 8
#define VEC_SPURIOUS 0xff

#define CR0_PE 0x1
#define CR0_MP 0x2
#define CR0_EM 0x4
#define CR0_TS 0x8
#define CR0_NE 0x20
#define CR0_WP 0x10000
#define CR0_PG 0x80000000
#define CR4_PAE 0x20
#define CR4_OSFXSR 0x200
#define CR4_OSXMMEXCPT 0x400
#define CR4_OSXSAVE 0x40000
#define MSR_EFER 0xc0000080
#define EFER_LME 0x100
#define MSR_APIC_BASE 0x1b

#endif
