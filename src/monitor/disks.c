/*
 * Opening and closing the VM's disks (disks.h). Runs on the monitor's
 * main thread at start and end, and on the migration thread around the
 * handover (lock and unlock only: nothing else touches the disks then).
 *
 * The hotplug scripts run here, in the VMM process, not in godwitd: a
 * VM started with `godwit run` has no daemon, and the process that
 * opens the device is the one that knows when it no longer needs it.
 */
#include "monitor/disks.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/hotplug.h"
#include "common/log.h"
#include "common/util.h"
#include "format/stream_format.h"
#include "monitor/internal.h"

/* The canonical config travels in the stream header: it must fit. */
_Static_assert(DOMAIN_CONFIG_TEXT_MAX <= STREAM_CONFIG_MAX,
	       "a domain config may not fit in a stream header");

/* GODWIT_HOTPLUG_TIMEOUT_MS, else the default. */
static unsigned int hotplug_timeout_ms(void)
{
	const char *s = getenv("GODWIT_HOTPLUG_TIMEOUT_MS");
	uint64_t v;

	if (s && !parse_u64(s, &v) && v > 0 && v <= 3600000)
		return (unsigned int)v;
	return HOTPLUG_TIMEOUT_MS_DEFAULT;
}

static struct hotplug_disk hotplug_of(const struct monitor *m,
				      const struct domain_disk *c,
				      const char *uuid)
{
	return (struct hotplug_disk){
		.script = c->script,
		.target = c->target,
		.readonly = c->readonly,
		.vdev = c->vdev,
		.domain = m->cfg.name,
		.uuid = uuid,
		.timeout_ms = hotplug_timeout_ms(),
	};
}

/* The path to open: the target, or what the disk's script printed. */
static int activate(struct monitor *m, unsigned int i, bool incoming, char *why,
		    size_t whylen)
{
	const struct domain_disk *c = &m->cfg.disks[i];
	struct monitor_disk *md = &m->disks.d[i];
	char uuid[DOMAIN_UUID_STR_LEN + 1];
	struct hotplug_disk h;
	int rc;

	if (!c->script[0]) {
		snprintf(md->path, sizeof(md->path), "%s", c->target);
		return 0;
	}
	domain_config_uuid_format(m->cfg.uuid, uuid);
	h = hotplug_of(m, c, uuid);
	/* A migration's destination: prepare first (disk_steps.c). */
	if (incoming && (rc = monitor_disk_prepare(m, i, &h, why, whylen)))
		return rc;
	rc = hotplug_add(&h, md->path, sizeof(md->path), why, whylen);
	md->added = !rc;
	return rc;
}

static int open_one(struct monitor *m, unsigned int i, bool lock_later,
		    char *why, size_t whylen)
{
	struct domain_disk *c = &m->cfg.disks[i];
	struct monitor_disk *md = &m->disks.d[i];
	const struct disk_info *in;
	struct disk_open_args a = {
		.path = md->path,
		.label = c->vdev,
		.readonly = c->readonly,
		.direct = c->direct_io,
		.lock = lock_later ? DISK_LOCK_LATER : DISK_LOCK_NOW,
		.size = c->size,
		.format = c->format == DOMAIN_DISK_QCOW2 ? DISK_FORMAT_QCOW2 :
							   DISK_FORMAT_RAW,
	};
	int rc;

	rc = disk_open(&a, &md->disk, why, whylen);
	if (rc)
		return rc;
	in = disk_get_info(md->disk);
	/* What the guest sees travels with the VM: a restore checks it. */
	c->size = in->size;
	log_info("vm %s: disk %s: %s opened %s (%" PRIu64 " bytes, %s%s)",
		 m->cfg.name, c->vdev, md->path,
		 c->readonly ? "read-only" : "read-write", in->size,
		 disk_engine_name(in->engine),
		 in->direct ? ", direct I/O" : "");
	return 0;
}

