/*
 * Hotplug scripts, for disks and network interfaces.
 *
 * Block hotplug scripts, after Xen's block-script interface
 * (docs/misc/block-scripts.txt): a disk with script= has a target that
 * is not a host path but something the script understands (an LVM
 * volume, an iSCSI IQN, a DRBD resource). Before the VM starts the
 * script runs with the action "add" and prints the block device or file
 * to use; after the VM has ended it runs with "remove".
 *
 * Where Xen's script reads xenstore (params, mode, ...) and writes
 * physical-device-path back, a godwit script gets the same facts in its
 * environment and prints the path on stdout:
 *
 *   argv:  SCRIPT add|remove|prepare|activate|deactivate|recover
 *   env:   exactly these, nothing inherited:
 *          PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
 *          script=SCRIPT                 (resolved path, as libxl sets it)
 *          GODWIT_ACTION=STEP            (the same as argv[1])
 *          GODWIT_PARAMS=TARGET          (Xen's params: the target verbatim)
 *          GODWIT_MODE=w|r               (Xen's mode)
 *          GODWIT_VDEV=xvda              (Xen's dev)
 *          GODWIT_DOMAIN=NAME, GODWIT_UUID=UUID
 *          GODWIT_DEVICE=PATH            (what add printed, once it did)
 *          GODWIT_PEER=HOST[:PORT]       (migration steps: the other end)
 *   add:   prints the absolute path of the device or file as its last
 *          line on stdout (Xen's physical-device-path) and exits 0.
 *   migration steps (shared storage handed from host to host; a step
 *          with nothing to do exits 0):
 *          prepare    destination, before add, once the stream's header
 *                     named the disks; the source still uses them
 *          activate   destination, the VM built and the source paused,
 *                     before the destination answers RECEIVED (so before
 *                     YOURS: a failure gives the VM back to the source)
 *          deactivate source, after the handover, after remove; and a
 *                     destination that never ran the VM, for what it
 *                     prepared
 *          recover    source, after a failed migration, before its VM
 *                     runs again
 *   fail:  exits non-zero; its last line on stderr (else stdout) is
 *          quoted in the one-line error that stops the VM's start.
 *
 * Used by the VMM process (which runs the VM's scripts, so `godwit run`
 * needs no daemon) and available to godwitd.
 */
#ifndef GODWIT_COMMON_HOTPLUG_H
#define GODWIT_COMMON_HOTPLUG_H

#include <stdbool.h>
#include <stddef.h>

#include "common/compiler.h"

#define HOTPLUG_TIMEOUT_MS_DEFAULT 30000
#define HOTPLUG_SCRIPTS_DIR "/etc/godwit/scripts"
#define HOTPLUG_PATH \
	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define HOTPLUG_ENV_MAX 10 /* variables a script gets */

struct hotplug_disk {
	const char *script; /* a name (looked for in the scripts dir) or a path */
	const char *target; /* the disk's target, for the script */
	bool readonly;
	const char *vdev;
	const char *domain;
	const char *uuid;
	const char *device; /* what add printed; else NULL */
	const char *peer; /* migration steps: the other end; else NULL */
	unsigned int timeout_ms; /* 0: HOTPLUG_TIMEOUT_MS_DEFAULT */
	/* NULL: $GODWIT_SCRIPTS_DIR, else HOTPLUG_SCRIPTS_DIR */
	const char *scripts_dir;
};

/*
 * Run `SCRIPT add`; the device or file to open goes to path_out.
 * Otherwise -errno and one line in why naming the disk, the script and
 * what went wrong (missing, not executable, its own message and exit
 * status, no path printed, past the deadline).
 */
int hotplug_add(const struct hotplug_disk *h, char *path_out, size_t len,
		char *why, size_t whylen) __must_check;
/* Run `SCRIPT remove`; failures as for add. */
int hotplug_remove(const struct hotplug_disk *h, char *why,
		   size_t whylen) __must_check;
