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
 * "lifecycle: start" is printed first. A poweroff or reset that does not
 * take effect within a second prints "lifecycle: BAD ..." and exits 3.
 */
#include "kernel.h"

enum action {
	ACT_POWEROFF,
	ACT_RESET,
	ACT_TRIPLE,
	ACT_EXIT,
	ACT_ECHO,
	ACT_HANG
};

static enum action action;

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
	case ACT_ECHO:
	case ACT_HANG:
		break;
	}
}

static void tick(uint64_t tsc)
{
	uint8_t c;

	(void)tsc;
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
