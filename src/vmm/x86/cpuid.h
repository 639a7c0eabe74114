/*
 * Guest CPUID: KVM's supported table filtered by a CPU model, per-vCPU
 * topology fields, and the feature digest that identifies a machine for
 * save/restore/migration. The filter is pure (unit-tested without KVM).
 *
 * Models: "host" passes everything KVM supports; "x86-64-v1" .. "-v4"
 * are the x86-64 psABI levels plus the platform bits every guest needs
 * (APIC, TSC, x2APIC, TSC-deadline, hypervisor, NX, long mode). A named
 * model that needs a feature the host lacks is refused.
 */
#ifndef GODWIT_VMM_X86_CPUID_H
#define GODWIT_VMM_X86_CPUID_H

#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"

struct kvm;

/* Names accepted by cpuid_filter(), NULL-terminated. */
extern const char *const cpuid_model_names[];

/*
 * Filter supported by model into a new table (*out, free()). On failure
 * why holds a one-line reason: unknown model, or the first missing
 * feature.
 */
int cpuid_filter(const struct kvm_cpuid2 *supported, const char *model,
		 struct kvm_cpuid2 **out, char *why,
		 size_t whylen) __must_check;
/* APIC IDs and topology for vCPU index of nr_vcpus, in place. */
void cpuid_set_vcpu(struct kvm_cpuid2 *c, unsigned int index,
		    unsigned int nr_vcpus);
/* CRC32C of the table with per-vCPU fields normalised, sorted by leaf. */
uint32_t cpuid_digest(const struct kvm_cpuid2 *c);
/*
 * The machine identity of a filtered table: for "host", cpuid_digest()
 * (everything must match); for a named model, only what the model
 * defines (vendor, its feature registers, XSAVE components), so it moves
 * between hosts whose family, caches or brand string differ.
 */
uint32_t cpuid_model_digest(const struct kvm_cpuid2 *c, const char *model);
/* vendor_out gets the 12-character vendor string and a NUL. */
void cpuid_vendor(const struct kvm_cpuid2 *c, char vendor_out[13]);
struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c, uint32_t function,
				    uint32_t index);
/* A malloc()ed copy of c (free()), or NULL. */
struct kvm_cpuid2 *cpuid_copy(const struct kvm_cpuid2 *c);

/* Filter the host's table for model (logs errors) and compute identity. */
int cpuid_build(const struct kvm *kvm, const char *model,
		struct kvm_cpuid2 **out, uint32_t *digest_out,
		char vendor_out[13]) __must_check;

#endif
