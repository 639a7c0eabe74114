/*
 * CPUID filtering by CPU model. A named model is a whitelist per feature
 * register; everything outside it reads zero, leaves that describe
 * optional hardware (SGX, PT, AMX...) are dropped, and XSAVE state is
 * limited to the components the model's features need, so the guest's
 * XCR0 and the saved XSAVE area stay the same on every host that can run
 * the model.
 */
#include "vmm/x86/cpuid.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"
#include "common/log.h"
#include "vmm/kvm.h"

#define BIT(n) (1u << (n))

enum { R_EAX, R_EBX, R_ECX, R_EDX };

/* A feature register of one leaf: (function, index, register). */
struct cpuid_reg {
	uint32_t function, index;
	int reg;
};

static const struct cpuid_reg feature_regs[] = {
	{ 1, 0, R_ECX },	  { 1, 0, R_EDX }, { 7, 0, R_EBX },
	{ 7, 0, R_ECX },	  { 7, 0, R_EDX }, { 0x80000001, 0, R_ECX },
	{ 0x80000001, 0, R_EDX },
};
#define NR_FEATURE_REGS ARRAY_SIZE(feature_regs)

struct cpu_model {
	const char *name;
	uint32_t features[NR_FEATURE_REGS]; /* same order as feature_regs */
	uint64_t xcr0;
};

/* Leaf 1 EDX: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca
 * cmov pat pse36 clflush mmx fxsr sse sse2 */
#define L1_EDX_BASE                                                            \
	(BIT(0) | BIT(1) | BIT(2) | BIT(3) | BIT(4) | BIT(5) | BIT(6) |        \
	 BIT(7) | BIT(8) | BIT(9) | BIT(11) | BIT(12) | BIT(13) | BIT(14) |    \
	 BIT(15) | BIT(16) | BIT(17) | BIT(19) | BIT(23) | BIT(24) | BIT(25) | \
	 BIT(26))
/* Leaf 1 ECX platform bits: x2apic, tsc-deadline, osxsave, hypervisor. */
#define L1_ECX_PLATFORM (BIT(21) | BIT(24) | BIT(27) | BIT(31))
/* v2: sse3 ssse3 cx16 sse4.1 sse4.2 popcnt */
#define L1_ECX_V2 (BIT(0) | BIT(9) | BIT(13) | BIT(19) | BIT(20) | BIT(23))
/* v3: fma movbe xsave avx f16c */
#define L1_ECX_V3 (BIT(12) | BIT(22) | BIT(26) | BIT(28) | BIT(29))
/* Leaf 7 EBX v3: bmi1 avx2 bmi2; v4: avx512 f dq cd bw vl */
#define L7_EBX_V3 (BIT(3) | BIT(5) | BIT(8))
#define L7_EBX_V4 (BIT(16) | BIT(17) | BIT(28) | BIT(30) | BIT(31))
/* 0x80000001 ECX: lahf_lm (v2), abm/lzcnt (v3) */
#define X1_ECX_V2 BIT(0)
#define X1_ECX_V3 BIT(5)
/* 0x80000001 EDX: syscall nx lm */
#define X1_EDX_BASE (BIT(11) | BIT(20) | BIT(29))

#define XCR0_SSE 0x3ULL
#define XCR0_AVX 0x4ULL
#define XCR0_AVX512 0xe0ULL

static const struct cpu_model cpu_models[] = {
	{ "x86-64-v1",
	  { L1_ECX_PLATFORM, L1_EDX_BASE, 0, 0, 0, 0, X1_EDX_BASE },
	  XCR0_SSE },
	{ "x86-64-v2",
	  { L1_ECX_PLATFORM | L1_ECX_V2, L1_EDX_BASE, 0, 0, 0, X1_ECX_V2,
	    X1_EDX_BASE },
	  XCR0_SSE },
	{ "x86-64-v3",
	  { L1_ECX_PLATFORM | L1_ECX_V2 | L1_ECX_V3, L1_EDX_BASE, L7_EBX_V3, 0,
	    0, X1_ECX_V2 | X1_ECX_V3, X1_EDX_BASE },
	  XCR0_SSE | XCR0_AVX },
	{ "x86-64-v4",
	  { L1_ECX_PLATFORM | L1_ECX_V2 | L1_ECX_V3, L1_EDX_BASE,
	    L7_EBX_V3 | L7_EBX_V4, 0, 0, X1_ECX_V2 | X1_ECX_V3, X1_EDX_BASE },
	  XCR0_SSE | XCR0_AVX | XCR0_AVX512 },
};

