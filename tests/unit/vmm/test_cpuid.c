/*
 * Unit tests of CPUID filtering without KVM. A synthetic "supported" table
 * stands in for KVM_GET_SUPPORTED_CPUID of a host that has every feature
 * the models name (and more: SGX and PT leaves, MPX XSAVE components).
 * The expected bits of each x86-64-vN level are written here from the
 * x86-64 psABI, independently of cpuid.c's own tables.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/crc32c.h"
#include "vmm/x86/cpuid.h"

#define B(n) (1u << (n))
#define SIG KVM_CPUID_FLAG_SIGNIFCANT_INDEX

/* ---- The host ---------------------------------------------------------- */

#define HOST_L1_EBX 0x05100800u /* APIC id 5, 16 logical, clflush 64 */
#define HOST_L1_ECX 0x7ffefbffu /* everything but hypervisor and bit 16 */
#define HOST_L1_EDX 0xbfebfbffu
#define HOST_L7_EBX 0xf3bfffffu
#define HOST_L7_ECX 0x40405f5eu
#define HOST_L7_EDX 0xbc000410u
#define HOST_X1_ECX 0x00000121u /* lahf_lm, abm, prefetchw */
#define HOST_X1_EDX 0x2c100800u /* syscall, nx, pdpe1gb, rdtscp, lm */
#define HOST_XCR0 0xffu /* x87 sse avx bndregs bndcsr k zmm_hi hi16 */

struct ent {
	uint32_t fn, idx, flags, eax, ebx, ecx, edx;
};

static const struct ent host_entries[] = {
	{ 0, 0, 0, 0x1f, 0x756e6547, 0x6c65746e, 0x49656e69 },
	{ 1, 0, 0, 0x000906ea, HOST_L1_EBX, HOST_L1_ECX, HOST_L1_EDX },
	{ 2, 0, 0, 0x00feff01, 0, 0, 0 },
	{ 4, 0, SIG, 0x1c004121, 0x01c0003f, 0x3f, 0 },
	{ 4, 1, SIG, 0x1c004122, 0x01c0003f, 0x3f, 0 },
	{ 4, 2, SIG, 0x1c004143, 0x00c0003f, 0x3ff, 0 },
	{ 4, 3, SIG, 0x1c03c163, 0x02c0003f, 0x1fff, 6 },
	{ 4, 4, SIG, 0, 0, 0, 0 },
	{ 7, 0, SIG, 2, HOST_L7_EBX, HOST_L7_ECX, HOST_L7_EDX },
	{ 7, 1, SIG, 0x00001c30, 0, 0, 0 },
	{ 7, 2, SIG, 0, 0, 0, 0x3f },
	{ 0xb, 0, SIG, 1, 2, 0x100, 5 },
	{ 0xb, 1, SIG, 4, 16, 0x201, 5 },
	{ 0xb, 2, SIG, 0, 0, 2, 5 },
	{ 0xd, 0, SIG, HOST_XCR0, 2696, 2696, 0 },
	{ 0xd, 1, SIG, 0xf, 2696, 0x100, 0 },
	{ 0xd, 2, SIG, 256, 576, 0, 0 },
	{ 0xd, 3, SIG, 64, 960, 0, 0 },
	{ 0xd, 4, SIG, 64, 1024, 0, 0 },
	{ 0xd, 5, SIG, 64, 1088, 0, 0 },
	{ 0xd, 6, SIG, 512, 1152, 0, 0 },
	{ 0xd, 7, SIG, 1024, 1664, 0, 0 },
	{ 0x12, 0, SIG, 3, 0, 0, 0x241f }, /* SGX: a model drops it */
	{ 0x12, 1, SIG, 0x36, 0, 0x1f, 0 },
	{ 0x14, 0, SIG, 1, 0xf, 0x7, 0 }, /* Processor Trace */
	{ 0x14, 1, SIG, 0x02490002, 0x003f3fff, 0, 0 },
	{ 0x1f, 0, SIG, 1, 2, 0x100, 5 },
	{ 0x1f, 1, SIG, 4, 16, 0x201, 5 },
	{ 0x40000000, 0, 0, 0x40000001, 0x4b4d564b, 0x564b4d56, 0x4d },
	{ 0x40000001, 0, 0, 0x01007afb, 0, 0, 0 },
	{ 0x80000000, 0, 0, 0x80000008, 0, 0, 0 },
	{ 0x80000001, 0, 0, 0, 0, HOST_X1_ECX, HOST_X1_EDX },
	{ 0x80000006, 0, 0, 0, 0, 0x01006040, 0 },
	{ 0x80000008, 0, 0, 0x3027, 0, 0x0f, 0 },
	{ 0x8000001e, 0, 0, 5, 0x105, 0x3, 0 }, /* AMD topology: host only */
};
#define NR_HOST ARRAY_SIZE(host_entries)

