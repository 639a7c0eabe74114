/*
 * The devices every godwit x86 VM has, from one list (platform.c): the
 * UART, the ACPI Generic Event Device and the virtio-console, plus the
 * fixed ports with no state worth saving (debug-exit at 0xf4, as QEMU's
 * isa-debug-exit; the ACPI sleep control and reset registers the FADT
 * points at; the i8042 reset line Linux falls back to).
 */
#ifndef GODWIT_DEVICES_PLATFORM_H
#define GODWIT_DEVICES_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"
#include "devices/registry.h"

struct vm;

/*
 * Describe the platform's devices in r for a VM with mem_bytes of RAM,
 * without creating them: what its streams carry (godwit inspect).
 */
int platform_describe(struct dev_registry *r, uint64_t mem_bytes) __must_check;
/*
 * Create them for vm, guest console output to console_fd, and the fixed
 * ports; the devices start quiesced and run from the VM's first resume
 * (vm_start()). On failure the caller still calls devreg_destroy().
 */
int platform_create(struct dev_registry *r, struct vm *vm,
		    int console_fd) __must_check;
/*
 * Console input for the guest: to the virtio-console once the guest
 * uses it (virtio_console_takes_input()), else to the UART. Returns how
 * many bytes the device took; the rest must be offered again later.
 */
size_t platform_console_input(void *registry, const uint8_t *buf, size_t len);

#endif
