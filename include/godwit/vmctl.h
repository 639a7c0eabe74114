/*
 * Client library: talk to one VM's control socket. A VM is named either
 * by name (its socket is /run/godwit/vm/NAME.qmp, or under
 * $GODWIT_RUN_DIR) or by a socket path (anything containing a '/').
 * Functions return 0 or -errno and describe failures in err.
 */
#ifndef GODWIT_LIB_VMCTL_H
#define GODWIT_LIB_VMCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include <godwit/api.h>

struct rpc_client;

#define VMCTL_ERR_MAX 512

/* Where VM's control socket is. */
int vmctl_socket_path(const char *vm, char *buf, size_t len) GODWIT_MUST_CHECK;
/* Connect to VM's control socket. */
int vmctl_open(const char *vm, struct rpc_client **client_out, char *err,
	       size_t errlen) GODWIT_MUST_CHECK;
/*
 * Run command on VM and return its result (*ret_out, caller owns; may be
 * NULL). Server errors become -EREMOTEIO with the server's description.
 */
int vmctl_execute(struct rpc_client *c, const char *command,
		  struct json_object *args, struct json_object **ret_out,
		  char *err, size_t errlen) GODWIT_MUST_CHECK;
/* One-shot: open, execute, close. */
int vmctl_call(const char *vm, const char *command, struct json_object *args,
	       struct json_object **ret_out, char *err,
	       size_t errlen) GODWIT_MUST_CHECK;

#endif