static struct kvm_cpuid2 *table_from(const struct ent *e, size_t n)
{
	struct kvm_cpuid2 *c =
		calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
	size_t i;

	assert_non_null(c);
	c->nent = n;
	for (i = 0; i < n; i++)
		c->entries[i] = (struct kvm_cpuid_entry2){
			.function = e[i].fn,
			.index = e[i].idx,
			.flags = e[i].flags,
			.eax = e[i].eax,
			.ebx = e[i].ebx,
			.ecx = e[i].ecx,
			.edx = e[i].edx,
		};
	return c;
}

static struct kvm_cpuid2 *host(void)
{
	return table_from(host_entries, NR_HOST);
}

static struct kvm_cpuid_entry2 *get(struct kvm_cpuid2 *c, uint32_t fn,
				    uint32_t idx)
{
	uint32_t i;

	for (i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn && c->entries[i].index == idx)
			return &c->entries[i];
	return NULL;
}

static struct kvm_cpuid2 *filter_ok(const struct kvm_cpuid2 *sup,
				    const char *model)
{
	struct kvm_cpuid2 *out = NULL;
	char why[256] = "";
	int rc = cpuid_filter(sup, model, &out, why, sizeof(why));

	if (rc)
		fail_msg("cpu model %s: %d: %s", model, rc, why);
	assert_non_null(out);
	return out;
}

/* ---- The models, from the x86-64 psABI ---------------------------------- */

/* Leaf 1 EDX of every level: fpu..sse2 (no pbe, tm, ss, acpi, ds, psn). */
#define V1_L1_EDX                                                              \
	(B(0) | B(1) | B(2) | B(3) | B(4) | B(5) | B(6) | B(7) | B(8) | B(9) | \
	 B(11) | B(12) | B(13) | B(14) | B(15) | B(16) | B(17) | B(19) |       \
	 B(23) | B(24) | B(25) | B(26))
/* x2apic, tsc-deadline, osxsave, hypervisor: what a VM needs. */
#define PLATFORM_L1_ECX (B(21) | B(24) | B(27) | B(31))
/* v2: sse3 ssse3 cx16 sse4_1 sse4_2 popcnt; lahf_lm */
#define V2_L1_ECX (B(0) | B(9) | B(13) | B(19) | B(20) | B(23))
#define V2_X1_ECX B(0)
/* v3: fma movbe xsave avx f16c; bmi1 avx2 bmi2; abm (lzcnt) */
#define V3_L1_ECX (B(12) | B(22) | B(26) | B(28) | B(29))
#define V3_L7_EBX (B(3) | B(5) | B(8))
#define V3_X1_ECX B(5)
/* v4: avx512f avx512dq avx512cd avx512bw avx512vl */
#define V4_L7_EBX (B(16) | B(17) | B(28) | B(30) | B(31))
/* syscall nx lm */
#define V1_X1_EDX (B(11) | B(20) | B(29))

struct model_want {
	const char *name;
	uint32_t l1_ecx, l1_edx, l7_ebx, x1_ecx, x1_edx;
	uint32_t xcr0, xsave_max;
};

static const struct model_want models[] = {
	{ "x86-64-v1", PLATFORM_L1_ECX, V1_L1_EDX, 0, 0, V1_X1_EDX, 0x3, 576 },
	{ "x86-64-v2", PLATFORM_L1_ECX | V2_L1_ECX, V1_L1_EDX, 0, V2_X1_ECX,
	  V1_X1_EDX, 0x3, 576 },
	{ "x86-64-v3", PLATFORM_L1_ECX | V2_L1_ECX | V3_L1_ECX, V1_L1_EDX,
	  V3_L7_EBX, V2_X1_ECX | V3_X1_ECX, V1_X1_EDX, 0x7, 576 + 256 },
	/* avx512: opmask 64 @1088, zmm_hi256 512 @1152, hi16_zmm 1024 @1664 */
	{ "x86-64-v4", PLATFORM_L1_ECX | V2_L1_ECX | V3_L1_ECX, V1_L1_EDX,
	  V3_L7_EBX | V4_L7_EBX, V2_X1_ECX | V3_X1_ECX, V1_X1_EDX, 0xe7,
	  1664 + 1024 },
};

