/*
 * The devices of a VM by stable id, each with its type descriptor
 * (device.h). Ids come from the platform list and the VM's
 * configuration ("serial0"), never from creation order, so a restore
 * matches state to devices by name. A registry can also describe
 * devices without creating them: what a stream of such a VM must
 * carry, for offline checks such as godwit inspect.
 */
#ifndef GODWIT_DEVICES_REGISTRY_H
#define GODWIT_DEVICES_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"
#include "devices/device.h"
#include "format/stream_format.h"

#define DEVREG_MAX 32

/* One line of a device list (platform.c's, or a test's). */
struct dev_slot {
	const char *id; /* < DEVICE_ID_LEN bytes */
	const struct dev_type *type;
	struct dev_res res;
	const void *arg; /* per-instance argument (device.h); may be NULL */
	/*
	 * A stream may lack this device's DEVICE record: the device came
	 * after streams without it were written (godwit 0.1.0 had no
	 * "ged0"). It then keeps its power-on state.
	 */
	bool may_be_absent;
};

struct dev_entry {
	char id[DEVICE_ID_LEN];
	const struct dev_type *type;
	struct dev_res res;
	const void *arg; /* the slot's, passed to realize and check */
	bool may_be_absent;
	void *dev; /* the instance; NULL while only described */
	bool realized; /* realize succeeded: quiesce, resume and save apply */
	bool borrowed; /* the instance is the caller's (devreg_attach()) */
};

struct dev_registry {
	struct dev_entry devs[DEVREG_MAX];
	unsigned int nr;
	uint64_t mem_bytes; /* guest RAM, for check's dev_env */
	unsigned int quiesced; /* quiesce_all calls not yet resumed */
};

/* Describe the devices of list (no instances); ids must be unique. */
int devreg_add_list(struct dev_registry *r, const struct dev_slot *list,
		    unsigned int n) __must_check;
/*
 * Create every described device: allocate, realize, reset, in list
 * order. On failure the caller still calls devreg_destroy().
 */
int devreg_realize(struct dev_registry *r,
		   const struct dev_host *host) __must_check;
/*
 * Give the described device id an instance the caller made and keeps
 * (a unit test's model set up without a VM): it counts as realized, and
 * devreg_destroy() leaves it alone.
 */
int devreg_attach(struct dev_registry *r, const char *id,
		  void *dev) __must_check;
struct dev_entry *devreg_find(struct dev_registry *r, const char *id);
/* The instance of id, or NULL. */
void *devreg_dev(struct dev_registry *r, const char *id);
/* The check environment of an entry. */
struct dev_env devreg_env(const struct dev_registry *r,
			  const struct dev_entry *e);
/* Every instance, in list order: quiesce; resume (in reverse order). */
void devreg_quiesce_all(struct dev_registry *r);
void devreg_resume_all(struct dev_registry *r);
/*
 * Quiesce every instance and make the VM's pause hooks quiesce and
 * resume them from now on: they run from the VM's first resume.
 */
struct vm;
void devreg_hook_pause(struct dev_registry *r, struct vm *vm);
/* Destroy and free every instance (after the VM's vCPUs are gone). */
void devreg_destroy(struct dev_registry *r);

#endif
