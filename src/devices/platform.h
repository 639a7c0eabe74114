/*
 * The devices every godwit x86 VM has, from one list (platform.c): the
 * UART, the ACPI Generic Event Device and the virtio-console, plus the
 * fixed ports with no state worth saving (debug-exit at 0xf4, as QEMU's
 * isa-debug-exit; the ACPI sleep control and reset registers the FADT
 * points at; the i8042 reset line Linux falls back to).
 *
 * After them come the devices the VM's configuration adds (disks, then
 * NICs), described by a struct platform_conf that src/machine/ fills
 * from the configuration: the k-th of them (from 0) takes virtio-mmio
 * slot 1 + k. The order is the configuration's, so a restore and a
 * migration's destination, building from the stream's configuration,
 * put every device at the window and interrupt line the guest found it
 * at (and a restore checks the saved state against them).
 */
#ifndef GODWIT_DEVICES_PLATFORM_H
#define GODWIT_DEVICES_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"
#include "devices/registry.h"
#include "vmm/x86/layout.h"

struct vm;

/* One device the configuration adds: its id, model and argument. */
struct platform_dev {
	char id[DEVICE_ID_LEN]; /* e.g. the disk's vdev: "xvda" */
	const struct dev_type *type;
	const void *arg; /* the model's per-instance argument (device.h) */
	/*
	 * Streams written before the model existed lack its record (the
	 * guest never saw the device there): it then starts reset.
	 */
	bool may_be_absent;
};

/* Slot 0 is console0's; the configuration's devices take the rest. */
#define PLATFORM_CONF_DEVS_MAX (LAYOUT_VIRTIO_SLOTS - 1)

/* A VM's machine beyond the fixed platform: RAM and added devices. */
struct platform_conf {
	uint64_t mem_bytes;
	unsigned int nr;
	struct platform_dev devs[PLATFORM_CONF_DEVS_MAX];
};

/*
 * Append a device to pc (it takes the next virtio-mmio slot). -ENOSPC
 * or -EINVAL (an id too long) with one line in why.
 */
int platform_conf_add(struct platform_conf *pc, const char *id,
		      const struct dev_type *type, const void *arg, char *why,
		      size_t whylen) __must_check;
/* Is id one of the platform's own devices' ("serial0", ...)? */
bool platform_id_taken(const char *id);
/* The virtio-mmio window and line of the k-th added device. */
struct dev_res platform_conf_res(unsigned int k);
/*
 * Describe the platform's devices and pc's in r, without creating
 * them: what the streams of such a VM carry (godwit inspect, restore).
 * -EEXIST when an added device's id is a platform device's, with one
 * line in why.
 */
int platform_describe_conf(struct dev_registry *r,
			   const struct platform_conf *pc, char *why,
			   size_t whylen) __must_check;
/* The fixed platform alone, for a VM with mem_bytes of RAM. */
int platform_describe(struct dev_registry *r, uint64_t mem_bytes) __must_check;
/*
 * Create the platform's devices and pc's for vm (pc->mem_bytes is
 * vm's), guest console output to console_fd, and the fixed ports; the
 * devices start quiesced and run from the VM's first resume
 * (vm_start()). On failure, after one log line, the caller still calls
 * devreg_destroy().
 */
int platform_create(struct dev_registry *r, struct vm *vm, int console_fd,
		    const struct platform_conf *pc) __must_check;
/*
 * Console input for the guest: to the virtio-console once the guest
 * uses it (virtio_console_takes_input()), else to the UART. Returns how
 * many bytes the device took; the rest must be offered again later.
 */
size_t platform_console_input(void *registry, const uint8_t *buf, size_t len);

#endif