int monitor_disks_open(struct monitor *m, bool lock_later, char *why,
		       size_t whylen)
{
	unsigned int i;
	int rc = 0;

	for (i = 0; i < m->cfg.nr_disks && !rc; i++) {
		m->disks.nr = i + 1;
		rc = activate(m, i, lock_later, why, whylen);
		if (!rc)
			rc = open_one(m, i, lock_later, why, whylen);
	}
	if (rc)
		monitor_disks_close(m);
	return rc;
}

void monitor_disks_close(struct monitor *m)
{
	char uuid[DOMAIN_UUID_STR_LEN + 1], why[512];
	struct monitor_disk *md;
	struct hotplug_disk h;
	unsigned int i;

	domain_config_uuid_format(m->cfg.uuid, uuid);
	for (i = m->disks.nr; i-- > 0;) {
		md = &m->disks.d[i];
		disk_close(md->disk);
		md->disk = NULL;
		if (md->added) {
			md->added = false;
			h = hotplug_of(m, &m->cfg.disks[i], uuid);
			h.device = md->path;
			if (hotplug_remove(&h, why, sizeof(why)))
				log_err("%s", why);
		}
		monitor_disk_leave(m, i); /* deactivate, if it leaves us */
	}
	m->disks.nr = 0;
}

int monitor_disks_lock(struct monitor *m, char *why, size_t whylen)
{
	unsigned int i;
	int rc;

	for (i = 0; i < m->disks.nr; i++) {
		rc = disk_lock(m->disks.d[i].disk, MONITOR_DISK_LOCK_WAIT_MS,
			       why, whylen);
		if (rc)
			return rc;
	}
	return 0;
}

void monitor_disks_unlock(struct monitor *m)
{
	unsigned int i;

	for (i = 0; i < m->disks.nr; i++)
		disk_unlock(m->disks.d[i].disk);
}

/*
 * Fault injection for the kvm suite: GODWIT_TEST_SYNC_FAIL=VDEV makes
 * that disk's sync fail with EIO. Unset in normal use.
 */
static int sync_one(struct monitor *m, unsigned int i)
{
	const char *fail = getenv("GODWIT_TEST_SYNC_FAIL");

	if (fail && !strcmp(fail, m->cfg.disks[i].vdev))
		return -EIO;
	return disk_sync(m->disks.d[i].disk);
}

int monitor_disks_sync(struct monitor *m, char *why, size_t whylen)
{
	unsigned int i;
	int rc;

	for (i = 0; i < m->disks.nr; i++) {
		if (!m->disks.d[i].disk || m->cfg.disks[i].readonly)
			continue;
		rc = sync_one(m, i);
		if (rc) {
			snprintf(why, whylen, "disk %s: %s: cannot sync it: %s",
				 m->cfg.disks[i].vdev, m->disks.d[i].path,
				 strerror(-rc));
			return rc;
		}
	}
	return 0;
}

static void *syncer_thread(void *opaque)
{
	struct monitor *m = opaque;
	struct monitor_disks_syncer *s = &m->disks.syncer;

	s->rc = monitor_disks_sync(m, s->why, sizeof(s->why));
	return NULL;
}

void monitor_disks_sync_start(struct monitor *m)
{
	struct monitor_disks_syncer *s = &m->disks.syncer;

	if (s->started)
		return;
	s->rc = 0;
	s->why[0] = 0;
	/* Without a thread, the wait syncs instead. */
	s->started = !pthread_create(&s->thread, NULL, syncer_thread, m);
}

int monitor_disks_sync_wait(struct monitor *m, char *why, size_t whylen)
{
	struct monitor_disks_syncer *s = &m->disks.syncer;
	char scratch[DISK_WHY_MAX];

	if (!s->started)
		return monitor_disks_sync(m, why ? why : scratch,
					  why ? whylen : sizeof(scratch));
	pthread_join(s->thread, NULL);
	s->started = false;
	if (s->rc && why)
		snprintf(why, whylen, "%s", s->why);
	return s->rc;
}

struct hotplug_disk monitor_disk_hotplug(const struct monitor *m,
					 unsigned int i, const char *uuid)
{
	return hotplug_of(m, &m->cfg.disks[i], uuid);
}
