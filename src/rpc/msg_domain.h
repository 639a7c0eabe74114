/*
 * Messages about domains and their VMMs (msg.h has the codec). godwitd's
 * commands:
 *
 *   pause, unpause, announce, destroy, console, job-info, job-abort
 *                {domain}
 *   shutdown   {domain, wait}
 *   create     {config, file, overrides, paused, cwd}
 *   create's and restore's answer   {domid, name, uuid, warnings?}
 *   list's answer                   [{name, domid, uuid, state, ...}]
 *   console's answer, query-console {type, path?}
 *   VMM_ENDED  {end, status, reason, job}                      event
 *
 * and what godwitd asks a VMM:
 *
 *   announce-self {initial?, max?, rounds?, step?}   QEMU's parameters
 *   query-domain {name, uuid, memory-mib, vcpus, status, cpu-time-ns, pid}
 *   query-status {running, singlestep, status, reason?}
 *   query-config {config}
 */
#ifndef GODWIT_RPC_MSG_DOMAIN_H
#define GODWIT_RPC_MSG_DOMAIN_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rpc/msg.h"
#include "rpc/msg_migrate.h"

#define RPC_NAME_MAX 64 /* a domain's name, NUL included */
#define RPC_UUID_MAX 40
#define RPC_WORD_MAX 32 /* a state, status or kind word */
#define RPC_OVERRIDES_MAX 64 /* create's key=value overrides */
#define RPC_WARNINGS_MAX 32 /* create's config warnings */
#define RPC_DISKS_MAX 16 /* disks in a list entry */
#define RPC_VIFS_MAX 8 /* vifs in a list entry */

/* The commands that take only a domain: name, id or uuid. */
struct rpc_dom_args {
	char domain[RPC_DOMAIN_MAX];
};
extern const struct rpc_msg_type rpc_msg_dom;

struct rpc_shutdown_args {
	char domain[RPC_DOMAIN_MAX];
	bool wait; /* answer once the domain has shut down */
};
extern const struct rpc_msg_type rpc_msg_shutdown;

/* create: the config file's text, parsed by godwitd (config.h). */
struct rpc_create_args {
	const char *config; /* the text (borrowed) */
	char file[PATH_MAX]; /* its name, for messages */
	const char *overrides[RPC_OVERRIDES_MAX]; /* "key=value" (borrowed) */
	size_t nr_overrides;
	bool paused;
	char cwd[PATH_MAX]; /* the client's: relative paths are its */
};
extern const struct rpc_msg_type rpc_msg_create;

/* The domain a create or restore made. */
struct rpc_dom_made {
	int64_t domid;
	char name[RPC_NAME_MAX];
	char uuid[RPC_UUID_MAX];
	const char *warnings[RPC_WARNINGS_MAX]; /* create: the config's */
	size_t nr_warnings;
};
extern const struct rpc_msg_type rpc_msg_dom_made;

struct rpc_disk_info {
	char vdev[32];
	char target[1024];
	char access[8]; /* "rw" or "ro" */
	char script[256]; /* "" without a hotplug script */
};

struct rpc_vif_info {
	char mac[18]; /* xx:xx:xx:xx:xx:xx */
	char bridge[32]; /* "" when not in a bridge */
	char vifname[32]; /* the host tap's fixed name, "" = automatic */
	char script[256]; /* "" without a vif script */
};

/* One domain as list has it. */
struct rpc_dom_info {
	char name[RPC_NAME_MAX];
	int64_t domid;
	char uuid[RPC_UUID_MAX];
	char state[RPC_WORD_MAX]; /* running, paused, unconfirmed, ... */
	int64_t memory_mib;
	int64_t vcpus;
	int64_t cpu_time_ns;
	int64_t pid;
	char console[PATH_MAX]; /* its pty, "" if none */
	char qmp[PATH_MAX]; /* its VM's control socket */
	char origin[RPC_WORD_MAX]; /* create, restore, migration */
	int64_t created; /* seconds since the epoch */
	char reason[RPC_ERROR_MAX]; /* how it last ended, or why unconfirmed */
	struct rpc_disk_info disks[RPC_DISKS_MAX];
	size_t nr_disks;
	struct rpc_vif_info vifs[RPC_VIFS_MAX];
	size_t nr_vifs;
};
extern const struct rpc_msg_type rpc_msg_dom_info;

/* Where a VM's console is: console's answer and query-console. */
struct rpc_console {
	char type[RPC_WORD_MAX]; /* pty, file, stdio, none */
	char path[PATH_MAX]; /* "" if it has none */
};
extern const struct rpc_msg_type rpc_msg_console;

/* VMM_ENDED: a domain's VMM process ended, and how. */
struct rpc_vmm_ended {
	char end[RPC_WORD_MAX]; /* exit file's kind, or "killed" */
	int64_t status; /* its exit status */
	char reason[RPC_ERROR_MAX];
	char job[RPC_WORD_MAX]; /* "save", "migration" or "" */
};
extern const struct rpc_msg_type rpc_msg_vmm_ended;

/*
 * announce-self: RARP rounds for every NIC, on QEMU's schedule and with
 * its parameter names (ms); a member left out keeps the VMM's default.
 */
#define RPC_ANNOUNCE_MS_MAX 100000
#define RPC_ANNOUNCE_ROUNDS_MAX 1000
struct rpc_announce_args {
	int64_t initial_ms, max_ms, rounds, step_ms;
	bool has_initial, has_max, has_rounds, has_step;
};
extern const struct rpc_msg_type rpc_msg_announce;

/* query-domain: who a VMM runs. */
struct rpc_vm_domain {
	char name[RPC_NAME_MAX];
	char uuid[RPC_UUID_MAX];
	int64_t memory_mib;
	int64_t vcpus;
	char status[RPC_WORD_MAX]; /* query-status's word */
	int64_t cpu_time_ns;
	int64_t pid;
};
extern const struct rpc_msg_type rpc_msg_vm_domain;

/* query-status, as QEMU has it, with godwit's reason. */
struct rpc_vm_status {
	bool running;
	bool singlestep;
	char status[RPC_WORD_MAX];
	char reason[RPC_ERROR_MAX]; /* unconfirmed: why */
};
extern const struct rpc_msg_type rpc_msg_vm_status;

/* query-config: the VM's configuration as xl.cfg text. */
struct rpc_vm_config {
	const char *config; /* borrowed */
};
extern const struct rpc_msg_type rpc_msg_vm_config;

#endif