const char *const cpuid_model_names[] = { "host",      "x86-64-v1", "x86-64-v2",
					  "x86-64-v3", "x86-64-v4", NULL };

struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c, uint32_t function,
				    uint32_t index)
{
	uint32_t i;

	for (i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function != function)
			continue;
		if (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) ||
		    e->index == index)
			return e;
	}
	return NULL;
}

static uint32_t *entry_reg(struct kvm_cpuid_entry2 *e, int reg)
{
	switch (reg) {
	case R_EAX:
		return &e->eax;
	case R_EBX:
		return &e->ebx;
	case R_ECX:
		return &e->ecx;
	default:
		return &e->edx;
	}
}

static const struct cpu_model *model_find(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cpu_models); i++)
		if (!strcmp(cpu_models[i].name, name))
			return &cpu_models[i];
	return NULL;
}

/* Leaves a named model keeps; everything else is dropped. */
static bool leaf_kept(uint32_t fn)
{
	static const uint32_t keep[] = { 0, 1, 2, 4, 7, 0xb, 0xd, 0x1f };

	size_t i;

	if (fn >= 0x40000000 && fn <= 0x40000001)
		return true; /* KVM paravirt signature and features */
	if (fn >= 0x80000000 && fn <= 0x80000008)
		return true;
	for (i = 0; i < ARRAY_SIZE(keep); i++)
		if (fn == keep[i])
			return true;
	return false;
}

/* Check and mask one feature register; set why on a missing feature. */
static int filter_reg(struct kvm_cpuid2 *c, size_t r, uint32_t want,
		      const char *model, char *why, size_t whylen)
{
	const struct cpuid_reg *fr = &feature_regs[r];
	struct kvm_cpuid_entry2 *e = cpuid_find(c, fr->function, fr->index);
	uint32_t have = e ? *entry_reg(e, fr->reg) : 0;
	/* Platform bits are granted by KVM itself where missing. */
	uint32_t required = want & ~(r == 0 ? L1_ECX_PLATFORM : 0);
	uint32_t missing = required & ~have;

	if (missing) {
		snprintf(
			why, whylen,
			"cpu model %s needs CPUID leaf 0x%x register %c bit %d, which this host's KVM does not offer",
			model, fr->function, "abcd"[fr->reg],
			__builtin_ctz(missing));
		return -ENOTSUP;
	}
	if (e)
		*entry_reg(e, fr->reg) = have & want;
	return 0;
}

/* XSAVE leaf 0xd: keep only the model's components and resize. */
static void filter_xsave(struct kvm_cpuid2 *c, uint64_t xcr0)
{
	struct kvm_cpuid_entry2 *e0 = cpuid_find(c, 0xd, 0);
	uint32_t i, max = 576; /* legacy area + XSAVE header */

	if (!e0)
		return;
	for (i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function != 0xd || e->index < 2)
			continue;
		if (e->index >= 64 || !(xcr0 & (1ULL << e->index))) {
			e->eax = e->ebx = e->ecx = e->edx = 0;
			continue;
		}
		max = MAX(max, e->eax + e->ebx);
	}
	xcr0 &= ((uint64_t)e0->edx << 32) | e0->eax;
	e0->eax = (uint32_t)xcr0;
	e0->edx = (uint32_t)(xcr0 >> 32);
	e0->ecx = max;
	/* XSAVEOPT and XGETBV1 only: XSAVEC/XSAVES would change the layout. */
	e0 = cpuid_find(c, 0xd, 1);
	if (e0) {
		e0->eax &= BIT(0) | BIT(2);
		e0->ecx = e0->edx = 0;
	}
}

