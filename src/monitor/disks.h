/*
 * The VM's disks in the VMM process: at start, each disk's hotplug
 * script runs (`add`) and the image it names (or the target) is opened
 * and locked; at the end they are closed (unlocked) and the scripts run
 * again (`remove`). A migration's destination opens its disks before
 * the handover and locks them when the VM becomes its own; the source
 * lets go of its locks when it hands the VM over, and takes them back if
 * the VM comes back to it.
 */
#ifndef GODWIT_MONITOR_DISKS_H
#define GODWIT_MONITOR_DISKS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/compiler.h"
#include "common/hotplug.h"
#include "config/domain_config.h"
#include "storage/disk.h"

/* How long a lock may still be held by the other end of a handover. */
#define MONITOR_DISK_LOCK_WAIT_MS 5000

struct monitor_disk {
	struct disk *disk; /* NULL: not open */
	char path[DOMAIN_PATH_MAX + 1]; /* what was opened */
	bool added; /* its script's add succeeded: remove at the end */
	bool prepared; /* its script's prepare succeeded (disk_steps.c) */
};

/* A sync running on a thread of its own (monitor_disks_sync_start). */
struct monitor_disks_syncer {
	pthread_t thread;
	bool started;
	int rc;
	char why[DISK_WHY_MAX];
};

struct monitor_disks {
	unsigned int nr; /* entries in use, in config order */
	struct monitor_disk d[DOMAIN_DISKS_MAX];
	struct monitor_disks_syncer syncer;
};

struct monitor;

/*
 * Activate and open every disk of m->cfg, locked now or (lock_later: a
 * migration's destination) by monitor_disks_lock(). On failure nothing
 * stays open or added, and why holds one line naming the disk.
 */
int monitor_disks_open(struct monitor *m, bool lock_later, char *why,
		       size_t whylen) __must_check;
/* Close every disk, then run the scripts' remove. Idempotent. */
void monitor_disks_close(struct monitor *m);
/*
 * Take every disk's lock, waiting up to MONITOR_DISK_LOCK_WAIT_MS for
 * the other end of a handover to let go. why names the holder.
 */
int monitor_disks_lock(struct monitor *m, char *why,
		       size_t whylen) __must_check;
/* Let go of every lock (the source, once the VM is handed over). */
void monitor_disks_unlock(struct monitor *m);
/*
 * fdatasync every read-write disk: what the guest wrote is in the
 * images before another process (a restore, a migration's destination,
 * another host on shared storage) reads them. Any thread; the devices
 * need not be quiesced, but only then is the result final. why names
 * the disk that failed.
 */
int monitor_disks_sync(struct monitor *m, char *why,
		       size_t whylen) __must_check;
/*
 * The same on a thread of its own, so that it overlaps other work (a
 * migration's final copy, while the VM is paused); its result comes
 * from monitor_disks_sync_wait(), which must follow on every path.
 */
void monitor_disks_sync_start(struct monitor *m);
/*
 * The started sync's result (joined), or, if none was started, a sync
 * now. why may be NULL when the result does not matter.
 */
int monitor_disks_sync_wait(struct monitor *m, char *why, size_t whylen);
/* Disk i's script interface (hotplug.h), peer and device unset. */
struct hotplug_disk monitor_disk_hotplug(const struct monitor *m,
					 unsigned int i, const char *uuid);

/* ---- disk_steps.c: the scripts' migration steps (hotplug.h) ---- */

/* Destination: `prepare` disk i, before its add. */
int monitor_disk_prepare(struct monitor *m, unsigned int i,
			 struct hotplug_disk *h, char *why,
			 size_t whylen) __must_check;
/* Destination: `activate` every disk, before RECEIVED; the first failure. */
int monitor_disks_activate(struct monitor *m, char *why,
			   size_t whylen) __must_check;
/* Source: `recover` every disk before the VM runs again; logs failures. */
void monitor_disks_recover(struct monitor *m, const char *peer);
/*
 * Disk i is closed (and removed): `deactivate` it if its storage leaves
 * this host (handed over, or a destination that never ran the VM).
 */
void monitor_disk_leave(struct monitor *m, unsigned int i);

#endif
