/*
 * ACPI tables for a hardware-reduced x86 guest: enough for Linux to find
 * its vCPUs and I/O APIC (MADT), power off through \_S5 and the FADT sleep
 * registers, reset through the FADT reset register, see power-button
 * presses through the DSDT's Generic Event Device, and (optionally) find
 * virtio-mmio devices in the DSDT. The tables are plain bytes in guest RAM,
 * written once at VM creation; they travel with RAM on save and migration.
 */
#ifndef GODWIT_VMM_X86_ACPI_H
#define GODWIT_VMM_X86_ACPI_H

#include <stdint.h>

#include "common/compiler.h"
#include "vmm/memory.h"

/* xAPIC: one byte of APIC ID, and 0xff is the broadcast ID. */
#define ACPI_MAX_VCPUS 255
#define ACPI_MAX_VIRTIO_MMIO 32
/* Pins of KVM's in-kernel I/O APIC: GSIs a device may use. */
#define ACPI_IOAPIC_PINS 24

#define ACPI_OEM_ID "GODWIT"

/* One virtio-mmio transport, described to the guest as a LNRO0005 device. */
struct acpi_virtio_mmio {
	uint64_t base; /* below 4 GiB: described with Memory32Fixed */
	uint32_t size;
	/*
	 * Level-triggered, active-high. Not the timer's (0, 2), the UART's
	 * (4) or the GED's (9); an ISA IRQ (below 16) gets a MADT override.
	 */
	uint32_t gsi;
};

struct acpi_config {
	unsigned int nr_vcpus; /* 1..ACPI_MAX_VCPUS; APIC ID = vCPU index */
	uint8_t ioapic_id; /* KVM's I/O APIC resets to ID 0 */
	unsigned int nr_virtio_mmio; /* 0..ACPI_MAX_VIRTIO_MMIO */
	struct acpi_virtio_mmio virtio_mmio[ACPI_MAX_VIRTIO_MMIO];
};

/*
 * Write RSDP, XSDT, FADT, DSDT and MADT into [LAYOUT_ACPI, LAYOUT_ACPI_END)
 * with the RSDP at LAYOUT_ACPI, where a legacy scan of 0xe0000-0xfffff
 * finds it; the rest of the area is zeroed. *rsdp_gpa_out is what boot
 * protocols pass on (hvm_start_info.rsdp_paddr, boot_params.acpi_rsdp_addr).
 * Returns 0, -EINVAL for a bad cfg, -EFAULT if the area is not guest RAM,
 * -ENOSPC if the tables do not fit.
 */
int acpi_build(struct guest_mem *mem, const struct acpi_config *cfg,
	       uint64_t *rsdp_gpa_out) __must_check;

/*
 * Same, into the area [start, end) of guest RAM; start must be 16-byte
 * aligned (-EINVAL otherwise, or if the area is empty). acpi_build() is
 * this with the layout.h area.
 */
int acpi_build_range(struct guest_mem *mem, const struct acpi_config *cfg,
		     uint64_t start, uint64_t end,
		     uint64_t *rsdp_gpa_out) __must_check;

#endif
