/*
 * cpu.elf and smp-cpu.elf, ring 3: one round of the register workout.
 *
 *   void cpu_round_sse(const struct cpu_regs *in, struct cpu_regs *mid,
 *                      struct cpu_regs *out, uint64_t steps);
 *   void cpu_round_avx(...same...);
 *
 * The state lives in 13 general registers (rax rbx rdx rsi rdi rbp
 * r8-r14), all 16 xmm registers and, in the AVX variant, the upper
 * halves of all 16 ymm registers. rcx counts iterations, r15 is scratch.
 * A round loads the state from in, applies the block of invertible steps
 * (add/sub, xor between registers, rotations, byte swaps, lane shuffles,
 * mixing between general and vector registers) steps times, stores the
 * mid-state to mid, applies the inverse steps in reverse order steps
 * times and stores the result to out, which must equal in. The state
 * stays in registers for the whole round, so any register lost or
 * changed by an interrupt, a save/restore or a migration shows as
 * out != in (every step is a bijection of the state).
 *
 * SSE arithmetic uses legacy encodings, which preserve the ymm upper
 * halves; only 256-bit VEX operations touch the upper halves.
 */

#define GPR 0
#define XMM 128
#define YMMH 384
#define SCRATCH 0 /* 16 bytes at the stack top, 16-byte aligned */
#define MID 16
#define OUT 24
#define STEPS 32
#define FRAME 56

/* dst += src forward, dst -= src inverse (and the reverse). */
.macro S_ADD i, src, dst
	.if \i
	sub \src, \dst
	.else
	add \src, \dst
	.endif
.endm

.macro S_SUB i, src, dst
	.if \i
	add \src, \dst
	.else
	sub \src, \dst
	.endif
.endm

.macro S_ROL i, n, r
	.if \i
	ror $\n, \r
	.else
	rol $\n, \r
	.endif
.endm

.macro S_PADD i, w, src, dst
	.if \i
	psub\w \src, \dst
	.else
	padd\w \src, \dst
	.endif
.endm

/* pshufd with a permutation and its inverse. */
.macro S_PSHUF i, fwd, inv, r
	.if \i
	pshufd $\inv, \r, \r
	.else
	pshufd $\fwd, \r, \r
	.endif
.endm

/* Self-inverse AVX step, only in the AVX variant. */
.macro S_AVX a, op:vararg
	.if \a
	\op
	.endif
.endm

.macro step0 i, a
	S_ADD \i, %rbx, %rax
.endm
.macro step1 i, a
	S_ROL \i, 13, %rax
.endm
.macro step2 i, a
	xor %rax, %rdx
.endm
.macro step3 i, a
	S_ADD \i, %rcx, %rsi
.endm
.macro step4 i, a
	S_ROL \i, 29, %rsi
.endm
.macro step5 i, a
	S_SUB \i, %rsi, %rdi
.endm
.macro step6 i, a
	xor %rdi, %rbp
.endm
.macro step7 i, a
	bswap %rbp
.endm
.macro step8 i, a
	S_ADD \i, %rbp, %r8
.endm
.macro step9 i, a
	S_ROL \i, 7, %r8
.endm
.macro step10 i, a
	xor %r8, %r9
.endm
.macro step11 i, a
	S_ADD \i, %r9, %r10
.endm
.macro step12 i, a
	S_ROL \i, 47, %r10
.endm
.macro step13 i, a
	xor %r10, %r11
.endm
.macro step14 i, a
	S_ADD \i, %r11, %r12
.endm
.macro step15 i, a
	xor %r12, %r13
.endm
.macro step16 i, a
	S_ADD \i, %r13, %r14
.endm
.macro step17 i, a
	S_ROL \i, 41, %r14
.endm
.macro step18 i, a
	xor %r14, %rbx
.endm
.macro step19 i, a
	movq %xmm3, %r15
	S_ADD \i, %r15, %rax
.endm
.macro step20 i, a
	mov %rdx, SCRATCH(%rsp)
	mov %r11, SCRATCH+8(%rsp)
	S_PADD \i, q, SCRATCH(%rsp), %xmm0
.endm
.macro step21 i, a
	S_PADD \i, q, %xmm1, %xmm0
.endm
.macro step22 i, a
	S_PSHUF \i, 0x39, 0x93, %xmm0
.endm
.macro step23 i, a
	pxor %xmm0, %xmm2
.endm
.macro step24 i, a
	S_PADD \i, d, %xmm2, %xmm3
.endm
.macro step25 i, a
	pshuflw $0x1b, %xmm3, %xmm3
.endm
.macro step26 i, a
	S_PADD \i, w, %xmm3, %xmm4
.endm
.macro step27 i, a
	pxor %xmm4, %xmm5
.endm
.macro step28 i, a
	S_AVX \a, vperm2f128 $1, %ymm5, %ymm5, %ymm5
.endm
.macro step29 i, a
	S_PADD \i, q, %xmm5, %xmm6
.endm
.macro step30 i, a
	S_PADD \i, b, %xmm6, %xmm7
.endm
.macro step31 i, a
	pshufhw $0xb1, %xmm7, %xmm7
.endm
.macro step32 i, a
	pxor %xmm7, %xmm8
.endm
.macro step33 i, a
	S_AVX \a, vxorps %ymm1, %ymm2, %ymm2
.endm
.macro step34 i, a
	S_PADD \i, q, %xmm8, %xmm9
.endm
.macro step35 i, a
	S_PSHUF \i, 0x39, 0x93, %xmm9