/* ---- Filtering --------------------------------------------------------- */

static void test_host_passes_everything(void **state)
{
	struct kvm_cpuid2 *sup = host(), *out = filter_ok(sup, "host");
	struct kvm_cpuid2 *orig = host();
	uint32_t i;

	assert_ptr_not_equal(out, sup);
	assert_int_equal(out->nent, NR_HOST);
	for (i = 0; i < out->nent; i++) {
		struct kvm_cpuid_entry2 want = sup->entries[i];

		if (want.function == 1)
			want.ecx |= B(31); /* hypervisor present */
		assert_memory_equal(&out->entries[i], &want, sizeof(want));
	}
	/* The supported table is not modified. */
	assert_memory_equal(sup, orig,
			    sizeof(*sup) + NR_HOST * sizeof(sup->entries[0]));
	free(out);
	free(orig);
	free(sup);
}

static void check_model(const struct model_want *m)
{
	struct kvm_cpuid2 *sup = host(), *out = filter_ok(sup, m->name);
	struct kvm_cpuid_entry2 *e;
	uint32_t i;

	/* Feature registers: exactly the model's bits. */
	e = get(out, 1, 0);
	assert_int_equal(e->ecx, m->l1_ecx);
	assert_int_equal(e->edx, m->l1_edx);
	assert_int_equal(e->eax, 0x000906ea);
	e = get(out, 7, 0);
	assert_int_equal(e->ebx, m->l7_ebx);
	assert_int_equal(e->ecx, 0);
	assert_int_equal(e->edx, 0);
	assert_int_equal(e->eax, 0); /* no further subleaves */
	for (i = 1; i <= 2; i++) {
		e = get(out, 7, i);
		assert_non_null(e);
		assert_int_equal(e->eax | e->ebx | e->ecx | e->edx, 0);
	}
	e = get(out, 0x80000001, 0);
	assert_int_equal(e->ecx, m->x1_ecx);
	assert_int_equal(e->edx, m->x1_edx);

	/* Leaves kept and dropped. */
	assert_non_null(get(out, 0, 0));
	assert_non_null(get(out, 2, 0));
	assert_non_null(get(out, 4, 3));
	assert_non_null(get(out, 0xb, 1));
	assert_non_null(get(out, 0x1f, 1));
	assert_non_null(get(out, 0x40000000, 0));
	assert_non_null(get(out, 0x40000001, 0));
	assert_non_null(get(out, 0x80000000, 0));
	assert_non_null(get(out, 0x80000006, 0));
	assert_non_null(get(out, 0x80000008, 0));
	for (i = 0; i < out->nent; i++) {
		uint32_t fn = out->entries[i].function;

		assert_true(fn != 0x12 && fn != 0x14 && fn != 0x8000001e);
	}
	assert_int_equal(out->nent, NR_HOST - 5);

	/* XSAVE: XCR0 limited to the model, sizes recomputed. */
	e = get(out, 0xd, 0);
	assert_int_equal(e->eax, m->xcr0);
	assert_int_equal(e->edx, 0);
	assert_int_equal(e->ecx, m->xsave_max);
	e = get(out, 0xd, 1);
	assert_int_equal(e->eax, 0x5); /* xsaveopt, xgetbv1; no xsavec/s */
	assert_int_equal(e->ecx, 0);
	assert_int_equal(e->edx, 0);
	for (i = 2; i <= 7; i++) {
		e = get(out, 0xd, i);
		assert_non_null(e);
		if (m->xcr0 & B(i)) {
			assert_memory_equal(e, get(sup, 0xd, i), sizeof(*e));
		} else {
			assert_int_equal(e->eax | e->ebx | e->ecx | e->edx, 0);
		}
	}
	free(out);
	free(sup);
}

static void test_model_v1(void **state)
{
	check_model(&models[0]);
}

static void test_model_v2(void **state)
{
	check_model(&models[1]);
}

static void test_model_v3(void **state)
{
	check_model(&models[2]);
}

static void test_model_v4(void **state)
{
	check_model(&models[3]);
}

static void test_model_names_listed(void **state)
{
	static const char *const want[] = { "host", "x86-64-v1", "x86-64-v2",
					    "x86-64-v3", "x86-64-v4" };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(want); i++)
		assert_string_equal(cpuid_model_names[i], want[i]);
	assert_null(cpuid_model_names[i]);
}