static void filter_leaf7(struct kvm_cpuid2 *c)
{
	uint32_t i;

	for (i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function != 7)
			continue;
		if (e->index == 0)
			e->eax = 0; /* no further subleaves */
		else
			e->eax = e->ebx = e->ecx = e->edx = 0;
	}
}

struct kvm_cpuid2 *cpuid_copy(const struct kvm_cpuid2 *src)
{
	size_t sz = sizeof(*src) + src->nent * sizeof(src->entries[0]);
	struct kvm_cpuid2 *c = malloc(sz);

	if (c)
		memcpy(c, src, sz);
	return c;
}

/* Drop leaves a named model does not keep, compacting the table. */
static void drop_leaves(struct kvm_cpuid2 *c)
{
	uint32_t i, n = 0;

	for (i = 0; i < c->nent; i++)
		if (leaf_kept(c->entries[i].function))
			c->entries[n++] = c->entries[i];
	c->nent = n;
}

int cpuid_filter(const struct kvm_cpuid2 *supported, const char *model,
		 struct kvm_cpuid2 **out, char *why, size_t whylen)
{
	const struct cpu_model *m = NULL;
	struct kvm_cpuid2 *c;
	struct kvm_cpuid_entry2 *e;
	size_t r;
	int rc;

	if (strcmp(model, "host")) {
		m = model_find(model);
		if (!m) {
			snprintf(
				why, whylen,
				"unknown cpu model '%s' (host, x86-64-v1, x86-64-v2, x86-64-v3, x86-64-v4)",
				model);
			return -EINVAL;
		}
	}
	c = cpuid_copy(supported);
	if (!c)
		return -ENOMEM;
	if (m) {
		drop_leaves(c);
		for (r = 0; r < NR_FEATURE_REGS; r++) {
			rc = filter_reg(c, r, m->features[r], model, why,
					whylen);
			if (rc) {
				free(c);
				return rc;
			}
		}
		filter_leaf7(c);
		filter_xsave(c, m->xcr0);
	}
	e = cpuid_find(c, 1, 0);
	if (e)
		e->ecx |= BIT(31); /* hypervisor present */
	*out = c;
	return 0;
}

static unsigned int order_base2(unsigned int n)
{
	unsigned int s = 0;

	while ((1u << s) < n)
		s++;
	return s;
}

/* Leaves 0xb and 0x1f: one thread per core, all cores in one package. */
static void set_ext_topology(struct kvm_cpuid2 *c, uint32_t fn,
			     unsigned int index, unsigned int nr)
{
	uint32_t i;

	for (i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function != fn)
			continue;
		e->edx = index;
		if (e->index == 0) {
			e->eax = 0;
			e->ebx = 1;
			e->ecx = 0 | (1 << 8); /* SMT level */
		} else if (e->index == 1) {
			e->eax = order_base2(nr);
			e->ebx = nr;
			e->ecx = 1 | (2 << 8); /* core level */
		} else {
			e->eax = e->ebx = 0;
			e->ecx = e->index; /* invalid level ends the list */
		}
	}
}