.endm
.macro step36 i, a
	S_AVX \a, vpermilps $0x1b, %ymm9, %ymm9
.endm
.macro step37 i, a
	S_PADD \i, d, %xmm9, %xmm10
.endm
.macro step38 i, a
	pxor %xmm10, %xmm11
.endm
.macro step39 i, a
	S_AVX \a, vperm2f128 $1, %ymm10, %ymm10, %ymm10
.endm
.macro step40 i, a
	S_PADD \i, q, %xmm11, %xmm12
.endm
.macro step41 i, a
	pshufd $0x4e, %xmm12, %xmm12
.endm
.macro step42 i, a
	S_PADD \i, w, %xmm12, %xmm13
.endm
.macro step43 i, a
	S_AVX \a, vxorps %ymm12, %ymm14, %ymm14
.endm
.macro step44 i, a
	pxor %xmm13, %xmm14
.endm
.macro step45 i, a
	S_PADD \i, d, %xmm14, %xmm15
.endm
.macro step46 i, a
	S_PSHUF \i, 0x93, 0x39, %xmm15
.endm
.macro step47 i, a
	S_PADD \i, q, %xmm15, %xmm1
.endm
.macro step48 i, a
	movq %xmm15, %r15
	xor %r15, %r13
.endm
.macro step49 i, a
	S_AVX \a, vxorps %ymm15, %ymm0, %ymm0
.endm
.macro step50 i, a
	S_AVX \a, vpermilpd $5, %ymm3, %ymm3
.endm
.macro step51 i, a
	movq %xmm7, %r15
	S_ADD \i, %r15, %r9
.endm
.macro step52 i, a
	movq %xmm11, %r15
	xor %r15, %rsi
.endm
.macro step53 i, a
	mov %r14, SCRATCH(%rsp)
	mov %rbp, SCRATCH+8(%rsp)
	pxor SCRATCH(%rsp), %xmm6
.endm
.macro step54 i, a
	S_ADD \i, %rcx, %r12
.endm
.macro step55 i, a
	pshufd $0x4e, %xmm5, %xmm5
.endm

.macro FORWARD a
	.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55
	step\n 0, \a
	.endr
.endm

.macro INVERSE a
	.irp n, 55,54,53,52,51,50,49,48,47,46,45,44,43,42,41,40,39,38,37,36,35,34,33,32,31,30,29,28,27,26,25,24,23,22,21,20,19,18,17,16,15,14,13,12,11,10,9,8,7,6,5,4,3,2,1,0
	step\n 1, \a
	.endr
.endm

/* Vector state from/to the struct at \p. */
.macro LOADV a, p
	.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
	.if \a
	vmovdqu XMM+16*\n(\p), %xmm\n
	vinsertf128 $1, YMMH+16*\n(\p), %ymm\n, %ymm\n
	.else
	movdqu XMM+16*\n(\p), %xmm\n
	.endif
	.endr
.endm

.macro STOREV a, p
	.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
	.if \a
	vmovdqu %xmm\n, XMM+16*\n(\p)
	vextractf128 $1, %ymm\n, YMMH+16*\n(\p)
	.else
	movdqu %xmm\n, XMM+16*\n(\p)
	.endif
	.endr
.endm

/* General-register state; RDI (the pointer) is loaded last. */
.macro LOADG
	mov GPR+0(%rdi), %rax
	mov GPR+8(%rdi), %rbx
	mov GPR+16(%rdi), %rdx
	mov GPR+24(%rdi), %rsi
	mov GPR+40(%rdi), %rbp
	mov GPR+48(%rdi), %r8
	mov GPR+56(%rdi), %r9
	mov GPR+64(%rdi), %r10
	mov GPR+72(%rdi), %r11
	mov GPR+80(%rdi), %r12
	mov GPR+88(%rdi), %r13
	mov GPR+96(%rdi), %r14
	mov GPR+32(%rdi), %rdi
.endm

.macro STOREG p
	mov %rax, GPR+0(\p)
	mov %rbx, GPR+8(\p)
	mov %rdx, GPR+16(\p)
	mov %rsi, GPR+24(\p)
	mov %rdi, GPR+32(\p)
	mov %rbp, GPR+40(\p)
	mov %r8, GPR+48(\p)
	mov %r9, GPR+56(\p)
	mov %r10, GPR+64(\p)
	mov %r11, GPR+72(\p)
	mov %r12, GPR+80(\p)
	mov %r13, GPR+88(\p)
	mov %r14, GPR+96(\p)
.endm

.macro ROUND name, a
	.globl \name
	.type \name, @function
\name:
	push %rbx
	push %rbp
	push %r12
	push %r13
	push %r14
	push %r15
	sub $FRAME, %rsp
	mov %rsi, MID(%rsp)
	mov %rdx, OUT(%rsp)
	mov %rcx, STEPS(%rsp)
	LOADV \a, %rdi
	LOADG
1:	FORWARD \a
	dec %rcx
	jnz 1b
	mov MID(%rsp), %rcx
	STOREG %rcx
	STOREV \a, %rcx
	mov $1, %ecx
2:	INVERSE \a
	inc %rcx
	cmp STEPS(%rsp), %rcx
	jbe 2b
	mov OUT(%rsp), %rcx
	STOREG %rcx
	STOREV \a, %rcx
	.if \a
	vzeroupper
	.endif
	add $FRAME, %rsp
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %rbp
	pop %rbx
	ret
	.size \name, . - \name
.endm

	.text
	ROUND cpu_round_sse, 0
	ROUND cpu_round_avx, 1

	.section .note.GNU-stack, "", @progbits
