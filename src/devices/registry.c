/* Device registry: the stateful devices of a VM by stable id. */
#include "devices/registry.h"

#include <errno.h>
#include <string.h>

#include "common/compiler.h"
#include "devices/ged.h"
#include "devices/serial.h"

int devreg_add(struct dev_registry *r, const struct dev_entry *e)
{
	if (r->nr == DEVREG_MAX)
		return -ENOSPC;
	if (!e->id[0] || memchr(e->id, 0, DEVICE_ID_LEN) == NULL)
		return -EINVAL;
	if (devreg_find(r, e->id))
		return -EEXIST;
	r->devs[r->nr++] = *e;
	return 0;
}

struct dev_entry *devreg_find(struct dev_registry *r, const char *id)
{
	unsigned int i;

	for (i = 0; i < r->nr; i++)
		if (!strncmp(r->devs[i].id, id, DEVICE_ID_LEN))
			return &r->devs[i];
	return NULL;
}

static void serial_save_op(void *dev, void *state)
{
	serial_save(dev, state);
}

static int serial_restore_op(void *dev, const void *state)
{
	return serial_restore(dev, state);
}

static int serial_check_op(const void *state, char *why, size_t whylen)
{
	return serial_state_check(state, why, whylen);
}

static void ged_save_op(void *dev, void *state)
{
	ged_save(dev, state);
}

static int ged_restore_op(void *dev, const void *state)
{
	return ged_restore(dev, state);
}

static int ged_check_op(const void *state, char *why, size_t whylen)
{
	return ged_state_check(state, why, whylen);
}

const struct dev_entry devreg_platform[] = {
	{
		.id = "serial0",
		.version = SERIAL_STATE_VERSION,
		.state_size = sizeof(struct serial_state),
		.check = serial_check_op,
	},
	{
		.id = "ged0",
		.version = GED_STATE_VERSION,
		.state_size = sizeof(struct ged_state),
		.check = ged_check_op,
		.may_be_absent = true,
	},
};
const unsigned int devreg_platform_count = ARRAY_SIZE(devreg_platform);

int devreg_add_serial(struct dev_registry *r, const char *id, struct serial *s)
{
	struct dev_entry e = {
		.version = SERIAL_STATE_VERSION,
		.state_size = sizeof(struct serial_state),
		.save = serial_save_op,
		.check = serial_check_op,
		.restore = serial_restore_op,
		.dev = s,
	};

	if (strlen(id) >= DEVICE_ID_LEN)
		return -ENAMETOOLONG;
	strcpy(e.id, id);
	return devreg_add(r, &e);
}

int devreg_add_ged(struct dev_registry *r, const char *id, struct ged *g)
{
	struct dev_entry e = {
		.version = GED_STATE_VERSION,
		.state_size = sizeof(struct ged_state),
		.save = ged_save_op,
		.check = ged_check_op,
		.restore = ged_restore_op,
		.dev = g,
		.may_be_absent = true,
	};

	if (strlen(id) >= DEVICE_ID_LEN)
		return -ENAMETOOLONG;
	strcpy(e.id, id);
	return devreg_add(r, &e);
}
