/*
 * The platform's device list, and the debug-exit, ACPI power-management
 * and i8042 reset ports.
 */
#include "devices/platform.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/compiler.h"
#include "common/log.h"
#include "common/why.h"
#include "devices/ged.h"
#include "devices/serial.h"
#include "devices/virtio/console.h"
#include "vmm/vm.h"
#include "vmm/x86/layout.h"

/* The window and GSI of virtio-mmio slot n (layout.h). */
#define VIRTIO_SLOT(n)                                                      \
	{                                                                   \
		.mmio_base =                                                \
			LAYOUT_VIRTIO_MMIO + (n)*LAYOUT_VIRTIO_MMIO_STRIDE, \
		.gsi = LAYOUT_VIRTIO_GSI(n)                                 \
	}

/*
 * Every godwit x86 VM's devices, by id. Saved and restored in this
 * order; a stream made before a device existed lacks its record
 * (may_be_absent). A virtio device keeps its slot for good: the guest
 * found it there, and a restore checks it.
 */
static const struct dev_slot platform_devices[] = {
	{ "serial0", &serial_type, .res = { 0 } },
	{ "ged0", &ged_type, .may_be_absent = true }, /* not in 0.1.0 */
	{ "console0", &virtio_console_type, .res = VIRTIO_SLOT(0),
	  .may_be_absent = true },
};

#define I8042_DATA 0x60
#define I8042_CMD 0x64
#define I8042_CMD_RESET 0xfe

static void debug_exit_io(void *opaque, uint64_t offset, uint8_t *data,
			  unsigned int len, bool is_write)
{
	struct vm *vm = opaque;
	int status;

	if (!is_write) {
		memset(data, 0, len);
		return;
	}
	status = data[0]; /* the low byte of any width */
	vm_request_stop(vm, VM_STOP_DEBUG_EXIT, status,
			"guest exited with status %d (debug-exit port)",
			status);
}

static void acpi_pm_io(void *opaque, uint64_t offset, uint8_t *data,
		       unsigned int len, bool is_write)
{
	struct vm *vm = opaque;
	uint8_t v = data[0];

	if (!is_write) {
		memset(data, 0, len); /* sleep status: never woken */
		return;
	}
	if (offset == PORT_ACPI_SLEEP_CTL - PORT_ACPI_SLEEP_CTL &&
	    (v & ACPI_SLP_EN) && ((v >> 2) & 7) == ACPI_SLP_TYP_S5)
		vm_request_stop(vm, VM_STOP_POWEROFF, VM_STATUS_POWEROFF,
				"guest powered off");
	else if (offset == PORT_ACPI_RESET - PORT_ACPI_SLEEP_CTL &&
		 v == ACPI_RESET_VALUE)
		vm_request_stop(vm, VM_STOP_RESET, VM_STATUS_RESET,
				"guest requested a reset");
}

static void i8042_io(void *opaque, uint64_t offset, uint8_t *data,
		     unsigned int len, bool is_write)
{
	struct vm *vm = opaque;

	if (!is_write) {
		memset(data, 0, len); /* no data, input buffer empty */
		return;
	}
	if (offset == I8042_CMD - I8042_DATA && data[0] == I8042_CMD_RESET)
		vm_request_stop(vm, VM_STOP_RESET, VM_STATUS_RESET,
				"guest requested a reset");
}

static int platform_ports(struct vm *vm)
{
	int rc;

	rc = bus_register(&vm->pio, PORT_DEBUG_EXIT, 4, debug_exit_io, vm);
	if (!rc)
		rc = bus_register(&vm->pio, PORT_ACPI_SLEEP_CTL, 3, acpi_pm_io,
				  vm);
	if (!rc)
		rc = bus_register(&vm->pio, I8042_DATA, 5, i8042_io, vm);
	return rc;
}

int platform_conf_add(struct platform_conf *pc, const char *id,
		      const struct dev_type *type, const void *arg, char *why,
		      size_t whylen)
{
	struct platform_dev *d;

	if (pc->nr == PLATFORM_CONF_DEVS_MAX)
		return why_set(
			why, whylen, -ENOSPC,
			"too many virtio devices: at most %u disks and NICs together",
			PLATFORM_CONF_DEVS_MAX);
	if (!id[0] || strlen(id) >= DEVICE_ID_LEN)
		return why_set(why, whylen, -EINVAL,
			       "device id '%s' is not 1-%u bytes", id,
			       DEVICE_ID_LEN - 1);
	d = &pc->devs[pc->nr++];
	snprintf(d->id, sizeof(d->id), "%s", id);
	d->type = type;
	d->arg = arg;
	return 0;
}

bool platform_id_taken(const char *id)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(platform_devices); i++)
		if (!strcmp(platform_devices[i].id, id))
			return true;
	return false;
}

struct dev_res platform_conf_res(unsigned int k)
{
	return (struct dev_res)VIRTIO_SLOT(1 + k);
}

int platform_describe_conf(struct dev_registry *r,
			   const struct platform_conf *pc, char *why,
			   size_t whylen)
{
	struct dev_slot s;
	unsigned int k;
	int rc;

	r->mem_bytes = pc->mem_bytes;
	rc = devreg_add_list(r, platform_devices, ARRAY_SIZE(platform_devices));
	if (rc)
		return why_set(why, whylen, rc, "platform device list: %s",
			       strerror(-rc));
	for (k = 0; k < pc->nr && k < PLATFORM_CONF_DEVS_MAX; k++) {
		const struct platform_dev *d = &pc->devs[k];
		const struct dev_entry *e = devreg_find(r, d->id);

		if (e)
			return why_set(
				why, whylen, -EEXIST,
				"device id '%s' (%s) is already the %s's",
				d->id, d->type->name, e->type->name);
		s = (struct dev_slot){ .id = d->id,
				       .type = d->type,
				       .res = platform_conf_res(k),
				       .arg = d->arg,
				       .may_be_absent = d->may_be_absent };
		rc = devreg_add_list(r, &s, 1);
		if (rc)
			return why_set(why, whylen, rc, "device %s: %s", d->id,
				       strerror(-rc));
	}
	return 0;
}

int platform_describe(struct dev_registry *r, uint64_t mem_bytes)
{
	const struct platform_conf pc = { .mem_bytes = mem_bytes };
	char why[160];

	return platform_describe_conf(r, &pc, why, sizeof(why));
}

int platform_create(struct dev_registry *r, struct vm *vm, int console_fd,
		    const struct platform_conf *pc)
{
	const struct dev_host host = { .vm = vm, .console_fd = console_fd };
	char why[200];
	int rc;

	rc = platform_describe_conf(r, pc, why, sizeof(why));
	if (rc) {
		log_err("%s", why);
		return rc;
	}
	r->mem_bytes = vm->mem.size;
	rc = devreg_realize(r, &host); /* names the device that failed */
	if (rc)
		return rc;
	rc = platform_ports(vm);
	if (rc) {
		log_err("cannot attach the platform's ports: %s",
			strerror(-rc));
		return rc;
	}
	devreg_hook_pause(r, vm);
	return 0;
}

size_t platform_console_input(void *registry, const uint8_t *buf, size_t len)
{
	struct virtio_console *con = devreg_dev(registry, "console0");
	struct serial *uart = devreg_dev(registry, "serial0");

	if (con && virtio_console_takes_input(con))
		return virtio_console_receive(con, buf, len);
	return uart ? serial_receive(uart, buf, len) : len;
}
