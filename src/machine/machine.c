/*
 * From a domain configuration to the devices it adds (machine.h).
 */
#include "machine/machine.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/*
 * Disk i: a virtio-blk device named by its vdev, one request queue per
 * vCPU, showing the guest the size the configuration records (the
 * image's, set when it was first opened: a restore or a destination
 * opens the image at that size or refuses it, monitor/disks.c).
 */
static int add_disks(struct machine *mc, const struct domain_config *cfg,
		     const struct machine_backends *be, char *why,
		     size_t whylen)
{
	unsigned int i;
	int rc;

	for (i = 0; i < cfg->nr_disks; i++) {
		const struct domain_disk *d = &cfg->disks[i];
		struct virtio_blk_conf *c = &mc->blk[i];

		if (platform_id_taken(d->vdev)) {
			snprintf(
				why, whylen,
				"disk %s: vdev %s is the name of a platform device: choose another vdev",
				d->vdev, d->vdev);
			return -EINVAL;
		}

		c->disk = be ? be->disk[i] : NULL;
		c->size = c->disk ? disk_get_info(c->disk)->size : d->size;
		c->readonly = d->readonly;
		c->discard = !d->no_discard;
		c->num_queues = MIN(cfg->vcpus, VIRTIO_QUEUES_MAX);
		snprintf(c->serial, sizeof(c->serial), "%s", d->vdev);
		rc = platform_conf_add(&mc->pc, d->vdev, &virtio_blk_type, c,
				       why, whylen);
		if (rc)
			return rc;
		/* Streams from before virtio-blk: the guest saw no disk. */
		mc->pc.devs[mc->pc.nr - 1].may_be_absent = true;
	}
	return 0;
}

/*
 * vif i: a virtio-net device "vif-<i>" with the configured MAC (which
 * the configuration carries, so it is the same on every host) over the
 * tap the VMM opened for it, within the vif's rate limit.
 */
static int add_nics(struct machine *mc, const struct domain_config *cfg,
		    const struct machine_backends *be, char *why, size_t whylen)
{
	unsigned int i;
	int rc;

	for (i = 0; i < cfg->nr_vifs; i++) {
		const struct domain_vif *v = &cfg->vifs[i];
		struct virtio_net_conf *c = &mc->net[i];

		memcpy(c->mac, v->mac, sizeof(c->mac));
		c->tap_fd = be ? be->tap_fd[i] : -1;
		c->rate_bytes_per_s = v->rate_bytes_per_s;
		c->rate_interval_us = v->rate_interval_us;
		snprintf(mc->net_id[i], sizeof(mc->net_id[i]), "vif-%u", i);
		rc = platform_conf_add(&mc->pc, mc->net_id[i], &virtio_net_type,
				       c, why, whylen);
		if (rc)
			return rc;
		/* Streams from before virtio-net: the guest saw no NIC. */
		mc->pc.devs[mc->pc.nr - 1].may_be_absent = true;
	}
	return 0;
}

int machine_build(struct machine *mc, const struct domain_config *cfg,
		  const struct machine_backends *be, char *why, size_t whylen)
{
	int rc;

	memset(mc, 0, sizeof(*mc));
	mc->pc.mem_bytes = cfg->memory_mib * MIB;
	rc = add_disks(mc, cfg, be, why, whylen);
	return rc ? rc : add_nics(mc, cfg, be, why, whylen);
}
