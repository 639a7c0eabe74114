/*
 * Client library: talk to godwitd, the per-host daemon, on its control
 * socket ($GODWIT_RUN_DIR/godwitd.sock, by default
 * /run/godwit/godwitd.sock). Commands and replies are those of
 * godwitd(8); vmctl_execute() runs them, as on a VM's socket.
 * Functions return 0 or -errno and describe failures in err.
 */
#ifndef GODWIT_LIB_GWDCTL_H
#define GODWIT_LIB_GWDCTL_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include <godwit/api.h>

struct rpc_client;

#define GWDCTL_RUN_DIR "/run/godwit"
#define GWDCTL_SOCK_NAME "godwitd.sock"

/* The run directory: $GODWIT_RUN_DIR, else /run/godwit. */
const char *gwdctl_run_dir(void);
/* Where the daemon's control socket is. */
int gwdctl_socket_path(char *buf, size_t len) GODWIT_MUST_CHECK;

/*
 * Connect to the daemon. -ENOENT or -ECONNREFUSED when no daemon
 * answers (err then says so); other errors are real failures.
 */
int gwdctl_open(struct rpc_client **client_out, char *err,
		size_t errlen) GODWIT_MUST_CHECK;

/*
 * Run command on the daemon, as vmctl_execute() does on a VM, with
 * errors worded for the daemon (it, not a VM process, went away).
 */
int gwdctl_execute(struct rpc_client *c, const char *command,
		   struct json_object *args, struct json_object **ret_out,
		   char *err, size_t errlen) GODWIT_MUST_CHECK;

/* Does errno value rc from gwdctl_open mean "no daemon here"? */
bool gwdctl_is_absent(int rc);

#endif
