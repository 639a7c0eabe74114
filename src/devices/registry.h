/*
 * The devices of a VM that have state to save, by stable id. Ids come
 * from the VM's configuration ("serial0"), never from creation order, so
 * a restore matches state to devices by name.
 */
#ifndef GODWIT_DEVICES_REGISTRY_H
#define GODWIT_DEVICES_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"
#include "format/stream_format.h"

#define DEVREG_MAX 16

struct dev_entry {
	char id[DEVICE_ID_LEN];
	uint32_t version; /* state layout version */
	uint32_t state_size; /* bytes of state for that version */
	/* Copy the device's state into state (state_size bytes). Cannot fail;
	 * called with vCPUs parked, on the saving thread. */
	void (*save)(void *dev, void *state);
	/* Validate a saved state before anything is loaded; why names the
	 * problem. Pure: no device needed. */
	int (*check)(const void *state, char *why, size_t whylen);
	/* Validate state and load it; -EINVAL naming nothing (the caller
	 * names the device). Called with vCPUs not yet running. */
	int (*restore)(void *dev, const void *state);
	void *dev;
	/*
	 * A stream may lack this device's DEVICE record: it was added after
	 * streams without it were written (godwit 0.1.0 had no "ged0"). The
	 * device then keeps the state it was created with.
	 */
	bool may_be_absent;
};

struct dev_registry {
	struct dev_entry devs[DEVREG_MAX];
	unsigned int nr;
};

int devreg_add(struct dev_registry *r, const struct dev_entry *e) __must_check;
/*
 * The stateful devices every godwit x86 VM has, as entries without a
 * device (dev NULL, no save/restore): what a stream must carry, for
 * offline checks such as godwit inspect.
 */
extern const struct dev_entry devreg_platform[];
extern const unsigned int devreg_platform_count;
struct dev_entry *devreg_find(struct dev_registry *r, const char *id);
/* Register a UART under id. */
struct serial;
int devreg_add_serial(struct dev_registry *r, const char *id,
		      struct serial *s) __must_check;
/* Register a Generic Event Device under id. */
struct ged;
int devreg_add_ged(struct dev_registry *r, const char *id,
		   struct ged *g) __must_check;

#endif
