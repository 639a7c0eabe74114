/*
 * One descriptor per device type: the whole contract between a device
 * model and the VMM in one small table, every member required. The
 * platform list (platform.c) names the instances; the registry
 * (registry.h) creates them and drives them through these members only,
 * so the monitor, save, restore and godwit inspect never call a device
 * model by name. Adding a device is its own file and one line in the
 * list.
 *
 * Life of an instance (the registry makes the calls, in this order):
 *
 *   realize -> reset -> resume -> running
 *                         ^          |
 *                         |     quiesce (VM paused: save, migration)
 *                         +-- resume-+
 *   ... quiesce -> destroy
 *
 * load happens only between a quiesce and the next resume, before the
 * VM first runs (restore, migrate-receive). save happens only while the
 * device is quiesced. check needs no instance at all.
 *
 * Memory: the registry allocates `size` zeroed bytes per instance and
 * frees them after destroy; what a device allocates inside is its own.
 * State buffers are the caller's, state_size bytes: the DEVICE record's
 * state (stream_format.h), the same bytes on every host.
 */
#ifndef GODWIT_DEVICES_DEVICE_H
#define GODWIT_DEVICES_DEVICE_H

#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"

struct vm;

/*
 * The resources an instance was given by the platform list: its
 * virtio-mmio window and interrupt line (0 for devices at fixed ports).
 * A saved state records them and a restore refuses a state made for
 * other ones: the guest found the device at these addresses.
 */
struct dev_res {
	uint64_t mmio_base;
	uint32_t gsi;
};

/*
 * A device the VM's configuration adds (a disk, a NIC) gets one more
 * thing from its slot: arg, its per-instance argument, whose type
 * belongs to the model (e.g. struct virtio_blk_conf: the opened disk,
 * read-only, the size the guest sees). The devices layer never reads
 * the configuration itself; whoever builds the slot list turns the
 * configuration into these arguments (src/machine/). arg outlives the
 * registry; NULL for the platform's fixed devices.
 */

/* What realize wires an instance to. */
struct dev_host {
	const char *id; /* the instance's id, for log lines */
	struct vm *vm;
	int console_fd; /* where guest console output goes; -1: nowhere */
	struct dev_res res;
	const void *arg; /* the slot's argument (see above) */
};

/*
 * What a saved state is checked against. arg is the slot's argument as
 * above; when only described (godwit inspect) its backend parts (the
 * opened disk) are absent and check judges what the configuration says.
 */
struct dev_env {
	uint64_t mem_bytes; /* guest RAM, laid out as mem_plan() does */
	struct dev_res res; /* the instance's resources */
	const void *arg; /* the slot's argument (see above) */
};

struct dev_type {
	const char *name; /* model name for messages: "serial", "ged" */
	uint32_t state_version; /* DEVICE record version this model writes */
	uint32_t state_size; /* bytes of that state, <= DEVICE_STATE_MAX */
	size_t size; /* bytes of the instance struct */

	/*
	 * Build the instance in its zeroed struct: register its I/O ranges
	 * on host->vm's buses, make its interrupt line and threads.
	 * Monitor thread, before any vCPU exists to run. Returns 0, or
	 * -errno after one log line naming what failed; destroy follows
	 * either way, so it must cope with a half-built instance.
	 */
	int (*realize)(void *dev, const struct dev_host *host);
	/*
	 * Power-on state. Monitor thread, after realize, before the VM
	 * runs (a loaded state then replaces it). Cannot fail.
	 */
	void (*reset)(void *dev);
	/*
	 * Stop taking requests and complete every request already taken,
	 * into guest RAM, so that the VM's dirty log sees all of it; then
	 * touch neither guest RAM nor interrupt lines until resume.
	 * Called on the pausing thread with every vCPU parked (the VM's
	 * pause hook: pause, save, migration's final copy) and at
	 * teardown; may wait for the device's own threads. Nests with
	 * resume: the device runs again when every quiesce was resumed.
	 */
	void (*quiesce)(void *dev);
	/*
	 * Copy the state into state (state_size bytes, zeroed by the
	 * caller). Saving thread, device quiesced. Cannot fail.
	 */
	void (*save)(void *dev, void *state);
	/*
	 * Is state (state_size bytes, this version) one this model can
	 * load into an instance with env's RAM and resources? Pure, any
	 * thread, no instance needed (godwit inspect calls it). Returns 0,
	 * or -EINVAL with one line in why (without the device id: the
	 * caller names the device).
	 */
	int (*check)(const struct dev_env *env, const void *state, char *why,
		     size_t whylen);
	/*
	 * Take a state that check accepted for this instance. Restoring
	 * thread, device quiesced, vCPUs not started; runs after IRQCHIP
	 * was loaded, so it may drive interrupt lines. Returns 0 or
	 * -errno.
	 */
	int (*load)(void *dev, const void *state);
	/*
	 * Run again after quiesce. Virtio devices look at every queue
	 * once and raise a pending interrupt again: kicks and interrupts
	 * that reached the old VM or arrived while paused are not
	 * otherwise seen. Pausing thread, vCPUs not yet released.
	 */
	void (*resume)(void *dev);
	/*
	 * Free what realize made (threads joined, fds closed). Monitor
	 * thread, at teardown, after quiesce and after the VM's vCPUs
	 * are gone.
	 */
	void (*destroy)(void *dev);
};

#endif