static void expect_missing(struct kvm_cpuid2 *sup, const char *model,
			   const char *what)
{
	struct kvm_cpuid2 *out = NULL;
	char why[256] = "";

	assert_int_equal(cpuid_filter(sup, model, &out, why, sizeof(why)),
			 -ENOTSUP);
	assert_null(out);
	if (!strstr(why, what))
		fail_msg("why '%s' does not mention '%s'", why, what);
	assert_non_null(strstr(why, model));
}

static void test_model_needs_missing_bit(void **state)
{
	struct kvm_cpuid2 *sup = host(), *out;

	/* No AVX2: v3 and v4 cannot run here, v2 still can. */
	get(sup, 7, 0)->ebx &= ~B(5);
	expect_missing(sup, "x86-64-v3", "leaf 0x7 register b bit 5");
	expect_missing(sup, "x86-64-v4", "leaf 0x7 register b bit 5");
	out = filter_ok(sup, "x86-64-v2");
	free(out);
	free(sup);

	/* No SSE4.2. */
	sup = host();
	get(sup, 1, 0)->ecx &= ~B(20);
	expect_missing(sup, "x86-64-v2", "leaf 0x1 register c bit 20");
	free(sup);

	/* No CMOV: even v1 fails. */
	sup = host();
	get(sup, 1, 0)->edx &= ~B(15);
	expect_missing(sup, "x86-64-v1", "leaf 0x1 register d bit 15");
	free(sup);

	/* No AVX-512BW. */
	sup = host();
	get(sup, 7, 0)->ebx &= ~B(30);
	expect_missing(sup, "x86-64-v4", "leaf 0x7 register b bit 30");
	free(sup);

	/* No LZCNT. */
	sup = host();
	get(sup, 0x80000001, 0)->ecx &= ~B(5);
	expect_missing(sup, "x86-64-v3", "leaf 0x80000001 register c bit 5");
	free(sup);
}

static void test_model_needs_missing_leaf(void **state)
{
	struct kvm_cpuid2 *sup = host();
	struct kvm_cpuid_entry2 *e = get(sup, 0x80000001, 0);

	/* Without leaf 0x80000001 there is no long mode to offer. */
	e->function = 0x80000007;
	expect_missing(sup, "x86-64-v1", "leaf 0x80000001 register d bit 11");
	free(sup);
}

/* Platform bits KVM provides itself are not demanded of the host. */
static void test_platform_bits_not_required(void **state)
{
	struct kvm_cpuid2 *sup = host(), *out;

	get(sup, 1, 0)->ecx &= ~(B(21) | B(24));
	out = filter_ok(sup, "x86-64-v1");
	assert_int_equal(get(out, 1, 0)->ecx, B(27) | B(31));
	free(out);
	free(sup);
}

static void test_unknown_model(void **state)
{
	static const char *const bad[] = { "x86-64-v5", "", "Host", "x86-64",
					   "haswell" };
	struct kvm_cpuid2 *sup = host(), *out;
	char why[256];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		char want[64];

		out = NULL;
		assert_int_equal(cpuid_filter(sup, bad[i], &out, why,
					      sizeof(why)),
				 -EINVAL);
		assert_null(out);
		snprintf(want, sizeof(want), "unknown cpu model '%s'", bad[i]);
		assert_non_null(strstr(why, want));
	}
	free(sup);
}

/* ---- Per-vCPU fields --------------------------------------------------- */

static void check_topology_leaf(struct kvm_cpuid2 *c, uint32_t fn,
				unsigned int index, unsigned int nr,
				unsigned int shift)
{
	struct kvm_cpuid_entry2 *e = get(c, fn, 0);

	assert_int_equal(e->edx, index);
	assert_int_equal(e->eax, 0);
	assert_int_equal(e->ebx, 1);
	assert_int_equal(e->ecx, 0x100); /* level 0, type SMT */
	e = get(c, fn, 1);
	assert_int_equal(e->edx, index);
	assert_int_equal(e->eax, shift);
	assert_int_equal(e->ebx, nr);
	assert_int_equal(e->ecx, 0x201); /* level 1, type core */
}

