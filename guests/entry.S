/*
 * Ring-0 entry code shared by every guest: the PVH ELF note, the 32-bit
 * PVH entry point, the AP real-mode trampoline, the switch to long mode,
 * the interrupt stubs and the iretq into ring 3.
 *
 * Code is kept in sections by CPU mode so that the ring-0 instruction
 * check can disassemble each exactly: .text16 (real mode, copied to
 * TRAMP_ADDR), .text32 (protected mode) and .text (long mode).
 */
#include "defs.h"

/*
 * XEN_ELFNOTE_PHYS32_ENTRY (18): the 32-bit entry point. The descriptor
 * is 8 bytes (upper half zero) as in Linux's 64-bit vmlinux; the note
 * is 4-byte aligned, which is what PVH loaders expect.
 */
	.section .note.pvh, "a", @note
	.p2align 2
	.long 4
	.long 8
	.long 18
	.asciz "Xen"
	.p2align 2
	.quad pvh_start32

/*
 * Boot page tables: identity map of the first 4 GiB with 2 MiB pages,
 * supervisor-only. Used until boot_main() builds the real tables.
 */
	.section .data.boot_pt, "aw"
	.p2align 12
boot_pml4:
	.quad boot_pdpt + 0x3
	.fill 511, 8, 0
boot_pdpt:
	.quad boot_pd + 0x3
	.quad boot_pd + 0x1003
	.quad boot_pd + 0x2003
	.quad boot_pd + 0x3003
	.fill 508, 8, 0
boot_pd:
	.set pde, 0x83
	.rept 2048
	.quad pde
	.set pde, pde + 0x200000
	.endr

	.section .data, "aw"
	.p2align 3
	.globl gdt_ptr
gdt_ptr:
	.word GDT_SLOTS * 8 - 1
	.quad gdt
	.globl boot_start_info
boot_start_info:
	.quad 0

/* Addresses of the exception stubs, for the IDT. */
	.globl isr_exc_table
isr_exc_table:
	.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.quad isr_exc_\v
	.endr
	.globl isr_virtio_table
isr_virtio_table:
	.irp v, 0,1,2,3,4,5,6,7
	.quad isr_virtio_\v
	.endr

/*
 * AP trampoline, entered in real mode at TRAMP_ADDR (CS = TRAMP_ADDR >> 4,
 * IP = 0). It loads the 32-bit GDTR that the BSP stored in the trampoline
 * page, enables protected mode and jumps to ap_start32 in the image.
 */
	.section .text16, "ax"
	.code16
	.globl tramp_start
tramp_start:
	cli
	cld
	lgdtl %cs:TRAMP_GDTR_OFF
	movl %cr0, %eax
	orl $CR0_PE, %eax
	movl %eax, %cr0
	ljmpl $GDT_KCODE32, $ap_start32
	.globl tramp_end
tramp_end:

	.section .text32, "ax"
	.code32
/* PVH entry: protected mode, paging off, EBX = hvm_start_info. */
	.globl pvh_start32
pvh_start32:
	cli
	cld
	movl %ebx, boot_start_info
	lgdt gdt_ptr
	ljmp $GDT_KCODE32, $1f
1:	movl $0, %edi
	jmp long_mode_enter

ap_start32:
	movl $1, %edi

/* EDI: 0 for the BSP, 1 for an AP; preserved into start64. */
long_mode_enter:
	movl $GDT_KDATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %eax, %fs
	movl %eax, %gs
	movl %cr4, %eax
	orl $CR4_PAE, %eax
	movl %eax, %cr4
	movl $boot_pml4, %eax
	movl %eax, %cr3
	movl $MSR_EFER, %ecx
	rdmsr
	orl $EFER_LME, %eax
	wrmsr
	movl %cr0, %eax
	orl $(CR0_PG | CR0_PE), %eax
	movl %eax, %cr0
	ljmp $GDT_KCODE64, $start64

	.section .text, "ax"
	.code64
start64:
	testl %edi, %edi
	jnz 1f
	movq $(kstack + KSTACK_SIZE), %rsp
	xorl %ebp, %ebp
	call boot_main
	jmp halt_forever
1:	movq ap_kstack_top(%rip), %rsp
	xorl %ebp, %ebp
	call ap_main
	jmp halt_forever

	.globl halt_forever
halt_forever:
	cli
	hlt
	jmp halt_forever

/*
 * enter_user(rip, rsp, arg): iretq into ring 3 with interrupts enabled,
 * passing arg in RDI. Never returns.
 */
	.globl enter_user
enter_user:
	xorl %eax, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %fs
	movl %eax, %gs
	pushq $(GDT_UDATA | 3)
	pushq %rsi
	pushq $0x202
	pushq $(GDT_UCODE64 | 3)
	pushq %rdi
	movq %rdx, %rdi
	xorl %esi, %esi
	xorl %edx, %edx
	iretq

/*
 * Interrupt stubs. Every stub leaves the same frame (vector and error
 * code on top of the CPU's frame) and calls isr_dispatch(frame). Only
 * caller-saved registers are saved: ring-0 C is compiled with
 * -mgeneral-regs-only, so SSE/AVX registers of ring 3 are never touched.
 */
	.macro ISR_EXC v
isr_exc_\v:
	.if (\v == 8) || (\v >= 10 && \v <= 14) || (\v == 17) || (\v == 21) || (\v == 29) || (\v == 30)
	.else
	pushq $0
	.endif
	pushq $\v
	jmp isr_common
	.endm

	.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	ISR_EXC \v
	.endr

	.globl isr_timer
isr_timer:
	pushq $0
	pushq $VEC_TIMER
	jmp isr_common

	.globl isr_watchdog
isr_watchdog:
	pushq $0
	pushq $VEC_WATCHDOG
	jmp isr_common

/* virtio-mmio device interrupts (virtio_mmio.c), one stub per vector. */
	.irp v, 0,1,2,3,4,5,6,7
isr_virtio_\v:
	pushq $0
	pushq $(VEC_VIRTIO + \v)
	jmp isr_common
	.endr

	.globl isr_spurious
isr_spurious:
	iretq

isr_common:
	pushq %rax
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	cld
	movq %rsp, %rdi
	call isr_dispatch
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rax
	addq $16, %rsp
	iretq
