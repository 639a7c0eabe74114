/*
 * lifecycle.elf, ring 0: exercises a VMM's lifecycle paths. cmdline
 * action= (default poweroff):
 *   poweroff      ACPI S5 through the FADT's SLEEP_CONTROL_REG
 *   reset         the FADT's RESET_REG/RESET_VALUE
 *   triple-fault  empty IDT, then a fault in ring 0
 *   exit:N        writes N to the debug-exit port
 *   echo          every UART byte comes back as "lifecycle: got XX";
 *                 a 'q' ends the VM with status 0
 *   hang          ring 3 spins forever
 *   powerbutton   ring 3 spins; the timer handler polls the Generic Event
 *                 Device until the power button is pressed, acknowledges
 *                 it, prints "lifecycle: power button" and powers off as
 *                 poweroff does
 * "lifecycle: start" is printed first. A poweroff or reset that does not
 * take effect within a second prints "lifecycle: BAD ..." and exits 3.
 *
 * powerbutton finds the GED as guests/README.md says: the first
 * OperationRegion after Name(_HID, "ACPI0013") in the DSDT. It must be in
 * SystemIO space, a byte whose bit 0 is the power button and whose bits
 * clear when written as 1 (godwit's GED, src/devices/ged.c). Other GEDs
 * (QEMU microvm's is memory-mapped, with other event bits) are refused
 * with "lifecycle: BAD power button: ..." before ring 3 starts.
 */
#include "kernel.h"

enum action {
	ACT_POWEROFF,
	ACT_RESET,
	ACT_TRIPLE,
	ACT_EXIT,
	ACT_ECHO,
	ACT_HANG,
	ACT_POWERBUTTON
};

#define GED_POWER_BUTTON 0x01

static enum action action;
static uint16_t ged_port;
static uint64_t poweroff_deadline; /* TSC; 0 until the button is handled */

static const char *const keys[] = { "action", NULL };

static void parse_action(uint8_t *code_out)
{
	char buf[32];
	uint64_t n = 0;
	unsigned int i;

	if (!cmdline_str("action", buf, sizeof(buf)) || str_eq(buf, "poweroff"))
		action = ACT_POWEROFF;
	else if (str_eq(buf, "reset"))
		action = ACT_RESET;
	else if (str_eq(buf, "triple-fault"))
		action = ACT_TRIPLE;
	else if (str_eq(buf, "echo"))
		action = ACT_ECHO;
	else if (str_eq(buf, "hang"))
		action = ACT_HANG;
	else if (str_eq(buf, "powerbutton"))
		action = ACT_POWERBUTTON;
	else if (!strncmp(buf, "exit:", 5) && buf[5])
		action = ACT_EXIT;
	else
		con_fail("action=%s unknown\n", buf);
	if (action != ACT_EXIT)
		return;
	for (i = 5; buf[i]; i++) {
		if (buf[i] < '0' || buf[i] > '9' || n > 255)
			con_fail("action=%s: N must be 0-255\n", buf);
		n = n * 10 + (uint64_t)(buf[i] - '0');
	}
	if (n > 255)
		con_fail("action=%s: N must be 0-255\n", buf);
	*code_out = (uint8_t)n;
}

/* An empty IDT turns the first fault into a triple fault (shutdown). */
static void __attribute__((noreturn)) triple_fault(void)
{
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) empty = { 0, 0 };

	asm volatile("lidt %0" : : "m"(empty));
	/* Non-canonical address: #GP, no handler, #DF, shutdown. */
	*(volatile uint64_t *)0x8000000000000000ULL = 0;
	halt_forever();
}

/* Find godwit's GED before ring 3 starts; refuse any other kind. */
static void powerbutton_setup(void)
{
	uint8_t space = 0;
	uint64_t addr = 0;

	if (!platform.have_sleep)
		con_fail("no FADT sleep control register\n");
	if (!acpi_find_ged(&space, &addr))
		con_fail(
			"power button: no GED (ACPI0013) register in the DSDT\n");
	if (space != ACPI_SPACE_IO || addr > 0xffff)
		con_fail(
			"power button: GED register 0x%lx in address space %u, not I/O (not a godwit GED)\n",
			addr, space);
	ged_port = (uint16_t)addr;
	if (debug_enabled())
		con_printf("guest: ged port=%x status=%x\n", ged_port,
			   inb(ged_port));
}

/*
 * What the DSDT's _EVT does, from the timer handler: read the events,
 * acknowledge the button by writing its bit back, then power off.
 */
static void powerbutton_tick(uint64_t tsc)
{
	uint8_t events;

	if (poweroff_deadline) {
		if ((int64_t)(tsc - poweroff_deadline) > 0)
			con_fail("poweroff did not happen\n");
		return;
	}
	events = inb(ged_port);
	if (!(events & GED_POWER_BUTTON))
		return;
	outb(ged_port, GED_POWER_BUTTON);
	events = inb(ged_port);
	if (events & GED_POWER_BUTTON)
		con_fail(
			"power button: event still pending after writing 1 (0x%x)\n",
			events);
	con_say("power button\n");
	poweroff_deadline = tsc + boot_facts.tsc_hz;
	acpi_poweroff();
}

static void setup(void)
{
	uint8_t code = 0;

	cmdline_check_keys(keys);
	parse_action(&code);
	con_say("start\n");
	switch (action) {
	case ACT_POWEROFF:
		if (!platform.have_sleep)
			con_fail("no FADT sleep control register\n");
		acpi_poweroff();
		clock_delay_us(1000000);
		con_fail("poweroff did not happen\n");
	case ACT_RESET:
		if (!platform.have_reset)
			con_fail("no FADT reset register\n");
		acpi_reset();
		clock_delay_us(1000000);
		con_fail("reset did not happen\n");
	case ACT_TRIPLE:
		triple_fault();
	case ACT_EXIT:
		guest_exit(code);
	case ACT_POWERBUTTON:
		powerbutton_setup();
		break;
	case ACT_ECHO:
	case ACT_HANG:
		break;
	}
}

static void tick(uint64_t tsc)
{
	uint8_t c;

	if (action == ACT_POWERBUTTON)
		powerbutton_tick(tsc);
	if (action != ACT_ECHO)
		return;
	while (con_read(&c)) {
		con_say("got %02x\n", c);
		if (c == 'q')
			guest_exit(EXIT_OK);
	}
}

static void irq(unsigned int vector)
{
	(void)vector;
}

const struct guest_ops guest_ops = {
	.name = "lifecycle",
	.max_cpus = 1,
	.setup = setup,
	.tick = tick,
	.irq = irq,
};
