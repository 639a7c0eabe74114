/*
 * The VM's network interfaces in the VMM process: at start (and before a
 * restored or migrated VM is set up, so before a destination answers
 * RECEIVED) each vif's tap is created and set up, by its script (Xen's
 * vif script convention, common/hotplug.h) or by godwit itself (into the
 * bridge, link up); at the end the scripts run offline and the taps go.
 * After a restore or a migration's resume, and on `announce-self`, every
 * NIC announces where its MAC now is: RARP frames from all NICs at once
 * right away, the guests asked to announce themselves, then further
 * rounds on QEMU's schedule from the event loop.
 */
#ifndef GODWIT_MONITOR_NICS_H
#define GODWIT_MONITOR_NICS_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"
#include "config/domain_config.h"
#include "net/announce.h"

struct evloop_timer;

struct monitor_nic {
	int tap_fd; /* -1: not open */
	char tap[IFNAMSIZ]; /* its name on this host */
	bool online; /* its script's online succeeded: offline at the end */
};

struct monitor_nics {
	unsigned int nr; /* entries in use, in config order */
	struct monitor_nic n[DOMAIN_VIFS_MAX];
	/* The announcement in progress (loop thread). */
	struct evloop_timer *timer;
	struct announce_params params;
	uint32_t done; /* rounds sent */
};

struct monitor;

/*
 * Create and set up the tap of every vif of m->cfg. On failure nothing
 * stays (scripts that ran online run offline), and why holds one line
 * naming the vif ("vif web0: hotplug script ... failed (exit 1): ...").
 */
int monitor_nics_open(struct monitor *m, char *why, size_t whylen) __must_check;
/* Scripts offline, then the taps closed. After the devices are gone. */
void monitor_nics_close(struct monitor *m);
/*
 * Announce every NIC: the first round now, the others from the loop on
 * p's schedule (NULL: QEMU's defaults). Restarts an announcement already
 * running. Loop thread (announce-self).
 */
void monitor_nics_announce(struct monitor *m, const struct announce_params *p);
/*
 * A VM that is ours to run after a migration or a restore: the first
 * round's RARP frames go out on this thread just before start() starts
 * the vCPUs (frames for the VM then queue in its taps while they start,
 * instead of going to the old host), the guests are asked to announce
 * themselves right after, the other rounds follow on QEMU's schedule.
 * Returns start()'s result (no further rounds when it fails). The
 * thread that would run the loop, before it runs.
 */
int monitor_nics_resume(struct monitor *m,
			int (*start)(struct monitor *m)) __must_check;

#endif
