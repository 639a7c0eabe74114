/*
 * The per-VM monitor process: builds a VM from its configuration, runs
 * its main loop (console, control socket, signals, the guest's end) and
 * returns the process exit status. `godwit run`, `godwit restore` and
 * `godwit migrate-receive` all end up here.
 */
#ifndef GODWIT_MONITOR_MONITOR_H
#define GODWIT_MONITOR_MONITOR_H

#include <limits.h>
#include <stdbool.h>

#include "vmm/vm.h"

#define MONITOR_CMDLINE_MAX 4096

enum serial_kind {
	SERIAL_STDIO,
	SERIAL_FILE,
	SERIAL_NONE,
};

struct monitor_opts {
	struct vm_config vm;
	char kernel[PATH_MAX];
	char initrd[PATH_MAX];
	char cmdline[MONITOR_CMDLINE_MAX];
	enum serial_kind serial;
	char serial_path[PATH_MAX];
	char qmp_path[PATH_MAX]; /* empty: no control socket */
	bool paused;
};

/* Returns the exit status: the guest's, or 1 if the VM could not start. */
int monitor_run(const struct monitor_opts *opts);

#endif
