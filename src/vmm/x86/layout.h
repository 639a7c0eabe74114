/*
 * Guest physical address layout of a godwit x86 VM. Every boot structure
 * has a fixed home here so that loaders never collide; the e820/PVH memory
 * map marks everything below 1 MiB that is not plain RAM as reserved.
 *
 *   0x00000000  RAM (real-mode IVT/BDA area, left zero)
 *   0x00006000  hvm_start_info (PVH)                       4 KiB
 *   0x00007000  boot_params "zero page" (bzImage)          4 KiB
 *   0x00008000  memory map (hvm_memmap_table_entry array)  4 KiB
 *   0x00009000  PVH module list                            4 KiB
 *   0x0000a000  64-bit entry GDT (bzImage)                 4 KiB
 *   0x0000b000  PML4, PDPT, 4 PDs (bzImage identity map)  24 KiB
 *   0x00011000  AP trampoline page (guest-owned, kept free) 4 KiB
 *   0x00020000  kernel command line                       64 KiB
 *   0x0009fc00  EBDA: MP floating pointer + MP table (reserved)
 *   0x000a0000  legacy VGA/BIOS hole (reserved)
 *   0x000e0000  ACPI tables, RSDP first (reserved, BIOS area)
 *   0x00100000  kernel image (ELF p_paddr / bzImage load address)
 *   ...         initrd at the top of low RAM
 *   0xc0000000  MMIO hole: virtio-mmio, IOAPIC, LAPIC     1 GiB
 *   0xd0000000  virtio-mmio slot n at + n * 4 KiB (512-byte windows)
 *   0x100000000 RAM above 4 GiB for guests larger than the low area
 */
#ifndef GODWIT_VMM_X86_LAYOUT_H
#define GODWIT_VMM_X86_LAYOUT_H

#include "common/ram_layout.h"

#define LAYOUT_START_INFO 0x6000ULL
#define LAYOUT_ZERO_PAGE 0x7000ULL
#define LAYOUT_MEMMAP 0x8000ULL
#define LAYOUT_MEMMAP_MAX 128 /* entries in one 4 KiB page */
#define LAYOUT_MODLIST 0x9000ULL
#define LAYOUT_BOOT_GDT 0xa000ULL
#define LAYOUT_BOOT_PML4 0xb000ULL
#define LAYOUT_BOOT_PDPT 0xc000ULL
#define LAYOUT_BOOT_PD 0xd000ULL /* 4 pages: identity map of 4 GiB */
#define LAYOUT_CMDLINE 0x20000ULL
#define LAYOUT_CMDLINE_MAX 0x10000ULL
#define LAYOUT_EBDA 0x9fc00ULL
#define LAYOUT_LEGACY_HOLE 0xa0000ULL
#define LAYOUT_ACPI 0xe0000ULL
#define LAYOUT_ACPI_END 0x100000ULL
#define LAYOUT_HIGH_MEM 0x100000ULL /* 1 MiB: lowest kernel address */

/* Guest RAM goes around the MMIO hole as common/ram_layout.h says. */
#define LAYOUT_MMIO_HOLE RAM_LAYOUT_LOW_MAX
#define LAYOUT_MMIO_HOLE_END RAM_LAYOUT_HIGH_BASE
/*
 * virtio-mmio slots: slot n's 512-byte register window is at
 * LAYOUT_VIRTIO_MMIO + n * 4 KiB (a page each, so a guest can map one
 * without its neighbours) and its interrupt is GSI LAYOUT_VIRTIO_GSI(n),
 * level-triggered, active-high, one line per slot. The I/O APIC's pins
 * 16-23 go first; slots 8-17 take the ISA IRQs the platform leaves free
 * (10-15, 5-7, 3), each stated level-triggered by a MADT interrupt
 * source override. Linux without ACPI finds slot n with
 * virtio_mmio.device=512@<base>:<gsi> on its command line.
 */
#define LAYOUT_VIRTIO_MMIO 0xd0000000ULL
#define LAYOUT_VIRTIO_MMIO_STRIDE 0x1000ULL
#define LAYOUT_VIRTIO_MMIO_SIZE 0x200u
#define LAYOUT_VIRTIO_SLOTS 18u
#define LAYOUT_VIRTIO_GSI(n) \
	((n) < 8 ? 16u + (n) : (n) < 14 ? 2u + (n) : (n) < 17 ? (n)-9u : 3u)
#define LAYOUT_IOAPIC 0xfec00000ULL
#define LAYOUT_LAPIC 0xfee00000ULL
#define LAYOUT_TSS 0xfffbd000ULL /* KVM_SET_TSS_ADDR (3 pages), VMX only */
#define LAYOUT_IDENTITY_MAP 0xfffbc000ULL

/* Fixed I/O ports of the platform. */
#define PORT_SERIAL0 0x3f8
#define PORT_SERIAL0_IRQ 4
#define PORT_DEBUG_EXIT 0xf4
/*
 * ACPI hardware-reduced power management: the FADT points at these.
 * Sleep control takes (SLP_TYP << 2) | SLP_EN; SLP_TYP 5 is S5 (soft
 * off), as the DSDT's \_S5 package says. Reset writes ACPI_RESET_VALUE.
 */
#define PORT_ACPI_SLEEP_CTL 0x600
#define PORT_ACPI_SLEEP_STS 0x601
#define PORT_ACPI_RESET 0x602
#define ACPI_RESET_VALUE 0x42
#define ACPI_SLP_TYP_S5 5
#define ACPI_SLP_EN 0x20
/*
 * Generic Event Device (ACPI0013, src/devices/ged.c): a one-byte event
 * status register (bit 0: power button pressed; writing 1s clears) whose
 * interrupt is GSI 9, level-triggered and active-high, on the I/O APIC.
 * The DSDT's GED0 device describes both; its _EVT method acknowledges
 * the press and notifies \_SB.PWRB (PNP0C0C).
 */
#define PORT_ACPI_GED 0x608
#define PORT_ACPI_GED_IRQ 9
#define ACPI_GED_POWER_BUTTON 0x01

#endif
