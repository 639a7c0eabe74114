/*
 * Shared storage handed from host to host with a migration: the
 * migration steps of the disks' hotplug scripts (common/hotplug.h has
 * the interface). The storage is active on the source while its VM may
 * run and on the destination from `prepare` on; it is never written by
 * two running VMs because only one VM runs (the handover) and each end
 * runs its steps at these points:
 *
 *   destination  prepare     before add, once the stream's header named
 *                            the disks (incoming.c via disks.c)
 *                activate    the VM built, the source paused, before
 *                            RECEIVED: a failure is refused before YOURS,
 *                            so the source keeps the VM and resumes it
 *   source       deactivate  the VM handed over (the process ends as
 *                            "migrated"): after remove
 *                recover     a failed migration, before the VM runs again
 *
 * Steps pair up as add/remove do: prepare with deactivate. A destination
 * that gives the VM up runs remove for what it added, then deactivate
 * for what it prepared. docs/stream-format.md ("Shared storage") says
 * why activate comes before YOURS.
 */
#include "monitor/disks.h"

#include <stdio.h>
#include <string.h>

#include "common/hotplug.h"
#include "common/log.h"
#include "migration/arrival.h"
#include "monitor/internal.h"

int monitor_disk_prepare(struct monitor *m, unsigned int i,
			 struct hotplug_disk *h, char *why, size_t whylen)
{
	int rc;

	h->peer = m->incoming.peer;
	rc = hotplug_step(h, "prepare", why, whylen);
	h->peer = NULL;
	m->disks.d[i].prepared = !rc;
	return rc;
}

/* Run step for every disk with a script; stop at the first failure. */
static int each(struct monitor *m, const char *step, const char *peer,
		bool keep_going, char *why, size_t whylen)
{
	char uuid[DOMAIN_UUID_STR_LEN + 1];
	struct hotplug_disk h;
	unsigned int i;
	int rc, first = 0;

	domain_config_uuid_format(m->cfg.uuid, uuid);
	for (i = 0; i < m->disks.nr; i++) {
		if (!m->cfg.disks[i].script[0])
			continue;
		h = monitor_disk_hotplug(m, i, uuid);
		h.device = m->disks.d[i].path;
		h.peer = peer;
		rc = hotplug_step(&h, step, why, whylen);
		if (rc && !keep_going)
			return rc;
		if (rc)
			log_err("%s", why);
		first = first ? first : rc;
	}
	return first;
}

int monitor_disks_activate(struct monitor *m, char *why, size_t whylen)
{
	return each(m, "activate", m->incoming.peer, false, why, whylen);
}

void monitor_disks_recover(struct monitor *m, const char *peer)
{
	char why[512];

	/* The storage was never deactivated here: a failure is logged and
	 * the VM runs on with its disks open, as before the migration. */
	if (each(m, "recover", peer, true, why, sizeof(why)))
		log_warn(
			"vm %s: a disk's recover step failed; the VM resumes with the storage it had",
			m->cfg.name);
}

/*
 * Does disk i's storage leave this host with the VM's end? Handed over
 * (the source: every disk with a script), or prepared by a destination
 * that never ran the VM (its arrival is not RUNNING). A VM that arrived,
 * ran and ends here only gets remove, as any other.
 */
static bool leaving(const struct monitor *m, unsigned int i,
		    const char **peer_out)
{
	if (m->end_kind && !strcmp(m->end_kind, "migrated")) {
		*peer_out = m->mig_info.uri;
		return true;
	}
	*peer_out = m->incoming.peer;
	return m->disks.d[i].prepared &&
	       arrival_outcome(&m->incoming.arrival) !=
		       HANDOVER_OUTCOME_RUNNING;
}

void monitor_disk_leave(struct monitor *m, unsigned int i)
{
	struct monitor_disk *md = &m->disks.d[i];
	char uuid[DOMAIN_UUID_STR_LEN + 1], why[512];
	struct hotplug_disk h;
	const char *peer;
	bool leave = m->cfg.disks[i].script[0] && leaving(m, i, &peer);

	md->prepared = false;
	if (!leave)
		return;
	domain_config_uuid_format(m->cfg.uuid, uuid);
	h = monitor_disk_hotplug(m, i, uuid);
	h.device = md->path[0] ? md->path : NULL;
	h.peer = peer;
	if (hotplug_step(&h, "deactivate", why, sizeof(why)))
		log_err("%s", why);
}
