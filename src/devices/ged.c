/*
 * ACPI Generic Event Device model: a pending-event byte and a level
 * interrupt. The guest sees the register through the DSDT's GED0 device
 * (src/vmm/x86/acpi.c); the host presses the power button through the
 * control socket's system_powerdown.
 *
 * Register (one byte at PORT_ACPI_GED; wider accesses see it in the low
 * byte, zeros above): a read returns the pending events, a write clears
 * the events whose bits are 1 (write-1-to-clear, so acknowledging one
 * event cannot lose another that arrived after the read). The interrupt
 * line is high exactly while an event is pending.
 */
#include "devices/ged.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/why.h"
#include "vmm/vm.h"
#include "vmm/x86/layout.h"

/* Event bits the model knows; a stream setting others is refused. */
#define GED_EVENTS_KNOWN ACPI_GED_POWER_BUTTON

/* Power-on: no event pending, the line low. */
void ged_init(struct ged *g, ged_irq_fn set_irq, void *irq_opaque)
{
	memset(g, 0, sizeof(*g));
	pthread_mutex_init(&g->lock, NULL);
	g->set_irq = set_irq;
	g->irq_opaque = irq_opaque;
}

void ged_destroy(struct ged *g)
{
	pthread_mutex_destroy(&g->lock);
}

/* Drive the line after every state change (lock held). */
static void ged_update_irq(struct ged *g)
{
	int level = g->st.events != 0;

	if (level != g->irq_level && g->set_irq) {
		g->irq_level = level;
		g->set_irq(g->irq_opaque, level);
	}
}

void ged_io(void *opaque, uint64_t offset, uint8_t *data, unsigned int len,
	    bool is_write)
{
	struct ged *g = opaque;

	pthread_mutex_lock(&g->lock);
	if (is_write) {
		g->st.events &= ~(uint32_t)data[0];
		ged_update_irq(g);
	} else {
		memset(data, 0, len);
		data[0] = (uint8_t)g->st.events;
	}
	pthread_mutex_unlock(&g->lock);
}

void ged_power_button(struct ged *g)
{
	pthread_mutex_lock(&g->lock);
	g->st.events |= ACPI_GED_POWER_BUTTON;
	g->presses++;
	ged_update_irq(g);
	pthread_mutex_unlock(&g->lock);
}

int ged_attach(struct ged *g, struct vm *vm)
{
	return bus_register(&vm->pio, PORT_ACPI_GED, 1, ged_io, g);
}

void ged_save(struct ged *g, struct ged_state *out)
{
	pthread_mutex_lock(&g->lock);
	*out = g->st;
	pthread_mutex_unlock(&g->lock);
}

int ged_state_check(const struct ged_state *st, char *why, size_t whylen)
{
	if (st->events & ~(uint32_t)GED_EVENTS_KNOWN)
		return why_set(why, whylen, -EINVAL,
			       "events 0x%x sets bits the GED does not have",
			       st->events);
	if (st->reserved)
		return why_set(why, whylen, -EINVAL,
			       "reserved field is not zero");
	return 0;
}

int ged_restore(struct ged *g, const struct ged_state *in)
{
	char why[128];

	if (ged_state_check(in, why, sizeof(why)))
		return -EINVAL;
	pthread_mutex_lock(&g->lock);
	g->st = *in;
	g->irq_level = -1; /* force the line to match the restored state */
	ged_update_irq(g);
	pthread_mutex_unlock(&g->lock);
	return 0;
}

/* ---- The device descriptor (device.h) ---------------------------------- */

static void ged_vm_irq(void *vm, int level)
{
	if (vm_irq_line(vm, PORT_ACPI_GED_IRQ, level))
		log_debug("GED IRQ line: failed");
}

static int ged_realize(void *dev, const struct dev_host *host)
{
	ged_init(dev, ged_vm_irq, host->vm);
	return ged_attach(dev, host->vm);
}

static void ged_reset(void *dev)
{
	struct ged *g = dev;

	pthread_mutex_lock(&g->lock);
	g->st = (struct ged_state){ 0 };
	ged_update_irq(g);
	pthread_mutex_unlock(&g->lock);
}

/* No threads, no guest RAM: a press while paused waits in the state. */
static void ged_quiet(void *dev)
{
}

static void ged_save_op(void *dev, void *state)
{
	ged_save(dev, state);
}

static int ged_check_op(const struct dev_env *env, const void *state, char *why,
			size_t whylen)
{
	return ged_state_check(state, why, whylen);
}

static int ged_load_op(void *dev, const void *state)
{
	return ged_restore(dev, state);
}

static void ged_destroy_op(void *dev)
{
	ged_destroy(dev);
}

const struct dev_type ged_type = {
	.name = "ged",
	.state_version = GED_STATE_VERSION,
	.state_size = sizeof(struct ged_state),
	.size = sizeof(struct ged),
	.realize = ged_realize,
	.reset = ged_reset,
	.quiesce = ged_quiet,
	.save = ged_save_op,
	.check = ged_check_op,
	.load = ged_load_op,
	.resume = ged_quiet,
	.destroy = ged_destroy_op,
};
