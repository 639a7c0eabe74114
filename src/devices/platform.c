/* Debug-exit, ACPI power-management and i8042 reset ports. */
#include "devices/platform.h"

#include <string.h>

#include "vmm/vm.h"
#include "vmm/x86/layout.h"

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

int platform_attach(struct vm *vm)
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