static void test_set_vcpu_apic_ids(void **state)
{
	struct kvm_cpuid2 *sup = host(), *c = filter_ok(sup, "host");
	struct kvm_cpuid_entry2 *e;

	cpuid_set_vcpu(c, 3, 4);
	e = get(c, 1, 0);
	assert_int_equal(e->ebx >> 24, 3);
	assert_int_equal((e->ebx >> 16) & 0xff, 4);
	assert_int_equal(e->ebx & 0xffff, HOST_L1_EBX & 0xffff);
	assert_true(e->edx & B(28)); /* HTT: more than one logical CPU */
	check_topology_leaf(c, 0xb, 3, 4, 2);
	check_topology_leaf(c, 0x1f, 3, 4, 2);
	/* Level 2 of 0xb ends the list. */
	e = get(c, 0xb, 2);
	assert_int_equal(e->eax | e->ebx, 0);
	assert_int_equal(e->ecx, 2);
	assert_int_equal(e->edx, 3);
	/* Cache leaves: cores per package - 1 in EAX[31:26]. */
	assert_int_equal(get(c, 4, 0)->eax >> 26, 3);
	assert_int_equal(get(c, 4, 3)->eax >> 26, 3);
	assert_int_equal(get(c, 4, 0)->eax & 0x03ffffff,
			 0x1c004121 & 0x03ffffff);
	assert_int_equal(get(c, 4, 4)->eax, 0); /* no cache: untouched */
	assert_int_equal(get(c, 0x80000008, 0)->ecx & 0xff, 3);
	e = get(c, 0x8000001e, 0);
	assert_int_equal(e->eax, 3);
	assert_int_equal(e->ebx & 0xff, 3);
	assert_int_equal(e->ebx & ~0xffu, 0x100);
	assert_int_equal(e->ecx, 0);

	/* One vCPU: no HTT, counts of one. */
	cpuid_set_vcpu(c, 0, 1);
	e = get(c, 1, 0);
	assert_int_equal(e->ebx >> 16, 0x0001);
	assert_false(e->edx & B(28));
	check_topology_leaf(c, 0xb, 0, 1, 0);
	assert_int_equal(get(c, 4, 0)->eax >> 26, 0);
	assert_int_equal(get(c, 0x80000008, 0)->ecx & 0xff, 0);

	/* The largest VM. */
	cpuid_set_vcpu(c, 254, 255);
	e = get(c, 1, 0);
	assert_int_equal(e->ebx >> 24, 254);
	assert_int_equal((e->ebx >> 16) & 0xff, 255);
	check_topology_leaf(c, 0x1f, 254, 255, 8);
	assert_int_equal(get(c, 4, 1)->eax >> 26, 63);
	assert_int_equal(get(c, 0x80000008, 0)->ecx & 0xff, 254);
	free(c);
	free(sup);
}

/* ---- Digest ------------------------------------------------------------ */

static uint32_t digest_of(const char *model, unsigned int index,
			  unsigned int nr)
{
	struct kvm_cpuid2 *sup = host(), *c = filter_ok(sup, model);
	uint32_t d;

	cpuid_set_vcpu(c, index, nr);
	d = cpuid_digest(c);
	free(c);
	free(sup);
	return d;
}

static void test_digest_ignores_vcpu_fields(void **state)
{
	const char *m[] = { "host", "x86-64-v3" };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(m); i++) {
		uint32_t d = digest_of(m[i], 0, 1);

		assert_int_equal(digest_of(m[i], 3, 4), d);
		assert_int_equal(digest_of(m[i], 254, 255), d);
		assert_int_equal(digest_of(m[i], 1, 2), d);
	}
	assert_int_not_equal(digest_of("host", 0, 1),
			     digest_of("x86-64-v3", 0, 1));
	assert_int_not_equal(digest_of("x86-64-v3", 0, 1),
			     digest_of("x86-64-v4", 0, 1));
}

static void test_digest_ignores_entry_order(void **state)
{
	struct kvm_cpuid2 *sup = host(), *c = filter_ok(sup, "x86-64-v2");
	struct kvm_cpuid2 *r = filter_ok(sup, "x86-64-v2");
	uint32_t i, d = cpuid_digest(c);

	for (i = 0; i < c->nent; i++)
		r->entries[i] = c->entries[c->nent - 1 - i];
	assert_int_equal(cpuid_digest(r), d);
	/* The table itself is not reordered or normalised. */
	assert_int_equal(r->entries[0].function,
			 c->entries[c->nent - 1].function);
	free(r);
	free(c);
	free(sup);
}

