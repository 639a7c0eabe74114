/*
 * The machine a domain configuration describes, beyond its RAM and
 * vCPUs: the devices the configuration adds to the platform's
 * (devices/platform.h), each with the per-instance argument its model
 * takes (device.h). One function builds it for both its users, so they
 * cannot disagree: the VMM creates the devices from it (with the disks
 * it opened), and godwit inspect describes them (with nothing opened)
 * to know exactly which DEVICE records a stream of that configuration
 * must carry. The devices layer never reads a configuration; this is
 * where it is read.
 *
 * Order, hence virtio-mmio slots and device ids (stable: from the
 * configuration, never from creation order):
 *   disk i (cfg->disks[i])  added device i, slot 1 + i, id = its vdev
 *   vif i (cfg->vifs[i])    after the disks, id "vif-<i>" (a vdev has no
 *                           '-', so a NIC id never takes a disk's)
 * A new device class is one more loop in machine_build() over its
 * configuration list, with its argument array in struct machine.
 */
#ifndef GODWIT_MACHINE_MACHINE_H
#define GODWIT_MACHINE_MACHINE_H

#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"
#include "config/domain_config.h"
#include "devices/platform.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/net.h"

struct disk;

/*
 * What the VMM opened for the configuration, index-aligned with its
 * lists; NULL entries (or a NULL struct) when only describing.
 */
struct machine_backends {
	struct disk *disk[DOMAIN_DISKS_MAX]; /* cfg->disks[i], opened */
	int tap_fd[DOMAIN_VIFS_MAX]; /* cfg->vifs[i]'s tap; -1: none */
};

/* The description, and the storage its arguments point into. */
struct machine {
	struct platform_conf pc; /* for platform_create / _describe_conf */
	struct virtio_blk_conf blk[DOMAIN_DISKS_MAX]; /* disk i's device */
	struct virtio_net_conf net[DOMAIN_VIFS_MAX]; /* vif i's device */
	char net_id[DOMAIN_VIFS_MAX][DEVICE_ID_LEN]; /* "vif-0", ... */
};

/*
 * Fill mc from cfg (and be, which may be NULL). mc must stay in place
 * while a registry built from mc->pc exists: the devices' arguments
 * point into it. Returns 0, or -errno with one line in why.
 */
int machine_build(struct machine *mc, const struct domain_config *cfg,
		  const struct machine_backends *be, char *why,
		  size_t whylen) __must_check;

#endif
