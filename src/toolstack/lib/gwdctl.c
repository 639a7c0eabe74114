/* Client library: the godwitd control socket. */
#include <godwit/gwdctl.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "rpc/client.h"

/* A daemon that does not greet within this is reported, not waited for. */
#define GWDCTL_CONNECT_TIMEOUT_MS 5000

const char *gwdctl_run_dir(void)
{
	return util_run_dir();
}

int gwdctl_socket_path(char *buf, size_t len)
{
	return str_printf(buf, len, "%s/%s", gwdctl_run_dir(),
			  GWDCTL_SOCK_NAME);
}

int gwdctl_execute(struct rpc_client *c, const char *command,
		   struct json_object *args, struct json_object **ret_out,
		   char *err, size_t errlen)
{
	struct rpc_result res;
	int rc;

	rc = rpc_client_execute(c, command, args, -1, &res);
	if (rc == -EREMOTEIO)
		snprintf(err, errlen, "%s", res.err_desc);
	else if (rc == -ECONNRESET)
		snprintf(
			err, errlen,
			"%s: godwitd went away before answering (its connection closed)",
			command);
	else if (rc)
		snprintf(err, errlen, "%s: godwitd: %s", command,
			 strerror(-rc));
	if (!rc && ret_out) {
		*ret_out = res.ret;
		res.ret = NULL;
	}
	rpc_result_release(&res);
	return rc;
}

bool gwdctl_is_absent(int rc)
{
	return rc == -ENOENT || rc == -ECONNREFUSED || rc == -ENOTDIR;
}

int gwdctl_open(struct rpc_client **client_out, char *err, size_t errlen)
{
	char path[4096];
	int rc;

	rc = gwdctl_socket_path(path, sizeof(path));
	if (rc) {
		snprintf(err, errlen, "the run directory name is too long");
		return rc;
	}
	rc = rpc_client_connect(path, GWDCTL_CONNECT_TIMEOUT_MS, client_out);
	if (gwdctl_is_absent(rc))
		snprintf(err, errlen,
			 "no godwitd is running (nothing answers on %s)", path);
	else if (rc)
		snprintf(err, errlen, "cannot talk to godwitd on %s: %s", path,
			 strerror(-rc));
	return rc;
}