static void test_digest_changes_with_features(void **state)
{
	struct kvm_cpuid2 *sup = host(), *c = filter_ok(sup, "host");
	uint32_t d = cpuid_digest(c);

	get(c, 7, 0)->ebx ^= B(5);
	assert_int_not_equal(cpuid_digest(c), d);
	get(c, 7, 0)->ebx ^= B(5);
	assert_int_equal(cpuid_digest(c), d);
	get(c, 0xd, 0)->ecx += 64;
	assert_int_not_equal(cpuid_digest(c), d);
	get(c, 0xd, 0)->ecx -= 64;
	get(c, 1, 0)->ecx ^= B(0);
	assert_int_not_equal(cpuid_digest(c), d);
	get(c, 1, 0)->ecx ^= B(0);
	/* A subleaf is part of the identity too. */
	get(c, 4, 2)->index = 9;
	assert_int_not_equal(cpuid_digest(c), d);
	free(c);
	free(sup);
}

/*
 * A named model's identity ignores what the model does not define:
 * another family/model, cache leaf or brand string moves the "host"
 * digest but not the model's; a feature bit the model keeps moves both.
 */
static void test_model_digest_is_portable(void **state)
{
	struct kvm_cpuid2 *sup = host(), *other = host();
	struct kvm_cpuid2 *a, *b;
	uint32_t da;

	get(other, 1, 0)->eax ^= 0x10; /* another model number */
	get(other, 4, 0)->eax ^= 1u << 14; /* other cache sharing */
	get(other, 0x80000008, 0)->eax ^= 1; /* other address size */
	a = filter_ok(sup, "x86-64-v2");
	b = filter_ok(other, "x86-64-v2");
	da = cpuid_model_digest(a, "x86-64-v2");
	assert_int_equal(cpuid_model_digest(b, "x86-64-v2"), da);
	assert_int_not_equal(cpuid_model_digest(b, "host"),
			     cpuid_model_digest(a, "host"));
	get(b, 1, 0)->ecx ^= B(23); /* popcnt, part of v2 */
	assert_int_not_equal(cpuid_model_digest(b, "x86-64-v2"), da);
	/* "host" is the whole table. */
	assert_int_equal(cpuid_model_digest(a, "host"), cpuid_digest(a));
	free(a);
	free(b);
	free(sup);
	free(other);
}

/* The digest is the CRC32C the spec describes, computed here by hand. */
static void test_digest_matches_spec(void **state)
{
	static const struct ent e[] = {
		{ 0x80000000, 0, 0, 0x80000008, 1, 2, 3 },
		{ 2, 0, 0, 0x00feff01, 4, 5, 6 },
		{ 0, 0, 0, 0x1f, 0x756e6547, 0x6c65746e, 0x49656e69 },
		{ 0xd, 1, SIG, 0xf, 7, 8, 9 },
		{ 0xd, 0, SIG, 0x7, 10, 11, 12 },
	};
	static const int order[] = { 2, 1, 4, 3, 0 };
	struct kvm_cpuid2 *c = table_from(e, ARRAY_SIZE(e));
	uint32_t crc = 0;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(order); i++) {
		const struct ent *x = &e[order[i]];
		uint32_t v[6] = {
			x->fn, x->idx, x->eax, x->ebx, x->ecx, x->edx
		};

		crc = crc32c(crc, v, sizeof(v));
	}
	assert_int_equal(cpuid_digest(c), crc);
	free(c);
}

static void test_vendor(void **state)
{
	struct kvm_cpuid2 *c = host();
	char vendor[13];

	memset(vendor, 'x', sizeof(vendor));
	cpuid_vendor(c, vendor);
	assert_string_equal(vendor, "GenuineIntel");
	get(c, 0, 0)->function = 0x99;
	cpuid_vendor(c, vendor);
	assert_string_equal(vendor, "");
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_passes_everything),
		cmocka_unit_test(test_model_v1),
		cmocka_unit_test(test_model_v2),
		cmocka_unit_test(test_model_v3),
		cmocka_unit_test(test_model_v4),
		cmocka_unit_test(test_model_names_listed),
		cmocka_unit_test(test_model_needs_missing_bit),
		cmocka_unit_test(test_model_needs_missing_leaf),
		cmocka_unit_test(test_platform_bits_not_required),
		cmocka_unit_test(test_unknown_model),
		cmocka_unit_test(test_set_vcpu_apic_ids),
		cmocka_unit_test(test_digest_ignores_vcpu_fields),
		cmocka_unit_test(test_digest_ignores_entry_order),
		cmocka_unit_test(test_digest_changes_with_features),
		cmocka_unit_test(test_digest_matches_spec),
		cmocka_unit_test(test_model_digest_is_portable),
		cmocka_unit_test(test_vendor),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
