/* Client library: VM control sockets. */
#include <godwit/vmctl.h>

#include <godwit/gwdctl.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "rpc/client.h"

#define CONNECT_TIMEOUT_MS 5000

int vmctl_socket_path(const char *vm, char *buf, size_t len)
{
	if (strchr(vm, '/'))
		return str_printf(buf, len, "%s", vm);
	return util_vm_socket(gwdctl_run_dir(), vm, buf, len);
}

int vmctl_open(const char *vm, struct rpc_client **client_out, char *err,
	       size_t errlen)
{
	char path[4096];
	int rc;

	rc = vmctl_socket_path(vm, path, sizeof(path));
	if (rc) {
		snprintf(err, errlen, "VM name '%s' is too long", vm);
		return rc;
	}
	rc = rpc_client_connect(path, CONNECT_TIMEOUT_MS, client_out);
	if (rc == -ENOENT || rc == -ECONNREFUSED)
		snprintf(err, errlen,
			 "no VM '%s' is running (nothing answers on %s)", vm,
			 path);
	else if (rc)
		snprintf(err, errlen, "cannot talk to VM '%s' on %s: %s", vm,
			 path, strerror(-rc));
	return rc;
}

int vmctl_execute(struct rpc_client *c, const char *command,
		  struct json_object *args, struct json_object **ret_out,
		  char *err, size_t errlen)
{
	struct rpc_result res;
	int rc;

	rc = rpc_client_execute(c, command, args, -1, &res);
	if (rc == -EREMOTEIO)
		snprintf(err, errlen, "%s", res.err_desc);
	else if (rc)
		snprintf(err, errlen, "%s: %s", command,
			 rc == -ECONNRESET ? "the VM process went away" :
					     strerror(-rc));
	if (!rc && ret_out) {
		*ret_out = res.ret;
		res.ret = NULL;
	}
	rpc_result_release(&res);
	return rc;
}

int vmctl_call(const char *vm, const char *command, struct json_object *args,
	       struct json_object **ret_out, char *err, size_t errlen)
{
	struct rpc_client *c;
	int rc;

	rc = vmctl_open(vm, &c, err, errlen);
	if (rc)
		return rc;
	rc = vmctl_execute(c, command, args, ret_out, err, errlen);
	rpc_client_close(c);
	return rc;
}