void cpuid_set_vcpu(struct kvm_cpuid2 *c, unsigned int index,
		    unsigned int nr_vcpus)
{
	struct kvm_cpuid_entry2 *e;
	uint32_t i;

	e = cpuid_find(c, 1, 0);
	if (e) {
		e->ebx = (e->ebx & 0xffff) | (index << 24) |
			 (MIN(nr_vcpus, 255u) << 16);
		e->edx = nr_vcpus > 1 ? e->edx | BIT(28) : e->edx & ~BIT(28);
	}
	set_ext_topology(c, 0xb, index, nr_vcpus);
	set_ext_topology(c, 0x1f, index, nr_vcpus);
	for (i = 0; i < c->nent; i++) {
		e = &c->entries[i];
		if (e->function == 4 && (e->eax & 0x1f))
			e->eax = (e->eax & 0x03ffffff) |
				 ((MIN(nr_vcpus, 64u) - 1) << 26);
	}
	e = cpuid_find(c, 0x8000001e, 0);
	if (e) {
		e->eax = index;
		e->ebx = (e->ebx & ~0xffu) | (index & 0xff);
		e->ecx = 0;
	}
	e = cpuid_find(c, 0x80000008, 0);
	if (e)
		e->ecx = (e->ecx & ~0xffu) | ((nr_vcpus - 1) & 0xff);
}

static int entry_cmp(const void *a, const void *b)
{
	const struct kvm_cpuid_entry2 *x = a, *y = b;

	if (x->function != y->function)
		return x->function < y->function ? -1 : 1;
	if (x->index != y->index)
		return x->index < y->index ? -1 : 1;
	return 0;
}

uint32_t cpuid_digest(const struct kvm_cpuid2 *c)
{
	struct kvm_cpuid2 *n = cpuid_copy(c);
	uint32_t i, crc = 0;

	if (!n)
		return 0;
	cpuid_set_vcpu(n, 0, 1);
	qsort(n->entries, n->nent, sizeof(n->entries[0]), entry_cmp);
	for (i = 0; i < n->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &n->entries[i];
		uint32_t v[6] = { e->function, e->index, e->eax,
				  e->ebx,      e->ecx,	 e->edx };

		crc = crc32c(crc, v, sizeof(v));
	}
	free(n);
	return crc;
}

uint32_t cpuid_model_digest(const struct kvm_cpuid2 *c, const char *model)
{
	struct kvm_cpuid2 *t = (struct kvm_cpuid2 *)c;
	struct kvm_cpuid_entry2 *e;
	char vendor[13];
	uint32_t crc, v[4];
	size_t r;

	if (!strcmp(model, "host"))
		return cpuid_digest(c);
	cpuid_vendor(c, vendor);
	crc = crc32c(0, vendor, 12);
	for (r = 0; r < NR_FEATURE_REGS; r++) {
		const struct cpuid_reg *fr = &feature_regs[r];

		e = cpuid_find(t, fr->function, fr->index);
		v[0] = fr->function;
		v[1] = fr->index;
		v[2] = fr->reg;
		v[3] = e ? *entry_reg(e, fr->reg) : 0;
		/* APIC IDs share no feature register; OSXSAVE is runtime. */
		if (r == 0)
			v[3] &= ~BIT(27);
		crc = crc32c(crc, v, sizeof(v));
	}
	e = cpuid_find(t, 0xd, 0);
	v[0] = e ? e->eax : 0;
	v[1] = e ? e->edx : 0;
	return crc32c(crc, v, 2 * sizeof(v[0]));
}

void cpuid_vendor(const struct kvm_cpuid2 *c, char vendor_out[13])
{
	struct kvm_cpuid_entry2 *e = cpuid_find((struct kvm_cpuid2 *)c, 0, 0);

	memset(vendor_out, 0, 13);
	if (!e)
		return;
	memcpy(vendor_out, &e->ebx, 4);
	memcpy(vendor_out + 4, &e->edx, 4);
	memcpy(vendor_out + 8, &e->ecx, 4);
}

int cpuid_build(const struct kvm *kvm, const char *model,
		struct kvm_cpuid2 **out, uint32_t *digest_out,
		char vendor_out[13])
{
	char why[256];
	int rc;

	rc = cpuid_filter(kvm->supported_cpuid, model, out, why, sizeof(why));
	if (rc) {
		log_err("%s", rc == -ENOMEM ? "out of memory" : why);
		return rc;
	}
	*digest_out = cpuid_model_digest(*out, model);
	cpuid_vendor(*out, vendor_out);
	return 0;
}