/* Run `SCRIPT STEP` (a migration step above); failures as for add. */
int hotplug_step(const struct hotplug_disk *h, const char *step, char *why,
		 size_t whylen) __must_check;

/* The script's path: as given if it has a '/', else in the dir. */
int hotplug_script_path(const struct hotplug_disk *h, char *out,
			size_t len) __must_check;

/*
 * vif hotplug scripts, after Xen's vif scripts (vif-bridge, vif-route;
 * libxl's calling convention): when a network interface has script=,
 * its tap is created and then, before the VM runs (and before a restored
 * or migrated VM is set up), the script runs
 *
 *   argv:  SCRIPT online type_if=vif        (at the end: offline)
 *   env:   exactly these, nothing inherited:
 *          PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
 *          script=SCRIPT                 (resolved path, as libxl sets it)
 *          vif=TAP                       (libxl's: the host-side device)
 *          netdev=                       (libxl's gatewaydev: always empty)
 *          GODWIT_ACTION=online|offline
 *          GODWIT_VIF=TAP
 *          GODWIT_BRIDGE=br0             (Xen's bridge; unset when none)
 *          GODWIT_MAC=00:16:3e:56:af:69  (Xen's mac: the guest's MAC)
 *          GODWIT_IP=10.0.0.2 ...        (Xen's ip; unset when none)
 *          GODWIT_DEVID=0                (the vif's index in the list)
 *          GODWIT_DOMAIN=NAME, GODWIT_UUID=UUID
 *   online: puts the tap where it belongs (a bridge, routes, firewall
 *          rules) and brings its link up; exits 0.
 *   fail:  exits non-zero; its last line on stderr (else stdout) is
 *          quoted in the one-line error that stops the VM's start.
 * What Xen's scripts read from xenstore (bridge, mac, ip) they find in
 * the GODWIT_ variables. Without script= godwit does the setup itself.
 */
#define HOTPLUG_VIF_ENV_MAX 12

struct hotplug_vif {
	const char *script; /* a name (looked for in the scripts dir) or a path */
	const char *vif; /* the tap's name */
	const char *bridge; /* "" or NULL: none */
	const char *mac; /* "xx:xx:xx:xx:xx:xx" */
	const char *ip; /* "" or NULL: none */
	unsigned int devid;
	const char *domain;
	const char *uuid;
	unsigned int timeout_ms; /* 0: HOTPLUG_TIMEOUT_MS_DEFAULT */
	const char *scripts_dir; /* as for disks */
};

/* Run `SCRIPT online` / `SCRIPT offline`; failures as for disks, named
 * "vif TAP". */
int hotplug_vif_online(const struct hotplug_vif *h, char *why,
		       size_t whylen) __must_check;
int hotplug_vif_offline(const struct hotplug_vif *h, char *why,
			size_t whylen) __must_check;

/* ---- The runner both use ------------------------------------------------ */

#define HOTPLUG_ARGS_MAX 2 /* arguments after the action */

struct child_result;

/* One run of a script: what hotplug_run() needs. */
struct hotplug_job {
	const char *label; /* "disk xvda", "vif web0": starts every message */
	const char *script; /* a name or a path */
	const char *scripts_dir; /* NULL: $GODWIT_SCRIPTS_DIR or the default */
	const char *action; /* argv[1] */
	const char *args[HOTPLUG_ARGS_MAX + 1]; /* then these, NULL-ended */
	/* The whole environment: keys[i]=vals[i], those with a value. */
	const char *const *env_keys;
	const char *const *env_vals;
	size_t nr_env;
	unsigned int timeout_ms; /* 0: HOTPLUG_TIMEOUT_MS_DEFAULT */
};

/*
 * Resolve the script into path, run it with its deadline, log what it
 * printed and judge its end: 0 (res has its output), or -errno and one
 * line in why.
 */
int hotplug_run(const struct hotplug_job *j, struct child_result *res,
		char *path, size_t pathlen, char *why,
		size_t whylen) __must_check;

#endif
